//! Customers' photos, end to end: a signed MMS webhook with two images through the real
//! router, the queue and the worker, to the model request on the OpenAI stub: image
//! parts with `ai.vision`, else a note of how many photos; and the photos stay in the
//! history the next turn sends.

use std::time::Duration;

use comms_core::domain::Media;
use comms_core::ports::{ConversationLog, ItemContent, TenantDirectory};
use comms_core::twilio::signature;
use comms_sqlite::SqliteTenants;
use serde_json::Value;

use crate::helpers::*;
use crate::stubs::{ModelStep, OpenAiStub};

const PHOTO_1: &str = "https://api.twilio.com/2010-04-01/Accounts/ACtest/Messages/MM1/Media/ME1";
const PHOTO_2: &str = "https://api.twilio.com/2010-04-01/Accounts/ACtest/Messages/MM1/Media/ME2";

/// A harness whose tenant has `ai.vision` set to `vision`.
async fn harness_with_vision(vision: bool) -> Harness {
    let openai = OpenAiStub::start(vec![]).await;
    openai.always(ModelStep::Text("Thanks, we can fix that."));
    let mut h = harness(openai).await;
    h.tenant.ai.vision = vision;
    SqliteTenants::new(h.db.clone()).put(&h.tenant).await.unwrap();
    h
}

/// Posts a signed inbound SMS webhook (with `media`) to the real router on `h`'s database.
async fn post_mms(h: &Harness, sid: &str, body: &str, media: &[(&str, &str)]) {
    let stores = comms_sqlite::stores(&h.db, Default::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = comms_router::AppState::new(&stores, comms_router::RouterConfig::new(&base));
    tokio::spawn(async move { axum::serve(listener, comms_router::app(state)).await.unwrap() });
    let mut params: Vec<(String, String)> = [
        ("MessageSid", sid),
        ("AccountSid", "ACtest"),
        ("From", CUSTOMER),
        ("To", SHOP),
        ("Body", body),
        ("NumMedia", &media.len().to_string()),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .into();
    for (i, (url, content_type)) in media.iter().enumerate() {
        params.push((format!("MediaUrl{i}"), (*url).to_owned()));
        params.push((format!("MediaContentType{i}"), (*content_type).to_owned()));
    }
    let url = format!("{base}/twilio/sms");
    let resp = crate::stubs::http_client()
        .post(&url)
        .header("x-twilio-signature", signature::compute("token", &url, &params))
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

/// The user messages of a model request, in order.
fn user_messages(request: &Value) -> Vec<Value> {
    request["messages"].as_array().unwrap().iter().filter(|m| m["role"] == "user").cloned().collect()
}

fn image_urls(message: &Value) -> Vec<String> {
    let Some(parts) = message["content"].as_array() else { return Vec::new() };
    parts
        .iter()
        .filter(|p| p["type"] == "image_url")
        .map(|p| p["image_url"]["url"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn with_vision_the_model_gets_both_photos_as_image_parts_now_and_in_the_history() {
    let h = harness_with_vision(true).await;
    let photos = [(PHOTO_1, "image/jpeg"), (PHOTO_2, "image/png")];
    post_mms(&h, "MM00000000000000000000000000000001", "Can you fix this?", &photos).await;
    h.drain(fast_worker(), Duration::from_secs(10)).await;

    let requests = h.openai.requests();
    let users = user_messages(&requests[0]);
    let last = users.last().unwrap();
    assert_eq!(last["content"][0], serde_json::json!({"type": "text", "text": "Can you fix this?"}));
    assert_eq!(image_urls(last), [PHOTO_1, PHOTO_2]);

    let conversation = h.conversations.list(None, 1).await.unwrap()[0].conversation_id.clone();
    let items = h.conversations.recent(&conversation, 10).await.unwrap();
    let ItemContent::Inbound { media, .. } = &items[0].content else { panic!("{items:?}") };
    let url_of = |m: &Media| m.url.clone();
    assert_eq!(media.iter().map(url_of).collect::<Vec<_>>(), [PHOTO_1, PHOTO_2]);

    post_mms(&h, "SM00000000000000000000000000000002", "How much?", &[]).await;
    h.drain(fast_worker(), Duration::from_secs(10)).await;
    let requests = h.openai.requests();
    let users = user_messages(requests.last().unwrap());
    assert_eq!(users.len(), 2, "{users:?}");
    assert_eq!(image_urls(&users[0]), [PHOTO_1, PHOTO_2]);
    assert_eq!(users[1]["content"], "How much?");
    assert_eq!(h.twilio.created().len(), 2);
}

#[tokio::test]
async fn without_vision_the_model_is_told_how_many_photos_now_and_in_the_history() {
    let h = harness_with_vision(false).await;
    let photos = [(PHOTO_1, "image/jpeg"), (PHOTO_2, "image/jpeg")];
    post_mms(&h, "MM00000000000000000000000000000003", "Can you fix this?", &photos).await;
    h.drain(fast_worker(), Duration::from_secs(10)).await;
    post_mms(&h, "SM00000000000000000000000000000004", "How much?", &[]).await;
    h.drain(fast_worker(), Duration::from_secs(10)).await;

    let requests = h.openai.requests();
    let noted = "Can you fix this?\n\nThe customer sent 2 photos.";
    assert_eq!(user_messages(&requests[0]).last().unwrap()["content"], noted);
    let users = user_messages(requests.last().unwrap());
    assert_eq!(users.iter().map(|u| u["content"].clone()).collect::<Vec<_>>(), [noted, "How much?"]);
    let wire = serde_json::to_string(&requests).unwrap();
    assert!(!wire.contains("image_url"), "{wire}");
}
