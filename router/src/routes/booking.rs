//! `GET /availability`, `POST /bookings`, `GET /leads`: the same booking code the AI's
//! tools use ([`BookingDesk`]), so the web form and the assistant cannot double-book.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use comms_core::domain::tenant::TenantConfig;
use comms_core::domain::{OwnerState, PhoneNumber, TenantRef};
use comms_core::tools::schedule::format_time;
use comms_core::tools::{BookingDesk, BookingOutcome, BookingRequest};
use serde::Deserialize;
use serde_json::{Value, json};

use super::admin_state::tenant_from_query;
use crate::auth::{KeyKind, authorize, load_tenant, require_key};
use crate::error::ErrorCode;
use crate::json::{FromText, Parsed, Text, object_body, query_param, typed};
use crate::{ApiError, AppState};

async fn desk(app: &AppState, tenant: TenantConfig) -> Result<BookingDesk, ApiError> {
    let now = jiff::Timestamp::now();
    let owner =
        OwnerState::effective(app.owner_state.get(&tenant.tenant).await.map_err(ApiError::unavailable)?, now);
    Ok(BookingDesk { tenant: Arc::new(tenant), owner, now, bookings: Arc::clone(&app.bookings) })
}

fn date_param(q: &Option<String>) -> Result<jiff::civil::Date, ApiError> {
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes()).into_owned().collect();
    jiff::civil::Date::from_text(query_param(&pairs, "date")?).map_err(|e| ApiError::invalid_field("date", e))
}

/// Open slots on `?date=`; public when the tenant allows it, else with the admin key.
pub async fn availability(
    State(app): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    // Without a key, only a tenant with public availability answers anything but 401.
    let tenant_ref =
        tenant_from_query(&q).map_err(|e| require_key(&headers, KeyKind::Admin).err().unwrap_or(e))?;
    let public = load_tenant(&app, &tenant_ref).await?.filter(|t| t.booking.public_availability);
    let tenant = match public {
        Some(t) => t,
        None => authorize(&app, &headers, &tenant_ref, KeyKind::Admin).await?,
    };
    let date = date_param(&q)?;
    let (slots, note) = desk(&app, tenant).await?.open_slots(date).await.map_err(ApiError::unavailable)?;
    Ok(Json(
        json!({"date": date, "slots": slots.into_iter().map(format_time).collect::<Vec<_>>(), "note": note}),
    ))
}

/// The tenant of a booking, read before the key is checked.
#[derive(Deserialize)]
struct TenantPart {
    company_id: Text,
    project_id: Text,
}

/// `POST /bookings`'s body (unknown fields are ignored).
#[derive(Deserialize)]
struct BookingInput {
    date: Parsed<jiff::civil::Date>,
    time: Parsed<jiff::civil::Time>,
    phone: Parsed<PhoneNumber>,
    customer_name: Text,
    service: Text,
}

/// Books a slot from a web form (API key): `{company_id, project_id, date, time,
/// customer_name, phone, service}`. 201 with the lead, 409 if taken.
pub async fn create_booking(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    require_key(&headers, KeyKind::Api)?;
    let body = object_body(&headers, body)?;
    let TenantPart { company_id, project_id } = typed(&body)?;
    let tenant_ref = TenantRef::new(&company_id.0, &project_id.0)
        .map_err(|e| ApiError::invalid_field("company_id", e.to_string()))?;
    let tenant = authorize(&app, &headers, &tenant_ref, KeyKind::Api).await?;
    let input: BookingInput = typed(&body)?;
    let request = BookingRequest {
        date: input.date.0,
        time: input.time.0,
        customer_name: input.customer_name.0,
        phone: input.phone.0,
        service: input.service.0,
        conversation_id: None,
    };
    match desk(&app, tenant).await?.book(request).await.map_err(ApiError::unavailable)? {
        BookingOutcome::Booked(b) => Ok((
            StatusCode::CREATED,
            Json(
                json!({"lead_id": b.lead_id, "date": b.date, "time": format_time(b.time), "service": b.service}),
            ),
        )),
        BookingOutcome::NotOpen => {
            Err(ApiError::invalid_field("time", "not an open slot on that date (see GET /availability)"))
        }
        BookingOutcome::Taken => {
            Err(ApiError::new(StatusCode::CONFLICT, ErrorCode::SlotTaken, "that slot is already booked"))
        }
    }
}

/// The owner's leads (bookings) on `?date=`, with the admin key.
pub async fn leads(
    State(app): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    require_key(&headers, KeyKind::Admin)?;
    let tenant_ref = tenant_from_query(&q)?;
    authorize(&app, &headers, &tenant_ref, KeyKind::Admin).await?;
    let date = date_param(&q)?;
    let bookings = app.bookings.on_date(&tenant_ref, date).await.map_err(ApiError::unavailable)?;
    let leads: Vec<Value> = bookings
        .into_iter()
        .map(|b| json!({"lead_id": b.lead_id, "date": b.date, "time": format_time(b.time), "customer_name": b.customer_name,
                        "phone": b.phone, "service": b.service, "conversation_id": b.conversation_id, "created_at": b.created_at}))
        .collect();
    Ok(Json(json!({"date": date, "leads": leads})))
}
