//! `POST /twilio/sms` and `POST /twilio/whatsapp`: a customer's message, signature-checked,
//! onto the tenant's queue for that channel.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use comms_core::domain::{Channel, ConversationId, Envelope, KindDetail};
use comms_core::ports::{ConsentAction, OutgoingMessage};

use super::twilio_webhook;
use crate::{ApiError, AppState, PublicUrl};

/// The answer Twilio gets: do nothing now; the reply is sent later through the REST API.
pub const EMPTY_TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#;

fn twiml_ok() -> Response {
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], EMPTY_TWIML).into_response()
}

/// Inbound SMS.
pub async fn sms_webhook(
    State(state): State<AppState>,
    url: PublicUrl,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    inbound(&state, Channel::Sms, &url, &headers, body).await
}

/// Inbound WhatsApp (addresses arrive as `whatsapp:+1...`).
pub async fn whatsapp_webhook(
    State(state): State<AppState>,
    url: PublicUrl,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    inbound(&state, Channel::Whatsapp, &url, &headers, body).await
}

/// Verifies the webhook, handles carrier keywords, and enqueues everything else as an
/// `inbound` envelope keyed by `MessageSid`.
async fn inbound(
    state: &AppState,
    channel: Channel,
    url: &PublicUrl,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let hook = twilio_webhook::verify(state, channel, url, headers, body).await?;
    let from = hook.phone("From")?;
    let message_sid = hook.required("MessageSid")?;
    let sid_ok = message_sid.len() == 34
        && (message_sid.starts_with("SM") || message_sid.starts_with("MM"))
        && message_sid[2..].bytes().all(|b| b.is_ascii_hexdigit());
    if !sid_ok {
        return Err(ApiError::invalid_field("MessageSid", "must be a 34-character Twilio message SID"));
    }
    let text = hook.param("Body").unwrap_or("");
    let num_media = match hook.param("NumMedia") {
        None => 0,
        Some(n) => n.parse().map_err(|_| ApiError::invalid_field("NumMedia", "must be a whole number"))?,
    };
    let tenant = &hook.tenant.tenant;
    let span =
        tracing::info_span!("webhook", %channel, tenant = %tenant, message_sid, from = %from.redacted());
    // Instrumented, not entered: a guard held across `.await` would leave this span
    // entered on the thread while other requests run there (their lines attributed to
    // this message, spans nested).
    let to = hook.to.clone();
    let work = async move {
        // Carrier keywords change consent and are never shown to the assistant.
        if let Some(action) = ConsentAction::from_keyword(text) {
            let keyword = text.trim().to_ascii_uppercase();
            state
                .consent
                .record(tenant, &from, action, &keyword, jiff::Timestamp::now())
                .await
                .map_err(ApiError::unavailable)?;
            tracing::info!(action = action.as_str(), "consent keyword recorded");
            return Ok(twiml_ok());
        }

        let envelope = Envelope {
            id: message_sid.to_owned(),
            tenant: tenant.clone(),
            channel,
            conversation_id: ConversationId::derive(tenant, channel, &from),
            from,
            to,
            body: text.to_owned(),
            received_at: jiff::Timestamp::now(),
            detail: KindDetail::Inbound { num_media },
        };
        let trace_id = uuid::Uuid::new_v4().to_string();
        let message =
            OutgoingMessage { body: envelope.to_json(), attributes: envelope.attributes(&trace_id) };
        let queue_id = state.queues.send(channel, message).await.map_err(ApiError::unavailable)?;
        tracing::info!(queue_message_id = %queue_id, trace_id, "inbound message enqueued");
        Ok(twiml_ok())
    };
    tracing::Instrument::instrument(work, span).await
}
