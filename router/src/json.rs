//! JSON bodies and query strings into typed request structs, with field-level 400s: a
//! caller sees which field is wrong, by its path (`request_data.request_id`), and a
//! message of ours rather than serde's.
//!
//! A body is read in two steps: [`object_body`] (415, 413, malformed JSON, not an
//! object), then [`typed`] into a request struct whose fields are the types below. Routes
//! may read a small part first (the tenant, to check the key) and the rest after.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use serde_path_to_error::Segment;

use crate::ApiError;
use crate::error::ErrorCode;

/// Parses a JSON object body (415 if not JSON, 400 if not an object, 413 if too large).
pub fn object_body(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    let body = body.map_err(ApiError::from_body_rejection)?;
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.to_ascii_lowercase().starts_with("application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "expected Content-Type application/json",
        ));
    }
    let malformed =
        |message: String| ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::MalformedJson, message);
    let value: Value =
        serde_json::from_slice(&body).map_err(|e| malformed(format!("body is not valid JSON: {e}")))?;
    if value.is_object() { Ok(value) } else { Err(malformed("body must be a JSON object".into())) }
}

/// Deserializes `value` into `T`; the first bad field is a 400 naming its path.
pub fn typed<T: DeserializeOwned>(value: &Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let mut path: Vec<String> = e
            .path()
            .iter()
            .filter_map(|s| match s {
                Segment::Map { key } => Some(key.clone()),
                Segment::Seq { index } => Some(index.to_string()),
                _ => None,
            })
            .collect();
        let message = e.into_inner().to_string();
        // serde's own errors: a required field absent, or a nested object that is not one
        // (every leaf type here writes its own message).
        if let Some(name) = message.strip_prefix("missing field `").and_then(|r| r.strip_suffix('`')) {
            path.push(name.to_owned());
            let full = path.join(".");
            return ApiError::invalid_field(&full, format!("{full} is required"));
        }
        let message = if message.starts_with("invalid type") { "must be an object".into() } else { message };
        ApiError::invalid_field(&path.join("."), message)
    })
}

/// Whether `s` holds a control character (or a Unicode line or paragraph separator):
/// none belongs in a name, id or note, and a raw one could break or forge a log line.
fn has_control(s: &str) -> bool {
    s.chars().any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}')
}

const CONTROL_MESSAGE: &str = "must not contain control characters (newline, tab, NUL...)";

/// A 400 naming the first string inside `value` (at `path`, nested keys joined with `.`)
/// that holds a control character; for free-form objects such as `project_data`.
pub fn no_control_chars(value: &Value, path: &str) -> Result<(), ApiError> {
    match value {
        Value::String(s) if has_control(s) => Err(ApiError::invalid_field(path, CONTROL_MESSAGE)),
        Value::Array(items) => items.iter().try_for_each(|v| no_control_chars(v, path)),
        Value::Object(m) => m.iter().try_for_each(|(k, v)| {
            let full = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
            if has_control(k) {
                Err(ApiError::invalid_field(&full, CONTROL_MESSAGE))
            } else {
                no_control_chars(v, &full)
            }
        }),
        _ => Ok(()),
    }
}

/// A string field as the API takes one: trimmed, without control characters (the API's
/// string fields are names, ids and notes, never message bodies). `None` if empty.
fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) if has_control(&s) => Err(D::Error::custom(CONTROL_MESSAGE)),
        Value::String(s) => Ok(Some(s.trim().to_owned()).filter(|s| !s.is_empty())),
        _ => Err(D::Error::custom("must be a string")),
    }
}

/// A required, non-empty [`text`] field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        text(d)?.map(Self).ok_or_else(|| D::Error::custom("must not be empty"))
    }
}

/// An optional [`text`] field: absent, null or empty is `None` (use with `#[serde(default)]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OptText(pub Option<String>);

impl<'de> Deserialize<'de> for OptText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Option::<Value>::deserialize(d)? {
            None | Some(Value::Null) => Ok(Self(None)),
            Some(v) => text(v).map(Self).map_err(D::Error::custom),
        }
    }
}

/// How a domain value is read from a [`Text`] field, with the 400's message.
pub trait FromText: Sized {
    fn from_text(s: &str) -> Result<Self, String>;
}

/// A required [`Text`] field parsed into a domain type `T`.
#[derive(Debug, Clone)]
pub struct Parsed<T>(pub T);

impl<'de, T: FromText> Deserialize<'de> for Parsed<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Text(s) = Text::deserialize(d)?;
        T::from_text(&s).map(Self).map_err(D::Error::custom)
    }
}

impl FromText for comms_core::domain::PhoneNumber {
    fn from_text(s: &str) -> Result<Self, String> {
        Self::parse(s).map_err(|e| e.to_string())
    }
}

impl FromText for uuid::Uuid {
    fn from_text(s: &str) -> Result<Self, String> {
        Self::parse_str(s).map_err(|_| "must be a UUID".into())
    }
}

impl FromText for jiff::Timestamp {
    fn from_text(s: &str) -> Result<Self, String> {
        s.parse().map_err(|_| "must be an RFC 3339 timestamp".into())
    }
}

impl FromText for jiff::civil::Date {
    fn from_text(s: &str) -> Result<Self, String> {
        comms_core::tools::schedule::parse_date(s).ok_or_else(|| "must be YYYY-MM-DD".into())
    }
}

impl FromText for jiff::civil::Time {
    fn from_text(s: &str) -> Result<Self, String> {
        comms_core::tools::schedule::parse_time(s).ok_or_else(|| "must be HH:MM".into())
    }
}

/// The keys of a JSON object body (for routes that refuse unknown fields).
pub fn keys(value: &Value) -> impl Iterator<Item = &String> {
    value.as_object().into_iter().flat_map(Map::keys)
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Outer {
        #[allow(dead_code)]
        inner: Inner,
    }

    #[derive(Debug, Deserialize)]
    struct Inner {
        #[allow(dead_code)]
        name: Text,
        #[serde(default)]
        note: OptText,
        #[allow(dead_code)]
        when: Parsed<jiff::Timestamp>,
    }

    fn error(v: Value) -> (Option<String>, String) {
        let e = typed::<Outer>(&v).unwrap_err();
        (e.field, e.message)
    }

    #[test]
    fn errors_name_the_field_by_its_path_in_our_words() {
        let when = "2026-01-01T00:00:00Z";
        let f = |s: &str| Some(s.to_owned());
        assert_eq!(error(json!({})), (f("inner"), "inner is required".into()));
        assert_eq!(error(json!({"inner": 3})), (f("inner"), "must be an object".into()));
        assert_eq!(
            error(json!({"inner": {"when": when}})),
            (f("inner.name"), "inner.name is required".into())
        );
        assert_eq!(
            error(json!({"inner": {"name": 1, "when": when}})),
            (f("inner.name"), "must be a string".into())
        );
        assert_eq!(
            error(json!({"inner": {"name": " ", "when": when}})),
            (f("inner.name"), "must not be empty".into())
        );
        assert_eq!(
            error(json!({"inner": {"name": "a\nb", "when": when}})),
            (f("inner.name"), CONTROL_MESSAGE.into())
        );
        assert_eq!(
            error(json!({"inner": {"name": "a", "when": "x"}})),
            (f("inner.when"), "must be an RFC 3339 timestamp".into())
        );
        let ok: Outer =
            typed(&json!({"inner": {"name": " a ", "note": null, "when": when, "extra": 1}})).unwrap();
        assert_eq!((ok.inner.name.0.as_str(), ok.inner.note.0), ("a", None));
    }
}
