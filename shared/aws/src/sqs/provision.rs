//! Creating the queues and the failure table (local use and tests; in AWS the template
//! creates them).

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::QueueAttributeName;

use comms_core::domain::Channel;
use comms_core::ports::QueueError;

use super::{QueueNames, SqsQueues, backend};

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

fn invalid(message: String) -> QueueError {
    QueueError::Backend { message, transient: false }
}

impl SqsQueues {
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
            provision_channel(&sqs, names, channel, max_receive_count).await?;
        }
        provision_failures_table(config, &names.failures_table()).await?;
        Self::connect(config, names).await
    }
}

/// The channel's DLQ, then its queue redriving to the DLQ after `max_receive_count`
/// receives.
async fn provision_channel(
    sqs: &aws_sdk_sqs::Client,
    names: &QueueNames,
    channel: Channel,
    max_receive_count: u32,
) -> Result<(), QueueError> {
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
        serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": max_receive_count}).to_string();
    sqs.create_queue()
        .queue_name(names.queue(channel))
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .tags(PROVISIONED_TAG, PROVISIONED_BY)
        .send()
        .await
        .map_err(backend)?;
    Ok(())
}

/// The failure-reason table, keyed by message id; an existing one is kept.
async fn provision_failures_table(config: &aws_config::SdkConfig, table: &str) -> Result<(), QueueError> {
    let key = KeySchemaElement::builder()
        .attribute_name("message_id")
        .key_type(KeyType::Hash)
        .build()
        .map_err(|e| invalid(e.to_string()))?;
    let def = AttributeDefinition::builder()
        .attribute_name("message_id")
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| invalid(e.to_string()))?;
    let created = aws_sdk_dynamodb::Client::new(config)
        .create_table()
        .table_name(table)
        .attribute_definitions(def)
        .key_schema(key)
        .billing_mode(BillingMode::PayPerRequest)
        .tags(provisioned_tag().map_err(invalid)?)
        .send()
        .await;
    match created {
        Err(e) if e.code() != Some("ResourceInUseException") => {
            Err(crate::errors::failure_table_error(table, &e))
        }
        _ => Ok(()),
    }
}
