//! The turn's claim while it runs: renewed every half lease, and re-checked right before
//! each provider call, so a holder that lost its claim to another attempt (it stalled
//! past its lease) stops instead of sending (docs/decisions.md, "Crash safety").

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use comms_core::ports::{StoreError, TurnStore};
use comms_core::retry::{Classify, Disposition, with_backoff};

use super::Engine;

/// The claim this attempt holds: the turn's key, the claim's fencing token, and when
/// the store last confirmed it (a claim, advance or renew that succeeded).
pub(super) struct Held {
    pub(super) key: String,
    pub(super) token: u32,
    /// When the last confirming write was asked for: it set the lease to at least a
    /// whole lease from then, and no other claim takes a lease over before it runs out.
    confirmed: Mutex<Instant>,
}

impl Held {
    /// The claim `token` of `key`, acquired by a claim asked for at `asked`.
    pub(super) fn new(key: String, token: u32, asked: Instant) -> Self {
        Self { key, token, confirmed: Mutex::new(asked) }
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
}

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
        let (turns, lease) = (&self.ports.turns, self.settings.lease);
        with_backoff(self.settings.retry_budget, || {
            let request = call();
            async move {
                if !held.confirmed_within(lease / 4) {
                    let asked = Instant::now();
                    turns.renew(&held.key, held.token, lease).await.map_err(Fenced::Lease)?;
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
    pub(super) fn start(turns: Arc<dyn TurnStore>, held: &Held, lease: Duration) -> Self {
        let (key, token) = (held.key.clone(), held.token);
        Self(tokio::spawn(async move {
            loop {
                tokio::time::sleep(lease / 2).await;
                match turns.renew(&key, token, lease).await {
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
