//! Today: the owner's state in one tap (WORK, GYM, OFF, VACATION or a custom one, with
//! an optional "until"), and what the assistant tells customers about availability
//! right now: the same owner line its system prompt gets and today's open slots as its
//! availability tool computes them.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use comms_core::domain::tenant::TenantConfig;
use comms_core::domain::{OwnerMode, OwnerState};
use comms_core::tools::schedule;
use jiff::tz::TimeZone;

use super::ConsoleError;
use super::csrf::Posted;
use super::layout::{Layout, after_form, render};
use super::session::TenantPage;
use crate::AppState;

#[derive(Template)]
#[template(path = "console/today.html")]
struct TodayPage {
    layout: Layout,
    mode: String,
    is_default: bool,
    until: String,
    notes: String,
    assistant_says: String,
    slots: String,
    slots_note: String,
    modes: [&'static str; 4],
}

fn zone(tenant: &TenantConfig) -> TimeZone {
    TimeZone::get(&tenant.scheduling.timezone).unwrap_or(TimeZone::UTC)
}

/// `GET /console/today`.
pub async fn page(page: TenantPage, State(state): State<AppState>) -> Result<Response, ConsoleError> {
    let tenant = &page.tenant;
    let now = jiff::Timestamp::now();
    let stored = state.owner_state.get(&tenant.tenant).await.map_err(ConsoleError::store)?;
    let is_default = stored.as_ref().is_none_or(|s| s.until.is_some_and(|u| u <= now));
    let owner = OwnerState::effective(stored, now);
    let tz = zone(tenant);
    let local = now.to_zoned(tz.clone());
    let booked = state.bookings.on_date(&tenant.tenant, local.date()).await.map_err(ConsoleError::store)?;
    let times: Vec<_> = booked.iter().map(|b| b.time).collect();
    let (slots, note) = schedule::open_slots(&tenant.scheduling, local.date(), &local, &owner, &times);
    let slots: Vec<String> = slots.into_iter().map(schedule::format_time).collect();
    let page = TodayPage {
        layout: page.layout("Today", "today"),
        mode: owner.mode.to_string(),
        is_default,
        until: owner.until.map(|u| u.to_zoned(tz).strftime("%Y-%m-%d %H:%M").to_string()).unwrap_or_default(),
        notes: owner.notes.clone().unwrap_or_default(),
        assistant_says: owner.describe(),
        slots: if slots.is_empty() { "none".into() } else { slots.join(", ") },
        slots_note: note.unwrap_or_default(),
        modes: ["WORK", "GYM", "OFF", "VACATION"],
    };
    render(&page)
}

/// The state a Today form sets, at `now`, in the tenant's time zone.
fn state_from(
    fields: &super::csrf::Fields,
    tz: &TimeZone,
    now: jiff::Timestamp,
) -> Result<OwnerState, ConsoleError> {
    let custom = fields.get("custom_text");
    if custom.is_some_and(|c| c.chars().any(char::is_control)) {
        return Err(ConsoleError::field("custom_text", "must be one line of text"));
    }
    let mode = match fields.required("state")?.to_ascii_uppercase().as_str() {
        "CUSTOM" => {
            let text =
                custom.ok_or_else(|| ConsoleError::field("custom_text", "a custom state needs its text"))?;
            if text.len() > 40 {
                return Err(ConsoleError::field("custom_text", "a custom state is at most 40 characters"));
            }
            OwnerMode::from(text.to_owned())
        }
        m @ ("WORK" | "GYM" | "OFF" | "VACATION") => OwnerMode::from(m.to_owned()),
        _ => return Err(ConsoleError::field("state", "expected WORK, GYM, OFF, VACATION or CUSTOM")),
    };
    let notes = match (&mode, custom) {
        (OwnerMode::Custom(_), _) | (_, None) => None,
        (_, Some(text)) if text.len() > 1000 => {
            return Err(ConsoleError::field("custom_text", "at most 1000 characters"));
        }
        (_, Some(text)) => Some(text.to_owned()),
    };
    let until = match fields.get("until") {
        None => None,
        Some(text) => {
            let local: jiff::civil::DateTime =
                text.parse().map_err(|_| ConsoleError::field("until", "expected YYYY-MM-DDTHH:MM"))?;
            let at = local
                .to_zoned(tz.clone())
                .map_err(|e| ConsoleError::field("until", e.to_string()))?
                .timestamp();
            if at <= now {
                return Err(ConsoleError::field("until", "must be in the future"));
            }
            Some(at)
        }
    };
    Ok(OwnerState { mode, location: None, notes, until, updated_at: now })
}

/// `POST /console/today/state`.
pub async fn set_state(State(state): State<AppState>, posted: Posted) -> Result<Response, ConsoleError> {
    let Posted { console, fields } = posted;
    let tenant = console.tenant(&state, fields.get("tenant")).await?;
    let owner = state_from(&fields, &zone(&tenant), jiff::Timestamp::now())?;
    state.owner_state.set(&tenant.tenant, &owner).await.map_err(ConsoleError::store)?;
    tracing::info!(tenant = %tenant.tenant, mode = %owner.mode, "owner state set from the console");
    Ok(after_form(&console, "/console/today", Some(&tenant.tenant.to_string()), "state-set"))
}

/// `POST /console/today/clear`: back to the default state.
pub async fn clear(State(state): State<AppState>, posted: Posted) -> Result<Response, ConsoleError> {
    let Posted { console, fields } = posted;
    let tenant = console.tenant(&state, fields.get("tenant")).await?;
    state.owner_state.clear(&tenant.tenant, jiff::Timestamp::now()).await.map_err(ConsoleError::store)?;
    tracing::info!(tenant = %tenant.tenant, "owner state cleared from the console");
    Ok(after_form(&console, "/console/today", Some(&tenant.tenant.to_string()), "state-cleared"))
}
