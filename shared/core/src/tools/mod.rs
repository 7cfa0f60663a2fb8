//! The assistant's tools: declared once (name, description, JSON schema), executed by
//! code. The model proposes; the code decides. Policy lives here, never only in the
//! prompt: discounts never exceed the tenant's maximum, a slot is never double-booked,
//! and arguments that do not fit the schema come back to the model as a tool error
//! without running anything.

mod handoff;
pub mod schedule;

use std::sync::Arc;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

pub use handoff::HandoffContext;

use crate::domain::tenant::{TenantConfig, ToolName};
use crate::domain::{Address, OwnerState, PhoneNumber};
use crate::ports::{Booking, Bookings, Ledger, LedgerEntry, Reservation, StoreError, ToolCall, ToolSpec};

/// What a tool may see and touch while running for one conversation.
#[derive(Clone)]
pub struct ToolContext {
    pub tenant: Arc<TenantConfig>,
    pub conversation_id: String,
    /// The conversation's customer: bookings are made for this number (the model is not
    /// given it, and cannot name another). A customer known by email cannot book (a
    /// booking is kept by phone number).
    pub customer: Address,
    pub owner: OwnerState,
    pub now: jiff::Timestamp,
    pub bookings: Arc<dyn Bookings>,
    pub ledger: Arc<dyn Ledger>,
    /// What `request_human` needs; `None` where no hand-off is possible (the tool then
    /// answers that nobody is available).
    pub handoff: Option<HandoffContext>,
}

/// Availability and booking for one tenant at one moment: the single implementation
/// behind both the AI tools and the booking API, so neither can bypass the other's rules.
#[derive(Clone)]
pub struct BookingDesk {
    pub tenant: Arc<TenantConfig>,
    pub owner: OwnerState,
    pub now: jiff::Timestamp,
    pub bookings: Arc<dyn Bookings>,
}

/// What a booking attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BookingOutcome {
    /// Booked (or already booked by this same customer: their booking).
    Booked(Booking),
    /// Not an open slot by the rules (hours, past, owner state).
    NotOpen,
    /// Someone else holds it.
    Taken,
}

/// A booking request, already parsed.
#[derive(Debug, Clone)]
pub struct BookingRequest {
    pub date: jiff::civil::Date,
    pub time: jiff::civil::Time,
    pub customer_name: String,
    pub phone: PhoneNumber,
    pub service: String,
    pub conversation_id: Option<String>,
}

impl BookingDesk {
    /// The tenant's local "now".
    pub fn local_now(&self) -> jiff::Zoned {
        let tz = jiff::tz::TimeZone::get(&self.tenant.scheduling.timezone).unwrap_or(jiff::tz::TimeZone::UTC);
        self.now.to_zoned(tz)
    }

    /// Open slots of `date` and a note about the owner's state, if any.
    pub async fn open_slots(
        &self,
        date: jiff::civil::Date,
    ) -> Result<(Vec<jiff::civil::Time>, Option<String>), StoreError> {
        let booked: Vec<_> =
            self.bookings.on_date(&self.tenant.tenant, date).await?.into_iter().map(|b| b.time).collect();
        Ok(schedule::open_slots(&self.tenant.scheduling, date, &self.local_now(), &self.owner, &booked))
    }

    /// Books a slot: it must be open by the rules; then a conditional reservation decides.
    pub async fn book(&self, r: BookingRequest) -> Result<BookingOutcome, StoreError> {
        let (open, _) =
            schedule::open_slots(&self.tenant.scheduling, r.date, &self.local_now(), &self.owner, &[]);
        if !open.contains(&r.time) {
            return Ok(BookingOutcome::NotOpen);
        }
        let created = self.local_now();
        let lead_id = format!(
            "LEAD-{}-{}",
            created.strftime("%Y%m%d-%H%M%S"),
            &uuid::Uuid::new_v4().simple().to_string()[..6].to_ascii_uppercase()
        );
        let booking = Booking {
            tenant: self.tenant.tenant.clone(),
            date: r.date,
            time: r.time,
            lead_id,
            customer_name: r.customer_name,
            phone: r.phone,
            service: r.service,
            conversation_id: r.conversation_id,
            created_at: self.now,
        };
        Ok(match self.bookings.reserve(&booking).await? {
            Reservation::Created(b) | Reservation::AlreadyYours(b) => BookingOutcome::Booked(b),
            Reservation::Taken => BookingOutcome::Taken,
        })
    }
}

/// A tool could not run because storage failed: the turn must be retried.
#[derive(Debug, thiserror::Error)]
#[error("tool {tool} failed: {source}")]
pub struct ToolFailure {
    pub tool: String,
    #[source]
    pub source: StoreError,
}

/// The declarations of the tenant's enabled tools.
pub fn specs(enabled: &[ToolName]) -> Vec<ToolSpec> {
    enabled.iter().map(|t| spec(*t)).collect()
}

fn spec(tool: ToolName) -> ToolSpec {
    let (description, parameters) = match tool {
        ToolName::CheckAvailability => (
            "List the open appointment slots on a date (business time zone).",
            json!({"type": "object", "additionalProperties": false, "required": ["date"], "properties": {
                "date": {"type": "string", "description": "YYYY-MM-DD"},
                "time": {"type": "string", "description": "HH:MM, to check one time"}}}),
        ),
        ToolName::BookSlot => (
            "Book an open slot for the customer of this conversation (their own number is used); \
             creates a lead.",
            json!({"type": "object", "additionalProperties": false,
                "required": ["date", "time", "customer_name", "service"], "properties": {
                "date": {"type": "string", "description": "YYYY-MM-DD"},
                "time": {"type": "string", "description": "HH:MM, one of the open slots"},
                "customer_name": {"type": "string"},
                "service": {"type": "string"}}}),
        ),
        ToolName::AuthorizeDiscount => (
            "Ask for a discount for this customer; approved only up to the business's maximum.",
            json!({"type": "object", "additionalProperties": false, "required": ["percent", "reason"], "properties": {
                "percent": {"type": "number", "minimum": 0, "maximum": 100},
                "reason": {"type": "string"}}}),
        ),
        ToolName::LogUpsell => (
            "Record an upsell offered to the customer and whether they accepted.",
            json!({"type": "object", "additionalProperties": false, "required": ["item", "price", "accepted"], "properties": {
                "item": {"type": "string"},
                "price": {"type": "number", "minimum": 0},
                "accepted": {"type": "boolean"}}}),
        ),
        ToolName::RequestHuman => (
            "Hand this conversation to the shop's owner, a real person, when the customer asks for a \
             person, a human or the owner, or when you cannot help. The owner is notified and answers \
             personally; you stop answering this conversation.",
            json!({"type": "object", "additionalProperties": false, "required": ["reason"], "properties": {
                "reason": {"type": "string", "description": "one short line for the owner"}}}),
        ),
    };
    ToolSpec { name: tool.as_str().to_owned(), description: description.to_owned(), parameters }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AvailabilityArgs {
    date: String,
    time: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BookArgs {
    date: String,
    time: String,
    customer_name: String,
    service: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DiscountArgs {
    percent: f64,
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpsellArgs {
    item: String,
    price: f64,
    accepted: bool,
}

fn tool_error(message: impl Into<String>) -> Value {
    json!({"error": message.into()})
}

fn args<T: DeserializeOwned>(call: &ToolCall) -> Result<T, Value> {
    serde_json::from_str(&call.arguments).map_err(|e| tool_error(format!("invalid arguments: {e}")))
}

/// Runs one tool call and returns its JSON result for the model. Bad arguments, unknown
/// or disabled tools and policy refusals are results (the model can recover); only a
/// storage failure is an error (the turn is retried).
pub async fn execute(ctx: &ToolContext, call: &ToolCall) -> Result<Value, ToolFailure> {
    let enabled = ctx.tenant.ai.enabled_tools.iter().find(|t| t.as_str() == call.name).copied();
    let Some(tool) = enabled else {
        return Ok(tool_error(format!("unknown or disabled tool '{}'", call.name)));
    };
    let started = std::time::Instant::now();
    let result = run(ctx, call, tool).await;
    let outcome = crate::metrics::outcome(&result);
    metrics::histogram!(crate::metrics::TOOL_LATENCY_MS, "tool" => tool.as_str(), "outcome" => outcome)
        .record(crate::metrics::ms(started.elapsed()));
    result
}

/// Runs an enabled tool.
async fn run(ctx: &ToolContext, call: &ToolCall, tool: ToolName) -> Result<Value, ToolFailure> {
    let fail = |source| ToolFailure { tool: call.name.clone(), source };
    let result = match tool {
        ToolName::CheckAvailability => match args::<AvailabilityArgs>(call) {
            Ok(a) => check_availability(ctx, a).await.map_err(fail)?,
            Err(e) => e,
        },
        ToolName::BookSlot => match args::<BookArgs>(call) {
            Ok(a) => book_slot(ctx, a).await.map_err(fail)?,
            Err(e) => e,
        },
        ToolName::AuthorizeDiscount => match args::<DiscountArgs>(call) {
            Ok(a) => authorize_discount(ctx, a).await.map_err(fail)?,
            Err(e) => e,
        },
        ToolName::LogUpsell => match args::<UpsellArgs>(call) {
            Ok(a) => log_upsell(ctx, a).await.map_err(fail)?,
            Err(e) => e,
        },
        ToolName::RequestHuman => match args::<handoff::HumanArgs>(call) {
            Ok(a) => handoff::request_human(ctx, a).await.map_err(fail)?,
            Err(e) => e,
        },
    };
    Ok(result)
}

fn desk(ctx: &ToolContext) -> BookingDesk {
    BookingDesk {
        tenant: Arc::clone(&ctx.tenant),
        owner: ctx.owner.clone(),
        now: ctx.now,
        bookings: Arc::clone(&ctx.bookings),
    }
}

async fn check_availability(ctx: &ToolContext, a: AvailabilityArgs) -> Result<Value, StoreError> {
    let Some(date) = schedule::parse_date(&a.date) else {
        return Ok(tool_error("date must be YYYY-MM-DD"));
    };
    let wanted = match a.time.as_deref().map(schedule::parse_time) {
        Some(None) => return Ok(tool_error("time must be HH:MM")),
        Some(Some(t)) => Some(t),
        None => None,
    };
    let (slots, note) = desk(ctx).open_slots(date).await?;
    let mut out = json!({
        "date": date.to_string(),
        "slots": slots.iter().map(|t| schedule::format_time(*t)).collect::<Vec<_>>(),
        "owner_state": ctx.owner.mode.to_string(),
    });
    if let Some(t) = wanted {
        out["requested_time_open"] = json!(slots.contains(&t));
    }
    if let Some(n) = note {
        out["note"] = json!(n);
    }
    Ok(out)
}

async fn book_slot(ctx: &ToolContext, a: BookArgs) -> Result<Value, StoreError> {
    let (Some(date), Some(time)) = (schedule::parse_date(&a.date), schedule::parse_time(&a.time)) else {
        return Ok(tool_error("date must be YYYY-MM-DD and time HH:MM"));
    };
    if a.customer_name.trim().is_empty() || a.service.trim().is_empty() {
        return Ok(tool_error("customer_name and service must not be empty"));
    }
    let Some(phone) = ctx.customer.phone().cloned() else {
        return Ok(tool_error(
            "bookings are made by phone number: ask the customer to text or call the shop",
        ));
    };
    let request = BookingRequest {
        date,
        time,
        customer_name: a.customer_name.trim().to_owned(),
        // The conversation's customer, never a number from the model's arguments.
        phone,
        service: a.service.trim().to_owned(),
        conversation_id: Some(ctx.conversation_id.clone()),
    };
    Ok(match desk(ctx).book(request).await? {
        BookingOutcome::Booked(b) => json!({
            "booked": true, "lead_id": b.lead_id, "date": b.date.to_string(),
            "time": schedule::format_time(b.time), "service": b.service}),
        BookingOutcome::NotOpen => {
            json!({"booked": false, "reason": "not an open slot; call check_availability"})
        }
        BookingOutcome::Taken => {
            json!({"booked": false, "reason": "that slot was just taken; offer another"})
        }
    })
}

async fn authorize_discount(ctx: &ToolContext, a: DiscountArgs) -> Result<Value, StoreError> {
    if !(0.0..=100.0).contains(&a.percent) || !a.percent.is_finite() {
        return Ok(tool_error("percent must be between 0 and 100"));
    }
    let max = f64::from(ctx.tenant.discount_policy.max_percent);
    let approved = a.percent <= max;
    let result = if approved {
        json!({"approved": true, "percent": a.percent})
    } else {
        json!({"approved": false, "requested_percent": a.percent, "max_percent": max,
               "message": format!("at most {max}% can be offered")})
    };
    ctx.ledger
        .record(&LedgerEntry {
            tenant: ctx.tenant.tenant.clone(),
            conversation_id: Some(ctx.conversation_id.clone()),
            kind: "discount".into(),
            data: json!({"requested_percent": a.percent, "approved": approved, "reason": a.reason}),
            at: ctx.now,
        })
        .await?;
    Ok(result)
}

async fn log_upsell(ctx: &ToolContext, a: UpsellArgs) -> Result<Value, StoreError> {
    if !(a.price.is_finite() && a.price >= 0.0) || a.item.trim().is_empty() {
        return Ok(tool_error("item must not be empty and price must be 0 or more"));
    }
    ctx.ledger
        .record(&LedgerEntry {
            tenant: ctx.tenant.tenant.clone(),
            conversation_id: Some(ctx.conversation_id.clone()),
            kind: "upsell".into(),
            data: json!({"item": a.item, "price": a.price, "accepted": a.accepted}),
            at: ctx.now,
        })
        .await?;
    Ok(json!({"logged": true}))
}
