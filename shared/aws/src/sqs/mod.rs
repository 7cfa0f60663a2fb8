//! The queue port on SQS: one standard queue and one dead-letter queue per channel, with
//! a redrive policy of `max_receive_count`. SQS cannot annotate a message, so failure
//! reasons are kept in a DynamoDB table keyed by message id (expiring after 14 days, the
//! longest a message can live in a DLQ); a message dead-lettered by code carries its
//! reason in an attribute as well.

//!
//! `mod.rs` connects and names; the message path ([`comms_core::ports::Queues`]) is in
//! `messages.rs`, dead-letter administration ([`comms_core::ports::DeadLetters`]) in
//! `dead_letters.rs`, creating the resources in `provision.rs`.

mod dead_letters;
mod messages;
mod provision;

use std::time::Duration;

use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;

use comms_core::domain::Channel;
use comms_core::ports::QueueError;

use crate::settings::{ChannelQueueUrls, QueueUrls, dlq_url_var, queue_url_var};

pub use provision::{PROVISIONED_BY, PROVISIONED_TAG, provisioned_tag};

/// Attribute carrying the reason of a message dead-lettered by code.
const REASON_ATTRIBUTE: &str = "comms_failure_reason";
/// How long failure reasons are kept (the SQS maximum retention).
const REASON_TTL_SECS: i64 = 14 * 24 * 3600;

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
    /// Queue (and DLQ) URL per channel that has queues.
    urls: QueueUrls,
    /// The names, for errors about a channel without queues.
    names: QueueNames,
    /// How long `receive` waits for a message when none is visible (SQS long polling);
    /// zero answers at once.
    wait: Duration,
}

fn backend<E>(e: SdkError<E, HttpResponse>) -> QueueError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    crate::errors::queue_error(&e)
}

/// A refused receipt (the message was received again, deleted or dead-lettered) is
/// `StaleReceipt`, which callers handle; anything else is classified.
fn stale_or_backend<E>(e: SdkError<E, HttpResponse>) -> QueueError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match e.code() {
        Some("ReceiptHandleIsInvalid" | "InvalidParameterValue" | "MessageNotInflight") => {
            QueueError::StaleReceipt
        }
        _ => backend(e),
    }
}

impl SqsQueues {
    /// The queues at `urls` (as a Lambda's environment gives them): builds the clients
    /// and makes no call, so a cold start does no network I/O before its first event.
    /// Channels without URLs fail when used.
    pub fn from_urls(config: &aws_config::SdkConfig, names: &QueueNames, urls: &QueueUrls) -> Self {
        Self {
            sqs: aws_sdk_sqs::Client::new(config),
            dynamo: aws_sdk_dynamodb::Client::new(config),
            table: names.failures_table(),
            urls: urls.clone(),
            names: names.clone(),
            wait: Duration::ZERO,
        }
    }

    /// Connects to the existing queues of every channel, resolving their URLs by name
    /// (operators' tools and `comms serve --backend aws`, which get no URLs; channels
    /// without queues fail when used).
    pub async fn connect(config: &aws_config::SdkConfig, names: &QueueNames) -> Result<Self, QueueError> {
        Self::connect_channels(config, names, &Channel::ALL, false).await
    }

    /// Connects to the queues of `channels` only, resolving their URLs by name. With
    /// `required`, a channel whose queue or DLQ cannot be found is an error naming it,
    /// instead of failing later when used.
    pub async fn connect_channels(
        config: &aws_config::SdkConfig,
        names: &QueueNames,
        channels: &[Channel],
        required: bool,
    ) -> Result<Self, QueueError> {
        let sqs = aws_sdk_sqs::Client::new(config);
        let mut urls = QueueUrls::default();
        for &channel in channels {
            match (queue_url(&sqs, names.queue(channel)).await, queue_url(&sqs, names.dlq(channel)).await) {
                (Ok(queue), Ok(dlq)) => {
                    urls.0.insert(channel, ChannelQueueUrls { queue, dlq: Some(dlq) });
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
        Ok(Self::from_urls(config, names, &urls))
    }

    /// The queue URLs in use (resolved by name or given).
    pub fn queue_urls(&self) -> &QueueUrls {
        &self.urls
    }

    /// Long polling: `receive` waits up to `wait` (at most 20 s, the SQS maximum) for a
    /// message instead of answering empty at once, as the Lambda event source mapping
    /// polls. Listing and replaying dead letters never wait.
    pub fn with_long_polling(mut self, wait: Duration) -> Self {
        self.wait = wait.min(Duration::from_secs(20));
        self
    }

    /// An error from an SDK call on the failure table, naming it.
    fn table_error<E>(&self, e: SdkError<E, HttpResponse>) -> QueueError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        crate::errors::failure_table_error(&self.table, &e)
    }

    /// The URL of the channel's queue.
    fn queue_url(&self, channel: Channel) -> Result<&str, QueueError> {
        match self.urls.0.get(&channel) {
            Some(urls) => Ok(&urls.queue),
            None => Err(QueueError::Backend {
                message: format!(
                    "no SQS queue {} for channel {channel}: neither {} set nor found in this account \
                     and region (names from COMMS_QUEUE_PREFIX '{}')",
                    self.names.queue(channel),
                    queue_url_var(channel),
                    self.names.prefix
                ),
                transient: false,
            }),
        }
    }

    /// The URLs of the channel's queue and dead-letter queue.
    fn urls(&self, channel: Channel) -> Result<(&str, &str), QueueError> {
        let queue = self.queue_url(channel)?;
        match self.urls.0.get(&channel).and_then(|u| u.dlq.as_deref()) {
            Some(dlq) => Ok((queue, dlq)),
            None => Err(QueueError::Backend {
                message: format!(
                    "no dead-letter queue {} for channel {channel}: {} is not set",
                    self.names.dlq(channel),
                    dlq_url_var(channel)
                ),
                transient: false,
            }),
        }
    }
}

/// The URL of the queue called `name`.
async fn queue_url(sqs: &aws_sdk_sqs::Client, name: String) -> Result<String, QueueError> {
    let found = sqs.get_queue_url().queue_name(&name).send().await.map_err(backend)?;
    found
        .queue_url()
        .map(str::to_owned)
        .ok_or_else(|| QueueError::Backend { message: format!("queue {name} has no URL"), transient: false })
}
