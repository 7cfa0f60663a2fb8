//! `comms queue stats`.

use std::path::Path;

use clap::Subcommand;
use comms_shared::adapters::sqlite::{QueueSettings, SqliteQueues};
use comms_shared::domain::Channel;
use comms_shared::ports::Queues;

use crate::{CliResult, open_db, print_json};

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
    stats: comms_shared::ports::QueueStats,
}

pub async fn run(data_dir: &Path, cmd: QueueCommand) -> CliResult {
    let QueueCommand::Stats { json } = cmd;
    let queues = SqliteQueues::new(open_db(data_dir)?, QueueSettings::default());
    let mut rows = Vec::new();
    for channel in Channel::ALL {
        rows.push(Row { channel, stats: queues.stats(channel).await? });
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
