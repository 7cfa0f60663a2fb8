//! A tenant directory that remembers which tenant owns a number for a while, in front
//! of any other: the router looks a tenant up by number on every webhook, and on
//! DynamoDB that would be a read per message.
//!
//! Only `by_number` is cached, and only hits: an unknown number is asked again (so a
//! newly onboarded number works at once), and `get`, which the API-key checks use,
//! always reads through (so a revoked key stops working at once).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::domain::tenant::TenantConfig;
use crate::domain::{Channel, PhoneNumber, TenantRef};
use crate::ports::{StoreError, TenantDirectory};

/// Entries kept at most; past that the cache starts over (a bound, not an LRU).
const MAX_ENTRIES: usize = 10_000;

type Entries = HashMap<(Channel, String), (Instant, TenantConfig)>;

/// [`TenantDirectory`] with `by_number` hits cached for `ttl`.
pub struct CachedTenants {
    inner: Arc<dyn TenantDirectory>,
    ttl: Duration,
    entries: Mutex<Entries>,
}

impl CachedTenants {
    /// Caches `inner`'s number lookups for `ttl` (a tenant's change of number or
    /// configuration reaches webhooks within it).
    pub fn new(inner: Arc<dyn TenantDirectory>, ttl: Duration) -> Self {
        Self { inner, ttl, entries: Mutex::new(HashMap::new()) }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl TenantDirectory for CachedTenants {
    async fn put(&self, config: &TenantConfig) -> Result<(), StoreError> {
        let result = self.inner.put(config).await;
        // This process's own writes are seen at once.
        self.entries().clear();
        result
    }

    async fn get(&self, tenant: &TenantRef) -> Result<Option<TenantConfig>, StoreError> {
        self.inner.get(tenant).await
    }

    async fn by_number(
        &self,
        channel: Channel,
        number: &PhoneNumber,
    ) -> Result<Option<TenantConfig>, StoreError> {
        let key = (channel, number.as_str().to_owned());
        if let Some((at, cfg)) = self.entries().get(&key)
            && at.elapsed() < self.ttl
        {
            return Ok(Some(cfg.clone()));
        }
        let found = self.inner.by_number(channel, number).await?;
        if let Some(cfg) = &found {
            let mut entries = self.entries();
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(key, (Instant::now(), cfg.clone()));
        }
        Ok(found)
    }
}
