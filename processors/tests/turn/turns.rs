use std::time::Duration;

use comms_core::domain::{Channel, OwnerMode, OwnerState};
use comms_core::ports::{ConversationLog, DeadLetters, ItemContent, Ledger, OwnerStateStore};
use comms_engine::turn::Outcome;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::stubs::{ModelStep, OpenAiStub, TwilioMode};

fn system_prompt_of(request: &Value) -> String {
    crate::helpers::system_text(request)
}

#[tokio::test]
async fn availability_question_runs_the_tool_and_sends_one_reply() {
    let day = next_weekday();
    let openai = OpenAiStub::start(vec![
        ModelStep::ToolCall { name: "check_availability", arguments: json!({"date": day}) },
        ModelStep::Text("We have 09:00 or 09:30 tomorrow. Shall I book one?"),
    ])
    .await;
    let h = harness(openai).await;
    let env = envelope("SM00000000000000000000000000000001", "Are you free tomorrow?");
    h.enqueue(&env).await;
    h.drain(fast_worker(), Duration::from_secs(10)).await;

    let sent = h.twilio.created();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["body"], "We have 09:00 or 09:30 tomorrow. Shall I book one?");
    assert_eq!(sent[0]["to"], CUSTOMER);
    assert_eq!(sent[0]["from"], SHOP);
    assert_eq!(sent[0]["status_callback"], "https://comms.example/twilio/status");

    // The model saw the tool declared, then the tool's result.
    let requests = h.openai.requests();
    assert_eq!(requests.len(), 2);
    let tools: Vec<&str> = requests[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert!(tools.contains(&"check_availability"));
    let tool_msg = requests[1]["messages"].as_array().unwrap().iter().find(|m| m["role"] == "tool").unwrap();
    let result: Value = serde_json::from_str(tool_msg["content"].as_str().unwrap()).unwrap();
    assert_eq!(result["slots"][0], "09:00");

    let items = h.conversations.recent(&env.conversation_id, 50).await.unwrap();
    let kinds = item_kinds(&items);
    assert_eq!(kinds, ["inbound", "tool_call", "tool_result", "reply"]);
    assert_eq!(h.queues.stats(Channel::Sms).await.unwrap(), Default::default());
}

#[tokio::test]
async fn the_same_webhook_delivered_twice_sends_once() {
    let openai = OpenAiStub::start(vec![]).await;
    openai.always(ModelStep::Text("Hello from the shop."));
    let h = harness(openai).await;
    let env = envelope("SM00000000000000000000000000000002", "hi");
    h.enqueue(&env).await;
    h.enqueue(&env).await;
    h.drain(fast_worker(), Duration::from_secs(10)).await;
    assert_eq!(h.twilio.created().len(), 1);
    // Handled directly a third time: acknowledged without work.
    assert_eq!(h.engine.handle(&env.to_json()).await, Ok(Outcome::AlreadyDone));
    assert_eq!(h.twilio.created().len(), 1);
    assert_eq!(h.openai.requests().len(), 1);
}

#[tokio::test]
async fn a_model_slower_than_three_visibility_timeouts_is_answered_once() {
    let openai = OpenAiStub::start(vec![ModelStep::Text("Sorry for the wait!")]).await;
    openai.delay(Duration::from_millis(3500));
    let h = harness(openai).await;
    h.enqueue(&envelope("SM00000000000000000000000000000003", "hello?")).await;
    let settings = WorkerSettingsExt::visibility(1);
    h.drain(settings, Duration::from_secs(15)).await;
    assert_eq!(h.twilio.created().len(), 1);
    assert_eq!(h.openai.requests().len(), 1, "the message was redelivered while in flight");
}

struct WorkerSettingsExt;
impl WorkerSettingsExt {
    fn visibility(secs: u64) -> comms_engine::worker::WorkerSettings {
        comms_engine::worker::WorkerSettings { visibility: Duration::from_secs(secs), ..fast_worker() }
    }
}

#[tokio::test]
async fn a_model_that_always_fails_ends_in_the_dlq_with_its_reason_and_nothing_sent() {
    let openai = OpenAiStub::start(vec![]).await;
    openai.always(ModelStep::Status(500));
    let h = harness(openai).await;
    h.enqueue(&envelope("SM00000000000000000000000000000004", "hi")).await;
    h.drain(fast_worker(), Duration::from_secs(20)).await;
    assert!(h.openai.requests().len() >= 3, "not retried: {}", h.openai.requests().len());
    assert_eq!(h.twilio.posts(), 0);
    let dead = h.queues.dlq_list(Channel::Sms, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    let reason = dead[0].reason.clone().unwrap();
    assert!(reason.contains("model") && reason.contains("500"), "{reason}");
}

#[tokio::test]
async fn insufficient_quota_is_permanent_and_dead_lettered_at_once() {
    // OpenAI answers 429 with code insufficient_quota: not worth retrying.
    let openai = OpenAiStub::start(vec![]).await;
    openai.always(ModelStep::Quota);
    let h = harness(openai).await;
    h.enqueue(&envelope("SM00000000000000000000000000000005", "hi")).await;
    h.drain(fast_worker(), Duration::from_secs(10)).await;
    let dead = h.queues.dlq_list(Channel::Sms, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].receive_count, 1, "a permanent failure was retried");
    assert!(dead[0].reason.as_deref().unwrap().contains("insufficient_quota"));
    assert_eq!(h.twilio.posts(), 0);
}

#[tokio::test]
async fn a_discount_above_policy_is_refused_by_the_tool() {
    let openai = OpenAiStub::start(vec![
        ModelStep::ToolCall {
            name: "authorize_discount",
            arguments: json!({"percent": 50, "reason": "loyal customer"}),
        },
        ModelStep::Text("I can offer up to 15% off."),
    ])
    .await;
    let h = harness(openai).await;
    let env = envelope("SM00000000000000000000000000000006", "Give me 50% off?");
    assert_eq!(h.engine.handle(&env.to_json()).await, Ok(Outcome::Replied));
    let items = h.conversations.recent(&env.conversation_id, 50).await.unwrap();
    let result = items
        .iter()
        .find_map(|i| match &i.content {
            ItemContent::ToolResult { result, .. } => Some(serde_json::from_str::<Value>(result).unwrap()),
            _ => None,
        })
        .unwrap();
    assert_eq!(result["approved"], false);
    assert_eq!(result["max_percent"], 15.0);
    let ledger = h.ledger.entries(&h.tenant.tenant, 10).await.unwrap();
    assert_eq!(ledger[0].kind, "discount");
    assert_eq!(ledger[0].data["approved"], false);
}

#[tokio::test]
async fn arguments_failing_the_schema_go_back_to_the_model_unexecuted() {
    let openai = OpenAiStub::start(vec![
        ModelStep::ToolCall { name: "authorize_discount", arguments: json!({"percent": "lots"}) },
        ModelStep::Text("Let me check that."),
    ])
    .await;
    let h = harness(openai).await;
    let env = envelope("SM00000000000000000000000000000007", "discount?");
    h.engine.handle(&env.to_json()).await.unwrap();
    let second = &h.openai.requests()[1];
    let tool_msg = second["messages"].as_array().unwrap().iter().find(|m| m["role"] == "tool").unwrap();
    assert!(tool_msg["content"].as_str().unwrap().contains("invalid arguments"));
    assert!(
        h.ledger.entries(&h.tenant.tenant, 10).await.unwrap().is_empty(),
        "executed despite bad arguments"
    );
}

#[tokio::test]
async fn gym_state_reaches_the_prompt_and_clearing_restores_the_default() {
    let openai = OpenAiStub::start(vec![]).await;
    openai.always(ModelStep::Text("ok"));
    let h = harness(openai).await;
    let now = jiff::Timestamp::now();
    let gym = OwnerState {
        mode: OwnerMode::Gym,
        location: Some("gym on 5th".into()),
        ..OwnerState::default_at(now)
    };
    h.owner_state.set(&h.tenant.tenant, &gym).await.unwrap();
    h.engine.handle(&envelope("SM00000000000000000000000000000008", "hi").to_json()).await.unwrap();
    h.owner_state.clear(&h.tenant.tenant, now).await.unwrap();
    h.engine.handle(&envelope("SM00000000000000000000000000000009", "hi again").to_json()).await.unwrap();

    let requests = h.openai.requests();
    let first = system_prompt_of(&requests[0]);
    assert!(first.contains("Owner's current state: GYM") && first.contains("gym on 5th"), "{first}");
    let second = system_prompt_of(&requests[1]);
    assert!(second.contains("Owner's current state: WORK"), "{second}");
    assert_eq!(h.owner_state.history(&h.tenant.tenant, 10).await.unwrap().len(), 2);
}

/// Issue 11 item 14: the model never sees the customer's full number, and a booking is
/// made for the conversation's customer, not for a number the model names.
#[tokio::test]
async fn the_model_never_gets_the_customer_number_and_books_only_for_the_customer() {
    use comms_core::ports::Bookings;

    let day = next_weekday();
    let openai = OpenAiStub::start(vec![
        // Another person's number in the arguments: refused, nothing booked.
        ModelStep::ToolCall {
            name: "book_slot",
            arguments: json!({"date": day, "time": "10:00", "customer_name": "Ann", "phone": "+19995550000", "service": "screen"}),
        },
        ModelStep::ToolCall {
            name: "book_slot",
            arguments: json!({"date": day, "time": "10:00", "customer_name": "Ann", "service": "screen"}),
        },
        ModelStep::Text("Booked for 10:00."),
    ])
    .await;
    let h = harness(openai).await;
    let env = envelope("SM00000000000000000000000000000031", "Book me at 10:00 please");
    assert_eq!(h.engine.handle(&env.to_json()).await, Ok(Outcome::Replied));

    let requests = h.openai.requests();
    assert_eq!(requests.len(), 3);
    for r in &requests {
        let text = r.to_string();
        for form in ["+14155550123", "14155550123", "4155550123"] {
            assert!(!text.contains(form), "the model got the customer's number ({form}): {text}");
        }
    }
    assert!(system_prompt_of(&requests[0]).contains("+1********23"), "masked form only");
    let tools = requests[0]["tools"].as_array().unwrap();
    let book = tools.iter().find(|t| t["function"]["name"] == "book_slot").unwrap();
    assert!(book["function"]["parameters"]["properties"].get("phone").is_none(), "{book}");
    assert!(requests[1].to_string().contains("unknown field"), "the phone argument is refused");

    let date = day.parse().unwrap();
    let booked = h.bookings.on_date(&h.tenant.tenant, date).await.unwrap();
    assert_eq!(booked.len(), 1);
    assert_eq!(booked[0].phone.as_str(), CUSTOMER);
    assert_eq!(booked[0].customer_name, "Ann");
}

#[derive(Clone, Default)]
struct LogCapture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Issue 11 item 3: a provider error quoting the customer's number (Twilio's 21211) is
/// logged with the number masked, in the turn's and the batch's lines; the conversation
/// id in the turn span is the redacted form.
#[tokio::test]
async fn a_provider_error_quoting_the_number_is_logged_masked() {
    use comms_telemetry::{LogFormat, subscriber};

    let capture = LogCapture::default();
    let writer = capture.clone();
    let _default = tracing::subscriber::set_default(subscriber(LogFormat::Json, move || writer.clone()));
    let h = harness(OpenAiStub::start(vec![ModelStep::Text("Hello!")]).await).await;
    h.twilio.next(&[TwilioMode::InvalidTo]);
    h.enqueue(&envelope("SM00000000000000000000000000000032", "hi")).await;
    h.drain(fast_worker(), Duration::from_secs(10)).await;
    assert_eq!(h.queues.stats(Channel::Sms).await.unwrap().dlq_depth, 1, "a permanent failure");

    let out = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(out.contains("\"turn failed\"") && out.contains("permanent failure: dead-lettered"), "{out}");
    assert!(out.contains("21211") && out.contains("demo.repair-shop.tel.*******0123"), "{out}");
    for form in ["+14155550123", "14155550123", "4155550123"] {
        assert!(!out.contains(form), "{form} in the logs: {out}");
    }
}
