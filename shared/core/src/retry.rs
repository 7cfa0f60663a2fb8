//! Whether a failure is worth retrying, answered once for every port error
//! ([`Classify`]), and the in-process retry that acts on it: exponential backoff with
//! jitter, `Retry-After` honoured, all within a time budget (then the caller fails the
//! record and the queue retries it). Uses `backon` (the `backoff` crate is unmaintained:
//! RUSTSEC-2025-0012).

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

/// What retrying a failed call may achieve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// The call was not carried out (throttled, unreachable, a backend hiccup): the same
    /// call may succeed, no sooner than `after` when the server said so.
    Retry { after: Option<Duration> },
    /// The call may have been carried out (a timeout or 5xx on a send): repeating it
    /// blindly could do it twice, so it is never retried as is; the caller reconciles
    /// first (a later delivery looks at what was sent).
    Ambiguous,
    /// Retrying the same call cannot succeed (refused, invalid, not found).
    Permanent,
}

impl Disposition {
    /// Retry at once, or after the usual backoff.
    pub const RETRY: Disposition = Disposition::Retry { after: None };

    /// Whether the same call may simply be made again.
    pub fn is_retry(self) -> bool {
        matches!(self, Disposition::Retry { .. })
    }
}

/// An error that knows whether retrying may help.
pub trait Classify {
    fn disposition(&self) -> Disposition;
}

/// Runs `op` until it succeeds, fails with anything but [`Disposition::Retry`], or the
/// budget of waiting is spent. A `Retry { after }` is never retried sooner than `after`,
/// and not at all when `after` is past the budget.
pub async fn with_backoff<T, E, F, Fut>(budget: Duration, op: F) -> Result<T, E>
where
    E: Classify,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let policy = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(10))
        .with_jitter()
        .with_max_times(20)
        .with_total_delay(Some(budget));
    op.retry(policy)
        .sleep(tokio::time::sleep)
        .when(|e: &E| e.disposition().is_retry())
        .adjust(|e: &E, next| match (next, e.disposition()) {
            // Never retry sooner than the server asked, nor past the budget.
            (Some(d), Disposition::Retry { after: Some(after) }) if after <= budget => Some(d.max(after)),
            (Some(_), Disposition::Retry { after: Some(_) }) | (None, _) => None,
            (next, _) => next,
        })
        .await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Instant;

    use super::*;

    #[derive(Debug, PartialEq)]
    struct Fails(Disposition);

    impl Classify for Fails {
        fn disposition(&self) -> Disposition {
            self.0
        }
    }

    /// Counts calls of an op failing with `d` until the call numbered `ok_at`.
    async fn run(d: Disposition, ok_at: u32, budget: Duration) -> (Result<u32, Fails>, u32) {
        let calls = AtomicU32::new(0);
        let r = with_backoff(budget, || async {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            if n < ok_at { Err(Fails(d)) } else { Ok(n) }
        })
        .await;
        (r, calls.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn retries_transient_then_succeeds() {
        assert_eq!(run(Disposition::RETRY, 2, Duration::from_secs(5)).await, (Ok(2), 3));
    }

    #[tokio::test]
    async fn never_retries_permanent_or_ambiguous() {
        for d in [Disposition::Permanent, Disposition::Ambiguous] {
            assert_eq!(run(d, 5, Duration::from_secs(5)).await, (Err(Fails(d)), 1), "{d:?}");
        }
    }

    #[tokio::test]
    async fn waits_at_least_retry_after() {
        let after = Duration::from_millis(700);
        let start = Instant::now();
        let r = run(Disposition::Retry { after: Some(after) }, 1, Duration::from_secs(5)).await;
        assert_eq!(r, (Ok(1), 2));
        assert!(start.elapsed() >= after, "{:?}", start.elapsed());
    }

    #[tokio::test]
    async fn retry_after_past_the_budget_is_not_waited_for() {
        let start = Instant::now();
        let d = Disposition::Retry { after: Some(Duration::from_secs(30)) };
        assert_eq!(run(d, 1, Duration::from_secs(2)).await, (Err(Fails(d)), 1));
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn gives_up_within_the_budget() {
        let start = Instant::now();
        let (r, _) = run(Disposition::RETRY, u32::MAX, Duration::from_millis(600)).await;
        assert!(r.is_err());
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
