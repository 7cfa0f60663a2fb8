//! The one error shape of every route: `{"error": {"code", "message", "field"}}`.

use std::any::Any;

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error answer: a 4xx for the caller's fault, a 5xx for ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    /// An error with no field.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), field: None }
    }

    /// A 400 about one input field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self { field: Some(field.to_owned()), ..Self::new(StatusCode::BAD_REQUEST, "invalid_field", message) }
    }

    /// A 500 whose details are logged, not shown.
    pub fn internal(context: &str) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("internal error ({context})"))
    }

    /// A 503 for a storage failure (logged): the caller may retry.
    pub fn unavailable(error: impl std::fmt::Display) -> Self {
        // Storage errors may quote keys (conversation ids hold the customer's number).
        let error = comms_core::redact::redact_digit_runs(&error.to_string()).into_owned();
        tracing::error!(%error, "storage call failed");
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", "storage unavailable, retry later")
    }

    /// Maps a failure to read the body: over the limit is 413, anything else 400.
    pub fn from_body_rejection(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "request body is larger than allowed",
            )
        } else {
            Self::new(StatusCode::BAD_REQUEST, "unreadable_body", rejection.body_text())
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body =
            Body { error: Inner { code: self.code, message: &self.message, field: self.field.as_deref() } };
        (self.status, Json(body)).into_response()
    }
}

/// Unknown routes.
pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// Known routes with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this route")
}

/// A handler panicked: answer 500 in the usual shape, log, keep serving.
pub fn panic_response(_: Box<dyn Any + Send + 'static>) -> Response {
    tracing::error!("request handler panicked");
    ApiError::internal("unexpected failure").into_response()
}
