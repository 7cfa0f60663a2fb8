use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{Db, backend, from_json, now_ms, to_json};
use crate::statements::Cached;
use comms_core::ports::{Claim, StoreError, TurnRecord, TurnStep, TurnStore};

/// Turn idempotency records on SQLite.
#[derive(Clone)]
pub struct SqliteTurns {
    db: Db,
}

impl SqliteTurns {
    /// Turn records stored in `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

pub(crate) fn lease_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
}

/// What is left of a lease ending at `until_ms` (epoch milliseconds).
pub(crate) fn left(until_ms: i64, now_ms: i64) -> Duration {
    Duration::from_millis(until_ms.saturating_sub(now_ms).max(0).unsigned_abs())
}

#[async_trait]
impl TurnStore for SqliteTurns {
    async fn claim(&self, key: &str, lease: Duration) -> Result<Claim, StoreError> {
        let key = key.to_owned();
        let lease = lease_ms(lease);
        self.db
            .write(move |tx| {
                let now = now_ms();
                let started = to_json(&TurnStep::Started);
                // The conditional insert is the claim: exactly one caller inserts.
                let inserted = tx.run(
                    "INSERT INTO turns (key, step, attempts, lease_until_ms, updated_at) VALUES (?1, ?2, 1, ?3, ?4)
                     ON CONFLICT (key) DO NOTHING",
                    params![key, started, now + lease, jiff::Timestamp::now().to_string()],
                )?;
                if inserted == 1 {
                    return Ok(Claim::Acquired(TurnRecord { key, step: TurnStep::Started, attempts: 1 }));
                }
                let (step, attempts, lease_until): (String, u32, i64) = tx.one(
                    "SELECT step, attempts, lease_until_ms FROM turns WHERE key = ?1",
                    params![key],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )?;
                let step: TurnStep = from_json(&step)?;
                if matches!(step, TurnStep::Done { .. }) {
                    return Ok(Claim::Done(TurnRecord { key, step, attempts }));
                }
                if lease_until > now {
                    return Ok(Claim::Busy { lease_left: left(lease_until, now) });
                }
                // The earlier holder's lease ran out (it died or gave up): take over,
                // conditionally on the lease still being the expired one.
                let taken = tx.run(
                    "UPDATE turns SET attempts = attempts + 1, lease_until_ms = ?2 WHERE key = ?1 AND lease_until_ms = ?3",
                    params![key, now + lease, lease_until],
                )?;
                Ok(if taken == 1 {
                    Claim::Acquired(TurnRecord { key, step, attempts: attempts + 1 })
                } else {
                    // Unreachable inside the IMMEDIATE transaction; a whole lease is the
                    // safe answer.
                    Claim::Busy { lease_left: Duration::from_millis(lease.unsigned_abs()) }
                })
            })
            .await
            .map_err(backend)
    }

    async fn advance(
        &self,
        key: &str,
        token: u32,
        step: &TurnStep,
        lease: Duration,
    ) -> Result<(), StoreError> {
        let (key, step) = (key.to_owned(), to_json(step));
        let lease = lease_ms(lease);
        let updated = self
            .db
            .write(move |c| {
                c.run(
                    "UPDATE turns SET step = ?2, lease_until_ms = ?3, updated_at = ?4 WHERE key = ?1 AND attempts = ?5",
                    params![key, step, now_ms() + lease, jiff::Timestamp::now().to_string(), token],
                )
            })
            .await
            .map_err(backend)?;
        if updated == 1 { Ok(()) } else { Err(StoreError::LeaseLost) }
    }

    async fn renew(&self, key: &str, token: u32, lease: Duration) -> Result<(), StoreError> {
        let key = key.to_owned();
        let lease = lease_ms(lease);
        self.db
            .write(move |c| {
                // `> 0`: a released lease stays released (a renewal racing the release).
                let renewed = c.run(
                    "UPDATE turns SET lease_until_ms = ?2 WHERE key = ?1 AND attempts = ?3 AND lease_until_ms > 0",
                    params![key, now_ms() + lease, token],
                )?;
                Ok(renewed == 1 || !taken_over(c, &key, token)?)
            })
            .await
            .map_err(backend)?
            .then_some(())
            .ok_or(StoreError::LeaseLost)
    }

    async fn release(&self, key: &str, token: u32) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.db
            .write(move |c| {
                let released = c.run(
                    "UPDATE turns SET lease_until_ms = 0 WHERE key = ?1 AND attempts = ?2",
                    params![key, token],
                )?;
                Ok(released == 1 || !taken_over(c, &key, token)?)
            })
            .await
            .map_err(backend)?
            .then_some(())
            .ok_or(StoreError::LeaseLost)
    }
}

/// Whether `key` is held by a claim other than `token` (an unknown key is not).
fn taken_over(c: &rusqlite::Connection, key: &str, token: u32) -> rusqlite::Result<bool> {
    let attempts: Option<u32> =
        c.one("SELECT attempts FROM turns WHERE key = ?1", params![key], |r| r.get(0)).optional()?;
    Ok(attempts.is_some_and(|a| a != token))
}

impl SqliteTurns {
    /// A turn's current record, for diagnostics and tests.
    pub async fn get(&self, key: &str) -> Result<Option<TurnRecord>, StoreError> {
        let key = key.to_owned();
        self.db
            .read(move |c| {
                c.one("SELECT step, attempts FROM turns WHERE key = ?1", params![key.clone()], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?))
                })
                .optional()?
                .map(|(step, attempts)| Ok(TurnRecord { key, step: from_json(&step)?, attempts }))
                .transpose()
            })
            .await
            .map_err(backend)
    }
}
