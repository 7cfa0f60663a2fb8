//! Bookings (upcoming, by day; cancel one: the slot frees up and the customer gets a
//! text) and Leads. Operators see customers' numbers masked.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use comms_core::domain::tenant::TenantConfig;
use comms_core::domain::{Author, Channel};
use comms_core::ports::Booking;
use comms_core::tools::schedule;

use super::ConsoleError;
use super::csrf::Posted;
use super::layout::{Layout, after_form, render};
use super::outbound::Direct;
use super::session::{Console, TenantPage};
use crate::AppState;

/// Days of upcoming bookings shown (and searched for the one to cancel).
const DAYS_AHEAD: u32 = 60;
/// Leads listed.
const LEADS_LIMIT: usize = 200;

struct Row {
    lead_id: String,
    date: String,
    time: String,
    name: String,
    phone: String,
    service: String,
    created: String,
}

struct Day {
    date: String,
    rows: Vec<Row>,
}

#[derive(Template)]
#[template(path = "console/bookings.html")]
struct BookingsPage {
    layout: Layout,
    days: Vec<Day>,
}

#[derive(Template)]
#[template(path = "console/leads.html")]
struct LeadsPage {
    layout: Layout,
    rows: Vec<Row>,
}

fn row(console: &Console, b: &Booking) -> Row {
    Row {
        lead_id: b.lead_id.clone(),
        date: b.date.to_string(),
        time: schedule::format_time(b.time),
        name: b.customer_name.clone(),
        phone: if console.is_operator() { b.phone.redacted() } else { b.phone.to_string() },
        service: b.service.clone(),
        created: b.created_at.strftime("%Y-%m-%d %H:%M UTC").to_string(),
    }
}

fn today(tenant: &TenantConfig) -> jiff::civil::Date {
    let tz = jiff::tz::TimeZone::get(&tenant.scheduling.timezone).unwrap_or(jiff::tz::TimeZone::UTC);
    jiff::Timestamp::now().to_zoned(tz).date()
}

/// `GET /console/bookings`.
pub async fn page(page: TenantPage, State(state): State<AppState>) -> Result<Response, ConsoleError> {
    let (console, tenant) = (&page.console, &page.tenant);
    let upcoming = state
        .bookings
        .upcoming(&tenant.tenant, today(tenant), DAYS_AHEAD)
        .await
        .map_err(ConsoleError::store)?;
    let mut days: Vec<Day> = Vec::new();
    for b in &upcoming {
        let date = b.date.strftime("%A %Y-%m-%d").to_string();
        match days.last_mut() {
            Some(d) if d.date == date => d.rows.push(row(console, b)),
            _ => days.push(Day { date, rows: vec![row(console, b)] }),
        }
    }
    render(&BookingsPage { layout: page.layout("Bookings", "bookings"), days })
}

/// `GET /console/leads`.
pub async fn leads(page: TenantPage, State(state): State<AppState>) -> Result<Response, ConsoleError> {
    let leads = state.bookings.leads(&page.tenant.tenant, LEADS_LIMIT).await.map_err(ConsoleError::store)?;
    let rows = leads.iter().map(|b| row(&page.console, b)).collect();
    render(&LeadsPage { layout: page.layout("Leads", "leads"), rows })
}

/// `POST /console/bookings/{lead_id}/cancel`: the customer's text is enqueued first (a
/// direct send with id `cancel:{lead_id}`, so a retried form sends it once), then the
/// booking is cancelled and its slot freed. A failure between the two leaves the booking
/// in place and the form can be sent again.
pub async fn cancel(
    State(state): State<AppState>,
    Path(lead_id): Path<String>,
    posted: Posted,
) -> Result<Response, ConsoleError> {
    let Posted { console, fields } = posted;
    let tenant = console.tenant(&state, fields.get("tenant")).await?;
    let from = today(&tenant).yesterday().unwrap_or(today(&tenant));
    let upcoming =
        state.bookings.upcoming(&tenant.tenant, from, DAYS_AHEAD + 1).await.map_err(ConsoleError::store)?;
    let booking = upcoming
        .into_iter()
        .find(|b| b.lead_id == lead_id)
        .ok_or_else(|| ConsoleError::NotFound("booking".into()))?;
    let text = format!(
        "{}: your booking for {} on {} at {} is cancelled. Reply to this text to book another time.",
        tenant.company_name,
        booking.service,
        booking.date,
        schedule::format_time(booking.time)
    );
    let id = format!("cancel:{lead_id}");
    let direct = Direct { channel: Channel::Sms, customer: &booking.phone, id, text, author: Author::System };
    super::outbound::send(&state, &console, &tenant, direct).await?;
    state.bookings.cancel(&tenant.tenant, &lead_id).await.map_err(ConsoleError::store)?;
    tracing::info!(tenant = %tenant.tenant, lead_id, "booking cancelled from the console");
    Ok(after_form(&console, "/console/bookings", Some(&tenant.tenant.to_string()), "cancelled"))
}
