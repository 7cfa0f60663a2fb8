//! SendGrid v3 Mail Send (`POST /v3/mail/send`) with reqwest: the tenant's API key from
//! its email secret, one request per mail, and SendGrid's answers classified for the
//! engine's retry (429 and 5xx: nothing queued, retry; other 4xx: permanent; a timeout:
//! ambiguous, never resent blindly).

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::mail::Mail;
use crate::http::retry_after;
use comms_core::ports::{Secret, SecretStore, SendError, TenantDirectory};

/// SendGrid's production API (`SENDGRID_API_BASE` overrides it).
pub const DEFAULT_API_BASE: &str = "https://api.sendgrid.com";

/// Sends mail through SendGrid with each tenant's own API key.
pub struct SendGridMail {
    http: reqwest::Client,
    api_base: String,
    secrets: Arc<dyn SecretStore>,
    /// The tenants' email settings (sender name, addresses, secret name).
    pub(super) tenants: Arc<dyn TenantDirectory>,
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorItem>,
}

#[derive(Deserialize)]
struct ErrorItem {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    field: Option<String>,
}

/// The API key in a tenant's SendGrid secret: JSON `{"api_key": "SG..."}` (other fields,
/// such as the Event Webhook's verification key, are for the webhook routes), or the bare
/// key.
pub fn api_key(secret: &Secret) -> Option<Secret> {
    #[derive(Deserialize)]
    struct Raw {
        api_key: String,
    }
    let value = secret.expose().trim();
    match serde_json::from_str::<Raw>(value) {
        Ok(raw) if !raw.api_key.trim().is_empty() => Some(Secret::new(raw.api_key.trim())),
        Ok(_) => None,
        Err(_) if !value.is_empty() && !value.starts_with('{') => Some(Secret::new(value)),
        Err(_) => None,
    }
}

impl SendGridMail {
    /// A client for `api_base` (`SENDGRID_API_BASE`, default [`DEFAULT_API_BASE`]),
    /// reading keys from `secrets` and each tenant's email settings from `tenants` (the
    /// engine's cached directory); `timeout` bounds each request (past it, the send is
    /// ambiguous).
    pub fn new(
        api_base: &str,
        secrets: Arc<dyn SecretStore>,
        tenants: Arc<dyn TenantDirectory>,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let http = crate::http_client().timeout(timeout).build()?;
        Ok(Self { http, api_base: api_base.trim_end_matches('/').to_owned(), secrets, tenants })
    }

    /// The API key in the secret named `name` (the tenant's email secret).
    pub async fn api_key(&self, name: &str) -> Result<Secret, SendError> {
        let secret = self.secrets.get(name).await.map_err(|e| {
            use comms_core::retry::Classify;
            let message = e.to_string();
            match e.disposition() {
                comms_core::retry::Disposition::Retry { after } => {
                    SendError::Retryable { message, retry_after: after }
                }
                _ => SendError::Permanent { code: "credentials".into(), message },
            }
        })?;
        api_key(&secret).ok_or_else(|| SendError::Permanent {
            code: "credentials".into(),
            message: format!("secret '{name}' holds no SendGrid API key (JSON with a string field api_key)"),
        })
    }

    /// Sends `mail` with `key`; returns SendGrid's message id (`X-Message-Id`), or the
    /// mail's send id when SendGrid accepted it without one.
    pub async fn post(&self, key: &Secret, mail: &Mail) -> Result<String, SendError> {
        let resp = self
            .http
            .post(format!("{}/v3/mail/send", self.api_base))
            .bearer_auth(key.expose())
            .json(&mail.body())
            .send()
            .await
            // Refused: never reached SendGrid. Timed out or cut off: it may be queued.
            .map_err(crate::http::send_error)?;
        if !resp.status().is_success() {
            return Err(classify(resp).await);
        }
        let id = resp.headers().get("x-message-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok(id.unwrap_or_else(|| format!("sendgrid-{}", mail.send_id())))
    }
}

/// Classifies a non-success answer. SendGrid answers 429 and 5xx before queuing the mail
/// (docs/decisions.md, "SendGrid outbound"), so both are retried; any other refusal is
/// the request's or the account's fault and cannot succeed as is.
async fn classify(resp: reqwest::Response) -> SendError {
    let status = resp.status();
    let after = retry_after(resp.headers());
    let body: ErrorBody = resp.json().await.unwrap_or_default();
    metrics::counter!(comms_core::metrics::PROVIDER_ERRORS, "provider" => "sendgrid", "code" => status.as_u16().to_string())
        .increment(1);
    let detail: Vec<String> = body
        .errors
        .iter()
        .map(|e| match &e.field {
            Some(f) => format!("{f}: {}", e.message.as_deref().unwrap_or_default()),
            None => e.message.clone().unwrap_or_default(),
        })
        .collect();
    let message = format!("{status}: {}", detail.join("; "));
    if status.as_u16() == 429 || status.is_server_error() {
        SendError::Retryable { message, retry_after: after }
    } else {
        SendError::Permanent { code: status.as_u16().to_string(), message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_key_from_json_or_bare() {
        let key = |s: &str| api_key(&Secret::new(s)).map(|k| k.expose().to_owned());
        assert_eq!(key(r#"{"api_key": "SG.x", "verification_key": "MFk"}"#).as_deref(), Some("SG.x"));
        assert_eq!(key("SG.bare\n").as_deref(), Some("SG.bare"));
        assert_eq!(key(r#"{"api_key": ""}"#), None);
        assert_eq!(key(r#"{"key": "SG.x"}"#), None);
        assert_eq!(key(""), None);
    }
}
