//! The polling worker: receives batches from a channel queue the way the Lambda event
//! source mapping does, deletes what succeeded, dead-letters permanent failures at once,
//! and lets transient ones come back after a backoff.

use std::sync::Arc;
use std::time::Duration;

use comms_shared::domain::Channel;
use comms_shared::ports::{Queues, ReceivedMessage};
use tokio::sync::watch;

use crate::batch::{Heartbeat, Record, process_batch};
use crate::turn::{Engine, TurnError};

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
    let heartbeat =
        Heartbeat { queues: Arc::clone(&queues), channel: settings.channel, visibility: settings.visibility };
    while !*shutdown.borrow() {
        let received = match queues.receive(settings.channel, settings.batch_size, settings.visibility).await
        {
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
        let records: Vec<Record> = received
            .into_iter()
            .map(|m| Record {
                message_id: m.message_id,
                receipt: m.receipt,
                body: m.body,
                attributes: m.attributes,
                receive_count: m.receive_count,
                sent_at: m.sent_at,
            })
            .collect();
        let results = process_batch(records, settings.concurrency, Some(&heartbeat), |rec| {
            let engine = Arc::clone(&engine);
            async move { engine.handle(&rec.body).await }
        })
        .await;
        for (rec, result) in results {
            settle(queues.as_ref(), &settings, &rec, result.map(|_| ())).await;
        }
    }
}

async fn settle(queues: &dyn Queues, settings: &WorkerSettings, rec: &Record, result: Result<(), TurnError>) {
    let channel = settings.channel;
    let outcome = match result {
        Ok(()) => queues.delete(channel, &rec.receipt).await,
        Err(TurnError::Permanent(reason)) => {
            tracing::warn!(message_id = %rec.message_id, reason, "permanent failure: dead-lettered");
            let message = ReceivedMessage {
                message_id: rec.message_id.clone(),
                receipt: rec.receipt.clone(),
                body: rec.body.clone(),
                attributes: rec.attributes.clone(),
                receive_count: rec.receive_count,
                sent_at: rec.sent_at,
            };
            queues.dead_letter(channel, &message, &reason).await
        }
        Err(TurnError::Transient(reason)) => {
            tracing::info!(message_id = %rec.message_id, attempt = rec.receive_count, reason, "transient failure: will retry");
            let _ = queues.record_failure(channel, &rec.message_id, &reason).await;
            let backoff = settings
                .retry_delay
                .saturating_mul(2u32.saturating_pow(rec.receive_count.saturating_sub(1).min(16)))
                .min(settings.visibility);
            queues.change_visibility(channel, &rec.receipt, backoff).await
        }
    };
    if let Err(e) = outcome {
        tracing::warn!(message_id = %rec.message_id, error = %e, "could not settle record; it will be redelivered");
    }
}
