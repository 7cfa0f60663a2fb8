//! Log integrity (issue 11, items 7 and 10): every line of a request carries that
//! request's span and no other, and free-text fields cannot smuggle control characters
//! (forged log lines) into storage, prompts or logs.

use std::sync::Arc;

use comms_core::domain::{Channel, Envelope};
use comms_core::ports::Queues;
use comms_telemetry::{LogFormat, subscriber};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::admin::ADMIN_KEY;
use comms_testkit::logs::LogCapture;

use crate::helpers::*;
use crate::initiate::{API_KEY, sample, with_tenant};

/// Sends 24 SMS webhooks at once; every fourth is a carrier keyword (consent recorded,
/// nothing queued). Returns the keywords' message SIDs.
async fn send_concurrent_webhooks(app: &Arc<TestApp>) -> Vec<String> {
    let mut tasks = tokio::task::JoinSet::new();
    let mut keyword_sids = Vec::new();
    for i in 0..24u32 {
        let sid = format!("SM{i:032x}");
        let body = if i % 4 == 3 { "START" } else { "hello" };
        if body == "START" {
            keyword_sids.push(sid.clone());
        }
        let mut params = sms_params(body);
        params[0].1 = sid;
        let app = Arc::clone(app);
        tasks.spawn(async move { app.post_twilio("/twilio/sms", &params, Some(AUTH_TOKEN)).await.status() });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::OK);
    }
    keyword_sids
}

/// The `webhook` span of a line written inside a webhook's work: the line's spans are
/// exactly its request's span (by route) and that one `webhook` span, nothing of another
/// request nested in.
fn own_webhook_span(line: &Value) -> &Value {
    let spans = line["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 2, "{line}");
    assert_eq!((&spans[0]["name"], &spans[0]["route"]), (&json!("request"), &json!("/twilio/sms")), "{line}");
    assert_eq!(spans[1]["name"], "webhook", "{line}");
    &spans[1]
}

/// Many webhooks at once on one thread (the current-thread runtime interleaves them at
/// every `.await`): each line must carry exactly its own `webhook` span.
#[tokio::test]
async fn concurrent_webhooks_keep_their_own_span() {
    let capture = LogCapture::default();
    let writer = capture.clone();
    let _default = tracing::subscriber::set_default(subscriber(LogFormat::Json, move || writer.clone()));
    let app = Arc::new(spawn_app().await);
    let keyword_sids = send_concurrent_webhooks(&app).await;

    // Which message each queue message id belongs to.
    let queued = app.queues.receive(Channel::Sms, 100, std::time::Duration::from_secs(30)).await.unwrap();
    assert_eq!(queued.len(), 18);
    let owner: std::collections::HashMap<String, String> =
        queued.iter().map(|m| (m.message_id.clone(), Envelope::parse(&m.body).unwrap().id)).collect();

    let lines = capture.json_lines();
    let (mut enqueued, mut keywords) = (0, 0);
    for line in &lines {
        let spans = line["spans"].as_array().cloned().unwrap_or_default();
        let webhooks: Vec<&Value> = spans.iter().filter(|s| s["name"] == "webhook").collect();
        assert!(webhooks.len() <= 1, "spans of several messages on one line: {line}");
        match line["fields"]["message"].as_str() {
            Some("inbound message enqueued") => {
                enqueued += 1;
                let queue_id = line["fields"]["queue_message_id"].as_str().unwrap();
                let sid = own_webhook_span(line)["message_sid"].as_str();
                assert_eq!(sid, owner.get(queue_id).map(String::as_str), "{line}");
            }
            Some("consent keyword recorded") => {
                keywords += 1;
                let sid = own_webhook_span(line)["message_sid"].as_str().unwrap();
                assert!(
                    keyword_sids.iter().any(|k| k == sid),
                    "a keyword line in another message's span: {line}"
                );
            }
            _ => {}
        }
    }
    assert_eq!((enqueued, keywords), (18, 6), "{lines:#?}");
}

async fn put_state(app: &TestApp, body: &Value) -> reqwest::Response {
    app.admin(reqwest::Method::PUT, "/admin/state", ADMIN_KEY).json(body).send().await.unwrap()
}

async fn assert_bad_field(resp: reqwest::Response, field: &str) {
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{field}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_field", "{body}");
    assert_eq!(body["error"]["field"], field, "{body}");
}

const CONTROL: [&str; 6] =
    ["GYM\n2026-01-01T00:00:00Z ERROR forged", "GYM\r", "GYM\u{0}", "GYM\tx", "GYM\u{1b}[2J", "GYM\u{2028}x"];

#[tokio::test]
async fn owner_state_text_fields_refuse_control_characters() {
    let app = spawn_app().await;
    with_tenant(&app, |_| {}).await;
    for bad in CONTROL {
        for field in ["mode", "location", "notes"] {
            let mut body = sample("admin-state-put.json");
            body[field] = bad.into();
            assert_bad_field(put_state(&app, &body).await, field).await;
        }
    }
    // Nothing was stored.
    let got: Value = app
        .admin(reqwest::Method::GET, "/admin/state", ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["default"], true, "{got}");
    assert_eq!(put_state(&app, &sample("admin-state-put.json")).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn api_text_fields_refuse_control_characters() {
    let app = spawn_app().await;
    with_tenant(&app, |_| {}).await;
    let initiate_fields: [(&[&str], &str); 5] = [
        (&["recipient_data", "first_name"], "recipient_data.first_name"),
        (&["recipient_data", "last_name"], "recipient_data.last_name"),
        (&["recipient_data", "email"], "recipient_data.email"),
        (&["project_data", "reason"], "project_data.reason"),
        (&["request_data", "channel_method"], "request_data.channel_method"),
    ];
    for (i, (path, field)) in initiate_fields.iter().enumerate() {
        let mut body = sample("initiate-conversation.json");
        body["request_data"]["request_id"] = format!("3f2b8c1e-6a4d-4c1b-9e2f-7d5a1b0c9e{i:02x}").into();
        body[path[0]][path[1]] = CONTROL[i % CONTROL.len()].into();
        let resp = app.post_json("/initiate-conversation", &body, Some(("x-api-key", API_KEY))).await;
        assert_bad_field(resp, field).await;
    }
    let mut body = sample("initiate-conversation.json");
    body["project_data"] = json!({"items": ["ok", "bad\nline"]});
    let resp = app.post_json("/initiate-conversation", &body, Some(("x-api-key", API_KEY))).await;
    assert_bad_field(resp, "project_data.items").await;
    assert_eq!(app.sms_depth().await, 0, "nothing queued");

    for (i, field) in ["customer_name", "service"].into_iter().enumerate() {
        let mut body = sample("booking.json");
        body[field] = CONTROL[i].into();
        let resp = app.post_json("/bookings", &body, Some(("x-api-key", API_KEY))).await;
        assert_bad_field(resp, field).await;
    }
}

/// Failures are logged once, by the trace middleware, with the route and the error code:
/// refusals of a key or signature at warn, other 4xx at info; no number in any line.
#[tokio::test]
async fn failed_requests_are_logged_once_with_route_and_code() {
    let capture = LogCapture::default();
    let writer = capture.clone();
    let _default = tracing::subscriber::set_default(subscriber(LogFormat::Json, move || writer.clone()));
    let app = spawn_app().await;
    let resp = app.post_twilio("/twilio/sms", &sms_params("hello"), Some("wrong")).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = app.client.get(format!("{}/no-such-route", app.base_url)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    let lines = capture.json_lines();
    let failures: Vec<&Value> = lines.iter().filter(|l| l["fields"]["code"].is_string()).collect();
    assert_eq!(failures.len(), 2, "{lines:#?}");
    let (refused, missing) = (failures[0], failures[1]);
    assert_eq!(
        (&refused["level"], &refused["fields"]["code"]),
        (&json!("WARN"), &json!("invalid_signature"))
    );
    assert_eq!(refused["spans"][0]["route"], "/twilio/sms", "{refused}");
    assert_eq!((&missing["level"], &missing["fields"]["code"]), (&json!("INFO"), &json!("not_found")));
    let text = serde_json::to_string(&lines).unwrap();
    assert!(!text.contains(&CUSTOMER[2..]), "a number in the logs: {text}");
}
