//! The turn's claim while it runs: renewed every half lease, and re-checked right before
//! each provider call, so a holder that lost its claim to another attempt (it stalled
//! past its lease) stops instead of sending (docs/decisions.md, "Crash safety").

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use comms_core::ports::{StoreError, TurnStore};
use comms_core::retry::{Classify, Disposition, with_backoff};

use super::Engine;

/// The claim this attempt holds: the turn's key and the claim's fencing token.
pub(super) struct Held {
    pub(super) key: String,
    pub(super) token: u32,
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
    /// budget, each try right after a renewal of this attempt's lease: a holder that
    /// lost its claim sends nothing, and the window in which a stale holder could still
    /// send shrinks to the time between that renewal and the request.
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
                turns.renew(&held.key, held.token, lease).await.map_err(Fenced::Lease)?;
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
        let Held { key, token } = Held { key: held.key.clone(), token: held.token };
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
