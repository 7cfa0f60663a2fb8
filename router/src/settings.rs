//! The router Lambda's settings, parsed once at start-up from its environment (the SAM
//! template sets it; `cli/tests/template.rs` checks that every variable set there is read
//! here or in another settings module). A malformed value is a start-up error naming the
//! variable, never a silent default.

use comms_aws::{AwsResources, QueueUrls};
use comms_core::domain::Channel;
use comms_telemetry::LogFormat;

use crate::{DEFAULT_MAX_BODY_BYTES, RouterConfig};

/// Environment variable with the public base URL (a custom domain).
pub const ENV_PUBLIC_BASE_URL: &str = "COMMS_PUBLIC_BASE_URL";
/// Environment variable with the request body limit in bytes.
pub const ENV_MAX_BODY_BYTES: &str = "COMMS_MAX_BODY_BYTES";
/// Environment variable with the name (or ARN) of the secret that signs console
/// sessions; the template creates it (the router only reads it).
pub const ENV_CONSOLE_SESSION_SECRET: &str = "COMMS_CONSOLE_SESSION_SECRET";
/// Environment variable with the name (or ARN) of the secret that signs email
/// unsubscribe links; the template creates it (the router only reads it).
pub const ENV_EMAIL_UNSUBSCRIBE_KEY: &str = "COMMS_EMAIL_UNSUBSCRIBE_KEY";

/// The channels whose queues the template gives the router (their URLs are required; an
/// email queue's is taken when set).
pub const QUEUED_CHANNELS: [Channel; 3] = [Channel::Sms, Channel::Whatsapp, Channel::Voice];

/// Everything the router Lambda reads from its environment.
#[derive(Debug, Clone)]
pub struct RouterSettings {
    /// `COMMS_PUBLIC_BASE_URL`: the base URL signatures are checked against; unset, each
    /// request's own API Gateway domain and stage.
    pub public_base_url: Option<String>,
    /// `COMMS_MAX_BODY_BYTES` (default 65536): larger request bodies get 413.
    pub max_body_bytes: usize,
    /// `COMMS_LOG_FORMAT` (default json, for CloudWatch Logs Insights).
    pub log_format: LogFormat,
    /// The table and queues (`COMMS_TABLE`, `COMMS_QUEUE_PREFIX`, secrets cache).
    pub resources: AwsResources,
    /// `COMMS_{SMS,WHATSAPP,VOICE}_QUEUE_URL`: where webhooks enqueue, so no queue is
    /// looked up at start-up. The router dead-letters nothing; the DLQ URLs, when set, are
    /// for the console's dead-letter page (list, replay, purge).
    pub queue_urls: QueueUrls,
    /// `COMMS_CONSOLE_SESSION_SECRET` (default `console/session-secret`): the console's
    /// session-signing secret, read, never created, on Lambda.
    pub console_session_secret: String,
    /// `COMMS_EMAIL_UNSUBSCRIBE_KEY` (default `email-unsubscribe-key`): the secret that
    /// signs the links `/email/unsubscribe` checks.
    pub unsubscribe_key_secret: String,
}

impl RouterSettings {
    /// Parses the settings from `get` (a map in tests); every missing or malformed
    /// variable is named in the error, all at once.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let set = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let mut problems = Vec::new();
        let resources = AwsResources::from_lookup(&get).map_err(|e| problems.push(e)).ok();
        let queue_urls =
            QueueUrls::from_lookup(&get, &QUEUED_CHANNELS, false).map_err(|e| problems.push(e)).ok();
        let log_format = LogFormat::from_lookup(&get, LogFormat::Json).map_err(|e| problems.push(e)).ok();
        let max_body_bytes = match set(ENV_MAX_BODY_BYTES) {
            None => Some(DEFAULT_MAX_BODY_BYTES),
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    problems.push(format!(
                        "{ENV_MAX_BODY_BYTES} must be a positive whole number of bytes, not '{v}'"
                    ));
                    None
                }
            },
        };
        match (resources, queue_urls, log_format, max_body_bytes) {
            (Some(resources), Some(queue_urls), Some(log_format), Some(max_body_bytes))
                if problems.is_empty() =>
            {
                let public_base_url = set(ENV_PUBLIC_BASE_URL);
                let console_session_secret = set(ENV_CONSOLE_SESSION_SECRET)
                    .unwrap_or_else(|| crate::console::SESSION_SECRET.to_owned());
                let unsubscribe_key_secret = set(ENV_EMAIL_UNSUBSCRIBE_KEY)
                    .unwrap_or_else(|| crate::UNSUBSCRIBE_KEY_SECRET.to_owned());
                Ok(Self {
                    public_base_url,
                    max_body_bytes,
                    log_format,
                    resources,
                    queue_urls,
                    console_session_secret,
                    unsubscribe_key_secret,
                })
            }
            _ => Err(problems.join("; ")),
        }
    }

    /// Parses the settings from the process environment: the one place the router
    /// Lambda reads it.
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The router's configuration. Without a configured public base URL it is empty:
    /// each request's base comes from its API Gateway context ([`Self::base_from_request`]).
    pub fn router_config(&self) -> RouterConfig {
        let mut config = RouterConfig::new(self.public_base_url.as_deref().unwrap_or(""));
        config.max_body_bytes = self.max_body_bytes;
        config.console.session_secret = self.console_session_secret.clone();
        config.console.create_session_secret = false;
        config.unsubscribe_key_secret = self.unsubscribe_key_secret.clone();
        config
    }

    /// Whether each request's public base URL comes from its API Gateway context.
    pub fn base_from_request(&self) -> bool {
        self.public_base_url.is_none()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn parse(vars: &[(&str, &str)]) -> Result<RouterSettings, String> {
        let mut env: BTreeMap<String, String> = [
            ("COMMS_TABLE", "t"),
            ("COMMS_QUEUE_PREFIX", "p"),
            ("COMMS_SMS_QUEUE_URL", "http://sqs.local/1/p-sms"),
            ("COMMS_WHATSAPP_QUEUE_URL", "http://sqs.local/1/p-whatsapp"),
            ("COMMS_VOICE_QUEUE_URL", "http://sqs.local/1/p-voice"),
        ]
        .map(|(k, v)| (k.into(), v.into()))
        .into();
        env.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        RouterSettings::from_lookup(|n| env.get(n).cloned())
    }

    #[test]
    fn defaults_apply_when_only_the_resources_are_set() {
        let s = parse(&[]).unwrap();
        assert_eq!(s.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert_eq!(s.log_format, LogFormat::Json);
        assert!(s.base_from_request());
        assert_eq!(s.resources.table, "t");
        assert_eq!(s.queue_urls.0[&Channel::Voice].queue, "http://sqs.local/1/p-voice");
        assert_eq!(s.queue_urls.0[&Channel::Sms].dlq, None);
        let s =
            parse(&[("COMMS_PUBLIC_BASE_URL", "https://sms.example.com/"), ("COMMS_MAX_BODY_BYTES", "1024")])
                .unwrap();
        assert!(!s.base_from_request());
        assert_eq!(s.router_config().public_base_url, "https://sms.example.com");
        assert_eq!(s.router_config().max_body_bytes, 1024);
        assert_eq!(s.router_config().console.session_secret, "console/session-secret");
        assert!(!s.router_config().console.create_session_secret, "Lambda only reads the secret");
        let s = parse(&[("COMMS_CONSOLE_SESSION_SECRET", "arn:aws:secretsmanager:x:1:secret:s-console")])
            .unwrap();
        assert_eq!(s.router_config().console.session_secret, "arn:aws:secretsmanager:x:1:secret:s-console");
        // The unsubscribe links' key: the template's secret when named, else the local name.
        assert_eq!(parse(&[]).unwrap().router_config().unsubscribe_key_secret, "email-unsubscribe-key");
        let s = parse(&[("COMMS_EMAIL_UNSUBSCRIBE_KEY", "comms/email/unsubscribe-key")]).unwrap();
        assert_eq!(s.router_config().unsubscribe_key_secret, "comms/email/unsubscribe-key");
        // The DLQ URLs the template passes for the console's dead-letter page are taken.
        let s = parse(&[("COMMS_SMS_DLQ_URL", "http://sqs.local/1/p-sms-dlq")]).unwrap();
        assert_eq!(s.queue_urls.0[&Channel::Sms].dlq.as_deref(), Some("http://sqs.local/1/p-sms-dlq"));
    }

    #[test]
    fn each_malformed_variable_is_an_error_naming_it() {
        for (name, bad) in [
            ("COMMS_MAX_BODY_BYTES", "64k"),
            ("COMMS_MAX_BODY_BYTES", "0"),
            ("COMMS_LOG_FORMAT", "xml"),
            ("COMMS_SECRETS_TTL_SECS", "soon"),
            ("COMMS_SECRETS_CACHE_SIZE", "-1"),
            ("COMMS_WHATSAPP_QUEUE_URL", "p-whatsapp"),
        ] {
            let err = parse(&[(name, bad)]).unwrap_err();
            assert!(err.contains(name) && err.contains(&format!("'{bad}'")), "{name}={bad}: {err}");
        }
        let err =
            RouterSettings::from_lookup(|n| (n == "COMMS_LOG_FORMAT").then(|| "xml".into())).unwrap_err();
        for name in [
            "COMMS_TABLE",
            "COMMS_QUEUE_PREFIX",
            "COMMS_LOG_FORMAT",
            "COMMS_SMS_QUEUE_URL",
            "COMMS_WHATSAPP_QUEUE_URL",
            "COMMS_VOICE_QUEUE_URL",
        ] {
            assert!(err.contains(name), "every problem at once: {err}");
        }
    }
}
