//! `POST /twilio/sms` and `POST /twilio/whatsapp`: a customer's message, signature-checked,
//! onto the tenant's queue for that channel.

use axum::Extension;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use comms_core::domain::{Channel, ConversationId, Envelope, KindDetail, PhoneNumber, TenantRef};
use comms_core::ports::{ConsentAction, OutgoingMessage};
use comms_core::twilio::sid::MessageSid;

use super::twilio_webhook::{Form, TwilioWebhook, WebhookForm};
use crate::trace::TraceId;
use crate::{ApiError, AppState};

/// The answer Twilio gets: do nothing now; the reply is sent later through the REST API.
pub const EMPTY_TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#;

fn twiml_ok() -> Response {
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], EMPTY_TWIML).into_response()
}

/// What a customer sent.
pub struct InboundMessage {
    pub from: PhoneNumber,
    pub message_sid: MessageSid,
    pub body: String,
    pub num_media: u32,
}

impl InboundMessage {
    fn read(form: &Form) -> Result<Self, ApiError> {
        let from = form.phone("From")?;
        let message_sid = form.parsed("MessageSid")?;
        let num_media = match form.param("NumMedia") {
            None => 0,
            Some(n) => {
                n.parse().map_err(|_| ApiError::invalid_field("NumMedia", "must be a whole number"))?
            }
        };
        Ok(Self { from, message_sid, body: form.param("Body").unwrap_or("").to_owned(), num_media })
    }
}

/// An inbound SMS.
pub struct SmsMessage(InboundMessage);

impl WebhookForm for SmsMessage {
    const CHANNEL: Channel = Channel::Sms;
    fn from_form(form: &Form) -> Result<Self, ApiError> {
        InboundMessage::read(form).map(Self)
    }
}

/// An inbound WhatsApp message (addresses arrive as `whatsapp:+1...`).
pub struct WhatsappMessage(InboundMessage);

impl WebhookForm for WhatsappMessage {
    const CHANNEL: Channel = Channel::Whatsapp;
    fn from_form(form: &Form) -> Result<Self, ApiError> {
        InboundMessage::read(form).map(Self)
    }
}

/// Inbound SMS.
pub async fn sms_webhook(
    State(state): State<AppState>,
    trace: Option<Extension<TraceId>>,
    hook: TwilioWebhook<SmsMessage>,
) -> Result<Response, ApiError> {
    inbound(&state, Channel::Sms, hook.tenant.tenant, hook.to, hook.form.0, TraceId::or_new(trace)).await
}

/// Inbound WhatsApp.
pub async fn whatsapp_webhook(
    State(state): State<AppState>,
    trace: Option<Extension<TraceId>>,
    hook: TwilioWebhook<WhatsappMessage>,
) -> Result<Response, ApiError> {
    inbound(&state, Channel::Whatsapp, hook.tenant.tenant, hook.to, hook.form.0, TraceId::or_new(trace)).await
}

/// Handles carrier keywords, and enqueues everything else as an `inbound` envelope keyed
/// by `MessageSid`.
async fn inbound(
    state: &AppState,
    channel: Channel,
    tenant: TenantRef,
    to: PhoneNumber,
    msg: InboundMessage,
    trace_id: String,
) -> Result<Response, ApiError> {
    let span = tracing::info_span!("webhook", %channel, tenant = %tenant, message_sid = %msg.message_sid,
        from = %msg.from.redacted());
    // Instrumented, not entered: a guard held across `.await` would leave this span
    // entered on the thread while other requests run there (their lines attributed to
    // this message, spans nested).
    let work = async move {
        // Carrier keywords change consent and are never shown to the assistant.
        if let Some(action) = ConsentAction::from_keyword(&msg.body) {
            let keyword = msg.body.trim().to_ascii_uppercase();
            let now = jiff::Timestamp::now();
            state
                .consent
                .record(&tenant, &msg.from.clone().into(), action, &keyword, now)
                .await
                .map_err(ApiError::unavailable)?;
            tracing::info!(action = action.as_str(), "consent keyword recorded");
            return Ok(twiml_ok());
        }
        let envelope = Envelope {
            id: msg.message_sid.into(),
            conversation_id: ConversationId::derive(&tenant, channel, &msg.from.clone().into()),
            tenant,
            channel,
            from: msg.from.into(),
            to: to.into(),
            body: msg.body,
            received_at: jiff::Timestamp::now(),
            detail: KindDetail::inbound(msg.num_media),
        };
        let message =
            OutgoingMessage { body: envelope.to_json(), attributes: envelope.attributes(&trace_id) };
        let queue_id = state.queues.send(channel, message).await.map_err(ApiError::unavailable)?;
        tracing::info!(queue_message_id = %queue_id, trace_id, "inbound message enqueued");
        Ok(twiml_ok())
    };
    tracing::Instrument::instrument(work, span).await
}
