use async_trait::async_trait;

use super::StoreError;
use crate::domain::tenant::TenantConfig;
use crate::domain::{Channel, EmailAddress, PhoneNumber, TenantRef};

/// Where tenant configurations live, found by id or by the number a customer wrote to.
#[async_trait]
pub trait TenantDirectory: Send + Sync {
    /// Creates or replaces a tenant. A number already routed to another tenant is a
    /// [`StoreError::Conflict`] and nothing is written.
    async fn put(&self, config: &TenantConfig) -> Result<(), StoreError>;

    /// The tenant with these ids, if any.
    async fn get(&self, tenant: &TenantRef) -> Result<Option<TenantConfig>, StoreError>;

    /// The tenant that owns `number` on `channel`, if any.
    async fn by_number(
        &self,
        channel: Channel,
        number: &PhoneNumber,
    ) -> Result<Option<TenantConfig>, StoreError>;

    /// The tenant that owns the email `address` (one of its `email.addresses`), if any.
    async fn by_email(&self, address: &EmailAddress) -> Result<Option<TenantConfig>, StoreError>;
}
