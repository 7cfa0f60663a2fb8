//! Ingress: one axum [`Router`] for Twilio webhooks and the APIs. The same router runs in
//! `comms serve` and, hosted by `lambda_http`, on AWS Lambda.

mod auth;
pub mod console;
mod error;
mod json;
pub mod lambda;
mod routes;
pub mod settings;
mod trace;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Method, header};
use axum::routing::{get, post};
use comms_core::domain::MediaHosts;
use comms_core::ports::{
    Bookings, ConsentStore, ConversationLog, DeadLetters, DeliveryStatusStore, OwnerStateStore, Queues,
    RequestLog, Secret, SecretStore, SecretWriter, Stores, TenantDirectory,
};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{Any, CorsLayer};

pub use error::{ApiError, ErrorCode};
pub use routes::email_unsubscribe::UNSUBSCRIBE_KEY_SECRET;

/// Default request body limit: Twilio webhooks are a few KB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// Default body limit of inbound email (the whole MIME message, attachments included):
/// under API Gateway's 10 MB request limit.
pub const DEFAULT_MAX_EMAIL_BYTES: usize = 9 * 1024 * 1024;

/// Settings of the router that do not come from tenants.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// The public base URL Twilio calls (scheme, host, optional port and path prefix, no
    /// trailing slash). Signatures are checked against this plus the request path, never
    /// against the Host header, which a client controls.
    pub public_base_url: String,
    /// Largest request body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    /// Where customers' media may be: Twilio's hosts (tests may add their own). Media
    /// URLs elsewhere are dropped from the message.
    pub media_hosts: MediaHosts,
    /// The owner console's settings (session secret, operator keys, limits).
    pub console: console::ConsoleSettings,
    /// Largest inbound email accepted (`/email/inbound`); larger ones get 413.
    pub max_email_bytes: usize,
    /// Name of the secret that signs unsubscribe links (`/email/unsubscribe`); the
    /// engine signs with the same one.
    pub unsubscribe_key_secret: String,
}

impl RouterConfig {
    /// A config with the default body limit.
    pub fn new(public_base_url: &str) -> Self {
        Self {
            public_base_url: public_base_url.trim_end_matches('/').to_owned(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            media_hosts: MediaHosts::default(),
            console: console::ConsoleSettings::default(),
            max_email_bytes: DEFAULT_MAX_EMAIL_BYTES,
            unsubscribe_key_secret: UNSUBSCRIBE_KEY_SECRET.to_owned(),
        }
    }
}

/// The public base URL of one request, set by the Lambda entry point when it is not
/// configured: API Gateway's own domain and stage, from the request context (which API
/// Gateway sets; a client cannot).
#[derive(Debug, Clone)]
pub struct RequestBaseUrl(pub String);

/// The URL a request was made to, as the caller (Twilio) saw it: the public base URL
/// (configured, or [`RequestBaseUrl`]) and the original path and query. Signatures are
/// checked against [`PublicUrl::full`].
#[derive(Debug, Clone)]
pub struct PublicUrl {
    pub base: String,
    pub uri: axum::http::Uri,
}

impl PublicUrl {
    /// Base, path and query.
    pub fn full(&self) -> String {
        let path_and_query = self.uri.path_and_query().map_or(self.uri.path(), |pq| pq.as_str());
        format!("{}{}", self.base, path_and_query)
    }
}

impl axum::extract::FromRequestParts<AppState> for PublicUrl {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let uri = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map_or_else(|| parts.uri.clone(), |o| o.0.clone());
        let base = parts
            .extensions
            .get::<RequestBaseUrl>()
            .map_or_else(|| state.config.public_base_url.clone(), |b| b.0.clone());
        Ok(Self { base, uri })
    }
}

/// Everything a request handler may use, as ports so tests and backends can swap them.
#[derive(Clone)]
pub struct AppState {
    pub tenants: Arc<dyn TenantDirectory>,
    pub secrets: Arc<dyn SecretStore>,
    pub queues: Arc<dyn Queues>,
    pub consent: Arc<dyn ConsentStore>,
    pub deliveries: Arc<dyn DeliveryStatusStore>,
    pub owner_state: Arc<dyn OwnerStateStore>,
    pub bookings: Arc<dyn Bookings>,
    pub requests: Arc<dyn RequestLog>,
    /// The console's reads of conversations and its dead-letter administration.
    pub conversations: Arc<dyn ConversationLog>,
    pub dead_letters: Arc<dyn DeadLetters>,
    /// The secret store as a writer: only to create the console's session secret at
    /// first use in local mode (`ConsoleSettings::create_session_secret`). None on
    /// Lambda, which only reads secrets (and so links no code that writes them).
    pub secret_writer: Option<Arc<dyn SecretWriter>>,
    /// Per-process console state: the session key once read, sign-in attempt counters.
    pub console: Arc<ConsoleRuntime>,
    pub config: Arc<RouterConfig>,
}

/// The console's per-process state.
#[derive(Default)]
pub struct ConsoleRuntime {
    session_key: console::keys::SessionKey,
    pub limiter: console::RateLimiter,
}

impl AppState {
    /// The router's state on one backend's stores.
    pub fn new(stores: &Stores, config: RouterConfig) -> Self {
        Self {
            tenants: Arc::clone(&stores.tenants),
            secrets: stores.secrets.clone(),
            queues: Arc::clone(&stores.queues),
            consent: Arc::clone(&stores.consent),
            deliveries: Arc::clone(&stores.deliveries),
            owner_state: Arc::clone(&stores.owner_state),
            bookings: Arc::clone(&stores.bookings),
            requests: Arc::clone(&stores.requests),
            conversations: Arc::clone(&stores.conversations),
            dead_letters: Arc::clone(&stores.dead_letters),
            secret_writer: Some(stores.secrets.clone()),
            console: Arc::new(ConsoleRuntime::default()),
            config: Arc::new(config),
        }
    }

    /// The key that signs console sessions and CSRF tokens (read once per process).
    pub async fn console_key(&self) -> Result<&Secret, console::ConsoleError> {
        let settings = &self.config.console;
        self.console
            .session_key
            .get(
                self.secrets.as_ref(),
                self.secret_writer.as_deref().filter(|_| settings.create_session_secret),
                &settings.session_secret,
            )
            .await
    }
}

/// The whole HTTP surface.
pub fn app(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    // Routes a browser calls (a company's web page, the owner's admin page) get CORS;
    // Twilio's webhooks do not need it.
    let browser = Router::new()
        .route("/initiate-conversation", post(routes::initiate::initiate_conversation))
        .route(
            "/admin/state",
            get(routes::admin_state::get_state)
                .put(routes::admin_state::put_state)
                .delete(routes::admin_state::delete_state),
        )
        .route("/admin/state/history", get(routes::admin_state::history))
        .route("/availability", get(routes::booking::availability))
        .route("/bookings", post(routes::booking::create_booking))
        .route("/leads", get(routes::booking::leads))
        // Set before the CORS layer so preflight requests (OPTIONS) reach it.
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(
            CorsLayer::new()
                .allow_origin(Any)
                .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
                .allow_headers([
                    header::CONTENT_TYPE,
                    HeaderName::from_static("x-api-key"),
                    HeaderName::from_static("x-admin-key"),
                ]),
        );
    // Inbound mail carries attachments: its own, larger body limit.
    let inbound_email = Router::new()
        .route("/email/inbound", post(routes::email_inbound::inbound))
        .route("/email/inbound/{secret}", post(routes::email_inbound::inbound_with_secret))
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.max_email_bytes));
    let router = Router::new()
        .route("/healthz", get(routes::health::healthz))
        .route("/twilio/sms", post(routes::twilio_sms::sms_webhook))
        .route("/twilio/whatsapp", post(routes::twilio_sms::whatsapp_webhook))
        .route("/twilio/status", post(routes::twilio_status::status_callback))
        .route("/twilio/voice", post(routes::twilio_voice::voice_webhook))
        .route("/twilio/voice/gather", post(routes::twilio_voice::gather))
        .route("/twilio/voice/wait", post(routes::twilio_voice::wait))
        .route("/email/events", post(routes::email_events::events))
        .route(
            "/email/unsubscribe",
            get(routes::email_unsubscribe::page).post(routes::email_unsubscribe::unsubscribe),
        )
        .method_not_allowed_fallback(error::method_not_allowed)
        .merge(inbound_email)
        .merge(browser)
        // The console's pages: same-origin HTML, no CORS; signed-in by cookie.
        .merge(console::routes())
        .fallback(error::not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(CatchPanicLayer::custom(error::panic_response));
    // Outside the panic catcher, so a panic's 500 is logged like any other (once).
    trace::layers(router).with_state(state)
}
