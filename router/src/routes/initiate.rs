//! `POST /initiate-conversation`: a company's backend starts an outbound conversation.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use comms_core::domain::tenant::ProjectStatus;
use comms_core::domain::{Channel, ConversationId, Envelope, KindDetail, PhoneNumber, TenantRef};
use comms_core::ports::{OutgoingMessage, RequestBegin};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::auth::{KeyKind, authorize, require_key};
use crate::json::{no_control_chars, object, object_body, opt_string, string};
use crate::{ApiError, AppState};

/// How long a `request_id` is remembered for replays.
const REQUEST_TTL: jiff::SignedDuration = jiff::SignedDuration::from_hours(24 * 7);

/// Validates, authorises, and enqueues an `initiate` envelope, once per `request_id`.
pub async fn initiate_conversation(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    require_key(&headers, KeyKind::Api)?;
    let body = object_body(&headers, body)?;
    let company = object(&body, "", "company_data")?;
    let tenant_ref = TenantRef::new(
        string(company, "company_data", "company_id")?,
        string(company, "company_data", "project_id")?,
    )
    .map_err(|e| ApiError::invalid_field("company_data", e.to_string()))?;
    let tenant = authorize(&state, &headers, &tenant_ref, KeyKind::Api).await?;

    let request = object(&body, "", "request_data")?;
    let request_id = string(request, "request_data", "request_id")?;
    let request_id = uuid::Uuid::parse_str(request_id)
        .map_err(|_| ApiError::invalid_field("request_data.request_id", "must be a UUID"))?
        .to_string();
    let channel: Channel = match string(request, "request_data", "channel_method")? {
        "email" => {
            return Err(ApiError {
                field: Some("request_data.channel_method".into()),
                ..ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "channel_not_supported",
                    "the email channel is not available yet",
                )
            });
        }
        other => {
            other.parse().ok().filter(|c| matches!(c, Channel::Sms | Channel::Whatsapp)).ok_or_else(|| {
                ApiError::invalid_field("request_data.channel_method", "must be sms or whatsapp")
            })?
        }
    };
    let requested_at = string(request, "request_data", "initial_request_timestamp")?;
    requested_at.parse::<jiff::Timestamp>().map_err(|_| {
        ApiError::invalid_field("request_data.initial_request_timestamp", "must be an RFC 3339 timestamp")
    })?;

    let recipient = object(&body, "", "recipient_data")?;
    let first_name = string(recipient, "recipient_data", "first_name")?;
    let last_name = opt_string(recipient, "recipient_data", "last_name")?;
    opt_string(recipient, "recipient_data", "email")?;
    let tel = PhoneNumber::parse(string(recipient, "recipient_data", "tel")?)
        .map_err(|e| ApiError::invalid_field("recipient_data.tel", e.to_string()))?;
    if recipient.get("comms_consent") != Some(&Value::Bool(true)) {
        return Err(ApiError::invalid_field(
            "recipient_data.comms_consent",
            "the recipient's consent (true) is required",
        ));
    }
    let project_data = match body.get("project_data") {
        None | Some(Value::Null) => json!({}),
        Some(v @ Value::Object(_)) => {
            no_control_chars(v, "project_data")?;
            v.clone()
        }
        Some(_) => return Err(ApiError::invalid_field("project_data", "must be an object")),
    };

    if tenant.project_status != ProjectStatus::Active {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "project_inactive", "this project is not active"));
    }
    if !tenant.allowed_channels.contains(&channel) {
        return Err(ApiError {
            field: Some("request_data.channel_method".into()),
            ..ApiError::new(
                StatusCode::FORBIDDEN,
                "channel_not_allowed",
                format!("{channel} is not allowed for this project"),
            )
        });
    }
    let sender = tenant.numbers.get(&channel).and_then(|n| n.first()).cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "channel_not_configured",
            format!("the project has no {channel} number"),
        )
    })?;
    if state.consent.is_opted_out(&tenant_ref, &tel).await.map_err(ApiError::unavailable)? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "recipient_opted_out",
            "the recipient has opted out",
        ));
    }

    // Idempotency: the whole body's hash is remembered under the request id (serde_json
    // maps are sorted, so key order in the request does not matter).
    let key = format!("initiate:{tenant_ref}:{request_id}");
    let hash = hex_sha256(&Value::Object(body.clone()).to_string());
    let expires = jiff::Timestamp::now().checked_add(REQUEST_TTL).unwrap_or_else(|_| jiff::Timestamp::now());
    match state.requests.begin(&key, &hash, expires).await.map_err(ApiError::unavailable)? {
        RequestBegin::Existing { body_hash, .. } if body_hash != hash => {
            return Err(ApiError {
                field: Some("request_data.request_id".into()),
                ..ApiError::new(
                    StatusCode::CONFLICT,
                    "request_id_conflict",
                    "this request_id was used with a different body",
                )
            });
        }
        RequestBegin::Existing { response: Some(answer), .. } => return Ok(Json(answer)),
        // New, or an earlier attempt stopped before answering: (re)enqueue. A duplicate
        // message is harmless, the processor claims the request id once.
        RequestBegin::Existing { response: None, .. } | RequestBegin::New => {}
    }

    let conversation_id = ConversationId::derive(&tenant_ref, channel, &tel);
    let name = [Some(first_name), last_name].into_iter().flatten().collect::<Vec<_>>().join(" ");
    let now = jiff::Timestamp::now();
    let envelope = Envelope {
        id: request_id.clone(),
        tenant: tenant_ref.clone(),
        channel,
        conversation_id: conversation_id.clone(),
        from: sender,
        to: tel,
        body: String::new(),
        received_at: now,
        detail: KindDetail::Initiate {
            request_id: request_id.clone(),
            project_data,
            recipient_name: Some(name),
        },
    };
    let trace_id = uuid::Uuid::new_v4().to_string();
    let message = OutgoingMessage { body: envelope.to_json(), attributes: envelope.attributes(&trace_id) };
    state.queues.send(channel, message).await.map_err(ApiError::unavailable)?;
    let answer = json!({
        "status": "success",
        "request_id": request_id,
        "conversation_id": conversation_id,
        "channel": channel,
        "queued_at": now,
    });
    state.requests.complete(&key, &answer).await.map_err(ApiError::unavailable)?;
    tracing::info!(tenant = %tenant_ref, request_id, %channel, trace_id, "conversation initiated");
    Ok(Json(answer))
}

fn hex_sha256(s: &str) -> String {
    Sha256::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}
