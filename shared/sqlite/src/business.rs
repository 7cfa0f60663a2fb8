//! Owner state, bookings and the ledger on SQLite.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{Db, backend, from_json, to_json};
use crate::statements::Cached;
use comms_core::domain::{OwnerState, TenantRef};
use comms_core::ports::{
    Booking, Bookings, Ledger, LedgerEntry, OwnerStateStore, Reservation, StoreError, upcoming_dates,
};

/// Owner state with history.
#[derive(Clone)]
pub struct SqliteOwnerState {
    db: Db,
}

impl SqliteOwnerState {
    /// Owner states stored in `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[async_trait]
impl OwnerStateStore for SqliteOwnerState {
    async fn get(&self, tenant: &TenantRef) -> Result<Option<OwnerState>, StoreError> {
        let t = tenant.clone();
        self.db
            .read(move |c| {
                c.one(
                    "SELECT state FROM owner_state WHERE company_id = ?1 AND project_id = ?2",
                    params![t.company_id, t.project_id],
                    |r| r.get::<_, String>(0),
                )
                .optional()?
                .map(|s| from_json(&s))
                .transpose()
            })
            .await
            .map_err(backend)
    }

    async fn set(&self, tenant: &TenantRef, state: &OwnerState) -> Result<(), StoreError> {
        let (t, json, at) = (tenant.clone(), to_json(state), state.updated_at.to_string());
        self.db
            .write(move |c| {
                c.run(
                    "INSERT INTO owner_state (company_id, project_id, state) VALUES (?1, ?2, ?3)
                     ON CONFLICT (company_id, project_id) DO UPDATE SET state = excluded.state",
                    params![t.company_id, t.project_id, json],
                )?;
                c.run(
                    "INSERT INTO owner_state_history (company_id, project_id, at, state) VALUES (?1, ?2, ?3, ?4)",
                    params![t.company_id, t.project_id, at, json],
                )?;
                Ok(())
            })
            .await
            .map_err(backend)
    }

    async fn clear(&self, tenant: &TenantRef, at: jiff::Timestamp) -> Result<(), StoreError> {
        let (t, at) = (tenant.clone(), at.to_string());
        self.db
            .write(move |c| {
                c.run(
                    "DELETE FROM owner_state WHERE company_id = ?1 AND project_id = ?2",
                    params![t.company_id, t.project_id],
                )?;
                c.run(
                    "INSERT INTO owner_state_history (company_id, project_id, at, state) VALUES (?1, ?2, ?3, NULL)",
                    params![t.company_id, t.project_id, at],
                )?;
                Ok(())
            })
            .await
            .map_err(backend)
    }

    async fn history(
        &self,
        tenant: &TenantRef,
        limit: usize,
    ) -> Result<Vec<(jiff::Timestamp, Option<OwnerState>)>, StoreError> {
        let t = tenant.clone();
        self.db
            .read(move |c| {
                c.prepare_cached(
                    "SELECT at, state FROM owner_state_history WHERE company_id = ?1 AND project_id = ?2
                     ORDER BY id DESC LIMIT ?3",
                )?
                .query_map(params![t.company_id, t.project_id, limit as i64], |r| {
                    let at: String = r.get(0)?;
                    let state: Option<String> = r.get(1)?;
                    Ok((
                        at.parse().map_err(|e: jiff::Error| {
                            rusqlite::Error::ToSqlConversionFailure(e.to_string().into())
                        })?,
                        state.map(|s| from_json(&s)).transpose()?,
                    ))
                })?
                .collect()
            })
            .await
            .map_err(backend)
    }
}

/// Slot reservations: the primary key (tenant, date, time) is the conditional write.
#[derive(Clone)]
pub struct SqliteBookings {
    db: Db,
}

impl SqliteBookings {
    /// Bookings stored in `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[async_trait]
impl Bookings for SqliteBookings {
    async fn reserve(&self, booking: &Booking) -> Result<Reservation, StoreError> {
        let b = booking.clone();
        self.db
            .write(move |c| {
                let inserted = c.run(
                    "INSERT INTO bookings (company_id, project_id, date, time, lead_id, phone, booking)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (company_id, project_id, date, time) DO NOTHING",
                    params![
                        b.tenant.company_id,
                        b.tenant.project_id,
                        b.date.to_string(),
                        b.time.strftime("%H:%M").to_string(),
                        b.lead_id,
                        b.phone.as_str(),
                        to_json(&b)
                    ],
                )?;
                if inserted == 1 {
                    return Ok(Reservation::Created(b));
                }
                let existing: Booking = from_json(&c.one(
                    "SELECT booking FROM bookings WHERE company_id = ?1 AND project_id = ?2 AND date = ?3 AND time = ?4",
                    params![b.tenant.company_id, b.tenant.project_id, b.date.to_string(), b.time.strftime("%H:%M").to_string()],
                    |r| r.get::<_, String>(0),
                )?)?;
                Ok(if existing.phone == b.phone { Reservation::AlreadyYours(existing) } else { Reservation::Taken })
            })
            .await
            .map_err(backend)
    }

    async fn on_date(&self, tenant: &TenantRef, date: jiff::civil::Date) -> Result<Vec<Booking>, StoreError> {
        let t = tenant.clone();
        self.db
            .read(move |c| {
                c.prepare_cached(
                    "SELECT booking FROM bookings WHERE company_id = ?1 AND project_id = ?2 AND date = ?3 ORDER BY time",
                )?
                .query_map(params![t.company_id, t.project_id, date.to_string()], |r| r.get::<_, String>(0))?
                .map(|s| from_json(&s?))
                .collect()
            })
            .await
            .map_err(backend)
    }

    async fn upcoming(
        &self,
        tenant: &TenantRef,
        from: jiff::civil::Date,
        days: u32,
    ) -> Result<Vec<Booking>, StoreError> {
        let dates = upcoming_dates(from, days);
        let (Some(first), Some(last)) = (dates.first(), dates.last()) else { return Ok(Vec::new()) };
        let (t, first, last) = (tenant.clone(), first.to_string(), last.to_string());
        self.db
            .read(move |c| {
                c.prepare_cached(
                    "SELECT booking FROM bookings WHERE company_id = ?1 AND project_id = ?2
                     AND date >= ?3 AND date <= ?4 ORDER BY date, time",
                )?
                .query_map(params![t.company_id, t.project_id, first, last], |r| r.get::<_, String>(0))?
                .map(|s| from_json(&s?))
                .collect()
            })
            .await
            .map_err(backend)
    }

    async fn cancel(&self, tenant: &TenantRef, lead_id: &str) -> Result<Option<Booking>, StoreError> {
        let (t, lead) = (tenant.clone(), lead_id.to_owned());
        self.db
            .write(move |c| {
                // The slot's row is the reservation: deleting it frees the slot.
                c.one(
                    "DELETE FROM bookings WHERE company_id = ?1 AND project_id = ?2 AND lead_id = ?3
                     RETURNING booking",
                    params![t.company_id, t.project_id, lead],
                    |r| r.get::<_, String>(0),
                )
                .optional()?
                .map(|s| from_json(&s))
                .transpose()
            })
            .await
            .map_err(backend)
    }

    async fn leads(&self, tenant: &TenantRef, limit: usize) -> Result<Vec<Booking>, StoreError> {
        let t = tenant.clone();
        self.db
            .read(move |c| {
                c.prepare_cached(
                    "SELECT booking FROM bookings WHERE company_id = ?1 AND project_id = ?2
                     ORDER BY json_extract(booking, '$.created_at') DESC, lead_id DESC LIMIT ?3",
                )?
                .query_map(params![t.company_id, t.project_id, limit as i64], |r| r.get::<_, String>(0))?
                .map(|s| from_json(&s?))
                .collect()
            })
            .await
            .map_err(backend)
    }
}

/// The business ledger on SQLite.
#[derive(Clone)]
pub struct SqliteLedger {
    db: Db,
}

impl SqliteLedger {
    /// Ledger stored in `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[async_trait]
impl Ledger for SqliteLedger {
    async fn record(&self, entry: &LedgerEntry) -> Result<(), StoreError> {
        let (t, json) = (entry.tenant.clone(), to_json(entry));
        self.db
            .write(move |c| {
                c.run(
                    "INSERT INTO ledger (company_id, project_id, entry) VALUES (?1, ?2, ?3)",
                    params![t.company_id, t.project_id, json],
                )
            })
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn entries(&self, tenant: &TenantRef, limit: usize) -> Result<Vec<LedgerEntry>, StoreError> {
        let t = tenant.clone();
        self.db
            .read(move |c| {
                c.prepare_cached(
                    "SELECT entry FROM ledger WHERE company_id = ?1 AND project_id = ?2 ORDER BY id DESC LIMIT ?3",
                )?
                .query_map(params![t.company_id, t.project_id, limit as i64], |r| r.get::<_, String>(0))?
                .map(|s| from_json(&s?))
                .collect()
            })
            .await
            .map_err(backend)
    }
}
