//! The queue port on SQS: one standard queue and one dead-letter queue per channel, with
//! a redrive policy of `max_receive_count`. SQS cannot annotate a message, so failure
//! reasons are kept in a DynamoDB table keyed by message id (expiring after 14 days, the
//! longest a message can live in a DLQ); a message dead-lettered by code carries its
//! reason in an attribute as well.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName};

use comms_core::domain::Channel;
use comms_core::ports::{
    DeadLetter, DlqFilter, OutgoingMessage, QueueError, QueueStats, Queues, ReceivedMessage,
};

/// Attribute carrying the reason of a message dead-lettered by code.
const REASON_ATTRIBUTE: &str = "comms_failure_reason";
/// Tag on the queues and tables `provision` creates, so `comms serve --create-resources`
/// can tell them from a deployed stack's (which it must not touch).
pub const PROVISIONED_TAG: &str = "comms:provisioned-by";
/// The tag's value.
pub const PROVISIONED_BY: &str = "comms-serve-create-resources";

/// The DynamoDB tag marking a table `provision` created.
pub fn provisioned_tag() -> Result<aws_sdk_dynamodb::types::Tag, String> {
    aws_sdk_dynamodb::types::Tag::builder()
        .key(PROVISIONED_TAG)
        .value(PROVISIONED_BY)
        .build()
        .map_err(|e| e.to_string())
}

/// How long failure reasons are kept (the SQS maximum retention).
const REASON_TTL_SECS: i64 = 14 * 24 * 3600;

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

/// Names of the queues and the failure table: `{prefix}-{channel}`,
/// `{prefix}-{channel}-dlq`, `{prefix}-failures`.
#[derive(Debug, Clone)]
pub struct QueueNames {
    pub prefix: String,
}

impl QueueNames {
    /// The channel's queue name.
    pub fn queue(&self, channel: Channel) -> String {
        format!("{}-{channel}", self.prefix)
    }

    /// The channel's dead-letter queue name.
    pub fn dlq(&self, channel: Channel) -> String {
        format!("{}-{channel}-dlq", self.prefix)
    }

    /// The failure-reason table name.
    pub fn failures_table(&self) -> String {
        format!("{}-failures", self.prefix)
    }
}

/// The queue port on SQS.
#[derive(Clone)]
pub struct SqsQueues {
    sqs: aws_sdk_sqs::Client,
    dynamo: aws_sdk_dynamodb::Client,
    table: String,
    /// Queue and DLQ URL per channel that has queues.
    urls: HashMap<Channel, (String, String)>,
    /// The names, for errors about a channel without queues.
    names: QueueNames,
    /// How long `receive` waits for a message when none is visible (SQS long polling);
    /// zero answers at once.
    wait: Duration,
}

fn backend<E: ProvideErrorMetadata + std::fmt::Debug>(e: E) -> QueueError {
    let code = e.code().unwrap_or("");
    let transient = code.is_empty()
        || code.contains("Throttl")
        || code.contains("RequestLimitExceeded")
        || code.contains("ServiceUnavailable")
        || code.contains("InternalError")
        || code == "ProvisionedThroughputExceededException";
    let message = format!("{} {}", code, e.message().unwrap_or(&format!("{e:?}"))).trim().to_owned();
    QueueError::Backend { message, transient }
}

fn stale_or_backend<E: ProvideErrorMetadata + std::fmt::Debug>(e: E) -> QueueError {
    match e.code() {
        Some("ReceiptHandleIsInvalid" | "InvalidParameterValue" | "MessageNotInflight") => {
            QueueError::StaleReceipt
        }
        _ => backend(e),
    }
}

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

impl SqsQueues {
    /// Connects to the existing queues of every channel (channels without queues fail
    /// when used).
    pub async fn connect(config: &aws_config::SdkConfig, names: &QueueNames) -> Result<Self, QueueError> {
        Self::connect_channels(config, names, &Channel::ALL, false).await
    }

    /// Connects to the queues of `channels` only (a processor needs its own; IAM may
    /// deny it the others). With `required`, a channel whose queue or DLQ cannot be
    /// found is an error naming it, instead of failing later when used.
    pub async fn connect_channels(
        config: &aws_config::SdkConfig,
        names: &QueueNames,
        channels: &[Channel],
        required: bool,
    ) -> Result<Self, QueueError> {
        let sqs = aws_sdk_sqs::Client::new(config);
        let mut urls = HashMap::new();
        for &channel in channels {
            let url = |name: String| {
                let sqs = sqs.clone();
                async move {
                    let found = sqs.get_queue_url().queue_name(&name).send().await.map_err(backend)?;
                    found.queue_url().map(str::to_owned).ok_or_else(|| QueueError::Backend {
                        message: format!("queue {name} has no URL"),
                        transient: false,
                    })
                }
            };
            match (url(names.queue(channel)).await, url(names.dlq(channel)).await) {
                (Ok(q), Ok(d)) => {
                    urls.insert(channel, (q, d));
                }
                (Err(e), _) | (_, Err(e)) if required => {
                    return Err(QueueError::Backend {
                        message: format!(
                            "queues {} / {} not usable: {e}",
                            names.queue(channel),
                            names.dlq(channel)
                        ),
                        transient: e.is_transient(),
                    });
                }
                _ => {}
            }
        }
        Ok(Self {
            sqs,
            dynamo: aws_sdk_dynamodb::Client::new(config),
            table: names.failures_table(),
            urls,
            names: names.clone(),
            wait: Duration::ZERO,
        })
    }

    /// Long polling: `receive` waits up to `wait` (at most 20 s, the SQS maximum) for a
    /// message instead of answering empty at once, as the Lambda event source mapping
    /// polls. Listing and replaying dead letters never wait.
    pub fn with_long_polling(mut self, wait: Duration) -> Self {
        self.wait = wait.min(Duration::from_secs(20));
        self
    }

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
        Ok((arn(url.clone()).await?, arn(dlq.clone()).await?))
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
    /// the template creates them.
    pub async fn provision(
        config: &aws_config::SdkConfig,
        names: &QueueNames,
        channels: &[Channel],
        max_receive_count: u32,
    ) -> Result<Self, QueueError> {
        let sqs = aws_sdk_sqs::Client::new(config);
        for &channel in channels {
            let dlq_url = sqs
                .create_queue()
                .queue_name(names.dlq(channel))
                .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
                .tags(PROVISIONED_TAG, PROVISIONED_BY)
                .send()
                .await
                .map_err(backend)?
                .queue_url()
                .unwrap_or_default()
                .to_owned();
            let arn = sqs
                .get_queue_attributes()
                .queue_url(&dlq_url)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
                .await
                .map_err(backend)?
                .attributes()
                .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
                .unwrap_or_default();
            let redrive =
                serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": max_receive_count})
                    .to_string();
            sqs.create_queue()
                .queue_name(names.queue(channel))
                .attributes(QueueAttributeName::RedrivePolicy, redrive)
                .tags(PROVISIONED_TAG, PROVISIONED_BY)
                .send()
                .await
                .map_err(backend)?;
        }
        let dynamo = aws_sdk_dynamodb::Client::new(config);
        let key = |b: &str| {
            KeySchemaElement::builder()
                .attribute_name(b)
                .key_type(KeyType::Hash)
                .build()
                .map_err(|e| QueueError::Backend { message: e.to_string(), transient: false })
        };
        let def = AttributeDefinition::builder()
            .attribute_name("message_id")
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| QueueError::Backend { message: e.to_string(), transient: false })?;
        let created = dynamo
            .create_table()
            .table_name(names.failures_table())
            .attribute_definitions(def)
            .key_schema(key("message_id")?)
            .billing_mode(BillingMode::PayPerRequest)
            .tags(provisioned_tag().map_err(|message| QueueError::Backend { message, transient: false })?)
            .send()
            .await;
        if let Err(e) = created
            && e.code() != Some("ResourceInUseException")
        {
            return Err(backend(e));
        }
        Self::connect(config, names).await
    }

    fn urls(&self, channel: Channel) -> Result<&(String, String), QueueError> {
        self.urls.get(&channel).ok_or_else(|| QueueError::Backend {
            message: format!(
                "no SQS queues {} / {} for channel {channel} in this account and region \
                 (names from COMMS_QUEUE_PREFIX '{}')",
                self.names.queue(channel),
                self.names.dlq(channel),
                self.names.prefix
            ),
            transient: false,
        })
    }

    async fn receive_from(
        &self,
        url: &str,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<(ReceivedMessage, Option<jiff::Timestamp>)>, QueueError> {
        // Each message with the time it was first received (ApproximateFirstReceiveTimestamp).
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
            for m in batch {
                let system = m.attributes();
                let get = |k: MessageSystemAttributeName| system.and_then(|a| a.get(&k));
                let attributes: BTreeMap<String, String> = m
                    .message_attributes()
                    .map(|a| {
                        a.iter()
                            .filter_map(|(k, v)| v.string_value().map(|s| (k.clone(), s.to_owned())))
                            .collect()
                    })
                    .unwrap_or_default();
                let id = m.message_id().unwrap_or_default().to_owned();
                let first = ts_ms(get(MessageSystemAttributeName::ApproximateFirstReceiveTimestamp));
                let message = ReceivedMessage {
                    message_id: id,
                    receipt: m.receipt_handle().unwrap_or_default().to_owned(),
                    body: m.body().unwrap_or_default().to_owned(),
                    attributes,
                    receive_count: get(MessageSystemAttributeName::ApproximateReceiveCount)
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(1),
                    sent_at: ts_ms(get(MessageSystemAttributeName::SentTimestamp))
                        .unwrap_or_else(jiff::Timestamp::now),
                };
                out.push((message, first));
            }
            if last_round {
                break;
            }
        }
        Ok(out)
    }

    /// Sends a body with string attributes to a queue URL; returns the message id.
    async fn send_to(
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
    async fn delete_from(&self, url: &str, receipt: &str) -> Result<(), QueueError> {
        self.sqs
            .delete_message()
            .queue_url(url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(stale_or_backend)?;
        Ok(())
    }

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

    /// A failure-table error, naming the table (DynamoDB's ResourceNotFoundException
    /// does not).
    fn table_error<E: ProvideErrorMetadata + std::fmt::Debug>(&self, e: E) -> QueueError {
        match backend(e) {
            QueueError::Backend { message, transient } => QueueError::Backend {
                message: format!("DynamoDB table {}: {message}", self.table),
                transient,
            },
            other => other,
        }
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
impl Queues for SqsQueues {
    async fn send(&self, channel: Channel, message: OutgoingMessage) -> Result<String, QueueError> {
        let (url, _) = self.urls(channel)?;
        self.send_to(url, &message.body, &message.attributes).await
    }

    async fn receive(
        &self,
        channel: Channel,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        let (url, _) = self.urls(channel)?;
        Ok(self.receive_from(url, max, visibility, self.wait).await?.into_iter().map(|(m, _)| m).collect())
    }

    async fn change_visibility(
        &self,
        channel: Channel,
        receipt: &str,
        visibility: Duration,
    ) -> Result<(), QueueError> {
        let (url, _) = self.urls(channel)?;
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
        let (url, _) = self.urls(channel)?;
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
