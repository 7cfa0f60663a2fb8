//! `POST /twilio/status`: Twilio's delivery status callbacks for the replies we sent
//! (the `StatusCallback` of every send). Updates the stored delivery status.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use comms_core::domain::Channel;
use comms_core::twilio::sid::MessageSid;

use super::twilio_webhook::{Form, TwilioWebhook, WebhookForm};
use crate::{ApiError, AppState};

/// A delivery status of a message the tenant sent (the tenant is found by `From`).
pub struct StatusUpdate {
    pub message_sid: MessageSid,
    pub status: String,
    pub error_code: Option<String>,
}

impl WebhookForm for StatusUpdate {
    const CHANNEL: Channel = Channel::Sms;
    const NUMBER_PARAM: &'static str = "From";

    fn from_form(form: &Form) -> Result<Self, ApiError> {
        let message_sid = form.parsed("MessageSid")?;
        let status = form.required("MessageStatus")?;
        if comms_core::twilio::status_rank(status) == 0 {
            return Err(ApiError::invalid_field(
                "MessageStatus",
                format!("unknown message status '{status}'"),
            ));
        }
        let error_code = form.param("ErrorCode").filter(|c| !c.is_empty()).map(str::to_owned);
        Ok(Self { message_sid, status: status.to_owned(), error_code })
    }
}

/// Records `MessageStatus` (never moving a message back to an earlier state).
pub async fn status_callback(
    State(state): State<AppState>,
    hook: TwilioWebhook<StatusUpdate>,
) -> Result<Response, ApiError> {
    let (tenant, update) = (&hook.tenant.tenant, &hook.form);
    let (sid, status) = (update.message_sid.as_str(), update.status.as_str());
    let stored = state
        .deliveries
        .record_status(tenant, sid, status, update.error_code.as_deref(), jiff::Timestamp::now())
        .await
        .map_err(ApiError::unavailable)?;
    tracing::info!(tenant = %tenant, message_sid = sid, status, stored, "delivery status");
    Ok(StatusCode::NO_CONTENT.into_response())
}
