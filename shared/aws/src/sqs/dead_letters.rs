//! Dead-letter administration on SQS (the operator's CLI). SQS cannot peek: a look at
//! a dead letter receives it, makes it visible again at once, and counts that receive in
//! the failure table so listings can discount it.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;

use comms_core::domain::Channel;
use comms_core::ports::{DeadLetter, DeadLetters, DlqFilter, QueueError, QueueStats};

use super::{REASON_ATTRIBUTE, REASON_TTL_SECS, SqsQueues, backend};

/// How many dead letters a filtered replay looks through at most.
const REPLAY_SCAN_MAX: usize = 1000;

/// What a look at a dead letter reports.
struct Inspection {
    /// Receives that were not looks.
    receive_count: u32,
    first_received_at: Option<jiff::Timestamp>,
    /// The reason recorded in the failure table.
    reason: Option<String>,
}

impl SqsQueues {
    /// The ARNs of a channel's queue and dead-letter queue (for StartMessageMoveTask).
    async fn arns(&self, channel: Channel) -> Result<(String, String), QueueError> {
        let (url, dlq) = self.urls(channel)?;
        let arn = |u: String| async move {
            let resp = self
                .sqs
                .get_queue_attributes()
                .queue_url(&u)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
                .await
                .map_err(backend)?;
            resp.attributes()
                .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
                .ok_or_else(|| QueueError::Backend { message: format!("no ARN for {u}"), transient: false })
        };
        Ok((arn(url.to_owned()).await?, arn(dlq.to_owned()).await?))
    }

    /// Starts an SQS-native redrive of the channel's dead-letter queue back to its source
    /// queue (`StartMessageMoveTask`; real AWS only, emulators lack it); returns the task
    /// handle. SQS moves the messages itself, body and attributes intact.
    pub async fn dlq_native_redrive(
        &self,
        channel: Channel,
        max_per_second: Option<i32>,
    ) -> Result<String, QueueError> {
        let (source, dlq) = self.arns(channel).await?;
        let resp = self
            .sqs
            .start_message_move_task()
            .source_arn(dlq)
            .destination_arn(source)
            .set_max_number_of_messages_per_second(max_per_second)
            .send()
            .await
            .map_err(backend)?;
        Ok(resp.task_handle().unwrap_or_default().to_owned())
    }

    /// Creates the queues, DLQs (14-day retention, redrive after `max_receive_count`)
    /// and the failure table if missing, then connects. For local use and tests; in AWS
    async fn reason_of(&self, message_id: &str) -> Result<Option<String>, QueueError> {
        let item = self
            .dynamo
            .get_item()
            .table_name(&self.table)
            .key("message_id", AttributeValue::S(message_id.to_owned()))
            .send()
            .await
            .map_err(|e| self.table_error(e))?;
        Ok(item.item().and_then(|i| i.get("reason")).and_then(|v| v.as_s().ok()).cloned())
    }

    /// Makes a received message visible again at once.
    async fn release(&self, url: &str, receipt: &str) -> Result<(), QueueError> {
        self.sqs
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(receipt)
            .visibility_timeout(0)
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// Counts one receive made only to look at a dead letter (listing, or passing it over
    /// in a filtered replay) in the failure table, keeping the first receive time seen by
    /// the first look; returns what to report: the receives that were not looks.
    async fn note_inspection(
        &self,
        message_id: &str,
        receive_count: u32,
        first: Option<jiff::Timestamp>,
    ) -> Result<Inspection, QueueError> {
        let expires = jiff::Timestamp::now().as_second() + REASON_TTL_SECS;
        let first_ms = first.map(|t| t.as_millisecond()).unwrap_or(0);
        let resp = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .key("message_id", AttributeValue::S(message_id.to_owned()))
            .update_expression(
                "SET inspections = if_not_exists(inspections, :zero) + :one, \
                 first_seen_ms = if_not_exists(first_seen_ms, :first), \
                 expires_at = if_not_exists(expires_at, :expires)",
            )
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":first", AttributeValue::N(first_ms.to_string()))
            .expression_attribute_values(":expires", AttributeValue::N(expires.to_string()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| self.table_error(e))?;
        let item = resp.attributes();
        let number = |k: &str| {
            item.and_then(|i| i.get(k)).and_then(|v| v.as_n().ok()).and_then(|v| v.parse::<i64>().ok())
        };
        let inspections = u32::try_from(number("inspections").unwrap_or(1)).unwrap_or(u32::MAX);
        let receive_count = receive_count.saturating_sub(inspections);
        // A message first received by a look (dead-lettered by code) has no first receive
        // of its own.
        let first_received_at = number("first_seen_ms")
            .filter(|_| receive_count > 0)
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
            .filter(|t| t.as_millisecond() > 0);
        let reason = item.and_then(|i| i.get("reason")).and_then(|v| v.as_s().ok()).cloned();
        Ok(Inspection { receive_count, first_received_at, reason })
    }

    async fn count(&self, url: &str, name: QueueAttributeName) -> Result<u64, QueueError> {
        let resp = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(name.clone())
            .send()
            .await
            .map_err(backend)?;
        Ok(resp.attributes().and_then(|a| a.get(&name)).and_then(|v| v.parse().ok()).unwrap_or(0))
    }
}

#[async_trait]
impl DeadLetters for SqsQueues {
    async fn stats(&self, channel: Channel) -> Result<QueueStats, QueueError> {
        let (url, dlq) = self.urls(channel)?;
        Ok(QueueStats {
            depth: self.count(url, QueueAttributeName::ApproximateNumberOfMessages).await?,
            in_flight: self.count(url, QueueAttributeName::ApproximateNumberOfMessagesNotVisible).await?,
            dlq_depth: self.count(dlq, QueueAttributeName::ApproximateNumberOfMessages).await?
                + self.count(dlq, QueueAttributeName::ApproximateNumberOfMessagesNotVisible).await?,
        })
    }

    async fn dlq_list(&self, channel: Channel, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let (_, dlq) = self.urls(channel)?;
        // SQS cannot peek: receive (hidden briefly), make each visible again at once, and
        // discount the receives listings made (counted in the failure table), so the
        // count and first receive shown do not change from one listing to the next.
        let got = self.receive_from(dlq, limit, Duration::from_secs(30), Duration::ZERO).await?;
        let mut out = Vec::new();
        for (m, first) in got {
            self.release(dlq, &m.receipt).await?;
            let mut attributes = m.attributes;
            let note = self.note_inspection(&m.message_id, m.receive_count, first).await?;
            let reason = attributes.remove(REASON_ATTRIBUTE).or(note.reason);
            out.push(DeadLetter {
                message_id: m.message_id,
                body: m.body,
                attributes,
                receive_count: note.receive_count,
                sent_at: m.sent_at,
                first_received_at: note.first_received_at,
                reason,
            });
        }
        Ok(out)
    }

    async fn dlq_replay_matching(
        &self,
        channel: Channel,
        limit: usize,
        filter: &DlqFilter,
    ) -> Result<usize, QueueError> {
        let (url, dlq) = self.urls(channel)?;
        // With a filter, look through the whole DLQ (each message hidden until this run
        // is done with it, so none is seen twice); without one, `limit` is enough.
        let look_at = if filter.is_all() { limit } else { limit.max(REPLAY_SCAN_MAX) };
        let got = self.receive_from(dlq, look_at, Duration::from_secs(60), Duration::ZERO).await?;
        let mut moved = 0;
        for (m, first) in &got {
            let wanted = moved < limit
                && (filter.is_all() || {
                    let reason = match m.attributes.get(REASON_ATTRIBUTE) {
                        Some(r) => Some(r.clone()),
                        None => self.reason_of(&m.message_id).await?,
                    };
                    filter.matches(&m.message_id, reason.as_deref())
                });
            if !wanted {
                // Left where it was, its receive not counted against it.
                self.release(dlq, &m.receipt).await?;
                self.note_inspection(&m.message_id, m.receive_count, *first).await?;
                continue;
            }
            let mut attributes = m.attributes.clone();
            attributes.remove(REASON_ATTRIBUTE);
            // Send, then delete: a crash in between duplicates (idempotency makes that
            // harmless), never loses.
            self.send_to(url, &m.body, &attributes).await?;
            self.delete_from(dlq, &m.receipt).await?;
            moved += 1;
        }
        Ok(moved)
    }

    async fn dlq_purge(&self, channel: Channel) -> Result<usize, QueueError> {
        let (_, dlq) = self.urls(channel)?;
        let mut purged = 0;
        loop {
            let got = self.receive_from(dlq, 10, Duration::from_secs(60), Duration::ZERO).await?;
            if got.is_empty() {
                return Ok(purged);
            }
            for (m, _) in got {
                self.delete_from(dlq, &m.receipt).await?;
                purged += 1;
            }
        }
    }
}
