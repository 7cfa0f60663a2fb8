use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::{Address, Channel, PhoneNumber, TenantRef};
use crate::retry::{Classify, Disposition};

/// An approved WhatsApp template and the values of its variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateContent {
    /// Twilio Content SID (`HX...`).
    pub content_sid: String,
    pub variables: std::collections::BTreeMap<String, String>,
}

/// An email reply's headers: what makes it thread in the customer's mail client, and
/// the one-click unsubscribe link (RFC 8058).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundEmail {
    /// `Re: <the customer's subject>` for a reply.
    pub subject: String,
    /// The `Message-ID` being answered.
    pub in_reply_to: Option<String>,
    /// The thread's `References`, oldest first, ending with `in_reply_to`.
    pub references: Vec<String>,
    /// `{public base}/email/unsubscribe?t=...` (`List-Unsubscribe`).
    pub unsubscribe_url: String,
}

/// A text to send to a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundText {
    /// `Sms`, `Whatsapp` (addresses get the `whatsapp:` prefix on the wire) or `Email`.
    pub channel: Channel,
    pub tenant: TenantRef,
    /// Name of the secret with the tenant's provider credentials.
    pub credentials: Option<String>,
    /// Phone numbers on SMS and WhatsApp, email addresses on email.
    pub from: Address,
    pub to: Address,
    /// The text; for a template send, a readable rendering kept for the log.
    pub body: String,
    /// Send this template instead of free text (WhatsApp outside the 24-hour session).
    pub template: Option<TemplateContent>,
    /// Where the provider reports delivery status.
    pub status_callback: Option<String>,
    /// An email's subject and threading headers (`Channel::Email` only).
    pub email: Option<OutboundEmail>,
}

/// A message the provider accepted (or already had, when found by reconciliation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentText {
    /// The provider's id (Twilio `SM…`, or `OUTBOX-…`).
    pub provider_id: String,
    pub to: Address,
    pub from: Address,
    pub body: String,
    pub status: String,
    pub sent_at: jiff::Timestamp,
}

/// Why a send failed, classified by whether the message may be out.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// Refused before processing (429 / 20429, connection refused): safe to retry.
    #[error("provider throttled or unreachable: {message}")]
    Retryable { message: String, retry_after: Option<Duration> },
    /// Timeout or 5xx on a create: the message may have gone out. Reconcile before any
    /// resend; never resend blindly.
    #[error("send outcome unknown: {0}")]
    Ambiguous(String),
    /// Opted-out recipient (21610), invalid number (21211), bad credentials...
    #[error("send refused permanently (code {code}): {message}")]
    Permanent { code: String, message: String },
}

impl Classify for SendError {
    fn disposition(&self) -> Disposition {
        match self {
            SendError::Retryable { retry_after, .. } => Disposition::Retry { after: *retry_after },
            SendError::Ambiguous(_) => Disposition::Ambiguous,
            SendError::Permanent { .. } => Disposition::Permanent,
        }
    }
}

/// Sends texts and finds recently sent ones (to reconcile an ambiguous send).
#[async_trait]
pub trait Messenger: Send + Sync {
    /// Sends one text.
    async fn send(&self, text: &OutboundText) -> Result<SentText, SendError>;

    /// Texts sent from `from` to `to` since `since`, newest first.
    async fn sent_since(
        &self,
        channel: Channel,
        tenant: &TenantRef,
        credentials: Option<&str>,
        from: &Address,
        to: &Address,
        since: jiff::Timestamp,
    ) -> Result<Vec<SentText>, SendError>;
}

/// New instructions for a live call: what to say and do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallUpdate {
    pub tenant: TenantRef,
    /// Name of the secret with the tenant's provider credentials.
    pub credentials: Option<String>,
    /// The provider's call id (Twilio `CA…`).
    pub call_sid: String,
    /// The tenant's number and the caller's (for the local log).
    pub from: PhoneNumber,
    pub to: PhoneNumber,
    /// The TwiML document, within the provider's size limit.
    pub twiml: String,
}

/// Why a call update failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The call is over (hung up, or not in progress): nothing to update, never retry.
    #[error("call is no longer in progress: {0}")]
    Ended(String),
    /// Refused before processing (throttled, unreachable): safe to retry.
    #[error("provider throttled or unreachable: {message}")]
    Retryable { message: String, retry_after: Option<Duration> },
    /// Timeout or 5xx: the call may have been updated (the caller may have heard it).
    #[error("call update outcome unknown: {0}")]
    Ambiguous(String),
    /// Bad credentials, invalid TwiML...
    #[error("call update refused (code {code}): {message}")]
    Permanent { code: String, message: String },
}

impl Classify for CallError {
    fn disposition(&self) -> Disposition {
        match self {
            CallError::Retryable { retry_after, .. } => Disposition::Retry { after: *retry_after },
            CallError::Ambiguous(_) => Disposition::Ambiguous,
            CallError::Ended(_) | CallError::Permanent { .. } => Disposition::Permanent,
        }
    }
}

/// Steers live calls (the voice channel answers asynchronously, by updating the call).
#[async_trait]
pub trait CallControl: Send + Sync {
    /// Replaces what the call is doing with `update.twiml`.
    async fn update_call(&self, update: &CallUpdate) -> Result<(), CallError>;
}
