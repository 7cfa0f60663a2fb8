//! The voice channel's webhooks. A call is answered with a greeting inside a speech
//! `<Gather>`; each thing the caller says is queued as a `voice_turn` and the caller is
//! held (a filler, then a bounded pause-and-redirect loop) until the voice processor
//! updates the live call with the answer. Twilio's 15-second webhook limit is never
//! near: every answer here is immediate.
//!
//! Routes (all signature-checked; the query string is part of the signed URL):
//! - `POST /twilio/voice`: the call starts.
//! - `POST /twilio/voice/gather?turn=N[&empty=1]`: what the caller said on turn N.
//! - `POST /twilio/voice/wait?turn=N&n=K`: round K of the hold loop for turn N.

use axum::Extension;
use axum::extract::State;
use axum::http::{Uri, header};
use axum::response::{IntoResponse, Response};
use comms_core::domain::tenant::ProjectStatus;
use comms_core::domain::voice::{self, MAX_HOLD_LOOPS, TURN_LIMIT};
use comms_core::domain::{Channel, ConversationId, Envelope, KindDetail, OwnerState, PhoneNumber};
use comms_core::ports::OutgoingMessage;
use comms_core::twilio::sid::CallSid;
use comms_core::twilio::twiml::{Twiml, Verb};

use super::twilio_webhook::{Form, TwilioWebhook, WebhookForm};
use crate::trace::TraceId;
use crate::{ApiError, AppState};

fn twiml(verbs: &[Verb]) -> Response {
    let doc = Twiml::new(None, None).extend(verbs.iter().cloned());
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], doc.render()).into_response()
}

/// What every voice webhook carries: its `CallSid` (`CA` + 32 hex digits) and its
/// `From` (E.164), else a 400 naming the field; and what the caller said, if anything.
pub struct CallEvent {
    pub call_sid: CallSid,
    pub from: PhoneNumber,
    pub speech: String,
}

impl WebhookForm for CallEvent {
    const CHANNEL: Channel = Channel::Voice;

    fn from_form(form: &Form) -> Result<Self, ApiError> {
        let call_sid = form.parsed("CallSid")?;
        let from = form.phone("From")?;
        let speech = form.param("SpeechResult").unwrap_or("").trim().to_owned();
        Ok(Self { call_sid, from, speech })
    }
}

/// A whole-number query parameter within `1..=max`, or a 400 naming it.
fn query_number(uri: &Uri, name: &str, max: u32) -> Result<u32, ApiError> {
    let raw = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| ApiError::invalid_field(name, format!("query parameter {name} is required")))?;
    raw.parse::<u32>().ok().filter(|n| (1..=max).contains(n)).ok_or_else(|| {
        ApiError::invalid_field(name, format!("{name} must be a whole number from 1 to {max}"))
    })
}

fn query_flag(uri: &Uri, name: &str) -> bool {
    form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).any(|(k, v)| k == name && v == "1")
}

/// The call starts: greeting (aware of the owner's state) inside a speech `<Gather>`.
pub async fn voice_webhook(
    State(state): State<AppState>,
    hook: TwilioWebhook<CallEvent>,
) -> Result<Response, ApiError> {
    let (url, CallEvent { call_sid: sid, from, .. }) = (&hook.url, hook.form);
    let tenant = &hook.tenant;
    tracing::info!(tenant = %tenant.tenant, call_sid = %sid, from = %from.redacted(), "call started");
    if tenant.project_status != ProjectStatus::Active {
        return Ok(twiml(&voice::goodbye("Sorry, this line is not taking calls right now. Goodbye.")));
    }
    let now = jiff::Timestamp::now();
    let owner = state.owner_state.get(&tenant.tenant).await.map_err(ApiError::unavailable)?;
    let greeting = voice::greeting(&tenant.company_name, &OwnerState::effective(owner, now));
    Ok(twiml(&voice::welcome(&url.base, &greeting)))
}

/// What the caller said on a turn: queued for the voice processor, caller held. Silence
/// gets one reprompt, then a goodbye.
pub async fn gather(
    State(state): State<AppState>,
    trace: Option<Extension<TraceId>>,
    hook: TwilioWebhook<CallEvent>,
) -> Result<Response, ApiError> {
    let (url, CallEvent { call_sid: sid, from, speech }) = (&hook.url, hook.form);
    let turn = query_number(&url.uri, "turn", TURN_LIMIT)?;
    let base = &url.base;
    if speech.is_empty() {
        return Ok(twiml(&if query_flag(&url.uri, "empty") {
            voice::goodbye("Sorry, I still can't hear you. Please call again. Goodbye.")
        } else {
            voice::reprompt(base, turn)
        }));
    }
    let tenant = &hook.tenant.tenant;
    let envelope = Envelope {
        id: format!("{sid}-{turn}"),
        tenant: tenant.clone(),
        channel: Channel::Voice,
        conversation_id: ConversationId::derive(tenant, Channel::Voice, &from.clone().into()),
        from: from.into(),
        to: hook.to.clone().into(),
        body: speech,
        received_at: jiff::Timestamp::now(),
        detail: KindDetail::VoiceTurn { call_sid: sid.to_string(), turn },
    };
    let trace_id = TraceId::or_new(trace);
    let message = OutgoingMessage { body: envelope.to_json(), attributes: envelope.attributes(&trace_id) };
    let queue_id = state.queues.send(Channel::Voice, message).await.map_err(ApiError::unavailable)?;
    tracing::info!(tenant = %tenant, call_sid = %sid, turn, queue_message_id = %queue_id, trace_id, "voice turn enqueued");
    Ok(twiml(&voice::hold(base, turn)))
}

/// A round of the hold loop; bounded by [`MAX_HOLD_LOOPS`].
pub async fn wait(hook: TwilioWebhook<CallEvent>) -> Result<Response, ApiError> {
    let url = &hook.url;
    let turn = query_number(&url.uri, "turn", TURN_LIMIT)?;
    let n = query_number(&url.uri, "n", MAX_HOLD_LOOPS)?;
    Ok(twiml(&voice::hold_round(&url.base, turn, n)))
}
