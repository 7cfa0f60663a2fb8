//! The owner console: server-rendered pages at `/console` (askama templates compiled
//! into the binary, htmx served from it), for the shop owner (signed in with the
//! tenant's admin key) and the operator (an operator key that spans tenants).
//!
//! Every page and form goes through [`session::Console`] (a valid, unexpired, signed
//! session cookie, the tenant it may act on) and every POST through [`csrf::Form`] (the
//! session's CSRF token). Pages are HTML, not JSON APIs: they stay out of openapi.json.
//! docs/console.md describes the pages and the security model.

mod assets;
mod bookings;
mod conversations;
mod csrf;
mod dead_letters;
mod error;
pub mod keys;
mod layout;
mod mask;
mod outbound;
mod pick;
mod qr;
pub mod rate_limit;
pub mod session;
mod sign_in;
mod today;
mod transcript;

use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};

pub use error::ConsoleError;
pub use keys::{OPERATOR_KEYS_SECRET, SESSION_SECRET, new_operator_key};
pub use rate_limit::{ClientAddr, PeerListener, RateLimiter};

use crate::AppState;

/// Settings of the console that do not come from tenants.
#[derive(Debug, Clone)]
pub struct ConsoleSettings {
    /// Name of the secret holding the key that signs session cookies.
    pub session_secret: String,
    /// Create that secret with a random value when it is missing (local mode; on AWS the
    /// template creates it and the router may only read it).
    pub create_session_secret: bool,
    /// Name of the secret holding the operator keys' hashes.
    pub operator_keys_secret: String,
    /// How long a session lasts after sign-in.
    pub session_ttl: Duration,
    /// Sign-in attempts allowed per client address and per tenant in one window.
    pub sign_in_limit: rate_limit::Limits,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            session_secret: SESSION_SECRET.to_owned(),
            create_session_secret: true,
            operator_keys_secret: OPERATOR_KEYS_SECRET.to_owned(),
            session_ttl: Duration::from_secs(12 * 3600),
            sign_in_limit: rate_limit::Limits::default(),
        }
    }
}

/// The console's routes (the URL layout is relied on by the browser test: keep it).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(sign_in::home))
        .route("/console/", get(sign_in::home))
        .route("/console/sign-in", get(sign_in::page).post(sign_in::submit))
        .route("/console/sign-out", post(sign_in::sign_out))
        .route("/console/today", get(today::page))
        .route("/console/today/state", post(today::set_state))
        .route("/console/today/clear", post(today::clear))
        .route("/console/bookings", get(bookings::page))
        .route("/console/bookings/{lead_id}/cancel", post(bookings::cancel))
        .route("/console/leads", get(bookings::leads))
        .route("/console/conversations", get(conversations::list))
        .route("/console/conversations/{id}", get(transcript::page))
        .route("/console/conversations/{id}/takeover", post(transcript::takeover))
        .route("/console/conversations/{id}/handback", post(transcript::handback))
        .route("/console/conversations/{id}/reply", post(transcript::reply))
        .route("/console/dead-letters", get(dead_letters::page))
        .route("/console/dead-letters/{channel}/replay", post(dead_letters::replay))
        .route("/console/dead-letters/{channel}/purge", post(dead_letters::purge))
        .route("/console/qr", get(qr::page))
        .route("/console/qr.svg", get(qr::svg))
        .route("/console/static/htmx.min.js", get(assets::htmx))
        .route("/console/static/console.css", get(assets::css))
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::map_response(security_headers))
}

/// Headers of every console answer: not framed by other sites (clickjacking), no
/// Referer with a conversation's URL (it holds the customer's number) to anywhere
/// else, and pages with customers' data kept out of shared caches (static files set
/// their own caching).
async fn security_headers(mut response: axum::response::Response) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let headers = response.headers_mut();
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("frame-ancestors 'none'"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}
