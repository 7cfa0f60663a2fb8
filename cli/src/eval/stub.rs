//! The scripted model for `comms eval --model stub`: a local HTTP server speaking Chat
//! Completions that answers each request with the scenario's next script step (the tool
//! call or text a well-behaved model would produce). The real OpenAI client talks to it,
//! so this checks the pipeline and the checker, not a model. Its token counts are
//! estimates (about four characters a token), so the cost column has numbers to add up.
//! A reply may quote a tool's result as a model would: `{result.lead_id}` is the
//! `lead_id` of the latest tool result that has one.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::scenario::ScriptStep;
use crate::CliResult;

#[derive(Default)]
struct Script {
    steps: VecDeque<ScriptStep>,
    answered: usize,
    /// Requests that came after the script ran out.
    overrun: usize,
}

/// A running scripted model; stops when dropped.
pub struct ScriptedModel {
    /// The Chat Completions base URL (`http://127.0.0.1:PORT/v1`).
    pub base_url: String,
    script: Arc<Mutex<Script>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for ScriptedModel {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// What is said once the script has run out (the scenario needs more steps).
pub const SCRIPT_ENDED: &str = "(the stub's script has ended)";

impl ScriptedModel {
    /// Serves `steps` on a free loopback port.
    pub async fn start(steps: Vec<ScriptStep>) -> CliResult<Self> {
        let script = Arc::new(Mutex::new(Script { steps: steps.into(), ..Script::default() }));
        let router =
            Router::new().route("/v1/chat/completions", post(complete)).with_state(Arc::clone(&script));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}/v1", listener.local_addr()?);
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                eprintln!("scripted model stopped: {e}");
            }
        });
        Ok(Self { base_url, script, server })
    }

    /// Steps answered, steps left unused, and requests past the end of the script.
    pub fn progress(&self) -> (usize, usize, usize) {
        let s = self.script.lock().unwrap_or_else(|p| p.into_inner());
        (s.answered, s.steps.len(), s.overrun)
    }
}

async fn complete(State(script): State<Arc<Mutex<Script>>>, Json(request): Json<Value>) -> Json<Value> {
    let (step, n) = {
        let mut s = script.lock().unwrap_or_else(|p| p.into_inner());
        let step = s.steps.pop_front();
        match step {
            Some(_) => s.answered += 1,
            None => s.overrun += 1,
        }
        (step, s.answered + s.overrun)
    };
    let (message, finish) = match step {
        Some(ScriptStep::Call { call, args }) => (
            json!({"role": "assistant", "content": null, "tool_calls": [{
                "id": format!("call_stub_{n}"), "type": "function",
                "function": {"name": call, "arguments": args.to_string()}}]}),
            "tool_calls",
        ),
        Some(ScriptStep::Reply { reply }) => {
            (json!({"role": "assistant", "content": quote_results(&reply, &request)}), "stop")
        }
        None => (json!({"role": "assistant", "content": SCRIPT_ENDED}), "stop"),
    };
    let prompt_tokens = request["messages"].to_string().len().div_ceil(4) as u64;
    let completion_tokens = message.to_string().len().div_ceil(4) as u64;
    Json(json!({
        "id": format!("chatcmpl-stub-{n}"), "object": "chat.completion", "created": 1_700_000_000u64,
        "model": request["model"].as_str().unwrap_or("stub"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens,
                  "prompt_tokens_details": {"cached_tokens": 0}}
    }))
}

/// The reply with each `{result.FIELD}` replaced by that field of the latest tool result
/// (in the request's messages) that has it; left as is when none has.
fn quote_results(reply: &str, request: &Value) -> String {
    let results: Vec<Value> = request["messages"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter(|m| m["role"] == "tool")
                .filter_map(|m| m["content"].as_str().and_then(|c| serde_json::from_str(c).ok()))
                .collect()
        })
        .unwrap_or_default();
    let mut out = reply.to_owned();
    while let Some(start) = out.find("{result.") {
        let Some(len) = out[start..].find('}') else { break };
        let field = &out[start + "{result.".len()..start + len];
        let value = results.iter().rev().find_map(|r| r.get(field)).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        let Some(value) = value else { break };
        out.replace_range(start..=start + len, &value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_quotes_the_latest_tool_result() {
        let request = json!({"messages": [
            {"role": "user", "content": "book it"},
            {"role": "tool", "tool_call_id": "a", "content": "{\"lead_id\": \"LEAD-1\", \"n\": 2}"},
            {"role": "tool", "tool_call_id": "b", "content": "{\"lead_id\": \"LEAD-2\"}"}]});
        assert_eq!(quote_results("Ref {result.lead_id} ({result.n})", &request), "Ref LEAD-2 (2)");
        assert_eq!(quote_results("Ref {result.other}", &request), "Ref {result.other}");
    }
}
