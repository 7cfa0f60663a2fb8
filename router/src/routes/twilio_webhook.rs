//! What every Twilio webhook route does first: read the form, find the tenant that owns
//! the number called, and verify `X-Twilio-Signature` with that tenant's auth token.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use comms_core::domain::tenant::TenantConfig;
use comms_core::domain::{Channel, PhoneNumber};
use comms_core::twilio::{WebhookTokens, signature};

use crate::{ApiError, AppState, PublicUrl};

/// A webhook whose signature checked out, with the tenant it belongs to.
pub struct VerifiedWebhook {
    pub tenant: TenantConfig,
    /// The tenant's own number (the one it was found by).
    pub to: PhoneNumber,
    params: Vec<(String, String)>,
}

impl VerifiedWebhook {
    /// The first value of a form parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// A required parameter, or a 400 naming it.
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.param(name).ok_or_else(|| ApiError::invalid_field(name, format!("{name} is required")))
    }

    /// A required E.164 parameter (a `whatsapp:` prefix is dropped), or a 400 naming it.
    pub fn phone(&self, name: &str) -> Result<PhoneNumber, ApiError> {
        let raw = self.required(name)?;
        PhoneNumber::parse(raw.strip_prefix("whatsapp:").unwrap_or(raw))
            .map_err(|e| ApiError::invalid_field(name, e.to_string()))
    }
}

fn forbidden(code: &'static str, message: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, code, message)
}

/// Parses `application/x-www-form-urlencoded`, refusing what is not: bytes that are not
/// UTF-8, or percent-escapes that do not decode to UTF-8.
fn parse_form(headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected Content-Type application/x-www-form-urlencoded",
        ));
    }
    let malformed =
        || ApiError::new(StatusCode::BAD_REQUEST, "malformed_form", "body is not a valid URL-encoded form");
    let text = std::str::from_utf8(body).map_err(|_| malformed())?;
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(text.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    // The decoder replaces undecodable escapes with U+FFFD; a raw body holding a literal
    // U+FFFD already failed or passed the UTF-8 check above, so any here is from escapes.
    let lossy = pairs.iter().any(|(k, v)| k.contains('\u{FFFD}') || v.contains('\u{FFFD}'));
    if lossy && !text.contains('\u{FFFD}') {
        return Err(malformed());
    }
    Ok(pairs)
}

/// Reads, routes and authenticates a Twilio webhook for `channel`; the tenant is the one
/// owning the number in `To` (inbound messages and calls).
///
/// Checks run cheapest and least revealing first: body size (413), signature header
/// present (403), form (400/415), `To` (400), tenant for `To` (404), signature (403).
pub async fn verify(
    state: &AppState,
    channel: Channel,
    url: &PublicUrl,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<VerifiedWebhook, ApiError> {
    verify_for(state, channel, "To", url, headers, body).await
}

/// As [`verify`], with the tenant found by the number in `number_param` (`From` for
/// status callbacks of messages the tenant sent).
pub async fn verify_for(
    state: &AppState,
    channel: Channel,
    number_param: &str,
    url: &PublicUrl,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<VerifiedWebhook, ApiError> {
    let body = body.map_err(ApiError::from_body_rejection)?;
    let claimed = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| forbidden("missing_signature", "X-Twilio-Signature header is required"))?
        .to_owned();
    let params = parse_form(headers, &body)?;
    let raw = params.iter().find(|(k, _)| k == number_param).map(|(_, v)| v.as_str());
    let raw =
        raw.ok_or_else(|| ApiError::invalid_field(number_param, format!("{number_param} is required")))?;
    // WhatsApp addresses arrive as `whatsapp:+1...` and route on the WhatsApp channel.
    let (channel, bare) = match raw.strip_prefix("whatsapp:") {
        Some(bare) => (Channel::Whatsapp, bare),
        None => (channel, raw),
    };
    let to = PhoneNumber::parse(bare).map_err(|e| ApiError::invalid_field(number_param, e.to_string()))?;

    let tenant = state.tenants.by_number(channel, &to).await.map_err(ApiError::unavailable)?;
    let tenant = tenant.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_number",
            format!("no tenant receives {channel} on this number"),
        )
    })?;

    let secret_name = tenant.credentials.twilio.as_deref().ok_or_else(|| {
        tracing::error!(tenant = %tenant.tenant, "tenant has no Twilio credentials reference");
        ApiError::internal("tenant misconfigured")
    })?;
    // The current token and, during a rotation, the previous one (docs/operations.md).
    let tokens = WebhookTokens::load(state.secrets.as_ref(), secret_name, jiff::Timestamp::now())
        .await
        .map_err(|e| {
            tracing::error!(tenant = %tenant.tenant, error = %e, "cannot read Twilio credentials");
            ApiError::internal("tenant credentials unavailable")
        })?;

    let url = url.full();
    if !tokens.all().any(|token| signature::validate(token.expose(), &url, &params, &claimed)) {
        tracing::warn!(tenant = %tenant.tenant, url = %url, "Twilio signature mismatch");
        return Err(forbidden("invalid_signature", "X-Twilio-Signature does not match this request"));
    }
    Ok(VerifiedWebhook { tenant, to, params })
}
