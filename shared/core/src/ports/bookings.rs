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

    /// The tenant's bookings on `days` dates from `from` (inclusive), by date and time.
    /// `days` is capped at [`UPCOMING_MAX_DAYS`].
    async fn upcoming(
        &self,
        tenant: &TenantRef,
        from: jiff::civil::Date,
        days: u32,
    ) -> Result<Vec<Booking>, StoreError>;

    /// Cancels the tenant's booking `lead_id`: its slot is free to book again. The
    /// cancelled booking; `None` if the tenant has no such live booking (cancelling twice
    /// finds none the second time).
    async fn cancel(&self, tenant: &TenantRef, lead_id: &str) -> Result<Option<Booking>, StoreError>;

    /// The tenant's live (not cancelled) bookings, newest first, past and future.
    async fn leads(&self, tenant: &TenantRef, limit: usize) -> Result<Vec<Booking>, StoreError>;
}

/// Most days one [`Bookings::upcoming`] call covers.
pub const UPCOMING_MAX_DAYS: u32 = 92;

/// The dates `from`, `from + 1`, … (`days` of them, at most [`UPCOMING_MAX_DAYS`]).
pub fn upcoming_dates(from: jiff::civil::Date, days: u32) -> Vec<jiff::civil::Date> {
    let mut out = Vec::new();
    let mut date = from;
    for _ in 0..days.min(UPCOMING_MAX_DAYS) {
        out.push(date);
        match date.tomorrow() {
            Ok(next) => date = next,
            Err(_) => break,
        }
    }
    out
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
