//! The stores bundle: every storage port of one backend, built once by that backend's
//! composition root (`comms_sqlite::stores`, `comms_aws::stores`). The router's state,
//! the engine's ports and the CLI's ports are all derived from it, so no binary wires
//! ports by hand.

use std::sync::Arc;
use std::time::Duration;

use super::{
    Bookings, ConsentStore, ConversationLog, DeadLetters, DeliveryStatusStore, Ledger, OwnerStateStore,
    Queues, RequestLog, SecretWriter, TenantDirectory, TurnJournal, TurnStore, UsageLedger,
};
use crate::cached::{CachedOwnerState, CachedTenants, OWNER_STATE_TTL};
use crate::cached_usage::{CachedUsage, USAGE_TTL};

/// Every storage port (and the queues) of one backend.
#[derive(Clone)]
pub struct Stores {
    pub tenants: Arc<dyn TenantDirectory>,
    pub secrets: Arc<dyn SecretWriter>,
    pub queues: Arc<dyn Queues>,
    /// The same queues' dead-letter administration (operator commands).
    pub dead_letters: Arc<dyn DeadLetters>,
    pub consent: Arc<dyn ConsentStore>,
    pub conversations: Arc<dyn ConversationLog>,
    pub deliveries: Arc<dyn DeliveryStatusStore>,
    pub turns: Arc<dyn TurnStore>,
    /// The turn engine's claims, steps and items, kept on the conversation's header.
    pub journal: Arc<dyn TurnJournal>,
    pub owner_state: Arc<dyn OwnerStateStore>,
    pub bookings: Arc<dyn Bookings>,
    pub ledger: Arc<dyn Ledger>,
    pub requests: Arc<dyn RequestLog>,
    /// The running usage totals the journal keeps, per tenant, month and channel.
    pub usage: Arc<dyn UsageLedger>,
}

impl Stores {
    /// The same stores with tenant lookups by number served from memory for `ttl` (the
    /// one tenant cache; a networked directory wants it, an embedded one does not need
    /// it). Lookups by id read through, so a revoked API key stops working at once.
    pub fn with_tenant_cache(mut self, ttl: Duration) -> Self {
        self.tenants = Arc::new(CachedTenants::new(self.tenants, ttl));
        self
    }

    /// As [`Stores::with_tenant_cache`], with lookups by id cached too: for the engine,
    /// which reads its tenant's configuration on every turn and checks no keys. The
    /// owner's state, read on every turn too, is cached for [`OWNER_STATE_TTL`] (short:
    /// an owner going OFF is seen within seconds). The budget check's read of a month's
    /// usage is cached for [`USAGE_TTL`].
    pub fn with_engine_tenant_cache(mut self, ttl: Duration) -> Self {
        self.tenants = Arc::new(CachedTenants::new(self.tenants, ttl).caching_get());
        self.owner_state = Arc::new(CachedOwnerState::new(self.owner_state, OWNER_STATE_TTL));
        self.usage = Arc::new(CachedUsage::new(self.usage, USAGE_TTL));
        self
    }
}
