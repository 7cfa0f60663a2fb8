//! The budget check's read of a tenant's month, cached: a turn of a tenant with a budget
//! reads the month's running total, and on DynamoDB each read would be a call per turn.
//! Entries live [`USAGE_TTL`]; what that lets slip past a budget is in docs/decisions.md
//! ("Usage and budgets").

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::domain::TenantRef;
use crate::ports::{MonthUsage, StoreError, UsageLedger, UsageRow};

/// How long a month's totals are cached: spending in other processes (and this one's own
/// turns) reaches the budget check within it.
pub const USAGE_TTL: Duration = Duration::from_secs(30);

/// Entries kept at most; past that the cache starts over (a bound, not an LRU).
const MAX_ENTRIES: usize = 10_000;

type Entries = HashMap<(TenantRef, String), (Instant, MonthUsage)>;

/// [`UsageLedger`] with `month` answers cached for `ttl`; `report` reads through, and
/// `mark_budget_notified` goes through and marks the cached entry too.
pub struct CachedUsage {
    inner: Arc<dyn UsageLedger>,
    ttl: Duration,
    entries: Mutex<Entries>,
}

impl CachedUsage {
    pub fn new(inner: Arc<dyn UsageLedger>, ttl: Duration) -> Self {
        Self { inner, ttl, entries: Mutex::new(HashMap::new()) }
    }

    fn entries(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl UsageLedger for CachedUsage {
    async fn month(&self, tenant: &TenantRef, month: &str) -> Result<MonthUsage, StoreError> {
        let key = (tenant.clone(), month.to_owned());
        if let Some((_, usage)) = self.entries().get(&key).filter(|(at, _)| at.elapsed() < self.ttl) {
            return Ok(*usage);
        }
        let usage = self.inner.month(tenant, month).await?;
        let mut entries = self.entries();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (Instant::now(), usage));
        Ok(usage)
    }

    async fn report(&self, tenant: Option<&TenantRef>, since: &str) -> Result<Vec<UsageRow>, StoreError> {
        self.inner.report(tenant, since).await
    }

    async fn mark_budget_notified(&self, tenant: &TenantRef, month: &str) -> Result<bool, StoreError> {
        let marked = self.inner.mark_budget_notified(tenant, month).await?;
        if let Some((_, usage)) = self.entries().get_mut(&(tenant.clone(), month.to_owned())) {
            usage.budget_notified = true;
        }
        Ok(marked)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::domain::Usd;
    use crate::ports::UsageTotals;

    #[derive(Default)]
    struct Counting {
        reads: AtomicU32,
        notified: Mutex<bool>,
    }

    #[async_trait]
    impl UsageLedger for Counting {
        async fn month(&self, _: &TenantRef, _: &str) -> Result<MonthUsage, StoreError> {
            let n = self.reads.fetch_add(1, Ordering::SeqCst) + 1;
            let totals = UsageTotals { cost_usd: Usd::from_micros(u64::from(n)), ..Default::default() };
            Ok(MonthUsage { totals, budget_notified: *self.notified.lock().unwrap() })
        }
        async fn report(&self, _: Option<&TenantRef>, _: &str) -> Result<Vec<UsageRow>, StoreError> {
            Ok(Vec::new())
        }
        async fn mark_budget_notified(&self, _: &TenantRef, _: &str) -> Result<bool, StoreError> {
            Ok(!std::mem::replace(&mut *self.notified.lock().unwrap(), true))
        }
    }

    #[tokio::test]
    async fn a_month_is_read_once_per_ttl_and_the_notification_mark_is_seen_at_once() {
        let inner = Arc::new(Counting::default());
        let cached = CachedUsage::new(inner.clone(), Duration::from_millis(150));
        let t = TenantRef::new("demo", "repair-shop").unwrap();
        let first = cached.month(&t, "2026-12").await.unwrap();
        assert_eq!(cached.month(&t, "2026-12").await.unwrap(), first);
        assert_eq!(inner.reads.load(Ordering::SeqCst), 1);
        assert!(cached.mark_budget_notified(&t, "2026-12").await.unwrap());
        assert!(cached.month(&t, "2026-12").await.unwrap().budget_notified, "own mark seen at once");
        assert!(!cached.mark_budget_notified(&t, "2026-12").await.unwrap());
        cached.month(&t, "2027-01").await.unwrap();
        assert_eq!(inner.reads.load(Ordering::SeqCst), 2, "another month is another entry");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let later = cached.month(&t, "2026-12").await.unwrap();
        assert_eq!(later.totals.cost_usd, Usd::from_micros(3), "read again once expired");
    }
}
