//! Every state-changing console form carries a CSRF token (`csrf`), derived from the
//! session (an HMAC of its id under the session key): [`Posted`] checks it before a
//! handler sees the form. (SameSite=Strict cookies already keep other sites' forms
//! from carrying the session; the token is the second lock.)

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;

use super::ConsoleError;
use super::session::Console;
use crate::AppState;
use comms_core::secure::constant_time_eq;

/// Largest console form accepted (a reply's text is at most a few KB).
const MAX_FORM_BYTES: usize = 16 * 1024;

/// A urlencoded form's fields (the first value of each name).
#[derive(Debug, Default)]
pub struct Fields(HashMap<String, String>);

impl Fields {
    /// Parses a urlencoded body.
    pub fn parse(body: &[u8]) -> Self {
        let mut map = HashMap::new();
        for (k, v) in form_urlencoded::parse(body) {
            map.entry(k.into_owned()).or_insert_with(|| v.into_owned());
        }
        Self(map)
    }

    /// A field's value, trimmed; `None` when absent or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// A required field (400 naming it when absent or blank).
    pub fn required(&self, name: &str) -> Result<&str, ConsoleError> {
        self.get(name).ok_or_else(|| ConsoleError::field(name, "is required"))
    }
}

/// A form posted with a valid session and that session's CSRF token.
pub struct Posted {
    pub console: Console,
    pub fields: Fields,
}

/// Reads a urlencoded body of at most [`MAX_FORM_BYTES`].
pub async fn form_body(req: Request, state: &AppState) -> Result<Fields, ConsoleError> {
    let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded") {
        return Err(ConsoleError::field(
            "content-type",
            "expected a form (application/x-www-form-urlencoded)",
        ));
    }
    let body = Bytes::from_request(req, state)
        .await
        .map_err(|_| ConsoleError::field("body", "unreadable or too large"))?;
    if body.len() > MAX_FORM_BYTES {
        return Err(ConsoleError::field("body", "form too large"));
    }
    Ok(Fields::parse(&body))
}

impl FromRequest<AppState> for Posted {
    type Rejection = ConsoleError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let console = Console::from_request_parts(&mut parts, state).await?;
        let fields = form_body(Request::from_parts(parts, body), state).await?;
        let presented = fields.get("csrf").unwrap_or("");
        if !constant_time_eq(presented.as_bytes(), console.csrf().as_bytes()) {
            return Err(ConsoleError::Csrf);
        }
        Ok(Self { console, fields })
    }
}
