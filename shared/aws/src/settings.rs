//! Where the AWS resources are, read from the environment the SAM template (and
//! `comms serve --backend aws`) sets.

use std::collections::BTreeMap;
use std::time::Duration;

use comms_core::domain::Channel;

use super::QueueNames;

/// Names of the AWS resources and cache settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsResources {
    /// The DynamoDB table holding every store (`COMMS_TABLE`; when unset,
    /// `{prefix}-data`, the name the SAM template gives it).
    pub table: String,
    /// Queue names are `{prefix}-{channel}` and `{prefix}-{channel}-dlq`; failure
    /// reasons go to the table `{prefix}-failures` (`COMMS_QUEUE_PREFIX`).
    pub queue_prefix: String,
    /// How long a secret is served from memory (`COMMS_SECRETS_TTL_SECS`, default 300).
    pub secrets_ttl: Duration,
    /// How many secrets are kept in memory (`COMMS_SECRETS_CACHE_SIZE`, default 1000).
    pub secrets_cache_size: usize,
}

/// Environment variable naming the DynamoDB table.
pub const ENV_TABLE: &str = "COMMS_TABLE";
/// Environment variable naming the queue prefix.
pub const ENV_QUEUE_PREFIX: &str = "COMMS_QUEUE_PREFIX";
/// The prefix operator commands use when `COMMS_QUEUE_PREFIX` is unset: the stack name
/// the deployment guide uses, so `{prefix}-data`, `{prefix}-sms`, ... are the stack's.
pub const DEFAULT_PREFIX: &str = "comms";

/// The table the template names for a prefix (the stack name): `{prefix}-data`.
pub fn table_for_prefix(prefix: &str) -> String {
    format!("{prefix}-data")
}

/// Environment variable with the secrets cache TTL in seconds.
pub const ENV_SECRETS_TTL: &str = "COMMS_SECRETS_TTL_SECS";
/// Environment variable with the secrets cache size.
pub const ENV_SECRETS_CACHE_SIZE: &str = "COMMS_SECRETS_CACHE_SIZE";

impl AwsResources {
    /// Reads the settings through `get` (the environment in binaries); every missing or
    /// malformed variable is named in the error.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut problems = Vec::new();
        let mut required = |name: &str| match get(name).filter(|v| !v.trim().is_empty()) {
            Some(v) => v,
            None => {
                problems.push(format!("{name} is not set"));
                String::new()
            }
        };
        let table = get(ENV_TABLE).filter(|v| !v.trim().is_empty());
        let queue_prefix = required(ENV_QUEUE_PREFIX);
        // Without COMMS_TABLE the table is the template's `{prefix}-data`; with neither
        // set, both are named.
        let table = match table {
            Some(t) => t,
            None if queue_prefix.is_empty() => {
                problems.insert(0, format!("{ENV_TABLE} is not set"));
                String::new()
            }
            None => table_for_prefix(&queue_prefix),
        };
        let mut number = |name: &str, default: u64| match get(name) {
            None => default,
            Some(v) => v.trim().parse::<u64>().unwrap_or_else(|_| {
                problems.push(format!("{name} must be a whole number, not '{v}'"));
                default
            }),
        };
        let ttl = number(ENV_SECRETS_TTL, 300);
        let size = number(ENV_SECRETS_CACHE_SIZE, 1000);
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        Ok(Self {
            table,
            queue_prefix,
            secrets_ttl: Duration::from_secs(ttl),
            secrets_cache_size: usize::try_from(size).unwrap_or(usize::MAX),
        })
    }

    /// As [`Self::from_lookup`], with the operator's defaults: prefix `comms` (the stack
    /// name of the deployment guide) and table `{prefix}-data`, as the template names them.
    pub fn with_defaults(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        Self::from_lookup(|name| {
            get(name)
                .filter(|v| !v.trim().is_empty())
                .or_else(|| (name == ENV_QUEUE_PREFIX).then(|| DEFAULT_PREFIX.to_owned()))
        })
    }

    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The queue names these settings give.
    pub fn queue_names(&self) -> QueueNames {
        QueueNames { prefix: self.queue_prefix.clone() }
    }
}

/// The environment variable with the URL of `channel`'s queue (the template sets it to
/// the queue resource's `Ref`, which is its URL).
pub fn queue_url_var(channel: Channel) -> &'static str {
    match channel {
        Channel::Sms => "COMMS_SMS_QUEUE_URL",
        Channel::Whatsapp => "COMMS_WHATSAPP_QUEUE_URL",
        Channel::Voice => "COMMS_VOICE_QUEUE_URL",
        Channel::Email => "COMMS_EMAIL_QUEUE_URL",
    }
}

/// The environment variable with the URL of `channel`'s dead-letter queue.
pub fn dlq_url_var(channel: Channel) -> &'static str {
    match channel {
        Channel::Sms => "COMMS_SMS_DLQ_URL",
        Channel::Whatsapp => "COMMS_WHATSAPP_DLQ_URL",
        Channel::Voice => "COMMS_VOICE_DLQ_URL",
        Channel::Email => "COMMS_EMAIL_DLQ_URL",
    }
}

/// A channel's queue URL, and its dead-letter queue's where the holder dead-letters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelQueueUrls {
    pub queue: String,
    pub dlq: Option<String>,
}

/// The queue URLs a function was given, per channel: read from its environment, so a
/// Lambda resolves no queue (`GetQueueUrl`) before its first event. Operators' tools,
/// which get no URLs, resolve them by name instead ([`crate::SqsQueues::connect`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueUrls(pub BTreeMap<Channel, ChannelQueueUrls>);

impl QueueUrls {
    /// Reads the URLs of `required` channels' queues (and their dead-letter queues with
    /// `with_dlq`) through `get`; a missing or malformed one is an error naming the
    /// variable. Other channels' URLs are taken when set.
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
        required: &[Channel],
        with_dlq: bool,
    ) -> Result<Self, String> {
        let mut problems = Vec::new();
        let mut urls = BTreeMap::new();
        for channel in Channel::ALL {
            let needed = required.contains(&channel);
            let mut read = |name: &str, needed: bool| match get(name).filter(|v| !v.trim().is_empty()) {
                None if needed => {
                    problems.push(format!("{name} is not set"));
                    None
                }
                None => None,
                Some(v) if is_queue_url(v.trim()) => Some(v.trim().to_owned()),
                Some(v) => {
                    problems
                        .push(format!("{name} must be a queue URL (http(s)://host/account/name), not '{v}'"));
                    None
                }
            };
            let queue = read(queue_url_var(channel), needed);
            let dlq = read(dlq_url_var(channel), needed && with_dlq);
            if let Some(queue) = queue {
                urls.insert(channel, ChannelQueueUrls { queue, dlq });
            }
        }
        if problems.is_empty() { Ok(Self(urls)) } else { Err(problems.join("; ")) }
    }
}

/// An SQS queue URL: `http(s)://host/.../name`, with no whitespace.
fn is_queue_url(v: &str) -> bool {
    let rest = v.strip_prefix("https://").or_else(|| v.strip_prefix("http://"));
    rest.and_then(|r| r.split_once('/')).is_some_and(|(host, path)| {
        !host.is_empty() && !path.is_empty() && !path.ends_with('/') && !v.contains(char::is_whitespace)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_missing_or_bad_variable_is_named() {
        let err =
            AwsResources::from_lookup(|n| (n == ENV_SECRETS_TTL).then(|| "soon".to_owned())).unwrap_err();
        assert!(err.contains("COMMS_TABLE is not set"), "{err}");
        assert!(err.contains("COMMS_QUEUE_PREFIX is not set"), "{err}");
        assert!(err.contains("COMMS_SECRETS_TTL_SECS must be a whole number"), "{err}");
    }

    #[test]
    fn defaults_apply() {
        let r = AwsResources::from_lookup(|n| match n {
            ENV_TABLE => Some("t".into()),
            ENV_QUEUE_PREFIX => Some("p".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(r.secrets_ttl, Duration::from_secs(300));
        assert_eq!(r.queue_names().queue(comms_core::domain::Channel::Sms), "p-sms");
    }

    #[test]
    fn the_table_defaults_to_the_templates_name() {
        // The template names the table `${AWS::StackName}-data` and the queues
        // `${AWS::StackName}-sms`...; the operator's default prefix is the stack name.
        let r = AwsResources::with_defaults(|_| None).unwrap();
        assert_eq!(r.table, "comms-data");
        assert_eq!(r.queue_names().queue(comms_core::domain::Channel::Sms), "comms-sms");
        let r = AwsResources::with_defaults(|n| (n == ENV_QUEUE_PREFIX).then(|| "shop".to_owned())).unwrap();
        assert_eq!(r.table, "shop-data");
        let r = AwsResources::with_defaults(|n| (n == ENV_TABLE).then(|| "other".to_owned())).unwrap();
        assert_eq!(r.table, "other");
        let template = include_str!("../../../infra/template.yaml");
        assert!(template.contains("TableName: !Sub \"${AWS::StackName}-data\""));
        assert!(template.contains("QueueName: !Sub \"${AWS::StackName}-sms\""));
    }

    #[test]
    fn queue_urls_are_read_and_each_missing_or_malformed_one_is_named() {
        use comms_core::domain::Channel::{Email, Sms, Voice, Whatsapp};
        fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
            move |n| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| (*v).to_owned())
        }
        let sms = "https://sqs.us-east-1.amazonaws.com/123456789012/comms-sms";
        let dlq = "https://sqs.us-east-1.amazonaws.com/123456789012/comms-sms-dlq";
        let urls = QueueUrls::from_lookup(
            env(&[("COMMS_SMS_QUEUE_URL", sms), ("COMMS_SMS_DLQ_URL", dlq)]),
            &[Sms],
            true,
        )
        .unwrap();
        assert_eq!(urls.0[&Sms], ChannelQueueUrls { queue: sms.into(), dlq: Some(dlq.into()) });
        assert_eq!(urls.0.len(), 1);
        let err = QueueUrls::from_lookup(
            env(&[("COMMS_SMS_QUEUE_URL", "comms-sms"), ("COMMS_VOICE_QUEUE_URL", sms)]),
            &[Sms, Whatsapp, Voice],
            true,
        )
        .unwrap_err();
        for named in [
            "COMMS_SMS_QUEUE_URL must be a queue URL (http(s)://host/account/name), not 'comms-sms'",
            "COMMS_SMS_DLQ_URL is not set",
            "COMMS_WHATSAPP_QUEUE_URL is not set",
            "COMMS_VOICE_DLQ_URL is not set",
        ] {
            assert!(err.contains(named), "{named}: {err}");
        }
        assert!(!err.contains("EMAIL"), "{err}");
        // Without dead-lettering, no DLQ URL is needed; an optional channel's is taken.
        let urls = QueueUrls::from_lookup(
            env(&[("COMMS_SMS_QUEUE_URL", sms), ("COMMS_EMAIL_QUEUE_URL", "http://127.0.0.1:5000/1/e")]),
            &[Sms],
            false,
        )
        .unwrap();
        assert_eq!(urls.0[&Sms].dlq, None);
        assert_eq!(urls.0[&Email].queue, "http://127.0.0.1:5000/1/e");
        for bad in ["https://", "https://host/", "ftp://host/q", "https://host/q x"] {
            assert!(!is_queue_url(bad), "{bad}");
        }
    }
}
