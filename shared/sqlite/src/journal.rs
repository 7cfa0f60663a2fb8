//! The turn journal on SQLite: one transaction per step. The conversation's row holds
//! the claim of the turn in flight (key, token, lease), so a conversation's turns run one
//! at a time; the turn's step stays in `turns` (its durable record, as before this
//! port), and the history and the opt-out are read from their own tables inside the
//! claim's transaction: on one file a read costs no round trip, so nothing is copied onto
//! the header (docs/decisions.md, "Turn journal"). The usage totals the step's new items
//! add are written in the same transaction.

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::consent::opted_out;
use super::conversations::{append_items, recent_items};
use super::turns::{lease_ms, left};
use super::usage::add_usage;
use super::{Db, backend, from_json, now_ms, to_json, ts_from_ms, ts_sortable};
use crate::statements::Cached;
use comms_core::ports::{
    Begin, JournalTurn, Recorded, StoreError, TurnClaim, TurnJournal, TurnStep, TurnWrite, UsageTotals,
    extend_window,
};

/// The turn journal on SQLite.
#[derive(Clone)]
pub struct SqliteJournal {
    db: Db,
}

impl SqliteJournal {
    /// The journal stored in `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

/// The claim on a conversation's row: the turn in flight, its token and lease (and the
/// owner's takeover, which the claim hands to the turn).
struct Lock {
    key: Option<String>,
    token: Option<u32>,
    lease_ms: i64,
    takeover_until_ms: Option<i64>,
}

fn lock(c: &Connection, conversation: &str) -> rusqlite::Result<Option<Lock>> {
    c.one(
        "SELECT turn_key, turn_token, turn_lease_ms, takeover_until_ms FROM conversations
         WHERE conversation_id = ?1",
        params![conversation],
        |r| {
            Ok(Lock {
                key: r.get(0)?,
                token: r.get(1)?,
                lease_ms: r.get::<_, Option<i64>>(2)?.unwrap_or(0),
                takeover_until_ms: r.get(3)?,
            })
        },
    )
    .optional()
}

/// Whether `token` holds `turn`'s conversation.
fn holds(c: &Connection, turn: &JournalTurn, token: u32) -> rusqlite::Result<bool> {
    Ok(lock(c, turn.conversation.id.as_str())?
        .is_some_and(|l| l.key.as_deref() == Some(turn.key.as_str()) && l.token == Some(token)))
}

/// The claim, inside the write transaction.
fn begin(c: &Connection, turn: &JournalTurn, lease: i64) -> rusqlite::Result<Begin> {
    let now = now_ms();
    let id = turn.conversation.id.as_str();
    let record: Option<(String, u32)> = c
        .one("SELECT step, attempts FROM turns WHERE key = ?1", params![turn.key], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let step: Option<TurnStep> = record.as_ref().map(|(s, _)| from_json(s)).transpose()?;
    if matches!(step, Some(TurnStep::Done { .. })) {
        return Ok(Begin::Done);
    }
    let held = lock(c, id)?;
    if let Some(l) = held.as_ref().filter(|l| l.key.is_some() && l.lease_ms > now) {
        let same_turn = l.key.as_deref() == Some(turn.key.as_str());
        return Ok(Begin::Busy { lease_left: left(l.lease_ms, now), same_turn });
    }
    let takeover_until = held.and_then(|l| l.takeover_until_ms).map(ts_from_ms);
    let token = record.as_ref().map_or(0, |(_, a)| *a) + 1;
    let until = now + lease;
    c.run(
        "INSERT INTO turns (key, step, attempts, lease_until_ms, updated_at) VALUES (?1, ?2, 1, ?3, ?4)
         ON CONFLICT (key) DO UPDATE SET attempts = attempts + 1, lease_until_ms = excluded.lease_until_ms",
        params![turn.key, to_json(&TurnStep::Started), until, jiff::Timestamp::now().to_string()],
    )?;
    let k = &turn.conversation;
    c.run(
        "INSERT INTO conversations (conversation_id, company_id, project_id, channel, customer, status,
           last_activity, item_count, turn_key, turn_token, turn_lease_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6, 0, ?7, ?8, ?9)
         ON CONFLICT (conversation_id) DO UPDATE SET
           turn_key = excluded.turn_key, turn_token = excluded.turn_token, turn_lease_ms = excluded.turn_lease_ms",
        params![
            id,
            k.tenant.company_id,
            k.tenant.project_id,
            k.channel.as_str(),
            k.customer.as_str(),
            ts_sortable(turn.received_at),
            turn.key,
            token,
            until
        ],
    )?;
    Ok(Begin::Claimed(TurnClaim {
        token,
        step: step.unwrap_or(TurnStep::Started),
        opted_out: opted_out(c, &k.tenant, k.customer.as_str())?,
        window: extend_window(&[], &recent_items(c, id, turn.history)?, turn.history),
        finished: Default::default(),
        watermark: 0,
        takeover_until,
    }))
}

/// A step written, inside the write transaction; `None` if the claim was lost.
fn record(
    c: &Connection,
    turn: &JournalTurn,
    token: u32,
    write: &OwnedWrite,
    lease: i64,
) -> rusqlite::Result<Option<Recorded>> {
    if !holds(c, turn, token)? {
        return Ok(None);
    }
    let k = &turn.conversation;
    if write.unless_opted_out && opted_out(c, &k.tenant, k.customer.as_str())? {
        return Ok(Some(Recorded::OptedOut));
    }
    let fresh = append_items(c, k, &write.items)?;
    add_usage(c, &k.tenant, k.channel, &UsageTotals::of_items(k.channel, fresh))?;
    let until = now_ms() + lease;
    c.run(
        "UPDATE turns SET step = ?2, lease_until_ms = ?3, updated_at = ?4 WHERE key = ?1 AND attempts = ?5",
        params![turn.key, to_json(&write.step), until, jiff::Timestamp::now().to_string(), token],
    )?;
    // `Done` frees the conversation for its next turn.
    let done = matches!(write.step, TurnStep::Done { .. });
    c.run(
        "UPDATE conversations SET
           turn_key = CASE WHEN ?2 THEN NULL ELSE turn_key END,
           turn_token = CASE WHEN ?2 THEN NULL ELSE turn_token END,
           turn_lease_ms = CASE WHEN ?2 THEN NULL ELSE ?3 END
         WHERE conversation_id = ?1",
        params![k.id.as_str(), done, until],
    )?;
    Ok(Some(Recorded::Stored))
}

/// A [`TurnWrite`] that can move to the blocking pool.
struct OwnedWrite {
    items: Vec<comms_core::ports::ConversationItem>,
    step: TurnStep,
    unless_opted_out: bool,
}

/// Sets the lease of `token`'s claim to `until` (renew, release); whether the claim is
/// still `token`'s (a released claim is, and stays released on a renewal).
fn set_lease(
    c: &Connection,
    turn: &JournalTurn,
    token: u32,
    until: i64,
    renewal: bool,
) -> rusqlite::Result<bool> {
    let updated = c.run(
        "UPDATE conversations SET turn_lease_ms = ?4
         WHERE conversation_id = ?1 AND turn_key = ?2 AND turn_token = ?3 AND (turn_lease_ms > 0 OR NOT ?5)",
        params![turn.conversation.id.as_str(), turn.key, token, until, renewal],
    )?;
    if updated == 1 {
        c.run(
            "UPDATE turns SET lease_until_ms = ?2 WHERE key = ?1 AND attempts = ?3",
            params![turn.key, until, token],
        )?;
    }
    holds(c, turn, token)
}

#[async_trait]
impl TurnJournal for SqliteJournal {
    async fn begin(&self, turn: &JournalTurn, lease: Duration) -> Result<Begin, StoreError> {
        let (turn, lease) = (turn.clone(), lease_ms(lease));
        self.db.write(move |c| begin(c, &turn, lease)).await.map_err(backend)
    }

    async fn record(
        &self,
        turn: &JournalTurn,
        claim: &mut TurnClaim,
        write: TurnWrite<'_>,
        lease: Duration,
    ) -> Result<Recorded, StoreError> {
        let owned = OwnedWrite {
            items: write.items.to_vec(),
            step: write.step.clone(),
            unless_opted_out: write.unless_opted_out,
        };
        let (t, token, lease) = (turn.clone(), claim.token, lease_ms(lease));
        let recorded = self.db.write(move |c| record(c, &t, token, &owned, lease)).await.map_err(backend)?;
        let recorded = recorded.ok_or(StoreError::LeaseLost)?;
        if recorded == Recorded::Stored {
            claim.window = extend_window(&claim.window, write.items, turn.history);
            claim.step = write.step.clone();
        }
        Ok(recorded)
    }

    async fn renew(&self, turn: &JournalTurn, token: u32, lease: Duration) -> Result<(), StoreError> {
        let (turn, until) = (turn.clone(), now_ms() + lease_ms(lease));
        let held = self.db.write(move |c| set_lease(c, &turn, token, until, true)).await.map_err(backend)?;
        held.then_some(()).ok_or(StoreError::LeaseLost)
    }

    async fn release(&self, turn: &JournalTurn, token: u32) -> Result<(), StoreError> {
        let turn = turn.clone();
        let held = self.db.write(move |c| set_lease(c, &turn, token, 0, false)).await.map_err(backend)?;
        held.then_some(()).ok_or(StoreError::LeaseLost)
    }
}
