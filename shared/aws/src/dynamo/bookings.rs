//! Slot reservations: a slot item per booked time and a lead item per booking, written
//! together.

use async_trait::async_trait;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;

use comms_core::domain::TenantRef;
use comms_core::ports::{Booking, Bookings, Reservation, StoreError};
use comms_core::tools::schedule::format_time;

use super::{Attrs, DynamoStore, Item, Key, json, s};

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

/// A lead item: `LEAD#{lead_id}` / `LEAD`, the booking.
struct LeadItem<'a>(&'a Booking);

impl From<LeadItem<'_>> for Item {
    fn from(LeadItem(booking): LeadItem<'_>) -> Item {
        Key::new(format!("LEAD#{}", booking.lead_id), "LEAD").with([("booking", s(json(booking)))])
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
}
