//! The ledger: a tenant's discounts and upsells, newest first.

use async_trait::async_trait;

use comms_core::domain::TenantRef;
use comms_core::ports::{Ledger, LedgerEntry, StoreError};

use super::{Attrs, DynamoStore, Item, Key, json, s, sortable, tenant_pk};

/// A ledger item: `TENANT#{company}#{project}` / `LEDGER#{at}#{uuid}`, the entry.
struct LedgerItem(LedgerEntry);

impl TryFrom<&Item> for LedgerItem {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        Attrs(item).json("entry").map(LedgerItem)
    }
}

impl From<&LedgerItem> for Item {
    fn from(LedgerItem(entry): &LedgerItem) -> Item {
        // Sorted by write time, like the history: entries given one instant keep their order.
        let sk = format!("LEDGER#{}#{}", sortable(jiff::Timestamp::now()), uuid::Uuid::new_v4().simple());
        Key::new(tenant_pk(&entry.tenant), sk).with([("entry", s(json(entry)))])
    }
}

#[async_trait]
impl Ledger for DynamoStore {
    async fn record(&self, entry: &LedgerEntry) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some((&LedgerItem(entry.clone())).into()))
            .send()
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn entries(&self, tenant: &TenantRef, limit: usize) -> Result<Vec<LedgerEntry>, StoreError> {
        let items = self.query_desc(&tenant_pk(tenant), "LEDGER#", limit).await?;
        items.iter().map(|i| LedgerItem::try_from(i).map(|LedgerItem(e)| e)).collect()
    }
}
