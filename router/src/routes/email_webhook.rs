//! What the SendGrid routes share: the signature headers and the tenant's verification
//! keys (in its SendGrid secret), checked the same way for inbound mail and events.

use axum::http::{HeaderMap, StatusCode};
use comms_core::domain::tenant::{EmailSettings, TenantConfig};
use comms_core::sendgrid::signature::{
    SIGNATURE_HEADER, TIMESTAMP_HEADER, TenantWebhookKeys, VerificationKey,
};

use crate::error::ErrorCode;
use crate::{ApiError, AppState};

/// A request's SendGrid signature headers.
pub struct SignedHeaders {
    pub timestamp: String,
    pub signature: String,
}

impl SignedHeaders {
    /// Both headers, or `None` when either is missing or not text.
    pub fn of(headers: &HeaderMap) -> Option<Self> {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Some(Self { timestamp: text(TIMESTAMP_HEADER)?, signature: text(SIGNATURE_HEADER)? })
    }
}

/// A 403 in the shared error shape.
pub fn forbidden(code: ErrorCode, message: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, code, message)
}

/// The 403 for a request with neither a signature nor a path secret.
pub fn missing_signature() -> ApiError {
    let message = "X-Twilio-Email-Event-Webhook-Signature and -Timestamp headers are required";
    forbidden(ErrorCode::MissingSignature, message)
}

/// The tenant's email section, or a 404 as if the address were unknown (a tenant
/// without email has no address that routes to it).
pub fn email_settings(tenant: &TenantConfig) -> Result<&EmailSettings, ApiError> {
    tenant.email.as_ref().ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, ErrorCode::UnknownAddress, "no tenant receives email here")
    })
}

/// The verification keys in the tenant's SendGrid secret.
pub async fn tenant_keys(state: &AppState, tenant: &TenantConfig) -> Result<TenantWebhookKeys, ApiError> {
    let settings = email_settings(tenant)?;
    let secret = state.secrets.get(&settings.sendgrid_secret).await.map_err(|e| {
        ApiError::internal("tenant credentials unavailable")
            .with_detail(format!("cannot read the SendGrid secret of tenant {}: {e}", tenant.tenant))
    })?;
    TenantWebhookKeys::from_secret(secret.expose()).map_err(|e| {
        ApiError::internal("tenant misconfigured")
            .with_detail(format!("SendGrid secret of tenant {}: {e}", tenant.tenant))
    })
}

/// Verifies `body` against `key` (a tenant without the key cannot be written to).
pub fn verify(
    key: Option<&VerificationKey>,
    signed: &SignedHeaders,
    body: &[u8],
    tenant: &TenantConfig,
) -> Result<(), ApiError> {
    let key = key.ok_or_else(|| {
        forbidden(ErrorCode::InvalidSignature, "the signature cannot be checked")
            .with_detail(format!("tenant {} has no SendGrid verification key", tenant.tenant))
    })?;
    key.verify(&signed.timestamp, body, &signed.signature, jiff::Timestamp::now()).map_err(|e| {
        forbidden(ErrorCode::InvalidSignature, "the SendGrid signature does not match this request")
            .with_detail(format!("SendGrid signature refused for tenant {}: {e}", tenant.tenant))
    })
}
