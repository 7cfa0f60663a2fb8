//! One conversation: its transcript (inbound messages, tool calls and results, the
//! assistant's replies, the owner's replies, notices and notes, each sent text with its
//! delivery status from the status callbacks), take over / hand back, and the owner's
//! reply (a direct send, idempotent by the key the form was rendered with).

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use comms_core::domain::tenant::TenantConfig;
use comms_core::domain::{Author, Channel, ConversationId, Media};
use comms_core::ports::{ConversationItem, ConversationSummary, ItemContent, describe_calls};

use super::ConsoleError;
use super::csrf::Posted;
use super::layout::{Layout, after_form, query_value, render};
use super::mask;
use super::outbound::Direct;
use super::session::Console;
use crate::AppState;

/// Items shown.
const ITEMS: usize = 200;
/// Longest owner reply (ten SMS segments).
const MAX_REPLY: usize = 1600;

struct Line {
    class: &'static str,
    label: String,
    text: String,
    at: String,
    status: String,
    /// "2 photos" (empty without media), and the links to them.
    media_label: String,
    media_links: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/conversation.html")]
struct TranscriptPage {
    layout: Layout,
    reference: String,
    customer: String,
    channel: String,
    taken_over_until: Option<String>,
    lines: Vec<Line>,
    idempotency_key: String,
}

/// A conversation this session may act on: its id, header and tenant. Another tenant's
/// (for an owner) is a 404, as is one that does not exist.
struct Opened {
    id: ConversationId,
    summary: ConversationSummary,
    tenant: TenantConfig,
}

async fn open(console: &Console, state: &AppState, reference: &str) -> Result<Opened, ConsoleError> {
    let missing = || ConsoleError::NotFound("conversation".into());
    let id = mask::reveal(reference, &console.key, &console.session.sid).ok_or_else(missing)?;
    let summary = state.conversations.get(&id).await.map_err(ConsoleError::store)?.ok_or_else(missing)?;
    if !console.may_see(&summary.tenant) {
        return Err(missing());
    }
    let tenant = console.tenant(state, Some(&summary.tenant.to_string())).await?;
    Ok(Opened { id, summary, tenant })
}

async fn status(state: &AppState, tenant: &TenantConfig, provider_ids: &[String]) -> String {
    let mut out = Vec::new();
    for id in provider_ids {
        match state.deliveries.status(&tenant.tenant, id).await {
            Ok(Some((s, Some(code)))) => out.push(format!("{s} ({code})")),
            Ok(Some((s, None))) => out.push(s),
            Ok(None) => out.push("sent".into()),
            Err(_) => out.push("status unavailable".into()),
        }
    }
    out.join(", ")
}

async fn line(state: &AppState, tenant: &TenantConfig, item: ConversationItem) -> Line {
    let at = super::layout::shop_time(Some(tenant), item.at, true);
    let (media_label, media_links) = match &item.content {
        ItemContent::Inbound { media, .. } => media_line(media),
        _ => (String::new(), Vec::new()),
    };
    let (class, label, text, ids) = match item.content {
        ItemContent::Inbound { text, .. } => ("inbound", "Customer".into(), text, Vec::new()),
        ItemContent::ToolCall { call } => {
            ("tool", format!("Tool call {}", call.name), call.arguments, Vec::new())
        }
        ItemContent::ToolResult { name, result, .. } => {
            ("tool", format!("Tool result {name}"), result, Vec::new())
        }
        ItemContent::Reply { text, provider_ids } => ("reply", "Assistant".into(), text, provider_ids),
        ItemContent::OwnerReply { text, provider_ids } => ("owner", "You".into(), text, provider_ids),
        ItemContent::Notice { text, provider_ids } => ("note", "Notice".into(), text, provider_ids),
        ItemContent::Note { text } => ("note", "Note".into(), text, Vec::new()),
        ItemContent::Usage { calls } => ("tool", "Model usage".into(), describe_calls(&calls), Vec::new()),
    };
    let status = if ids.is_empty() { String::new() } else { status(state, tenant, &ids).await };
    Line { class, label, text, at, status, media_label, media_links }
}

/// "1 photo" / "N photos" and the media's links (only `https` ones: the router keeps
/// nothing else, and a stored item is not trusted to be a safe link).
fn media_line(media: &[Media]) -> (String, Vec<String>) {
    let label = match media.len() {
        0 => String::new(),
        1 => "1 photo".to_owned(),
        n => format!("{n} photos"),
    };
    let links = media.iter().filter(|m| m.url.starts_with("https://")).map(|m| m.url.clone()).collect();
    (label, links)
}

/// `GET /console/conversations/{id}`: an operator who opens one sees its number.
pub async fn page(
    console: Console,
    State(state): State<AppState>,
    Path(reference): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ConsoleError> {
    let Opened { id, summary, tenant } = open(&console, &state, &reference).await?;
    let items = state.conversations.recent(&id, ITEMS).await.map_err(ConsoleError::store)?;
    let mut lines = Vec::with_capacity(items.len());
    for item in items {
        lines.push(line(&state, &tenant, item).await);
    }
    if console.is_operator() {
        tracing::info!(conversation = %id.redacted(), "operator opened a conversation");
    }
    let now = jiff::Timestamp::now();
    let name = tenant.tenant.to_string();
    let page = TranscriptPage {
        layout: Layout::new(
            &console,
            "Conversation",
            "conversations",
            Some(&name),
            query_value(&q, "msg").as_deref(),
        ),
        reference,
        customer: summary.customer.to_string(),
        channel: summary.channel.to_string(),
        taken_over_until: summary
            .takeover_until
            .filter(|u| *u > now)
            .map(|u| super::layout::shop_time(Some(&tenant), u, false)),
        lines,
        idempotency_key: uuid::Uuid::new_v4().to_string(),
    };
    render(&page)
}

/// `POST /console/conversations/{id}/takeover`: the assistant stops answering it until
/// handed back or the tenant's takeover time has passed.
pub async fn takeover(
    State(state): State<AppState>,
    Path(reference): Path<String>,
    posted: Posted,
) -> Result<Response, ConsoleError> {
    let console = posted.console;
    let Opened { id, tenant, .. } = open(&console, &state, &reference).await?;
    let until = jiff::Timestamp::now()
        .checked_add(tenant.handoff.takeover_for())
        .map_err(|e| ConsoleError::Internal(format!("takeover time: {e}")))?;
    set(&state, &tenant, &id, Some(until)).await?;
    Ok(after_form(&console, &format!("/console/conversations/{reference}"), None, "taken-over"))
}

/// `POST /console/conversations/{id}/handback`: the assistant answers again.
pub async fn handback(
    State(state): State<AppState>,
    Path(reference): Path<String>,
    posted: Posted,
) -> Result<Response, ConsoleError> {
    let console = posted.console;
    let Opened { id, tenant, .. } = open(&console, &state, &reference).await?;
    set(&state, &tenant, &id, None).await?;
    Ok(after_form(&console, &format!("/console/conversations/{reference}"), None, "handed-back"))
}

async fn set(
    state: &AppState,
    tenant: &TenantConfig,
    id: &ConversationId,
    until: Option<jiff::Timestamp>,
) -> Result<(), ConsoleError> {
    if !state.conversations.set_takeover(&tenant.tenant, id, until).await.map_err(ConsoleError::store)? {
        return Err(ConsoleError::NotFound("conversation".into()));
    }
    tracing::info!(conversation = %id.redacted(), taken_over = until.is_some(), "takeover changed from the console");
    Ok(())
}

/// Whether an idempotency key is one the form could have carried.
fn valid_key(key: &str) -> bool {
    (8..=64).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// `POST /console/conversations/{id}/reply`: `text` from the shop's number, as the
/// owner's item; `idempotency_key` makes a resubmitted form send once.
pub async fn reply(
    State(state): State<AppState>,
    Path(reference): Path<String>,
    posted: Posted,
) -> Result<Response, ConsoleError> {
    let Posted { console, fields } = posted;
    let Opened { summary, tenant, .. } = open(&console, &state, &reference).await?;
    let text = fields.required("text")?;
    if text.chars().count() > MAX_REPLY {
        return Err(ConsoleError::field("text", format!("at most {MAX_REPLY} characters")));
    }
    let key = fields.required("idempotency_key")?;
    if !valid_key(key) {
        return Err(ConsoleError::field("idempotency_key", "8 to 64 letters, digits or '-'"));
    }
    // A caller's conversation (voice) is answered by text on the same number.
    let channel = match summary.channel {
        Channel::Voice => Channel::Sms,
        Channel::Email => {
            return Err(ConsoleError::field("channel", "replies by email are not supported here"));
        }
        c => c,
    };
    let Some(customer) = summary.customer.phone() else {
        return Err(ConsoleError::field("channel", "replies by email are not supported here"));
    };
    let id = format!("owner:{key}");
    let direct = Direct { channel, customer, id, text: text.to_owned(), author: Author::Owner };
    super::outbound::send(&state, &console, &tenant, direct).await?;
    Ok(after_form(&console, &format!("/console/conversations/{reference}"), None, "reply-queued"))
}
