use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::domain::{PhoneNumber, TenantRef};

/// A booked slot and the lead it created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booking {
    pub tenant: TenantRef,
    pub date: jiff::civil::Date,
    pub time: jiff::civil::Time,
    /// `LEAD-YYYYMMDD-HHMMSS-<suffix>`.
    pub lead_id: String,
    pub customer_name: String,
    pub phone: PhoneNumber,
    pub service: String,
    pub conversation_id: Option<String>,
    pub created_at: jiff::Timestamp,
}

/// What a reservation attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// The slot is now this booking's.
    Created(Booking),
    /// The same customer already holds this slot (a retried booking): that booking.
    AlreadyYours(Booking),
    /// Someone else holds it.
    Taken,
}

/// Slot reservations (conditional, so one slot is never booked twice) and leads.
#[async_trait]
pub trait Bookings: Send + Sync {
    /// Reserves `booking`'s slot atomically.
    async fn reserve(&self, booking: &Booking) -> Result<Reservation, StoreError>;

    /// The tenant's bookings on a date, by time.
    async fn on_date(&self, tenant: &TenantRef, date: jiff::civil::Date) -> Result<Vec<Booking>, StoreError>;
}

/// An entry of the business ledger: discounts granted or refused, upsells offered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub tenant: TenantRef,
    pub conversation_id: Option<String>,
    /// `discount` or `upsell`.
    pub kind: String,
    pub data: serde_json::Value,
    pub at: jiff::Timestamp,
}

/// Append-only business events.
#[async_trait]
pub trait Ledger: Send + Sync {
    /// Records an entry.
    async fn record(&self, entry: &LedgerEntry) -> Result<(), StoreError>;

    /// The tenant's entries, newest first.
    async fn entries(&self, tenant: &TenantRef, limit: usize) -> Result<Vec<LedgerEntry>, StoreError>;
}
