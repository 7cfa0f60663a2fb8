//! Sending the reply: opt-outs, ambiguous and throttled sends, and deliveries or
//! bookings that overlap.

use std::time::Duration;

use comms_core::domain::OwnerState;
use comms_core::ports::{ConsentAction, ConsentStore, ConversationLog, ItemContent};
use comms_core::retry::{Classify, Disposition};
use comms_engine::turn::Outcome;
use serde_json::json;

use crate::helpers::*;
use crate::stubs::{ModelStep, OpenAiStub, TwilioMode};

#[tokio::test]
async fn a_recipient_who_sent_stop_gets_nothing() {
    let openai = OpenAiStub::start(vec![]).await;
    openai.always(ModelStep::Text("hello"));
    let h = harness(openai).await;
    h.consent
        .record(&h.tenant.tenant, &h.customer(), ConsentAction::OptOut, "STOP", jiff::Timestamp::now())
        .await
        .unwrap();
    let out = h.engine.handle(&envelope("SM00000000000000000000000000000010", "hi").to_json()).await;
    assert!(matches!(out, Ok(Outcome::Suppressed(_))), "{out:?}");
    assert_eq!(h.twilio.posts(), 0);
    assert!(h.openai.requests().is_empty());
}

#[tokio::test]
async fn an_ambiguous_send_is_reconciled_not_repeated() {
    let openai = OpenAiStub::start(vec![ModelStep::Text("Your phone is ready.")]).await;
    let h = harness(openai).await;
    h.twilio.next(&[TwilioMode::CreateThen500]);
    let env = envelope("SM00000000000000000000000000000011", "is it ready?");
    let first = h.engine.handle(&env.to_json()).await;
    assert!(matches!(&first, Err(e) if e.disposition() == Disposition::Ambiguous), "{first:?}");
    assert_eq!(h.twilio.created().len(), 1, "Twilio holds the message although it answered 500");

    // The redelivery looks the message up at Twilio instead of resending.
    assert_eq!(h.engine.handle(&env.to_json()).await, Ok(Outcome::Replied));
    assert_eq!(h.twilio.posts(), 1, "the reply was sent twice");
    assert_eq!(h.openai.requests().len(), 1, "the model was asked again");
    let items = h.conversations.recent(&env.conversation_id, 10).await.unwrap();
    let reply = items.iter().find_map(|i| match &i.content {
        ItemContent::Reply { provider_ids, .. } => Some(provider_ids.clone()),
        _ => None,
    });
    assert_eq!(reply.unwrap(), vec![h.twilio.created()[0]["sid"].as_str().unwrap().to_owned()]);
}

#[tokio::test]
async fn a_throttled_send_is_retried_and_sent_once() {
    let openai = OpenAiStub::start(vec![ModelStep::Text("Done.")]).await;
    let h = harness(openai).await;
    h.twilio.next(&[TwilioMode::Throttle]);
    let env = envelope("SM00000000000000000000000000000012", "hi");
    assert_eq!(h.engine.handle(&env.to_json()).await, Ok(Outcome::Replied));
    assert_eq!(h.twilio.posts(), 2);
    assert_eq!(h.twilio.created().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_concurrent_bookings_of_one_slot_book_once() {
    use std::sync::Arc;

    use comms_core::ports::{Bookings, ToolCall};
    use comms_core::tools::{self, ToolContext};

    let h = harness(OpenAiStub::start(vec![]).await).await;
    let day = next_weekday();
    let ctx = |phone: &str| ToolContext {
        tenant: Arc::new(h.tenant.clone()),
        conversation_id: format!("c-{phone}"),
        customer: comms_core::domain::PhoneNumber::parse(phone).unwrap(),
        owner: OwnerState::default_at(jiff::Timestamp::now()),
        now: jiff::Timestamp::now(),
        bookings: Arc::new(h.bookings.clone()),
        ledger: Arc::new(h.ledger.clone()),
    };
    let call = |phone: &str| ToolCall {
        id: format!("call-{phone}"),
        name: "book_slot".into(),
        arguments: json!({"date": day, "time": "10:00", "customer_name": "Ann", "service": "screen"})
            .to_string(),
    };
    let mut tasks = Vec::new();
    for phone in ["+14155550001", "+14155550002", "+14155550003", "+14155550004"] {
        let (ctx, call) = (ctx(phone), call(phone));
        tasks.push(tokio::spawn(async move { tools::execute(&ctx, &call).await.unwrap() }));
    }
    let mut booked = 0;
    for t in tasks {
        let r = t.await.unwrap();
        if r["booked"] == true {
            booked += 1;
            let lead = r["lead_id"].as_str().unwrap();
            assert!(lead.starts_with("LEAD-") && lead.len() == "LEAD-YYYYMMDD-HHMMSS-XXXXXX".len(), "{lead}");
        }
    }
    assert_eq!(booked, 1);
    let date = day.parse().unwrap();
    assert_eq!(h.bookings.on_date(&h.tenant.tenant, date).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_deliveries_claim_once() {
    let openai = OpenAiStub::start(vec![]).await;
    openai.always(ModelStep::Text("One answer."));
    openai.delay(Duration::from_millis(500));
    let h = harness(openai).await;
    let body = envelope("SM00000000000000000000000000000013", "hi").to_json();
    let (a, b) = tokio::join!(h.engine.handle(&body), h.engine.handle(&body));
    let results = [a, b];
    assert_eq!(results.iter().filter(|r| **r == Ok(Outcome::Replied)).count(), 1, "{results:?}");
    assert!(
        results.iter().any(|r| matches!(r, Err(e) if e.disposition() == Disposition::RETRY)),
        "{results:?}"
    );
    assert_eq!(h.twilio.posts(), 1);
    assert_eq!(h.openai.requests().len(), 1);
}

#[tokio::test]
async fn an_unsubscribed_recipient_is_permanent_and_remembered() {
    let openai = OpenAiStub::start(vec![]).await;
    openai.always(ModelStep::Text("hello"));
    let h = harness(openai).await;
    h.twilio.next(&[TwilioMode::Unsubscribed]);
    let out = h.engine.handle(&envelope("SM00000000000000000000000000000014", "hi").to_json()).await;
    assert!(matches!(&out, Err(e) if e.is_permanent() && e.reason().contains("21610")), "{out:?}");
    assert!(h.consent.is_opted_out(&h.tenant.tenant, &h.customer()).await.unwrap());
    let next = h.engine.handle(&envelope("SM00000000000000000000000000000015", "hello?").to_json()).await;
    assert!(matches!(next, Ok(Outcome::Suppressed(_))), "{next:?}");
    assert_eq!(h.twilio.posts(), 1);
}
