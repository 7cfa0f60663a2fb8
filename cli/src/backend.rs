//! Which storage and queues a command works on: the embedded SQLite file in the data
//! folder (default), or the AWS adapters (SQS, DynamoDB, Secrets Manager) reached
//! through the usual AWS environment (`AWS_REGION`, credentials, `AWS_ENDPOINT_URL` for
//! an emulator).

use std::path::Path;

use comms_aws::{AwsResources, SqsQueues};
use comms_core::ports::Stores;
use comms_sqlite::QueueSettings;

use crate::{CliResult, open_db};

/// Storage and queue backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// One SQLite file in the data folder.
    Embedded,
    /// SQS, DynamoDB and Secrets Manager (real AWS, or an emulator via AWS_ENDPOINT_URL).
    Aws,
}

/// The AWS resource names, with the CLI's defaults ([`crate::settings::aws_resources`]).
pub fn aws_resources() -> CliResult<AwsResources> {
    Ok(crate::settings::aws_resources()?)
}

/// Whether the DynamoDB table exists; any other failure (credentials, network) is an
/// error naming the table.
pub async fn table_exists(config: &aws_config::SdkConfig, table: &str) -> CliResult<bool> {
    use aws_sdk_dynamodb::error::ProvideErrorMetadata;
    match aws_sdk_dynamodb::Client::new(config).describe_table().table_name(table).send().await {
        Ok(_) => Ok(true),
        Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(false),
        Err(e) => Err(format!(
            "DynamoDB table {table}: {} {}",
            e.code().unwrap_or(""),
            e.message().map(str::to_owned).unwrap_or_else(|| format!("{e:?}"))
        )
        .into()),
    }
}

/// Refuses a missing table with its name and where the name came from (the SDK's
/// ResourceNotFoundException does not say which table).
pub async fn require_table(config: &aws_config::SdkConfig, table: &str) -> CliResult {
    if table_exists(config, table).await? {
        return Ok(());
    }
    Err(format!(
        "DynamoDB table {table} does not exist in this account and region (it is COMMS_TABLE, \
         else {{COMMS_QUEUE_PREFIX}}-data with the prefix defaulting to \"comms\"; a deployed \
         stack's name is its DataTableName output)"
    )
    .into())
}

/// The AWS SDK configuration from the environment.
pub async fn aws_config() -> aws_config::SdkConfig {
    comms_aws::load_config().await
}

/// The ports operator commands use, on one backend: its stores bundle, and on AWS the
/// SQS adapter itself for SQS-only operations (native DLQ redrive).
pub struct Ports {
    pub stores: Stores,
    pub sqs: Option<SqsQueues>,
}

/// As [`ports`], for commands that use the DynamoDB table (tenants, conversations, the
/// owner's state): on AWS a missing table is refused up front, by name.
pub async fn store_ports(data_dir: &Path, backend: Backend) -> CliResult<Ports> {
    if backend == Backend::Aws {
        require_table(&aws_config().await, &aws_resources()?.table).await?;
    }
    ports(data_dir, backend).await
}

/// Connects to `backend`'s stores and queues.
pub async fn ports(data_dir: &Path, backend: Backend) -> CliResult<Ports> {
    match backend {
        Backend::Embedded => Ok(Ports {
            stores: comms_sqlite::stores(&open_db(data_dir)?, QueueSettings::default()),
            sqs: None,
        }),
        Backend::Aws => {
            let resources = aws_resources()?;
            let config = aws_config().await;
            let sqs = SqsQueues::connect(&config, &resources.queue_names()).await?;
            Ok(Ports { stores: comms_aws::stores(&config, &resources, sqs.clone())?, sqs: Some(sqs) })
        }
    }
}
