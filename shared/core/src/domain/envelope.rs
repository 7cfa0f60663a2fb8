//! The one JSON envelope every queue carries (version 1).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use super::inbound::{Attachment, EmailMeta, Media};
use super::{Address, Channel, ConversationId, TenantRef};

/// The only envelope version this code reads and writes.
pub const ENVELOPE_VERSION: u64 = 1;

/// What a queued message asks a processor to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A customer wrote to the tenant (SMS, WhatsApp, email).
    Inbound,
    /// A tenant's backend asked to start an outbound conversation.
    Initiate,
    /// A caller said something on a live voice call.
    VoiceTurn,
    /// An exact text to send to the customer (the owner's reply, a system notice): no
    /// model call.
    Direct,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Inbound, Kind::Initiate, Kind::VoiceTurn, Kind::Direct];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Inbound => "inbound",
            Kind::Initiate => "initiate",
            Kind::VoiceTurn => "voice_turn",
            Kind::Direct => "direct",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Who wrote a direct send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Author {
    /// The shop's owner, typing in the console (stored as an `OwnerReply` item).
    Owner,
    /// The system: a cancellation text, the owner's hand-off notification (stored as a
    /// `Notice` item).
    System,
}

/// The fields only one kind carries, tagged by `kind` on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KindDetail {
    /// A customer message; `id` is the provider's message id (Twilio `MessageSid`, an
    /// email's `Message-ID`).
    Inbound {
        /// Number of media attachments the provider reported.
        #[serde(default)]
        num_media: u32,
        /// An email's headers and raw text (email channel only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        email: Option<EmailMeta>,
        /// The message's media (MMS, WhatsApp).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        media: Vec<Media>,
    },
    /// An outbound conversation start; `id` is the caller's `request_id`.
    Initiate {
        request_id: String,
        /// Free-form data about the project, passed to the model.
        #[serde(default)]
        project_data: serde_json::Value,
        /// The recipient's name, for the first message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recipient_name: Option<String>,
    },
    /// One speech turn of a call; `id` is `CallSid` + turn number.
    VoiceTurn { call_sid: String, turn: u32 },
    /// An exact text to send; `id` is the caller's idempotency key, `from` the tenant's
    /// number, `to` the customer, `body` the text.
    Direct { author: Author },
}

impl KindDetail {
    /// An inbound message's detail with no email or media part.
    pub fn inbound(num_media: u32) -> KindDetail {
        KindDetail::Inbound { num_media, email: None, media: Vec::new() }
    }

    /// The kind this detail belongs to.
    pub fn kind(&self) -> Kind {
        match self {
            KindDetail::Inbound { .. } => Kind::Inbound,
            KindDetail::Initiate { .. } => Kind::Initiate,
            KindDetail::VoiceTurn { .. } => Kind::VoiceTurn,
            KindDetail::Direct { .. } => Kind::Direct,
        }
    }
}

/// A unit of work on a channel queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Stable id: provider message id, `CallSid`+turn, or `request_id`. Idempotency key.
    pub id: String,
    pub tenant: TenantRef,
    pub channel: Channel,
    pub conversation_id: ConversationId,
    /// The sender as the provider saw it: the customer's address for inbound kinds
    /// (a text, a caller's speech), the tenant's for outbound ones. Readers ask
    /// [`Envelope::customer`] and [`Envelope::business_number`] instead.
    pub from: Address,
    pub to: Address,
    pub body: String,
    pub received_at: jiff::Timestamp,
    #[serde(flatten)]
    pub detail: KindDetail,
}

/// Why a queue body is not an envelope this code can process. Every variant is a
/// permanent failure: retrying the same bytes cannot succeed, so the message belongs in
/// the dead-letter queue with this reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("envelope is not a JSON object: {0}")]
    NotJson(String),
    #[error("unsupported envelope version {0} (this build reads v1)")]
    UnsupportedVersion(String),
    #[error("unknown envelope kind {0}")]
    UnknownKind(String),
    #[error("malformed v1 envelope: {0}")]
    Malformed(String),
}

impl crate::retry::Classify for EnvelopeError {
    fn disposition(&self) -> crate::retry::Disposition {
        crate::retry::Disposition::Permanent
    }
}

#[derive(Serialize)]
struct Versioned<'a> {
    v: u64,
    #[serde(flatten)]
    envelope: &'a Envelope,
}

impl Envelope {
    /// A direct send of `text` from the tenant's `business` address to `customer`, in the
    /// conversation the customer's own texts are in; `id` is the caller's idempotency key
    /// (the same id twice sends once).
    #[allow(clippy::too_many_arguments)]
    pub fn direct(
        tenant: TenantRef,
        channel: Channel,
        business: impl Into<Address>,
        customer: impl Into<Address>,
        id: String,
        text: String,
        author: Author,
        at: jiff::Timestamp,
    ) -> Envelope {
        let customer = customer.into();
        Envelope {
            id,
            conversation_id: ConversationId::derive(&tenant, channel, &customer),
            tenant,
            channel,
            from: business.into(),
            to: customer,
            body: text,
            received_at: at,
            detail: KindDetail::Direct { author },
        }
    }

    /// The kind of work.
    pub fn kind(&self) -> Kind {
        self.detail.kind()
    }

    /// The customer's address: the sender of an inbound text or of a caller's speech, the
    /// recipient of a conversation the tenant starts.
    pub fn customer(&self) -> &Address {
        match self.kind() {
            Kind::Initiate | Kind::Direct => &self.to,
            Kind::Inbound | Kind::VoiceTurn => &self.from,
        }
    }

    /// The tenant's address on this conversation (what replies are sent from).
    pub fn business_number(&self) -> &Address {
        match self.kind() {
            Kind::Initiate | Kind::Direct => &self.from,
            Kind::Inbound | Kind::VoiceTurn => &self.to,
        }
    }

    /// An inbound email's headers, if this is one.
    pub fn email_meta(&self) -> Option<&EmailMeta> {
        match &self.detail {
            KindDetail::Inbound { email, .. } => email.as_ref(),
            _ => None,
        }
    }

    /// The wire form, with `"v": 1`.
    pub fn to_json(&self) -> String {
        // Invariant: every field serialises to JSON (strings, numbers, a JSON value).
        serde_json::to_string(&Versioned { v: ENVELOPE_VERSION, envelope: self })
            .expect("envelope serialises")
    }

    /// Reads a queue body, checking version and kind before anything else so that a
    /// message from a newer producer is reported as such, not as a confusing field error.
    pub fn parse(body: &str) -> Result<Self, EnvelopeError> {
        let value: serde_json::Value =
            serde_json::from_str(body).map_err(|e| EnvelopeError::NotJson(e.to_string()))?;
        let obj = value.as_object().ok_or_else(|| EnvelopeError::NotJson("not an object".into()))?;
        match obj.get("v") {
            Some(v) if v.as_u64() == Some(ENVELOPE_VERSION) => {}
            Some(v) => return Err(EnvelopeError::UnsupportedVersion(v.to_string())),
            None => return Err(EnvelopeError::UnsupportedVersion("(missing)".into())),
        }
        match obj.get("kind") {
            Some(serde_json::Value::String(k)) if Kind::ALL.iter().any(|x| x.as_str() == k) => {}
            Some(k) => return Err(EnvelopeError::UnknownKind(k.to_string())),
            None => return Err(EnvelopeError::UnknownKind("(missing)".into())),
        }
        serde_json::from_value(value).map_err(|e| EnvelopeError::Malformed(e.to_string()))
    }

    /// Queue message attributes: routing facts readable without parsing the body.
    pub fn attributes(&self, trace_id: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("channel".to_owned(), self.channel.to_string()),
            ("company_id".to_owned(), self.tenant.company_id.clone()),
            ("kind".to_owned(), self.kind().to_string()),
            ("trace_id".to_owned(), trace_id.to_owned()),
        ])
    }
}

#[cfg(test)]
#[path = "envelope_tests.rs"]
mod tests;
