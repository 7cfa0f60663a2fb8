//! Turns of one conversation run one at a time, in the order their messages were
//! received: the second message's model request holds the first message and its reply.

use std::sync::Arc;
use std::time::Duration;

use comms_core::domain::Envelope;
use comms_engine::turn::Outcome;
use serde_json::Value;

use crate::helpers::*;
use crate::stubs::{ModelStep, OpenAiStub};

/// The (role, content) pairs of a model request, system messages left out.
fn exchange(request: &Value) -> Vec<(String, String)> {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] != "system")
        .map(|m| (m["role"].as_str().unwrap().to_owned(), m["content"].as_str().unwrap_or("").to_owned()))
        .collect()
}

fn pair(role: &str, content: &str) -> (String, String) {
    (role.to_owned(), content.to_owned())
}

/// Two messages, the second received 1 ms after the first.
fn two_messages() -> (Envelope, Envelope) {
    let first = envelope("SM000000000000000000000000000000o1", "Is my phone ready?");
    let mut second = envelope("SM000000000000000000000000000000o2", "And how much is it?");
    second.received_at = first.received_at + Duration::from_millis(1);
    (first, second)
}

#[tokio::test]
async fn two_messages_in_one_batch_are_answered_in_order_the_second_seeing_the_first() {
    let openai =
        OpenAiStub::start(vec![ModelStep::Text("Yes, it is ready."), ModelStep::Text("It is 80 dollars.")])
            .await;
    // Slow enough that two concurrent turns would overlap.
    openai.delay(Duration::from_millis(300));
    let h = harness(openai).await;
    let (first, second) = two_messages();
    // Queued in the opposite order: the batch orders a conversation by reception.
    h.enqueue(&second).await;
    h.enqueue(&first).await;
    h.drain(fast_worker(), Duration::from_secs(15)).await;

    let sent: Vec<Value> = h.twilio.created().iter().map(|m| m["body"].clone()).collect();
    assert_eq!(sent, ["Yes, it is ready.", "It is 80 dollars."]);
    let requests = h.openai.requests();
    assert_eq!(exchange(&requests[0]), [pair("user", "Is my phone ready?")]);
    assert_eq!(
        exchange(&requests[1]),
        [
            pair("user", "Is my phone ready?"),
            pair("assistant", "Yes, it is ready."),
            pair("user", "And how much is it?"),
        ]
    );
}

#[tokio::test]
async fn a_turn_waits_in_process_for_the_conversation_turn_in_flight() {
    let openai = OpenAiStub::start(vec![ModelStep::Text("Reply one."), ModelStep::Text("Reply two.")]).await;
    openai.delay(Duration::from_millis(500));
    let h = harness(openai).await;
    let (first, second) = two_messages();
    // Two deliveries at once, outside one batch (two workers, or two Lambdas).
    let handles = [first.to_json(), second.to_json()].map(|body| {
        let engine = Arc::clone(&h.engine);
        tokio::spawn(async move { engine.handle(&body).await })
    });
    for handle in handles {
        assert_eq!(handle.await.unwrap().unwrap(), Outcome::Replied, "waited, not sent back to the queue");
    }

    let sent: Vec<Value> = h.twilio.created().iter().map(|m| m["body"].clone()).collect();
    assert_eq!(sent, ["Reply one.", "Reply two."]);
    // Whichever claimed first, the other's model request holds its exchange.
    let requests = h.openai.requests();
    let earlier = exchange(&requests[0]);
    let later = exchange(&requests[1]);
    assert_eq!(earlier.len(), 1);
    assert_eq!(later.len(), 3, "{later:?}");
    assert_eq!(later[..2], [earlier[0].clone(), pair("assistant", "Reply one.")]);
}
