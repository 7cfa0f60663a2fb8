//! `comms tenant put|show`.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use comms_core::domain::TenantRef;
use comms_core::domain::tenant::TenantConfig;

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

/// Accepts key hashes pasted from `sha256sum` (`<hex>  -` or `<hex>  FILE`): the hash is
/// the first word. Anything else is left for the validation to judge.
fn tidy_key_hashes(text: &str) -> String {
    let Ok(mut doc) = serde_json::from_str::<serde_json::Value>(text) else { return text.to_owned() };
    let mut changed = false;
    for list in ["api_keys", "admin_keys"] {
        for key in doc.get_mut(list).and_then(|v| v.as_array_mut()).into_iter().flatten() {
            if let Some(hash) = key.get_mut("sha256")
                && let Some(s) = hash.as_str()
                && let Some(first) = s.split_whitespace().next()
                && first != s
                && first.len() == 64
            {
                *hash = first.to_ascii_lowercase().into();
                changed = true;
            }
        }
    }
    if changed { doc.to_string() } else { text.to_owned() }
}

pub async fn run(data_dir: &Path, backend: Backend, cmd: TenantCommand) -> CliResult {
    let tenants = store_ports(data_dir, backend).await?.stores.tenants;
    match cmd {
        TenantCommand::Put { file } => {
            let text =
                std::fs::read_to_string(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let text = tidy_key_hashes(&text);
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
