//! An email as SendGrid's Inbound Parse posts it with "POST the raw, full MIME message":
//! `multipart/form-data` whose `email` field is the whole message, with `to`, `from`,
//! `subject` and `envelope` (JSON `{"to": [...], "from": "..."}`, the SMTP envelope)
//! beside it. The MIME is parsed with `mail-parser`.

use mail_parser::{HeaderValue, MessageParser, MimeHeaders};
use sha2::{Digest, Sha256};

use super::inbound_form::{self, FormError, FormPart};
use super::inbound_strip::strip_reply;

/// Longest Message-ID kept as the message's id (it becomes part of storage keys); a
/// longer one is replaced by the digest, as a missing one is.
pub const MAX_ID_LEN: usize = 250;

/// An attachment, recorded by name and size (its content is not kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentInfo {
    pub name: String,
    pub size: u64,
}

/// What a customer's email says, as the conversation needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundEmail {
    /// The sender's address (From), as written.
    pub from: String,
    /// Where it was delivered: the SMTP envelope's recipients, else To and Cc.
    pub recipients: Vec<String>,
    pub subject: String,
    /// Message-ID without angle brackets; a digest of the raw message when it has none
    /// (or one longer than [`MAX_ID_LEN`]), so a redelivery still has the same id.
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    /// The new text: quoted earlier messages and the signature stripped.
    pub text: String,
    /// The whole text part (an HTML-only message turned into text).
    pub raw_text: String,
    pub attachments: Vec<AttachmentInfo>,
}

/// Why a post is not a readable inbound email; [`InboundError::field`] names the part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    #[error(transparent)]
    Form(#[from] FormError),
    #[error("the form has no `email` field (enable \"POST the raw, full MIME message\")")]
    MissingEmail,
    #[error("the `email` field is not a MIME message")]
    MalformedMime,
    #[error("the message has no From address")]
    MissingFrom,
    #[error("the message has no recipient (envelope, To or Cc)")]
    MissingRecipient,
}

impl InboundError {
    /// The form field the error is about, for a field-level 400.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Form(_) => "body",
            Self::MissingEmail | Self::MalformedMime => "email",
            Self::MissingFrom => "email.from",
            Self::MissingRecipient => "envelope",
        }
    }
}

/// Parses an Inbound Parse post (its Content-Type and raw body).
pub fn parse(content_type: &str, body: &[u8]) -> Result<InboundEmail, InboundError> {
    let parts = inbound_form::parse(content_type, body)?;
    let raw = parts.iter().find(|p| p.name == "email").ok_or(InboundError::MissingEmail)?;
    parse_message(&raw.data, envelope_recipients(&parts))
}

/// Parses a raw MIME message; `envelope` are the SMTP recipients if known.
pub fn parse_message(raw: &[u8], envelope: Vec<String>) -> Result<InboundEmail, InboundError> {
    let message = MessageParser::default().parse(raw).ok_or(InboundError::MalformedMime)?;
    if message.headers().is_empty() {
        return Err(InboundError::MalformedMime);
    }
    let from = message
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .filter(|a| a.contains('@'))
        .ok_or(InboundError::MissingFrom)?
        .to_owned();
    let mut recipients = envelope;
    if recipients.is_empty() {
        let listed = message.to().into_iter().chain(message.cc()).flat_map(|a| a.iter());
        recipients = listed.filter_map(|a| a.address()).map(str::to_owned).collect();
    }
    if recipients.is_empty() {
        return Err(InboundError::MissingRecipient);
    }
    let mut raw_text = message.body_text(0).map(|t| t.trim().to_owned()).unwrap_or_default();
    if message.text_part(0).is_some_and(|p| p.is_text_html()) {
        // HTML's layout whitespace survives the conversion as indentation.
        raw_text = raw_text.lines().map(str::trim).collect::<Vec<_>>().join("\n");
    }
    let attachments = message
        .attachments()
        .map(|a| AttachmentInfo {
            name: a.attachment_name().unwrap_or("unnamed").to_owned(),
            size: u64::try_from(a.len()).unwrap_or(u64::MAX),
        })
        .collect();
    Ok(InboundEmail {
        from,
        recipients,
        subject: message.subject().unwrap_or("").trim().to_owned(),
        message_id: message
            .message_id()
            .filter(|id| !id.is_empty() && id.len() <= MAX_ID_LEN)
            .map_or_else(|| digest_id(raw), str::to_owned),
        in_reply_to: ids(message.in_reply_to()).into_iter().next(),
        references: ids(message.references()),
        text: strip_reply(&raw_text),
        raw_text,
        attachments,
    })
}

/// The recipients of the `envelope` field (JSON), empty when absent or unreadable.
fn envelope_recipients(parts: &[FormPart]) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Envelope {
        #[serde(default)]
        to: Vec<String>,
    }
    inbound_form::text(parts, "envelope")
        .and_then(|e| serde_json::from_str::<Envelope>(&e).ok())
        .map(|e| e.to.into_iter().filter(|a| a.contains('@')).collect())
        .unwrap_or_default()
}

/// Message ids of an id-list header (In-Reply-To, References), without angle brackets.
fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(id) => vec![id.to_string()],
        HeaderValue::TextList(list) => list.iter().map(|id| id.to_string()).collect(),
        _ => Vec::new(),
    }
}

fn digest_id(raw: &[u8]) -> String {
    format!("{}@sha256.invalid", hex::encode(&Sha256::digest(raw)[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: &str = "From: Jane Doe <Jane@Example.org>\r\nTo: Fix It Shop <shop@example.com>\r\nSubject: Re: Your repair\r\nMessage-ID: <abc@mail.example.org>\r\nIn-Reply-To: <r1@shop.example.com>\r\nReferences: <r0@shop.example.com> <r1@shop.example.com>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThursday is fine.\r\n\r\n> Can you come Thursday?\r\n";

    #[test]
    fn the_headers_and_the_new_text_are_read_from_the_form() {
        let envelope = br#"{"to":["shop@example.com"],"from":"jane@example.org"}"#;
        let body = inbound_form::encode("B", &[("envelope", envelope), ("email", PLAIN.as_bytes())]);
        let email = parse("multipart/form-data; boundary=B", &body).unwrap();
        assert_eq!(email.from, "Jane@Example.org");
        assert_eq!(email.recipients, ["shop@example.com"]);
        assert_eq!(email.subject, "Re: Your repair");
        assert_eq!(email.message_id, "abc@mail.example.org");
        assert_eq!(email.in_reply_to.as_deref(), Some("r1@shop.example.com"));
        assert_eq!(email.references, ["r0@shop.example.com", "r1@shop.example.com"]);
        assert_eq!(email.text, "Thursday is fine.");
        assert!(email.raw_text.contains("> Can you come Thursday?"));
        assert!(email.attachments.is_empty());
    }

    #[test]
    fn html_only_mail_becomes_text_and_attachments_are_listed() {
        let raw = "From: a@example.org\r\nTo: shop@example.com\r\nSubject: Photo\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\nContent-Type: text/html\r\n\r\n<p>My <b>screen</b> broke</p>\r\n--m\r\nContent-Type: image/jpeg; name=\"crack.jpg\"\r\nContent-Disposition: attachment; filename=\"crack.jpg\"\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAwQF\r\n--m--\r\n";
        let email = parse_message(raw.as_bytes(), Vec::new()).unwrap();
        assert_eq!(email.text, "My screen broke");
        assert_eq!(email.recipients, ["shop@example.com"]);
        assert_eq!(email.attachments, [AttachmentInfo { name: "crack.jpg".into(), size: 6 }]);
        // No Message-ID: a stable digest of the message stands in.
        assert_eq!(email.message_id, parse_message(raw.as_bytes(), Vec::new()).unwrap().message_id);
        assert!(email.message_id.ends_with("@sha256.invalid"));
    }

    #[test]
    fn unreadable_posts_name_their_field() {
        let no_email = inbound_form::encode("B", &[("to", b"shop@example.com")]);
        let err = parse("multipart/form-data; boundary=B", &no_email).unwrap_err();
        assert_eq!((err.clone(), err.field()), (InboundError::MissingEmail, "email"));
        let err = parse_message(b"To: shop@example.com\r\n\r\nhi", Vec::new()).unwrap_err();
        assert_eq!(err.field(), "email.from");
        let err = parse_message(b"From: a@example.org\r\n\r\nhi", Vec::new()).unwrap_err();
        assert_eq!(err, InboundError::MissingRecipient);
        assert_eq!(parse("text/plain", b"x").unwrap_err().field(), "body");
    }
}
