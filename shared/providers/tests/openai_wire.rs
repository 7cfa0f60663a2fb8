//! Both OpenAI adapters at the wire level, against the stub that speaks Chat Completions
//! and the Responses API: the request bodies, function calls and their outputs, usage,
//! and how failures are classified.
#![allow(clippy::unwrap_used)] // tests

use std::time::Duration;

use comms_core::domain::tenant::{ModelApi, ToolName};
use comms_core::ports::{ChatError, ChatMessage, ChatModel, ChatRequest, ToolCall, Usage};
use comms_providers::openai::{ByApi, OpenAiSettings};
use comms_providers::responses::OpenAiResponses;
use comms_testkit::{ModelStep, OpenAiStub};
use serde_json::json;

fn settings(stub: &OpenAiStub) -> OpenAiSettings {
    OpenAiSettings {
        api_key: "sk-test".into(),
        base_url: Some(stub.base_url.clone()),
        model_override: None,
        timeout: Duration::from_secs(10),
    }
}

fn request(api: ModelApi, messages: Vec<ChatMessage>) -> ChatRequest {
    ChatRequest {
        model: "gpt-4o-mini".into(),
        messages,
        tools: comms_core::tools::specs(&[ToolName::CheckAvailability, ToolName::BookSlot]),
        key_secret: None,
        api,
    }
}

/// A whole window: system, a photo, an earlier tool call and its output, the new message.
fn window() -> Vec<ChatMessage> {
    vec![
        ChatMessage::System { content: "You are the shop's assistant.".into() },
        ChatMessage::User {
            content: "Is this fixable?".into(),
            images: vec!["https://media.example/1.jpg".into()],
        },
        ChatMessage::Assistant {
            content: None,
            tool_calls: vec![ToolCall {
                id: "call_7".into(),
                name: "check_availability".into(),
                arguments: r#"{"date":"2026-12-04"}"#.into(),
            }],
        },
        ChatMessage::Tool { call_id: "call_7".into(), content: r#"{"free":["09:00"]}"#.into() },
        ChatMessage::Assistant { content: Some("We have 09:00.".into()), tool_calls: Vec::new() },
        ChatMessage::user("Book it"),
    ]
}

#[tokio::test]
async fn the_responses_request_carries_the_window_as_input_items_and_is_not_stored() {
    let stub = OpenAiStub::start(vec![ModelStep::Text("Done.")]).await;
    let model = OpenAiResponses::new(settings(&stub)).unwrap();
    model.complete(&request(ModelApi::Responses, window())).await.unwrap();

    assert_eq!(stub.paths(), ["/v1/responses"]);
    let body = &stub.requests()[0];
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["store"], false, "stateless: our log is the record");
    assert!(body.get("previous_response_id").is_none() && body.get("conversation").is_none(), "{body}");
    let input = body["input"].as_array().unwrap();
    let kinds: Vec<(&str, &str)> =
        input.iter().map(|i| (i["type"].as_str().unwrap_or("?"), i["role"].as_str().unwrap_or(""))).collect();
    assert_eq!(
        kinds,
        [
            ("message", "system"),
            ("message", "user"),
            ("function_call", ""),
            ("function_call_output", ""),
            ("message", "assistant"),
            ("message", "user"),
        ]
    );
    assert_eq!(input[0]["content"], "You are the shop's assistant.");
    assert_eq!(input[1]["content"][0], json!({"type": "input_text", "text": "Is this fixable?"}));
    assert_eq!(input[1]["content"][1]["type"], "input_image");
    assert_eq!(input[1]["content"][1]["image_url"], "https://media.example/1.jpg");
    assert_eq!(input[2]["call_id"], "call_7");
    assert_eq!(input[2]["name"], "check_availability");
    assert_eq!(input[2]["arguments"], r#"{"date":"2026-12-04"}"#);
    assert_eq!(
        input[3],
        json!({"type": "function_call_output", "call_id": "call_7", "output": r#"{"free":["09:00"]}"#})
    );
    let tools = body["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 2);
    assert_eq!(tools[0]["type"], "function");
    assert_eq!(tools[0]["name"], "check_availability");
    assert!(tools[0]["parameters"]["properties"]["date"].is_object(), "{}", tools[0]);
}

#[tokio::test]
async fn function_calls_and_their_outputs_round_trip_through_the_responses_api() {
    let stub = OpenAiStub::start(vec![
        ModelStep::ToolCall { name: "check_availability", arguments: json!({"date": "2026-12-04"}) },
        ModelStep::Text("We have 09:00."),
    ])
    .await;
    let model = OpenAiResponses::new(settings(&stub)).unwrap();
    let mut messages =
        vec![ChatMessage::System { content: "Shop.".into() }, ChatMessage::user("Free Friday?")];
    let first = model.complete(&request(ModelApi::Responses, messages.clone())).await.unwrap();
    assert_eq!(first.content, None);
    assert_eq!(first.tool_calls.len(), 1);
    let call = first.tool_calls[0].clone();
    assert_eq!((call.id.as_str(), call.name.as_str()), ("call_1", "check_availability"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&call.arguments).unwrap(),
        json!({"date": "2026-12-04"})
    );

    messages.push(ChatMessage::Assistant { content: None, tool_calls: vec![call] });
    messages.push(ChatMessage::Tool { call_id: "call_1".into(), content: r#"{"free":["09:00"]}"#.into() });
    let second = model.complete(&request(ModelApi::Responses, messages)).await.unwrap();
    assert_eq!(second.content.as_deref(), Some("We have 09:00."));
    let input = stub.requests()[1]["input"].as_array().unwrap().clone();
    let call_ids: Vec<&str> = input.iter().filter_map(|i| i["call_id"].as_str()).collect();
    assert_eq!(call_ids, ["call_1", "call_1"], "the call and its output, paired by call_id");
}

#[tokio::test]
async fn usage_is_read_from_both_apis() {
    let stub = OpenAiStub::start(vec![ModelStep::Text("Hi."), ModelStep::Text("Hi.")]).await;
    let model = ByApi::openai(settings(&stub)).unwrap();
    let messages = vec![ChatMessage::user("hello")];
    let chat = model.complete(&request(ModelApi::ChatCompletions, messages.clone())).await.unwrap();
    let responses = model.complete(&request(ModelApi::Responses, messages)).await.unwrap();
    assert_eq!(stub.paths(), ["/v1/chat/completions", "/v1/responses"], "routed by the request's api");
    for (reply, reported) in [(chat, stub.usages()[0]), (responses, stub.usages()[1])] {
        let expected = Usage {
            model: "gpt-4o-mini".into(),
            input_tokens: reported.input_tokens,
            cached_input_tokens: reported.cached_tokens,
            output_tokens: reported.output_tokens,
        };
        assert!(expected.input_tokens > 0 && expected.output_tokens > 0);
        assert_eq!(reply.usage, Some(expected));
    }
}

#[tokio::test]
async fn cached_tokens_are_read_when_a_long_prefix_repeats() {
    let stub = OpenAiStub::start(vec![ModelStep::Text("One."), ModelStep::Text("Two.")]).await;
    let model = OpenAiResponses::new(settings(&stub)).unwrap();
    let system = ChatMessage::System { content: "Shop facts. ".repeat(600) };
    model
        .complete(&request(ModelApi::Responses, vec![system.clone(), ChatMessage::user("a")]))
        .await
        .unwrap();
    let second =
        model.complete(&request(ModelApi::Responses, vec![system, ChatMessage::user("b")])).await.unwrap();
    let usage = second.usage.unwrap();
    assert!(usage.cached_input_tokens >= 1024, "{usage:?}");
    assert_eq!(usage.cached_input_tokens % 128, 0, "{usage:?}");
    assert!(usage.cached_input_tokens < usage.input_tokens, "{usage:?}");
}

#[tokio::test]
async fn a_429_with_retry_after_is_transient_and_a_400_is_permanent_in_both_apis() {
    for api in [ModelApi::Responses, ModelApi::ChatCompletions] {
        let stub = OpenAiStub::start(Vec::new()).await;
        let model = ByApi::openai(settings(&stub)).unwrap();
        stub.always(ModelStep::RateLimited(0));
        let err = model.complete(&request(api, vec![ChatMessage::user("hi")])).await.unwrap_err();
        assert!(matches!(err, ChatError::Transient { .. }), "{api}: {err:?}");
        let throttled = stub.requests().len();
        assert!(throttled > 1, "{api}: the client honours Retry-After and tries again ({throttled})");

        stub.always(ModelStep::Status(400));
        let err = model.complete(&request(api, vec![ChatMessage::user("hi")])).await.unwrap_err();
        assert!(matches!(err, ChatError::Permanent(_)), "{api}: {err:?}");
        assert_eq!(stub.requests().len(), throttled + 1, "{api}: a 400 is not retried");

        stub.always(ModelStep::Status(503));
        let err = model.complete(&request(api, vec![ChatMessage::user("hi")])).await.unwrap_err();
        assert!(matches!(err, ChatError::Transient { .. }), "{api}: {err:?}");

        stub.always(ModelStep::Quota);
        let err = model.complete(&request(api, vec![ChatMessage::user("hi")])).await.unwrap_err();
        assert!(
            matches!(err, ChatError::Permanent(ref m) if m.contains("insufficient_quota")),
            "{api}: {err:?}"
        );
    }
}
