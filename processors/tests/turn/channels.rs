//! Outbound conversations (initiate), WhatsApp, and the owner state API feeding the turn.

use std::time::Duration;

use comms_core::domain::Channel;
use comms_core::domain::tenant::{KeyHash, hash_key};
use comms_core::ports::{ConsentStore, ConversationLog, ItemContent, TenantDirectory};
use comms_engine::turn::Outcome;
use comms_sqlite::SqliteTenants;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::stubs::{ModelStep, OpenAiStub};

#[tokio::test]
async fn an_sms_initiate_composes_and_sends_the_opening_once() {
    let openai =
        OpenAiStub::start(vec![ModelStep::Text("Hi Ann, your iPhone is repaired and ready for pickup!")])
            .await;
    let h = harness(openai).await;
    let env = initiate_envelope("3f2b8c1e-6a4d-4c1b-9e2f-7d5a1b0c9e8f", Channel::Sms);
    assert_eq!(h.engine.handle(&env.to_json()).await, Ok(Outcome::Replied));
    assert_eq!(h.engine.handle(&env.to_json()).await, Ok(Outcome::AlreadyDone));
    let sent = h.twilio.created();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0]["from"].as_str(), sent[0]["to"].as_str()), (Some(SHOP), Some(CUSTOMER)));
    assert!(sent[0]["body"].as_str().unwrap().contains("ready for pickup"));
    // The model was told who and what, with no tools.
    let req = &h.openai.requests()[0];
    let ask = req["messages"].as_array().unwrap().last().unwrap()["content"].as_str().unwrap();
    assert!(ask.contains("Ann Lee") && ask.contains("repair ready"), "{ask}");
    assert!(req.get("tools").is_none());
    let items = h.conversations.recent(&env.conversation_id, 10).await.unwrap();
    assert_eq!(item_kinds(&items), ["note", "reply"]);
    assert!(
        items.iter().any(|i| matches!(i.content, ItemContent::Usage { .. })),
        "the call's usage is stored"
    );
}

#[tokio::test]
async fn a_whatsapp_initiate_sends_the_template_with_its_variables() {
    let openai =
        OpenAiStub::start(vec![ModelStep::Text(r#"{"1": "Ann", "2": "your screen quote is 89 USD"}"#)]).await;
    let h = harness(openai).await;
    let env = initiate_envelope("9a7c1d2e-3b4f-4a5b-8c6d-0e1f2a3b4c5d", Channel::Whatsapp);
    assert_eq!(h.engine.handle(&env.to_json()).await, Ok(Outcome::Replied));
    let sent = h.twilio.created();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["to"], format!("whatsapp:{CUSTOMER}"));
    assert_eq!(sent[0]["from"], format!("whatsapp:{SHOP}"));
    assert_eq!(sent[0]["content_sid"], "HX0123456789abcdef0123456789abcdef");
    let vars: Value = serde_json::from_str(sent[0]["content_variables"].as_str().unwrap()).unwrap();
    assert_eq!(vars, json!({"1": "Ann", "2": "your screen quote is 89 USD"}));
    assert_eq!(sent[0]["body"], "", "a template send carries no free text");
}

#[tokio::test]
async fn incomplete_template_variables_are_rejected_and_nothing_is_sent() {
    for answer in [
        r#"{"1": "Ann"}"#,
        r#"{"1": "Ann", "2": ""}"#,
        "Hello Ann!",
        r#"{"1": "Ann", "2": "x", "3": "extra"}"#,
    ] {
        let openai = OpenAiStub::start(vec![ModelStep::Text(answer)]).await;
        let h = harness(openai).await;
        let env = initiate_envelope("9a7c1d2e-3b4f-4a5b-8c6d-0e1f2a3b4c5d", Channel::Whatsapp);
        let out = h.engine.handle(&env.to_json()).await;
        assert!(
            matches!(&out, Err(e) if e.is_permanent() && e.reason().contains("template")),
            "{answer}: {out:?}"
        );
        assert_eq!(h.twilio.posts(), 0, "{answer}");
    }
}

#[tokio::test]
async fn whatsapp_replies_are_free_text_inside_the_session_only() {
    let openai = OpenAiStub::start(vec![]).await;
    openai.always(ModelStep::Text("Yes, it's ready."));
    let h = harness(openai).await;
    let mut env = envelope("SM00000000000000000000000000000031", "is it ready?");
    env.channel = Channel::Whatsapp;
    assert_eq!(h.engine.handle(&env.to_json()).await, Ok(Outcome::Replied));
    let sent = h.twilio.created();
    assert_eq!(
        (sent[0]["to"].as_str(), sent[0]["body"].as_str()),
        (Some(&*format!("whatsapp:{CUSTOMER}")), Some("Yes, it's ready."))
    );

    // Processed more than 24 hours after the customer wrote: no free text.
    let mut late = envelope("SM00000000000000000000000000000032", "hello?");
    late.channel = Channel::Whatsapp;
    late.received_at = jiff::Timestamp::now() - Duration::from_secs(25 * 3600);
    let out = h.engine.handle(&late.to_json()).await;
    assert!(matches!(&out, Err(e) if e.is_permanent() && e.reason().contains("24-hour")), "{out:?}");
    assert_eq!(h.twilio.posts(), 1);
}

#[tokio::test]
async fn a_state_change_through_the_admin_api_reaches_the_next_prompt() {
    let openai = OpenAiStub::start(vec![]).await;
    openai.always(ModelStep::Text("ok"));
    let h = harness(openai).await;
    let mut tenant = h.tenant.clone();
    tenant.admin_keys = vec![KeyHash { id: "owner".into(), sha256: hash_key("owner-key") }];
    SqliteTenants::new(h.db.clone()).put(&tenant).await.unwrap();

    let stores = comms_sqlite::stores(&h.db, Default::default());
    let state = comms_router::AppState::new(&stores, comms_router::RouterConfig::new("http://127.0.0.1"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, comms_router::app(state)).await.unwrap() });
    let resp = comms_testkit::http_client()
        .put(format!("{base}/admin/state?company_id=demo&project_id=repair-shop"))
        .header("x-admin-key", "owner-key")
        .json(&json!({"mode": "OFF", "notes": "family day"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    h.engine.handle(&envelope("SM00000000000000000000000000000033", "open today?").to_json()).await.unwrap();
    let prompt = crate::helpers::system_text(&h.openai.requests()[0]);
    assert!(prompt.contains("Owner's current state: OFF") && prompt.contains("family day"), "{prompt}");
}

#[tokio::test]
async fn an_unsubscribed_initiate_recipient_is_the_customer_opted_out_not_the_tenant() {
    let openai = OpenAiStub::start(vec![]).await;
    openai.always(ModelStep::Text("Hi Ann, your repair is ready."));
    let h = harness(openai).await;
    h.twilio.next(&[crate::stubs::TwilioMode::Unsubscribed]);
    let first = initiate_envelope("5b0c7a1e-2d3f-4e5a-9b6c-7d8e9f0a1b2c", Channel::Sms);
    let out = h.engine.handle(&first.to_json()).await;
    assert!(matches!(&out, Err(e) if e.is_permanent() && e.reason().contains("21610")), "{out:?}");
    // The recipient of an initiate is the customer (`to`), not the tenant's number.
    assert!(h.consent.is_opted_out(&h.tenant.tenant, &h.customer()).await.unwrap());
    let shop = comms_core::domain::Address::parse(SHOP).unwrap();
    assert!(!h.consent.is_opted_out(&h.tenant.tenant, &shop).await.unwrap());
    // The next initiate to that customer is not sent.
    let second = initiate_envelope("6c1d8b2f-3e4a-4f5b-8c7d-8e9f0a1b2c3d", Channel::Sms);
    let next = h.engine.handle(&second.to_json()).await;
    assert!(matches!(next, Ok(Outcome::Suppressed(_))), "{next:?}");
    assert_eq!(h.twilio.posts(), 1);
}
