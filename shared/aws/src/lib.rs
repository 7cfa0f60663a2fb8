//! AWS adapters: DynamoDB for the storage ports, SQS for the queue ports (with a
//! DynamoDB table for failure reasons), Secrets Manager (cached) for the secrets port;
//! one classifier of SDK errors (`errors.rs`).
//! Clients come from the usual AWS environment (`aws-config`), which also honours
//! `AWS_ENDPOINT_URL`, so the same code runs against AWS or a local emulator.

mod calls;
mod dynamo;
mod errors;
mod http;
mod secrets;
mod settings;
mod sqs;

use std::time::Duration;

pub use calls::CallLog;
pub use dynamo::DynamoStore;
pub use http::{https_client, https_client_trusting};
pub use secrets::SecretsManagerStore;
pub use settings::{
    AwsResources, ChannelQueueUrls, DEFAULT_PREFIX, ENV_QUEUE_PREFIX, ENV_SECRETS_CACHE_SIZE,
    ENV_SECRETS_TTL, ENV_TABLE, QueueUrls, dlq_url_var, queue_url_var, table_for_prefix,
};
pub use sqs::{PROVISIONED_BY, PROVISIONED_TAG, QueueNames, SqsQueues};

/// Loads the AWS configuration from the environment (region, credentials, endpoint) the
/// way every AWS tool does: environment, profiles, SSO, instance metadata (operators'
/// tools and `comms serve --backend aws`).
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(https_client()).load().await
}

/// The AWS configuration of a Lambda function, from the variables Lambda sets: region
/// (`AWS_REGION`), the execution role's credentials (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) and, for an emulator, `AWS_ENDPOINT_URL`.
/// Unlike [`load_config`] it reads no profile file and asks no metadata endpoint, so a
/// cold start does no I/O for it; and the binaries that use it only leave the default
/// provider chain (profiles, SSO, STS, IMDS) out of their zips. A missing variable is an
/// error naming it.
pub fn lambda_config(get: impl Fn(&str) -> Option<String>) -> Result<aws_config::SdkConfig, String> {
    use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
    let set = |name: &str| get(name).filter(|v| !v.trim().is_empty());
    let region = set("AWS_REGION").or_else(|| set("AWS_DEFAULT_REGION"));
    let (key, secret) = (set("AWS_ACCESS_KEY_ID"), set("AWS_SECRET_ACCESS_KEY"));
    let missing: Vec<&str> = [("AWS_REGION", region.is_none()), ("AWS_ACCESS_KEY_ID", key.is_none())]
        .into_iter()
        .chain([("AWS_SECRET_ACCESS_KEY", secret.is_none())])
        .filter_map(|(name, missing)| missing.then_some(name))
        .collect();
    let (Some(region), Some(key), Some(secret)) = (region, key, secret) else {
        return Err(format!("{} not set (Lambda sets them)", missing.join(", ")));
    };
    let credentials = Credentials::new(key, secret, set("AWS_SESSION_TOKEN"), None, "lambda-environment");
    let mut config = aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(https_client())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials));
    if let Some(endpoint) = set("AWS_ENDPOINT_URL") {
        config = config.endpoint_url(endpoint);
    }
    Ok(config.build())
}

/// A configuration for a fixed endpoint (an emulator in tests), with static test
/// credentials and no retries, so a failing call fails at once.
pub async fn emulator_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(https_client())
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
        journal: store.clone(),
        owner_state: store.clone(),
        bookings: store.clone(),
        ledger: store.clone(),
        requests: store.clone(),
        usage: store,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: constructing fixtures
mod tests {
    use super::*;

    #[test]
    fn the_lambda_configuration_comes_from_lambdas_variables_and_names_what_is_missing() {
        let env = |n: &str| match n {
            "AWS_REGION" => Some("eu-west-1".to_owned()),
            "AWS_ACCESS_KEY_ID" => Some("AKIDEXAMPLE".to_owned()),
            "AWS_SECRET_ACCESS_KEY" => Some("secret".to_owned()),
            "AWS_SESSION_TOKEN" => Some("token".to_owned()),
            _ => None,
        };
        let config = lambda_config(env).unwrap();
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert!(config.credentials_provider().is_some());
        assert!(config.http_client().is_some(), "the SDK crates have no default client");
        assert_eq!(config.endpoint_url(), None);
        let with_endpoint = lambda_config(|n| {
            if n == "AWS_ENDPOINT_URL" { Some("http://127.0.0.1:5000".to_owned()) } else { env(n) }
        })
        .unwrap();
        assert_eq!(with_endpoint.endpoint_url(), Some("http://127.0.0.1:5000"));
        let err = lambda_config(|n| (n == "AWS_ACCESS_KEY_ID").then(|| "k".to_owned())).unwrap_err();
        assert!(err.contains("AWS_REGION") && err.contains("AWS_SECRET_ACCESS_KEY"), "{err}");
        assert!(!err.contains("AWS_ACCESS_KEY_ID"), "{err}");
    }
}
