//! An operator's tenant pages need a tenant: opened without one, they offer the tenants
//! of recent conversations (and the box in the header for any other).

use askama::Template;
use axum::response::Response;

use super::ConsoleError;
use super::layout::{Layout, encode, render, root_of};
use super::session::Console;
use crate::AppState;

/// Conversations looked at for their tenants.
const RECENT: usize = 200;

struct Choice {
    name: String,
    href: String,
}

#[derive(Template)]
#[template(path = "console/pick_tenant.html")]
struct PickPage {
    layout: Layout,
    choices: Vec<Choice>,
}

/// The page offering tenants for the page at `path`.
pub async fn page(console: &Console, state: &AppState, path: &str) -> Result<Response, ConsoleError> {
    let recent = state.conversations.list(None, RECENT).await.map_err(ConsoleError::store)?;
    let mut names: Vec<String> = recent.iter().map(|s| s.tenant.to_string()).collect();
    names.sort();
    names.dedup();
    let root = root_of(&console.base);
    let choices = names
        .into_iter()
        .map(|name| Choice { href: format!("{root}{path}?tenant={}", encode(&name)), name })
        .collect();
    let nav = match path.trim_start_matches("/console/") {
        "today" => "today",
        "bookings" => "bookings",
        "leads" => "leads",
        _ => "qr",
    };
    render(&PickPage { layout: Layout::new(console, "Choose a tenant", nav, None, None), choices })
}
