//! `POST /email/events`: SendGrid's Event Webhook for mail the tenants sent. Each event
//! names its tenant (the `company_id`/`project_id` custom args every send carries); the
//! batch's signature must verify with the Event Webhook key of every tenant it names.
//! Delivered, bounce and dropped are recorded per message; a bounce or a spam report
//! opts the recipient out.

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use comms_core::domain::{Address, EmailAddress, TenantRef};
use comms_core::ports::ConsentAction;
use comms_core::sendgrid::inbound_events::{self, EmailEvent};

use super::email_webhook::{SignedHeaders, missing_signature, tenant_keys, verify};
use crate::error::ErrorCode;
use crate::{ApiError, AppState};

/// Records a batch of events (204), once its signature checks out for its tenants.
pub async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(ApiError::from_body_rejection)?;
    let signed = SignedHeaders::of(&headers).ok_or_else(missing_signature)?;
    let events = inbound_events::parse(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::MalformedJson, e.to_string()))?;
    let tenants = tenants_of(&events)?;
    for tenant in &tenants {
        let config = state.tenants.get(tenant).await.map_err(ApiError::unavailable)?;
        let config = config.ok_or_else(|| {
            ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "an event names an unknown tenant")
                .on_field("company_id")
        })?;
        let keys = tenant_keys(&state, &config).await?;
        verify(keys.events.as_ref(), &signed, &body, &config)?;
    }
    let now = jiff::Timestamp::now();
    for event in &events {
        let Some(tenant) = tenant_ref(event) else { continue };
        record(&state, &tenant, event, now).await?;
    }
    tracing::info!(events = events.len(), tenants = tenants.len(), "email events recorded");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The tenants the batch names; events of mail not sent by a tenant are ignored.
fn tenants_of(events: &[EmailEvent]) -> Result<BTreeSet<TenantRef>, ApiError> {
    let mut tenants = BTreeSet::new();
    for event in events.iter().filter(|e| e.tenant.is_some()) {
        let tenant = tenant_ref(event).ok_or_else(|| {
            ApiError::invalid_field("company_id", "company_id and project_id must be valid tenant ids")
        })?;
        tenants.insert(tenant);
    }
    Ok(tenants)
}

fn tenant_ref(event: &EmailEvent) -> Option<TenantRef> {
    let (company, project) = event.tenant.as_ref()?;
    TenantRef::new(company, project).ok()
}

async fn record(
    state: &AppState,
    tenant: &TenantRef,
    event: &EmailEvent,
    now: jiff::Timestamp,
) -> Result<(), ApiError> {
    if let (Some((status, code)), Some(id)) = (event.delivery_status(), event.provider_id.as_deref()) {
        state
            .deliveries
            .record_status(tenant, id, status, code.as_deref(), now)
            .await
            .map_err(ApiError::unavailable)?;
    }
    if event.opts_out() {
        // An unreadable recipient cannot be mailed either: nothing to record.
        let Ok(address) = EmailAddress::parse(&event.email) else { return Ok(()) };
        let keyword = if event.delivery_status().is_some() { "BOUNCE" } else { "SPAMREPORT" };
        state
            .consent
            .record(tenant, &Address::Email(address), ConsentAction::OptOut, keyword, now)
            .await
            .map_err(ApiError::unavailable)?;
    }
    Ok(())
}
