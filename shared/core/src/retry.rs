//! Retries of transient failures: exponential backoff with jitter, `Retry-After` honoured,
//! all within a time budget (then the caller fails the record and the queue retries it).
//! Uses `backon` (the `backoff` crate is unmaintained: RUSTSEC-2025-0012).

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

/// Runs `op` until it succeeds, fails permanently, or the budget of waiting is spent.
/// `transient` returns `Some(retry_after)` for errors worth retrying.
pub async fn with_backoff<T, E, F, Fut>(
    budget: Duration,
    op: F,
    transient: impl Fn(&E) -> Option<Option<Duration>>,
) -> Result<T, E>
where
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
        .when(|e| transient(e).is_some())
        .adjust(|e, next| match (next, transient(e).flatten()) {
            // Never retry sooner than the server asked, nor past the budget.
            (Some(d), Some(after)) if after <= budget => Some(d.max(after)),
            (Some(_), Some(_)) | (None, _) => None,
            (next, None) => next,
        })
        .await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn retries_transient_then_succeeds_and_stops_on_permanent() {
        let calls = AtomicU32::new(0);
        let r: Result<u32, &str> = with_backoff(
            Duration::from_secs(5),
            || async {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                if n < 2 { Err("busy") } else { Ok(n) }
            },
            |e| (*e == "busy").then_some(None),
        )
        .await;
        assert_eq!(r, Ok(2));

        let calls = AtomicU32::new(0);
        let r: Result<u32, &str> = with_backoff(
            Duration::from_secs(5),
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err("fatal")
            },
            |e| (*e == "busy").then_some(None),
        )
        .await;
        assert_eq!((r, calls.load(Ordering::SeqCst)), (Err("fatal"), 1));
    }

    #[tokio::test]
    async fn gives_up_within_the_budget() {
        let start = std::time::Instant::now();
        let r: Result<(), &str> =
            with_backoff(Duration::from_millis(600), || async { Err("busy") }, |_| Some(None)).await;
        assert!(r.is_err());
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
