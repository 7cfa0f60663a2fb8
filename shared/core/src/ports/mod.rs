//! Ports: what the engine needs from the outside world, as small traits. Each has an
//! embedded adapter (SQLite) and, later, an AWS one; `comms_testkit::conformance` holds the
//! tests every adapter must pass.

mod bookings;
mod chat;
mod consent;
mod conversations;
mod journal;
mod messenger;
mod owner_state;
mod queue;
mod requests;
mod secrets;
mod stores;
mod tenants;
mod turns;

pub use bookings::{Booking, Bookings, Ledger, LedgerEntry, Reservation, UPCOMING_MAX_DAYS, upcoming_dates};
pub use chat::{ChatError, ChatMessage, ChatModel, ChatReply, ChatRequest, ToolCall, ToolSpec, Usage};
pub use consent::{ConsentAction, ConsentStore};
pub use conversations::{
    ConversationItem, ConversationKey, ConversationLog, ConversationSummary, DeliveryStatusStore,
    ItemContent, search_digits, search_matches,
};
pub use journal::{
    Begin, FINISHED_MAX, JournalTurn, Recorded, TurnClaim, TurnJournal, TurnWrite, WINDOW_MAX_BYTES,
    evict_finished, extend_window,
};
pub use messenger::{
    CallControl, CallError, CallUpdate, Messenger, OutboundEmail, OutboundText, SendError, SentText,
    TemplateContent,
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

use crate::retry::{Classify, Disposition};

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
    /// A turn claim was taken over by another attempt (this holder was too slow to renew
    /// it): the fencing token no longer matches, and nothing was written.
    #[error("turn lease lost: another attempt holds the turn")]
    LeaseLost,
}

impl StoreError {
    /// Whether retrying the same call may succeed ([`Classify::disposition`], for
    /// adapters that wrap one error in another).
    pub fn is_transient(&self) -> bool {
        self.disposition().is_retry()
    }
}

impl Classify for StoreError {
    fn disposition(&self) -> Disposition {
        match self {
            // LeaseLost: the same call with the same token can never succeed. What the
            // message then needs (not a dead letter: the new holder owns the turn) is
            // the engine's decision (`TurnError`, docs/decisions.md "Crash safety").
            StoreError::Conflict(_)
            | StoreError::Backend { transient: false, .. }
            | StoreError::LeaseLost => Disposition::Permanent,
            StoreError::Backend { transient: true, .. } => Disposition::RETRY,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn backend(transient: bool) -> (StoreError, QueueError, SecretError) {
        (
            StoreError::Backend { message: "x".into(), transient },
            QueueError::Backend { message: "x".into(), transient },
            SecretError::Backend { message: "x".into(), transient },
        )
    }

    #[test]
    fn storage_queue_and_secret_errors_retry_only_transient_backend_failures() {
        let (s, q, k) = backend(true);
        let retry = Disposition::RETRY;
        assert_eq!([s.disposition(), q.disposition(), k.disposition()], [retry; 3]);
        let (s, q, k) = backend(false);
        let permanent = Disposition::Permanent;
        assert_eq!([s.disposition(), q.disposition(), k.disposition()], [permanent; 3]);
        assert_eq!(StoreError::Conflict("taken".into()).disposition(), permanent);
        assert_eq!(StoreError::LeaseLost.disposition(), permanent);
        assert_eq!(QueueError::StaleReceipt.disposition(), permanent);
        assert_eq!(SecretError::NotFound("n".into()).disposition(), permanent);
    }

    #[test]
    fn provider_errors_carry_retry_after_and_ambiguity() {
        let after = Some(Duration::from_secs(3));
        let chat = ChatError::Transient { message: "429".into(), retry_after: after };
        assert_eq!(chat.disposition(), Disposition::Retry { after });
        assert_eq!(ChatError::Permanent("401".into()).disposition(), Disposition::Permanent);

        let send = SendError::Retryable { message: "429".into(), retry_after: after };
        assert_eq!(send.disposition(), Disposition::Retry { after });
        assert_eq!(SendError::Ambiguous("timeout".into()).disposition(), Disposition::Ambiguous);
        let refused = SendError::Permanent { code: "21610".into(), message: "stop".into() };
        assert_eq!(refused.disposition(), Disposition::Permanent);

        let call = CallError::Retryable { message: "429".into(), retry_after: None };
        assert_eq!(call.disposition(), Disposition::RETRY);
        assert_eq!(CallError::Ambiguous("timeout".into()).disposition(), Disposition::Ambiguous);
        assert_eq!(CallError::Ended("hung up".into()).disposition(), Disposition::Permanent);
        let refused = CallError::Permanent { code: "21220".into(), message: "bad".into() };
        assert_eq!(refused.disposition(), Disposition::Permanent);
    }
}
