//! A conversation a tenant starts by email: `/initiate-conversation` at the router, the
//! subject and opening written by the model in one answer, one Mail Send.

use comms_core::domain::Envelope;
use comms_core::ports::TurnStep;
use comms_engine::turn::Outcome;
use serde_json::Value;

use crate::email_helpers::*;
use crate::stubs::{ModelStep, OpenAiStub};

const OPENING: &str = "**Subject:** Your iPhone 13 is ready\n\nHi Ann,\n\nyour iPhone 13 is repaired and \
    ready for pickup at the shop, any weekday between 9 and 6.\n\nSam";

fn email_request() -> Value {
    let mut body: Value =
        serde_json::from_str(include_str!("../../../samples/requests/initiate-conversation.json")).unwrap();
    body["request_data"]["channel_method"] = "email".into();
    body
}

#[tokio::test]
async fn an_email_initiate_sends_one_mail_with_the_subject_the_model_wrote() {
    let openai = OpenAiStub::start(vec![]).await;
    openai.always(ModelStep::Text(OPENING));
    let w = email_world(openai, std::time::Duration::from_secs(5)).await;
    let resp = w.initiate(&email_request()).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let body = w.next_body().await;
    assert_eq!(w.handle(&body).await, Ok(Outcome::Replied));
    assert_eq!(w.handle(&body).await, Ok(Outcome::AlreadyDone));

    let accepted = w.sendgrid.accepted();
    assert_eq!(accepted.len(), 1);
    let mail = &accepted[0].body;
    assert_eq!(mail["subject"], "Your iPhone 13 is ready");
    assert_eq!(mail["personalizations"][0]["to"][0]["email"], "ann@example.com");
    assert_eq!(mail["from"]["email"], SHOP_EMAIL);
    let text = mail["content"][0]["value"].as_str().unwrap();
    assert!(text.starts_with("Hi Ann,") && !text.contains("Subject"), "{text}");
    assert!(mail["headers"].get("In-Reply-To").is_none());
    assert!(mail["headers"]["List-Unsubscribe"].as_str().unwrap().contains("/email/unsubscribe?t="));
    let messages = w.openai.requests()[0]["messages"].as_array().unwrap().clone();
    let ask = messages.last().unwrap()["content"].as_str().unwrap().to_owned();
    assert!(ask.contains("Subject: "), "one call asks for the subject and the body: {ask}");
}

#[tokio::test]
async fn a_resumed_email_opening_keeps_the_subject_it_was_composed_with() {
    let w = email_world(OpenAiStub::start(vec![]).await, std::time::Duration::from_secs(5)).await;
    assert_eq!(w.initiate(&email_request()).await.status(), 200);
    let body = w.next_body().await;
    // An attempt composed the opening and stopped before sending it.
    let vars = [("email_subject".to_owned(), "Ready for pickup".to_owned())].into();
    let ready = TurnStep::ReplyReady { reply: "Hi Ann, it is ready.".into(), template: Some(vars) };
    w.store_step(&Envelope::parse(&body).unwrap(), &ready).await;

    assert_eq!(w.handle(&body).await, Ok(Outcome::Replied));
    assert!(w.openai.requests().is_empty(), "not composed again");
    let accepted = w.sendgrid.accepted();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].body["subject"], "Ready for pickup");
    assert_eq!(accepted[0].body["content"][0]["value"], "Hi Ann, it is ready.");
}
