//! Slot reservations: a slot item per booked time and a lead item per booking, written
//! together. A lead item is on the tenant's `TLEAD#` partition of `gsi1` (newest first)
//! while its booking is live; cancelling deletes the slot and marks the lead cancelled,
//! in one transaction.

use async_trait::async_trait;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{Delete, TransactWriteItem, Update};

use comms_core::domain::TenantRef;
use comms_core::ports::{Booking, Bookings, Reservation, StoreError, upcoming_dates};
use comms_core::tools::schedule::format_time;

use super::{Attrs, DynamoStore, Item, Key, invalid, json, s, sortable};

/// Only if no item has this key yet.
const ABSENT: Option<&str> = Some("attribute_not_exists(pk)");

fn slot_pk(tenant: &TenantRef, date: jiff::civil::Date) -> String {
    format!("SLOTS#{}#{}#{date}", tenant.company_id, tenant.project_id)
}

fn slot_key(booking: &Booking) -> Key {
    Key::new(slot_pk(&booking.tenant, booking.date), format_time(booking.time))
}

/// A slot item: `SLOTS#{company}#{project}#{date}` / `{HH:MM}`, the booking and the
/// phone number holding it.
struct SlotItem(Booking);

impl TryFrom<&Item> for SlotItem {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        Attrs(item).json("booking").map(SlotItem)
    }
}

impl From<&SlotItem> for Item {
    fn from(SlotItem(booking): &SlotItem) -> Item {
        slot_key(booking).with([("booking", s(json(booking))), ("phone", s(booking.phone.as_str()))])
    }
}

/// The tenant's partition of live leads on `gsi1`.
fn leads_gsi1pk(tenant: &TenantRef) -> String {
    format!("TLEAD#{}#{}", tenant.company_id, tenant.project_id)
}

fn lead_key(lead_id: &str) -> Key {
    Key::new(format!("LEAD#{lead_id}"), "LEAD")
}

/// A lead item: `LEAD#{lead_id}` / `LEAD`, the booking, listed on `gsi1` by creation.
struct LeadItem<'a>(&'a Booking);

impl From<LeadItem<'_>> for Item {
    fn from(LeadItem(booking): LeadItem<'_>) -> Item {
        let listed = format!("{}#{}", sortable(booking.created_at), booking.lead_id);
        lead_key(&booking.lead_id).with([
            ("booking", s(json(booking))),
            ("gsi1pk", s(leads_gsi1pk(&booking.tenant))),
            ("gsi1sk", s(listed)),
        ])
    }
}

#[async_trait]
impl Bookings for DynamoStore {
    async fn reserve(&self, booking: &Booking) -> Result<Reservation, StoreError> {
        // The slot and its lead in one transaction: both or neither.
        let written = self
            .client
            .transact_write_items()
            .transact_items(self.put_tx((&SlotItem(booking.clone())).into(), ABSENT)?)
            .transact_items(self.put_tx(LeadItem(booking).into(), ABSENT)?)
            .send()
            .await;
        match written {
            Ok(_) => return Ok(Reservation::Created(booking.clone())),
            Err(e) if e.code() == Some("TransactionCanceledException") => {}
            Err(e) => return Err(self.err(e)),
        }
        let Some(SlotItem(existing)) = self.get_as(&slot_key(booking)).await? else {
            // Cancelled for another reason (a conflicting transaction): retry later.
            return Err(StoreError::Backend {
                message: "reservation conflicted; retry".into(),
                transient: true,
            });
        };
        Ok(if existing.phone == booking.phone {
            Reservation::AlreadyYours(existing)
        } else {
            Reservation::Taken
        })
    }

    async fn on_date(&self, tenant: &TenantRef, date: jiff::civil::Date) -> Result<Vec<Booking>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(slot_pk(tenant, date)))
            .consistent_read(true);
        let items = self.query_pages(query, None).await?;
        items.iter().map(|i| SlotItem::try_from(i).map(|SlotItem(b)| b)).collect()
    }

    async fn upcoming(
        &self,
        tenant: &TenantRef,
        from: jiff::civil::Date,
        days: u32,
    ) -> Result<Vec<Booking>, StoreError> {
        // A query per date (a slot partition each), in date order.
        let mut out = Vec::new();
        for date in upcoming_dates(from, days) {
            out.extend(self.on_date(tenant, date).await?);
        }
        Ok(out)
    }

    async fn cancel(&self, tenant: &TenantRef, lead_id: &str) -> Result<Option<Booking>, StoreError> {
        let Some(item) = self.get(&lead_key(lead_id)).await? else { return Ok(None) };
        let booking: Booking = Attrs(&item).json("booking")?;
        if booking.tenant != *tenant || item.contains_key("cancelled_at") {
            return Ok(None);
        }
        let written = self
            .client
            .transact_write_items()
            .transact_items(self.cancel_slot_tx(&booking)?)
            .transact_items(self.cancel_lead_tx(&booking)?)
            .send()
            .await;
        match written {
            Ok(_) => Ok(Some(booking)),
            // Cancelled meanwhile (a second cancel racing this one).
            Err(e) if e.code() == Some("TransactionCanceledException") => Ok(None),
            Err(e) => Err(self.err(e)),
        }
    }

    async fn leads(&self, tenant: &TenantRef, limit: usize) -> Result<Vec<Booking>, StoreError> {
        let items = self.query_pages(self.gsi1_desc(leads_gsi1pk(tenant)), Some(limit)).await?;
        items.iter().map(|i| Attrs(i).json("booking")).collect()
    }
}

impl DynamoStore {
    /// Deletes the booking's slot, on condition that it still holds this booking.
    fn cancel_slot_tx(&self, booking: &Booking) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(slot_key(booking).to_item()))
            .condition_expression("booking = :b")
            .expression_attribute_values(":b", s(json(booking)))
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// Marks the lead cancelled and takes it off the live leads, once.
    fn cancel_lead_tx(&self, booking: &Booking) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(lead_key(&booking.lead_id).to_item()))
            .update_expression("SET cancelled_at = :now REMOVE gsi1pk, gsi1sk")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(cancelled_at)")
            .expression_attribute_values(":now", s(sortable(jiff::Timestamp::now())))
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}
