//! `POST /email/inbound` and `POST /email/inbound/{secret}`: a customer's email from
//! SendGrid's Inbound Parse (raw MIME), authenticated by SendGrid's signature or the
//! tenant's path secret (or both), onto the `email` queue keyed by its Message-ID.
//!
//! Checks run cheapest first: body size (413), some credential present (403), the form
//! and the message (415/400), the recipient's tenant (404), the credential (403).

use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use comms_core::domain::tenant::TenantConfig;
use comms_core::domain::{
    Address, Attachment, Channel, ConversationId, EmailAddress, EmailMeta, Envelope, KindDetail,
};
use comms_core::ports::{ConsentAction, OutgoingMessage, RequestBegin};
use comms_core::secure::constant_time_eq;
use comms_core::sendgrid::inbound::{self, InboundEmail, InboundError};
use comms_core::sendgrid::inbound_form::FormError;

use super::email_webhook::{
    SignedHeaders, email_settings, forbidden, missing_signature, tenant_keys, verify,
};
use crate::error::ErrorCode;
use crate::trace::TraceId;
use crate::{ApiError, AppState};

/// How long a Message-ID is remembered (SendGrid retries for up to three days).
const SEEN_TTL: jiff::SignedDuration = jiff::SignedDuration::from_hours(7 * 24);

/// How the request proves it comes from SendGrid for this tenant.
enum Credential {
    Signature(SignedHeaders),
    /// The tenant's `email.inbound_path_secret`, and a signature if one came too.
    PathSecret(String, Option<SignedHeaders>),
}

/// Inbound mail, signed by SendGrid.
pub async fn inbound(
    State(state): State<AppState>,
    trace: Option<Extension<TraceId>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(ApiError::from_body_rejection)?;
    let signed = SignedHeaders::of(&headers).ok_or_else(missing_signature)?;
    receive(&state, &headers, &body, Credential::Signature(signed), TraceId::or_new(trace)).await
}

/// Inbound mail to the tenant's secret URL.
pub async fn inbound_with_secret(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    trace: Option<Extension<TraceId>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(ApiError::from_body_rejection)?;
    let credential = Credential::PathSecret(secret, SignedHeaders::of(&headers));
    receive(&state, &headers, &body, credential, TraceId::or_new(trace)).await
}

async fn receive(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    credential: Credential,
    trace_id: String,
) -> Result<Response, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let email = inbound::parse(content_type, body).map_err(parse_error)?;
    let (tenant, to) = tenant_for(state, &email.recipients).await?;
    authenticate(state, &tenant, credential, body).await?;
    let from =
        EmailAddress::parse(&email.from).map_err(|e| ApiError::invalid_field("email.from", e.to_string()))?;
    let span = tracing::info_span!("email_inbound", tenant = %tenant.tenant, from = %from.redacted());
    tracing::Instrument::instrument(accept(state, &tenant, to, from, email, trace_id), span).await
}

fn parse_error(e: InboundError) -> ApiError {
    match e {
        InboundError::Form(FormError::NotMultipart) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "expected Content-Type multipart/form-data with a boundary",
        ),
        e => ApiError::invalid_field(e.field(), e.to_string()),
    }
}

/// The tenant owning the first recipient that is one of a tenant's addresses.
async fn tenant_for(
    state: &AppState,
    recipients: &[String],
) -> Result<(TenantConfig, EmailAddress), ApiError> {
    for address in recipients.iter().filter_map(|r| EmailAddress::parse(r).ok()) {
        if let Some(tenant) = state.tenants.by_email(&address).await.map_err(ApiError::unavailable)? {
            return Ok((tenant, address));
        }
    }
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::UnknownAddress,
        "no tenant receives email at this address",
    )
    .on_field("envelope"))
}

async fn authenticate(
    state: &AppState,
    tenant: &TenantConfig,
    credential: Credential,
    body: &[u8],
) -> Result<(), ApiError> {
    let signed = match credential {
        Credential::Signature(signed) => Some(signed),
        Credential::PathSecret(given, signed) => {
            let expected = email_settings(tenant)?.inbound_path_secret.as_deref().unwrap_or("");
            if expected.is_empty() || !constant_time_eq(expected.as_bytes(), given.as_bytes()) {
                return Err(forbidden(ErrorCode::InvalidSignature, "this inbound URL is not the tenant's")
                    .with_detail(format!("wrong inbound path secret for tenant {}", tenant.tenant)));
            }
            signed
        }
    };
    let keys = tenant_keys(state, tenant).await?;
    match signed {
        Some(signed) => verify(keys.inbound.as_ref(), &signed, body, tenant),
        // The path secret checked out, and no signature came: fine unless the tenant
        // expects one (it set an inbound verification key).
        None if keys.inbound.is_none() => Ok(()),
        None => Err(missing_signature()),
    }
}

/// Records an opt-out keyword, or enqueues the mail once per Message-ID.
async fn accept(
    state: &AppState,
    tenant: &TenantConfig,
    to: EmailAddress,
    from: EmailAddress,
    email: InboundEmail,
    trace_id: String,
) -> Result<Response, ApiError> {
    let tenant_ref = tenant.tenant.clone();
    let customer = Address::Email(from);
    // "unsubscribe" / "stop" alone in a reply changes consent, as the SMS keywords do.
    if let Some(action) = ConsentAction::from_keyword(&email.text) {
        let keyword = email.text.trim().to_ascii_uppercase();
        state
            .consent
            .record(&tenant_ref, &customer, action, &keyword, jiff::Timestamp::now())
            .await
            .map_err(ApiError::unavailable)?;
        tracing::info!(action = action.as_str(), "consent keyword recorded");
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    // A redelivered mail answers at once; one whose enqueue may not have finished is
    // enqueued again (the processor claims a message id once).
    let key = format!("email-in:{tenant_ref}:{}", email.message_id);
    let expires = jiff::Timestamp::now().checked_add(SEEN_TTL).unwrap_or_else(|_| jiff::Timestamp::now());
    if let RequestBegin::Existing { response: Some(_), .. } =
        state.requests.begin(&key, "", expires).await.map_err(ApiError::unavailable)?
    {
        tracing::info!("redelivered mail answered again, not enqueued");
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let envelope = envelope(tenant_ref, to, customer, email);
    let message = OutgoingMessage { body: envelope.to_json(), attributes: envelope.attributes(&trace_id) };
    let queue_id = state.queues.send(Channel::Email, message).await.map_err(ApiError::unavailable)?;
    let answer = serde_json::json!({"queued": true});
    state.requests.complete(&key, &answer).await.map_err(ApiError::unavailable)?;
    tracing::info!(queue_message_id = %queue_id, trace_id, "inbound email enqueued");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The `inbound` envelope of a mail: the stripped text as the body, the headers and raw
/// text in its email part.
fn envelope(
    tenant: comms_core::domain::TenantRef,
    to: EmailAddress,
    customer: Address,
    email: InboundEmail,
) -> Envelope {
    let attachments =
        email.attachments.into_iter().map(|a| Attachment { name: a.name, size: a.size }).collect();
    let meta = EmailMeta {
        subject: email.subject,
        message_id: email.message_id.clone(),
        in_reply_to: email.in_reply_to,
        references: email.references,
        attachments,
        raw_text: email.raw_text,
    };
    Envelope {
        id: email.message_id,
        conversation_id: ConversationId::derive(&tenant, Channel::Email, &customer),
        tenant,
        channel: Channel::Email,
        from: customer,
        to: Address::Email(to),
        body: email.text,
        received_at: jiff::Timestamp::now(),
        detail: KindDetail::Inbound { num_media: 0, email: Some(meta), media: Vec::new() },
    }
}
