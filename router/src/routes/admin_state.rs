//! `GET/PUT/DELETE /admin/state` and `GET /admin/state/history`: the owner's state, with
//! the tenant's admin key (`x-admin-key`); tenant by `?company_id=&project_id=`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use comms_core::domain::{OwnerMode, OwnerState, TenantRef};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{KeyKind, authorize, require_key};
use crate::json::{FromText, OptText, Text, keys, object_body, query_param, typed};
use crate::{ApiError, AppState};

/// The `company_id` and `project_id` query parameters.
pub fn tenant_from_query(query: &Option<String>) -> Result<TenantRef, ApiError> {
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes()).into_owned().collect();
    let company = query_param(&pairs, "company_id")?;
    let project = query_param(&pairs, "project_id")?;
    TenantRef::new(company, project).map_err(|e| ApiError::invalid_field("company_id", e.to_string()))
}

fn render(state: &OwnerState, is_default: bool) -> Value {
    json!({"mode": state.mode, "location": state.location, "notes": state.notes, "until": state.until,
           "updated_at": state.updated_at, "default": is_default, "description": state.describe()})
}

async fn current(app: &AppState, tenant: &TenantRef) -> Result<Value, ApiError> {
    let now = jiff::Timestamp::now();
    let stored = app.owner_state.get(tenant).await.map_err(ApiError::unavailable)?;
    let is_default = stored.as_ref().is_none_or(|s| s.until.is_some_and(|u| u <= now));
    Ok(render(&OwnerState::effective(stored, now), is_default))
}

/// The state in force now (the default, WORK, when none is set or it expired).
pub async fn get_state(
    State(app): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    require_key(&headers, KeyKind::Admin)?;
    let tenant = tenant_from_query(&q)?;
    authorize(&app, &headers, &tenant, KeyKind::Admin).await?;
    Ok(Json(current(&app, &tenant).await?))
}

/// `PUT /admin/state`'s body.
#[derive(Deserialize)]
struct OwnerStateInput {
    mode: Text,
    #[serde(default)]
    location: OptText,
    #[serde(default)]
    notes: OptText,
    #[serde(default)]
    until: OptText,
}

/// The fields `PUT /admin/state` takes; any other is refused (a misspelt `until` must
/// not set a state that never ends).
const FIELDS: [&str; 4] = ["mode", "location", "notes", "until"];

/// The state a valid body sets, at `now`.
fn owner_state(body: &Value, now: jiff::Timestamp) -> Result<OwnerState, ApiError> {
    if let Some(k) = keys(body).find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ApiError::invalid_field(k, "unknown field (expected mode, location, notes, until)"));
    }
    let OwnerStateInput { mode: Text(mode), location: OptText(location), notes: OptText(notes), until } =
        typed(body)?;
    if mode.len() > 40 {
        return Err(ApiError::invalid_field("mode", "must be at most 40 characters"));
    }
    if location.as_ref().is_some_and(|l| l.len() > 200) || notes.as_ref().is_some_and(|n| n.len() > 1000) {
        return Err(ApiError::invalid_field(
            "notes",
            "location is limited to 200 and notes to 1000 characters",
        ));
    }
    let until = match until.0 {
        None => None,
        Some(u) => {
            let ts = jiff::Timestamp::from_text(&u).map_err(|e| ApiError::invalid_field("until", e))?;
            if ts <= now {
                return Err(ApiError::invalid_field("until", "must be in the future"));
            }
            Some(ts)
        }
    };
    Ok(OwnerState { mode: OwnerMode::from(mode), location, notes, until, updated_at: now })
}

/// Sets the state: `{mode, location?, notes?, until?}`.
pub async fn put_state(
    State(app): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    require_key(&headers, KeyKind::Admin)?;
    let tenant = tenant_from_query(&q)?;
    authorize(&app, &headers, &tenant, KeyKind::Admin).await?;
    let state = owner_state(&object_body(&headers, body)?, jiff::Timestamp::now())?;
    app.owner_state.set(&tenant, &state).await.map_err(ApiError::unavailable)?;
    tracing::info!(tenant = %tenant, mode = %state.mode, "owner state set");
    Ok(Json(render(&state, false)))
}

/// Back to the default state.
pub async fn delete_state(
    State(app): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    require_key(&headers, KeyKind::Admin)?;
    let tenant = tenant_from_query(&q)?;
    authorize(&app, &headers, &tenant, KeyKind::Admin).await?;
    let now = jiff::Timestamp::now();
    app.owner_state.clear(&tenant, now).await.map_err(ApiError::unavailable)?;
    Ok(Json(render(&OwnerState::default_at(now), true)))
}

/// Every change, newest first (`state: null` is a reset).
pub async fn history(
    State(app): State<AppState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    require_key(&headers, KeyKind::Admin)?;
    let tenant = tenant_from_query(&q)?;
    authorize(&app, &headers, &tenant, KeyKind::Admin).await?;
    let rows = app.owner_state.history(&tenant, 100).await.map_err(ApiError::unavailable)?;
    let items: Vec<Value> = rows.into_iter().map(|(at, s)| json!({"at": at, "state": s})).collect();
    Ok(Json(json!({"history": items})))
}
