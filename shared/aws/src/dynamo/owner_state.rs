//! The owner's state per tenant, with its history (a reset is a history entry without a
//! state).

use async_trait::async_trait;

use comms_core::domain::{OwnerState, TenantRef};
use comms_core::ports::{OwnerStateStore, StoreError};

use super::{Attrs, DynamoStore, Item, Key, invalid, json, s, sortable, tenant_pk};

fn state_key(tenant: &TenantRef) -> Key {
    Key::new(tenant_pk(tenant), "STATE")
}

/// A history sort key at `ts`, then a random suffix: entries of one instant never
/// collide.
fn history_sk(written: jiff::Timestamp) -> String {
    format!("STATEHIST#{}#{}", sortable(written), uuid::Uuid::new_v4().simple())
}

/// The current state item: `TENANT#{company}#{project}` / `STATE`.
struct StateItem(OwnerState);

impl TryFrom<&Item> for StateItem {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        Attrs(item).json("state").map(StateItem)
    }
}

/// A history item: `TENANT#{company}#{project}` / `STATEHIST#{at}#{uuid}`, the state it
/// changed to (absent for a reset, which records `at` instead).
struct HistoryItem {
    key: Key,
    state: Option<OwnerState>,
    /// A reset's time, as the caller gave it.
    reset_at: Option<jiff::Timestamp>,
}

impl HistoryItem {
    /// When the entry was written, from its sort key.
    fn at(&self) -> Result<jiff::Timestamp, StoreError> {
        self.key.sk.split('#').nth(1).and_then(|t| t.parse().ok()).ok_or_else(|| invalid("bad history key"))
    }
}

impl TryFrom<&Item> for HistoryItem {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        let a = Attrs(item);
        let reset_at = a.opt_s("at").and_then(|t| t.parse().ok());
        Ok(Self { key: Key::of(item)?, state: a.opt_json("state")?, reset_at })
    }
}

impl From<&HistoryItem> for Item {
    fn from(h: &HistoryItem) -> Item {
        let mut item = h.key.to_item();
        if let Some(state) = &h.state {
            item.insert("state".to_owned(), s(json(state)));
        }
        if let Some(at) = h.reset_at {
            item.insert("at".to_owned(), s(sortable(at)));
        }
        item
    }
}

#[async_trait]
impl OwnerStateStore for DynamoStore {
    async fn get(&self, tenant: &TenantRef) -> Result<Option<OwnerState>, StoreError> {
        let item: Option<StateItem> = self.get_as(&state_key(tenant)).await?;
        Ok(item.map(|StateItem(state)| state))
    }

    async fn set(&self, tenant: &TenantRef, state: &OwnerState) -> Result<(), StoreError> {
        let current = state_key(tenant).with([("state", s(json(state)))]);
        // The history of a set sorts by the state's own time.
        let key = Key::new(tenant_pk(tenant), history_sk(state.updated_at));
        let history = HistoryItem { key, state: Some(state.clone()), reset_at: None };
        self.client
            .transact_write_items()
            .transact_items(self.put_tx(current, None)?)
            .transact_items(self.put_tx((&history).into(), None)?)
            .send()
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn clear(&self, tenant: &TenantRef, at: jiff::Timestamp) -> Result<(), StoreError> {
        // A reset sorts by when it was written, not by the time the caller gave (which
        // two changes may share).
        let key = Key::new(tenant_pk(tenant), history_sk(jiff::Timestamp::now()));
        let history = HistoryItem { key, state: None, reset_at: Some(at) };
        self.client
            .transact_write_items()
            .transact_items(self.delete_tx(&state_key(tenant))?)
            .transact_items(self.put_tx((&history).into(), None)?)
            .send()
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn history(
        &self,
        tenant: &TenantRef,
        limit: usize,
    ) -> Result<Vec<(jiff::Timestamp, Option<OwnerState>)>, StoreError> {
        let items = self.query_desc(&tenant_pk(tenant), "STATEHIST#", limit).await?;
        items
            .iter()
            .map(|i| {
                let h = HistoryItem::try_from(i)?;
                Ok((h.at()?, h.state))
            })
            .collect()
    }
}
