//! The one tenant cache: a tenant directory that remembers tenants for a while, in front
//! of any other. The router looks a tenant up by number on every webhook, and the engine
//! reads its tenant's configuration on every turn; on DynamoDB each would be a read per
//! message.
//!
//! Only hits are cached: an unknown number or id is asked again (so a newly onboarded
//! tenant works at once). `get` reads through unless asked otherwise
//! ([`CachedTenants::caching_get`]): the router's API-key checks use it, and a revoked
//! key must stop working at once; the engine, which only reads its configuration, caches
//! it too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::domain::tenant::TenantConfig;
use crate::domain::{Channel, EmailAddress, OwnerState, PhoneNumber, TenantRef};
use crate::ports::{OwnerStateStore, StoreError, TenantDirectory};

/// How long tenants are cached when nothing else is said: a tenant's change of number or
/// configuration reaches webhooks and turns within it.
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);

/// Entries kept at most; past that the cache starts over (a bound, not an LRU).
const MAX_ENTRIES: usize = 10_000;

/// What an entry was found by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Number(Channel, String),
    Email(String),
    Id(TenantRef),
}

type Entries = HashMap<Key, (Instant, TenantConfig)>;

/// [`TenantDirectory`] with `by_number` hits (and, if asked, `get` hits) cached for `ttl`.
pub struct CachedTenants {
    inner: Arc<dyn TenantDirectory>,
    ttl: Duration,
    cache_get: bool,
    entries: Mutex<Entries>,
}

impl CachedTenants {
    /// Caches `inner`'s number lookups for `ttl`; `get` reads through.
    pub fn new(inner: Arc<dyn TenantDirectory>, ttl: Duration) -> Self {
        Self { inner, ttl, cache_get: false, entries: Mutex::new(HashMap::new()) }
    }

    /// Caches `get` hits as well: for readers of tenant configuration (the engine), never
    /// for API-key checks.
    pub fn caching_get(mut self) -> Self {
        self.cache_get = true;
        self
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cached(&self, key: &Key) -> Option<TenantConfig> {
        self.entries().get(key).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, cfg)| cfg.clone())
    }

    fn remember(&self, key: Key, found: &Option<TenantConfig>) {
        if let Some(cfg) = found {
            let mut entries = self.entries();
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(key, (Instant::now(), cfg.clone()));
        }
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
        if !self.cache_get {
            return self.inner.get(tenant).await;
        }
        let key = Key::Id(tenant.clone());
        if let Some(cfg) = self.cached(&key) {
            return Ok(Some(cfg));
        }
        let found = self.inner.get(tenant).await?;
        self.remember(key, &found);
        Ok(found)
    }

    async fn by_number(
        &self,
        channel: Channel,
        number: &PhoneNumber,
    ) -> Result<Option<TenantConfig>, StoreError> {
        let key = Key::Number(channel, number.as_str().to_owned());
        if let Some(cfg) = self.cached(&key) {
            return Ok(Some(cfg));
        }
        let found = self.inner.by_number(channel, number).await?;
        self.remember(key, &found);
        Ok(found)
    }

    async fn by_email(&self, address: &EmailAddress) -> Result<Option<TenantConfig>, StoreError> {
        let key = Key::Email(address.as_str().to_owned());
        if let Some(cfg) = self.cached(&key) {
            return Ok(Some(cfg));
        }
        let found = self.inner.by_email(address).await?;
        self.remember(key, &found);
        Ok(found)
    }
}

/// How long the engine caches an owner's state: an owner's change (GYM, OFF, ...) made
/// through another process reaches turns within it; one made through this process's own
/// cached store is seen at once.
pub const OWNER_STATE_TTL: Duration = Duration::from_secs(5);

type OwnerEntries = HashMap<TenantRef, (Instant, Option<OwnerState>)>;

/// [`OwnerStateStore`] with `get` answers (a missing state too: the default is the
/// common case) cached for `ttl`; `set` and `clear` go through and drop the entry.
pub struct CachedOwnerState {
    inner: Arc<dyn OwnerStateStore>,
    ttl: Duration,
    entries: Mutex<OwnerEntries>,
}

impl CachedOwnerState {
    pub fn new(inner: Arc<dyn OwnerStateStore>, ttl: Duration) -> Self {
        Self { inner, ttl, entries: Mutex::new(HashMap::new()) }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, OwnerEntries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl OwnerStateStore for CachedOwnerState {
    async fn get(&self, tenant: &TenantRef) -> Result<Option<OwnerState>, StoreError> {
        if let Some((_, state)) = self.entries().get(tenant).filter(|(at, _)| at.elapsed() < self.ttl) {
            return Ok(state.clone());
        }
        let state = self.inner.get(tenant).await?;
        let mut entries = self.entries();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(tenant.clone(), (Instant::now(), state.clone()));
        Ok(state)
    }

    async fn set(&self, tenant: &TenantRef, state: &OwnerState) -> Result<(), StoreError> {
        let result = self.inner.set(tenant, state).await;
        self.entries().remove(tenant);
        result
    }

    async fn clear(&self, tenant: &TenantRef, at: jiff::Timestamp) -> Result<(), StoreError> {
        let result = self.inner.clear(tenant, at).await;
        self.entries().remove(tenant);
        result
    }

    async fn history(
        &self,
        tenant: &TenantRef,
        limit: usize,
    ) -> Result<Vec<(jiff::Timestamp, Option<OwnerState>)>, StoreError> {
        self.inner.history(tenant, limit).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// One tenant, counting the reads that reach it.
    struct Counting {
        config: TenantConfig,
        gets: AtomicU32,
    }

    #[async_trait]
    impl TenantDirectory for Counting {
        async fn put(&self, _: &TenantConfig) -> Result<(), StoreError> {
            Ok(())
        }
        async fn get(&self, tenant: &TenantRef) -> Result<Option<TenantConfig>, StoreError> {
            self.gets.fetch_add(1, Ordering::SeqCst);
            Ok((*tenant == self.config.tenant).then(|| self.config.clone()))
        }
        async fn by_number(&self, _: Channel, _: &PhoneNumber) -> Result<Option<TenantConfig>, StoreError> {
            Ok(None)
        }
        async fn by_email(&self, _: &EmailAddress) -> Result<Option<TenantConfig>, StoreError> {
            Ok(None)
        }
    }

    fn directory() -> Arc<Counting> {
        let config =
            TenantConfig::from_json(include_str!("../../../samples/tenants/demo-repair-shop.json")).unwrap();
        Arc::new(Counting { config, gets: AtomicU32::new(0) })
    }

    async fn get_twice(cached: &CachedTenants, tenant: &TenantRef) {
        for _ in 0..2 {
            assert!(cached.get(tenant).await.unwrap().is_some());
        }
    }

    #[tokio::test]
    async fn get_reads_through_unless_asked_to_cache() {
        let inner = directory();
        let tenant = inner.config.tenant.clone();
        get_twice(&CachedTenants::new(inner.clone(), DEFAULT_TTL), &tenant).await;
        assert_eq!(inner.gets.load(Ordering::SeqCst), 2, "API-key checks must see a revoked key at once");

        let inner = directory();
        get_twice(&CachedTenants::new(inner.clone(), DEFAULT_TTL).caching_get(), &tenant).await;
        assert_eq!(inner.gets.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn cached_get_expires_and_never_caches_misses() {
        let inner = directory();
        let cached = CachedTenants::new(inner.clone(), Duration::from_millis(200)).caching_get();
        let tenant = inner.config.tenant.clone();
        get_twice(&cached, &tenant).await;
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(cached.get(&tenant).await.unwrap().is_some());
        assert_eq!(inner.gets.load(Ordering::SeqCst), 2);
        let unknown = TenantRef::new("nobody", "none").unwrap();
        for _ in 0..2 {
            assert!(cached.get(&unknown).await.unwrap().is_none());
        }
        assert_eq!(inner.gets.load(Ordering::SeqCst), 4);
    }

    /// An owner state store holding one state, counting the reads that reach it.
    #[derive(Default)]
    struct Owner {
        state: Mutex<Option<OwnerState>>,
        gets: AtomicU32,
    }

    #[async_trait]
    impl OwnerStateStore for Owner {
        async fn get(&self, _: &TenantRef) -> Result<Option<OwnerState>, StoreError> {
            self.gets.fetch_add(1, Ordering::SeqCst);
            Ok(self.state.lock().unwrap().clone())
        }
        async fn set(&self, _: &TenantRef, state: &OwnerState) -> Result<(), StoreError> {
            *self.state.lock().unwrap() = Some(state.clone());
            Ok(())
        }
        async fn clear(&self, _: &TenantRef, _: jiff::Timestamp) -> Result<(), StoreError> {
            *self.state.lock().unwrap() = None;
            Ok(())
        }
        async fn history(
            &self,
            _: &TenantRef,
            _: usize,
        ) -> Result<Vec<(jiff::Timestamp, Option<OwnerState>)>, StoreError> {
            Ok(Vec::new())
        }
    }

    #[tokio::test]
    async fn owner_state_is_cached_and_own_writes_are_seen_at_once() {
        let inner = Arc::new(Owner::default());
        let cached = CachedOwnerState::new(inner.clone(), OWNER_STATE_TTL);
        let tenant = TenantRef::new("demo", "repair-shop").unwrap();
        assert_eq!(cached.get(&tenant).await.unwrap(), None);
        assert_eq!(cached.get(&tenant).await.unwrap(), None, "a missing state is cached too");
        assert_eq!(inner.gets.load(Ordering::SeqCst), 1);

        let gym = gym_like();
        cached.set(&tenant, &gym).await.unwrap();
        assert_eq!(cached.get(&tenant).await.unwrap(), Some(gym));
        cached.clear(&tenant, jiff::Timestamp::now()).await.unwrap();
        assert_eq!(cached.get(&tenant).await.unwrap(), None);
        assert_eq!(inner.gets.load(Ordering::SeqCst), 3);

        // A change made elsewhere is seen once the entry expires.
        let short = CachedOwnerState::new(inner.clone(), Duration::from_millis(100));
        assert_eq!(short.get(&tenant).await.unwrap(), None);
        inner.set(&tenant, &OwnerState { mode: crate::domain::OwnerMode::Off, ..gym_like() }).await.unwrap();
        assert_eq!(short.get(&tenant).await.unwrap(), None, "cached");
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(short.get(&tenant).await.unwrap().map(|s| s.mode), Some(crate::domain::OwnerMode::Off));
    }

    fn gym_like() -> OwnerState {
        OwnerState {
            mode: crate::domain::OwnerMode::Gym,
            location: None,
            notes: None,
            until: None,
            updated_at: jiff::Timestamp::now(),
        }
    }
}
