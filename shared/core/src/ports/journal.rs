//! The turn journal: the conversation as the unit of consistency. One port carries what
//! the turn engine stores and reads on its path, in as few writes as the backend allows
//! (docs/decisions.md, "Turn journal"):
//!
//! 1. [`TurnJournal::begin`] claims the turn on the conversation's header (at most one
//!    live turn per conversation: turns of one conversation are serialised) and returns
//!    what the turn needs to start: its step (a resume), the recent history the model
//!    sees, and whether the customer opted out;
//! 2. [`TurnJournal::record`] stores the turn's items with its next step, on condition
//!    that the claim still holds (fencing) and, for the step before a send, that the
//!    customer has not opted out meanwhile;
//! 3. the last `record` (a `Done` step) appends the reply, frees the conversation and
//!    keeps the turn's durable record, so a redelivery is recognised as done.
//!
//! Each `record` also adds what its items store (a `Usage` item, a sent reply:
//! [`super::UsageTotals::of_items`]) to the tenant's running totals for the month and
//! channel, in the same atomic write: refused or failed, it counts nothing
//! ([`super::UsageLedger`] reads them). SQLite counts an item only when first stored;
//! DynamoDB cannot tell a repeated item in one transaction (as with `item_count`), so
//! the engine stages each item once.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;

use super::StoreError;
use super::conversations::{ConversationItem, ConversationKey, ItemContent};
use super::turns::TurnStep;

/// Which turn: the conversation it belongs to, its idempotency key
/// ([`super::turn_key`]), when its message was received, and how many recent items the
/// model sees (the history window the header keeps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalTurn {
    pub conversation: ConversationKey,
    pub key: String,
    pub received_at: jiff::Timestamp,
    pub history: usize,
}

/// A claim this attempt holds. `window` and `finished` are the header as this claim
/// last wrote it: [`TurnJournal::record`] keeps them current, so a backend that cannot
/// trim a list in place (DynamoDB) writes the new window without reading it again. No
/// other writer changes them while the claim holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnClaim {
    /// The fencing token: [`TurnJournal::record`], `renew` and `release` with it are
    /// refused with [`StoreError::LeaseLost`] once another claim took the turn (or the
    /// conversation) over. No two claims of one turn share it.
    pub token: u32,
    /// Where the turn resumes (`Started` for a new one).
    pub step: TurnStep,
    /// Whether the customer had opted out at the claim (the consent store's answer when
    /// the header did not know yet).
    pub opted_out: bool,
    /// The conversation's recent items, oldest first.
    pub window: Vec<ConversationItem>,
    /// Recently finished turns of the conversation: key → received at (epoch ms).
    pub finished: BTreeMap<String, i64>,
    /// The header's watermark (epoch ms; 0 where the backend keeps none): a turn
    /// received at or before it that is not in `finished` is looked up in its durable
    /// record. It only moves up ([`evict_finished`]).
    pub watermark: i64,
    /// The conversation's takeover by the owner, as the header held it at the claim
    /// (read with the claim, no extra call): while it is in the future the assistant does
    /// not answer.
    pub takeover_until: Option<jiff::Timestamp>,
}

/// The result of [`TurnJournal::begin`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// Ours: new, or resumed from an earlier attempt whose lease ended.
    Claimed(TurnClaim),
    /// Another attempt of this turn, or another turn of the conversation, holds a live
    /// lease for `lease_left` more (`same_turn` says which).
    Busy { lease_left: Duration, same_turn: bool },
    /// The turn already finished.
    Done,
}

/// What [`TurnJournal::record`] stores: `items` (idempotent per `item_id`) and `step`.
#[derive(Debug, Clone, Copy)]
pub struct TurnWrite<'a> {
    pub items: &'a [ConversationItem],
    pub step: &'a TurnStep,
    /// Refuse the write if the customer opted out after the claim (the write before a
    /// send: the opt-out check and the `Sending` step are one atomic write).
    pub unless_opted_out: bool,
}

/// The result of [`TurnJournal::record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Stored,
    /// Refused: the customer opted out ([`TurnWrite::unless_opted_out`]); nothing written.
    OptedOut,
}

/// The turn engine's storage: claims, steps, items and the history window of one
/// conversation, kept consistent on its header.
#[async_trait]
pub trait TurnJournal: Send + Sync {
    /// Claims `turn` for `lease`, atomically: two overlapping claims of one conversation
    /// never both get [`Begin::Claimed`] while the lease runs.
    async fn begin(&self, turn: &JournalTurn, lease: Duration) -> Result<Begin, StoreError>;

    /// Stores `write` and extends the lease, only while `claim` holds the turn (else
    /// [`StoreError::LeaseLost`], nothing written). A `Done` step ends the turn: the
    /// conversation is free for its next turn, and a later `begin` of this turn is
    /// [`Begin::Done`]. Updates `claim.window` and `claim.finished` to what was stored.
    async fn record(
        &self,
        turn: &JournalTurn,
        claim: &mut TurnClaim,
        write: TurnWrite<'_>,
        lease: Duration,
    ) -> Result<Recorded, StoreError>;

    /// Extends the lease to `lease` from now (the heartbeat, and the check before a
    /// provider call); [`StoreError::LeaseLost`] if another claim holds it. A released
    /// lease stays released.
    async fn renew(&self, turn: &JournalTurn, token: u32, lease: Duration) -> Result<(), StoreError>;

    /// Gives the lease up (this attempt failed): the next delivery, or the
    /// conversation's next turn, may go on at once. [`StoreError::LeaseLost`] (nothing
    /// changed) if another claim holds it.
    async fn release(&self, turn: &JournalTurn, token: u32) -> Result<(), StoreError>;
}

/// Most bytes of items (as JSON) a header's window keeps: far under DynamoDB's 400 KB
/// item limit, with room for the rest of the header.
pub const WINDOW_MAX_BYTES: usize = 64 * 1024;

/// Most recently finished turns a header remembers; older ones are found through their
/// durable record (see [`evict_finished`]).
pub const FINISHED_MAX: usize = 32;

/// `window` with `items` added (an item id already there is kept once), in time order,
/// cut to the last `count` items and then to [`WINDOW_MAX_BYTES`], oldest first out.
/// Usage items are left out: the model never sees them, and they would take its history.
pub fn extend_window(
    window: &[ConversationItem],
    items: &[ConversationItem],
    count: usize,
) -> Vec<ConversationItem> {
    let mut out: Vec<ConversationItem> = window.to_vec();
    for item in items.iter().filter(|i| !matches!(i.content, ItemContent::Usage { .. })) {
        if !out.iter().any(|i| i.item_id == item.item_id) {
            out.push(item.clone());
        }
    }
    out.sort_by_key(|i| i.at);
    let skip = out.len().saturating_sub(count);
    out.drain(..skip);
    let size = |i: &ConversationItem| serde_json::to_string(i).map(|s| s.len() + 1).unwrap_or(0);
    let mut bytes: usize = out.iter().map(size).sum();
    while bytes > WINDOW_MAX_BYTES && !out.is_empty() {
        bytes -= size(&out.remove(0));
    }
    out
}

/// Adds `key` (received at `received_ms`) to `finished` and evicts the oldest past
/// [`FINISHED_MAX`]. Returns the greatest `received_at` evicted, if any: the header's
/// watermark moves up to it, and a turn at or before the watermark that is not in the
/// set is looked up in its durable record.
pub fn evict_finished(finished: &mut BTreeMap<String, i64>, key: &str, received_ms: i64) -> Option<i64> {
    finished.insert(key.to_owned(), received_ms);
    let mut evicted = None;
    while finished.len() > FINISHED_MAX {
        let Some(oldest) = finished.iter().min_by_key(|(k, at)| (**at, (*k).clone())).map(|(k, _)| k.clone())
        else {
            break;
        };
        let at = finished.remove(&oldest).unwrap_or_default();
        evicted = Some(evicted.map_or(at, |e: i64| e.max(at)));
    }
    evicted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, secs: i64, text: &str) -> ConversationItem {
        ConversationItem {
            item_id: id.into(),
            at: jiff::Timestamp::from_second(secs).unwrap(),
            content: ItemContent::Inbound { text: text.into(), media: Vec::new() },
        }
    }

    #[test]
    fn the_window_keeps_the_newest_items_by_count_and_bytes_once_each() {
        let w = extend_window(&[], &[item("a", 1, "x"), item("b", 2, "y")], 10);
        let w = extend_window(&w, &[item("b", 2, "y"), item("c", 3, "z")], 2);
        assert_eq!(w.iter().map(|i| i.item_id.as_str()).collect::<Vec<_>>(), ["b", "c"]);
        let big = "x".repeat(WINDOW_MAX_BYTES / 2);
        let w = extend_window(&w, &[item("d", 4, &big), item("e", 5, &big)], 10);
        assert_eq!(w.iter().map(|i| i.item_id.as_str()).collect::<Vec<_>>(), ["e"]);
    }

    #[test]
    fn usage_items_stay_out_of_the_window() {
        let usage = ConversationItem {
            item_id: "a:usage".into(),
            at: jiff::Timestamp::from_second(2).unwrap(),
            content: ItemContent::Usage { calls: Vec::new() },
        };
        let w = extend_window(&[], &[item("a", 1, "x"), usage, item("b", 3, "y")], 2);
        assert_eq!(w.iter().map(|i| i.item_id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn the_finished_set_is_bounded_and_reports_the_watermark() {
        let mut f = BTreeMap::new();
        for i in 0..FINISHED_MAX {
            assert_eq!(evict_finished(&mut f, &format!("k{i}"), i as i64 + 10), None);
        }
        assert_eq!(evict_finished(&mut f, "late", 5), Some(5));
        assert_eq!(evict_finished(&mut f, "next", 100), Some(10));
        assert_eq!(f.len(), FINISHED_MAX);
        assert!(!f.contains_key("k0") && f.contains_key("next"));
    }
}
