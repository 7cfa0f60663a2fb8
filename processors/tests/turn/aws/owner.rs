//! The owner's side of the turn on the AWS adapters (DynamoDB, SQS on moto), wired as
//! the Lambda binary wires it: `request_human` sets the takeover on the DynamoDB header
//! and notifies the owner through SQS once; under takeover no model call; a direct send
//! goes out once as the owner's; hand back resumes the assistant.

use comms_core::domain::tenant::ToolName;
use comms_core::domain::{Author, Channel, Envelope, PhoneNumber};
use comms_core::ports::{ConversationLog, ItemContent, TenantDirectory};
use serde_json::json;

use super::{AwsWorld, INVOKE_URL, aws_world};
use crate::helpers::*;
use crate::stubs::ModelStep;

const OWNER: &str = "+15555550199";

/// The demo tenant with `request_human` enabled and the owner's number set.
async fn with_hand_off(world: &AwsWorld) -> comms_core::domain::tenant::TenantConfig {
    let demo = comms_core::domain::TenantRef::new("demo", "repair-shop").unwrap();
    let mut cfg = TenantDirectory::get(&world.store, &demo).await.unwrap().unwrap();
    cfg.ai.enabled_tools.push(ToolName::RequestHuman);
    cfg.handoff.notify_number = Some(PhoneNumber::parse(OWNER).unwrap());
    world.store.put(&cfg).await.unwrap();
    cfg
}

/// The owner's reply to the demo customer.
fn owners_reply(cfg: &comms_core::domain::tenant::TenantConfig, id: &str, text: &str) -> Envelope {
    let (shop, customer) = (PhoneNumber::parse(SHOP).unwrap(), PhoneNumber::parse(CUSTOMER).unwrap());
    let (id, text, now) = (id.to_owned(), text.to_owned(), jiff::Timestamp::now());
    Envelope::direct(cfg.tenant.clone(), Channel::Sms, shop, customer, id, text, Author::Owner, now)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hand_off_takeover_and_direct_sends_on_the_aws_adapters() {
    let Some(world) = aws_world().await else { return };
    let cfg = with_hand_off(&world).await;
    let handler = world.handler(&world.config).await;
    world.openai.then(vec![
        ModelStep::ToolCall { name: "request_human", arguments: json!({"reason": "asks for Sam"}) },
        ModelStep::Text("Sam will text you back shortly."),
    ]);
    let ask = envelope("SM000000000000000000000000000000h1", "Can I talk to a person?");
    world.enqueue(&ask).await;
    world.enqueue(&ask).await;
    world.drain(&handler, |waiting, _| waiting == 0).await;
    let id = &ask.conversation_id;
    let sent = world.twilio.created();
    let to = |n: &str| sent.iter().filter(|m| m["to"] == n).count();
    let items = world.store.recent(&ask.conversation_id, 20).await.unwrap();
    assert_eq!((to(OWNER), to(CUSTOMER)), (1, 1), "{sent:?} {items:?}");
    assert!(sent.iter().any(|m| m["body"] == "Sam will text you back shortly."), "{sent:?}");
    let link = format!("{INVOKE_URL}/console/conversations/{id}");
    assert!(sent.iter().any(|m| m["to"] == OWNER && m["body"].as_str().unwrap().contains(&link)), "{sent:?}");
    let header = ConversationLog::get(&world.store, id).await.unwrap().unwrap();
    assert!(header.taken_over(jiff::Timestamp::now()), "{header:?}");
    let asked = world.openai.requests().len();

    // Under takeover: stored, no model call, no reply; the owner's reply goes out once.
    world.enqueue(&envelope("SM000000000000000000000000000000h2", "hello?")).await;
    let reply = owners_reply(&cfg, "console-1", "Hi, Sam here.");
    world.enqueue(&reply).await;
    world.enqueue(&reply).await;
    world.drain(&handler, |waiting, _| waiting == 0).await;
    assert_eq!(world.openai.requests().len(), asked, "no model call under takeover");
    let sent = world.twilio.created();
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert_eq!((&sent[2]["body"], &sent[2]["to"]), (&json!("Hi, Sam here."), &json!(CUSTOMER)));
    let items = world.store.recent(id, 20).await.unwrap();
    assert!(
        items.iter().any(|i| i.content == ItemContent::Inbound { text: "hello?".into(), media: Vec::new() }),
        "{items:?}"
    );
    assert!(
        items
            .iter()
            .any(|i| matches!(&i.content, ItemContent::OwnerReply { text, .. } if text == "Hi, Sam here."))
    );

    // Handed back: the assistant answers again.
    assert!(world.store.set_takeover(&cfg.tenant, id, None).await.unwrap());
    world.openai.always(ModelStep::Text("Anything else?"));
    world.enqueue(&envelope("SM000000000000000000000000000000h3", "thanks")).await;
    world.drain(&handler, |waiting, _| waiting == 0).await;
    let sent = world.twilio.created();
    assert_eq!(sent.len(), 4, "{sent:?}");
    assert_eq!(sent[3]["body"], "Anything else?");
}
