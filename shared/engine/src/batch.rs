//! A batch of queue records, processed concurrently with a bound, each kept invisible by
//! a heartbeat while it runs. Returns every record's result, so the caller can delete
//! the successes and report only the failures (SQS partial batch response).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use comms_core::domain::{Channel, Envelope};
use comms_core::ports::{QueueError, Queues, ReceivedMessage};
use comms_core::redact::redact_digit_runs;
use comms_core::retry::{Classify, Disposition};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::turn::{Delivery, Engine, Outcome, TurnError};

/// One record of a batch, shaped like an SQS record.
#[derive(Debug, Clone)]
pub struct Record {
    pub message_id: String,
    pub receipt: String,
    pub body: String,
    pub attributes: std::collections::BTreeMap<String, String>,
    pub receive_count: u32,
    pub sent_at: jiff::Timestamp,
}

impl From<ReceivedMessage> for Record {
    fn from(m: ReceivedMessage) -> Self {
        Self {
            message_id: m.message_id,
            receipt: m.receipt,
            body: m.body,
            attributes: m.attributes,
            receive_count: m.receive_count,
            sent_at: m.sent_at,
        }
    }
}

impl From<&Record> for ReceivedMessage {
    fn from(r: &Record) -> Self {
        Self {
            message_id: r.message_id.clone(),
            receipt: r.receipt.clone(),
            body: r.body.clone(),
            attributes: r.attributes.clone(),
            receive_count: r.receive_count,
            sent_at: r.sent_at,
        }
    }
}

/// Extends a record's visibility while it is processed.
#[derive(Clone)]
pub struct Heartbeat {
    pub queues: Arc<dyn Queues>,
    pub channel: Channel,
    /// The visibility timeout; the heartbeat renews it every half of it, so a record is
    /// extended well before it could reappear.
    pub visibility: Duration,
}

/// Stops the heartbeat when dropped: the record ended, success or failure.
pub struct HeartbeatGuard(tokio::task::JoinHandle<()>);

impl Drop for HeartbeatGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Heartbeat {
    /// Starts renewing `receipt`'s visibility.
    pub fn start(&self, receipt: String) -> HeartbeatGuard {
        let hb = self.clone();
        HeartbeatGuard(tokio::spawn(async move {
            let period = hb.visibility / 2;
            loop {
                tokio::time::sleep(period).await;
                if let Err(e) = hb.queues.change_visibility(hb.channel, &receipt, hb.visibility).await {
                    // The record may still finish; if it lost its lease, idempotency
                    // makes the redelivery harmless.
                    tracing::warn!(error = %e, "heartbeat could not extend visibility");
                }
            }
        }))
    }
}

/// Processes `records` with at most `concurrency` at a time; results in input order.
/// Records of one conversation run one after the other, in the order their messages
/// were received (then queue order), so a customer's second message is answered after
/// the first and sees it; different conversations run concurrently.
pub async fn process_batch<H, Fut>(
    records: Vec<Record>,
    concurrency: usize,
    heartbeat: Option<&Heartbeat>,
    handler: H,
) -> Vec<(Record, Result<Outcome, TurnError>)>
where
    H: Fn(Record) -> Fut,
    Fut: Future<Output = Result<Outcome, TurnError>> + Send + 'static,
{
    let limit = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for group in conversations(&records) {
        // Futures do nothing until awaited: each runs after the one before it.
        let works: Vec<_> = group
            .into_iter()
            .map(|i| (i, heartbeat.map(|h| h.start(records[i].receipt.clone())), handler(records[i].clone())))
            .collect();
        let limit = Arc::clone(&limit);
        tasks.spawn(async move {
            // Invariant: the semaphore is never closed.
            let _permit = limit.acquire_owned().await.expect("semaphore open");
            let mut done = Vec::with_capacity(works.len());
            for (i, guard, work) in works {
                done.push((i, work.await));
                drop(guard);
            }
            done
        });
    }
    let mut results: Vec<Option<Result<Outcome, TurnError>>> = records.iter().map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(done) => done.into_iter().for_each(|(i, r)| results[i] = Some(r)),
            Err(e) => tracing::error!(error = %e, "record task panicked"),
        }
    }
    records
        .into_iter()
        .zip(results)
        .map(|(rec, r)| (rec, r.unwrap_or_else(|| Err(TurnError::retry("processing task panicked")))))
        .collect()
}

/// The indices of `records` grouped by conversation, each group in the order its
/// messages were received (then queue order); a body that does not parse is a group of
/// its own (the engine reports why).
pub(crate) fn conversations(records: &[Record]) -> Vec<Vec<usize>> {
    // (conversation, [(received at, index)]), in order of first appearance.
    type Group = (Option<String>, Vec<(jiff::Timestamp, usize)>);
    let mut groups: Vec<Group> = Vec::new();
    for (i, rec) in records.iter().enumerate() {
        let Ok(env) = Envelope::parse(&rec.body) else {
            groups.push((None, vec![(jiff::Timestamp::UNIX_EPOCH, i)]));
            continue;
        };
        let id = Some(env.conversation_id.to_string());
        match groups.iter_mut().find(|(c, _)| c.is_some() && *c == id) {
            Some((_, members)) => members.push((env.received_at, i)),
            None => groups.push((id, vec![(env.received_at, i)])),
        }
    }
    groups
        .into_iter()
        .map(|(_, mut members)| {
            members.sort();
            members.into_iter().map(|(_, i)| i).collect()
        })
        .collect()
}

/// The message ids to report as `batchItemFailures`.
pub fn failed_ids(results: &[(Record, Result<Outcome, TurnError>)]) -> Vec<String> {
    results.iter().filter(|(_, r)| r.is_err()).map(|(rec, _)| rec.message_id.clone()).collect()
}

/// What to do with a record once its result is known.
#[derive(Debug, Clone)]
pub struct SettlePolicy {
    pub channel: Channel,
    /// Delete successful records here (the local poller). On Lambda the event source
    /// mapping deletes every record not reported as failed, so this is false there.
    pub delete_successes: bool,
    /// First delay before a transiently failed record comes back; doubles per receive,
    /// capped at `visibility`.
    pub retry_delay: Duration,
    /// The visibility a heartbeat keeps renewing (every half of it) while a record runs.
    pub visibility: Duration,
}

/// Settles one record: success → deleted (if the policy says so); a failure retrying
/// cannot help ([`Disposition::Permanent`]) → moved to the dead-letter queue at once with
/// its reason; any other failure → reason recorded (for `comms dlq list`, should it end
/// in the DLQ) and the record hidden for a backoff before SQS hands it out again (an
/// ambiguous send too: the redelivery reconciles before anything is sent again). Returns
/// whether the record must be reported as failed (`batchItemFailures`): only retried
/// failures, and permanent ones that could not be dead-lettered (they come back and are
/// tried again). A turn whose lease another attempt took over is neither: it is left to
/// that attempt, hidden for a whole visibility (docs/decisions.md, "Crash safety").
pub async fn settle(
    queues: &dyn Queues,
    policy: &SettlePolicy,
    rec: &Record,
    result: Result<(), TurnError>,
) -> bool {
    let channel = policy.channel;
    let (outcome, failed) = match result {
        Ok(()) if policy.delete_successes => (queues.delete(channel, &rec.receipt).await, false),
        Ok(()) => (Ok(()), false),
        Err(e) if e.disposition() == Disposition::Permanent => {
            let reason = e.reason();
            let class = reason_class(&reason);
            metrics::counter!(comms_core::metrics::DEAD_LETTERS, "channel" => channel.as_str(), "reason" => class)
                .increment(1);
            tracing::warn!(message_id = %rec.message_id, reason = %redact_digit_runs(&reason), "permanent failure: dead-lettered");
            let moved = queues.dead_letter(channel, &ReceivedMessage::from(rec), &reason).await;
            let failed = moved.is_err();
            (moved, failed)
        }
        // Another attempt took the turn over and finishes it: left on the queue (the
        // receipt may be stale: deleting with it could drop the new holder's message),
        // hidden for a whole visibility, by when the redelivery finds the turn done.
        Err(e) if e.is_lease_lost() => {
            tracing::info!(message_id = %rec.message_id, "turn taken over by another attempt: left to it");
            (queues.change_visibility(channel, &rec.receipt, policy.visibility).await, true)
        }
        Err(e) => (retry_later(queues, policy, rec, &e.reason()).await, true),
    };
    if let Err(e) = outcome {
        tracing::warn!(message_id = %rec.message_id, error = %e, "could not settle record; it will be redelivered");
    }
    failed
}

/// Records why `rec` failed and hides it for a backoff that doubles per receive.
async fn retry_later(
    queues: &dyn Queues,
    policy: &SettlePolicy,
    rec: &Record,
    reason: &str,
) -> Result<(), QueueError> {
    let channel = policy.channel;
    tracing::info!(message_id = %rec.message_id, attempt = rec.receive_count, reason = %redact_digit_runs(reason), "transient failure: will retry");
    if let Err(e) = queues.record_failure(channel, &rec.message_id, reason).await {
        tracing::warn!(message_id = %rec.message_id, error = %e, "could not record the failure reason");
    }
    let backoff = policy
        .retry_delay
        .saturating_mul(2u32.saturating_pow(rec.receive_count.saturating_sub(1).min(16)))
        .min(policy.visibility);
    queues.change_visibility(channel, &rec.receipt, backoff).await
}

/// One received batch through the engine, as both the local poller and the Lambda
/// handler run it: records concurrently (at most `concurrency`), each kept invisible by a
/// heartbeat renewing `policy.visibility`, then settled by `policy`.
/// Returns the ids of the records to report as failed.
pub async fn run_batch(
    engine: &Arc<Engine>,
    queues: &Arc<dyn Queues>,
    records: Vec<Record>,
    concurrency: usize,
    policy: &SettlePolicy,
) -> Vec<String> {
    let heartbeat =
        Heartbeat { queues: Arc::clone(queues), channel: policy.channel, visibility: policy.visibility };
    let results = process_batch(records, concurrency, Some(&heartbeat), |rec| {
        let engine = Arc::clone(engine);
        async move { engine.handle_delivery(&rec.body, &delivery(&rec)).await }
    })
    .await;
    let mut failed = Vec::new();
    for (rec, result) in results {
        if settle(queues.as_ref(), policy, &rec, result.map(|_| ())).await {
            failed.push(rec.message_id);
        }
    }
    failed
}

/// The delivery facts of a record the turn's span and metrics use.
fn delivery(rec: &Record) -> Delivery {
    Delivery { trace_id: rec.attributes.get("trace_id").cloned(), sent_at: Some(rec.sent_at) }
}

/// The class of a failure reason for the dead-letter metric: the step the turn error
/// names first (`send: ...`), a few fixed words, never the free text after it.
pub fn reason_class(reason: &str) -> &'static str {
    let step = reason.split(':').next().unwrap_or("");
    match step {
        "model" => "model",
        "send" => "send",
        "storage" => "storage",
        "call update" => "call",
        "queue body" => "envelope",
        _ => "turn",
    }
}
