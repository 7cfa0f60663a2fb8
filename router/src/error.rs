//! The one error shape of every route: `{"error": {"code", "message", "field"}}`.
//!
//! Errors are not logged where they are made: an answer carries its [`ErrorCode`] and any
//! detail meant for the operator (never for the caller) to the trace middleware
//! ([`crate::trace`]), which logs every failed request once, with its route.

use std::any::Any;

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $text:literal,)+) => {
        /// Every `error.code` the service answers with (docs/openapi.json lists the same
        /// set; a test keeps them equal).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)+
        }

        impl ErrorCode {
            /// Every code.
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$variant),+];

            /// The code as the answer spells it (snake_case).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $text,)+
                }
            }
        }
    };
}

error_codes! {
    /// An input field (body, form or query parameter) is missing or invalid; `field` names it.
    InvalidField = "invalid_field",
    MalformedJson = "malformed_json",
    MalformedForm = "malformed_form",
    UnreadableBody = "unreadable_body",
    UnsupportedMediaType = "unsupported_media_type",
    PayloadTooLarge = "payload_too_large",
    MissingApiKey = "missing_api_key",
    Forbidden = "forbidden",
    MissingSignature = "missing_signature",
    InvalidSignature = "invalid_signature",
    UnknownNumber = "unknown_number",
    /// No tenant receives email at the message's recipient address.
    UnknownAddress = "unknown_address",
    ProjectInactive = "project_inactive",
    ChannelNotSupported = "channel_not_supported",
    ChannelNotAllowed = "channel_not_allowed",
    ChannelNotConfigured = "channel_not_configured",
    RecipientOptedOut = "recipient_opted_out",
    RequestIdConflict = "request_id_conflict",
    SlotTaken = "slot_taken",
    /// Too many attempts (the console's sign-in); `Retry-After` says when to try again.
    RateLimited = "rate_limited",
    NotFound = "not_found",
    MethodNotAllowed = "method_not_allowed",
    Internal = "internal",
    StoreUnavailable = "store_unavailable",
    /// Answered by `comms serve`'s connection wrapper (cli/src/http_errors.rs) for hyper's
    /// own errors, before a request reaches the router; listed so the set is complete.
    UriTooLong = "uri_too_long",
    HeadersTooLarge = "headers_too_large",
    HttpVersionNotSupported = "http_version_not_supported",
    MalformedRequest = "malformed_request",
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error answer: a 4xx for the caller's fault, a 5xx for ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub field: Option<String>,
    /// What the operator should know (logged by the trace middleware, never answered);
    /// free of phone numbers and secrets.
    pub detail: Option<String>,
}

/// What the trace middleware logs about a failed request: put in the answer's extensions.
#[derive(Debug, Clone)]
pub struct Failure {
    pub code: ErrorCode,
    pub detail: Option<String>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: ErrorCode,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    /// An error with no field.
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), field: None, detail: None }
    }

    /// A 400 about one input field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidField, message).on_field(field)
    }

    /// The same error, naming the input field it is about.
    pub fn on_field(self, field: &str) -> Self {
        Self { field: Some(field.to_owned()), ..self }
    }

    /// The same error, with `detail` for the operator's log.
    pub fn with_detail(self, detail: impl Into<String>) -> Self {
        Self { detail: Some(detail.into()), ..self }
    }

    /// A 500 whose details are logged, not shown.
    pub fn internal(context: &str) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            format!("internal error ({context})"),
        )
    }

    /// A 503 for a storage failure: the caller may retry. The error is kept for the log,
    /// digit runs redacted (storage errors may quote keys, and conversation ids hold the
    /// customer's number).
    pub fn unavailable(error: impl std::fmt::Display) -> Self {
        let error = comms_core::redact::redact_digit_runs(&error.to_string()).into_owned();
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::StoreUnavailable,
            "storage unavailable, retry later",
        )
        .with_detail(format!("storage call failed: {error}"))
    }

    /// Maps a failure to read the body: over the limit is 413, anything else 400.
    pub fn from_body_rejection(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                "request body is larger than allowed",
            )
        } else {
            Self::new(StatusCode::BAD_REQUEST, ErrorCode::UnreadableBody, rejection.body_text())
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body =
            Body { error: Inner { code: self.code, message: &self.message, field: self.field.as_deref() } };
        let mut response = (self.status, Json(body)).into_response();
        response.extensions_mut().insert(Failure { code: self.code, detail: self.detail });
        response
    }
}

/// Unknown routes.
pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "no such route")
}

/// Known routes with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        "method not allowed on this route",
    )
}

/// A handler panicked: answer 500 in the usual shape and keep serving (the trace
/// middleware logs it, once).
pub fn panic_response(_: Box<dyn Any + Send + 'static>) -> Response {
    ApiError::internal("unexpected failure").with_detail("request handler panicked").into_response()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn the_codes_are_the_ones_openapi_documents() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json")).unwrap();
        let spec: serde_json::Value = serde_json::from_str(&text).unwrap();
        let documented: BTreeSet<&str> =
            spec["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]
                .as_array()
                .expect("the Error schema's code has an enum")
                .iter()
                .map(|c| c.as_str().unwrap())
                .collect();
        let served: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(served, documented);
        assert_eq!(serde_json::to_value(ErrorCode::StoreUnavailable).unwrap(), "store_unavailable");
    }
}
