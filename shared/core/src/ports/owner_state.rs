use async_trait::async_trait;

use super::StoreError;
use crate::domain::{OwnerState, TenantRef};

/// The owner's state per tenant, with every change kept as history.
#[async_trait]
pub trait OwnerStateStore: Send + Sync {
    /// The state as last set (possibly expired: see [`OwnerState::effective`]).
    async fn get(&self, tenant: &TenantRef) -> Result<Option<OwnerState>, StoreError>;

    /// Sets the state and appends it to the history.
    async fn set(&self, tenant: &TenantRef, state: &OwnerState) -> Result<(), StoreError>;

    /// Back to the default, recorded in the history.
    async fn clear(&self, tenant: &TenantRef, at: jiff::Timestamp) -> Result<(), StoreError>;

    /// Past changes, newest first; `None` entries are clears.
    async fn history(
        &self,
        tenant: &TenantRef,
        limit: usize,
    ) -> Result<Vec<(jiff::Timestamp, Option<OwnerState>)>, StoreError>;
}
