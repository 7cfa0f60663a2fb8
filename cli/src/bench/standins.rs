//! Stand-ins for OpenAI and Twilio for `comms bench load`: local HTTP servers speaking
//! their wire formats (Chat Completions; `Messages.json`), answering at once, so the real
//! clients of `comms serve` run and only our own stack is measured. Not the real services.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::CliResult;

/// A running stand-in server; stops when dropped.
pub struct StandIn {
    pub base_url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn serve(router: Router) -> CliResult<StandIn> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base_url = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            eprintln!("stand-in server stopped: {e}");
        }
    });
    Ok(StandIn { base_url, server })
}

/// The OpenAI stand-in: every chat completion is the same short text reply, at once.
pub async fn openai() -> CliResult<StandIn> {
    async fn complete() -> Json<Value> {
        Json(json!({
            "id": "chatcmpl-standin", "object": "chat.completion", "created": 1_700_000_000u64,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "Yes, we can fix that today."}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 8, "total_tokens": 18}
        }))
    }
    let mut stand_in = serve(Router::new().route("/v1/chat/completions", post(complete))).await?;
    stand_in.base_url.push_str("/v1");
    Ok(stand_in)
}

/// When the Twilio stand-in received the first message to each recipient.
#[derive(Default)]
pub struct Replies {
    received: Mutex<HashMap<String, Instant>>,
    /// Total creates, repeats included (a recipient answered twice shows here).
    creates: Mutex<usize>,
    /// Raised on every create.
    pub arrived: Notify,
}

impl Replies {
    /// Recipients answered so far.
    pub fn count(&self) -> usize {
        self.received.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// When each recipient's first reply arrived.
    pub fn snapshot(&self) -> HashMap<String, Instant> {
        self.received.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Messages created, repeats included.
    pub fn creates(&self) -> usize {
        *self.creates.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The Twilio stand-in: creates a message (answering as Twilio does) and records when it
/// arrived per recipient; lists nothing (nothing to recover in a run without failures).
pub async fn twilio(replies: Arc<Replies>) -> CliResult<StandIn> {
    async fn create(State(replies): State<Arc<Replies>>, body: String) -> Response {
        let now = Instant::now();
        let form: HashMap<String, String> = form_pairs(&body);
        let to = form.get("To").cloned().unwrap_or_default();
        let n = {
            let mut creates = replies.creates.lock().unwrap_or_else(|p| p.into_inner());
            *creates += 1;
            *creates
        };
        replies.received.lock().unwrap_or_else(|p| p.into_inner()).entry(to.clone()).or_insert(now);
        replies.arrived.notify_waiters();
        let message = json!({
            "sid": format!("SM{n:032x}"), "status": "queued", "to": to,
            "from": form.get("From").cloned().unwrap_or_default(),
            "body": form.get("Body").cloned().unwrap_or_default(),
            "date_created": jiff::fmt::rfc2822::to_string(&jiff::Zoned::now().with_time_zone(jiff::tz::TimeZone::UTC)).unwrap_or_default(),
        });
        (StatusCode::CREATED, Json(message)).into_response()
    }
    async fn list() -> Json<Value> {
        Json(json!({"messages": [], "page": 0, "page_size": 50}))
    }
    let router = Router::new()
        .route("/2010-04-01/Accounts/{sid}/Messages.json", post(create).get(list))
        .with_state(replies);
    serve(router).await
}

/// A form body's fields (Twilio's REST API takes form posts).
fn form_pairs(body: &str) -> HashMap<String, String> {
    form_urlencoded::parse(body.as_bytes()).into_owned().collect()
}
