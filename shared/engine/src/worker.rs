//! The polling worker: receives batches from a channel queue the way the Lambda event
//! source mapping does, deletes what succeeded, dead-letters permanent failures at once,
//! and lets transient ones come back after a backoff.

use std::sync::Arc;
use std::time::Duration;

use comms_core::domain::Channel;
use comms_core::ports::Queues;
use tokio::sync::watch;

use crate::batch::{Record, SettlePolicy, run_batch};
use crate::turn::Engine;

/// How a worker polls.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub channel: Channel,
    pub batch_size: usize,
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

/// Runs until `shutdown` turns true; a batch in progress is finished first, so nothing
/// in flight is abandoned (and anything cut short reappears after its timeout anyway).
pub async fn run(
    queues: Arc<dyn Queues>,
    engine: Arc<Engine>,
    settings: WorkerSettings,
    mut shutdown: watch::Receiver<bool>,
) {
    let policy = SettlePolicy {
        channel: settings.channel,
        delete_successes: true,
        retry_delay: settings.retry_delay,
        visibility: settings.visibility,
    };
    while !*shutdown.borrow() {
        // A long poll (SQS) may wait many seconds: shutdown does not wait for it. A
        // receive abandoned after SQS handed out messages loses nothing: they reappear
        // when their visibility timeout ends.
        let receive = queues.receive(settings.channel, settings.batch_size, settings.visibility);
        let received = tokio::select! {
            r = receive => r,
            _ = shutdown.changed() => break,
        };
        let received = match received {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "receive failed");
                Vec::new()
            }
        };
        if received.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep(settings.idle_poll) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let records: Vec<Record> = received.into_iter().map(Record::from).collect();
        // Failed records stay on the queue (hidden for their backoff) for a later poll.
        run_batch(&engine, &queues, records, settings.concurrency, &policy).await;
    }
}
