//! The polling worker: receives records from a channel queue, runs each through the
//! engine as the Lambda handler does (heartbeat, then settle: deletes what succeeded,
//! dead-letters permanent failures at once, lets transient ones come back after a
//! backoff), keeping up to `concurrency` records in flight.

use std::sync::Arc;
use std::time::Duration;

use comms_core::domain::Channel;
use comms_core::ports::Queues;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

use crate::batch::{Record, SettlePolicy, conversations, run_batch};
use crate::turn::Engine;

/// How a worker polls.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub channel: Channel,
    /// Most records taken by one receive.
    pub batch_size: usize,
    /// Most records in flight at once.
    pub concurrency: usize,
    pub visibility: Duration,
    /// Sleep between empty polls.
    pub idle_poll: Duration,
    /// First delay before a transiently failed record is retried; doubles per receive,
    /// capped at the visibility timeout.
    pub retry_delay: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            channel: Channel::Sms,
            batch_size: 10,
            concurrency: 10,
            visibility: Duration::from_secs(30),
            idle_poll: Duration::from_millis(200),
            retry_delay: Duration::from_secs(2),
        }
    }
}

/// Runs until `shutdown` turns true; records in progress are finished first, so nothing
/// in flight is abandoned (and anything cut short reappears after its timeout anyway).
///
/// Up to `concurrency` records are in flight at once, received `batch_size` at most at a
/// time; the records of one conversation in a receive run in order as one group, and each
/// group is settled as soon as it is done: a slow record never holds back the next
/// receive, and the store sees many turns at once (the embedded store commits their
/// changes together).
pub async fn run(
    queues: Arc<dyn Queues>,
    engine: Arc<Engine>,
    settings: WorkerSettings,
    mut shutdown: watch::Receiver<bool>,
) {
    let policy = Arc::new(SettlePolicy {
        channel: settings.channel,
        delete_successes: true,
        retry_delay: settings.retry_delay,
        visibility: settings.visibility,
    });
    let slots = Arc::new(Semaphore::new(settings.concurrency.max(1)));
    let mut in_flight = JoinSet::new();
    while !*shutdown.borrow() {
        let permits = tokio::select! {
            p = free_slots(&slots, settings.batch_size) => p,
            _ = shutdown.changed() => break,
        };
        // A long poll (SQS, or the embedded queue's) may wait many seconds: shutdown does
        // not wait for it. A receive abandoned after messages were handed out loses
        // nothing: they reappear when their visibility timeout ends.
        let receive = queues.receive(settings.channel, permits.len(), settings.visibility);
        let received = tokio::select! {
            r = receive => r,
            _ = shutdown.changed() => break,
        };
        let received = received.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "receive failed");
            Vec::new()
        });
        if received.is_empty() {
            drop(permits);
            tokio::select! {
                _ = tokio::time::sleep(settings.idle_poll) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let records: Vec<Record> = received.into_iter().map(Record::from).collect();
        let mut permits = permits.into_iter();
        // One task per conversation: its records run one after another in the order
        // they were received (a second message's turn sees the first's reply); other
        // conversations run at once.
        for group in conversations(&records) {
            let group: Vec<Record> = group.into_iter().map(|i| records[i].clone()).collect();
            let held: Vec<OwnedSemaphorePermit> = permits.by_ref().take(group.len()).collect();
            let (engine, queues, policy) = (Arc::clone(&engine), Arc::clone(&queues), Arc::clone(&policy));
            in_flight.spawn(async move {
                // A failed record stays on the queue (hidden for its backoff) for a later
                // receive.
                run_batch(&engine, &queues, group, 1, &policy).await;
                drop(held);
            });
        }
        while in_flight.try_join_next().is_some() {}
    }
    while in_flight.join_next().await.is_some() {}
}

/// Waits for one free slot, then takes up to `most` without waiting more.
async fn free_slots(slots: &Arc<Semaphore>, most: usize) -> Vec<OwnedSemaphorePermit> {
    // Invariant: the semaphore is never closed.
    let first = Arc::clone(slots).acquire_owned().await.expect("worker slots are never closed");
    let mut permits = vec![first];
    while permits.len() < most.max(1) {
        match Arc::clone(slots).try_acquire_owned() {
            Ok(p) => permits.push(p),
            Err(_) => break,
        }
    }
    permits
}
