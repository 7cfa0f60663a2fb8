//! `comms secrets put|get` on the local secret store, or Secrets Manager with
//! `--backend aws`.

use std::io::Read;
use std::path::Path;

use clap::Subcommand;
use comms_aws::SecretsManagerStore;
use comms_core::ports::{Secret, SecretError, SecretWriter};
use comms_sqlite::SqliteSecrets;

use crate::backend::{Backend, aws_config};
use crate::{CliResult, open_db};

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Create or replace a secret.
    Put {
        /// `{credential_type}/{company_id}/{project_id}/{provider}` or `openai-api-key/{channel}`.
        name: String,
        /// The value; `-` reads it from standard input (keeps it out of shell history).
        value: String,
    },
    /// Print a secret's value.
    Get { name: String },
}

pub async fn run(data_dir: &Path, backend: Backend, cmd: SecretsCommand) -> CliResult {
    let secrets: Box<dyn SecretWriter> = match backend {
        Backend::Embedded => Box::new(SqliteSecrets::new(open_db(data_dir)?)),
        // No cache to speak of: an operator reading a secret wants its current value.
        Backend::Aws => {
            Box::new(SecretsManagerStore::new(&aws_config().await, 1, std::time::Duration::ZERO)?)
        }
    };
    match cmd {
        SecretsCommand::Put { name, value } => {
            let value = if value == "-" {
                let mut buf = String::new();
                std::io::stdin().read_to_string(&mut buf)?;
                buf.trim_end_matches(['\r', '\n']).to_owned()
            } else {
                value
            };
            secrets.put(&name, &Secret::new(value)).await?;
            println!("stored secret {name}");
        }
        SecretsCommand::Get { name } => println!("{}", secrets.get(&name).await?.expose()),
    }
    Ok(())
}

/// Makes the secret `name` with a random value (like the console's session secret) if
/// it is missing; an existing value is kept. Whether it was made now.
pub async fn ensure_random(secrets: &dyn SecretWriter, name: &str) -> CliResult<bool> {
    match secrets.get(name).await {
        Ok(_) => Ok(false),
        Err(SecretError::NotFound(_)) => {
            secrets.put(name, &comms_router::console::keys::random_secret()).await?;
            Ok(true)
        }
        Err(e) => Err(format!("cannot read the secret {name}: {e}").into()),
    }
}
