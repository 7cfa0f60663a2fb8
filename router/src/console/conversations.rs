//! Conversations by recency, searchable by number or text. An owner sees their own; an
//! operator all of them (or one tenant's), numbers masked and links hiding them.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use comms_core::ports::ConversationSummary;

use super::ConsoleError;
use super::layout::{Layout, query_value, render};
use super::mask;
use super::session::Console;
use crate::AppState;

/// Conversations listed.
const LIMIT: usize = 50;

struct Row {
    href: String,
    customer: String,
    channel: String,
    tenant: String,
    last_activity: String,
    items: u64,
    taken_over: bool,
}

#[derive(Template)]
#[template(path = "console/conversations.html")]
struct ListPage {
    layout: Layout,
    q: String,
    rows: Vec<Row>,
}

/// The link reference of a conversation for this session (hidden for operators).
pub fn reference(console: &Console, summary: &ConversationSummary) -> String {
    if console.is_operator() {
        mask::hide(&summary.conversation_id, &console.key, &console.session.sid)
    } else {
        summary.conversation_id.to_string()
    }
}

/// `GET /console/conversations` (`q`: a number's digits or some text).
pub async fn list(
    console: Console,
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
) -> Result<Response, ConsoleError> {
    let requested = query_value(&q, "tenant");
    let tenant = match (&console.own_tenant, requested.as_deref()) {
        (None, None) => None,
        (_, requested) => Some(console.tenant(&state, requested).await?),
    };
    let search = query_value(&q, "q").unwrap_or_default();
    if search.len() > 100 || search.chars().any(char::is_control) {
        return Err(ConsoleError::field("q", "one line of at most 100 characters"));
    }
    let scope = tenant.as_ref().map(|t| &t.tenant);
    let found = if search.is_empty() {
        state.conversations.list(scope, LIMIT).await
    } else {
        state.conversations.search(scope, &search, LIMIT).await
    }
    .map_err(ConsoleError::store)?;
    let now = jiff::Timestamp::now();
    let root = super::layout::root_of(&console.base);
    let rows = found
        .iter()
        .filter(|s| console.may_see(&s.tenant))
        .map(|s| Row {
            href: format!("{root}/console/conversations/{}", reference(&console, s)),
            customer: if console.is_operator() { s.customer.redacted() } else { s.customer.to_string() },
            channel: s.channel.to_string(),
            tenant: s.tenant.to_string(),
            last_activity: super::layout::shop_time(tenant.as_ref(), s.last_activity, false),
            items: s.item_count,
            taken_over: s.takeover_until.is_some_and(|u| u > now),
        })
        .collect();
    let name = tenant.map(|t| t.tenant.to_string());
    let layout = Layout::new(
        &console,
        "Conversations",
        "conversations",
        name.as_deref(),
        query_value(&q, "msg").as_deref(),
    );
    render(&ListPage { layout, q: search, rows })
}
