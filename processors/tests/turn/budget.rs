//! Usage and the monthly budget: each model call's usage is stored with the turn and
//! added to the month's totals; past the budget the customer gets the fixed message
//! without a model call, and the owner one SMS a month.

use std::time::Duration;

use comms_core::domain::{PhoneNumber, Usd};
use comms_core::ports::{ConversationLog, ItemContent, TenantDirectory, UsageLedger, usage_month};
use comms_engine::turn::{OVER_BUDGET_MESSAGE, Outcome};
use comms_sqlite::{SqliteTenants, SqliteUsage};

use crate::helpers::*;
use crate::stubs::{ModelStep, OpenAiStub};

const OWNER: &str = "+15555550199";

/// The demo tenant with a budget of one micro-dollar (spent by its first model call) and,
/// if given, the owner's number.
async fn budgeted(owner: Option<&str>) -> Harness {
    let openai = OpenAiStub::start(vec![]).await;
    openai.always(ModelStep::Text("We can fix that today."));
    let h = harness(openai).await;
    let mut cfg = h.tenant.clone();
    cfg.ai.monthly_budget_usd = Some(Usd::from_micros(1));
    cfg.handoff.notify_number = owner.map(|n| PhoneNumber::parse(n).unwrap());
    SqliteTenants::new(h.db.clone()).put(&cfg).await.unwrap();
    h
}

fn month() -> String {
    usage_month(jiff::Timestamp::now())
}

#[tokio::test]
async fn under_budget_the_model_answers_and_its_usage_is_stored_and_counted() {
    let h = budgeted(Some(OWNER)).await;
    let env = envelope("SM000000000000000000000000000000e1", "Can you fix a screen?");
    assert_eq!(h.engine.handle(&env.to_json()).await, Ok(Outcome::Replied));
    assert_eq!(h.twilio.created()[0]["body"], "We can fix that today.");
    let items = h.conversations.recent(&env.conversation_id, 10).await.unwrap();
    let calls = items.iter().find_map(|i| match &i.content {
        ItemContent::Usage { calls } => Some(calls.clone()),
        _ => None,
    });
    let calls = calls.expect("a usage item");
    // What the stub reported for its one answer.
    let reported = h.openai.usages()[0];
    let (input, cached, output) = (reported.input_tokens, reported.cached_tokens, reported.output_tokens);
    assert_eq!(calls.len(), 1);
    let u = &calls[0].usage;
    assert_eq!((u.input_tokens, u.cached_input_tokens, u.output_tokens), (input, cached, output));
    let cost = calls[0].cost_usd.expect("gpt-4o-mini is priced");
    assert!(cost > Usd::ZERO);

    let totals = SqliteUsage::new(h.db.clone()).month(&h.tenant.tenant, &month()).await.unwrap().totals;
    assert_eq!((totals.turns, totals.model_calls), (1, 1));
    assert_eq!(
        (totals.input_tokens, totals.cached_input_tokens, totals.output_tokens),
        (input, cached, output)
    );
    assert_eq!((totals.cost_usd, totals.messages, totals.sms_segments), (cost, 1, 1));
}

#[tokio::test]
async fn over_budget_the_fixed_message_goes_out_without_the_model_and_the_owner_is_told_once() {
    let h = budgeted(Some(OWNER)).await;
    let first = envelope("SM000000000000000000000000000000f1", "hi");
    assert_eq!(h.engine.handle(&first.to_json()).await, Ok(Outcome::Replied), "spends the budget");
    let second = envelope("SM000000000000000000000000000000f2", "are you there?");
    let third = envelope("SM000000000000000000000000000000f3", "hello?");
    assert_eq!(h.engine.handle(&second.to_json()).await, Ok(Outcome::Replied));
    assert_eq!(h.engine.handle(&third.to_json()).await, Ok(Outcome::Replied));
    assert_eq!(h.engine.handle(&second.to_json()).await, Ok(Outcome::AlreadyDone), "a redelivery");
    // The owner's notification was enqueued (once per month): the worker sends it.
    h.drain(fast_worker(), Duration::from_secs(10)).await;

    assert_eq!(h.openai.requests().len(), 1, "no model call past the budget");
    let sent = h.twilio.created();
    let to_customer: Vec<&str> =
        sent.iter().filter(|m| m["to"] == CUSTOMER).map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(to_customer, ["We can fix that today.", OVER_BUDGET_MESSAGE, OVER_BUDGET_MESSAGE]);
    let to_owner: Vec<&str> =
        sent.iter().filter(|m| m["to"] == OWNER).map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(to_owner.len(), 1, "one notification: {sent:?}");
    assert!(to_owner[0].contains("budget"), "{}", to_owner[0]);
    let items = h.conversations.recent(&first.conversation_id, 20).await.unwrap();
    let notes =
        items.iter().filter(|i| matches!(&i.content, ItemContent::Note { text } if text.contains("budget")));
    assert_eq!(notes.count(), 2, "each fixed reply is noted");
}

#[tokio::test]
async fn over_budget_without_an_owner_number_nothing_is_sent_to_the_owner() {
    let h = budgeted(None).await;
    h.engine.handle(&envelope("SM000000000000000000000000000000g1", "hi").to_json()).await.unwrap();
    let over = envelope("SM000000000000000000000000000000g2", "again");
    assert_eq!(h.engine.handle(&over.to_json()).await, Ok(Outcome::Replied));
    h.drain(fast_worker(), Duration::from_secs(5)).await;
    assert_eq!(h.twilio.created().len(), 2, "the customer's two replies only");
    assert_eq!(h.twilio.created()[1]["body"], OVER_BUDGET_MESSAGE);
    let marked = SqliteUsage::new(h.db.clone()).month(&h.tenant.tenant, &month()).await.unwrap();
    assert!(marked.budget_notified, "marked, so the missing number is logged once a month");
}
