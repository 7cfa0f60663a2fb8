//! The one JSON envelope every queue carries (version 1).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Channel, ConversationId, Media, PhoneNumber, TenantRef};

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
    /// A customer message; `id` is the provider's message id (Twilio `MessageSid`).
    Inbound {
        /// Number of media attachments the provider reported.
        #[serde(default)]
        num_media: u32,
        /// The media kept (Twilio-hosted URLs and their types, at most
        /// [`super::MAX_MEDIA`]); absent in envelopes written before media was kept.
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
    pub from: PhoneNumber,
    pub to: PhoneNumber,
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
    /// A direct send of `text` from the tenant's `business` number to `customer`, in the
    /// conversation the customer's own texts are in; `id` is the caller's idempotency key
    /// (the same id twice sends once).
    #[allow(clippy::too_many_arguments)]
    pub fn direct(
        tenant: TenantRef,
        channel: Channel,
        business: PhoneNumber,
        customer: PhoneNumber,
        id: String,
        text: String,
        author: Author,
        at: jiff::Timestamp,
    ) -> Envelope {
        Envelope {
            id,
            conversation_id: ConversationId::derive(&tenant, channel, &customer),
            tenant,
            channel,
            from: business,
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

    /// The customer's number: the sender of an inbound text or of a caller's speech, the
    /// recipient of a conversation the tenant starts.
    pub fn customer(&self) -> &PhoneNumber {
        match self.kind() {
            Kind::Initiate | Kind::Direct => &self.to,
            Kind::Inbound | Kind::VoiceTurn => &self.from,
        }
    }

    /// The tenant's number on this conversation (what replies are sent from).
    pub fn business_number(&self) -> &PhoneNumber {
        match self.kind() {
            Kind::Initiate | Kind::Direct => &self.from,
            Kind::Inbound | Kind::VoiceTurn => &self.to,
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
mod tests {
    use super::*;

    fn sample() -> Envelope {
        let tenant = TenantRef::new("acme", "shop").unwrap();
        let from = PhoneNumber::parse("+14155550123").unwrap();
        Envelope {
            id: "SM0123".into(),
            conversation_id: ConversationId::derive(&tenant, Channel::Sms, &from),
            tenant,
            channel: Channel::Sms,
            from,
            to: PhoneNumber::parse("+15555550100").unwrap(),
            body: "Can you fix a cracked screen today?".into(),
            received_at: "2026-11-23T10:00:00Z".parse().unwrap(),
            detail: KindDetail::Inbound { num_media: 0, media: Vec::new() },
        }
    }

    #[test]
    fn round_trips_every_kind() {
        let mut e = sample();
        for detail in [
            KindDetail::Inbound { num_media: 2, media: Vec::new() },
            KindDetail::Inbound {
                num_media: 2,
                media: vec![
                    Media { url: "https://api.twilio.com/m/1".into(), content_type: "image/jpeg".into() },
                    Media { url: "https://api.twilio.com/m/2".into(), content_type: "image/png".into() },
                ],
            },
            KindDetail::Initiate {
                request_id: "6f1c".into(),
                project_data: serde_json::json!({"role": "driver"}),
                recipient_name: Some("Ann Lee".into()),
            },
            KindDetail::VoiceTurn { call_sid: "CA1".into(), turn: 3 },
            KindDetail::Direct { author: Author::Owner },
        ] {
            e.detail = detail;
            let json = e.to_json();
            let v: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert_eq!(v["v"], 1);
            assert_eq!(v["kind"], e.kind().as_str());
            assert_eq!(Envelope::parse(&json).unwrap(), e);
        }
    }

    #[test]
    fn wire_shape_matches_the_design() {
        let v: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
        assert_eq!(v["tenant"]["company_id"], "acme");
        assert_eq!(v["channel"], "sms");
        assert_eq!(v["conversation_id"], "acme.shop.tel.14155550123");
        assert_eq!(v["received_at"], "2026-11-23T10:00:00Z");
        assert_eq!(v["kind"], "inbound");
    }

    fn with(field: &str, value: serde_json::Value) -> String {
        let mut v: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
        v[field] = value;
        v.to_string()
    }

    #[test]
    fn unknown_version_is_a_typed_error() {
        let err = Envelope::parse(&with("v", 2.into())).unwrap_err();
        assert_eq!(err, EnvelopeError::UnsupportedVersion("2".into()));
        let mut v: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
        v.as_object_mut().unwrap().remove("v");
        assert!(matches!(Envelope::parse(&v.to_string()), Err(EnvelopeError::UnsupportedVersion(_))));
    }

    #[test]
    fn unknown_kind_is_a_typed_error() {
        let err = Envelope::parse(&with("kind", "fax".into())).unwrap_err();
        assert_eq!(err, EnvelopeError::UnknownKind("\"fax\"".into()));
    }

    #[test]
    fn bad_fields_and_garbage_are_errors_not_panics() {
        assert!(matches!(Envelope::parse(&with("from", "0415".into())), Err(EnvelopeError::Malformed(_))));
        assert!(matches!(Envelope::parse("not json"), Err(EnvelopeError::NotJson(_))));
        assert!(matches!(Envelope::parse("[1]"), Err(EnvelopeError::NotJson(_))));
    }

    #[test]
    fn customer_and_business_number_do_not_depend_on_the_kind() {
        let mut e = sample();
        let (customer, shop) = (e.from.clone(), e.to.clone());
        for detail in [
            KindDetail::Inbound { num_media: 0, media: Vec::new() },
            KindDetail::VoiceTurn { call_sid: "CA1".into(), turn: 1 },
        ] {
            e.detail = detail;
            assert_eq!((e.customer(), e.business_number()), (&customer, &shop), "{}", e.kind());
        }
        let initiate = Envelope {
            from: shop.clone(),
            to: customer.clone(),
            detail: KindDetail::Initiate {
                request_id: "r1".into(),
                project_data: serde_json::Value::Null,
                recipient_name: None,
            },
            ..sample()
        };
        assert_eq!((initiate.customer(), initiate.business_number()), (&customer, &shop));
    }

    #[test]
    fn a_direct_send_is_in_the_customers_conversation() {
        let inbound = sample();
        let direct = Envelope::direct(
            inbound.tenant.clone(),
            Channel::Sms,
            inbound.to.clone(),
            inbound.from.clone(),
            "owner:1".into(),
            "See you at 3".into(),
            Author::System,
            inbound.received_at,
        );
        assert_eq!(direct.conversation_id, inbound.conversation_id);
        assert_eq!((direct.customer(), direct.business_number()), (&inbound.from, &inbound.to));
        let v: serde_json::Value = serde_json::from_str(&direct.to_json()).unwrap();
        assert_eq!((v["kind"].as_str(), v["author"].as_str()), (Some("direct"), Some("system")));
        assert_eq!(Envelope::parse(&direct.to_json()).unwrap(), direct);
    }

    #[test]
    fn an_envelope_without_media_still_parses_and_writes_none() {
        let old = r#"{"v":1,"id":"SM1","tenant":{"company_id":"acme","project_id":"shop"},
            "channel":"sms","conversation_id":"acme.shop.tel.14155550123","from":"+14155550123",
            "to":"+15555550100","body":"hi","received_at":"2026-11-23T10:00:00Z",
            "kind":"inbound","num_media":1}"#;
        let e = Envelope::parse(old).unwrap();
        assert_eq!(e.detail, KindDetail::Inbound { num_media: 1, media: Vec::new() });
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert!(v.get("media").is_none(), "{v}");
    }

    #[test]
    fn attributes_carry_routing_facts() {
        let a = sample().attributes("trace-1");
        assert_eq!(a["channel"], "sms");
        assert_eq!(a["company_id"], "acme");
        assert_eq!(a["kind"], "inbound");
        assert_eq!(a["trace_id"], "trace-1");
    }
}
