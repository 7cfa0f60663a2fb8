//! Where the AWS resources are, read from the environment the SAM template (and
//! `comms serve --backend aws`) sets.

use std::time::Duration;

use super::QueueNames;

/// Names of the AWS resources and cache settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsResources {
    /// The DynamoDB table holding every store (`COMMS_TABLE`).
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
        let table = required(ENV_TABLE);
        let queue_prefix = required(ENV_QUEUE_PREFIX);
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

    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The queue names these settings give.
    pub fn queue_names(&self) -> QueueNames {
        QueueNames { prefix: self.queue_prefix.clone() }
    }
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
        assert_eq!(r.queue_names().queue(crate::domain::Channel::Sms), "p-sms");
    }
}
