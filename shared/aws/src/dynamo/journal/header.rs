//! The journal's header item: reading it, and the expressions that write it.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::transact_write_items::builders::TransactWriteItemsFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;

use comms_core::domain::ConversationId;
use comms_core::ports::{
    ConversationItem, ConversationKey, JournalTurn, StoreError, TurnClaim, TurnStep, TurnWrite, UsageTotals,
    evict_finished, extend_window,
};

use super::super::conversations::{LogItem, MarkerItem, conv_pk, tenant_gsi1pk};
use super::super::usage::usage_update;
use super::super::{Attrs, DynamoStore, Item, Key, invalid, json, n, s, sortable};

/// How long durable turn records are kept (longer than any redelivery).
const TURN_TTL_SECS: i64 = 14 * 24 * 3600;

/// Items per step transaction: a put and a marker each, with the header, the turn's
/// durable record and the usage totals, within DynamoDB's 100 actions.
pub(super) const ITEMS_PER_TX: usize = 48;

/// What every claim sets: the header's identity (a new header is listable), its
/// counters, and the claim (`fl_step` is set by the caller).
pub(super) const CLAIM_SET: &str = "SET company_id = :c, project_id = :p, channel = :ch, customer = :cu, \
     gsi1pk = :g, conv_status = if_not_exists(conv_status, :open), \
     last_activity = if_not_exists(last_activity, :la), gsi1sk = if_not_exists(gsi1sk, :la), \
     item_count = if_not_exists(item_count, :zero), done_mark = if_not_exists(done_mark, :now), \
     done = if_not_exists(done, :empty), claims = if_not_exists(claims, :zero) + :one, \
     fl_token = if_not_exists(claims, :zero) + :one, fl_key = :k, fl_lease = :until, fl_recv = :r";

pub(in super::super) fn conv_key(id: &ConversationId) -> Key {
    Key::new(conv_pk(id), "META")
}

pub(super) fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

pub(super) fn lease_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
}

pub(super) fn received_ms(turn: &JournalTurn) -> i64 {
    turn.received_at.as_millisecond()
}

/// The values [`CLAIM_SET`] and the claim conditions name.
pub(super) fn identity(
    u: UpdateItemFluentBuilder,
    k: &ConversationKey,
    at: jiff::Timestamp,
) -> UpdateItemFluentBuilder {
    u.expression_attribute_values(":c", s(&k.tenant.company_id))
        .expression_attribute_values(":p", s(&k.tenant.project_id))
        .expression_attribute_values(":ch", s(k.channel.as_str()))
        .expression_attribute_values(":cu", s(k.customer.as_str()))
        .expression_attribute_values(":g", s(tenant_gsi1pk(&k.tenant)))
        .expression_attribute_values(":open", s("open"))
        .expression_attribute_values(":la", s(sortable(at)))
        .expression_attribute_values(":empty", AttributeValue::M(HashMap::new()))
        .expression_attribute_values(":r", n(at.as_millisecond()))
}

/// The journal's part of a header (an absent header reads as empty).
pub(super) struct Header {
    pub(super) fl_key: Option<String>,
    pub(super) fl_token: Option<i64>,
    pub(super) fl_lease: i64,
    pub(super) fl_recv: i64,
    pub(super) step: Option<TurnStep>,
    pub(super) claims: Option<i64>,
    /// `None`: a header from before the journal.
    pub(super) window: Option<Vec<ConversationItem>>,
    pub(super) done: BTreeMap<String, i64>,
    pub(super) done_mark: Option<i64>,
    pub(super) opted_out: Option<bool>,
    /// The owner's takeover (`takeover_until`, epoch ms), if any.
    pub(super) takeover_until: Option<jiff::Timestamp>,
}

fn opt_n(item: &Item, k: &str) -> Option<i64> {
    item.get(k).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

impl Header {
    pub(super) fn read(item: &Item) -> Result<Self, StoreError> {
        let a = Attrs(item);
        let done = match item.get("done").and_then(|v| v.as_m().ok()) {
            Some(m) => {
                m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_n().ok()?.parse().ok()?))).collect()
            }
            None => BTreeMap::new(),
        };
        Ok(Self {
            fl_key: a.opt_s("fl_key").map(str::to_owned),
            fl_token: opt_n(item, "fl_token"),
            fl_lease: opt_n(item, "fl_lease").unwrap_or(0),
            fl_recv: opt_n(item, "fl_recv").unwrap_or(0),
            step: a.opt_json("fl_step")?,
            claims: opt_n(item, "claims"),
            window: a.opt_json("window")?,
            done,
            done_mark: opt_n(item, "done_mark"),
            opted_out: a.opt_bool("opted_out"),
            takeover_until: opt_n(item, "takeover_until")
                .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok()),
        })
    }

    /// The token of the claim on the header.
    pub(super) fn token(&self) -> Result<u32, StoreError> {
        self.fl_token
            .and_then(|t| u32::try_from(t).ok())
            .ok_or_else(|| invalid("header without a claim token"))
    }
}

/// A turn's durable record (`TURN#{key}` / `TURN`, as `TurnStore` writes it).
pub(super) fn durable_record(key: &str, step: &TurnStep, token: u32) -> Item {
    Key::new(format!("TURN#{key}"), "TURN").with([
        ("step", s(json(step))),
        ("attempts", n(i64::from(token))),
        ("lease_until_ms", n(0)),
        ("expires_at", n(jiff::Timestamp::now().as_second() + TURN_TTL_SECS)),
    ])
}

/// The header update that parks the expired claim `token` (see `DynamoStore::park`).
pub(super) fn park_update(
    table: &str,
    id: &ConversationId,
    token: u32,
    mark: i64,
) -> Result<TransactWriteItem, StoreError> {
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(conv_key(id).to_item()))
        .update_expression("SET done_mark = :mark REMOVE fl_key, fl_token, fl_lease, fl_step, fl_recv")
        .condition_expression("fl_token = :tok")
        .expression_attribute_values(":mark", n(mark))
        .expression_attribute_values(":tok", n(i64::from(token)))
        .build()
        .map_err(|e| invalid(e.to_string()))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// The cancellation reasons of a cancelled transaction; `None` for any other error.
pub(super) fn cancelled(
    e: &SdkError<TransactWriteItemsError, HttpResponse>,
) -> Option<Vec<CancellationReason>> {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
            Some(c.cancellation_reasons().to_vec())
        }
        _ => None,
    }
}

/// The header after a step: the window, the finished set and the watermark.
pub(super) struct Next {
    window: Vec<ConversationItem>,
    finished: BTreeMap<String, i64>,
    /// Finished turns to remove from the header, and the watermark then.
    evicted: Vec<String>,
    mark: Option<i64>,
    /// Whether this turn itself stays in the finished set (not evicted at once).
    listed: bool,
    last: Option<String>,
}

impl Next {
    pub(super) fn of(
        turn: &JournalTurn,
        claim: &TurnClaim,
        items: &[ConversationItem],
        step: &TurnStep,
    ) -> Self {
        let window = extend_window(&claim.window, items, turn.history);
        let newest = claim.window.iter().map(|i| i.at).max();
        let last = items.iter().map(|i| i.at).max().filter(|at| newest.is_none_or(|n| *at > n)).map(sortable);
        let mut finished = claim.finished.clone();
        let (mut evicted, mut mark, mut listed) = (Vec::new(), None, false);
        if matches!(step, TurnStep::Done { .. }) {
            if let Some(at) = evict_finished(&mut finished, &turn.key, turn.received_at.as_millisecond()) {
                mark = Some(at.max(claim.watermark));
            }
            evicted = claim.finished.keys().filter(|k| !finished.contains_key(*k)).cloned().collect();
            listed = finished.contains_key(&turn.key);
        }
        Self { window, finished, evicted, mark, listed, last }
    }

    pub(super) fn apply(self, claim: &mut TurnClaim, step: &TurnStep) {
        claim.window = self.window;
        claim.finished = self.finished;
        if let Some(mark) = self.mark {
            claim.watermark = mark;
        }
        claim.step = step.clone();
    }
}

/// The step's transaction: the items, the durable record if done, the usage totals the
/// items add (all of them, those stored apart too), and the header (last, so its
/// cancellation reason is the last one).
pub(super) fn record_tx(
    store: &DynamoStore,
    turn: &JournalTurn,
    claim: &TurnClaim,
    next: &Next,
    write: TurnWrite<'_>,
    lease: Duration,
) -> Result<TransactWriteItemsFluentBuilder, StoreError> {
    let id = &turn.conversation.id;
    let items = &write.items[write.items.len().saturating_sub(ITEMS_PER_TX)..];
    let mut tx = store.client.transact_write_items();
    for item in items {
        tx = tx
            .transact_items(store.put_tx(MarkerItem { id, item }.into(), None)?)
            .transact_items(store.put_tx(LogItem { id, item }.into(), None)?);
    }
    let done = matches!(write.step, TurnStep::Done { .. });
    if done {
        tx = tx.transact_items(store.put_tx(durable_record(&turn.key, write.step, claim.token), None)?);
    }
    let k = &turn.conversation;
    let totals = UsageTotals::of_items(k.channel, write.items);
    if let Some(add) = usage_update(&store.table, &k.tenant, k.channel, &k.id, &totals)? {
        tx = tx.transact_items(add);
    }
    Ok(tx.transact_items(header_update(store, turn, claim, next, write, lease, items.len())?))
}

fn header_update(
    store: &DynamoStore,
    turn: &JournalTurn,
    claim: &TurnClaim,
    next: &Next,
    write: TurnWrite<'_>,
    lease: Duration,
    added: usize,
) -> Result<TransactWriteItem, StoreError> {
    let mut set = vec!["#w = :w", "opted_out = if_not_exists(opted_out, :known)"];
    let mut remove = Vec::new();
    let mut u = Update::builder()
        .table_name(&store.table)
        .set_key(Some(conv_key(&turn.conversation.id).to_item()))
        .expression_attribute_names("#w", "window")
        .expression_attribute_values(":w", s(json(&next.window)))
        .expression_attribute_values(":known", AttributeValue::Bool(claim.opted_out))
        .expression_attribute_values(":tok", n(i64::from(claim.token)))
        .expression_attribute_values(":added", n(i64::try_from(added).unwrap_or(0)))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
    if let Some(last) = &next.last {
        set.push("last_activity = :la, gsi1sk = :la");
        u = u.expression_attribute_values(":la", s(last));
    }
    if matches!(write.step, TurnStep::Done { .. }) {
        u = finished(u, turn, next, &mut set, &mut remove);
    } else {
        set.push("fl_lease = :until, fl_step = :step");
        u = u
            .expression_attribute_values(":until", n(now_ms() + lease_ms(lease)))
            .expression_attribute_values(":step", s(json(write.step)));
    }
    let mut expr = format!("SET {} ADD item_count :added", set.join(", "));
    if !remove.is_empty() {
        expr.push_str(&format!(" REMOVE {}", remove.join(", ")));
    }
    let mut condition = "fl_token = :tok".to_owned();
    if write.unless_opted_out {
        condition.push_str(" AND (attribute_not_exists(opted_out) OR opted_out = :no)");
        u = u.expression_attribute_values(":no", AttributeValue::Bool(false));
    }
    let update = u
        .update_expression(expr)
        .condition_expression(condition)
        .build()
        .map_err(|e| invalid(e.to_string()))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// The `Done` step's part of the header update: the claim removed, the turn added to the
/// finished set, the evicted ones removed and the watermark raised.
fn finished(
    mut u: UpdateBuilder,
    turn: &JournalTurn,
    next: &Next,
    set: &mut Vec<&'static str>,
    remove: &mut Vec<String>,
) -> UpdateBuilder {
    remove.push("fl_key, fl_token, fl_lease, fl_step, fl_recv".to_owned());
    if next.listed {
        set.push("done.#k = :r");
        u = u
            .expression_attribute_names("#k", &turn.key)
            .expression_attribute_values(":r", n(received_ms(turn)));
    }
    for (i, key) in next.evicted.iter().enumerate() {
        remove.push(format!("done.#e{i}"));
        u = u.expression_attribute_names(format!("#e{i}"), key);
    }
    if let Some(mark) = next.mark {
        set.push("done_mark = :mark");
        u = u.expression_attribute_values(":mark", n(mark));
    }
    u
}
