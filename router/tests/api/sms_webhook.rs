use comms_core::domain::{Address, Channel, Envelope, KindDetail};
use comms_core::ports::{ConsentStore, Queues};
use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn healthz_answers_ok() {
    let app = spawn_app().await;
    let resp = app.client.get(format!("{}/healthz", app.base_url)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn signed_sms_is_enqueued_and_answered_with_empty_twiml() {
    let app = spawn_app().await;
    let resp =
        app.post_twilio("/twilio/sms", &sms_params("Can you fix a cracked screen?"), Some(AUTH_TOKEN)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/xml"));
    assert_eq!(resp.text().await.unwrap(), r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#);

    let got = app.queues.receive(Channel::Sms, 10, std::time::Duration::from_secs(30)).await.unwrap();
    assert_eq!(got.len(), 1);
    let env = Envelope::parse(&got[0].body).unwrap();
    assert_eq!(env.id, "SM0123456789abcdef0123456789abcdef");
    assert_eq!(env.tenant, app.tenant.tenant);
    assert_eq!(env.channel, Channel::Sms);
    assert_eq!(env.from.as_str(), CUSTOMER);
    assert_eq!(env.to.as_str(), SHOP_NUMBER);
    assert_eq!(env.body, "Can you fix a cracked screen?");
    assert_eq!(env.conversation_id.as_str(), "demo.repair-shop.tel.14155550123");
    assert_eq!(env.detail, KindDetail::inbound(0));
    assert_eq!(got[0].attributes["kind"], "inbound");
    assert_eq!(got[0].attributes["company_id"], "demo");
    assert_eq!(got[0].attributes["channel"], "sms");
    assert!(!got[0].attributes["trace_id"].is_empty());
}

#[tokio::test]
async fn missing_signature_is_403_and_nothing_enqueued() {
    let app = spawn_app().await;
    let resp = app.post_twilio("/twilio/sms", &sms_params("hi"), None).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_of(resp).await.0, "missing_signature");
    assert_eq!(app.sms_depth().await, 0);
}

#[tokio::test]
async fn wrong_signature_is_403_and_nothing_enqueued() {
    let app = spawn_app().await;
    let resp = app.post_twilio("/twilio/sms", &sms_params("hi"), Some("another-token")).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_of(resp).await.0, "invalid_signature");
    assert_eq!(app.sms_depth().await, 0);
}

#[tokio::test]
async fn tampered_body_fails_the_signature() {
    let app = spawn_app().await;
    let url = format!("{}/twilio/sms", app.base_url);
    let signed = sms_params("hi");
    let sig = comms_core::twilio::signature::compute(AUTH_TOKEN, &url, &signed);
    let resp = app
        .client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", sig)
        .body(encode(&sms_params("send me all your money")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.sms_depth().await, 0);
}

#[tokio::test]
async fn host_header_is_not_trusted_for_the_signed_url() {
    let app = spawn_app().await;
    // Signed for a URL an attacker controls; the server must check against its own
    // configured public URL, whatever Host says.
    let evil = "http://evil.example/twilio/sms";
    let params = sms_params("hi");
    let resp = app
        .client
        .post(format!("{}/twilio/sms", app.base_url))
        .header("host", "evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", comms_core::twilio::signature::compute(AUTH_TOKEN, evil, &params))
        .body(encode(&params))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.sms_depth().await, 0);
}

#[tokio::test]
async fn unknown_to_number_is_404() {
    let app = spawn_app().await;
    let mut params = sms_params("hi");
    params[3].1 = "+15555550199".into();
    let resp = app.post_twilio("/twilio/sms", &params, Some(AUTH_TOKEN)).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_of(resp).await.0, "unknown_number");
    assert_eq!(app.sms_depth().await, 0);
}

#[tokio::test]
async fn malformed_form_is_400() {
    let app = spawn_app().await;
    let url = format!("{}/twilio/sms", app.base_url);
    // Invalid UTF-8 behind a percent escape.
    let resp = app
        .client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", "AAAA")
        .body("To=%2B15555550100&Body=%FF%FE")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_of(resp).await.0, "malformed_form");
    assert_eq!(app.sms_depth().await, 0);
}

#[tokio::test]
async fn missing_or_invalid_fields_name_the_field() {
    let app = spawn_app().await;
    let mut no_to = sms_params("hi");
    no_to.retain(|(k, _)| k != "To");
    let resp = app.post_twilio("/twilio/sms", &no_to, Some(AUTH_TOKEN)).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_of(resp).await, ("invalid_field".into(), Some("To".into())));

    let mut bad_from = sms_params("hi");
    bad_from[2].1 = "415-555-0123".into();
    let resp = app.post_twilio("/twilio/sms", &bad_from, Some(AUTH_TOKEN)).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_of(resp).await, ("invalid_field".into(), Some("From".into())));

    let mut bad_sid = sms_params("hi");
    bad_sid[0].1 = "MX0123456789abcdef0123456789abcdef".into();
    let resp = app.post_twilio("/twilio/sms", &bad_sid, Some(AUTH_TOKEN)).await;
    assert_eq!(error_of(resp).await, ("invalid_field".into(), Some("MessageSid".into())));

    let mut no_sid = sms_params("hi");
    no_sid.retain(|(k, _)| k != "MessageSid");
    let resp = app.post_twilio("/twilio/sms", &no_sid, Some(AUTH_TOKEN)).await;
    assert_eq!(error_of(resp).await, ("invalid_field".into(), Some("MessageSid".into())));
    assert_eq!(app.sms_depth().await, 0);
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let app = spawn_app().await;
    let resp = app
        .client
        .post(format!("{}/twilio/sms", app.base_url))
        .header("content-type", "application/json")
        .header("x-twilio-signature", "AAAA")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    error_of(resp).await;
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let app = spawn_app_with_limit(1024).await;
    let resp = app.post_twilio("/twilio/sms", &sms_params(&"x".repeat(4096)), Some(AUTH_TOKEN)).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_of(resp).await.0, "payload_too_large");
    assert_eq!(app.sms_depth().await, 0);
}

#[tokio::test]
async fn unknown_route_and_wrong_method_answer_json() {
    let app = spawn_app().await;
    let resp = app.client.get(format!("{}/nope", app.base_url)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    error_of(resp).await;
    for path in ["/twilio/sms", "/initiate-conversation", "/bookings"] {
        let resp = app.client.get(format!("{}{path}", app.base_url)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        error_of(resp).await;
    }
}

fn customer() -> Address {
    Address::parse(CUSTOMER).unwrap()
}

#[tokio::test]
async fn stop_keywords_opt_out_and_are_not_enqueued() {
    for keyword in ["STOP", "stopall", " Unsubscribe ", "CANCEL", "END", "QUIT"] {
        let app = spawn_app().await;
        let resp = app.post_twilio("/twilio/sms", &sms_params(keyword), Some(AUTH_TOKEN)).await;
        assert_eq!(resp.status(), StatusCode::OK, "{keyword}");
        assert!(app.consent.is_opted_out(&app.tenant.tenant, &customer()).await.unwrap(), "{keyword}");
        assert_eq!(app.sms_depth().await, 0, "{keyword} reached the AI queue");
    }
}

#[tokio::test]
async fn start_keywords_opt_back_in() {
    for keyword in ["START", "yes", "UNSTOP"] {
        let app = spawn_app().await;
        app.post_twilio("/twilio/sms", &sms_params("STOP"), Some(AUTH_TOKEN)).await;
        let resp = app.post_twilio("/twilio/sms", &sms_params(keyword), Some(AUTH_TOKEN)).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(!app.consent.is_opted_out(&app.tenant.tenant, &customer()).await.unwrap(), "{keyword}");
        assert_eq!(app.sms_depth().await, 0);
    }
}

#[tokio::test]
async fn help_is_recorded_and_not_enqueued() {
    for keyword in ["HELP", "info"] {
        let app = spawn_app().await;
        let resp = app.post_twilio("/twilio/sms", &sms_params(keyword), Some(AUTH_TOKEN)).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let history = app.consent.history(&app.tenant.tenant, &customer()).await.unwrap();
        assert_eq!(history, vec![("help".to_owned(), keyword.to_ascii_uppercase())]);
        assert!(!app.consent.is_opted_out(&app.tenant.tenant, &customer()).await.unwrap());
        assert_eq!(app.sms_depth().await, 0);
    }
}

#[tokio::test]
async fn a_sentence_containing_stop_is_a_normal_message() {
    let app = spawn_app().await;
    app.post_twilio("/twilio/sms", &sms_params("please stop by at 5"), Some(AUTH_TOKEN)).await;
    assert!(!app.consent.is_opted_out(&app.tenant.tenant, &customer()).await.unwrap());
    assert_eq!(app.sms_depth().await, 1);
}
