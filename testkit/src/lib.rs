//! Test support, never linked into a shipped binary: local HTTP servers speaking OpenAI
//! Chat Completions and the Responses API ([`openai`]), Twilio Messages and SendGrid Mail Send ([`sendgrid`]; so the real
//! clients, async-openai and reqwest, are exercised at the wire level), SendGrid's webhook
//! signing ([`sendgrid_events`]), the conformance suites every adapter of a port runs
//! ([`conformance`]), a launcher for moto's AWS emulator ([`moto`]), and a log capture
//! ([`logs`]).
#![allow(clippy::unwrap_used)] // test support: a broken stub should fail the test loudly

pub mod conformance;
pub mod logs;
pub mod moto;
pub mod openai;
pub mod sendgrid;
pub mod sendgrid_events;

pub use openai::{ModelStep, OpenAiStub};

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

/// A reqwest client for tests. reqwest is built with `rustls-no-provider` in the Lambda
/// packages' dependency graphs (one TLS provider, ring: docs/decisions.md), so ring is
/// installed as the process's rustls provider first (once; an installed one is kept).
pub fn http_client() -> reqwest::Client {
    static RING: std::sync::Once = std::sync::Once::new();
    RING.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::new()
}

pub(crate) async fn serve(router: Router) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (url, tokio::spawn(async move { axum::serve(listener, router).await.unwrap() }))
}

/// How the Twilio stub answers the next create.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TwilioMode {
    Ok,
    /// Creates the message, then answers 500 (the ambiguous case).
    CreateThen500,
    /// 429 with Retry-After: never processed.
    Throttle,
    /// 400 with code 21610: the recipient unsubscribed.
    Unsubscribed,
    /// 400 with code 21211, the message quoting the `To` number (as Twilio's does).
    InvalidTo,
}

#[derive(Default)]
struct TwilioState {
    modes: VecDeque<TwilioMode>,
    created: Vec<Value>,
    posts: usize,
    /// Call updates received: `{"call_sid", "twiml"}`.
    call_updates: Vec<Value>,
    /// Calls that have ended: updating them answers Twilio's 21220.
    ended_calls: Vec<String>,
    /// Wait this long after recording a create before answering it (a crash "between
    /// send and store" can then be staged).
    delay: Duration,
}

/// A fake Twilio REST API: `Messages.json` create and list.
#[derive(Clone)]
pub struct TwilioStub {
    pub base_url: String,
    state: Arc<Mutex<TwilioState>>,
    _server: Arc<tokio::task::JoinHandle<()>>,
}

fn rfc2822_now() -> String {
    jiff::fmt::rfc2822::to_string(&jiff::Zoned::now().with_time_zone(jiff::tz::TimeZone::UTC)).unwrap()
}

async fn twilio_create(
    State(state): State<Arc<Mutex<TwilioState>>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let (response, delay) = create_message(&state, &headers, &body);
    tokio::time::sleep(delay).await;
    response
}

/// Records a create; returns the answer and how long to wait before giving it.
fn create_message(state: &Mutex<TwilioState>, headers: &HeaderMap, body: &str) -> (Response, Duration) {
    assert!(headers.get("authorization").is_some_and(|v| v.to_str().unwrap().starts_with("Basic ")));
    let form: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let mut s = state.lock().unwrap();
    s.posts += 1;
    let mode = s.modes.pop_front().unwrap_or(TwilioMode::Ok);
    if mode == TwilioMode::Throttle {
        let r = (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "0")],
            Json(json!({"code": 20429, "message": "Too Many Requests", "status": 429})),
        );
        return (r.into_response(), Duration::ZERO);
    }
    if mode == TwilioMode::Unsubscribed {
        let r = (
            StatusCode::BAD_REQUEST,
            Json(
                json!({"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400}),
            ),
        );
        return (r.into_response(), Duration::ZERO);
    }
    if mode == TwilioMode::InvalidTo {
        let message = format!("The 'To' number {} is not a valid phone number.", get("To"));
        let r = (StatusCode::BAD_REQUEST, Json(json!({"code": 21211, "message": message, "status": 400})));
        return (r.into_response(), Duration::ZERO);
    }
    let msg = json!({"sid": format!("SM{:032x}", s.created.len() + 1), "status": "queued", "to": get("To"), "from": get("From"),
        "body": get("Body"), "date_created": rfc2822_now(), "status_callback": get("StatusCallback"),
        "content_sid": get("ContentSid"), "content_variables": get("ContentVariables")});
    s.created.push(msg.clone());
    let response = match mode {
        TwilioMode::CreateThen500 => (StatusCode::INTERNAL_SERVER_ERROR, "upstream error").into_response(),
        _ => (StatusCode::CREATED, Json(msg)).into_response(),
    };
    (response, s.delay)
}

async fn twilio_call_update(
    State(state): State<Arc<Mutex<TwilioState>>>,
    axum::extract::Path((_account, call)): axum::extract::Path<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> Response {
    assert!(headers.get("authorization").is_some_and(|v| v.to_str().unwrap().starts_with("Basic ")));
    let call_sid = call.trim_end_matches(".json").to_owned();
    let form: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let twiml = form.iter().find(|(k, _)| k == "Twiml").map(|(_, v)| v.clone()).unwrap_or_default();
    let mut s = state.lock().unwrap();
    if s.ended_calls.contains(&call_sid) {
        return (
            StatusCode::BAD_REQUEST,
            Json(
                json!({"code": 21220, "message": "Call is not in-progress. Cannot redirect.", "status": 400}),
            ),
        )
            .into_response();
    }
    s.call_updates.push(json!({"call_sid": call_sid, "twiml": twiml}));
    Json(json!({"sid": call_sid, "status": "in-progress"})).into_response()
}

/// Lists created messages, newest first, filtered by `To` and `From` as Twilio does.
async fn twilio_list(
    State(state): State<Arc<Mutex<TwilioState>>>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Json<Value> {
    let query: Vec<(String, String)> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    let wanted = |field: &str, m: &Value| {
        query.iter().filter(|(k, _)| k == field).all(|(_, v)| m[field.to_lowercase()].as_str() == Some(v))
    };
    let s = state.lock().unwrap();
    let mut messages: Vec<Value> =
        s.created.iter().filter(|m| wanted("To", m) && wanted("From", m)).cloned().collect();
    messages.reverse();
    Json(json!({"messages": messages, "page": 0, "page_size": 50}))
}

impl TwilioStub {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(TwilioState::default()));
        let router = Router::new()
            .route("/2010-04-01/Accounts/{sid}/Messages.json", post(twilio_create).get(twilio_list))
            .route("/2010-04-01/Accounts/{sid}/Calls/{call}", post(twilio_call_update))
            .with_state(Arc::clone(&state));
        let (url, server) = serve(router).await;
        Self { base_url: url, state, _server: Arc::new(server) }
    }

    pub fn next(&self, modes: &[TwilioMode]) {
        self.state.lock().unwrap().modes.extend(modes.iter().copied());
    }

    /// Messages Twilio holds (created), oldest first.
    pub fn created(&self) -> Vec<Value> {
        self.state.lock().unwrap().created.clone()
    }

    /// Answer each create this long after recording it.
    pub fn delay(&self, d: Duration) {
        self.state.lock().unwrap().delay = d;
    }

    pub fn posts(&self) -> usize {
        self.state.lock().unwrap().posts
    }

    /// Call updates received (`call_sid`, `twiml`), oldest first.
    pub fn call_updates(&self) -> Vec<Value> {
        self.state.lock().unwrap().call_updates.clone()
    }

    /// From now on, updating `call_sid` answers that the call is not in progress.
    pub fn end_call(&self, call_sid: &str) {
        self.state.lock().unwrap().ended_calls.push(call_sid.to_owned());
    }
}
