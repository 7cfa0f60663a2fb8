//! Twilio wire details that need no network.

pub mod rest;
pub mod signature;
pub mod twiml;

use crate::ports::{Secret, SecretError, SecretStore};

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
