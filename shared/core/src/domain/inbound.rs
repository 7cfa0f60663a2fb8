//! What an inbound message carries beyond its text: an email's headers, media.

use serde::{Deserialize, Serialize};

/// An inbound email's headers and texts (the envelope's `body` is the text the model
/// sees: quoted replies and signatures stripped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailMeta {
    pub subject: String,
    /// The mail's `Message-ID` (also the envelope's `id`).
    pub message_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
    /// Attachments, recorded by name and size (never stored).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// The text part as received, kept in the conversation.
    #[serde(default)]
    pub raw_text: String,
}

/// An email attachment, by name and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub name: String,
    pub size: u64,
}

/// A media item of an MMS or WhatsApp message (`MediaUrl{N}`, `MediaContentType{N}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    pub url: String,
    pub content_type: String,
}
