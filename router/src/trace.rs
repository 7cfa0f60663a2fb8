//! One span per request, named by its route, and one log line per failed request: 5xx as
//! errors, 4xx at warn (key and signature refusals) or info, each with its error code.
//! Handlers and error constructors do not log failures themselves; the [`Failure`] an
//! [`crate::ApiError`] leaves on its answer says what to log.
//!
//! Only the route pattern (`/twilio/voice/gather`) goes on the span, never the URI's
//! query: query strings carry tenant ids and could carry anything a caller sends.
//!
//! Each request gets a fresh trace id ([`TraceId`], a request extension, never taken
//! from the caller): it is on the request's span, and the routes put it on every message
//! they enqueue (the `trace_id` attribute), where the processor's `turn` span picks it
//! up, so one id follows a message from the webhook to the reply. Each answered request
//! is also counted (`requests`, by route and status class).

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::MatchedPath;
use axum::http::{Request, Response, StatusCode};
use axum::middleware::Next;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{DefaultOnBodyChunk, DefaultOnEos, TraceLayer};
use tracing::Span;

use crate::error::Failure;

/// The trace id of a request (a UUID), shared by its logs and the messages it enqueues.
#[derive(Debug, Clone)]
pub struct TraceId(pub String);

impl TraceId {
    /// The trace id the layer gave the request, or a fresh one for a request that came
    /// in without the layer (a router assembled in a test).
    pub fn or_new(extension: Option<axum::Extension<TraceId>>) -> String {
        extension.map_or_else(|| uuid::Uuid::new_v4().to_string(), |axum::Extension(t)| t.0)
    }
}

async fn assign_trace_id(mut request: Request<Body>) -> Request<Body> {
    request.extensions_mut().insert(TraceId(uuid::Uuid::new_v4().to_string()));
    request
}

fn make_span(request: &Request<Body>) -> Span {
    let route = request.extensions().get::<MatchedPath>().map_or("(no route)", MatchedPath::as_str);
    let trace_id = request.extensions().get::<TraceId>().map_or("", |t| t.0.as_str());
    tracing::info_span!("request", method = %request.method(), route, trace_id)
}

fn on_response<B>(response: &Response<B>, latency: Duration, _span: &Span) {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return;
    }
    let failure = response.extensions().get::<Failure>();
    let code = failure.map_or("(none)", |f| f.code.as_str());
    let detail = failure.and_then(|f| f.detail.as_deref()).unwrap_or("");
    let latency_ms = latency.as_millis();
    let status = status.as_u16();
    if status >= 500 {
        tracing::error!(status, code, detail, latency_ms, "request failed");
    } else if matches!(StatusCode::from_u16(status), Ok(StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)) {
        tracing::warn!(status, code, detail, latency_ms, "request refused");
    } else {
        tracing::info!(status, code, detail, latency_ms, "request refused");
    }
}

type Layer = TraceLayer<
    SharedClassifier<ServerErrorsAsFailures>,
    fn(&Request<Body>) -> Span,
    (),
    fn(&Response<Body>, Duration, &Span),
    DefaultOnBodyChunk,
    DefaultOnEos,
    (),
>;

/// Counts an answered request by route pattern and status class.
async fn count_request(request: Request<Body>, next: Next) -> Response<Body> {
    let route = request.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned());
    let response = next.run(request).await;
    let class = match response.status().as_u16() {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    let route = route.unwrap_or_else(|| "(no route)".to_owned());
    metrics::counter!(comms_core::metrics::REQUESTS, "route" => route, "status" => class).increment(1);
    response
}

/// The router with its trace middleware (outermost first): the trace id, the request
/// span and failure lines, the request count.
pub fn layers<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .layer(axum::middleware::from_fn(count_request))
        .layer(layer())
        .layer(axum::middleware::map_request(assign_trace_id))
}

/// The request spans and failure lines (see the module comment).
fn layer() -> Layer {
    TraceLayer::new_for_http()
        .make_span_with(make_span as fn(&Request<Body>) -> Span)
        .on_request(())
        .on_response(on_response::<Body> as fn(&Response<Body>, Duration, &Span))
        .on_failure(())
}
