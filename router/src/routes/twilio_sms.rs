//! `POST /twilio/sms` and `POST /twilio/whatsapp`: a customer's message, signature-checked,
//! onto the tenant's queue for that channel.

use axum::Extension;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use comms_core::domain::{
    Channel, ConversationId, Envelope, KindDetail, MAX_MEDIA, Media, MediaHosts, PhoneNumber, TenantRef,
};
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
    /// `MediaUrl{N}` / `MediaContentType{N}`, N below `NumMedia` (at most
    /// [`MAX_MEDIA`]), not yet checked against the media hosts.
    pub media: Vec<Media>,
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
        let media = media(form, num_media);
        Ok(Self { from, message_sid, body: form.param("Body").unwrap_or("").to_owned(), num_media, media })
    }

    /// The media on the allowed hosts; the others are dropped, with a log line (the URL
    /// itself is not logged: it is whatever the request said).
    fn keep_media_on(&mut self, hosts: &MediaHosts) {
        let before = self.media.len();
        self.media.retain(|m| hosts.allows(&m.url));
        if self.media.len() < before {
            tracing::warn!(dropped = before - self.media.len(), "media not on Twilio's media hosts dropped");
        }
    }
}

/// The media items the form lists (a missing URL is skipped; a missing type is unknown).
fn media(form: &Form, num_media: u32) -> Vec<Media> {
    let listed = usize::try_from(num_media).unwrap_or(usize::MAX).min(MAX_MEDIA);
    (0..listed)
        .filter_map(|i| {
            let url = form.param(&format!("MediaUrl{i}"))?.trim();
            let content_type =
                form.param(&format!("MediaContentType{i}")).unwrap_or("application/octet-stream");
            Some(Media { url: url.to_owned(), content_type: content_type.trim().to_owned() })
        })
        .collect()
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
    mut msg: InboundMessage,
    trace_id: String,
) -> Result<Response, ApiError> {
    let span = tracing::info_span!("webhook", %channel, tenant = %tenant, message_sid = %msg.message_sid,
        from = %msg.from.redacted());
    // Instrumented, not entered: a guard held across `.await` would leave this span
    // entered on the thread while other requests run there (their lines attributed to
    // this message, spans nested).
    let work = async move {
        msg.keep_media_on(&state.config.media_hosts);
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
            detail: KindDetail::Inbound { num_media: msg.num_media, email: None, media: msg.media },
        };
        let message =
            OutgoingMessage { body: envelope.to_json(), attributes: envelope.attributes(&trace_id) };
        let queue_id = state.queues.send(channel, message).await.map_err(ApiError::unavailable)?;
        tracing::info!(queue_message_id = %queue_id, trace_id, "inbound message enqueued");
        Ok(twiml_ok())
    };
    tracing::Instrument::instrument(work, span).await
}
