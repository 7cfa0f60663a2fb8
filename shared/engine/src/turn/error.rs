//! Why a turn failed, and whether the queue should bring it back.

use std::error::Error;

use comms_core::domain::EnvelopeError;
use comms_core::ports::{CallError, ChatError, SendError, StoreError};
use comms_core::retry::{Classify, Disposition};

/// A turn failed. Its [`Disposition`] decides retry or dead letter (`batch::settle`);
/// [`TurnError::reason`] (the context and every cause) is what the dead-letter listing
/// and the logs show, redacted.
#[derive(Debug, thiserror::Error)]
#[error("{context}")]
pub struct TurnError {
    context: String,
    disposition: Disposition,
    #[source]
    source: Option<Box<dyn Error + Send + Sync>>,
}

impl TurnError {
    /// A failure retrying cannot help (the engine's own rule, no port error behind it).
    pub fn permanent(reason: impl Into<String>) -> Self {
        Self { context: reason.into(), disposition: Disposition::Permanent, source: None }
    }

    /// A failure a later delivery may get past (the engine's own rule).
    pub fn retry(reason: impl Into<String>) -> Self {
        Self { context: reason.into(), disposition: Disposition::RETRY, source: None }
    }

    /// A port error, with what the turn was doing; retried as the error says.
    pub(super) fn caused_by<E>(context: &str, e: E) -> Self
    where
        E: Classify + Error + Send + Sync + 'static,
    {
        Self { context: context.to_owned(), disposition: e.disposition(), source: Some(Box::new(e)) }
    }

    /// Whether retrying cannot help (the record is dead-lettered at once).
    pub fn is_permanent(&self) -> bool {
        self.disposition == Disposition::Permanent
    }

    /// Whether this attempt lost its claim of the turn to another attempt, which now
    /// owns it: stop, and neither release the claim nor dead-letter the message.
    pub fn is_lease_lost(&self) -> bool {
        let store = self.source.as_deref().and_then(|e| e.downcast_ref::<StoreError>());
        matches!(store, Some(StoreError::LeaseLost))
    }

    /// The context and each cause: `send: send refused permanently (code 21610): …`.
    pub fn reason(&self) -> String {
        let mut reason = self.context.clone();
        let mut cause = self.source();
        while let Some(e) = cause {
            reason.push_str(": ");
            reason.push_str(&e.to_string());
            cause = e.source();
        }
        reason
    }
}

/// Two failures are the same when they are retried alike for the same reason (the
/// causes are compared by what they say).
impl PartialEq for TurnError {
    fn eq(&self, other: &Self) -> bool {
        self.disposition == other.disposition && self.reason() == other.reason()
    }
}

impl Eq for TurnError {}

impl Classify for TurnError {
    /// `Ambiguous` (a send or call update that may have happened) is brought back like a
    /// retry by the queue: the redelivery reconciles before anything is sent again.
    fn disposition(&self) -> Disposition {
        self.disposition
    }
}

impl From<StoreError> for TurnError {
    fn from(e: StoreError) -> Self {
        // Our storage failing is never the message's fault: retry, then dead-letter
        // (after the queue's receive limit), whatever the backend said.
        Self { disposition: Disposition::RETRY, ..Self::caused_by("storage", e) }
    }
}

impl From<ChatError> for TurnError {
    fn from(e: ChatError) -> Self {
        Self::caused_by("model", e)
    }
}

impl From<SendError> for TurnError {
    fn from(e: SendError) -> Self {
        Self::caused_by("send", e)
    }
}

impl From<CallError> for TurnError {
    fn from(e: CallError) -> Self {
        Self::caused_by("call update", e)
    }
}

impl From<EnvelopeError> for TurnError {
    fn from(e: EnvelopeError) -> Self {
        Self::caused_by("queue body", e)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn keeps_the_cause_and_its_disposition() {
        let e =
            TurnError::from(SendError::Permanent { code: "21610".into(), message: "unsubscribed".into() });
        assert!(e.is_permanent());
        assert_eq!(e.reason(), "send: send refused permanently (code 21610): unsubscribed");
        assert!(e.source().unwrap().downcast_ref::<SendError>().is_some());

        let after = Some(Duration::from_secs(2));
        let e = TurnError::from(ChatError::Transient { message: "429".into(), retry_after: after });
        assert_eq!(e.disposition(), Disposition::Retry { after });
        assert_eq!(
            TurnError::from(SendError::Ambiguous("timeout".into())).disposition(),
            Disposition::Ambiguous
        );
    }

    #[test]
    fn storage_failures_are_retried_and_bad_bodies_are_not() {
        let e = TurnError::from(StoreError::Backend { message: "denied".into(), transient: false });
        assert_eq!(e.disposition(), Disposition::RETRY);
        assert_eq!(e.reason(), "storage: storage backend error: denied");
        assert!(!e.is_lease_lost());
        // A lost lease comes back like a retry (the message is not dead-lettered): the
        // redelivery finds the new holder's turn busy or done.
        let e = TurnError::from(StoreError::LeaseLost);
        assert!(e.is_lease_lost());
        assert_eq!(e.disposition(), Disposition::RETRY);
        let e = TurnError::from(EnvelopeError::UnknownKind("fax".into()));
        assert!(e.is_permanent());
        assert!(e.reason().contains("unknown envelope kind fax"), "{}", e.reason());
        assert_eq!(TurnError::retry("busy").reason(), "busy");
    }
}
