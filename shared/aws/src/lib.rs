//! AWS adapters: DynamoDB for the storage ports, SQS for the queue ports (with a
//! DynamoDB table for failure reasons), Secrets Manager (cached) for the secrets port;
//! one classifier of SDK errors (`errors.rs`).
//! Clients come from the usual AWS environment (`aws-config`), which also honours
//! `AWS_ENDPOINT_URL`, so the same code runs against AWS or a local emulator.

mod calls;
mod dynamo;
mod errors;
mod secrets;
mod settings;
mod sqs;

use std::time::Duration;

pub use calls::CallLog;
pub use dynamo::DynamoStore;
pub use secrets::SecretsManagerStore;
pub use settings::{
    AwsResources, ChannelQueueUrls, DEFAULT_PREFIX, ENV_QUEUE_PREFIX, ENV_SECRETS_CACHE_SIZE,
    ENV_SECRETS_TTL, ENV_TABLE, QueueUrls, dlq_url_var, queue_url_var, table_for_prefix,
};
pub use sqs::{PROVISIONED_BY, PROVISIONED_TAG, QueueNames, SqsQueues};

/// Loads the AWS configuration from the environment (region, credentials, endpoint).
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::load_from_env().await
}

/// A configuration for a fixed endpoint (an emulator in tests), with static test
/// credentials and no retries, so a failing call fails at once.
pub async fn emulator_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new("test", "test", None, None, "emulator"))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder().operation_timeout(Duration::from_secs(30)).build(),
        )
        .load()
        .await
}

/// The composition root of the AWS backend: every storage port on the DynamoDB table,
/// Secrets Manager behind its cache, and `queues` (connected by the caller to the
/// channels it serves).
pub fn stores(
    config: &aws_config::SdkConfig,
    resources: &AwsResources,
    queues: SqsQueues,
) -> Result<comms_core::ports::Stores, comms_core::ports::SecretError> {
    let store = std::sync::Arc::new(DynamoStore::new(config, &resources.table));
    let secrets = SecretsManagerStore::new(config, resources.secrets_cache_size, resources.secrets_ttl)?;
    let queues = std::sync::Arc::new(queues);
    Ok(comms_core::ports::Stores {
        tenants: store.clone(),
        secrets: std::sync::Arc::new(secrets),
        queues: queues.clone(),
        dead_letters: queues,
        consent: store.clone(),
        conversations: store.clone(),
        deliveries: store.clone(),
        turns: store.clone(),
        owner_state: store.clone(),
        bookings: store.clone(),
        ledger: store.clone(),
        requests: store,
    })
}
