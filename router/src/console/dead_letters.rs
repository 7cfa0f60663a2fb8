//! Dead letters (operators only): per channel, each message's reason, receive count and
//! first receive; replay one or all; purge with confirmation. Bodies are not shown
//! (they hold customers' numbers and texts); reasons are shown with digit runs masked.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use comms_core::domain::Channel;
use comms_core::ports::{DlqFilter, QueueStats};
use comms_core::redact::redact_digit_runs;

use super::ConsoleError;
use super::csrf::Posted;
use super::layout::{Layout, after_form, query_value, render};
use super::session::Console;
use crate::AppState;

/// The channels whose dead letters the page lists (those with a processor).
const CHANNELS: [Channel; 4] = [Channel::Sms, Channel::Whatsapp, Channel::Voice, Channel::Email];
/// Dead letters listed per channel.
const LIST_LIMIT: usize = 50;
/// Most messages one "replay all" moves.
const REPLAY_ALL_LIMIT: usize = 1000;

struct Row {
    message_id: String,
    tenant: String,
    kind: String,
    reason: String,
    receive_count: u32,
    first_received: String,
    sent_at: String,
}

struct ChannelDlq {
    channel: &'static str,
    stats: QueueStats,
    rows: Vec<Row>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "console/dead_letters.html")]
struct DeadLettersPage {
    layout: Layout,
    channels: Vec<ChannelDlq>,
}

async fn channel_dlq(state: &AppState, channel: Channel) -> ChannelDlq {
    let listed = async {
        let stats = state.dead_letters.stats(channel).await?;
        let letters = state.dead_letters.dlq_list(channel, LIST_LIMIT).await?;
        Ok::<_, comms_core::ports::QueueError>((stats, letters))
    };
    match listed.await {
        Ok((stats, letters)) => {
            let rows = letters
                .into_iter()
                .map(|d| Row {
                    tenant: d.attributes.get("company_id").cloned().unwrap_or_default(),
                    kind: d.attributes.get("kind").cloned().unwrap_or_default(),
                    reason: redact_digit_runs(d.reason.as_deref().unwrap_or("(no reason recorded)"))
                        .into_owned(),
                    receive_count: d.receive_count,
                    first_received: d.first_received_at.map(|t| t.to_string()).unwrap_or_default(),
                    sent_at: d.sent_at.to_string(),
                    message_id: d.message_id,
                })
                .collect();
            ChannelDlq { channel: channel.as_str(), stats, rows, error: None }
        }
        Err(e) => {
            tracing::warn!(%channel, error = %redact_digit_runs(&e.to_string()), "dead letters unavailable");
            ChannelDlq {
                channel: channel.as_str(),
                stats: QueueStats::default(),
                rows: Vec::new(),
                error: Some("unavailable".into()),
            }
        }
    }
}

/// `GET /console/dead-letters`.
pub async fn page(
    console: Console,
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
) -> Result<Response, ConsoleError> {
    console.require_operator()?;
    let mut channels = Vec::new();
    for channel in CHANNELS {
        channels.push(channel_dlq(&state, channel).await);
    }
    let layout =
        Layout::new(&console, "Dead letters", "dead-letters", None, query_value(&q, "msg").as_deref());
    render(&DeadLettersPage { layout, channels })
}

fn channel_of(text: &str) -> Result<Channel, ConsoleError> {
    CHANNELS.into_iter().find(|c| c.as_str() == text).ok_or_else(|| ConsoleError::NotFound("channel".into()))
}

/// `POST /console/dead-letters/{channel}/replay`: one (`message_id`) or all.
pub async fn replay(
    State(state): State<AppState>,
    Path(channel): Path<String>,
    posted: Posted,
) -> Result<Response, ConsoleError> {
    let Posted { console, fields } = posted;
    console.require_operator()?;
    let channel = channel_of(&channel)?;
    let moved = match fields.get("message_id") {
        Some(id) => {
            let filter = DlqFilter { message_id: Some(id.to_owned()), reason_contains: None };
            state.dead_letters.dlq_replay_matching(channel, 1, &filter).await
        }
        None => state.dead_letters.dlq_replay(channel, REPLAY_ALL_LIMIT).await,
    }
    .map_err(ConsoleError::store)?;
    tracing::info!(%channel, moved, "dead letters replayed from the console");
    Ok(after_form(&console, "/console/dead-letters", None, if moved > 0 { "replayed" } else { "nothing" }))
}

/// `POST /console/dead-letters/{channel}/purge`: only with `confirm=purge`.
pub async fn purge(
    State(state): State<AppState>,
    Path(channel): Path<String>,
    posted: Posted,
) -> Result<Response, ConsoleError> {
    let Posted { console, fields } = posted;
    console.require_operator()?;
    let channel = channel_of(&channel)?;
    if fields.get("confirm") != Some("purge") {
        return Err(ConsoleError::field("confirm", "type purge to confirm"));
    }
    let purged = state.dead_letters.dlq_purge(channel).await.map_err(ConsoleError::store)?;
    tracing::info!(%channel, purged, "dead letters purged from the console");
    Ok(after_form(&console, "/console/dead-letters", None, "purged"))
}
