//! The turn's claim while it runs: renewed every half lease, and re-checked right before
//! each provider call, so a holder that lost its claim to another attempt (it stalled
//! past its lease) stops instead of sending (docs/decisions.md, "Crash safety").

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use comms_core::ports::{
    Begin, ConversationItem, JournalTurn, Recorded, StoreError, TurnClaim, TurnJournal, TurnStep, TurnWrite,
};
use comms_core::retry::{Classify, Disposition, with_backoff};

use super::{Engine, TurnError};

/// The claim this attempt holds: the turn, the claim (its fencing token and the
/// header as this claim wrote it), when the store last confirmed it (a claim, record or
/// renew that succeeded), and the items composed but not stored yet (they go with the
/// next recorded step, in the same write).
pub(super) struct Held {
    pub(super) turn: JournalTurn,
    pub(super) token: u32,
    /// When the last confirming write was asked for: it set the lease to at least a
    /// whole lease from then, and no other claim takes a lease over before it runs out.
    confirmed: Mutex<Instant>,
    claim: tokio::sync::Mutex<TurnClaim>,
    pending: Mutex<Vec<ConversationItem>>,
}

impl Held {
    /// `claim` of `turn`, acquired by a claim asked for at `asked`.
    pub(super) fn new(turn: JournalTurn, claim: TurnClaim, asked: Instant) -> Self {
        Self {
            turn,
            token: claim.token,
            confirmed: Mutex::new(asked),
            claim: tokio::sync::Mutex::new(claim),
            pending: Mutex::new(Vec::new()),
        }
    }

    /// A write asked for at `asked` succeeded: the lease runs a whole lease from then.
    pub(super) fn confirm(&self, asked: Instant) {
        let mut confirmed = self.confirmed.lock().unwrap_or_else(PoisonError::into_inner);
        *confirmed = (*confirmed).max(asked);
    }

    /// Whether the lease was confirmed less than `within` ago.
    fn confirmed_within(&self, within: Duration) -> bool {
        self.confirmed.lock().unwrap_or_else(PoisonError::into_inner).elapsed() < within
    }

    /// Items to store with the next recorded step.
    pub(super) fn stage(&self, items: Vec<ConversationItem>) {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner).extend(items);
    }

    /// Whether the customer had opted out when the turn was claimed.
    pub(super) async fn opted_out_at_claim(&self) -> bool {
        self.claim.lock().await.opted_out
    }

    /// The owner's takeover of the conversation as the claim read it.
    pub(super) async fn takeover_at_claim(&self) -> Option<jiff::Timestamp> {
        self.claim.lock().await.takeover_until
    }

    /// The conversation's recent items as of the claim (and this turn's own writes).
    pub(super) async fn window(&self) -> Vec<ConversationItem> {
        self.claim.lock().await.window.clone()
    }
}

impl Engine {
    /// Records `step` with the staged items, only while this attempt still holds the
    /// turn.
    pub(super) async fn advance(&self, held: &Held, step: &TurnStep) -> Result<(), TurnError> {
        match self.record(held, step, false).await? {
            Recorded::Stored => Ok(()),
            Recorded::OptedOut => Err(TurnError::retry("journal refused a write without an opt-out check")),
        }
    }

    /// Records `step` with the staged items; with `unless_opted_out`, refused (nothing
    /// written, the items kept staged) if the customer opted out since the claim.
    pub(super) async fn record(
        &self,
        held: &Held,
        step: &TurnStep,
        unless_opted_out: bool,
    ) -> Result<Recorded, TurnError> {
        let items = std::mem::take(&mut *held.pending.lock().unwrap_or_else(PoisonError::into_inner));
        let write = TurnWrite { items: &items, step, unless_opted_out };
        let asked = Instant::now();
        let mut claim = held.claim.lock().await;
        let recorded = self.ports.journal.record(&held.turn, &mut claim, write, self.settings.lease).await?;
        drop(claim);
        held.confirm(asked);
        if recorded == Recorded::OptedOut {
            held.stage(items);
        }
        Ok(recorded)
    }
}

impl Engine {
    /// Claims the turn. A busy claim of this turn whose lease ends within three quarters
    /// of a lease is the claim of a holder that stopped renewing it (it died, or a Lambda
    /// timed out): this delivery waits it out, kept invisible by its heartbeat, and takes
    /// over, so a crash never costs a receive. A lease further off belongs to a live
    /// holder (just claimed or renewed): that is a real overlap, retried later. Another
    /// turn of the conversation in flight is waited for in process (the conversation's
    /// turns run in order), for at most a lease.
    pub(super) async fn claim(&self, turn: &JournalTurn) -> Result<Option<TurnClaim>, TurnError> {
        let lease = self.settings.lease;
        let (mut waited, started) = (false, std::time::Instant::now());
        let mut pause = CONVERSATION_POLL;
        loop {
            match self.ports.journal.begin(turn, lease).await? {
                Begin::Claimed(claim) => return Ok(Some(claim)),
                Begin::Done => return Ok(None),
                Begin::Busy { lease_left, same_turn: true } if !waited && lease_left <= lease * 3 / 4 => {
                    tracing::info!(?lease_left, "turn claimed by an attempt that stopped renewing: waiting");
                    tokio::time::sleep(lease_left + BUSY_MARGIN).await;
                    waited = true;
                }
                Begin::Busy { same_turn: true, .. } => {
                    return Err(TurnError::retry("another delivery of this message is in progress"));
                }
                Begin::Busy { lease_left, same_turn: false } if started.elapsed() < lease => {
                    tokio::time::sleep(pause.min(lease_left + BUSY_MARGIN)).await;
                    pause = (pause * 2).min(CONVERSATION_POLL_MAX);
                }
                Begin::Busy { same_turn: false, .. } => {
                    return Err(TurnError::retry("another turn of this conversation is in progress"));
                }
            }
        }
    }
}

/// Slack added to a dead holder's remaining lease before claiming again.
const BUSY_MARGIN: Duration = Duration::from_millis(100);

/// First and longest pause between claims while another turn of the conversation runs.
const CONVERSATION_POLL: Duration = Duration::from_millis(20);
const CONVERSATION_POLL_MAX: Duration = Duration::from_millis(500);

/// A provider call that was not made because the lease check failed, or that failed.
pub(super) enum Fenced<E> {
    /// The lease check before the call: [`StoreError::LeaseLost`], or the store failed
    /// (then the call was not made either).
    Lease(StoreError),
    Call(E),
}

impl<E: Classify> Classify for Fenced<E> {
    fn disposition(&self) -> Disposition {
        match self {
            Fenced::Lease(e) => e.disposition(),
            Fenced::Call(e) => e.disposition(),
        }
    }
}

impl Engine {
    /// Makes the provider call `call`, retried as its errors say within the retry
    /// budget, each try only while this attempt provably holds the turn: a holder that
    /// lost its claim sends nothing, and a stale holder could send only if it stalled
    /// between that proof and the request.
    ///
    /// The proof is a conditional write of this claim less than a quarter lease ago
    /// (usually the `Sending` step stored just before the send: no extra store call on a
    /// normal turn), since that write set the lease to a whole lease from then and a
    /// claim is taken over only once its lease ran out; past that, a conditional renew.
    pub(super) async fn fenced<T, E, F, Fut>(&self, held: &Held, mut call: F) -> Result<T, Fenced<E>>
    where
        E: Classify,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let (journal, lease) = (&self.ports.journal, self.settings.lease);
        with_backoff(self.settings.retry_budget, || {
            let request = call();
            async move {
                if !held.confirmed_within(lease / 4) {
                    let asked = Instant::now();
                    journal.renew(&held.turn, held.token, lease).await.map_err(Fenced::Lease)?;
                    held.confirm(asked);
                }
                request.await.map_err(Fenced::Call)
            }
        })
        .await
    }
}

/// Renews a turn's lease every half lease until dropped, or until the lease is lost.
pub(super) struct LeaseRenewal(tokio::task::JoinHandle<()>);

impl LeaseRenewal {
    pub(super) fn start(journal: Arc<dyn TurnJournal>, held: &Held, lease: Duration) -> Self {
        let (turn, token) = (held.turn.clone(), held.token);
        Self(tokio::spawn(async move {
            loop {
                tokio::time::sleep(lease / 2).await;
                match journal.renew(&turn, token, lease).await {
                    Ok(()) => {}
                    // The turn's next write or send check stops it.
                    Err(StoreError::LeaseLost) => {
                        tracing::warn!("turn lease lost to another attempt: renewal stopped");
                        return;
                    }
                    // The turn may still finish; if the lease runs out meanwhile, the
                    // steps recorded so far make a takeover safe.
                    Err(e) => tracing::warn!(error = %e, "could not renew the turn lease"),
                }
            }
        }))
    }
}

impl Drop for LeaseRenewal {
    fn drop(&mut self) {
        self.0.abort();
    }
}
