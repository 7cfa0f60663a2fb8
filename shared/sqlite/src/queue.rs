use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::params;

use super::{Db, now_ms, queue_backend, ts_from_ms};
use crate::statements::Cached;
use comms_core::domain::Channel;
use comms_core::ports::{
    DeadLetter, DeadLetters, DlqFilter, OutgoingMessage, QueueError, QueueStats, Queues, ReceivedMessage,
};

/// Behaviour shared by every channel queue.
#[derive(Debug, Clone, Copy)]
pub struct QueueSettings {
    /// Receives after which an undeleted message moves to the dead-letter queue.
    pub max_receive_count: u32,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self { max_receive_count: 3 }
    }
}

/// The queue port on SQLite: one table, a row per message; a dead-lettered message keeps
/// its row with `dead_at_ms` set.
#[derive(Clone)]
pub struct SqliteQueues {
    db: Db,
    settings: QueueSettings,
    long_poll: Option<LongPoll>,
}

/// How a receive that finds nothing waits (see [`SqliteQueues::with_long_polling`]).
#[derive(Debug, Clone, Copy)]
struct LongPoll {
    wait: Duration,
    recheck: Duration,
}

impl SqliteQueues {
    /// Queues stored in `db`. A receive that finds nothing returns at once.
    pub fn new(db: Db, settings: QueueSettings) -> Self {
        Self { db, settings, long_poll: None }
    }

    /// Long polling, as SQS's `WaitTimeSeconds`: a receive that finds nothing waits up to
    /// `wait` for a message. A send (or a replay, or a visibility set to zero) through any
    /// queue handle on the same [`Db`] wakes it at once; a message that becomes visible
    /// because its timeout ended (or one sent by another process) is found by a re-check
    /// every `recheck`.
    pub fn with_long_polling(mut self, wait: Duration, recheck: Duration) -> Self {
        self.long_poll = Some(LongPoll { wait, recheck: recheck.max(Duration::from_millis(1)) });
        self
    }

    /// Wakes every receive waiting on `channel`: a message may be visible.
    fn wake(&self, channel: Channel) {
        self.db.queue_signal(channel).notify_waiters();
    }

    /// One receive attempt: takes up to `max` visible messages, never waits.
    async fn receive_now(
        &self,
        channel: Channel,
        max: usize,
        visibility: i64,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        let max_receives = self.settings.max_receive_count;
        self.db
            .write(move |c| {
                // Every change runs in the writer's transaction, which holds the write
                // lock (BEGIN IMMEDIATE): two receivers (threads or processes) can never
                // pick the same visible row.
                let now = now_ms();
                let mut out = Vec::new();
                // Rows already considered in this call are skipped even if visible again
                // (visibility 0): one receive never returns a message twice.
                let mut after_seq = 0i64;
                while out.len() < max {
                    let candidates = visible_rows(c, channel, now, max - out.len(), after_seq)?;
                    if candidates.is_empty() {
                        break;
                    }
                    for (seq, count) in candidates {
                        after_seq = seq;
                        if count >= max_receives {
                            expire_row(c, seq, now)?;
                        } else {
                            out.push(take_row(c, seq, now, now + visibility)?);
                        }
                    }
                }
                Ok(out)
            })
            .await
            .map_err(queue_backend)
    }
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
}

fn attributes_from(json: &str) -> BTreeMap<String, String> {
    // Written by `send` from a map; a row edited by hand into garbage reads as empty.
    serde_json::from_str(json).unwrap_or_default()
}

/// Up to `want` visible live rows of `channel` after `after_seq`, oldest first, with their
/// receive counts.
fn visible_rows(
    conn: &rusqlite::Connection,
    channel: Channel,
    now: i64,
    want: usize,
    after_seq: i64,
) -> rusqlite::Result<Vec<(i64, u32)>> {
    conn.prepare_cached(
        "SELECT seq, receive_count FROM queue_messages
         WHERE channel = ?1 AND dead_at_ms IS NULL AND visible_at_ms <= ?2 AND seq > ?4
         ORDER BY seq LIMIT ?3",
    )?
    .query_map(params![channel.as_str(), now, want as i64, after_seq], |r| Ok((r.get(0)?, r.get(1)?)))?
    .collect()
}

/// Dead-letters a row received `max_receive_count` times without being deleted, keeping
/// the last recorded failure (if any) as its reason.
fn expire_row(conn: &rusqlite::Connection, seq: i64, now: i64) -> rusqlite::Result<()> {
    conn.run(
        "UPDATE queue_messages SET dead_at_ms = ?2, receipt = NULL,
           last_error = CASE WHEN last_error IS NULL
             THEN 'received ' || receive_count || ' times without being deleted'
             ELSE last_error || ' (after ' || receive_count || ' receives)' END
         WHERE seq = ?1",
        params![seq, now],
    )?;
    Ok(())
}

/// Receives a row: a fresh receipt, hidden until `visible_at`.
fn take_row(
    conn: &rusqlite::Connection,
    seq: i64,
    now: i64,
    visible_at: i64,
) -> rusqlite::Result<ReceivedMessage> {
    let receipt = uuid::Uuid::new_v4().to_string();
    conn.one(
        "UPDATE queue_messages
         SET receive_count = receive_count + 1, receipt = ?2, visible_at_ms = ?3,
             first_received_at_ms = COALESCE(first_received_at_ms, ?4)
         WHERE seq = ?1
         RETURNING message_id, body, attributes, receive_count, sent_at_ms",
        params![seq, receipt, visible_at, now],
        |r| {
            Ok(ReceivedMessage {
                message_id: r.get(0)?,
                receipt: receipt.clone(),
                body: r.get(1)?,
                attributes: attributes_from(&r.get::<_, String>(2)?),
                receive_count: r.get(3)?,
                sent_at: ts_from_ms(r.get(4)?),
            })
        },
    )
}

#[async_trait]
impl Queues for SqliteQueues {
    async fn send(&self, channel: Channel, message: OutgoingMessage) -> Result<String, QueueError> {
        let id = uuid::Uuid::new_v4().to_string();
        let attributes = serde_json::to_string(&message.attributes).unwrap_or_else(|_| "{}".into());
        let row_id = id.clone();
        self.db
            .write(move |c| {
                let now = now_ms();
                c.run(
                    "INSERT INTO queue_messages (message_id, channel, body, attributes, sent_at_ms, visible_at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                    params![row_id, channel.as_str(), message.body, attributes, now],
                )
            })
            .await
            .map_err(queue_backend)?;
        self.wake(channel);
        Ok(id)
    }

    async fn receive(
        &self,
        channel: Channel,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        let visibility = duration_ms(visibility);
        let Some(poll) = self.long_poll else { return self.receive_now(channel, max, visibility).await };
        let deadline = tokio::time::Instant::now() + poll.wait;
        loop {
            // Registered before looking, so a send between the look and the wait still
            // wakes this receive.
            let woken = self.db.queue_signal(channel).notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let got = self.receive_now(channel, max, visibility).await?;
            let now = tokio::time::Instant::now();
            if !got.is_empty() || now >= deadline {
                return Ok(got);
            }
            let nap = poll.recheck.min(deadline - now);
            tokio::select! {
                _ = &mut woken => {}
                _ = tokio::time::sleep(nap) => {}
            }
        }
    }

    async fn change_visibility(
        &self,
        channel: Channel,
        receipt: &str,
        visibility: Duration,
    ) -> Result<(), QueueError> {
        let receipt = receipt.to_owned();
        let visibility = duration_ms(visibility);
        let changed = self
            .db
            .write(move |c| {
                c.run(
                    "UPDATE queue_messages SET visible_at_ms = ?3
                     WHERE channel = ?1 AND receipt = ?2 AND dead_at_ms IS NULL",
                    params![channel.as_str(), receipt, now_ms() + visibility],
                )
            })
            .await
            .map_err(queue_backend)?;
        if changed == 0 {
            return Err(QueueError::StaleReceipt);
        }
        if visibility == 0 {
            self.wake(channel);
        }
        Ok(())
    }

    async fn delete(&self, channel: Channel, receipt: &str) -> Result<(), QueueError> {
        let receipt = receipt.to_owned();
        let deleted = self
            .db
            .write(move |c| {
                c.run(
                    "DELETE FROM queue_messages WHERE channel = ?1 AND receipt = ?2 AND dead_at_ms IS NULL",
                    params![channel.as_str(), receipt],
                )
            })
            .await
            .map_err(queue_backend)?;
        if deleted == 0 { Err(QueueError::StaleReceipt) } else { Ok(()) }
    }

    async fn record_failure(
        &self,
        channel: Channel,
        message_id: &str,
        reason: &str,
    ) -> Result<(), QueueError> {
        let (id, reason) = (message_id.to_owned(), reason.to_owned());
        self.db
            .write(move |c| {
                c.run(
                    "UPDATE queue_messages SET last_error = ?3 WHERE channel = ?1 AND message_id = ?2",
                    params![channel.as_str(), id, reason],
                )
            })
            .await
            .map_err(queue_backend)?;
        Ok(())
    }

    async fn dead_letter(
        &self,
        channel: Channel,
        message: &ReceivedMessage,
        reason: &str,
    ) -> Result<(), QueueError> {
        let (receipt, reason) = (message.receipt.clone(), reason.to_owned());
        let moved = self
            .db
            .write(move |c| {
                c.run(
                    "UPDATE queue_messages SET dead_at_ms = ?3, last_error = ?4, receipt = NULL
                     WHERE channel = ?1 AND receipt = ?2 AND dead_at_ms IS NULL",
                    params![channel.as_str(), receipt, now_ms(), reason],
                )
            })
            .await
            .map_err(queue_backend)?;
        if moved == 0 { Err(QueueError::StaleReceipt) } else { Ok(()) }
    }
}

#[async_trait]
impl DeadLetters for SqliteQueues {
    async fn stats(&self, channel: Channel) -> Result<QueueStats, QueueError> {
        self.db
            .read(move |c| {
                c.one(
                    "SELECT
                       COUNT(*) FILTER (WHERE dead_at_ms IS NULL AND visible_at_ms <= ?2),
                       COUNT(*) FILTER (WHERE dead_at_ms IS NULL AND visible_at_ms > ?2),
                       COUNT(*) FILTER (WHERE dead_at_ms IS NOT NULL)
                     FROM queue_messages WHERE channel = ?1",
                    params![channel.as_str(), now_ms()],
                    |r| Ok(QueueStats { depth: r.get(0)?, in_flight: r.get(1)?, dlq_depth: r.get(2)? }),
                )
            })
            .await
            .map_err(queue_backend)
    }

    async fn dlq_list(&self, channel: Channel, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        self.db
            .read(move |c| {
                c.prepare_cached(
                    "SELECT message_id, body, attributes, receive_count, sent_at_ms, first_received_at_ms, last_error
                     FROM queue_messages WHERE channel = ?1 AND dead_at_ms IS NOT NULL
                     ORDER BY dead_at_ms, seq LIMIT ?2",
                )?
                .query_map(params![channel.as_str(), limit as i64], |r| {
                    Ok(DeadLetter {
                        message_id: r.get(0)?,
                        body: r.get(1)?,
                        attributes: attributes_from(&r.get::<_, String>(2)?),
                        receive_count: r.get(3)?,
                        sent_at: ts_from_ms(r.get(4)?),
                        first_received_at: r.get::<_, Option<i64>>(5)?.map(ts_from_ms),
                        reason: r.get(6)?,
                    })
                })?
                .collect()
            })
            .await
            .map_err(queue_backend)
    }

    async fn dlq_replay_matching(
        &self,
        channel: Channel,
        limit: usize,
        filter: &DlqFilter,
    ) -> Result<usize, QueueError> {
        let id = filter.message_id.clone();
        let reason = filter.reason_contains.clone();
        let replayed = self
            .db
            .write(move |c| {
                // One statement: a message is either still dead or back on the queue with a
                // fresh receive count, never both and never neither.
                c.run(
                    "UPDATE queue_messages
                     SET dead_at_ms = NULL, receive_count = 0, receipt = NULL, visible_at_ms = ?3,
                         first_received_at_ms = NULL, last_error = NULL
                     WHERE seq IN (SELECT seq FROM queue_messages WHERE channel = ?1 AND dead_at_ms IS NOT NULL
                                     AND (?4 IS NULL OR message_id = ?4)
                                     AND (?5 IS NULL OR instr(last_error, ?5) > 0)
                                   ORDER BY dead_at_ms, seq LIMIT ?2)",
                    params![channel.as_str(), limit as i64, now_ms(), id, reason],
                )
            })
            .await
            .map_err(queue_backend)?;
        if replayed > 0 {
            self.wake(channel);
        }
        Ok(replayed)
    }

    async fn dlq_purge(&self, channel: Channel) -> Result<usize, QueueError> {
        self.db
            .write(move |c| {
                c.run(
                    "DELETE FROM queue_messages WHERE channel = ?1 AND dead_at_ms IS NOT NULL",
                    params![channel.as_str()],
                )
            })
            .await
            .map_err(queue_backend)
    }
}
