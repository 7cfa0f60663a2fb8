//! `comms tenant put|show`.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use comms_shared::domain::TenantRef;
use comms_shared::domain::tenant::TenantConfig;

use crate::backend::{Backend, store_ports};
use crate::{CliResult, print_json};

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create or replace a tenant from a JSON file (schema: docs/tenants.md).
    Put {
        /// Path of the tenant JSON file.
        file: PathBuf,
    },
    /// Show a tenant's configuration.
    Show {
        company_id: String,
        project_id: String,
        /// Print the stored JSON document instead of a summary.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(data_dir: &Path, backend: Backend, cmd: TenantCommand) -> CliResult {
    let tenants = store_ports(data_dir, backend).await?.tenants;
    match cmd {
        TenantCommand::Put { file } => {
            let text =
                std::fs::read_to_string(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            // The error lists every bad field by path.
            let config = TenantConfig::from_json(&text).map_err(|e| format!("{}: {e}", file.display()))?;
            tenants.put(&config).await?;
            println!("stored tenant {}", config.tenant);
            Ok(())
        }
        TenantCommand::Show { company_id, project_id, json } => {
            let tenant = TenantRef::new(&company_id, &project_id)?;
            let config = tenants.get(&tenant).await?.ok_or_else(|| format!("no tenant {tenant}"))?;
            if json {
                return print_json(&config);
            }
            println!("tenant:    {} ({} / {})", config.tenant, config.company_name, config.project_name);
            println!("status:    {:?}", config.project_status);
            let channels: Vec<String> = config.allowed_channels.iter().map(|c| c.to_string()).collect();
            println!("channels:  {}", channels.join(", "));
            for (channel, numbers) in &config.numbers {
                let numbers: Vec<String> = numbers.iter().map(|n| n.to_string()).collect();
                println!("numbers:   {channel}: {}", numbers.join(", "));
            }
            println!("model:     {} (max {} tool rounds)", config.ai.model, config.ai.max_tool_rounds);
            println!(
                "timezone:  {}, slots of {} min",
                config.scheduling.timezone, config.scheduling.slot_minutes
            );
            println!("discount:  at most {}%", config.discount_policy.max_percent);
            let keys: Vec<&str> = config.api_keys.iter().map(|k| k.id.as_str()).collect();
            println!("api keys:  {}", if keys.is_empty() { "(none)".into() } else { keys.join(", ") });
            Ok(())
        }
    }
}
