//! `comms queue stats`.

use std::path::Path;

use clap::Subcommand;
use comms_core::domain::Channel;

use crate::backend::{Backend, ports};
use crate::{CliResult, print_json};

#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Waiting, in-flight and dead-lettered messages per channel.
    Stats {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(serde::Serialize)]
struct Row {
    channel: Channel,
    #[serde(flatten)]
    stats: comms_core::ports::QueueStats,
}

pub async fn run(data_dir: &Path, backend: Backend, cmd: QueueCommand) -> CliResult {
    let QueueCommand::Stats { json } = cmd;
    let queues = ports(data_dir, backend).await?.stores.dead_letters;
    let mut rows = Vec::new();
    for channel in Channel::ALL {
        match queues.stats(channel).await {
            Ok(stats) => rows.push(Row { channel, stats }),
            // On AWS a channel may have no queues (not deployed yet): skip it.
            Err(e) if backend == Backend::Aws => tracing::debug!(%channel, error = %e, "no queues"),
            Err(e) => return Err(e.into()),
        }
    }
    if json {
        return print_json(&rows);
    }
    println!("{:<10} {:>8} {:>10} {:>10}", "CHANNEL", "DEPTH", "IN FLIGHT", "DLQ");
    for r in rows {
        println!(
            "{:<10} {:>8} {:>10} {:>10}",
            r.channel, r.stats.depth, r.stats.in_flight, r.stats.dlq_depth
        );
    }
    Ok(())
}
