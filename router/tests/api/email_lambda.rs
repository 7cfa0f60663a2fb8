//! `POST /email/inbound` through the router Lambda: API Gateway passes a
//! `multipart/form-data` body (a binary media type in infra/template.yaml) base64-encoded
//! (`isBase64Encoded: true`), so a raw MIME message's 8-bit bytes arrive intact.

use std::time::Duration;

use base64::Engine as _;
use comms_core::domain::{Channel, Envelope, KindDetail};
use comms_router::{app, lambda};
use comms_testkit::sendgrid_events::WebhookSigner;

use crate::email_helpers::*;

const SAMPLE: &str = include_str!("../../../samples/events/apigw-rest-twilio-sms.json");
const PUBLIC_BASE_URL: &str = "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod";

/// A mail in ISO-8859-1 sent as 8-bit: bytes that are not UTF-8, which API Gateway would
/// mangle as a text body.
fn latin1_mail() -> Vec<u8> {
    let mut raw = format!(
        "From: Jane Doe <{CUSTOMER_EMAIL}>\r\nTo: {SHOP_EMAIL}\r\nSubject: Screen\r\n\
         Message-ID: <latin1-0001@mail.example.com>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    )
    .into_bytes();
    raw.extend_from_slice(b"Is the caf\xe9 next door your shop? My screen is cracked.\r\n");
    raw
}

/// The sample API Gateway event turned into Inbound Parse's signed post of `raw`, its body
/// base64-encoded as API Gateway sends a binary media type.
fn inbound_event(raw: &[u8]) -> serde_json::Value {
    let body = form(raw);
    let mut event: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
    let mut headers = serde_json::json!({
        "Content-Type": FORM_TYPE,
        "Host": "abc123defg.execute-api.us-east-1.amazonaws.com",
        "User-Agent": "Sendlib/1.0 sendgrid.net",
        "X-Forwarded-For": "167.89.118.1",
    });
    for (name, value) in WebhookSigner::test_key().headers(&body) {
        headers[name.to_string()] = value.into();
    }
    let multi: serde_json::Map<String, serde_json::Value> =
        headers.as_object().unwrap().iter().map(|(k, v)| (k.clone(), serde_json::json!([v]))).collect();
    event["headers"] = headers;
    event["multiValueHeaders"] = multi.into();
    for (key, value) in [("resource", "/email/inbound"), ("path", "/email/inbound")] {
        event[key] = value.into();
    }
    event["requestContext"]["resourcePath"] = "/email/inbound".into();
    event["requestContext"]["path"] = "/prod/email/inbound".into();
    event["isBase64Encoded"] = true.into();
    event["body"] = base64::engine::general_purpose::STANDARD.encode(&body).into();
    event
}

#[tokio::test]
async fn a_base64_encoded_inbound_mail_event_is_decoded_verified_and_queued_intact() {
    let dir = tempfile::tempdir().unwrap();
    let (state, stores, tenant) = email_state(&dir, PUBLIC_BASE_URL, 1024 * 1024).await;
    let event = inbound_event(&latin1_mail());
    let req = lambda_http::request::from_str(&event.to_string()).unwrap();
    let resp = lambda::handle(app(state), req, false).await;
    let status = resp.status().as_u16();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    assert_eq!(status, 204, "{}", String::from_utf8_lossy(&body));

    let got = stores.queues.receive(Channel::Email, 10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(got.len(), 1);
    let env = Envelope::parse(&got[0].body).unwrap();
    assert_eq!(env.tenant, tenant.tenant);
    assert_eq!(env.id, "latin1-0001@mail.example.com");
    assert_eq!(env.body, "Is the café next door your shop? My screen is cracked.");
    let KindDetail::Inbound { email: Some(meta), .. } = &env.detail else { panic!("{:?}", env.detail) };
    assert_eq!(meta.subject, "Screen");
}

#[tokio::test]
async fn a_base64_event_whose_signature_does_not_match_its_decoded_body_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (state, stores, _) = email_state(&dir, PUBLIC_BASE_URL, 1024 * 1024).await;
    let mut event = inbound_event(&latin1_mail());
    // Signed over the mail, delivered with one byte changed.
    let mut tampered = form(&latin1_mail());
    let at = tampered.iter().rposition(|&b| b == 0xe9).unwrap();
    tampered[at] = b'e';
    event["body"] = base64::engine::general_purpose::STANDARD.encode(&tampered).into();
    let req = lambda_http::request::from_str(&event.to_string()).unwrap();
    let resp = lambda::handle(app(state), req, false).await;
    assert_eq!(resp.status().as_u16(), 403);
    let s = stores.dead_letters.stats(Channel::Email).await.unwrap();
    assert_eq!(s.depth + s.in_flight, 0, "nothing queued");
}
