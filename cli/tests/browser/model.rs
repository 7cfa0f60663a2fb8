//! The model stand-in of the browser test: a local server speaking OpenAI Chat
//! Completions whose answer depends on the owner's state written in the system prompt
//! (so switching to GYM in the console visibly changes the next reply), that books the
//! next weekday at 10:00 when asked to "book me" (the `book_slot` tool, then a text),
//! hands the conversation to the owner when asked for "a person" (`request_human`), and
//! with an outage switch that answers 500 (to dead-letter a message). Not the real
//! service.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

/// The reply while the owner is working.
pub const WORK_REPLY: &str = "Yes, we can fix that today: the owner is in the shop, come by any time.";
/// The reply once `book_slot` has answered.
pub const BOOKED_REPLY: &str = "You are booked in for 10:00. See you then!";
/// The reply once `request_human` has answered.
pub const HANDOFF_REPLY: &str = "I have asked Sam to answer you here personally.";
/// The reply while the owner is at the gym.
pub const GYM_REPLY: &str =
    "Yes, we can fix that: the owner is at the gym right now, so today's slots are limited.";

#[derive(Default)]
struct ModelState {
    requests: usize,
    outage: bool,
}

/// A running model stand-in; stops when dropped.
pub struct ModelStandIn {
    /// The `OPENAI_BASE_URL` to give `comms serve` (ends in `/v1`).
    pub base_url: String,
    state: Arc<Mutex<ModelState>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for ModelStandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl ModelStandIn {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(ModelState::default()));
        let router =
            Router::new().route("/v1/chat/completions", post(complete)).with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { base_url, state, server }
    }

    /// Chat completions asked for so far (failed ones included).
    pub fn requests(&self) -> usize {
        self.state.lock().unwrap().requests
    }

    /// While on, every completion answers 500.
    pub fn set_outage(&self, on: bool) {
        self.state.lock().unwrap().outage = on;
    }
}

async fn complete(State(state): State<Arc<Mutex<ModelState>>>, Json(body): Json<Value>) -> Response {
    let (n, outage) = {
        let mut s = state.lock().unwrap();
        s.requests += 1;
        (s.requests, s.outage)
    };
    if outage {
        let error = json!({"error": {"message": "stand-in outage", "type": "server_error", "param": null, "code": null}});
        return (StatusCode::INTERNAL_SERVER_ERROR, Json(error)).into_response();
    }
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    // The system messages: the static instructions, then the turn's context.
    let system: Vec<&str> =
        messages.iter().filter(|m| m["role"] == "system").filter_map(|m| m["content"].as_str()).collect();
    let system = system.join("\n\n");
    let system = system.as_str();
    let last = messages.last().cloned().unwrap_or_default();
    let last_text = last["content"].as_str().unwrap_or_default();
    let (message, finish) = if last["role"] == "tool" {
        let called = &messages[messages.len() - 2]["tool_calls"][0]["function"]["name"];
        let text = if called == "request_human" { HANDOFF_REPLY } else { BOOKED_REPLY };
        (json!({"role": "assistant", "content": text}), "stop")
    } else if last_text.contains("book me") {
        let arguments = json!({"date": next_weekday(system), "time": "10:00", "customer_name": "Alex",
                               "service": "Screen repair"});
        (tool_call(n, "book_slot", &arguments), "tool_calls")
    } else if last_text.contains("a person") {
        (tool_call(n, "request_human", &json!({"reason": "the customer asks for a person"})), "tool_calls")
    } else {
        (json!({"role": "assistant", "content": reply_for(owner_mode(system))}), "stop")
    };
    Json(json!({
        "id": "chatcmpl-browser", "object": "chat.completion", "created": 1_700_000_000u64, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "finish_reason": finish, "message": message}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    }))
    .into_response()
}

/// An assistant message calling `name` with `arguments`.
fn tool_call(n: usize, name: &str, arguments: &Value) -> Value {
    let call = json!({"id": format!("call_{n}"), "type": "function",
                      "function": {"name": name, "arguments": arguments.to_string()}});
    json!({"role": "assistant", "content": null, "tool_calls": [call]})
}

/// The first Monday-to-Friday after the prompt's "Today is YYYY-MM-DD".
fn next_weekday(system_prompt: &str) -> String {
    let today = system_prompt.split_once("Today is ").map(|(_, rest)| &rest[..10]).unwrap();
    let mut day: jiff::civil::Date = today.parse().unwrap();
    loop {
        day = day.tomorrow().unwrap();
        if !matches!(day.weekday(), jiff::civil::Weekday::Saturday | jiff::civil::Weekday::Sunday) {
            return day.to_string();
        }
    }
}

/// The mode in the prompt's "Owner's current state: GYM, ..." line.
fn owner_mode(system_prompt: &str) -> &str {
    let Some((_, rest)) = system_prompt.split_once("Owner's current state: ") else { return "unknown" };
    rest.split([',', '.', '\n']).next().unwrap_or("unknown").trim()
}

fn reply_for(mode: &str) -> String {
    match mode {
        "WORK" => WORK_REPLY.to_owned(),
        "GYM" => GYM_REPLY.to_owned(),
        other => format!("Yes, we can fix that: the owner is {other} right now."),
    }
}
