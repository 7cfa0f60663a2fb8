//! A fake SendGrid v3 Mail Send API (`POST /v3/mail/send`): checks the request the way
//! SendGrid does (Bearer key, a recipient, a sender, a subject, `text/plain` content
//! before `text/html`), answers `202 Accepted` with an `X-Message-Id`, or a scripted
//! failure in SendGrid's error shape (`{"errors": [{"message", "field", "help"}]}`), and
//! records every request. Its Event Webhook side is [`crate::sendgrid_events`].

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

/// How the SendGrid stub answers the next Mail Send.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SendGridMode {
    /// 202 with an `X-Message-Id`: the mail is queued.
    Ok,
    /// 429 with `Retry-After: 0` (SendGrid's rate limit): nothing queued.
    Throttle,
    /// 503: nothing queued.
    Unavailable,
    /// 400 with SendGrid's error JSON: nothing queued, and trying again cannot help.
    BadRequest,
    /// 401: the API key is wrong or revoked.
    Unauthorized,
    /// Queues the mail, then answers only after the stub's hang time (a timeout for the
    /// client: the mail is out, but the client cannot know).
    AcceptThenHang,
}

/// A mail SendGrid accepted: the request body and the id it answered with.
#[derive(Clone, Debug)]
pub struct AcceptedMail {
    pub message_id: String,
    pub body: Value,
}

struct SendGridState {
    modes: VecDeque<SendGridMode>,
    /// Every Mail Send request body, in order (accepted or not).
    requests: Vec<Value>,
    /// The Authorization header of each request, in order.
    authorizations: Vec<String>,
    accepted: Vec<AcceptedMail>,
    hang: Duration,
}

/// A local SendGrid Mail Send API; `base_url` is what `SENDGRID_API_BASE` takes.
#[derive(Clone)]
pub struct SendGridStub {
    pub base_url: String,
    state: Arc<Mutex<SendGridState>>,
    _server: Arc<tokio::task::JoinHandle<()>>,
}

/// SendGrid's error body.
fn errors(message: &str, field: Option<&str>) -> Json<Value> {
    Json(json!({"errors": [{"message": message, "field": field, "help": null}]}))
}

/// What SendGrid refuses with a 400 before anything else, as `(message, field)`.
fn invalid(body: &Value) -> Option<(&'static str, &'static str)> {
    let p = body["personalizations"].as_array().filter(|p| !p.is_empty());
    let Some(p) = p else {
        return Some((
            "The personalizations field is required and must have at least one personalization.",
            "personalizations",
        ));
    };
    if p.iter().any(|p| p["to"].as_array().is_none_or(|to| to.iter().any(|t| !is_email(&t["email"])))) {
        return Some(("Does not contain a valid address.", "personalizations.0.to.0.email"));
    }
    if !is_email(&body["from"]["email"]) {
        return Some(("The from email does not contain a valid address.", "from.email"));
    }
    let subject = |v: &Value| v["subject"].as_str().is_some_and(|s| !s.is_empty());
    if !subject(body) && !p.iter().all(subject) {
        return Some(("The subject is required.", "subject"));
    }
    let content = body["content"].as_array().filter(|c| !c.is_empty());
    let Some(content) = content else {
        return Some(("The content value must be a string at least one character in length.", "content"));
    };
    let at = |kind: &str| content.iter().position(|c| c["type"] == kind);
    if let (Some(html), Some(text)) = (at("text/html"), at("text/plain"))
        && html < text
    {
        return Some(("If present, text/plain content must be first, followed by text/html.", "content"));
    }
    None
}

fn is_email(v: &Value) -> bool {
    v.as_str().is_some_and(|e| e.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.')))
}

async fn mail_send(
    State(state): State<Arc<Mutex<SendGridState>>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let (mode, hang, n) = {
        let mut s = state.lock().unwrap();
        s.requests.push(body.clone());
        s.authorizations.push(auth.clone());
        let mode = s.modes.pop_front().unwrap_or(SendGridMode::Ok);
        (mode, s.hang, s.accepted.len() + 1)
    };
    if !auth.starts_with("Bearer SG.") || mode == SendGridMode::Unauthorized {
        let msg = "The provided authorization grant is invalid, expired, or revoked";
        return (StatusCode::UNAUTHORIZED, errors(msg, None)).into_response();
    }
    if let Some((message, field)) = invalid(&body) {
        return (StatusCode::BAD_REQUEST, errors(message, Some(field))).into_response();
    }
    match mode {
        SendGridMode::Throttle => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "0")],
                errors("too many requests", None),
            )
                .into_response();
        }
        SendGridMode::Unavailable => {
            return (StatusCode::SERVICE_UNAVAILABLE, errors("service unavailable", None)).into_response();
        }
        SendGridMode::BadRequest => {
            let msg = "The to email does not contain a valid address.";
            return (StatusCode::BAD_REQUEST, errors(msg, Some("personalizations.0.to.0.email")))
                .into_response();
        }
        _ => {}
    }
    let message_id = format!("sgstub{n:016}");
    state.lock().unwrap().accepted.push(AcceptedMail { message_id: message_id.clone(), body });
    if mode == SendGridMode::AcceptThenHang {
        tokio::time::sleep(hang).await;
    }
    (StatusCode::ACCEPTED, [("x-message-id", message_id)]).into_response()
}

impl SendGridStub {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(SendGridState {
            modes: VecDeque::new(),
            requests: Vec::new(),
            authorizations: Vec::new(),
            accepted: Vec::new(),
            hang: Duration::from_secs(30),
        }));
        let router = Router::new().route("/v3/mail/send", post(mail_send)).with_state(Arc::clone(&state));
        let (url, server) = crate::serve(router).await;
        Self { base_url: url, state, _server: Arc::new(server) }
    }

    /// Answers the next Mail Sends with `modes`, in order (then [`SendGridMode::Ok`]).
    pub fn next(&self, modes: &[SendGridMode]) {
        self.state.lock().unwrap().modes.extend(modes.iter().copied());
    }

    /// How long [`SendGridMode::AcceptThenHang`] waits before answering (30 s unless set).
    pub fn hang(&self, d: Duration) {
        self.state.lock().unwrap().hang = d;
    }

    /// Every Mail Send request body so far, oldest first.
    pub fn requests(&self) -> Vec<Value> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The Authorization header of every request so far (`Bearer <key>`).
    pub fn authorizations(&self) -> Vec<String> {
        self.state.lock().unwrap().authorizations.clone()
    }

    /// The mails SendGrid queued (would deliver), oldest first.
    pub fn accepted(&self) -> Vec<AcceptedMail> {
        self.state.lock().unwrap().accepted.clone()
    }
}
