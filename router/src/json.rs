//! Reading JSON bodies and query strings into field-level 400s instead of serde's first
//! error, so a caller sees which field is wrong, by its path.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use serde_json::{Map, Value};

use crate::ApiError;

/// Parses a JSON object body (415 if not JSON, 400 if not an object, 413 if too large).
pub fn object_body(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Map<String, Value>, ApiError> {
    let body = body.map_err(ApiError::from_body_rejection)?;
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.to_ascii_lowercase().starts_with("application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected Content-Type application/json",
        ));
    }
    let value: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", format!("body is not valid JSON: {e}"))
    })?;
    match value {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", "body must be a JSON object")),
    }
}

/// A nested object field (required).
pub fn object<'a>(
    obj: &'a Map<String, Value>,
    path: &str,
    name: &str,
) -> Result<&'a Map<String, Value>, ApiError> {
    let full = join(path, name);
    match obj.get(name) {
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(ApiError::invalid_field(&full, "must be an object")),
        None => Err(ApiError::invalid_field(&full, format!("{full} is required"))),
    }
}

/// Whether `s` holds a control character (or a Unicode line or paragraph separator):
/// none belongs in a name, id or note, and a raw one could break or forge a log line.
fn has_control(s: &str) -> bool {
    s.chars().any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}')
}

fn control_error(full: &str) -> ApiError {
    ApiError::invalid_field(full, "must not contain control characters (newline, tab, NUL...)")
}

/// A 400 naming the first string inside `value` (at `path`, nested keys joined with `.`)
/// that holds a control character; for free-form objects such as `project_data`.
pub fn no_control_chars(value: &Value, path: &str) -> Result<(), ApiError> {
    match value {
        Value::String(s) if has_control(s) => Err(control_error(path)),
        Value::Array(items) => items.iter().try_for_each(|v| no_control_chars(v, path)),
        Value::Object(m) => m.iter().try_for_each(|(k, v)| {
            let full = join(path, k);
            if has_control(k) { Err(control_error(&full)) } else { no_control_chars(v, &full) }
        }),
        _ => Ok(()),
    }
}

/// A required non-empty string field, without control characters (the API's string
/// fields are names, ids and notes, never message bodies).
pub fn string<'a>(obj: &'a Map<String, Value>, path: &str, name: &str) -> Result<&'a str, ApiError> {
    let full = join(path, name);
    match obj.get(name) {
        Some(Value::String(s)) if has_control(s) => Err(control_error(&full)),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim()),
        Some(Value::String(_)) => Err(ApiError::invalid_field(&full, "must not be empty")),
        Some(_) => Err(ApiError::invalid_field(&full, "must be a string")),
        None => Err(ApiError::invalid_field(&full, format!("{full} is required"))),
    }
}

/// An optional string field (absent or null is `None`), without control characters.
pub fn opt_string<'a>(
    obj: &'a Map<String, Value>,
    path: &str,
    name: &str,
) -> Result<Option<&'a str>, ApiError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if has_control(s) => Err(control_error(&join(path, name))),
        Some(Value::String(s)) => Ok(Some(s.trim()).filter(|s| !s.is_empty())),
        Some(_) => Err(ApiError::invalid_field(&join(path, name), "must be a string")),
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() { name.to_owned() } else { format!("{path}.{name}") }
}

/// A required query parameter.
pub fn query_param<'a>(query: &'a [(String, String)], name: &str) -> Result<&'a str, ApiError> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::invalid_field(name, format!("query parameter {name} is required")))
}
