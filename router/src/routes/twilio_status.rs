//! `POST /twilio/status`: Twilio's delivery status callbacks for the replies we sent
//! (the `StatusCallback` of every send). Updates the stored delivery status.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use comms_core::domain::Channel;

use super::twilio_webhook;
use crate::{ApiError, AppState, PublicUrl};

/// Verifies the callback against the tenant that sent the message (`From`) and records
/// `MessageStatus` (never moving a message back to an earlier state).
pub async fn status_callback(
    State(state): State<AppState>,
    url: PublicUrl,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let hook = twilio_webhook::verify_for(&state, Channel::Sms, "From", &url, &headers, body).await?;
    let sid = hook.required("MessageSid")?;
    let status = hook.required("MessageStatus")?;
    if comms_core::twilio::status_rank(status) == 0 {
        return Err(ApiError::invalid_field("MessageStatus", format!("unknown message status '{status}'")));
    }
    let error_code = hook.param("ErrorCode").filter(|c| !c.is_empty());
    let stored = state
        .deliveries
        .record_status(&hook.tenant.tenant, sid, status, error_code, jiff::Timestamp::now())
        .await
        .map_err(ApiError::unavailable)?;
    tracing::info!(tenant = %hook.tenant.tenant, message_sid = sid, status, stored, "delivery status");
    Ok(StatusCode::NO_CONTENT.into_response())
}
