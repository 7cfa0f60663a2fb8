//! Read-side commands: `comms outbox`, `comms conversation list|show`, `comms dlq list`.

use std::path::Path;

use clap::Subcommand;
use comms_shared::adapters::sqlite::{QueueSettings, SqliteConversations, SqliteOutbox, SqliteQueues};
use comms_shared::domain::{Channel, ConversationId, TenantRef};
use comms_shared::ports::{ConversationLog, ItemContent, Queues};
use serde_json::json;

use crate::{CliResult, open_db, print_json};

/// `comms outbox [--json]`: replies stored instead of sent (no Twilio configured).
pub async fn outbox(data_dir: &Path, json: bool) -> CliResult {
    let all = SqliteOutbox::new(open_db(data_dir)?).all().await?;
    if json {
        return print_json(&all);
    }
    if all.is_empty() {
        println!("(outbox is empty)");
    }
    for m in all {
        println!("{}  {} -> {}  [{}]\n  {}\n", m.sent_at, m.from, m.to, m.provider_id, m.body);
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum ConversationCommand {
    /// Conversations by most recent activity.
    List {
        /// Only this tenant's (`COMPANY/PROJECT`).
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Every item of one conversation, oldest first.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

/// Parses `COMPANY/PROJECT`.
pub fn parse_tenant(s: &str) -> CliResult<TenantRef> {
    let (c, p) = s.split_once('/').ok_or("tenant must be COMPANY/PROJECT")?;
    Ok(TenantRef::new(c, p)?)
}

pub async fn conversation(data_dir: &Path, cmd: ConversationCommand) -> CliResult {
    let log = SqliteConversations::new(open_db(data_dir)?);
    match cmd {
        ConversationCommand::List { tenant, limit, json } => {
            let tenant = tenant.as_deref().map(parse_tenant).transpose()?;
            let list = log.list(tenant.as_ref(), limit).await?;
            if json {
                return print_json(&list);
            }
            println!("{:<45} {:<8} {:>6}  LAST ACTIVITY", "CONVERSATION", "CHANNEL", "ITEMS");
            for c in list {
                println!(
                    "{:<45} {:<8} {:>6}  {}",
                    c.conversation_id.as_str(),
                    c.channel,
                    c.item_count,
                    c.last_activity
                );
            }
        }
        ConversationCommand::Show { id, json } => {
            let id = ConversationId::from_stored(id);
            let header = log.get(&id).await?.ok_or_else(|| format!("no conversation {id}"))?;
            let items = log.recent(&id, 10_000).await?;
            if json {
                return print_json(&json!({"conversation": header, "items": items}));
            }
            println!("{} ({} with {})", header.conversation_id, header.channel, header.customer);
            for i in items {
                let line = match &i.content {
                    ItemContent::Inbound { text } => format!("customer: {text}"),
                    ItemContent::ToolCall { call } => {
                        format!("  tool call {}({})", call.name, call.arguments)
                    }
                    ItemContent::ToolResult { name, result, .. } => format!("  tool result {name}: {result}"),
                    ItemContent::Reply { text, .. } => format!("assistant: {text}"),
                    ItemContent::Note { text } => format!("  note: {text}"),
                };
                println!("{}  {line}", i.at.strftime("%Y-%m-%d %H:%M:%S"));
            }
        }
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Dead-lettered messages with their receive count, first receive and failure reason.
    List {
        #[arg(long, default_value = "sms")]
        channel: Channel,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
}

pub async fn dlq(data_dir: &Path, cmd: DlqCommand) -> CliResult {
    let DlqCommand::List { channel, limit, json } = cmd;
    let queues = SqliteQueues::new(open_db(data_dir)?, QueueSettings::default());
    let dead = queues.dlq_list(channel, limit).await?;
    if json {
        let rows: Vec<_> = dead
            .iter()
            .map(|d| {
                json!({"message_id": d.message_id, "receive_count": d.receive_count, "sent_at": d.sent_at,
                       "first_received_at": d.first_received_at, "reason": d.reason,
                       "attributes": d.attributes, "body": d.body})
            })
            .collect();
        return print_json(&rows);
    }
    if dead.is_empty() {
        println!("({channel} dead-letter queue is empty)");
    }
    for d in dead {
        let first = d.first_received_at.map(|t| t.to_string()).unwrap_or_else(|| "-".into());
        println!(
            "{}  receives: {}  first seen: {first}\n  reason: {}",
            d.message_id,
            d.receive_count,
            d.reason.as_deref().unwrap_or("(none recorded)")
        );
    }
    Ok(())
}
