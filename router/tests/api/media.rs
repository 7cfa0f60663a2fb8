//! MMS and WhatsApp media: the URLs and types on Twilio's hosts ride on the inbound
//! envelope; anything else is dropped.

use comms_core::domain::{Channel, Envelope, KindDetail, Media};
use comms_core::ports::Queues;
use reqwest::StatusCode;

use crate::helpers::*;
use crate::initiate::sample;

fn params_of(name: &str) -> Vec<(String, String)> {
    serde_json::from_value(sample(name)["params"].clone()).unwrap()
}

fn set(params: &mut Vec<(String, String)>, name: &str, value: &str) {
    params.retain(|(k, _)| k != name);
    params.push((name.to_owned(), value.to_owned()));
}

async fn enqueued(app: &TestApp, channel: Channel) -> Envelope {
    let got = app.queues.receive(channel, 10, std::time::Duration::from_secs(30)).await.unwrap();
    assert_eq!(got.len(), 1);
    Envelope::parse(&got[0].body).unwrap()
}

fn media_of(env: &Envelope) -> (u32, Vec<Media>) {
    match &env.detail {
        KindDetail::Inbound { num_media, media, .. } => (*num_media, media.clone()),
        other => panic!("not inbound: {other:?}"),
    }
}

#[tokio::test]
async fn an_mms_with_two_photos_carries_both_urls_and_types() {
    let app = spawn_app().await;
    let params = params_of("twilio-mms-inbound.json");
    let resp = app.post_twilio("/twilio/sms", &params, Some(AUTH_TOKEN)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let (num_media, media) = media_of(&enqueued(&app, Channel::Sms).await);
    assert_eq!(num_media, 2);
    let types: Vec<&str> = media.iter().map(|m| m.content_type.as_str()).collect();
    assert_eq!(types, ["image/jpeg", "image/png"]);
    assert!(media[0].url.ends_with("/Media/ME00000000000000000000000000000001"), "{media:?}");
    assert!(media[1].url.ends_with("/Media/ME00000000000000000000000000000002"), "{media:?}");
}

#[tokio::test]
async fn media_off_twilios_hosts_or_past_ten_is_dropped() {
    let app = spawn_app().await;
    let mut params = sms_params("photos");
    set(&mut params, "NumMedia", "14");
    for i in 0..14 {
        let url = match i {
            1 => "https://evil.example/api.twilio.com/x".to_owned(),
            2 => "http://api.twilio.com/insecure".to_owned(),
            3 => "https://mms.twiliocdn.com/cdn/3".to_owned(),
            _ => format!("https://api.twilio.com/m/{i}"),
        };
        set(&mut params, &format!("MediaUrl{i}"), &url);
        set(&mut params, &format!("MediaContentType{i}"), "image/jpeg");
    }
    let resp = app.post_twilio("/twilio/sms", &params, Some(AUTH_TOKEN)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let (num_media, media) = media_of(&enqueued(&app, Channel::Sms).await);
    assert_eq!(num_media, 14);
    let urls: Vec<&str> = media.iter().map(|m| m.url.as_str()).collect();
    let mut expected =
        vec!["https://api.twilio.com/m/0".to_owned(), "https://mms.twiliocdn.com/cdn/3".to_owned()];
    expected.extend((4..10).map(|i| format!("https://api.twilio.com/m/{i}")));
    assert_eq!(urls, expected);
}

#[tokio::test]
async fn a_whatsapp_photo_is_kept_too() {
    let app = spawn_app().await;
    let mut params = params_of("twilio-whatsapp-inbound.json");
    set(&mut params, "NumMedia", "1");
    set(&mut params, "MediaUrl0", "https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/MM1/Media/ME1");
    set(&mut params, "MediaContentType0", "image/jpeg");
    let resp = app.post_twilio("/twilio/whatsapp", &params, Some(AUTH_TOKEN)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let (_, media) = media_of(&enqueued(&app, Channel::Whatsapp).await);
    assert_eq!(media.len(), 1);
    assert_eq!(media[0].content_type, "image/jpeg");
}

#[tokio::test]
async fn a_bad_media_count_is_a_field_error() {
    let app = spawn_app().await;
    let mut params = sms_params("photos");
    set(&mut params, "NumMedia", "-1");
    let resp = app.post_twilio("/twilio/sms", &params, Some(AUTH_TOKEN)).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_of(resp).await, ("invalid_field".to_owned(), Some("NumMedia".to_owned())));
    assert_eq!(app.sms_depth().await, 0);
}
