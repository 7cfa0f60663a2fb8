use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StoreError;
use super::chat::ToolCall;
use crate::domain::{Address, Channel, ConversationId, Media, TenantRef};

/// What one stored item of a conversation is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ItemContent {
    /// The customer wrote, with any media they sent (absent in items stored before
    /// media was kept).
    Inbound {
        text: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        media: Vec<Media>,
    },
    /// The assistant asked for a tool.
    ToolCall { call: ToolCall },
    /// What the tool answered (JSON text).
    ToolResult { call_id: String, name: String, result: String },
    /// The assistant's reply, as sent.
    Reply { text: String, provider_ids: Vec<String> },
    /// Something noted about the turn (suppressed reply, ...).
    Note { text: String },
    /// The owner's own reply (a direct send written in the console), as sent.
    OwnerReply { text: String, provider_ids: Vec<String> },
    /// A text the system sent (a cancellation, the owner's hand-off notification).
    Notice { text: String, provider_ids: Vec<String> },
    /// What the turn's model calls used and cost (never shown to the model; the month's
    /// totals count it once, in the write that stores it: [`super::UsageLedger`]).
    Usage { calls: Vec<super::ModelCall> },
}

impl ItemContent {
    /// The item's human-readable text, if it has one (what a search matches).
    pub fn text(&self) -> Option<&str> {
        match self {
            ItemContent::Inbound { text, .. }
            | ItemContent::Reply { text, .. }
            | ItemContent::Note { text }
            | ItemContent::OwnerReply { text, .. }
            | ItemContent::Notice { text, .. } => Some(text),
            ItemContent::ToolCall { .. } | ItemContent::ToolResult { .. } | ItemContent::Usage { .. } => None,
        }
    }
}

/// One item of a conversation. `item_id` is stable across retries (derived from the
/// inbound message id), so appending the same item twice stores it once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationItem {
    pub item_id: String,
    pub at: jiff::Timestamp,
    #[serde(flatten)]
    pub content: ItemContent,
}

/// A conversation's header, for listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationSummary {
    pub conversation_id: ConversationId,
    pub tenant: TenantRef,
    pub channel: Channel,
    pub customer: Address,
    pub status: String,
    pub last_activity: jiff::Timestamp,
    pub item_count: u64,
    /// While in the future, the owner has taken the conversation over: inbound messages
    /// are stored, the assistant does not answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub takeover_until: Option<jiff::Timestamp>,
}

impl ConversationSummary {
    /// Whether the owner holds the conversation at `now`.
    pub fn taken_over(&self, now: jiff::Timestamp) -> bool {
        self.takeover_until.is_some_and(|until| until > now)
    }
}

/// The digits a search `query` looks for in customers' numbers: `Some` when the query
/// is a (part of a) phone number (digits, `+`, spaces, dashes, brackets).
pub fn search_digits(query: &str) -> Option<String> {
    let query = query.trim();
    let phone_like = query.chars().all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')'));
    let digits: String = query.chars().filter(char::is_ascii_digit).collect();
    (phone_like && !digits.is_empty()).then_some(digits)
}

/// Whether a conversation matches a search `query`: the query's digits
/// ([`search_digits`]) found in the customer's number, the query a case-insensitive
/// substring of the customer's email address, or of one of `texts`. An empty query
/// matches everything.
pub fn search_matches<'a>(customer: &Address, texts: impl IntoIterator<Item = &'a str>, query: &str) -> bool {
    let query = query.trim();
    let digits_hit = |d: String| customer.phone().is_some_and(|p| p.digits().contains(&d));
    if query.is_empty() || search_digits(query).is_some_and(digits_hit) {
        return true;
    }
    let needle = query.to_lowercase();
    let email_hit = customer.email().is_some_and(|e| e.as_str().to_lowercase().contains(&needle));
    email_hit || texts.into_iter().any(|t| t.to_lowercase().contains(&needle))
}

/// Which conversation items belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationKey {
    pub id: ConversationId,
    pub tenant: TenantRef,
    pub channel: Channel,
    pub customer: Address,
}

impl ConversationKey {
    /// The conversation an envelope belongs to.
    pub fn of(env: &crate::domain::Envelope) -> Self {
        Self {
            id: env.conversation_id.clone(),
            tenant: env.tenant.clone(),
            channel: env.channel,
            customer: env.customer().clone(),
        }
    }
}

/// The conversation log: one item per message, tool call, tool result and reply (never
/// a whole conversation in one record).
#[async_trait]
pub trait ConversationLog: Send + Sync {
    /// Appends items (idempotent per `item_id`) and updates the conversation's header.
    async fn append(&self, key: &ConversationKey, items: &[ConversationItem]) -> Result<(), StoreError>;

    /// The last `n` items, oldest first.
    async fn recent(&self, id: &ConversationId, n: usize) -> Result<Vec<ConversationItem>, StoreError>;

    /// Conversations by most recent activity, optionally of one tenant.
    async fn list(
        &self,
        tenant: Option<&TenantRef>,
        limit: usize,
    ) -> Result<Vec<ConversationSummary>, StoreError>;

    /// One conversation's header.
    async fn get(&self, id: &ConversationId) -> Result<Option<ConversationSummary>, StoreError>;

    /// Sets (`Some`) or ends (`None`: hand back) the owner's takeover of conversation
    /// `id` of `tenant`. `false`, nothing written, if no such conversation is the
    /// tenant's.
    async fn set_takeover(
        &self,
        tenant: &TenantRef,
        id: &ConversationId,
        until: Option<jiff::Timestamp>,
    ) -> Result<bool, StoreError>;

    /// Conversations (of one tenant, or every tenant's) matching `query` by recency: a
    /// run of digits of the customer's number, or a case-insensitive substring of an
    /// item's text ([`search_matches`]).
    async fn search(
        &self,
        tenant: Option<&TenantRef>,
        query: &str,
        limit: usize,
    ) -> Result<Vec<ConversationSummary>, StoreError>;

    /// The last `limit` items of a conversation, oldest first (a transcript).
    async fn items(&self, id: &ConversationId, limit: usize) -> Result<Vec<ConversationItem>, StoreError> {
        self.recent(id, limit).await
    }
}

/// Delivery state of sent messages, from provider status callbacks.
#[async_trait]
pub trait DeliveryStatusStore: Send + Sync {
    /// Records `status` for a message `tenant` sent unless a later state is already
    /// known (callbacks can arrive out of order). Returns whether it was stored. Keyed by
    /// (tenant, provider id): a provider id is only an id a caller gave us, so one
    /// tenant's callbacks never touch another tenant's record.
    async fn record_status(
        &self,
        tenant: &TenantRef,
        provider_id: &str,
        status: &str,
        error_code: Option<&str>,
        at: jiff::Timestamp,
    ) -> Result<bool, StoreError>;

    /// The last known status of a message `tenant` sent, with its error code.
    async fn status(
        &self,
        tenant: &TenantRef,
        provider_id: &str,
    ) -> Result<Option<(String, Option<String>)>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_matches_number_digits_or_text_without_case() {
        let customer = Address::parse("+14155550123").unwrap();
        let texts = ["Is my iPhone READY?", "thanks"];
        for hit in ["", "0123", "415 555", "+1415", "iphone ready", "THANKS"] {
            assert!(search_matches(&customer, texts, hit), "{hit:?}");
        }
        for miss in ["9999", "android", "0123x"] {
            assert!(!search_matches(&customer, texts, miss), "{miss:?}");
        }
        let email = Address::parse("ann.lee@example.com").unwrap();
        assert!(search_matches(&email, texts, "ANN.LEE"));
        assert!(!search_matches(&email, texts, "0123"));
    }
}
