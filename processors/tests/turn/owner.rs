//! The owner's side of the turn: a takeover silences the assistant in that conversation
//! only (until handed back or expired), direct sends go out once as written, and the
//! `request_human` tool hands a conversation over and notifies the owner once.

use std::time::Duration;

use comms_core::domain::tenant::ToolName;
use comms_core::domain::{Address, Author, Channel, ConversationId, Envelope, PhoneNumber};
use comms_core::ports::{ConsentAction, ConsentStore, ConversationLog, ItemContent, TenantDirectory};
use comms_engine::turn::Outcome;
use comms_sqlite::SqliteTenants;
use serde_json::json;

use crate::helpers::*;
use crate::stubs::{ModelStep, OpenAiStub, TwilioMode};

const OTHER: &str = "+14155550777";
const OWNER: &str = "+15555550199";

/// An SMS from `number` to the shop.
fn from(number: &str, sid: &str, body: &str) -> Envelope {
    let mut env = envelope(sid, body);
    env.from = Address::parse(number).unwrap();
    env.conversation_id = ConversationId::derive(&env.tenant, Channel::Sms, &env.from);
    env
}

/// A direct send to `number` from the shop.
fn direct(number: &str, id: &str, text: &str, author: Author) -> Envelope {
    let tenant = comms_core::domain::TenantRef::new("demo", "repair-shop").unwrap();
    let (shop, to) = (PhoneNumber::parse(SHOP).unwrap(), PhoneNumber::parse(number).unwrap());
    Envelope::direct(tenant, Channel::Sms, shop, to, id.into(), text.into(), author, jiff::Timestamp::now())
}

async fn answering(text: &'static str) -> Harness {
    let openai = OpenAiStub::start(vec![]).await;
    openai.always(ModelStep::Text(text));
    harness(openai).await
}

fn in_an_hour() -> Option<jiff::Timestamp> {
    Some(jiff::Timestamp::now() + Duration::from_secs(3600))
}

#[tokio::test]
async fn a_takeover_silences_that_conversation_only_until_handed_back() {
    let h = answering("Assistant here.").await;
    let first = from(CUSTOMER, "SM000000000000000000000000000000a1", "hi");
    assert_eq!(h.engine.handle(&first.to_json()).await, Ok(Outcome::Replied));
    let (tenant, id) = (&h.tenant.tenant, &first.conversation_id);
    assert!(h.conversations.set_takeover(tenant, id, in_an_hour()).await.unwrap());

    let held = from(CUSTOMER, "SM000000000000000000000000000000a2", "are you there?");
    let out = h.engine.handle(&held.to_json()).await;
    assert_eq!(out, Ok(Outcome::Suppressed("owner has taken over".into())));
    assert_eq!((h.openai.requests().len(), h.twilio.created().len()), (1, 1), "no model call, no reply");
    let items = h.conversations.recent(id, 10).await.unwrap();
    assert_eq!(item_kinds(&items), ["inbound", "reply", "inbound", "note"], "the message is stored");

    let other = from(OTHER, "SM000000000000000000000000000000a3", "hello");
    assert_eq!(h.engine.handle(&other.to_json()).await, Ok(Outcome::Replied), "another customer");
    assert_eq!(h.twilio.created()[1]["to"], OTHER);

    assert!(h.conversations.set_takeover(tenant, id, None).await.unwrap());
    let back = from(CUSTOMER, "SM000000000000000000000000000000a4", "hello again");
    assert_eq!(h.engine.handle(&back.to_json()).await, Ok(Outcome::Replied), "handed back");
    assert_eq!((h.openai.requests().len(), h.twilio.created().len()), (3, 3));
    // The model saw what the customer wrote while the owner held the conversation.
    let history = h.openai.requests()[2]["messages"].to_string();
    assert!(history.contains("are you there?"), "{history}");
}

#[tokio::test]
async fn an_expired_takeover_lets_the_assistant_answer() {
    let h = answering("Back to you.").await;
    let first = from(CUSTOMER, "SM000000000000000000000000000000b1", "hi");
    h.engine.handle(&first.to_json()).await.unwrap();
    let ended = Some(jiff::Timestamp::now() - Duration::from_secs(60));
    assert!(h.conversations.set_takeover(&h.tenant.tenant, &first.conversation_id, ended).await.unwrap());
    let next = from(CUSTOMER, "SM000000000000000000000000000000b2", "anyone?");
    assert_eq!(h.engine.handle(&next.to_json()).await, Ok(Outcome::Replied));
    assert_eq!(h.twilio.created().len(), 2);
}

#[tokio::test]
async fn a_direct_send_goes_out_once_as_the_owners_even_under_takeover() {
    let h = answering("unused").await;
    let first = from(CUSTOMER, "SM000000000000000000000000000000c1", "is my phone ready?");
    h.engine.handle(&first.to_json()).await.unwrap();
    let id = &first.conversation_id;
    assert!(h.conversations.set_takeover(&h.tenant.tenant, id, in_an_hour()).await.unwrap());

    let reply = direct(CUSTOMER, "console-key-1", "Yes, come by at 3. Sam", Author::Owner);
    assert_eq!(reply.conversation_id, *id, "the customer's conversation");
    h.enqueue(&reply).await;
    h.enqueue(&reply).await;
    h.drain(fast_worker(), Duration::from_secs(10)).await;
    assert_eq!(h.engine.handle(&reply.to_json()).await, Ok(Outcome::AlreadyDone));

    let sent = h.twilio.created();
    assert_eq!(sent.len(), 2, "the assistant's first reply and the owner's, once: {sent:?}");
    assert_eq!(
        (&sent[1]["body"], &sent[1]["from"], &sent[1]["to"]),
        (&json!("Yes, come by at 3. Sam"), &json!(SHOP), &json!(CUSTOMER))
    );
    assert_eq!(h.openai.requests().len(), 1, "a direct send asks no model");
    let items = h.conversations.recent(id, 10).await.unwrap();
    let owner = items.iter().find_map(|i| match &i.content {
        ItemContent::OwnerReply { text, provider_ids } => Some((text.clone(), provider_ids.clone())),
        _ => None,
    });
    assert_eq!(
        owner,
        Some(("Yes, come by at 3. Sam".into(), vec![sent[1]["sid"].as_str().unwrap().to_owned()]))
    );
}

#[tokio::test]
async fn a_direct_send_to_an_opted_out_customer_sends_nothing() {
    let h = answering("unused").await;
    h.consent
        .record(&h.tenant.tenant, &h.customer(), ConsentAction::OptOut, "STOP", jiff::Timestamp::now())
        .await
        .unwrap();
    let notice = direct(CUSTOMER, "cancel:LEAD-1", "Your booking is cancelled.", Author::System);
    let out = h.engine.handle(&notice.to_json()).await;
    assert_eq!(out, Ok(Outcome::Suppressed("recipient opted out".into())));
    assert_eq!(h.twilio.posts(), 0);
}

#[tokio::test]
async fn a_direct_send_from_a_number_not_the_tenants_is_refused() {
    let h = answering("unused").await;
    let mut forged = direct(CUSTOMER, "console-x", "hello", Author::Owner);
    forged.from = Address::parse("+15555550999").unwrap();
    let out = h.engine.handle(&forged.to_json()).await;
    assert!(matches!(&out, Err(e) if e.is_permanent()), "{out:?}");
    assert_eq!(h.twilio.posts(), 0);
}

#[tokio::test]
async fn a_direct_send_is_journalled_apart_from_customer_messages_and_reconciled() {
    let h = answering("Assistant here.").await;
    let sid = "SM000000000000000000000000000000d1";
    h.engine.handle(&from(CUSTOMER, sid, "hi").to_json()).await.unwrap();
    // A caller-chosen id equal to a customer's message id is another turn.
    h.twilio.next(&[TwilioMode::CreateThen500]);
    let notice = direct(CUSTOMER, sid, "Your booking is cancelled.", Author::System);
    assert!(h.engine.handle(&notice.to_json()).await.is_err(), "ambiguous send");
    assert_eq!(h.engine.handle(&notice.to_json()).await, Ok(Outcome::Replied), "reconciled");
    assert_eq!(h.twilio.created().len(), 2, "the notice went out once");
    let items = h.conversations.recent(&notice.conversation_id, 10).await.unwrap();
    assert_eq!(item_kinds(&items), ["inbound", "reply", "notice"]);
}

/// The demo tenant with `request_human` enabled and the owner's number set.
async fn with_hand_off(h: &Harness) {
    let mut cfg = h.tenant.clone();
    cfg.ai.enabled_tools.push(ToolName::RequestHuman);
    cfg.handoff.notify_number = Some(PhoneNumber::parse(OWNER).unwrap());
    cfg.handoff.takeover_hours = 2;
    SqliteTenants::new(h.db.clone()).put(&cfg).await.unwrap();
}

fn asks_for_a_person() -> Vec<ModelStep> {
    vec![
        ModelStep::ToolCall { name: "request_human", arguments: json!({"reason": "wants Sam"}) },
        ModelStep::Text("Sam will text you back here shortly."),
    ]
}

#[tokio::test]
async fn request_human_takes_over_and_notifies_the_owner_once() {
    let h = harness(OpenAiStub::start(asks_for_a_person()).await).await;
    with_hand_off(&h).await;
    let env = from(CUSTOMER, "SM000000000000000000000000000000e1", "Can I talk to a person?");
    h.enqueue(&env).await;
    h.enqueue(&env).await;
    h.drain(fast_worker(), Duration::from_secs(10)).await;

    let sent = h.twilio.created();
    let to_owner: Vec<_> = sent.iter().filter(|m| m["to"] == OWNER).collect();
    let to_customer: Vec<_> = sent.iter().filter(|m| m["to"] == CUSTOMER).collect();
    assert_eq!((to_owner.len(), to_customer.len()), (1, 1), "{sent:?}");
    assert_eq!(to_customer[0]["body"], "Sam will text you back here shortly.");
    let note = to_owner[0]["body"].as_str().unwrap();
    let link = format!("https://comms.example/console/conversations/{}", env.conversation_id);
    assert!(note.contains(&link) && note.contains("Can I talk to a person?"), "{note}");
    assert!(!note.contains(CUSTOMER), "the owner's SMS shows the number masked: {note}");
    assert_eq!(to_owner[0]["from"], SHOP);

    let header = h.conversations.get(&env.conversation_id).await.unwrap().unwrap();
    let until = header.takeover_until.unwrap();
    assert!(until > jiff::Timestamp::now() + Duration::from_secs(3600), "two hours: {until}");
    let after = from(CUSTOMER, "SM000000000000000000000000000000e2", "hello?");
    assert_eq!(
        h.engine.handle(&after.to_json()).await,
        Ok(Outcome::Suppressed("owner has taken over".into()))
    );
    assert_eq!(h.openai.requests().len(), 2, "no model call under takeover");
}

#[tokio::test]
async fn a_turn_that_failed_after_the_hand_off_runs_again_and_notifies_once() {
    let openai = OpenAiStub::start(vec![ModelStep::ToolCall {
        name: "request_human",
        arguments: json!({"reason": "x"}),
    }])
    .await;
    openai.always(ModelStep::Status(500));
    let h = harness(openai).await;
    with_hand_off(&h).await;
    let env = from(CUSTOMER, "SM000000000000000000000000000000f1", "a human please");
    // The model fails after the tool ran: the owner's text is queued, nothing is stored.
    assert!(h.engine.handle(&env.to_json()).await.is_err());
    let header = h.conversations.get(&env.conversation_id).await.unwrap().unwrap();
    assert_eq!(header.takeover_until, None, "not handed over before the turn's Sending step");

    // The redelivery runs the turn again: the customer is answered, the owner texted once.
    h.openai.then(asks_for_a_person());
    assert_eq!(h.engine.handle(&env.to_json()).await, Ok(Outcome::Replied));
    h.drain(fast_worker(), Duration::from_secs(10)).await;
    let sent = h.twilio.created();
    assert_eq!(sent.iter().filter(|m| m["to"] == OWNER).count(), 1, "{sent:?}");
    assert_eq!(sent.iter().filter(|m| m["to"] == CUSTOMER).count(), 1, "{sent:?}");
    let header = h.conversations.get(&env.conversation_id).await.unwrap().unwrap();
    assert!(header.taken_over(jiff::Timestamp::now()), "{header:?}");
}
