//! One span per request, named by its route, and one log line per failed request: 5xx as
//! errors, 4xx at warn (key and signature refusals) or info, each with its error code.
//! Handlers and error constructors do not log failures themselves; the [`Failure`] an
//! [`crate::ApiError`] leaves on its answer says what to log.
//!
//! Only the route pattern (`/twilio/voice/gather`) goes on the span, never the URI's
//! query: query strings carry tenant ids and could carry anything a caller sends.

use std::time::Duration;

use axum::body::Body;
use axum::extract::MatchedPath;
use axum::http::{Request, Response, StatusCode};
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{DefaultOnBodyChunk, DefaultOnEos, TraceLayer};
use tracing::Span;

use crate::error::Failure;

fn make_span(request: &Request<Body>) -> Span {
    let route = request.extensions().get::<MatchedPath>().map_or("(no route)", MatchedPath::as_str);
    tracing::info_span!("request", method = %request.method(), route)
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

/// The trace middleware: request spans and failure lines (see the module comment).
pub fn layer() -> Layer {
    TraceLayer::new_for_http()
        .make_span_with(make_span as fn(&Request<Body>) -> Span)
        .on_request(())
        .on_response(on_response::<Body> as fn(&Response<Body>, Duration, &Span))
        .on_failure(())
}
