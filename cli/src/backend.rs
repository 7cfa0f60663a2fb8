//! Which storage and queues a command works on: the embedded SQLite file in the data
//! folder (default), or the AWS adapters (SQS, DynamoDB, Secrets Manager) reached
//! through the usual AWS environment (`AWS_REGION`, credentials, `AWS_ENDPOINT_URL` for
//! an emulator).

use std::path::Path;
use std::sync::Arc;

use comms_shared::adapters::aws::{
    AwsResources, DynamoStore, ENV_QUEUE_PREFIX, ENV_TABLE, SecretsManagerStore, SqsQueues,
};
use comms_shared::adapters::sqlite::{
    QueueSettings, SqliteConversations, SqliteOwnerState, SqliteQueues, SqliteSecrets, SqliteTenants,
};
use comms_shared::ports::{ConversationLog, OwnerStateStore, Queues, SecretStore, TenantDirectory};

use crate::{CliResult, open_db};

/// Storage and queue backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// One SQLite file in the data folder.
    Embedded,
    /// SQS, DynamoDB and Secrets Manager (real AWS, or an emulator via AWS_ENDPOINT_URL).
    Aws,
}

/// Default table and queue prefix when `COMMS_TABLE` / `COMMS_QUEUE_PREFIX` are unset.
pub const DEFAULT_AWS_NAME: &str = "comms";

/// The AWS resource names, with the CLI's defaults for the two names.
pub fn aws_resources() -> CliResult<AwsResources> {
    Ok(AwsResources::from_lookup(|name| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .or_else(|| [ENV_TABLE, ENV_QUEUE_PREFIX].contains(&name).then(|| DEFAULT_AWS_NAME.to_owned()))
    })?)
}

/// The AWS SDK configuration from the environment.
pub async fn aws_config() -> aws_config::SdkConfig {
    comms_shared::adapters::aws::load_config().await
}

/// The ports operator commands use, on one backend.
pub struct Ports {
    pub tenants: Arc<dyn TenantDirectory>,
    pub secrets: Arc<dyn SecretStore>,
    pub queues: Arc<dyn Queues>,
    pub conversations: Arc<dyn ConversationLog>,
    pub owner_state: Arc<dyn OwnerStateStore>,
    /// The SQS adapter itself, for SQS-only operations (native DLQ redrive).
    pub sqs: Option<SqsQueues>,
}

/// Connects to `backend`'s stores and queues.
pub async fn ports(data_dir: &Path, backend: Backend) -> CliResult<Ports> {
    match backend {
        Backend::Embedded => {
            let db = open_db(data_dir)?;
            Ok(Ports {
                tenants: Arc::new(SqliteTenants::new(db.clone())),
                secrets: Arc::new(SqliteSecrets::new(db.clone())),
                conversations: Arc::new(SqliteConversations::new(db.clone())),
                owner_state: Arc::new(SqliteOwnerState::new(db.clone())),
                queues: Arc::new(SqliteQueues::new(db, QueueSettings::default())),
                sqs: None,
            })
        }
        Backend::Aws => {
            let resources = aws_resources()?;
            let config = aws_config().await;
            let sqs = SqsQueues::connect(&config, &resources.queue_names()).await?;
            let store = Arc::new(DynamoStore::new(&config, &resources.table));
            Ok(Ports {
                tenants: store.clone(),
                conversations: store.clone(),
                owner_state: store,
                secrets: Arc::new(SecretsManagerStore::new(
                    &config,
                    resources.secrets_cache_size,
                    resources.secrets_ttl,
                )?),
                queues: Arc::new(sqs.clone()),
                sqs: Some(sqs),
            })
        }
    }
}
