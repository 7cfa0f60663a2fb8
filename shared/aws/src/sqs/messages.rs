//! The message path on SQS (what the router and the engine use).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::{Message, MessageAttributeValue, MessageSystemAttributeName};

use comms_core::domain::Channel;
use comms_core::ports::{OutgoingMessage, QueueError, Queues, ReceivedMessage};

use super::{REASON_ATTRIBUTE, REASON_TTL_SECS, SqsQueues, backend, stale_or_backend};

/// SQS takes whole seconds; round up so a heartbeat never shortens a lease.
fn seconds(d: Duration) -> i32 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i32::try_from(secs.min(43_200)).unwrap_or(43_200)
}

fn to_sqs_attributes(
    attrs: &BTreeMap<String, String>,
) -> Result<HashMap<String, MessageAttributeValue>, QueueError> {
    attrs
        .iter()
        .map(|(k, v)| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(v)
                .build()
                .map(|a| (k.clone(), a))
                .map_err(|e| QueueError::Backend { message: e.to_string(), transient: false })
        })
        .collect()
}

fn ts_ms(s: Option<&String>) -> Option<jiff::Timestamp> {
    s.and_then(|v| v.parse::<i64>().ok()).and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
}

/// A received SQS message, with the time it was first received
/// (ApproximateFirstReceiveTimestamp).
fn received(m: &Message) -> (ReceivedMessage, Option<jiff::Timestamp>) {
    let system = m.attributes();
    let get = |k: MessageSystemAttributeName| system.and_then(|a| a.get(&k));
    let attributes: BTreeMap<String, String> = m
        .message_attributes()
        .map(|a| a.iter().filter_map(|(k, v)| v.string_value().map(|s| (k.clone(), s.to_owned()))).collect())
        .unwrap_or_default();
    let first = ts_ms(get(MessageSystemAttributeName::ApproximateFirstReceiveTimestamp));
    let message = ReceivedMessage {
        message_id: m.message_id().unwrap_or_default().to_owned(),
        receipt: m.receipt_handle().unwrap_or_default().to_owned(),
        body: m.body().unwrap_or_default().to_owned(),
        attributes,
        receive_count: get(MessageSystemAttributeName::ApproximateReceiveCount)
            .and_then(|c| c.parse().ok())
            .unwrap_or(1),
        sent_at: ts_ms(get(MessageSystemAttributeName::SentTimestamp)).unwrap_or_else(jiff::Timestamp::now),
    };
    (message, first)
}

impl SqsQueues {
    /// Receives up to `max` messages from a queue URL, hiding each for `visibility`, and
    /// waiting up to `wait` for the first; each with the time it was first received.
    pub(super) async fn receive_from(
        &self,
        url: &str,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<(ReceivedMessage, Option<jiff::Timestamp>)>, QueueError> {
        let mut out = Vec::new();
        while out.len() < max {
            // Only the first call of a round waits: once something came, return it.
            let wait = if out.is_empty() { seconds(wait) } else { 0 };
            let want = i32::try_from((max - out.len()).min(10)).unwrap_or(10);
            let resp = self
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(want)
                .visibility_timeout(seconds(visibility))
                .wait_time_seconds(wait)
                .message_attribute_names("All")
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .map_err(backend)?;
            let batch = resp.messages();
            // A short batch means nothing more is visible now; with visibility 0 another
            // call would receive (and count) the same messages again.
            let last_round = batch.len() < usize::try_from(want).unwrap_or(10) || visibility.is_zero();
            out.extend(batch.iter().map(received));
            if last_round {
                break;
            }
        }
        Ok(out)
    }

    /// Sends a body with string attributes to a queue URL; returns the message id.
    pub(super) async fn send_to(
        &self,
        url: &str,
        body: &str,
        attributes: &BTreeMap<String, String>,
    ) -> Result<String, QueueError> {
        let resp = self
            .sqs
            .send_message()
            .queue_url(url)
            .message_body(body)
            .set_message_attributes(Some(to_sqs_attributes(attributes)?))
            .send()
            .await
            .map_err(backend)?;
        Ok(resp.message_id().unwrap_or_default().to_owned())
    }

    /// Deletes a received message from a queue URL.
    pub(super) async fn delete_from(&self, url: &str, receipt: &str) -> Result<(), QueueError> {
        self.sqs
            .delete_message()
            .queue_url(url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(stale_or_backend)?;
        Ok(())
    }
}

#[async_trait]
impl Queues for SqsQueues {
    async fn send(&self, channel: Channel, message: OutgoingMessage) -> Result<String, QueueError> {
        let url = self.queue_url(channel)?;
        self.send_to(url, &message.body, &message.attributes).await
    }

    async fn receive(
        &self,
        channel: Channel,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        let url = self.queue_url(channel)?;
        Ok(self.receive_from(url, max, visibility, self.wait).await?.into_iter().map(|(m, _)| m).collect())
    }

    async fn change_visibility(
        &self,
        channel: Channel,
        receipt: &str,
        visibility: Duration,
    ) -> Result<(), QueueError> {
        let url = self.queue_url(channel)?;
        self.sqs
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(receipt)
            .visibility_timeout(seconds(visibility))
            .send()
            .await
            .map_err(stale_or_backend)?;
        Ok(())
    }

    async fn delete(&self, channel: Channel, receipt: &str) -> Result<(), QueueError> {
        let url = self.queue_url(channel)?;
        self.delete_from(url, receipt).await?;
        Ok(())
    }

    async fn record_failure(
        &self,
        _channel: Channel,
        message_id: &str,
        reason: &str,
    ) -> Result<(), QueueError> {
        let expires = jiff::Timestamp::now().as_second() + REASON_TTL_SECS;
        self.dynamo
            .put_item()
            .table_name(&self.table)
            .item("message_id", AttributeValue::S(message_id.to_owned()))
            .item("reason", AttributeValue::S(reason.to_owned()))
            .item("expires_at", AttributeValue::N(expires.to_string()))
            .send()
            .await
            .map_err(|e| self.table_error(e))?;
        Ok(())
    }

    async fn dead_letter(
        &self,
        channel: Channel,
        message: &ReceivedMessage,
        reason: &str,
    ) -> Result<(), QueueError> {
        let (url, dlq) = self.urls(channel)?;
        let mut attributes = message.attributes.clone();
        attributes.insert(REASON_ATTRIBUTE.to_owned(), reason.to_owned());
        // Send, then delete: a crash in between leaves a duplicate, never a loss.
        self.send_to(dlq, &message.body, &attributes).await?;
        self.delete_from(url, &message.receipt).await?;
        Ok(())
    }
}
