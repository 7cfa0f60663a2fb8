//! `POST /initiate-conversation`: a company's backend starts an outbound conversation,
//! by SMS or WhatsApp (to `recipient_data.tel`) or by email (to `recipient_data.email`,
//! from the tenant's first email address).

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use comms_core::domain::tenant::{ProjectStatus, TenantConfig};
use comms_core::domain::{
    Address, Channel, ConversationId, EmailAddress, Envelope, KindDetail, PhoneNumber, TenantRef,
};
use comms_core::ports::{OutgoingMessage, RequestBegin};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::auth::{KeyKind, authorize, require_key};
use crate::error::ErrorCode;
use crate::json::{OptText, Parsed, Text, no_control_chars, object_body, typed};
use crate::trace::TraceId;
use crate::{ApiError, AppState};

/// How long a `request_id` is remembered for replays.
const REQUEST_TTL: jiff::SignedDuration = jiff::SignedDuration::from_hours(24 * 7);

/// The part read before the key is checked: which tenant.
#[derive(Deserialize)]
struct TenantPart {
    company_data: CompanyData,
}

#[derive(Deserialize)]
struct CompanyData {
    company_id: Text,
    project_id: Text,
}

/// The rest of the body (unknown fields are ignored).
#[derive(Deserialize)]
struct InitiateRequest {
    request_data: RequestData,
    recipient_data: RecipientData,
    #[serde(default)]
    project_data: Option<Value>,
}

#[derive(Deserialize)]
struct RequestData {
    request_id: Parsed<uuid::Uuid>,
    channel_method: Text,
    #[allow(dead_code)] // checked, not used: the queue time is ours
    initial_request_timestamp: Parsed<jiff::Timestamp>,
}

#[derive(Deserialize)]
struct RecipientData {
    first_name: Text,
    #[serde(default)]
    last_name: OptText,
    /// Required by email (checked as an address then), else only checked as text.
    #[serde(default)]
    email: OptText,
    /// Required by sms and whatsapp.
    #[serde(default)]
    tel: Option<Parsed<PhoneNumber>>,
    #[serde(default)]
    comms_consent: Option<Value>,
}

/// A validated request: what the envelope is made of.
struct Initiate {
    request_id: String,
    channel: Channel,
    name: String,
    /// The recipient: a phone number, or an email address by email.
    to: Address,
    project_data: Value,
}

fn channel_error(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> ApiError {
    ApiError::new(status, code, message).on_field("request_data.channel_method")
}

/// The body past the tenant: every field checked, in the order the API documents.
fn validate(body: &Value) -> Result<Initiate, ApiError> {
    let req: InitiateRequest = typed(body)?;
    let channel = req.request_data.channel_method.0.parse().ok();
    let channel =
        channel.filter(|c| matches!(c, Channel::Sms | Channel::Whatsapp | Channel::Email)).ok_or_else(
            || ApiError::invalid_field("request_data.channel_method", "must be sms, whatsapp or email"),
        )?;
    let recipient = req.recipient_data;
    let to = recipient_address(channel, recipient.tel, recipient.email)?;
    if recipient.comms_consent != Some(Value::Bool(true)) {
        let message = "the recipient's consent (true) is required";
        return Err(ApiError::invalid_field("recipient_data.comms_consent", message));
    }
    let project_data = match req.project_data {
        None | Some(Value::Null) => json!({}),
        Some(v @ Value::Object(_)) => {
            no_control_chars(&v, "project_data")?;
            v
        }
        Some(_) => return Err(ApiError::invalid_field("project_data", "must be an object")),
    };
    let name = [Some(recipient.first_name.0), recipient.last_name.0].into_iter().flatten();
    Ok(Initiate {
        request_id: req.request_data.request_id.0.to_string(),
        channel,
        name: name.collect::<Vec<_>>().join(" "),
        to,
        project_data,
    })
}

/// Who the conversation is with: `tel` on sms and whatsapp, `email` by email.
fn recipient_address(
    channel: Channel,
    tel: Option<Parsed<PhoneNumber>>,
    email: OptText,
) -> Result<Address, ApiError> {
    if channel != Channel::Email {
        let message = "recipient_data.tel is required for sms and whatsapp";
        return tel.map(|t| t.0.into()).ok_or_else(|| ApiError::invalid_field("recipient_data.tel", message));
    }
    let field = "recipient_data.email";
    let email = email
        .0
        .ok_or_else(|| ApiError::invalid_field(field, "recipient_data.email is required for email"))?;
    let address = EmailAddress::parse(&email).map_err(|e| ApiError::invalid_field(field, e.to_string()))?;
    Ok(Address::Email(address))
}

/// The sender for `channel` (its first number, or by email the first address), if the
/// project may use it.
fn sender(tenant: &TenantConfig, channel: Channel) -> Result<Address, ApiError> {
    if tenant.project_status != ProjectStatus::Active {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::ProjectInactive,
            "this project is not active",
        ));
    }
    if !tenant.allowed_channels.contains(&channel) {
        let message = format!("{channel} is not allowed for this project");
        return Err(channel_error(StatusCode::FORBIDDEN, ErrorCode::ChannelNotAllowed, message));
    }
    let from = match channel {
        Channel::Email => tenant.email_addresses().first().cloned().map(Address::Email),
        _ => tenant.numbers.get(&channel).and_then(|n| n.first()).cloned().map(Address::Phone),
    };
    from.ok_or_else(|| {
        let message = match channel {
            Channel::Email => "the project has no email section (email.addresses)".to_owned(),
            _ => format!("the project has no {channel} number"),
        };
        ApiError::new(StatusCode::CONFLICT, ErrorCode::ChannelNotConfigured, message)
    })
}

/// Idempotency: the whole body's hash is remembered under the request id (serde_json
/// maps are sorted, so key order in the request does not matter). `Some` is the answer
/// of an earlier identical request.
async fn begin(state: &AppState, key: &str, body: &Value) -> Result<Option<Value>, ApiError> {
    let hash = hex_sha256(&body.to_string());
    let expires = jiff::Timestamp::now().checked_add(REQUEST_TTL).unwrap_or_else(|_| jiff::Timestamp::now());
    match state.requests.begin(key, &hash, expires).await.map_err(ApiError::unavailable)? {
        RequestBegin::Existing { body_hash, .. } if body_hash != hash => {
            let message = "this request_id was used with a different body";
            Err(ApiError::new(StatusCode::CONFLICT, ErrorCode::RequestIdConflict, message)
                .on_field("request_data.request_id"))
        }
        RequestBegin::Existing { response: Some(answer), .. } => Ok(Some(answer)),
        // New, or an earlier attempt stopped before answering: (re)enqueue. A duplicate
        // message is harmless, the processor claims the request id once.
        RequestBegin::Existing { response: None, .. } | RequestBegin::New => Ok(None),
    }
}

/// Validates, authorises, and enqueues an `initiate` envelope, once per `request_id`.
pub async fn initiate_conversation(
    State(state): State<AppState>,
    trace: Option<Extension<TraceId>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    require_key(&headers, KeyKind::Api)?;
    let body = object_body(&headers, body)?;
    let TenantPart { company_data: c } = typed(&body)?;
    let tenant_ref = TenantRef::new(&c.company_id.0, &c.project_id.0)
        .map_err(|e| ApiError::invalid_field("company_data", e.to_string()))?;
    let tenant = authorize(&state, &headers, &tenant_ref, KeyKind::Api).await?;
    let req = validate(&body)?;
    let (channel, request_id) = (req.channel, req.request_id.clone());
    let from = sender(&tenant, channel)?;
    if state.consent.is_opted_out(&tenant_ref, &req.to).await.map_err(ApiError::unavailable)? {
        let message = "the recipient has opted out";
        return Err(ApiError::new(StatusCode::CONFLICT, ErrorCode::RecipientOptedOut, message));
    }
    let key = format!("initiate:{tenant_ref}:{request_id}");
    if let Some(answer) = begin(&state, &key, &body).await? {
        return Ok(Json(answer));
    }
    let conversation_id = ConversationId::derive(&tenant_ref, channel, &req.to);
    let now = jiff::Timestamp::now();
    let envelope = Envelope {
        id: request_id.clone(),
        tenant: tenant_ref.clone(),
        channel,
        conversation_id: conversation_id.clone(),
        from,
        to: req.to,
        body: String::new(),
        received_at: now,
        detail: KindDetail::Initiate {
            request_id: request_id.clone(),
            project_data: req.project_data,
            recipient_name: Some(req.name),
        },
    };
    let trace_id = TraceId::or_new(trace);
    let message = OutgoingMessage { body: envelope.to_json(), attributes: envelope.attributes(&trace_id) };
    state.queues.send(channel, message).await.map_err(ApiError::unavailable)?;
    let answer = json!({"status": "success", "request_id": request_id, "conversation_id": conversation_id,
                        "channel": channel, "queued_at": now});
    state.requests.complete(&key, &answer).await.map_err(ApiError::unavailable)?;
    tracing::info!(tenant = %tenant_ref, request_id, %channel, trace_id, "conversation initiated");
    Ok(Json(answer))
}

fn hex_sha256(s: &str) -> String {
    Sha256::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}
