//! `comms state set|get|clear|history`: the owner's current state.

use std::path::Path;

use clap::Subcommand;
use comms_core::domain::{OwnerMode, OwnerState};

use crate::backend::{Backend, store_ports};
use crate::inspect::parse_tenant;
use crate::{CliResult, print_json};

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Set the owner's state: WORK, GYM, OFF, VACATION or any custom word.
    Set {
        mode: String,
        #[arg(long)]
        location: Option<String>,
        #[arg(long)]
        notes: Option<String>,
        /// When the state ends (RFC 3339, e.g. 2026-11-23T18:00:00Z), or a duration from
        /// now such as `2h` or `90m`.
        #[arg(long)]
        until: Option<String>,
        #[arg(long, default_value = "demo/repair-shop")]
        tenant: String,
    },
    /// Show the state in force now.
    Get {
        #[arg(long, default_value = "demo/repair-shop")]
        tenant: String,
        #[arg(long)]
        json: bool,
    },
    /// Back to the default (WORK).
    Clear {
        #[arg(long, default_value = "demo/repair-shop")]
        tenant: String,
    },
    /// Past changes, newest first.
    History {
        #[arg(long, default_value = "demo/repair-shop")]
        tenant: String,
        #[arg(long)]
        json: bool,
    },
}

fn parse_until(s: &str, now: jiff::Timestamp) -> CliResult<jiff::Timestamp> {
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Ok(ts);
    }
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 =
        num.parse().map_err(|_| format!("--until: '{s}' is neither RFC 3339 nor a duration like 2h"))?;
    let secs = match unit {
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("--until: unit must be m, h or d in '{s}'").into()),
    };
    Ok(now.checked_add(jiff::SignedDuration::from_secs(secs))?)
}

pub async fn run(data_dir: &Path, backend: Backend, cmd: StateCommand) -> CliResult {
    let store = store_ports(data_dir, backend).await?.stores.owner_state;
    let now = jiff::Timestamp::now();
    match cmd {
        StateCommand::Set { mode, location, notes, until, tenant } => {
            let tenant = parse_tenant(&tenant)?;
            if mode.trim().is_empty() {
                return Err("mode must not be empty".into());
            }
            let until = until.as_deref().map(|u| parse_until(u, now)).transpose()?;
            if until.is_some_and(|u| u <= now) {
                return Err("--until must be in the future".into());
            }
            let state = OwnerState { mode: OwnerMode::from(mode), location, notes, until, updated_at: now };
            store.set(&tenant, &state).await?;
            println!("{}", state.describe());
        }
        StateCommand::Get { tenant, json } => {
            let tenant = parse_tenant(&tenant)?;
            let state = OwnerState::effective(store.get(&tenant).await?, now);
            if json {
                return print_json(&state);
            }
            println!("{}", state.describe());
        }
        StateCommand::Clear { tenant } => {
            store.clear(&parse_tenant(&tenant)?, now).await?;
            println!("{}", OwnerState::default_at(now).describe());
        }
        StateCommand::History { tenant, json } => {
            let history = store.history(&parse_tenant(&tenant)?, 100).await?;
            if json {
                return print_json(&history);
            }
            for (at, state) in history {
                println!("{at}  {}", state.map_or("cleared".to_owned(), |s| s.describe()));
            }
        }
    }
    Ok(())
}
