//! A fake OpenAI server speaking both APIs from one script: Chat Completions
//! (`POST /v1/chat/completions`) and the Responses API (`POST /v1/responses`: `input`
//! items in, `output` items out). Every request body is recorded, and `usage` is reported
//! the way OpenAI does, prompt caching included ([`prompt_cache`]).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::serve;

/// What the OpenAI stub answers next.
#[derive(Clone)]
pub enum ModelStep {
    ToolCall {
        name: &'static str,
        arguments: Value,
    },
    Text(&'static str),
    Status(u16),
    /// 429 with code `insufficient_quota`.
    Quota,
    /// 429 `rate_limit_exceeded` with `Retry-After: {seconds}`.
    RateLimited(u64),
}

#[derive(Default)]
struct OpenAiState {
    script: VecDeque<ModelStep>,
    /// Answer this when the script is empty (e.g. always 500).
    fallback: Option<ModelStep>,
    delay: Duration,
    requests: Vec<Value>,
    /// The path of each request (`/v1/chat/completions` or `/v1/responses`), in order.
    paths: Vec<String>,
    /// The Authorization header of each request, in order.
    authorizations: Vec<String>,
    /// The prompt (see [`prompt_cache::prompt_text`]) of every request so far.
    prompts: Vec<String>,
    /// The usage reported for each answered request, in order.
    usages: Vec<StubUsage>,
}

/// Tokens as the stub counted and reported them for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StubUsage {
    pub input_tokens: u64,
    pub cached_tokens: u64,
    pub output_tokens: u64,
}

/// A fake OpenAI server: answers from a script, records every request body.
#[derive(Clone)]
pub struct OpenAiStub {
    pub base_url: String,
    state: Arc<Mutex<OpenAiState>>,
    _server: Arc<tokio::task::JoinHandle<()>>,
}

/// Which wire format a request came in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    ChatCompletions,
    Responses,
}

async fn openai_handler(
    State(state): State<Arc<Mutex<OpenAiState>>>,
    uri: Uri,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    assert!(headers.get("authorization").is_some_and(|v| v.to_str().unwrap().starts_with("Bearer ")));
    let api = if uri.path().ends_with("/responses") { Api::Responses } else { Api::ChatCompletions };
    let prompt = prompt_cache::prompt_text(&body);
    let (step, delay, n, cached) = {
        let mut s = state.lock().unwrap();
        let cached = prompt_cache::cached_tokens(&prompt, &s.prompts);
        s.prompts.push(prompt.clone());
        s.requests.push(body.clone());
        s.paths.push(uri.path().to_owned());
        s.authorizations.push(headers["authorization"].to_str().unwrap().to_owned());
        let step =
            s.script.pop_front().or_else(|| s.fallback.clone()).unwrap_or(ModelStep::Text("(script ended)"));
        (step, s.delay, s.requests.len(), cached)
    };
    tokio::time::sleep(delay).await;
    let model = body["model"].as_str().unwrap_or("gpt-4o-mini").to_owned();
    let (input_tokens, out_text) = (prompt_cache::tokens(&prompt), step_text(&step));
    let usage =
        StubUsage { input_tokens, cached_tokens: cached, output_tokens: prompt_cache::tokens(&out_text) };
    let answer = match (&step, api) {
        (ModelStep::ToolCall { .. } | ModelStep::Text(_), Api::ChatCompletions) => {
            completion(&step, n, &model, usage)
        }
        (ModelStep::ToolCall { .. } | ModelStep::Text(_), Api::Responses) => {
            response(&step, n, &model, usage)
        }
        _ => return failure(&step),
    };
    state.lock().unwrap().usages.push(usage);
    Json(answer).into_response()
}

/// The text a step's answer holds, for counting its tokens.
fn step_text(step: &ModelStep) -> String {
    match step {
        ModelStep::ToolCall { name, arguments } => format!("{name}{arguments}"),
        ModelStep::Text(t) => (*t).to_owned(),
        _ => String::new(),
    }
}

fn completion(step: &ModelStep, n: usize, model: &str, usage: StubUsage) -> Value {
    let (message, finish) = match step {
        ModelStep::ToolCall { name, arguments } => (
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": format!("call_{n}"), "type": "function", "function": {"name": name, "arguments": arguments.to_string()}}]}),
            "tool_calls",
        ),
        ModelStep::Text(t) => (json!({"role": "assistant", "content": t}), "stop"),
        _ => unreachable!("failures are answered by `failure`"),
    };
    json!({"id": "chatcmpl-test", "object": "chat.completion", "created": 1_700_000_000u64, "model": model,
           "choices": [{"index": 0, "message": message, "finish_reason": finish}],
           "usage": {"prompt_tokens": usage.input_tokens, "completion_tokens": usage.output_tokens,
                     "total_tokens": usage.input_tokens + usage.output_tokens,
                     "prompt_tokens_details": {"cached_tokens": usage.cached_tokens}}})
}

fn response(step: &ModelStep, n: usize, model: &str, usage: StubUsage) -> Value {
    let item = match step {
        ModelStep::ToolCall { name, arguments } => json!({"type": "function_call", "id": format!("fc_{n}"),
            "call_id": format!("call_{n}"), "name": name, "arguments": arguments.to_string(), "status": "completed"}),
        ModelStep::Text(t) => json!({"type": "message", "id": format!("msg_{n}"), "role": "assistant",
            "status": "completed", "content": [{"type": "output_text", "text": t, "annotations": []}]}),
        _ => unreachable!("failures are answered by `failure`"),
    };
    json!({"id": format!("resp_{n}"), "object": "response", "created_at": 1_700_000_000u64, "model": model,
           "status": "completed", "output": [item],
           "usage": {"input_tokens": usage.input_tokens,
                     "input_tokens_details": {"cached_tokens": usage.cached_tokens},
                     "output_tokens": usage.output_tokens, "output_tokens_details": {"reasoning_tokens": 0},
                     "total_tokens": usage.input_tokens + usage.output_tokens}})
}

/// The error answers, the same in both APIs.
fn failure(step: &ModelStep) -> Response {
    let error = |message: &str, kind: &str, code: Value| {
        Json(json!({"error": {"message": message, "type": kind, "param": null, "code": code}}))
    };
    match step {
        ModelStep::Quota => {
            let body =
                error("You exceeded your current quota", "insufficient_quota", "insufficient_quota".into());
            (StatusCode::TOO_MANY_REQUESTS, body).into_response()
        }
        ModelStep::RateLimited(seconds) => {
            let body = error("Rate limit reached", "requests", "rate_limit_exceeded".into());
            (StatusCode::TOO_MANY_REQUESTS, [("retry-after", seconds.to_string())], body).into_response()
        }
        ModelStep::Status(code) => {
            (StatusCode::from_u16(*code).unwrap(), error("stub failure", "server_error", Value::Null))
                .into_response()
        }
        ModelStep::ToolCall { .. } | ModelStep::Text(_) => unreachable!("answered by the caller"),
    }
}

impl OpenAiStub {
    pub async fn start(script: Vec<ModelStep>) -> Self {
        let state = Arc::new(Mutex::new(OpenAiState { script: script.into(), ..Default::default() }));
        let router = Router::new()
            .route("/v1/chat/completions", post(openai_handler))
            .route("/v1/responses", post(openai_handler))
            .with_state(Arc::clone(&state));
        let (url, server) = serve(router).await;
        Self { base_url: format!("{url}/v1"), state, _server: Arc::new(server) }
    }

    /// Queues `steps` to answer the next requests, before the fallback (`always`).
    pub fn then(&self, steps: Vec<ModelStep>) {
        self.state.lock().unwrap().script.extend(steps);
    }

    pub fn always(&self, step: ModelStep) {
        self.state.lock().unwrap().fallback = Some(step);
    }

    pub fn delay(&self, d: Duration) {
        self.state.lock().unwrap().delay = d;
    }

    pub fn requests(&self) -> Vec<Value> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The path of every request so far (`/v1/chat/completions`, `/v1/responses`).
    pub fn paths(&self) -> Vec<String> {
        self.state.lock().unwrap().paths.clone()
    }

    /// The usage reported for every answered request so far.
    pub fn usages(&self) -> Vec<StubUsage> {
        self.state.lock().unwrap().usages.clone()
    }

    /// The Authorization header of every request so far (`Bearer <key>`).
    pub fn authorizations(&self) -> Vec<String> {
        self.state.lock().unwrap().authorizations.clone()
    }
}

/// Prompt caching as OpenAI reports it: the longest prefix a request shares with an
/// earlier one, counted once it reaches 1,024 tokens, in whole 128-token blocks after
/// those. Tokens are approximated as 4 bytes each (no tokenizer in a stub).
pub mod prompt_cache {
    use serde_json::Value;

    /// The smallest prefix that is cached.
    pub const MIN_CACHED_TOKENS: u64 = 1024;
    /// The cache grows by blocks of this many tokens.
    pub const BLOCK_TOKENS: u64 = 128;

    /// The prompt as the model reads it, in order: `instructions` (Responses), the tool
    /// definitions, then the messages (`messages` or `input`), each as compact JSON.
    pub fn prompt_text(body: &Value) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(instructions) = body.get("instructions").and_then(Value::as_str) {
            parts.push(instructions.to_owned());
        }
        if let Some(tools) = body.get("tools") {
            parts.push(tools.to_string());
        }
        let turns = body.get("messages").or_else(|| body.get("input"));
        match turns {
            Some(Value::Array(items)) => parts.extend(items.iter().map(Value::to_string)),
            Some(Value::String(text)) => parts.push(text.clone()),
            _ => {}
        }
        parts.join("\n")
    }

    /// Approximate tokens of `text`: one per 4 bytes, rounded up.
    pub fn tokens(text: &str) -> u64 {
        (text.len() as u64).div_ceil(4)
    }

    /// The cached tokens of `prompt` given the earlier prompts.
    pub fn cached_tokens(prompt: &str, earlier: &[String]) -> u64 {
        let shared = earlier.iter().map(|e| common_prefix(prompt, e)).max().unwrap_or(0);
        let shared_tokens = shared as u64 / 4;
        if shared_tokens < MIN_CACHED_TOKENS {
            return 0;
        }
        MIN_CACHED_TOKENS + (shared_tokens - MIN_CACHED_TOKENS) / BLOCK_TOKENS * BLOCK_TOKENS
    }

    fn common_prefix(a: &str, b: &str) -> usize {
        a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn counts_the_shared_prefix_in_blocks_after_1024_tokens() {
            let base = "a".repeat(4 * 1100);
            assert_eq!(cached_tokens(&base, &[]), 0, "nothing earlier");
            let later = format!("{base}b");
            assert_eq!(cached_tokens(&later, std::slice::from_ref(&base)), 1024, "1100 shared: one minimum");
            let long = "a".repeat(4 * 1300);
            assert_eq!(cached_tokens(&format!("{long}x"), std::slice::from_ref(&long)), 1024 + 256);
            assert_eq!(cached_tokens(&"a".repeat(4 * 1000), &[long]), 0, "under the minimum");
        }
    }
}
