//! Twilio wire details that need no network.

pub mod sid;
pub mod signature;
pub mod twiml;

use crate::ports::{Secret, SecretError, SecretStore};
use crate::retry::{Classify, Disposition};

/// Order of Twilio message states; a status callback never moves a message backwards
/// (the conversation stores keep the highest rank seen). 0: not a Twilio message state.
pub fn status_rank(status: &str) -> u8 {
    match status {
        "accepted" | "scheduled" | "queued" => 1,
        "sending" => 2,
        "sent" => 3,
        "delivered" | "undelivered" | "failed" | "read" | "canceled" => 4,
        _ => 0,
    }
}

/// A tenant's Twilio account credentials, read from the secret named in its config. The
/// secret's value is JSON: `{"account_sid": "AC...", "auth_token": "..."}`.
#[derive(Debug, Clone)]
pub struct TwilioCredentials {
    pub account_sid: String,
    pub auth_token: Secret,
}

/// Why a tenant's Twilio credentials could not be had.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("secret '{0}' is not JSON with string fields account_sid and auth_token")]
    Malformed(String),
}

impl Classify for CredentialsError {
    fn disposition(&self) -> Disposition {
        match self {
            CredentialsError::Secret(e) => e.disposition(),
            CredentialsError::Malformed(_) => Disposition::Permanent,
        }
    }
}

/// The auth tokens a webhook signature may be made with: the current one and, during a
/// rotation, the previous one. The secret may hold `"previous_auth_token"` and, optionally,
/// `"previous_valid_until"` (RFC 3339); past that time the previous token is refused.
#[derive(Debug, Clone)]
pub struct WebhookTokens {
    pub current: Secret,
    pub previous: Option<Secret>,
}

impl WebhookTokens {
    /// Reads the tokens stored under `secret_name`, as valid at `now`.
    pub async fn load(
        secrets: &dyn SecretStore,
        secret_name: &str,
        now: jiff::Timestamp,
    ) -> Result<Self, CredentialsError> {
        let secret = secrets.get(secret_name).await?;
        Self::parse(&secret, now).ok_or_else(|| CredentialsError::Malformed(secret_name.to_owned()))
    }

    /// Parses the secret's JSON value; a malformed `previous_valid_until` is malformed.
    pub fn parse(secret: &Secret, now: jiff::Timestamp) -> Option<Self> {
        #[derive(serde::Deserialize)]
        struct Raw {
            auth_token: String,
            #[serde(default)]
            previous_auth_token: Option<String>,
            #[serde(default)]
            previous_valid_until: Option<String>,
        }
        let raw: Raw = serde_json::from_str(secret.expose()).ok()?;
        let until = match raw.previous_valid_until {
            Some(t) => Some(t.parse::<jiff::Timestamp>().ok()?),
            None => None,
        };
        let previous = raw
            .previous_auth_token
            .filter(|t| !t.is_empty() && until.is_none_or(|until| now < until))
            .map(Secret::new);
        Some(Self { current: Secret::new(raw.auth_token), previous })
    }

    /// The tokens to try, current first.
    pub fn all(&self) -> impl Iterator<Item = &Secret> {
        std::iter::once(&self.current).chain(self.previous.as_ref())
    }
}

impl TwilioCredentials {
    /// Reads and parses the credentials stored under `secret_name`.
    pub async fn load(secrets: &dyn SecretStore, secret_name: &str) -> Result<Self, CredentialsError> {
        let secret = secrets.get(secret_name).await?;
        Self::parse(&secret).ok_or_else(|| CredentialsError::Malformed(secret_name.to_owned()))
    }

    /// Parses the secret's JSON value.
    pub fn parse(secret: &Secret) -> Option<Self> {
        #[derive(serde::Deserialize)]
        struct Raw {
            account_sid: String,
            auth_token: String,
        }
        let raw: Raw = serde_json::from_str(secret.expose()).ok()?;
        Some(Self { account_sid: raw.account_sid, auth_token: Secret::new(raw.auth_token) })
    }

    /// The secret value for these credentials, as stored.
    pub fn to_secret(&self) -> Secret {
        Secret::new(
            serde_json::json!({"account_sid": self.account_sid, "auth_token": self.auth_token.expose()})
                .to_string(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_errors_retry_as_their_secret_store_failure() {
        use crate::ports::SecretError;
        use crate::retry::{Classify, Disposition};
        let transient = SecretError::Backend { message: "x".into(), transient: true };
        assert_eq!(CredentialsError::Secret(transient).disposition(), Disposition::RETRY);
        assert_eq!(CredentialsError::Malformed("n".into()).disposition(), Disposition::Permanent);
    }

    fn at(s: &str) -> jiff::Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn the_previous_token_counts_until_it_expires() {
        let secret = Secret::new(
            r#"{"account_sid":"AC1","auth_token":"new","previous_auth_token":"old",
                "previous_valid_until":"2026-11-23T12:00:00Z"}"#,
        );
        let before = WebhookTokens::parse(&secret, at("2026-11-23T11:59:59Z")).expect("parses");
        let tokens: Vec<&str> = before.all().map(Secret::expose).collect();
        assert_eq!(tokens, ["new", "old"]);
        let after = WebhookTokens::parse(&secret, at("2026-11-23T12:00:00Z")).expect("parses");
        assert_eq!(after.all().map(Secret::expose).collect::<Vec<_>>(), ["new"]);
        // The credentials used for REST calls are the current ones.
        assert_eq!(TwilioCredentials::parse(&secret).expect("parses").auth_token.expose(), "new");
    }

    #[test]
    fn without_a_previous_token_only_the_current_one_counts() {
        let secret = Secret::new(r#"{"account_sid":"AC1","auth_token":"only"}"#);
        let tokens = WebhookTokens::parse(&secret, jiff::Timestamp::now()).expect("parses");
        assert_eq!(tokens.all().map(Secret::expose).collect::<Vec<_>>(), ["only"]);
        let bad = Secret::new(r#"{"account_sid":"AC1","auth_token":"a","previous_valid_until":"soon"}"#);
        assert!(WebhookTokens::parse(&bad, jiff::Timestamp::now()).is_none());
    }
}
