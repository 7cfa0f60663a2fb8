//! Read-side commands: `comms outbox`, `comms conversation list|show`, `comms dlq list`.

use std::path::Path;

use clap::Subcommand;
use comms_core::domain::{Channel, ConversationId, TenantRef};
use comms_core::ports::{DeadLetters, DlqFilter, ItemContent, describe_calls};
use comms_sqlite::{OutboxEntry, SqliteOutbox};
use serde_json::json;

use crate::backend::{Backend, ports, store_ports};
use crate::{CliResult, open_db, print_json};

/// `comms outbox [--json]`: replies stored instead of sent (no Twilio, or for email no
/// SendGrid, configured).
pub async fn outbox(data_dir: &Path, json: bool) -> CliResult {
    let all = SqliteOutbox::new(open_db(data_dir)?).all().await?;
    if json {
        return print_json(&all);
    }
    if all.is_empty() {
        println!("(outbox is empty)");
    }
    for entry in &all {
        println!("{}", outbox_entry(entry));
    }
    Ok(())
}

/// Lines of an email's text `comms outbox` shows (the rest is counted).
const EMAIL_PREVIEW_LINES: usize = 6;

/// One outbox entry as `comms outbox` prints it: a text in full; an email's recipient,
/// subject, threading headers and first lines.
fn outbox_entry(entry: &OutboxEntry) -> String {
    let m = &entry.sent;
    let head = format!("{}  {} -> {}  [{}]", m.sent_at, m.from, m.to, m.provider_id);
    let Some(email) = &entry.email else { return format!("{head}\n  {}\n", m.body) };
    let bracket = |id: &String| format!("<{id}>");
    let mut out = format!("{head}\n  Subject: {}\n", email.subject);
    if let Some(parent) = &email.in_reply_to {
        out.push_str(&format!("  In-Reply-To: {}\n", bracket(parent)));
    }
    if !email.references.is_empty() {
        let refs: Vec<String> = email.references.iter().map(bracket).collect();
        out.push_str(&format!("  References: {}\n", refs.join(" ")));
    }
    let lines: Vec<&str> = m.body.lines().collect();
    for line in lines.iter().take(EMAIL_PREVIEW_LINES) {
        out.push_str(&format!("  | {line}\n"));
    }
    if lines.len() > EMAIL_PREVIEW_LINES {
        out.push_str(&format!("  | ... ({} more lines)\n", lines.len() - EMAIL_PREVIEW_LINES));
    }
    out
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

pub async fn conversation(data_dir: &Path, backend: Backend, cmd: ConversationCommand) -> CliResult {
    let log = store_ports(data_dir, backend).await?.stores.conversations;
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
            match header.takeover_until {
                Some(until) if header.taken_over(jiff::Timestamp::now()) => {
                    println!("taken over by the owner until {until}: the assistant does not answer")
                }
                _ => println!("answered by the assistant"),
            }
            for i in items {
                let line = match &i.content {
                    ItemContent::Inbound { text, media } => customer_line(text, media),
                    ItemContent::ToolCall { call } => {
                        format!("  tool call {}({})", call.name, call.arguments)
                    }
                    ItemContent::ToolResult { name, result, .. } => format!("  tool result {name}: {result}"),
                    ItemContent::Reply { text, .. } => format!("assistant: {text}"),
                    ItemContent::Note { text } => format!("  note: {text}"),
                    ItemContent::OwnerReply { text, .. } => format!("owner: {text}"),
                    ItemContent::Notice { text, .. } => format!("notice: {text}"),
                    ItemContent::Usage { calls } => format!("  model usage: {}", describe_calls(calls)),
                };
                println!("{}  {line}", i.at.strftime("%Y-%m-%d %H:%M:%S"));
            }
        }
    }
    Ok(())
}

/// What the customer wrote, then one indented line per media item they sent (its type
/// and URL).
fn customer_line(text: &str, media: &[comms_core::domain::Media]) -> String {
    let mut line = format!("customer: {text}");
    for (i, m) in media.iter().enumerate() {
        line.push_str(&format!("\n{:19}  media {}/{}: {} {}", "", i + 1, media.len(), m.content_type, m.url));
    }
    line
}

#[derive(Debug, clap::Args)]
pub struct DlqTarget {
    /// The channel whose dead-letter queue to operate on.
    #[arg(long, default_value = "sms")]
    channel: Channel,
    /// At most this many messages.
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Dead-lettered messages with their receive count, first receive and failure reason.
    List {
        #[command(flatten)]
        target: DlqTarget,
        #[arg(long)]
        json: bool,
    },
    /// As list, with each message's body and attributes.
    Peek {
        #[command(flatten)]
        target: DlqTarget,
    },
    /// Move messages back to their source queue, body and attributes intact. Replayed
    /// messages are answered at most once: the turn records make a repeat harmless.
    Replay {
        #[command(flatten)]
        target: DlqTarget,
        /// Only show what would be replayed.
        #[arg(long)]
        dry_run: bool,
        /// Only messages whose recorded failure reason contains this text (leave
        /// unreadable poison messages behind, e.g. `--reason "temporarily unavailable"`).
        #[arg(long, conflicts_with = "native")]
        reason: Option<String>,
        /// Only the message with this id (as `dlq list` shows it).
        #[arg(long, conflicts_with = "native")]
        id: Option<String>,
        /// With --backend aws: let SQS move every message itself (StartMessageMoveTask,
        /// real AWS only; --limit does not apply). Without it, messages are received,
        /// sent to the source queue and then deleted, which works everywhere.
        #[arg(long)]
        native: bool,
    },
    /// Delete every message of the dead-letter queue.
    Purge {
        #[arg(long, default_value = "sms")]
        channel: Channel,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// Only show how many would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
}

fn dead_letter_json(d: &comms_core::ports::DeadLetter) -> serde_json::Value {
    json!({"message_id": d.message_id, "receive_count": d.receive_count, "sent_at": d.sent_at,
           "first_received_at": d.first_received_at, "reason": d.reason,
           "attributes": d.attributes, "body": d.body})
}

fn print_dead_letters(dead: &[comms_core::ports::DeadLetter], with_body: bool) {
    for d in dead {
        let first = d.first_received_at.map(|t| t.to_string()).unwrap_or_else(|| "-".into());
        println!(
            "{}  receives: {}  first seen: {first}\n  reason: {}",
            d.message_id,
            d.receive_count,
            d.reason.as_deref().unwrap_or("(none recorded)")
        );
        if with_body {
            println!("  attributes: {:?}\n  body: {}", d.attributes, d.body);
        }
    }
}

/// How many dead letters a filtered dry run looks through at most.
const DRY_RUN_SCAN_MAX: usize = 1000;

/// Reads a yes from standard input; anything else (or no input) is a no.
fn confirmed(question: &str) -> bool {
    use std::io::{BufRead, Write};
    print!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).is_ok_and(|_| matches!(line.trim(), "y" | "Y" | "yes"))
}

pub async fn dlq(data_dir: &Path, backend: Backend, cmd: DlqCommand) -> CliResult {
    let ports = ports(data_dir, backend).await?;
    if backend == Backend::Aws && !matches!(cmd, DlqCommand::Purge { .. }) {
        // Said on stderr, so --json output stays parseable.
        eprintln!(
            "note: SQS cannot peek; looking at a dead letter receives it and makes it visible again \
             at once. SQS counts that receive; the counts shown discount it (kept in the failures table)."
        );
    }
    if let DlqCommand::Replay { target, dry_run: false, native: true, .. } = &cmd {
        let sqs = ports.sqs.as_ref().ok_or("--native needs --backend aws (it is SQS's own redrive)")?;
        let handle = sqs.dlq_native_redrive(target.channel, None).await?;
        println!("started an SQS move task from the {} dead-letter queue to its queue", target.channel);
        println!("task handle: {handle}");
        println!("(progress: aws sqs list-message-move-tasks --source-arn <the DLQ's ARN>)");
        return Ok(());
    }
    dlq_on(ports.stores.dead_letters.as_ref(), cmd).await
}

/// The DLQ operations on any queue adapter.
pub async fn dlq_on(queues: &dyn DeadLetters, cmd: DlqCommand) -> CliResult {
    match cmd {
        DlqCommand::List { target, json } => {
            let dead = queues.dlq_list(target.channel, target.limit).await?;
            if json {
                return print_json(&dead.iter().map(dead_letter_json).collect::<Vec<_>>());
            }
            if dead.is_empty() {
                println!("({} dead-letter queue is empty)", target.channel);
            }
            print_dead_letters(&dead, false);
        }
        DlqCommand::Peek { target } => {
            let dead = queues.dlq_list(target.channel, target.limit).await?;
            if dead.is_empty() {
                println!("({} dead-letter queue is empty)", target.channel);
            }
            print_dead_letters(&dead, true);
        }
        DlqCommand::Replay { target, dry_run, native: _, reason, id } => {
            let filter = DlqFilter { message_id: id, reason_contains: reason };
            if dry_run {
                let scan = if filter.is_all() { target.limit } else { DRY_RUN_SCAN_MAX.max(target.limit) };
                let dead: Vec<_> = queues
                    .dlq_list(target.channel, scan)
                    .await?
                    .into_iter()
                    .filter(|d| filter.matches(&d.message_id, d.reason.as_deref()))
                    .take(target.limit)
                    .collect();
                println!("would replay {} message(s) to the {} queue:", dead.len(), target.channel);
                print_dead_letters(&dead, false);
            } else {
                let n = queues.dlq_replay_matching(target.channel, target.limit, &filter).await?;
                println!("replayed {n} message(s) to the {} queue", target.channel);
            }
        }
        DlqCommand::Purge { channel, yes, dry_run } => {
            let depth = queues.stats(channel).await?.dlq_depth;
            if dry_run {
                println!("would delete {depth} message(s) from the {channel} dead-letter queue");
                return Ok(());
            }
            if !yes && !confirmed(&format!("delete {depth} message(s) from the {channel} dead-letter queue?"))
            {
                return Err("not confirmed; nothing deleted (use --yes to skip the question)".into());
            }
            let n = queues.dlq_purge(channel).await?;
            println!("deleted {n} message(s) from the {channel} dead-letter queue");
        }
    }
    Ok(())
}
