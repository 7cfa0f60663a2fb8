//! A local Lambda Runtime API (the part a function's runtime client speaks): hands out
//! queued events on `GET /2018-06-01/runtime/invocation/next`, records each answer
//! (`POST .../invocation/{id}/response` or `.../error`) with the instant it arrived, and
//! an initialisation error (`POST /2018-06-01/runtime/init/error`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::Notify;

/// One answer of the function.
#[derive(Debug, Clone)]
pub struct Answer {
    /// `response`, `error`, or `init-error`.
    pub kind: String,
    pub body: Value,
    /// When the runtime API received it.
    pub at: Instant,
}

#[derive(Default)]
struct Inner {
    events: VecDeque<(String, Value)>,
    answers: HashMap<String, Answer>,
    /// When the function first asked for an event (its initialisation was done).
    first_next: Option<Instant>,
}

/// The Runtime API of one function at a time.
#[derive(Clone, Default)]
pub struct RuntimeApi {
    inner: Arc<Mutex<Inner>>,
    queued: Arc<Notify>,
    answered: Arc<Notify>,
}

/// The key an initialisation error is recorded under.
const INIT: &str = "init";

impl RuntimeApi {
    /// Serves on a free loopback port; returns `host:port` (`AWS_LAMBDA_RUNTIME_API`).
    pub async fn start(&self) -> std::io::Result<String> {
        let app = axum::Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/{kind}", post(answer))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(addr.to_string())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues an event for the function (handed out in order).
    pub fn push(&self, id: &str, event: Value) {
        self.lock().events.push_back((id.to_owned(), event));
        self.queued.notify_one();
    }

    /// When the function first asked for an event, if it has.
    pub fn first_next(&self) -> Option<Instant> {
        self.lock().first_next
    }

    /// Forgets the answers and the first request (for the next cold start).
    pub fn reset(&self) {
        let mut inner = self.lock();
        *inner = Inner::default();
    }

    /// Waits for the answer to `id` (or an initialisation error) for up to `timeout`.
    pub async fn answer(&self, id: &str, timeout: Duration) -> Option<Answer> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.answered.notified();
            {
                let inner = self.lock();
                if let Some(a) = inner.answers.get(id).or_else(|| inner.answers.get(INIT)) {
                    return Some(a.clone());
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    fn record(&self, id: String, kind: &str, body: &str) {
        let body = serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()));
        self.lock().answers.insert(id, Answer { kind: kind.to_owned(), body, at: Instant::now() });
        self.answered.notify_waiters();
    }
}

async fn next(State(api): State<RuntimeApi>) -> Response {
    loop {
        let notified = api.queued.notified();
        {
            let mut inner = api.lock();
            inner.first_next.get_or_insert_with(Instant::now);
            if let Some((id, event)) = inner.events.pop_front() {
                let deadline = (std::time::SystemTime::now() + Duration::from_secs(60))
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis());
                let mut headers = HeaderMap::new();
                let mut set = |k: &'static str, v: String| {
                    if let Ok(v) = v.parse() {
                        headers.insert(k, v);
                    }
                };
                set("lambda-runtime-aws-request-id", id);
                set("lambda-runtime-deadline-ms", deadline.to_string());
                set(
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:f".into(),
                );
                set("content-type", "application/json".into());
                return (headers, event.to_string()).into_response();
            }
        }
        notified.await;
    }
}

async fn answer(State(api): State<RuntimeApi>, Path((id, kind)): Path<(String, String)>, body: String) {
    api.record(id, &kind, &body);
}

async fn init_error(State(api): State<RuntimeApi>, body: String) {
    api.record(INIT.to_owned(), "init-error", &body);
}
