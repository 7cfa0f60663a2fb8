use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StoreError;
use super::chat::ToolCall;
use crate::domain::{Channel, ConversationId, PhoneNumber, TenantRef};

/// What one stored item of a conversation is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ItemContent {
    /// The customer wrote.
    Inbound { text: String },
    /// The assistant asked for a tool.
    ToolCall { call: ToolCall },
    /// What the tool answered (JSON text).
    ToolResult { call_id: String, name: String, result: String },
    /// The assistant's reply, as sent.
    Reply { text: String, provider_ids: Vec<String> },
    /// Something noted about the turn (suppressed reply, ...).
    Note { text: String },
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
    pub customer: PhoneNumber,
    pub status: String,
    pub last_activity: jiff::Timestamp,
    pub item_count: u64,
}

/// Which conversation items belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationKey {
    pub id: ConversationId,
    pub tenant: TenantRef,
    pub channel: Channel,
    pub customer: PhoneNumber,
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
