//! Tenant keys: API keys (`x-api-key`) for a company's backend and booking forms, admin
//! keys (`x-admin-key`) for the owner. Compared by hash; a key only ever opens its own
//! tenant.

use axum::http::{HeaderMap, StatusCode};
use comms_core::domain::TenantRef;
use comms_core::domain::tenant::TenantConfig;

use crate::{ApiError, AppState};

/// Which kind of key a route takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Api,
    Admin,
}

impl KeyKind {
    fn header(self) -> &'static str {
        match self {
            KeyKind::Api => "x-api-key",
            KeyKind::Admin => "x-admin-key",
        }
    }
}

/// Loads the tenant, without checking a key.
pub async fn load_tenant(state: &AppState, tenant: &TenantRef) -> Result<Option<TenantConfig>, ApiError> {
    state.tenants.get(tenant).await.map_err(ApiError::unavailable)
}

/// 401 unless the request carries a (non-empty) key of `kind`. Routes call this before
/// reading anything else of the request, so a caller without a key learns nothing but
/// that one is needed. (With a key, the tenant named by the request is read next: the
/// key can only be checked against it.)
pub fn require_key(headers: &HeaderMap, kind: KeyKind) -> Result<&str, ApiError> {
    headers.get(kind.header()).and_then(|v| v.to_str().ok()).filter(|k| !k.is_empty()).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            crate::error::ErrorCode::MissingApiKey,
            format!("{} header is required", kind.header()),
        )
    })
}

/// The tenant, if the request carries one of its keys of `kind`: 401 without a key, 403
/// with a key that is not this tenant's (or for a tenant that does not exist: the answer
/// does not reveal which).
pub async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &TenantRef,
    kind: KeyKind,
) -> Result<TenantConfig, ApiError> {
    let key = require_key(headers, kind)?;
    let forbidden = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            crate::error::ErrorCode::Forbidden,
            "this key is not valid for this company and project",
        )
    };
    let config = load_tenant(state, tenant).await?.ok_or_else(forbidden)?;
    let ok = match kind {
        KeyKind::Api => config.accepts_api_key(key),
        KeyKind::Admin => config.accepts_admin_key(key),
    };
    if ok { Ok(config) } else { Err(forbidden()) }
}
