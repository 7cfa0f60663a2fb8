//! The voice webhooks: TwiML answers parsed as XML, turns queued on the voice queue,
//! silence reprompted once, the hold loop bounded.

use comms_core::domain::{Channel, Envelope, KindDetail, OwnerMode, OwnerState};
use comms_core::ports::{DeadLetters, OwnerStateStore, Queues};

use crate::helpers::*;

const CALL: &str = "CA0123456789abcdef0123456789abcdef";

fn call_params(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = [
        ("AccountSid", "ACtest"),
        ("CallSid", CALL),
        ("From", CUSTOMER),
        ("To", SHOP_NUMBER),
        ("CallStatus", "in-progress"),
        ("Direction", "inbound"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    p.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    p
}

/// A parsed TwiML element: name, attributes, text, children.
#[derive(Debug)]
struct El {
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
    children: Vec<El>,
}

impl El {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

fn el(n: roxmltree::Node<'_, '_>) -> El {
    El {
        name: n.tag_name().name().to_owned(),
        attrs: n.attributes().map(|a| (a.name().to_owned(), a.value().to_owned())).collect(),
        text: n.text().unwrap_or("").to_owned(),
        children: n.children().filter(|c| c.is_element()).map(el).collect(),
    }
}

/// Posts a signed voice webhook and parses the TwiML answer (`<Response>`'s verbs).
async fn twiml(app: &TestApp, path: &str, params: &[(String, String)]) -> Vec<El> {
    let resp = app.post_twilio(path, params, Some(AUTH_TOKEN)).await;
    assert_eq!(resp.status(), 200, "{path}");
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/xml"));
    let body = resp.text().await.unwrap();
    let doc = roxmltree::Document::parse(&body).unwrap_or_else(|e| panic!("not XML ({e}): {body}"));
    assert_eq!(doc.root_element().tag_name().name(), "Response");
    el(doc.root_element()).children
}

async fn voice_depth(app: &TestApp) -> u64 {
    let s = app.queues.stats(Channel::Voice).await.unwrap();
    s.depth + s.in_flight
}

#[tokio::test]
async fn a_call_is_greeted_inside_a_speech_gather() {
    let app = spawn_app().await;
    let verbs = twiml(&app, "/twilio/voice", &call_params(&[])).await;
    assert_eq!(verbs.len(), 1, "{verbs:?}");
    let gather = &verbs[0];
    assert_eq!(gather.name, "Gather");
    assert_eq!(gather.attr("input"), Some("speech"));
    assert_eq!(gather.attr("speechTimeout"), Some("auto"));
    assert_eq!(gather.attr("actionOnEmptyResult"), Some("true"));
    assert_eq!(gather.attr("action").unwrap(), format!("{}/twilio/voice/gather?turn=1", app.base_url));
    assert_eq!(gather.children[0].name, "Say");
    assert!(gather.children[0].text.contains("Thanks for calling"), "{:?}", gather.children);
    assert_eq!(voice_depth(&app).await, 0, "nothing queued before the caller speaks");
}

#[tokio::test]
async fn the_greeting_knows_the_owner_is_at_the_gym() {
    let app = spawn_app().await;
    let mut gym = OwnerState::default_at(jiff::Timestamp::now());
    gym.mode = OwnerMode::Gym;
    comms_sqlite::SqliteOwnerState::new(app.db.clone()).set(&app.tenant.tenant, &gym).await.unwrap();
    let verbs = twiml(&app, "/twilio/voice", &call_params(&[])).await;
    assert!(verbs[0].children[0].text.contains("at the gym"), "{verbs:?}");
}

#[tokio::test]
async fn speech_is_queued_as_a_voice_turn_and_the_caller_is_held() {
    let app = spawn_app().await;
    let params = call_params(&[("SpeechResult", "Can you fix my screen?"), ("Confidence", "0.92")]);
    let verbs = twiml(&app, "/twilio/voice/gather?turn=1", &params).await;
    let names: Vec<&str> = verbs.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["Say", "Pause", "Redirect"]);
    assert_eq!(verbs[2].attr("method"), Some("POST"));
    assert_eq!(verbs[2].text, format!("{}/twilio/voice/wait?turn=1&n=1", app.base_url));

    let got = app.queues.receive(Channel::Voice, 10, std::time::Duration::from_secs(30)).await.unwrap();
    assert_eq!(got.len(), 1);
    let env = Envelope::parse(&got[0].body).unwrap();
    assert_eq!(env.id, format!("{CALL}-1"));
    assert_eq!(env.body, "Can you fix my screen?");
    assert_eq!(env.conversation_id.as_str(), "demo.repair-shop.tel.14155550123", "shared with texts");
    assert_eq!(env.detail, KindDetail::VoiceTurn { call_sid: CALL.into(), turn: 1 });
    assert_eq!(got[0].attributes["kind"], "voice_turn");
}

#[tokio::test]
async fn silence_gets_one_reprompt_then_a_goodbye() {
    let app = spawn_app().await;
    let first = twiml(&app, "/twilio/voice/gather?turn=2", &call_params(&[])).await;
    assert_eq!(first[0].name, "Gather");
    assert_eq!(
        first[0].attr("action").unwrap(),
        format!("{}/twilio/voice/gather?turn=2&empty=1", app.base_url)
    );
    let second =
        twiml(&app, "/twilio/voice/gather?turn=2&empty=1", &call_params(&[("SpeechResult", " ")])).await;
    let names: Vec<&str> = second.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["Say", "Hangup"]);
    assert_eq!(voice_depth(&app).await, 0);
}

#[tokio::test]
async fn the_hold_loop_is_bounded_and_ends_in_a_new_gather() {
    let app = spawn_app().await;
    let mut path = "/twilio/voice/wait?turn=1&n=1".to_owned();
    let mut rounds = 0;
    loop {
        rounds += 1;
        assert!(rounds <= comms_core::domain::voice::MAX_HOLD_LOOPS, "the hold loop did not end");
        let verbs = twiml(&app, &path, &call_params(&[])).await;
        match verbs.iter().find(|v| v.name == "Redirect") {
            Some(r) => path = r.text.strip_prefix(&app.base_url).unwrap().to_owned(),
            None => {
                let gather = verbs.iter().find(|v| v.name == "Gather").expect("ends by listening again");
                assert_eq!(
                    gather.attr("action").unwrap(),
                    format!("{}/twilio/voice/gather?turn=2", app.base_url)
                );
                break;
            }
        }
    }
    assert_eq!(rounds, comms_core::domain::voice::MAX_HOLD_LOOPS);
    // Past the bound is not a loop we serve.
    let over = format!("/twilio/voice/wait?turn=1&n={}", comms_core::domain::voice::MAX_HOLD_LOOPS + 1);
    let resp = app.post_twilio(&over, &call_params(&[]), Some(AUTH_TOKEN)).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(error_of(resp).await, ("invalid_field".to_owned(), Some("n".to_owned())));
}

#[tokio::test]
async fn voice_webhooks_are_signature_checked_including_the_query() {
    let app = spawn_app().await;
    let params = call_params(&[("SpeechResult", "hello")]);
    let resp = app.post_twilio("/twilio/voice/gather?turn=1", &params, Some("wrong-token")).await;
    assert_eq!(resp.status(), 403);
    // Signed for turn=1, sent to turn=5: the query is part of what Twilio signs.
    let url = format!("{}/twilio/voice/gather?turn=1", app.base_url);
    let sig = comms_core::twilio::signature::compute(AUTH_TOKEN, &url, &params);
    let resp = app
        .client
        .post(format!("{}/twilio/voice/gather?turn=5", app.base_url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", sig)
        .body(encode(&params))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(voice_depth(&app).await, 0);
}

#[tokio::test]
async fn a_bad_call_sid_or_turn_is_a_field_error() {
    let app = spawn_app().await;
    let mut params = call_params(&[("SpeechResult", "hi")]);
    params[1].1 = "CAnope".into();
    let resp = app.post_twilio("/twilio/voice/gather?turn=1", &params, Some(AUTH_TOKEN)).await;
    assert_eq!(error_of(resp).await.1.as_deref(), Some("CallSid"));
    let resp = app.post_twilio("/twilio/voice/gather?turn=0", &call_params(&[]), Some(AUTH_TOKEN)).await;
    assert_eq!(error_of(resp).await.1.as_deref(), Some("turn"));
    assert_eq!(voice_depth(&app).await, 0);
}

#[tokio::test]
async fn every_voice_route_rejects_a_bad_from_the_same_way() {
    let app = spawn_app().await;
    let long = "1".repeat(5000);
    for bad in ["abc", "+１４１５５５５０１２３", long.as_str()] {
        for path in ["/twilio/voice", "/twilio/voice/gather?turn=1", "/twilio/voice/wait?turn=1&n=1"] {
            let mut params = call_params(&[("SpeechResult", "hi")]);
            params[2].1 = bad.to_owned();
            let resp = app.post_twilio(path, &params, Some(AUTH_TOKEN)).await;
            assert_eq!(resp.status(), 400, "{path} From={}", &bad[..bad.len().min(12)]);
            assert_eq!(error_of(resp).await.1.as_deref(), Some("From"), "{path}");
        }
    }
    assert_eq!(voice_depth(&app).await, 0);
}
