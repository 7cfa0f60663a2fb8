//! The console's refusals and failures, answered as small HTML pages (with the
//! [`Failure`] the trace middleware logs, like the JSON routes' errors).

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::ErrorCode;
use crate::error::Failure;

/// Why a console request was not served.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// A page asked for without a valid session: go and sign in (then come back).
    #[error("sign-in required")]
    SignIn { root: String, next: Option<String> },
    /// A form posted without a valid session.
    #[error("no valid session")]
    Unauthorized,
    /// Signed in, but not allowed here (another tenant, an operator-only page...).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The form's CSRF token is missing or wrong.
    #[error("the form's CSRF token is missing or wrong")]
    Csrf,
    #[error("not found: {0}")]
    NotFound(String),
    /// A form or query field is missing or invalid.
    #[error("{field}: {message}")]
    BadField { field: String, message: String },
    /// Too many sign-in attempts.
    #[error("too many sign-in attempts")]
    RateLimited { retry_after_secs: u64 },
    /// A store, queue or secret call failed (details are for the log only).
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("internal: {0}")]
    Internal(String),
    /// An operator opened a tenant page without a tenant: the page offering tenants.
    #[error("an operator must choose a tenant")]
    ChooseTenant(Box<Response>),
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

impl ConsoleError {
    /// A 400 about one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::BadField { field: field.to_owned(), message: message.into() }
    }

    /// A storage or queue failure (digit runs redacted: errors may quote numbers).
    pub fn store(e: impl std::fmt::Display) -> Self {
        Self::Unavailable(comms_core::redact::redact_digit_runs(&e.to_string()).into_owned())
    }

    /// A secret store failure (the error names the secret, never its value).
    pub fn secret(e: impl std::fmt::Display) -> Self {
        Self::Unavailable(format!("secret store: {e}"))
    }

    fn parts(&self) -> (StatusCode, ErrorCode, &'static str, String) {
        use ConsoleError::*;
        match self {
            SignIn { .. } | Unauthorized => (
                StatusCode::UNAUTHORIZED,
                ErrorCode::MissingApiKey,
                "Sign-in required",
                "Please sign in again.".into(),
            ),
            Forbidden(_) => (
                StatusCode::FORBIDDEN,
                ErrorCode::Forbidden,
                "Not allowed",
                "This is not yours to see.".into(),
            ),
            Csrf => (
                StatusCode::FORBIDDEN,
                ErrorCode::Forbidden,
                "Form expired",
                "The form was stale or not from this console: reload the page and try again.".into(),
            ),
            NotFound(what) => {
                (StatusCode::NOT_FOUND, ErrorCode::NotFound, "Not found", format!("No such {what}."))
            }
            BadField { field, message } => (
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidField,
                "Check the form",
                format!("{field}: {message}"),
            ),
            RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RateLimited,
                "Too many attempts",
                "Too many sign-in attempts: wait a few minutes and try again.".into(),
            ),
            Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::StoreUnavailable,
                "Try again",
                "Storage is unavailable right now: try again in a moment.".into(),
            ),
            Internal(_) | ChooseTenant(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                "Something went wrong",
                "Internal error.".into(),
            ),
        }
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        if let ConsoleError::SignIn { root, next } = &self {
            let to = match next {
                Some(n) => format!("{root}/console/sign-in?next={}", super::layout::encode(n)),
                None => format!("{root}/console/sign-in"),
            };
            return Redirect::to(&to).into_response();
        }
        if let ConsoleError::ChooseTenant(page) = self {
            return *page;
        }
        let (status, code, title, message) = self.parts();
        let detail = match &self {
            ConsoleError::Forbidden(d) | ConsoleError::Unavailable(d) | ConsoleError::Internal(d) => {
                Some(d.clone())
            }
            ConsoleError::BadField { field, .. } => Some(format!("field {field}")),
            _ => None,
        };
        let body = ErrorPage { title, message: &message }.render().unwrap_or_else(|_| message.clone());
        let mut response = (status, Html(body)).into_response();
        if let ConsoleError::RateLimited { retry_after_secs } = self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response.extensions_mut().insert(Failure { code, detail });
        response
    }
}

/// Known console routes with the wrong method.
pub async fn method_not_allowed() -> Response {
    let body = ErrorPage { title: "Not allowed", message: "Method not allowed on this page." }
        .render()
        .unwrap_or_default();
    let mut response = (StatusCode::METHOD_NOT_ALLOWED, Html(body)).into_response();
    response.extensions_mut().insert(Failure { code: ErrorCode::MethodNotAllowed, detail: None });
    response
}
