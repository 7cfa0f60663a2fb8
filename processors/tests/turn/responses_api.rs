//! Issue 17 item 1: a tenant switched to the Responses API holds a whole booking
//! conversation through the stub speaking that wire format, our log the only record.

use comms_core::domain::tenant::{ModelApi, TenantConfig};
use comms_core::ports::{Bookings, ConversationLog, TenantDirectory};
use comms_engine::turn::Outcome;
use comms_sqlite::SqliteTenants;
use serde_json::{Value, json};

use crate::helpers::{CUSTOMER, Harness, envelope, harness, item_kinds, next_weekday};
use crate::stubs::{ModelStep, OpenAiStub};

/// The demo tenant with `ai.api = "responses"`.
async fn on_responses(h: &mut Harness) {
    let mut doc: Value = serde_json::from_str(&h.tenant.to_json_pretty()).unwrap();
    doc["ai"]["api"] = "responses".into();
    let tenant = TenantConfig::from_json(&doc.to_string()).unwrap();
    assert_eq!(tenant.ai.api, ModelApi::Responses);
    SqliteTenants::new(h.db.clone()).put(&tenant).await.unwrap();
    h.tenant = tenant;
}

#[tokio::test]
async fn a_tenant_on_the_responses_api_books_through_a_whole_conversation() {
    let day = next_weekday();
    let openai = OpenAiStub::start(vec![
        ModelStep::ToolCall { name: "check_availability", arguments: json!({"date": day}) },
        ModelStep::Text("We have 09:00 or 09:30. Which suits you?"),
        ModelStep::ToolCall {
            name: "book_slot",
            arguments: json!({"date": day, "time": "09:00", "customer_name": "Ann", "service": "screen repair"}),
        },
        ModelStep::FromToolOutput("Booked for {time} on {date}. Your reference is {lead_id}."),
    ])
    .await;
    let mut h = harness(openai).await;
    on_responses(&mut h).await;

    let ask = envelope("SM00000000000000000000000000000171", "Are you free on that day?");
    assert_eq!(h.engine.handle(&ask.to_json()).await, Ok(Outcome::Replied));
    let book = envelope("SM00000000000000000000000000000172", "09:00 please, I'm Ann, screen repair");
    assert_eq!(h.engine.handle(&book.to_json()).await, Ok(Outcome::Replied));

    // Every call spoke the Responses API, statelessly.
    assert_eq!(h.openai.paths(), ["/v1/responses"; 4]);
    let requests = h.openai.requests();
    assert!(requests.iter().all(|r| r["store"] == false && r.get("previous_response_id").is_none()));
    // The second turn sent the whole window: the first turn's question and answer, then
    // this turn's function call and its output, paired by call_id.
    let last: Vec<String> = requests[3]["input"].as_array().unwrap().iter().map(Value::to_string).collect();
    let position = |needle: &str| last.iter().position(|i| i.contains(needle));
    let asked = position("Are you free on that day?").unwrap();
    let answered = position("We have 09:00 or 09:30").unwrap();
    let call = position("\"type\":\"function_call\"").unwrap();
    let output = position("\"type\":\"function_call_output\"").unwrap();
    assert!(asked < answered && answered < call && call < output, "{last:#?}");

    let booked = h.bookings.on_date(&h.tenant.tenant, day.parse().unwrap()).await.unwrap();
    assert_eq!(booked.len(), 1);
    assert_eq!(booked[0].phone.as_str(), CUSTOMER);
    let sent = h.twilio.created();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[0]["body"], "We have 09:00 or 09:30. Which suits you?");
    let reply = sent[1]["body"].as_str().unwrap();
    assert!(reply.contains(&booked[0].lead_id) && reply.contains("09:00"), "{reply}");

    // Our log is the record.
    let items = h.conversations.recent(&book.conversation_id, 50).await.unwrap();
    let kinds = item_kinds(&items);
    assert_eq!(
        kinds,
        ["inbound", "tool_call", "tool_result", "reply", "inbound", "tool_call", "tool_result", "reply"]
    );
}
