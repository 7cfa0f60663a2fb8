use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;

use crate::domain::Channel;
use crate::retry::{Classify, Disposition};

/// A message to put on a channel's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub body: String,
    pub attributes: BTreeMap<String, String>,
}

/// A message handed to one receiver until its visibility timeout expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    pub message_id: String,
    /// Proof of this receive; changes on every receive. Needed to delete the message or
    /// change its visibility.
    pub receipt: String,
    pub body: String,
    pub attributes: BTreeMap<String, String>,
    /// How many times the message has been received, this time included.
    pub receive_count: u32,
    pub sent_at: jiff::Timestamp,
}

/// A message that was dead-lettered, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub message_id: String,
    pub body: String,
    pub attributes: BTreeMap<String, String>,
    pub receive_count: u32,
    pub sent_at: jiff::Timestamp,
    pub first_received_at: Option<jiff::Timestamp>,
    /// The last failure recorded for the message, or why it was moved.
    pub reason: Option<String>,
}

/// Which dead letters a replay moves: all (the default), or those matching every given
/// condition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DlqFilter {
    /// Only the message with this id.
    pub message_id: Option<String>,
    /// Only messages whose recorded reason contains this text (a message with no
    /// recorded reason never matches).
    pub reason_contains: Option<String>,
}

impl DlqFilter {
    /// Whether the filter lets every message through.
    pub fn is_all(&self) -> bool {
        self.message_id.is_none() && self.reason_contains.is_none()
    }

    /// Whether a dead letter with this id and reason matches.
    pub fn matches(&self, message_id: &str, reason: Option<&str>) -> bool {
        self.message_id.as_deref().is_none_or(|id| id == message_id)
            && self.reason_contains.as_deref().is_none_or(|r| reason.is_some_and(|reason| reason.contains(r)))
    }
}

/// Depths of one channel's queue and its dead-letter queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct QueueStats {
    /// Messages waiting to be received.
    pub depth: u64,
    /// Messages received and not yet deleted, hidden by their visibility timeout.
    pub in_flight: u64,
    /// Messages in the dead-letter queue.
    pub dlq_depth: u64,
}

/// Failure of a queue call.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The receipt is not the latest one for a message still on the queue: the message
    /// was received again by someone else, deleted, or dead-lettered.
    #[error("receipt is no longer valid (message re-received, deleted or dead-lettered)")]
    StaleReceipt,
    /// The backend failed; `transient` says whether retrying may help.
    #[error("queue backend error: {message}")]
    Backend { message: String, transient: bool },
}

impl QueueError {
    /// Whether retrying the same call may succeed ([`Classify::disposition`], for
    /// adapters that wrap one error in another).
    pub fn is_transient(&self) -> bool {
        self.disposition().is_retry()
    }
}

impl Classify for QueueError {
    fn disposition(&self) -> Disposition {
        match self {
            QueueError::StaleReceipt | QueueError::Backend { transient: false, .. } => Disposition::Permanent,
            QueueError::Backend { transient: true, .. } => Disposition::RETRY,
        }
    }
}

/// The message path: one queue per channel, each with a dead-letter queue, with SQS
/// semantics: at-least-once delivery, a visibility timeout per receive, and a move to the
/// dead-letter queue once a message has been received `max_receive_count` times without
/// being deleted. The embedded adapter never gives one message to two receivers at once;
/// SQS standard queues may, rarely, so processors must be idempotent (the turn claim).
/// What the router and the engine use; the operator's side is [`DeadLetters`].
#[async_trait]
pub trait Queues: Send + Sync {
    /// Enqueues a message; returns its id.
    async fn send(&self, channel: Channel, message: OutgoingMessage) -> Result<String, QueueError>;

    /// Receives up to `max` visible messages, hiding each for `visibility`.
    async fn receive(
        &self,
        channel: Channel,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError>;

    /// Hides a received message for `visibility` from now (0 makes it visible at once).
    /// Whether a receipt from an earlier receive is refused depends on the adapter (SQS
    /// may accept it): callers must not rely on it; the turn claim, not the receipt,
    /// keeps two workers from both acting on a message.
    async fn change_visibility(
        &self,
        channel: Channel,
        receipt: &str,
        visibility: Duration,
    ) -> Result<(), QueueError>;

    /// Removes a received message for good.
    async fn delete(&self, channel: Channel, receipt: &str) -> Result<(), QueueError>;

    /// Records why processing a message failed, so the dead-letter listing can show it.
    async fn record_failure(
        &self,
        channel: Channel,
        message_id: &str,
        reason: &str,
    ) -> Result<(), QueueError>;

    /// Moves a received message to the dead-letter queue at once (a permanent failure),
    /// body and attributes intact, with `reason` recorded.
    async fn dead_letter(
        &self,
        channel: Channel,
        message: &ReceivedMessage,
        reason: &str,
    ) -> Result<(), QueueError>;
}

/// Dead-letter administration (the operator's CLI): depths, listing, replay and purge of
/// the dead-letter queues the message path ([`Queues`]) fills.
#[async_trait]
pub trait DeadLetters: Send + Sync {
    /// Depths of the channel's queue and dead-letter queue.
    async fn stats(&self, channel: Channel) -> Result<QueueStats, QueueError>;

    /// Up to `limit` dead-lettered messages, oldest first. Listing must not change what
    /// it lists: the receive count and first receive reported stay the same from one
    /// listing to the next (SQS cannot peek, so its adapter receives and discounts its
    /// own receives; the embedded adapter only reads).
    async fn dlq_list(&self, channel: Channel, limit: usize) -> Result<Vec<DeadLetter>, QueueError>;

    /// Moves up to `limit` dead-lettered messages back to the source queue, body and
    /// attributes intact; returns how many moved.
    async fn dlq_replay(&self, channel: Channel, limit: usize) -> Result<usize, QueueError> {
        self.dlq_replay_matching(channel, limit, &DlqFilter::default()).await
    }

    /// As [`DeadLetters::dlq_replay`], moving only the messages `filter` matches; the others
    /// stay dead-lettered as they were.
    async fn dlq_replay_matching(
        &self,
        channel: Channel,
        limit: usize,
        filter: &DlqFilter,
    ) -> Result<usize, QueueError>;

    /// Deletes every dead-lettered message of the channel; returns how many.
    async fn dlq_purge(&self, channel: Channel) -> Result<usize, QueueError>;
}
