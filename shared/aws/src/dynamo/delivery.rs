//! Delivery statuses of sent messages, which only move forward.

use async_trait::async_trait;

use comms_core::domain::TenantRef;
use comms_core::ports::{DeliveryStatusStore, StoreError};
use comms_core::twilio::status_rank;

use super::{Attrs, DynamoStore, Item, Key, conditional_failed, n, s, sortable};

/// The delivery status item of a message `tenant` sent (provider ids come from callers,
/// so the tenant is part of the key).
fn status_key(tenant: &TenantRef, provider_id: &str) -> Key {
    Key::new(format!("MSG#{}#{}#{provider_id}", tenant.company_id, tenant.project_id), "STATUS")
}

/// A status item: `MSG#{company}#{project}#{provider_id}` / `STATUS`.
struct StatusItem {
    status: String,
    error_code: Option<String>,
}

impl TryFrom<&Item> for StatusItem {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        let a = Attrs(item);
        Ok(Self {
            status: a.s("msg_status")?.to_owned(),
            error_code: a.opt_s("error_code").map(str::to_owned),
        })
    }
}

/// A status written at `at` under `key`, with its rank (the order statuses move in).
struct NewStatus {
    key: Key,
    item: StatusItem,
    rank: i64,
    at: jiff::Timestamp,
}

impl From<NewStatus> for Item {
    fn from(st: NewStatus) -> Item {
        let mut item = st.key.with([
            ("msg_status", s(st.item.status)),
            ("status_rank", n(st.rank)),
            ("updated_at", s(sortable(st.at))),
        ]);
        if let Some(code) = st.item.error_code {
            item.insert("error_code".to_owned(), s(code));
        }
        item
    }
}

#[async_trait]
impl DeliveryStatusStore for DynamoStore {
    async fn record_status(
        &self,
        tenant: &TenantRef,
        provider_id: &str,
        status: &str,
        error_code: Option<&str>,
        at: jiff::Timestamp,
    ) -> Result<bool, StoreError> {
        let rank = i64::from(status_rank(status));
        let item = StatusItem { status: status.to_owned(), error_code: error_code.map(str::to_owned) };
        let new = NewStatus { key: status_key(tenant, provider_id), item, rank, at };
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(new.into()))
            .condition_expression("attribute_not_exists(pk) OR status_rank <= :rank")
            .expression_attribute_values(":rank", n(rank));
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) if conditional_failed(&e) => Ok(false),
            Err(e) => Err(self.err(e)),
        }
    }

    async fn status(
        &self,
        tenant: &TenantRef,
        provider_id: &str,
    ) -> Result<Option<(String, Option<String>)>, StoreError> {
        let item: Option<StatusItem> = self.get_as(&status_key(tenant, provider_id)).await?;
        Ok(item.map(|i| (i.status, i.error_code)))
    }
}
