//! Voice turns: the answer is spoken into the live call by one Twilio call update, with
//! the next `<Gather>`; at most once; a call that already ended is noted, not retried.

use comms_core::domain::{Address, Channel, ConversationId, Envelope, KindDetail, TenantRef};
use comms_core::ports::{ConversationLog, DeadLetters, ItemContent, OutgoingMessage, Queues};
use comms_engine::turn::Outcome;

use crate::helpers::*;
use crate::stubs::{ModelStep, OpenAiStub};

const CALL: &str = "CA0123456789abcdef0123456789abcdef";

fn voice_turn(turn: u32, speech: &str) -> Envelope {
    let tenant = TenantRef::new("demo", "repair-shop").unwrap();
    let from = Address::parse(CUSTOMER).unwrap();
    Envelope {
        id: format!("{CALL}-{turn}"),
        conversation_id: ConversationId::derive(&tenant, Channel::Voice, &from),
        tenant,
        channel: Channel::Voice,
        from,
        to: Address::parse(SHOP).unwrap(),
        body: speech.into(),
        received_at: jiff::Timestamp::now(),
        detail: KindDetail::VoiceTurn { call_sid: CALL.into(), turn },
    }
}

/// A verb: name, attributes, text.
type Verb = (String, Vec<(String, String)>, String);

/// The verbs of a TwiML document, parsed as XML, with their attributes.
fn verbs(twiml: &str) -> Vec<Verb> {
    let doc = roxmltree::Document::parse(twiml).expect("well-formed TwiML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "Response");
    root.children()
        .filter(|n| n.is_element())
        .map(|n| {
            let attrs = n.attributes().map(|a| (a.name().to_owned(), a.value().to_owned())).collect();
            (n.tag_name().name().to_owned(), attrs, n.text().unwrap_or("").to_owned())
        })
        .collect()
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn a_voice_turn_updates_the_call_once_with_the_answer_and_the_next_gather() {
    let openai = OpenAiStub::start(vec![ModelStep::Text("Yes, we fix cracked screens the same day.")]).await;
    let h = harness(openai).await;
    let env = voice_turn(1, "Can you fix a cracked screen?");

    assert_eq!(h.engine.handle(&env.to_json()).await.unwrap(), Outcome::Replied);

    let updates = h.twilio.call_updates();
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(updates[0]["call_sid"], CALL);
    let twiml = updates[0]["twiml"].as_str().unwrap();
    assert!(twiml.chars().count() <= 4000);
    let v = verbs(twiml);
    assert_eq!(v[0].0, "Say");
    assert_eq!(v[0].2, "Yes, we fix cracked screens the same day.");
    assert_eq!(v[1].0, "Gather");
    assert_eq!(attr(&v[1].1, "input"), Some("speech"));
    assert_eq!(attr(&v[1].1, "speechTimeout"), Some("auto"));
    assert_eq!(attr(&v[1].1, "actionOnEmptyResult"), Some("true"));
    assert_eq!(attr(&v[1].1, "action"), Some("https://comms.example/twilio/voice/gather?turn=2"));
    assert!(h.twilio.created().is_empty(), "no SMS for a call");

    // The model was told it speaks on a call; the transcript is in the conversation
    // shared with the caller's texts (same id family).
    let prompt = h.openai.requests()[0]["messages"][0]["content"].as_str().unwrap().to_owned();
    assert!(prompt.contains("live phone call"), "{prompt}");
    assert_eq!(env.conversation_id.as_str(), "demo.repair-shop.tel.14155550123");
    let items = h.conversations.recent(&env.conversation_id, 10).await.unwrap();
    assert!(
        matches!(&items[0].content, ItemContent::Inbound { text } if text == "Can you fix a cracked screen?")
    );
    assert!(matches!(&items.last().unwrap().content, ItemContent::Reply { .. }), "{items:?}");
}

#[tokio::test]
async fn a_duplicate_gather_updates_the_call_once() {
    let openai = OpenAiStub::start(vec![]).await;
    openai.always(ModelStep::Text("Sure."));
    let h = harness(openai).await;
    let env = voice_turn(1, "Are you open today?");
    // Twilio retried the gather webhook: the same turn is queued twice.
    for _ in 0..2 {
        let msg = OutgoingMessage { body: env.to_json(), attributes: env.attributes("t") };
        h.queues.send(Channel::Voice, msg).await.unwrap();
    }
    let (tx, rx) = tokio::sync::watch::channel(false);
    let settings = comms_engine::worker::WorkerSettings { channel: Channel::Voice, ..fast_worker() };
    let run = tokio::spawn(comms_engine::worker::run(
        std::sync::Arc::new(h.queues.clone()),
        std::sync::Arc::clone(&h.engine),
        settings,
        rx,
    ));
    for _ in 0..100 {
        let s = h.queues.stats(Channel::Voice).await.unwrap();
        if s.depth + s.in_flight == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tx.send(true).unwrap();
    run.await.unwrap();
    assert_eq!(h.twilio.call_updates().len(), 1);
    assert_eq!(h.openai.requests().len(), 1, "the model ran once");
}

#[tokio::test]
async fn a_call_that_already_ended_is_noted_and_not_retried() {
    let openai = OpenAiStub::start(vec![]).await;
    openai.always(ModelStep::Text("We can do 3pm."));
    let h = harness(openai).await;
    h.twilio.end_call(CALL);
    let env = voice_turn(2, "Do you have anything this afternoon?");

    // Acknowledged (no error, so no redelivery loop), nothing updated, the reason kept.
    let outcome = h.engine.handle(&env.to_json()).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    assert!(h.twilio.call_updates().is_empty());
    let items = h.conversations.recent(&env.conversation_id, 10).await.unwrap();
    assert!(
        items.iter().any(|i| matches!(&i.content, ItemContent::Note { text } if text.contains("call ended"))),
        "{items:?}"
    );
    // A redelivery finds the turn done: no second attempt, no second model call.
    assert_eq!(h.engine.handle(&env.to_json()).await.unwrap(), Outcome::AlreadyDone);
    assert_eq!(h.openai.requests().len(), 1);
}

#[tokio::test]
async fn a_goodbye_is_answered_and_the_call_hung_up() {
    let openai = OpenAiStub::start(vec![ModelStep::Text("You're welcome, see you Tuesday.")]).await;
    let h = harness(openai).await;
    h.engine.handle(&voice_turn(3, "That's all, thanks. Bye!").to_json()).await.unwrap();
    let twiml = h.twilio.call_updates()[0]["twiml"].as_str().unwrap().to_owned();
    let names: Vec<String> = verbs(&twiml).into_iter().map(|v| v.0).collect();
    assert_eq!(names, ["Say", "Say", "Hangup"], "{twiml}");
}

#[tokio::test]
async fn the_last_allowed_turn_ends_the_call() {
    let openai = OpenAiStub::start(vec![ModelStep::Text("Booked for Friday at 10.")]).await;
    let h = harness(openai).await;
    let last = comms_core::domain::voice::MAX_TURNS;
    h.engine.handle(&voice_turn(last, "Friday at ten please").to_json()).await.unwrap();
    let twiml = h.twilio.call_updates()[0]["twiml"].as_str().unwrap().to_owned();
    assert!(verbs(&twiml).iter().any(|v| v.0 == "Hangup"), "{twiml}");
    assert!(!verbs(&twiml).iter().any(|v| v.0 == "Gather"), "{twiml}");
}

#[tokio::test]
async fn a_long_answer_is_cut_to_speech_size_within_twilios_call_update_limit() {
    let long: &'static str = Box::leak("This is a very long answer. ".repeat(400).into_boxed_str());
    let openai = OpenAiStub::start(vec![ModelStep::Text(long)]).await;
    let h = harness(openai).await;
    h.engine.handle(&voice_turn(1, "Tell me everything").to_json()).await.unwrap();
    let twiml = h.twilio.call_updates()[0]["twiml"].as_str().unwrap().to_owned();
    assert!(twiml.chars().count() <= 4000, "{}", twiml.len());
    let v = verbs(&twiml);
    assert!(v[0].2.chars().count() <= comms_core::domain::voice::MAX_SPOKEN_CHARS, "{}", v[0].2);
    assert!(v[0].2.ends_with("answer."), "cut at a sentence: {}", v[0].2);
    assert!(v.iter().any(|v| v.0 == "Gather"), "the next turn survives the cut");
}
