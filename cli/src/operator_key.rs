//! `comms operator-key create`: a key for the owner console that sees every tenant. Only
//! its SHA-256 is stored (in the secret `console/operator-keys`, with the others); the
//! key is printed once.

use std::path::Path;

use clap::Subcommand;
use comms_aws::SecretsManagerStore;
use comms_core::ports::SecretWriter;
use comms_sqlite::SqliteSecrets;

use crate::backend::{Backend, aws_config};
use crate::{CliResult, open_db};

#[derive(Debug, Subcommand)]
pub enum OperatorKeyCommand {
    /// Create an operator key and print it (once: only its hash is kept).
    Create {
        /// A name for the key, unique among the operator keys.
        #[arg(long)]
        id: String,
        /// The secret holding the keys' hashes (the router reads the same name).
        #[arg(long, default_value = comms_router::console::OPERATOR_KEYS_SECRET)]
        secret: String,
    },
}

pub async fn run(data_dir: &Path, backend: Backend, cmd: OperatorKeyCommand) -> CliResult {
    let secrets: Box<dyn SecretWriter> = match backend {
        Backend::Embedded => Box::new(SqliteSecrets::new(open_db(data_dir)?)),
        Backend::Aws => {
            Box::new(SecretsManagerStore::new(&aws_config().await, 1, std::time::Duration::ZERO)?)
        }
    };
    match cmd {
        OperatorKeyCommand::Create { id, secret } => {
            let key = comms_router::console::new_operator_key(secrets.as_ref(), &secret, &id).await?;
            eprintln!("operator key '{id}' created; its hash is in secret {secret}. It is shown once:");
            println!("{key}");
        }
    }
    Ok(())
}
