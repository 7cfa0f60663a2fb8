//! `POST /email/inbound[/{secret}]`: SendGrid Inbound Parse posts, signed like SendGrid
//! signs them (the testkit's key pair), into the email queue once per Message-ID.

use std::time::Duration;

use comms_core::domain::{Channel, Envelope, KindDetail};
use comms_testkit::sendgrid_events::WebhookSigner;
use reqwest::StatusCode;

use crate::email_helpers::*;
use crate::helpers::error_of;

const MIB: usize = 1024 * 1024;

#[tokio::test]
async fn a_signed_mail_is_enqueued_with_its_threading_headers_and_stripped_text() {
    let app = email_app(MIB).await;
    let resp =
        app.post_mail("/email/inbound", &sample("gmail-reply"), Some(&WebhookSigner::test_key())).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let got = app.stores.queues.receive(Channel::Email, 10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(got.len(), 1);
    let env = Envelope::parse(&got[0].body).unwrap();
    assert_eq!(env.id, "CAK8pQ2v7Jq1Zr9xY0=m4N+example@mail.gmail.com");
    assert_eq!((env.tenant.clone(), env.channel), (app.tenant.tenant.clone(), Channel::Email));
    assert_eq!((env.from.as_str(), env.to.as_str()), (CUSTOMER_EMAIL, SHOP_EMAIL));
    assert_eq!(
        env.body,
        "Hi, Thursday at 3pm works for me. Do I need to bring the charger as well?\n\nThanks,\nJane"
    );
    let KindDetail::Inbound { email: Some(meta), .. } = &env.detail else { panic!("{:?}", env.detail) };
    assert_eq!(meta.subject, "Re: Your screen repair");
    assert_eq!(meta.message_id, env.id);
    assert_eq!(meta.in_reply_to.as_deref(), Some("20261201100200.a1b2@shop.example.com"));
    assert_eq!(meta.references, ["CAL7vhm1x0@mail.example.com", "20261201100200.a1b2@shop.example.com"]);
    assert!(meta.raw_text.contains("> Hello Jane, your part has arrived."), "{}", meta.raw_text);
    assert_eq!(got[0].attributes["kind"], "inbound");
    assert_eq!(got[0].attributes["channel"], "email");
}

#[tokio::test]
async fn the_same_message_id_twice_is_one_envelope() {
    let app = email_app(MIB).await;
    let signer = WebhookSigner::test_key();
    for _ in 0..2 {
        let resp = app.post_mail("/email/inbound", &sample("outlook-reply"), Some(&signer)).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    }
    assert_eq!(app.email_depth().await, 1);
}

#[tokio::test]
async fn unsigned_forged_or_tampered_mail_is_403_and_nothing_is_queued() {
    let app = email_app(MIB).await;
    let raw = sample("gmail-reply");
    let resp = app.post_mail("/email/inbound", &raw, None).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_of(resp).await.0, "missing_signature");
    let resp = app.post_mail("/email/inbound", &raw, Some(&WebhookSigner::forger())).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_of(resp).await.0, "invalid_signature");
    // Signed, then one byte changed on the way.
    let body = form(&raw);
    let headers = WebhookSigner::test_key().headers(&body);
    let mut tampered = body.clone();
    let at = tampered.iter().position(|&b| b == b'T').unwrap();
    tampered[at] = b't';
    let mut request = app.client.post(format!("{}/email/inbound", app.base_url));
    request = request.header("content-type", FORM_TYPE);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let resp = request.body(tampered).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // A capture replayed outside the window.
    let old = (jiff::Timestamp::now().as_second() - 3600).to_string();
    let signature = WebhookSigner::test_key().sign(&old, &body);
    let resp = app
        .client
        .post(format!("{}/email/inbound", app.base_url))
        .header("content-type", FORM_TYPE)
        .header("X-Twilio-Email-Event-Webhook-Signature", signature)
        .header("X-Twilio-Email-Event-Webhook-Timestamp", old)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.email_depth().await, 0);
}

#[tokio::test]
async fn the_path_secret_admits_mail_and_a_wrong_one_does_not() {
    let app = email_app(MIB).await;
    let raw = sample("apple-mail-reply");
    let resp = app.post_mail("/email/inbound/not-the-secret-000000", &raw, None).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // The tenant trusts an inbound key: the secret URL alone is not enough.
    let path = format!("/email/inbound/{PATH_SECRET}");
    let resp = app.post_mail(&path, &raw, None).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.email_depth().await, 0);
    let resp = app.post_mail(&path, &raw, Some(&WebhookSigner::test_key())).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    // Without an inbound key, the secret URL is the credential.
    app.trust_keys(false).await;
    let resp = app.post_mail(&path, &sample("outlook-html-only"), None).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.email_depth().await, 2);
}

#[tokio::test]
async fn an_oversized_mail_is_413_and_nothing_is_queued() {
    let app = email_app(64 * 1024).await;
    let mut raw = sample("gmail-reply");
    raw.extend(std::iter::repeat_n(b'x', 70 * 1024));
    let resp = app.post_mail("/email/inbound", &raw, Some(&WebhookSigner::test_key())).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_of(resp).await.0, "payload_too_large");
    assert_eq!(app.email_depth().await, 0);
}

#[tokio::test]
async fn unreadable_or_unaddressed_mail_is_a_4xx_naming_the_problem() {
    let app = email_app(MIB).await;
    let signer = WebhookSigner::test_key();
    let resp = app.post_signed("/email/inbound", "application/json", b"{}".to_vec(), Some(&signer)).await;
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let no_email = comms_core::sendgrid::inbound_form::encode("B", &[("to", SHOP_EMAIL.as_bytes())]);
    let resp =
        app.post_signed("/email/inbound", "multipart/form-data; boundary=B", no_email, Some(&signer)).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_of(resp).await, ("invalid_field".into(), Some("email".into())));
    let stranger = String::from_utf8(sample("gmail-reply")).unwrap();
    let body = comms_core::sendgrid::inbound_form::encode(
        "B",
        &[("envelope", br#"{"to":["nobody@elsewhere.example"]}"#), ("email", stranger.as_bytes())],
    );
    let resp =
        app.post_signed("/email/inbound", "multipart/form-data; boundary=B", body, Some(&signer)).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_of(resp).await.0, "unknown_address");
    assert_eq!(app.email_depth().await, 0);
}

#[tokio::test]
async fn a_reply_saying_unsubscribe_opts_out_and_is_not_queued() {
    let app = email_app(MIB).await;
    let raw = format!(
        "From: {CUSTOMER_EMAIL}\r\nTo: {SHOP_EMAIL}\r\nSubject: Re: hi\r\nMessage-ID: <u1@gmail.com>\r\n\r\nUnsubscribe\r\n\r\nOn Mon, 1 Dec 2026 at 10:02, Shop <{SHOP_EMAIL}> wrote:\r\n> hi\r\n"
    );
    let resp = app.post_mail("/email/inbound", raw.as_bytes(), Some(&WebhookSigner::test_key())).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(app.opted_out(CUSTOMER_EMAIL).await);
    assert_eq!(app.email_depth().await, 0);
}
