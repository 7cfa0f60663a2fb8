//! Turn records: the claim, its lease, and the step a turn has reached.

use std::time::Duration;

use async_trait::async_trait;

use comms_core::ports::{Claim, StoreError, TurnRecord, TurnStep, TurnStore};

use super::{Attrs, DynamoStore, Item, Key, conditional_failed, invalid, json, n, s};

/// How long turn records are kept (longer than any redelivery).
const TURN_TTL_SECS: i64 = 14 * 24 * 3600;

fn turn_key(key: &str) -> Key {
    Key::new(format!("TURN#{key}"), "TURN")
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn lease_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
}

/// A turn record item: `TURN#{key}` / `TURN`.
struct TurnItem {
    step: TurnStep,
    attempts: u32,
    lease_until_ms: i64,
}

impl TryFrom<&Item> for TurnItem {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        let a = Attrs(item);
        Ok(Self {
            step: a.json("step")?,
            attempts: u32::try_from(a.n("attempts")?).unwrap_or(u32::MAX),
            lease_until_ms: a.n("lease_until_ms")?,
        })
    }
}

/// A new turn record (with its expiry) under `key`.
struct NewTurn<'a> {
    key: &'a str,
    item: TurnItem,
    expires_at: i64,
}

impl From<NewTurn<'_>> for Item {
    fn from(t: NewTurn<'_>) -> Item {
        turn_key(t.key).with([
            ("step", s(json(&t.item.step))),
            ("attempts", n(i64::from(t.item.attempts))),
            ("lease_until_ms", n(t.item.lease_until_ms)),
            ("expires_at", n(t.expires_at)),
        ])
    }
}

impl DynamoStore {
    /// Takes over an expired lease, conditionally on it still being that lease.
    async fn take_over(&self, key: &str, turn: TurnItem, lease: Duration) -> Result<Claim, StoreError> {
        let taken = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(turn_key(key).to_item()))
            .update_expression("SET attempts = attempts + :one, lease_until_ms = :lease")
            .condition_expression("lease_until_ms = :old")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":lease", n(now_ms() + lease_ms(lease)))
            .expression_attribute_values(":old", n(turn.lease_until_ms))
            .send()
            .await;
        let record = TurnRecord { key: key.to_owned(), step: turn.step, attempts: turn.attempts + 1 };
        match taken {
            Ok(_) => Ok(Claim::Acquired(record)),
            // Another attempt took it over just now: its lease is a whole one.
            Err(e) if conditional_failed(&e) => Ok(Claim::Busy { lease_left: lease }),
            Err(e) => Err(self.err(e)),
        }
    }
}

#[async_trait]
impl TurnStore for DynamoStore {
    async fn claim(&self, key: &str, lease: Duration) -> Result<Claim, StoreError> {
        let now = now_ms();
        let fresh = TurnItem { step: TurnStep::Started, attempts: 1, lease_until_ms: now + lease_ms(lease) };
        let expires_at = jiff::Timestamp::now().as_second() + TURN_TTL_SECS;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(NewTurn { key, item: fresh, expires_at }.into()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => {
                let record = TurnRecord { key: key.to_owned(), step: TurnStep::Started, attempts: 1 };
                return Ok(Claim::Acquired(record));
            }
            Err(e) if conditional_failed(&e) => {}
            Err(e) => return Err(self.err(e)),
        }
        let turn: TurnItem =
            self.get_as(&turn_key(key)).await?.ok_or_else(|| invalid("turn record vanished"))?;
        if matches!(turn.step, TurnStep::Done { .. }) {
            let TurnItem { step, attempts, .. } = turn;
            return Ok(Claim::Done(TurnRecord { key: key.to_owned(), step, attempts }));
        }
        if turn.lease_until_ms > now {
            let lease_left = Duration::from_millis(turn.lease_until_ms.saturating_sub(now).unsigned_abs());
            return Ok(Claim::Busy { lease_left });
        }
        self.take_over(key, turn, lease).await
    }

    async fn advance(
        &self,
        key: &str,
        token: u32,
        step: &TurnStep,
        lease: Duration,
    ) -> Result<(), StoreError> {
        let advanced = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(turn_key(key).to_item()))
            .update_expression("SET step = :step, lease_until_ms = :lease")
            .condition_expression("attempts = :token")
            .expression_attribute_values(":step", s(json(step)))
            .expression_attribute_values(":lease", n(now_ms() + lease_ms(lease)))
            .expression_attribute_values(":token", n(i64::from(token)))
            .send()
            .await;
        match advanced {
            Ok(_) => Ok(()),
            Err(e) if conditional_failed(&e) => Err(StoreError::LeaseLost),
            Err(e) => Err(self.err(e)),
        }
    }

    async fn renew(&self, key: &str, token: u32, lease: Duration) -> Result<(), StoreError> {
        let renewed = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(turn_key(key).to_item()))
            .update_expression("SET lease_until_ms = :lease")
            // A released lease (0) stays released; an unknown key is not created.
            .condition_expression("attempts = :token AND lease_until_ms > :zero")
            .expression_attribute_values(":lease", n(now_ms() + lease_ms(lease)))
            .expression_attribute_values(":token", n(i64::from(token)))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        match renewed {
            Ok(_) => Ok(()),
            Err(e) if conditional_failed(&e) => self.held_by(key, token).await,
            Err(e) => Err(self.err(e)),
        }
    }

    async fn release(&self, key: &str, token: u32) -> Result<(), StoreError> {
        let released = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(turn_key(key).to_item()))
            .update_expression("SET lease_until_ms = :zero")
            .condition_expression("attempts = :token")
            .expression_attribute_values(":token", n(i64::from(token)))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        match released {
            Ok(_) => Ok(()),
            Err(e) if conditional_failed(&e) => self.held_by(key, token).await,
            Err(e) => Err(self.err(e)),
        }
    }
}

impl DynamoStore {
    /// After a refused conditional write: [`StoreError::LeaseLost`] if another claim
    /// holds `key`; fine if the key is unknown or still `token`'s (released).
    async fn held_by(&self, key: &str, token: u32) -> Result<(), StoreError> {
        match self.get_as::<TurnItem>(&turn_key(key)).await? {
            Some(turn) if turn.attempts != token => Err(StoreError::LeaseLost),
            _ => Ok(()),
        }
    }
}
