//! The turn journal on DynamoDB: the conversation's header (`CONV#{id}` / `META`) holds
//! the turn in flight (`fl_*`: key, token, lease, step), the history window the model
//! sees, the customer's opt-out flag and the recently finished turns, so a turn takes
//! three calls: one conditional `UpdateItem` that claims it and returns all that, one
//! transaction storing its items with `Sending` (on condition the customer has not
//! opted out), one storing the reply with `Done` (docs/data-model.md, "Turn journal").
//!
//! Tokens count the conversation's claims (`claims`), so no two claims in a conversation
//! share one. Finished turns keep their durable record (`TURN#{key}` / `TURN`, the
//! record `TurnStore` wrote before the journal): the header remembers only the last
//! [`FINISHED_MAX`] of them, and `done_mark` is the greatest `received_at` evicted (or the
//! time the journal first claimed on a header from before it): a turn received at or
//! before it that the header does not know is looked up in its durable record (the slow
//! path, one more read).

mod header;

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::builders::TransactWriteItemsFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::{TransactWriteItemsError, TransactWriteItemsOutput};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{CancellationReason, ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;

use comms_core::ports::{
    Begin, ConversationLog, JournalTurn, Recorded, StoreError, TurnClaim, TurnJournal, TurnStep, TurnWrite,
    extend_window,
};

use super::{DynamoStore, Item, Key, conditional_failed, n};
pub(super) use header::conv_key;
use header::{Header, lease_ms, now_ms};

/// Rounds of claim attempts before a racing conversation counts as busy.
const CLAIM_ROUNDS: usize = 8;

/// The fresh-or-resume claim: free conversation, turn unknown to the header and received
/// after its watermark (or no header yet); or this turn's own expired (released) claim.
const CLAIM_CONDITION: &str = "(attribute_not_exists(fl_key) AND attribute_not_exists(done.#k) \
     AND (attribute_not_exists(pk) OR done_mark < :r)) OR (fl_key = :k AND fl_lease < :now)";

/// The claim checked against the turn's durable record: the conversation is still free
/// and nobody claimed in it since the header was read.
const CHECKED_CONDITION: &str = "attribute_not_exists(fl_key) AND attribute_not_exists(done.#k) AND ";

/// What a refused claim found on the header.
enum Refusal {
    Final(Begin),
    /// Another turn's claim expired: park it (its step into its durable record).
    Park(Header),
    /// Look the turn up in its durable record, then claim on condition that `claims`
    /// is still this (`None`: absent).
    Check(Option<i64>),
}

impl DynamoStore {
    /// One claim attempt: `Ok(Ok(claim))`, or what the header held when refused.
    async fn try_claim(
        &self,
        turn: &JournalTurn,
        lease: Duration,
        checked: Option<(Option<i64>, TurnStep)>,
    ) -> Result<Result<TurnClaim, Header>, StoreError> {
        let now = now_ms();
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(conv_key(&turn.conversation.id).to_item()))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .expression_attribute_names("#k", &turn.key)
            .expression_attribute_values(":k", super::s(&turn.key))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":until", n(now + lease_ms(lease)))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":zero", n(0));
        update = header::identity(update, &turn.conversation, turn.received_at);
        update = match &checked {
            None => update
                .update_expression(format!("{}, fl_step = if_not_exists(fl_step, :step)", header::CLAIM_SET))
                .condition_expression(CLAIM_CONDITION)
                .expression_attribute_values(":step", super::s(super::json(&TurnStep::Started))),
            Some((None, step)) => update
                .update_expression(format!("{}, fl_step = :step", header::CLAIM_SET))
                .condition_expression(format!("{CHECKED_CONDITION}attribute_not_exists(claims)"))
                .expression_attribute_values(":step", super::s(super::json(step))),
            Some((Some(seen), step)) => update
                .update_expression(format!("{}, fl_step = :step", header::CLAIM_SET))
                .condition_expression(format!("{CHECKED_CONDITION}claims = :seen"))
                .expression_attribute_values(":seen", n(*seen))
                .expression_attribute_values(":step", super::s(super::json(step))),
        };
        match update.send().await {
            Ok(out) => {
                let header = Header::read(out.attributes().unwrap_or(&Item::new()))?;
                Ok(Ok(self.claimed(turn, header).await?))
            }
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(c)) => {
                    let old = match c.item() {
                        Some(item) => Header::read(item)?,
                        None => self.header(turn).await?,
                    };
                    Ok(Err(old))
                }
                _ => Err(self.err(e)),
            },
        }
    }

    /// The claim the header holds for us, with the opt-out read from the consent store
    /// if the header does not know it (one read, on a header from before the journal).
    async fn claimed(&self, turn: &JournalTurn, header: Header) -> Result<TurnClaim, StoreError> {
        let k = &turn.conversation;
        let opted_out = match header.opted_out {
            Some(flag) => flag,
            None => comms_core::ports::ConsentStore::is_opted_out(self, &k.tenant, &k.customer).await?,
        };
        let token = header.token()?;
        // A header from before the journal: its window from the items (one query).
        let window = match header.window {
            Some(window) => window,
            None => {
                let recent = ConversationLog::recent(self, &k.id, turn.history).await?;
                extend_window(&[], &recent, turn.history)
            }
        };
        Ok(TurnClaim {
            token,
            step: header.step.unwrap_or(TurnStep::Started),
            opted_out,
            window,
            finished: header.done,
            watermark: header.done_mark.unwrap_or(0),
            takeover_until: header.takeover_until,
        })
    }

    async fn header(&self, turn: &JournalTurn) -> Result<Header, StoreError> {
        let item = self.get(&conv_key(&turn.conversation.id)).await?;
        Header::read(item.as_ref().unwrap_or(&Item::new()))
    }

    /// What a refused claim means.
    fn refusal(turn: &JournalTurn, old: Header) -> Refusal {
        let now = now_ms();
        if old.done.contains_key(&turn.key) {
            return Refusal::Final(Begin::Done);
        }
        if let Some(key) = &old.fl_key {
            if old.fl_lease >= now {
                let lease_left = Duration::from_millis(old.fl_lease.saturating_sub(now).unsigned_abs());
                return Refusal::Final(Begin::Busy { lease_left, same_turn: *key == turn.key });
            }
            if *key != turn.key {
                return Refusal::Park(old);
            }
        }
        Refusal::Check(old.claims)
    }

    /// Moves an expired claim of another turn off the header: its step into its durable
    /// record, its `received_at` into the watermark (so its redelivery looks there), on
    /// condition that the claim is still the expired one.
    async fn park(&self, turn: &JournalTurn, old: &Header) -> Result<(), StoreError> {
        let (Some(key), Some(step)) = (&old.fl_key, &old.step) else { return Ok(()) };
        let record = header::durable_record(key, step, old.token()?);
        let mark = old.done_mark.unwrap_or_else(now_ms).max(old.fl_recv);
        let update = header::park_update(&self.table, &turn.conversation.id, old.token()?, mark)?;
        let parked = self
            .client
            .transact_write_items()
            .transact_items(self.put_tx(record, None)?)
            .transact_items(update)
            .send()
            .await;
        match parked {
            // Parked, or changed meanwhile: either way, claim again.
            Ok(_) => Ok(()),
            Err(e) if header::cancelled(&e).is_some() => Ok(()),
            Err(e) => Err(self.err(e)),
        }
    }

    /// The turn's durable record: its step (`None`: never parked nor finished).
    async fn durable_step(&self, key: &str) -> Result<Option<TurnStep>, StoreError> {
        let item = self.get(&Key::new(format!("TURN#{key}"), "TURN")).await?;
        item.as_ref().map(|i| super::Attrs(i).json("step")).transpose()
    }
}

#[async_trait]
impl TurnJournal for DynamoStore {
    async fn begin(&self, turn: &JournalTurn, lease: Duration) -> Result<Begin, StoreError> {
        let mut checked = None;
        for _ in 0..CLAIM_ROUNDS {
            let old = match self.try_claim(turn, lease, checked.take()).await? {
                Ok(claim) => return Ok(Begin::Claimed(claim)),
                Err(old) => old,
            };
            match Self::refusal(turn, old) {
                Refusal::Final(begin) => return Ok(begin),
                Refusal::Park(old) => self.park(turn, &old).await?,
                Refusal::Check(seen) => match self.durable_step(&turn.key).await? {
                    Some(TurnStep::Done { .. }) => return Ok(Begin::Done),
                    step => checked = Some((seen, step.unwrap_or(TurnStep::Started))),
                },
            }
        }
        // Claims kept racing: as busy as a just-claimed lease.
        Ok(Begin::Busy { lease_left: lease, same_turn: false })
    }

    async fn record(
        &self,
        turn: &JournalTurn,
        claim: &mut TurnClaim,
        write: TurnWrite<'_>,
        lease: Duration,
    ) -> Result<Recorded, StoreError> {
        if write.unless_opted_out && claim.opted_out {
            return Ok(Recorded::OptedOut);
        }
        // A turn with more items than one transaction holds stores the first ones on
        // their own (idempotent per item id); the rest go with the step.
        let split = write.items.len().saturating_sub(header::ITEMS_PER_TX);
        if split > 0 {
            ConversationLog::append(self, &turn.conversation, &write.items[..split]).await?;
        }
        let next = header::Next::of(turn, claim, write.items, write.step);
        let tx = header::record_tx(self, turn, claim, &next, write, lease)?;
        match send_step(tx).await {
            Ok(_) => {
                next.apply(claim, write.step);
                Ok(Recorded::Stored)
            }
            Err(e) => {
                let reasons = header::cancelled(&e).ok_or_else(|| self.err(e))?;
                let old = match reasons.last().and_then(|r| r.item()) {
                    Some(item) => Header::read(item)?,
                    None => self.header(turn).await?,
                };
                if old.fl_token != Some(i64::from(claim.token)) {
                    Err(StoreError::LeaseLost)
                } else if write.unless_opted_out && old.opted_out == Some(true) {
                    Ok(Recorded::OptedOut)
                } else {
                    Err(StoreError::Backend {
                        message: "turn write cancelled (conflict)".into(),
                        transient: true,
                    })
                }
            }
        }
    }

    async fn renew(&self, turn: &JournalTurn, token: u32, lease: Duration) -> Result<(), StoreError> {
        let until = now_ms() + lease_ms(lease);
        // A released lease (0) stays released.
        self.set_lease(turn, token, until, true).await
    }

    async fn release(&self, turn: &JournalTurn, token: u32) -> Result<(), StoreError> {
        self.set_lease(turn, token, 0, false).await
    }
}

/// Tries of a step transaction cancelled only for a `TransactionConflict`.
const CONFLICT_TRIES: u32 = 4;

/// Sends a step's transaction; again, after a short pause, while DynamoDB cancels it only
/// for a `TransactionConflict` (another transaction was writing one of its items at the
/// same moment: most likely the tenant's usage counter). A cancelled transaction wrote
/// nothing, so sending it again is safe.
async fn send_step(
    tx: TransactWriteItemsFluentBuilder,
) -> Result<TransactWriteItemsOutput, SdkError<TransactWriteItemsError, HttpResponse>> {
    let mut pause = Duration::from_millis(10);
    for _ in 1..CONFLICT_TRIES {
        match tx.clone().send().await {
            Err(e) if header::cancelled(&e).is_some_and(|r| only_conflicts(&r)) => {
                tokio::time::sleep(pause).await;
                pause *= 3;
            }
            sent => return sent,
        }
    }
    tx.send().await
}

fn only_conflicts(reasons: &[CancellationReason]) -> bool {
    let conflict = |r: &CancellationReason| r.code() == Some("TransactionConflict");
    reasons.iter().any(conflict)
        && reasons.iter().all(|r| conflict(r) || matches!(r.code(), None | Some("None")))
}

impl DynamoStore {
    /// Sets the lease of `token`'s claim; refused only if another claim holds it.
    async fn set_lease(
        &self,
        turn: &JournalTurn,
        token: u32,
        until: i64,
        renewal: bool,
    ) -> Result<(), StoreError> {
        let mut set = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(conv_key(&turn.conversation.id).to_item()))
            .update_expression("SET fl_lease = :until")
            .condition_expression("fl_token = :tok")
            .expression_attribute_values(":until", n(until))
            .expression_attribute_values(":tok", n(i64::from(token)))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if renewal {
            set = set
                .condition_expression("fl_token = :tok AND fl_lease > :zero")
                .expression_attribute_values(":zero", n(0));
        }
        match set.send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(conditional_failed) => {
                let old = match e.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(c)) if c.item().is_some() => {
                        Header::read(c.item().unwrap_or(&Item::new()))?
                    }
                    _ => self.header(turn).await?,
                };
                if old.fl_token == Some(i64::from(token)) { Ok(()) } else { Err(StoreError::LeaseLost) }
            }
            Err(e) => Err(self.err(e)),
        }
    }
}
