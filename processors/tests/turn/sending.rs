//! Sending the reply: opt-outs, ambiguous and throttled sends, and deliveries or
//! bookings that overlap.

use std::time::Duration;

use comms_core::domain::OwnerState;
use comms_core::ports::{ConsentAction, ConsentStore, ConversationLog, DeadLetters, ItemContent};
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
        customer: comms_core::domain::Address::parse(phone).unwrap(),
        owner: OwnerState::default_at(jiff::Timestamp::now()),
        now: jiff::Timestamp::now(),
        bookings: Arc::new(h.bookings.clone()),
        ledger: Arc::new(h.ledger.clone()),
        handoff: None,
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

/// The settle step reads the disposition: an ambiguous send comes back (the redelivery
/// reconciles), a refusal is dead-lettered at once with the whole cause as its reason.
#[tokio::test]
async fn settle_retries_an_ambiguous_send_and_dead_letters_a_refusal() {
    use comms_core::domain::Channel;
    use comms_core::ports::{Queues, SendError};
    use comms_engine::batch::{Record, SettlePolicy, settle};
    use comms_engine::turn::TurnError;

    let h = harness(OpenAiStub::start(vec![]).await).await;
    h.enqueue(&envelope("SM00000000000000000000000000000041", "a")).await;
    h.enqueue(&envelope("SM00000000000000000000000000000042", "b")).await;
    let got = h.queues.receive(Channel::Sms, 10, Duration::from_secs(30)).await.unwrap();
    let [ambiguous, refused] =
        <[Record; 2]>::try_from(got.into_iter().map(Record::from).collect::<Vec<_>>()).unwrap();
    let policy = SettlePolicy {
        channel: Channel::Sms,
        delete_successes: true,
        retry_delay: Duration::ZERO,
        visibility: Duration::from_secs(2),
    };
    let unknown = TurnError::from(SendError::Ambiguous("timeout".into()));
    assert!(settle(&h.queues, &policy, &ambiguous, Err(unknown)).await, "reported as failed");
    let stop = SendError::Permanent { code: "21610".into(), message: "unsubscribed".into() };
    assert!(!settle(&h.queues, &policy, &refused, Err(TurnError::from(stop))).await);

    let dlq = h.queues.dlq_list(Channel::Sms, 10).await.unwrap();
    assert_eq!(dlq.len(), 1, "{dlq:?}");
    assert_eq!(dlq[0].message_id, refused.message_id);
    assert_eq!(dlq[0].reason.as_deref(), Some("send: send refused permanently (code 21610): unsubscribed"));
    let stats = h.queues.stats(Channel::Sms).await.unwrap();
    assert_eq!(stats.depth + stats.in_flight, 1, "the ambiguous record stays on the queue");
}

/// A turn taken over by another attempt is neither deleted nor dead-lettered: it stays
/// on the queue, hidden for a visibility, for the redelivery to find the turn done.
#[tokio::test]
async fn settle_leaves_a_taken_over_turn_to_its_new_holder() {
    use comms_core::domain::Channel;
    use comms_core::ports::{Queues, StoreError};
    use comms_engine::batch::{Record, SettlePolicy, settle};
    use comms_engine::turn::TurnError;

    let h = harness(OpenAiStub::start(vec![]).await).await;
    h.enqueue(&envelope("SM00000000000000000000000000000043", "a")).await;
    let got = h.queues.receive(Channel::Sms, 10, Duration::from_secs(30)).await.unwrap();
    let rec = Record::from(got.into_iter().next().unwrap());
    let policy = SettlePolicy {
        channel: Channel::Sms,
        delete_successes: true,
        retry_delay: Duration::ZERO,
        visibility: Duration::from_secs(30),
    };
    let lost = TurnError::from(StoreError::LeaseLost);
    assert!(settle(&h.queues, &policy, &rec, Err(lost)).await, "reported as failed: not deleted");
    assert!(h.queues.dlq_list(Channel::Sms, 10).await.unwrap().is_empty());
    let stats = h.queues.stats(Channel::Sms).await.unwrap();
    assert_eq!((stats.depth, stats.in_flight), (0, 1), "kept, hidden for the new holder to finish");
}
