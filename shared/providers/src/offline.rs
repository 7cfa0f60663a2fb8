//! The offline rules model: a stand-in for a real model when no `OPENAI_API_KEY` is set,
//! so the local demo runs the whole tool loop. It is not an AI: it recognises a few
//! phrasings, emits real tool calls for availability, booking and discounts, and words
//! the tool results. It says what it is when it cannot help, and its `describe()` (in
//! logs and in the `comms eval` report) says it is not an AI. `comms eval --model
//! offline` shows which scenarios it cannot pass; its rules are not tuned to them
//! (docs/evals.md).

use async_trait::async_trait;
use serde_json::{Value, json};

use comms_core::ports::{ChatError, ChatMessage, ChatModel, ChatReply, ChatRequest, ToolCall};
use comms_core::tools::schedule;

/// Rule-based chat model for offline use (named as such in logs and replies).
#[derive(Debug, Default, Clone)]
pub struct OfflineRulesModel;

/// Finds `label` followed by a value in the system prompt (`Today is 2026-11-23`).
fn after<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    let start = text.find(label)? + label.len();
    text[start..].split([' ', '\n', ',', '(']).find(|s| !s.is_empty())
}

fn find_time(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    for i in 0..bytes.len() {
        if bytes[i] == b':' && i >= 1 && i + 2 < bytes.len() + 1 {
            let h_start = if i >= 2 && bytes[i - 2].is_ascii_digit() { i - 2 } else { i - 1 };
            let candidate = text.get(h_start..(i + 3).min(text.len()))?;
            if let Some(t) = schedule::parse_time(candidate) {
                return Some(schedule::format_time(t));
            }
        }
    }
    None
}

fn find_percent(text: &str) -> Option<f64> {
    let idx = text.find('%')?;
    let digits: String = text[..idx].chars().rev().take_while(|c| c.is_ascii_digit()).collect();
    digits.chars().rev().collect::<String>().parse().ok()
}

fn call(name: &str, args: Value) -> ChatReply {
    ChatReply {
        content: None,
        tool_calls: vec![ToolCall {
            id: format!("offline-{}", uuid::Uuid::new_v4().simple()),
            name: name.into(),
            arguments: args.to_string(),
        }],
        usage: None,
    }
}

fn text(t: String) -> ChatReply {
    ChatReply { content: Some(t), tool_calls: Vec::new(), usage: None }
}

fn word_result(name: &str, v: &Value) -> String {
    if let Some(e) = v.get("error").and_then(Value::as_str) {
        return format!("Sorry, I couldn't do that ({e}).");
    }
    match name {
        "check_availability" => {
            let date = v["date"].as_str().unwrap_or("that day");
            let slots: Vec<&str> =
                v["slots"].as_array().map_or(Vec::new(), |a| a.iter().filter_map(Value::as_str).collect());
            let note = v.get("note").and_then(Value::as_str).map(|n| format!(" ({n})")).unwrap_or_default();
            match slots.as_slice() {
                [] => format!("Sorry, nothing is open on {date}{note}."),
                [first, ..] => format!(
                    "On {date} I can do {}{note}. Want one? Reply e.g. \"book {date} {first}\".",
                    slots.iter().take(3).copied().collect::<Vec<_>>().join(", ")
                ),
            }
        }
        "book_slot" if v["booked"] == true => format!(
            "You're booked for {} on {} at {}. Your reference is {}.",
            v["service"].as_str().unwrap_or("your repair"),
            v["date"].as_str().unwrap_or(""),
            v["time"].as_str().unwrap_or(""),
            v["lead_id"].as_str().unwrap_or("")
        ),
        "book_slot" => format!("Sorry, {}.", v["reason"].as_str().unwrap_or("that slot is not available")),
        "authorize_discount" if v["approved"] == true => {
            format!("Good news: {}% off is approved.", v["percent"])
        }
        "authorize_discount" => format!("The most I can offer is {}% off.", v["max_percent"]),
        "request_human" if v["handed_over"] == true => {
            "I've asked the owner to answer you personally: they'll text you back here shortly.".into()
        }
        "request_human" => "Sorry, nobody can take over right now; I'm happy to keep helping.".into(),
        _ => "Noted, thanks!".into(),
    }
}

/// Text between `start` and the next `end` after it.
fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(&text[from..from + len])
}

/// Answers the engine's requests for an opening message (see `compose_opening`): plain
/// text, or a JSON object filling every template variable.
fn opening(system: &str, ask: &str) -> Option<String> {
    let company = between(system, "Business: ", " (").unwrap_or("us");
    let details: Value = between(ask, "Project details: ", ". Reply")
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or(Value::Null);
    let summary = details
        .as_object()
        .map(|o| o.values().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "an update for you".into());
    if ask.starts_with("Fill the approved WhatsApp template") {
        let name = between(ask, "conversation with ", ", who").unwrap_or("there");
        let names: Vec<String> = between(ask, "are exactly [", "]")?
            .split(',')
            .map(|n| n.trim().trim_matches('"').to_owned())
            .filter(|n| !n.is_empty())
            .collect();
        let values: serde_json::Map<String, Value> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), json!(if i == 0 { name.to_owned() } else { summary.clone() })))
            .collect();
        return Some(Value::Object(values).to_string());
    }
    if ask.starts_with("Write the first message") {
        let name = between(ask, "conversation to ", ", who").unwrap_or("there");
        return Some(format!("Hi {name}, this is {company} about {summary}. Reply here with any questions."));
    }
    None
}

/// Words for the tool results of the last round, if the conversation stands there.
fn answer_tool_results(messages: &[ChatMessage]) -> Option<String> {
    let results: Vec<&ChatMessage> =
        messages.iter().rev().take_while(|m| matches!(m, ChatMessage::Tool { .. })).collect();
    if results.is_empty() {
        return None;
    }
    let calls: Vec<&ToolCall> = messages
        .iter()
        .flat_map(|m| match m {
            ChatMessage::Assistant { tool_calls, .. } => tool_calls.iter().collect::<Vec<_>>(),
            _ => Vec::new(),
        })
        .collect();
    let words: Vec<String> = results
        .iter()
        .rev()
        .filter_map(|m| match m {
            ChatMessage::Tool { call_id, content } => {
                let name = calls.iter().find(|c| &c.id == call_id).map_or("", |c| c.name.as_str());
                Some(word_result(name, &serde_json::from_str(content).unwrap_or(Value::Null)))
            }
            _ => None,
        })
        .collect();
    Some(words.join(" "))
}

/// The date the customer means: one they wrote, today if they said so, else tomorrow.
fn meant_date(said: &str, system: &str) -> String {
    let today = after(system, "Today is ").and_then(schedule::parse_date);
    let date = if let Some(d) = said.split_whitespace().find_map(schedule::parse_date) {
        Some(d)
    } else if said.contains("today") {
        today
    } else {
        today.map(|d| schedule::add_days(d, 1))
    };
    date.map(|d| d.to_string()).unwrap_or_default()
}

/// The tool call the customer's words ask for, if the tool is offered.
fn tool_for(said: &str, date: &str, request: &ChatRequest) -> Option<ChatReply> {
    let has = |words: &[&str]| words.iter().any(|w| said.contains(w));
    let tools = |name: &str| request.tools.iter().any(|t| t.name == name);
    if has(&["human", "person", "owner", "talk to someone", "speak to someone"]) && tools("request_human") {
        return Some(call("request_human", json!({"reason": "the customer asked for a person"})));
    }
    if has(&["discount", "% off", "cheaper"]) && tools("authorize_discount") {
        let percent = find_percent(said).unwrap_or(10.0);
        return Some(call("authorize_discount", json!({"percent": percent, "reason": "customer asked"})));
    }
    if let (true, Some(time), true) = (has(&["book"]), find_time(said), tools("book_slot")) {
        return Some(call(
            "book_slot",
            json!({"date": date, "time": time, "customer_name": "SMS customer", "service": "repair"}),
        ));
    }
    if has(&[
        "available",
        "availab",
        "free",
        "open",
        "slot",
        "appointment",
        "when",
        "book",
        "today",
        "tomorrow",
    ]) && tools("check_availability")
    {
        return Some(call("check_availability", json!({"date": date})));
    }
    None
}

#[async_trait]
impl ChatModel for OfflineRulesModel {
    /// The rules' answer; its latency is recorded like a real model's, and no tokens.
    async fn complete(&self, request: &ChatRequest) -> Result<ChatReply, ChatError> {
        let started = std::time::Instant::now();
        let reply = answer(request);
        metrics::histogram!(comms_core::metrics::MODEL_LATENCY_MS, "outcome" => "ok")
            .record(comms_core::metrics::ms(started.elapsed()));
        Ok(reply)
    }

    fn describe(&self) -> String {
        "offline rules model: NOT an AI model (keyword rules for the local demo, used when no \
         OPENAI_API_KEY is set)"
            .into()
    }
}

/// What the rules say to `request`.
fn answer(request: &ChatRequest) -> ChatReply {
    // The system messages together: the instructions, then the turn's context.
    let system: Vec<&str> = request
        .messages
        .iter()
        .filter_map(|m| match m {
            ChatMessage::System { content } => Some(content.as_str()),
            _ => None,
        })
        .collect();
    let system = system.join("\n\n");
    let system = system.as_str();
    // Answer the tool results of the last round, if that is where we are.
    if let Some(words) = answer_tool_results(&request.messages) {
        return text(words);
    }
    let last_user = request.messages.iter().rev().find_map(|m| match m {
        ChatMessage::User { content, .. } => Some(content.as_str()),
        _ => None,
    });
    let original = last_user.unwrap_or_default();
    if let Some(reply) = opening(system, original) {
        return text(reply);
    }
    let said = original.to_lowercase();
    if let Some(reply) = tool_for(&said, &meant_date(&said, system), request) {
        return reply;
    }
    text(
        "Thanks for your message! This is the offline demo assistant (no AI model is configured). \
         Ask about availability (\"any slots tomorrow?\") or book (\"book tomorrow 10:00\")."
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_it_is_not_an_ai() {
        assert!(OfflineRulesModel.describe().contains("NOT an AI"), "{}", OfflineRulesModel.describe());
    }

    fn req(user: &str) -> ChatRequest {
        ChatRequest {
            model: "x".into(),
            messages: vec![
                ChatMessage::System {
                    content: "Today is 2026-11-23 (Monday). Customer phone (masked): +1********23.".into(),
                },
                ChatMessage::user(user),
            ],
            tools: comms_core::tools::specs(&comms_core::domain::tenant::ToolName::ALL),
            key_secret: None,
            api: comms_core::domain::tenant::ModelApi::default(),
        }
    }

    #[tokio::test]
    async fn writes_openings_and_fills_templates() {
        let m = OfflineRulesModel;
        let mut r = req("");
        r.messages[0] = ChatMessage::System {
            content: "Business: Demo Phone Repair (Main St). Today is 2026-11-23.".into(),
        };
        r.messages[1] = ChatMessage::user(
            "Fill the approved WhatsApp template that opens a conversation with Ann Lee, who agreed to be \
                      contacted. Project details: {\"reason\":\"quote\"}. Reply with only a JSON object whose keys are \
                      exactly [\"1\", \"2\"] and whose values are short non-empty strings.",
        );
        let out: Value = serde_json::from_str(&m.complete(&r).await.unwrap().content.unwrap()).unwrap();
        assert_eq!(out, json!({"1": "Ann Lee", "2": "quote"}));
        r.messages[1] = ChatMessage::user(
            "Write the first message of a new conversation to Ann Lee, who agreed to be contacted. \
                      Project details: {\"reason\":\"repair ready\"}. Reply with the message text only.",
        );
        let out = m.complete(&r).await.unwrap().content.unwrap();
        assert_eq!(
            out,
            "Hi Ann Lee, this is Demo Phone Repair about repair ready. Reply here with any questions."
        );
    }

    #[tokio::test]
    async fn asks_for_tools_like_a_model_would() {
        let m = OfflineRulesModel;
        let r = m.complete(&req("Any slots tomorrow?")).await.unwrap();
        assert_eq!(r.tool_calls[0].name, "check_availability");
        assert!(r.tool_calls[0].arguments.contains("2026-11-24"));
        let r = m.complete(&req("book today at 14:30 please")).await.unwrap();
        assert_eq!(r.tool_calls[0].name, "book_slot");
        // The booking is for the conversation's customer: the call names no number.
        let args: Value = serde_json::from_str(&r.tool_calls[0].arguments).unwrap();
        assert_eq!(args["time"], "14:30");
        assert!(args.get("phone").is_none(), "{args}");
        let r = m.complete(&req("can I get 50% discount?")).await.unwrap();
        assert!(r.tool_calls[0].arguments.contains("50"));
        let r = m.complete(&req("hello")).await.unwrap();
        assert!(r.content.unwrap().contains("offline"));
        for asks in ["Can I talk to someone?", "I want a real PERSON", "is the owner there", "human please"] {
            let r = m.complete(&req(asks)).await.unwrap();
            assert_eq!(r.tool_calls[0].name, "request_human", "{asks}");
        }
        let mut without = req("can I talk to someone");
        without.tools.retain(|t| t.name != "request_human");
        assert!(m.complete(&without).await.unwrap().tool_calls.is_empty(), "only when the tool is offered");
    }

    #[tokio::test]
    async fn words_a_hand_off_for_the_customer() {
        let said = word_result("request_human", &json!({"handed_over": true}));
        assert!(said.contains("owner") && said.contains("text you back"), "{said}");
        let said = word_result("request_human", &json!({"handed_over": false}));
        assert!(said.contains("nobody"), "{said}");
    }
}
