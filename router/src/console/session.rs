//! Sessions: a signed, expiring cookie naming who signed in (a tenant's admin key or an
//! operator key, by a tag of the key's hash so a revoked key ends its sessions), and the
//! [`Console`] extractor every console page and form starts with.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use comms_core::domain::TenantRef;
use comms_core::domain::tenant::TenantConfig;
use comms_core::ports::Secret;
use serde::{Deserialize, Serialize};

use super::ConsoleError;
use super::keys::{self, OperatorKeys};
use crate::{AppState, PublicUrl};

/// The session cookie's name.
pub const COOKIE: &str = "comms_console";
/// The sign-in form's cookie (a nonce its CSRF token is bound to).
pub const PRE_COOKIE: &str = "comms_console_pre";

/// Who a session belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Who {
    /// A tenant's owner, signed in with one of its admin keys (`key`: the hash's tag).
    Tenant { tenant: TenantRef, key: String },
    /// An operator, signed in with an operator key (`id`: its name).
    Operator { id: String, key: String },
}

/// What the cookie carries (signed, not secret: no key, only a tag of its hash).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionData {
    /// Random per sign-in; the CSRF token derives from it.
    pub sid: String,
    /// Expiry, in seconds since the Unix epoch.
    pub exp: i64,
    pub who: Who,
}

impl SessionData {
    /// The cookie value: `{payload}.{mac}`, both base64url.
    pub fn encode(&self, key: &Secret) -> String {
        // Invariant: strings and numbers serialise.
        let payload = B64.encode(serde_json::to_vec(self).expect("session serialises"));
        let tag = B64.encode(keys::mac(key, &["session", &payload]));
        format!("{payload}.{tag}")
    }

    /// The session in a cookie value, if its signature is right and it has not expired.
    pub fn decode(value: &str, key: &Secret, now: jiff::Timestamp) -> Option<Self> {
        let (payload, tag) = value.split_once('.')?;
        let tag = B64.decode(tag).ok()?;
        if !keys::verify(key, &["session", payload], &tag) {
            return None;
        }
        let data: Self = serde_json::from_slice(&B64.decode(payload).ok()?).ok()?;
        (data.exp > now.as_second()).then_some(data)
    }
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, for `path` (the console's, behind
/// any stage prefix), Secure over https.
pub fn set_cookie(name: &str, value: &str, path: &str, max_age_secs: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text =
        format!("{name}={value}; Path={path}; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{secure}");
    // Invariant: names and values here are base64url, hex or empty.
    HeaderValue::from_str(&text).expect("cookie is a valid header value")
}

/// A signed-in request: the session, the signing key, and for a tenant's owner the
/// tenant's configuration (loaded to check the key still exists).
pub struct Console {
    pub session: SessionData,
    pub key: Secret,
    pub own_tenant: Option<TenantConfig>,
    /// Whether cookies must be Secure (the public base URL is https).
    pub secure: bool,
    /// The public base URL (links in notifications, the QR code's page).
    pub base: String,
    /// The request's trace id, put on the messages it enqueues.
    pub trace_id: String,
}

impl Console {
    /// Whether the session is an operator's.
    pub fn is_operator(&self) -> bool {
        matches!(self.session.who, Who::Operator { .. })
    }

    /// 403 unless the session is an operator's.
    pub fn require_operator(&self) -> Result<(), ConsoleError> {
        if self.is_operator() { Ok(()) } else { Err(ConsoleError::Forbidden("operator-only page".into())) }
    }

    /// The session's CSRF token.
    pub fn csrf(&self) -> String {
        hex::encode(keys::mac(&self.key, &["csrf", &self.session.sid]))
    }

    /// The tenant a page acts on: a tenant's owner only ever their own (naming another
    /// is a 403); an operator the one named by `requested` (`company/project`).
    pub async fn tenant(
        &self,
        state: &AppState,
        requested: Option<&str>,
    ) -> Result<TenantConfig, ConsoleError> {
        let requested = requested.map(str::trim).filter(|t| !t.is_empty());
        if let Some(own) = &self.own_tenant {
            return match requested {
                Some(t) if t != own.tenant.to_string() => {
                    Err(ConsoleError::Forbidden("another tenant".into()))
                }
                _ => Ok(own.clone()),
            };
        }
        let requested = requested.ok_or_else(|| {
            ConsoleError::field("tenant", "operators choose a tenant (company_id/project_id)")
        })?;
        let tenant = parse_tenant(requested)?;
        state
            .tenants
            .get(&tenant)
            .await
            .map_err(ConsoleError::store)?
            .ok_or_else(|| ConsoleError::NotFound("tenant".into()))
    }

    /// Whether this session may see `tenant`'s data.
    pub fn may_see(&self, tenant: &TenantRef) -> bool {
        self.own_tenant.as_ref().is_none_or(|own| &own.tenant == tenant)
    }
}

/// A signed-in GET of a tenant page: the session, the tenant it shows (the owner's, or
/// the operator's `?tenant=`), and the query string.
pub struct TenantPage {
    pub console: Console,
    pub tenant: TenantConfig,
    pub query: Option<String>,
}

impl TenantPage {
    /// A query value (trimmed, non-empty).
    pub fn query(&self, name: &str) -> Option<String> {
        super::layout::query_value(&self.query, name)
    }

    /// The page's layout, with the flash of `?msg=`.
    pub fn layout(&self, title: &str, nav: &'static str) -> super::layout::Layout {
        let name = self.tenant.tenant.to_string();
        super::layout::Layout::new(&self.console, title, nav, Some(&name), self.query("msg").as_deref())
    }
}

impl FromRequestParts<AppState> for TenantPage {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let console = Console::from_request_parts(parts, state).await?;
        let query = parts.uri.query().map(str::to_owned);
        let requested = super::layout::query_value(&query, "tenant");
        if console.is_operator() && requested.is_none() {
            let page = super::pick::page(&console, state, parts.uri.path()).await?;
            return Err(ConsoleError::ChooseTenant(Box::new(page)));
        }
        let tenant = console.tenant(state, requested.as_deref()).await?;
        Ok(Self { console, tenant, query })
    }
}

/// `company_id/project_id` as a tenant reference (400 naming `tenant` otherwise).
pub fn parse_tenant(text: &str) -> Result<TenantRef, ConsoleError> {
    let (c, p) = text
        .split_once('/')
        .ok_or_else(|| ConsoleError::field("tenant", "expected company_id/project_id"))?;
    TenantRef::new(c, p).map_err(|e| ConsoleError::field("tenant", e.to_string()))
}

impl FromRequestParts<AppState> for Console {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let url = PublicUrl::from_request_parts(parts, state).await.unwrap_or_else(|never| match never {});
        let refused = || match parts.method {
            Method::GET | Method::HEAD => ConsoleError::SignIn {
                root: super::layout::root_of(&url.base),
                next: parts.uri.path_and_query().map(|pq| pq.as_str().to_owned()),
            },
            _ => ConsoleError::Unauthorized,
        };
        let key = state.console_key().await?.clone();
        let Some(value) = cookie(&parts.headers, COOKIE) else { return Err(refused()) };
        let Some(session) = SessionData::decode(value, &key, jiff::Timestamp::now()) else {
            return Err(refused());
        };
        let own_tenant = match &session.who {
            Who::Tenant { tenant, key: tag } => {
                let config = state.tenants.get(tenant).await.map_err(ConsoleError::store)?;
                match config.filter(|c| keys::tenant_has_tag(&c.admin_keys, tag)) {
                    Some(c) => Some(c),
                    None => return Err(refused()),
                }
            }
            Who::Operator { key: tag, .. } => {
                let name = &state.config.console.operator_keys_secret;
                if !OperatorKeys::load(state.secrets.as_ref(), name).await?.has_tag(tag) {
                    return Err(refused());
                }
                None
            }
        };
        let secure = url.base.starts_with("https://");
        let trace_id = crate::trace::TraceId::or_new(
            parts.extensions.get::<crate::trace::TraceId>().cloned().map(axum::Extension),
        );
        Ok(Self { session, key, own_tenant, secure, base: url.base, trace_id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_round_trips_and_a_changed_byte_or_expiry_refuses_it() {
        let key = Secret::new("k");
        let now = jiff::Timestamp::from_second(1_000).unwrap();
        let who = Who::Operator { id: "ops".into(), key: "abcd".into() };
        let s = SessionData { sid: "s1".into(), exp: 2_000, who: who.clone() };
        let v = s.encode(&key);
        assert_eq!(SessionData::decode(&v, &key, now).unwrap().who, who);
        assert!(SessionData::decode(&v, &Secret::new("other"), now).is_none());
        let later = jiff::Timestamp::from_second(2_000).unwrap();
        assert!(SessionData::decode(&v, &key, later).is_none(), "expired");
        let forged = SessionData { exp: 9_000, ..s }.encode(&Secret::new("guess"));
        let (payload, _) = forged.split_once('.').unwrap();
        let (_, tag) = v.split_once('.').unwrap();
        assert!(SessionData::decode(&format!("{payload}.{tag}"), &key, now).is_none(), "tampered");
    }
}
