//! Ports: what the engine needs from the outside world, as small traits. Each has an
//! embedded adapter (SQLite) and, later, an AWS one; `comms_testkit::conformance` holds the
//! tests every adapter must pass.

mod bookings;
mod chat;
mod consent;
mod conversations;
mod messenger;
mod owner_state;
mod queue;
mod requests;
mod secrets;
mod stores;
mod tenants;
mod turns;

pub use bookings::{Booking, Bookings, Ledger, LedgerEntry, Reservation};
pub use chat::{ChatError, ChatMessage, ChatModel, ChatReply, ChatRequest, ToolCall, ToolSpec};
pub use consent::{ConsentAction, ConsentStore};
pub use conversations::{
    ConversationItem, ConversationKey, ConversationLog, ConversationSummary, DeliveryStatusStore,
    ItemContent, status_rank,
};
pub use messenger::{
    CallControl, CallError, CallUpdate, Messenger, OutboundText, SendError, SentText, TemplateContent,
};
pub use owner_state::OwnerStateStore;
pub use queue::{
    DeadLetter, DeadLetters, DlqFilter, OutgoingMessage, QueueError, QueueStats, Queues, ReceivedMessage,
};
pub use requests::{RequestBegin, RequestLog};
pub use secrets::{Secret, SecretError, SecretStore, SecretWriter};
pub use stores::Stores;
pub use tenants::TenantDirectory;
pub use turns::{Claim, TurnRecord, TurnStep, TurnStore, turn_key};

/// Failure of a storage port (tenants, consent, and the tables later issues add).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The write conflicts with what is stored (a number owned by another tenant, a
    /// condition that failed). Permanent for this request.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The backend failed; `transient` says whether retrying may help.
    #[error("storage backend error: {message}")]
    Backend { message: String, transient: bool },
}

impl StoreError {
    /// Whether retrying the same call may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Backend { transient: true, .. })
    }
}
