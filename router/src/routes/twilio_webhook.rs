//! The verified-Twilio-webhook extractor every Twilio route takes: it reads the form, finds
//! the tenant that owns the number called, verifies `X-Twilio-Signature` with that
//! tenant's auth token, and hands the handler the typed form ([`WebhookForm`]).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, StatusCode, header};
use comms_core::domain::tenant::TenantConfig;
use comms_core::domain::{Channel, PhoneNumber};
use comms_core::twilio::{WebhookTokens, signature};

use crate::error::ErrorCode;
use crate::{ApiError, AppState, PublicUrl};

/// A webhook's form parameters, in order (a name may repeat).
pub struct Form(Vec<(String, String)>);

impl Form {
    /// The first value of a parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
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

    /// A required parameter parsed into `T` (a SID), or a 400 naming it.
    pub fn parsed<T, E>(&self, name: &str) -> Result<T, ApiError>
    where
        T: for<'a> TryFrom<&'a str, Error = E>,
        E: std::fmt::Display,
    {
        T::try_from(self.required(name)?).map_err(|e| ApiError::invalid_field(name, e.to_string()))
    }
}

/// The typed parameters of one kind of webhook, and how its tenant is found.
pub trait WebhookForm: Sized {
    /// The channel the route serves (a `whatsapp:` number routes on WhatsApp anyway).
    const CHANNEL: Channel;
    /// The parameter holding the tenant's own number: `To` for what customers send,
    /// `From` for status callbacks of what the tenant sent.
    const NUMBER_PARAM: &'static str = "To";

    /// Reads the parameters, once the signature checked out; a 400 names a bad field.
    fn from_form(form: &Form) -> Result<Self, ApiError>;
}

/// A Twilio webhook whose signature checked out: the tenant it belongs to and its form.
pub struct TwilioWebhook<F> {
    pub tenant: TenantConfig,
    /// The tenant's own number (the one it was found by).
    pub to: PhoneNumber,
    /// The URL Twilio called (its query is part of what was signed).
    pub url: PublicUrl,
    pub form: F,
}

impl<F: WebhookForm + Send> FromRequest<AppState> for TwilioWebhook<F> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let (mut parts, body) = req.into_parts();
        let Ok(url) = PublicUrl::from_request_parts(&mut parts, state).await;
        let headers = parts.headers.clone();
        let body = Bytes::from_request(Request::from_parts(parts, body), state).await;
        let body = body.map_err(ApiError::from_body_rejection)?;
        let (tenant, to, form) = verify(state, F::CHANNEL, F::NUMBER_PARAM, &url, &headers, &body).await?;
        let form = F::from_form(&form)?;
        Ok(Self { tenant, to, url, form })
    }
}

fn forbidden(code: ErrorCode, message: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, code, message)
}

/// Parses `application/x-www-form-urlencoded`, refusing what is not: bytes that are not
/// UTF-8, or percent-escapes that do not decode to UTF-8.
fn parse_form(headers: &HeaderMap, body: &[u8]) -> Result<Form, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "expected Content-Type application/x-www-form-urlencoded",
        ));
    }
    let malformed = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::MalformedForm,
            "body is not a valid URL-encoded form",
        )
    };
    let text = std::str::from_utf8(body).map_err(|_| malformed())?;
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(text.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    // The decoder replaces undecodable escapes with U+FFFD; a raw body holding a literal
    // U+FFFD already failed or passed the UTF-8 check above, so any here is from escapes.
    let lossy = pairs.iter().any(|(k, v)| k.contains('\u{FFFD}') || v.contains('\u{FFFD}'));
    if lossy && !text.contains('\u{FFFD}') {
        return Err(malformed());
    }
    Ok(Form(pairs))
}

/// The tenant owning the number in `number_param`, on `channel`.
async fn tenant_for(
    state: &AppState,
    channel: Channel,
    number_param: &str,
    form: &Form,
) -> Result<(TenantConfig, PhoneNumber), ApiError> {
    let raw = form.required(number_param)?;
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
            ErrorCode::UnknownNumber,
            format!("no tenant receives {channel} on this number"),
        )
    })?;
    Ok((tenant, to))
}

/// Reads, routes and authenticates a Twilio webhook.
///
/// Checks run cheapest and least revealing first: body size (413, by the caller),
/// signature header present (403), form (400/415), number (400), tenant for the number
/// (404), signature (403).
async fn verify(
    state: &AppState,
    channel: Channel,
    number_param: &str,
    url: &PublicUrl,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(TenantConfig, PhoneNumber, Form), ApiError> {
    let claimed = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| forbidden(ErrorCode::MissingSignature, "X-Twilio-Signature header is required"))?;
    let form = parse_form(headers, body)?;
    let (tenant, to) = tenant_for(state, channel, number_param, &form).await?;
    let secret_name = tenant.credentials.twilio.as_deref().ok_or_else(|| {
        ApiError::internal("tenant misconfigured")
            .with_detail(format!("tenant {} has no Twilio credentials reference", tenant.tenant))
    })?;
    // The current token and, during a rotation, the previous one (docs/operations.md).
    let tokens = WebhookTokens::load(state.secrets.as_ref(), secret_name, jiff::Timestamp::now())
        .await
        .map_err(|e| {
            ApiError::internal("tenant credentials unavailable")
                .with_detail(format!("cannot read Twilio credentials of tenant {}: {e}", tenant.tenant))
        })?;
    let url = url.full();
    if !tokens.all().any(|token| signature::validate(token.expose(), &url, &form.0, claimed)) {
        return Err(forbidden(ErrorCode::InvalidSignature, "X-Twilio-Signature does not match this request")
            .with_detail(format!("Twilio signature mismatch for tenant {} at {url}", tenant.tenant)));
    }
    Ok((tenant, to, form))
}
