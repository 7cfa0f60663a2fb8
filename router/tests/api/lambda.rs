//! The router as the Lambda binary hosts it: API Gateway REST proxy events (kept in
//! `samples/events/`) through `lambda_http`, with the stage in the invoke URL.

use comms_core::domain::Channel;
use comms_core::ports::DeadLetters;
use comms_core::twilio::signature;
use comms_router::{app, lambda};

use crate::helpers::*;

const SAMPLE: &str = include_str!("../../../samples/events/apigw-rest-twilio-sms.json");
/// The invoke URL of the sample event's API and stage.
const PUBLIC_BASE_URL: &str = "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod";

type Answer = (u16, String, comms_sqlite::Db, tempfile::TempDir);

async fn answer(event: &serde_json::Value) -> Answer {
    answer_with_base(event, Some(PUBLIC_BASE_URL)).await
}

/// `configured`: COMMS_PUBLIC_BASE_URL; `None`: taken from the API Gateway context.
async fn answer_with_base(event: &serde_json::Value, configured: Option<&str>) -> Answer {
    let dir = tempfile::tempdir().unwrap();
    let (state, db, _) =
        test_state(&dir, configured.unwrap_or(""), comms_router::DEFAULT_MAX_BODY_BYTES).await;
    let req = lambda_http::request::from_str(&event.to_string()).unwrap();
    let resp = lambda::handle(app(state), req, configured.is_none()).await;
    let status = resp.status().as_u16();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap(), db, dir)
}

async fn sms_depth(db: &comms_sqlite::Db) -> u64 {
    let q = comms_sqlite::SqliteQueues::new(db.clone(), Default::default());
    q.stats(Channel::Sms).await.unwrap().depth
}

#[tokio::test]
async fn an_api_gateway_event_with_a_signed_twilio_webhook_is_queued_behind_the_stage() {
    let event: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
    // lambda_http puts the stage in front of the path; the router must still match.
    let req = lambda_http::request::from_str(SAMPLE).unwrap();
    assert_eq!(req.uri().path(), "/prod/twilio/sms");
    assert_eq!(lambda::strip_stage(req).uri().path(), "/twilio/sms");

    let (status, body, db, _dir) = answer(&event).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<Response"), "{body}");
    assert_eq!(sms_depth(&db).await, 1);
}

#[tokio::test]
async fn the_sample_signature_is_the_one_twilio_computes_for_the_invoke_url() {
    let event: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
    let params: Vec<(String, String)> =
        form_urlencoded::parse(event["body"].as_str().unwrap().as_bytes()).into_owned().collect();
    let url = format!("{PUBLIC_BASE_URL}/twilio/sms");
    assert_eq!(event["headers"]["X-Twilio-Signature"], signature::compute(AUTH_TOKEN, &url, &params));
}

#[tokio::test]
async fn a_tampered_api_gateway_event_is_refused_and_nothing_is_queued() {
    let mut event: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
    let body = event["body"].as_str().unwrap().replace("cracked", "broken");
    event["body"] = body.into();
    let (status, body, db, _dir) = answer(&event).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("invalid_signature"), "{body}");
    assert_eq!(sms_depth(&db).await, 0);
}

#[tokio::test]
async fn unknown_paths_behind_the_stage_get_the_json_404() {
    let mut event: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
    event["path"] = "/nope".into();
    event["requestContext"]["path"] = "/prod/nope".into();
    let (status, body, _, _dir) = answer(&event).await;
    assert_eq!(status, 404);
    assert!(body.contains("\"error\""), "{body}");
}

#[tokio::test]
async fn without_a_configured_url_the_signature_is_checked_against_api_gateways_domain_and_stage() {
    let event: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
    let req = lambda_http::request::from_str(SAMPLE).unwrap();
    assert_eq!(lambda::base_from_context(&req).as_deref(), Some(PUBLIC_BASE_URL));
    let (status, body, db, _dir) = answer_with_base(&event, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(sms_depth(&db).await, 1);

    // The Host header is the client's and is never used: a forged one changes nothing.
    let mut forged = event.clone();
    forged["headers"]["Host"] = "evil.example".into();
    forged["multiValueHeaders"]["Host"] = serde_json::json!(["evil.example"]);
    let (status, body, _, _dir) = answer_with_base(&forged, None).await;
    assert_eq!(status, 200, "{body}");
    // A configured (custom-domain) URL wins over the context: the sample, signed for the
    // invoke URL, does not verify against another domain.
    let (status, _, _, _dir) = answer_with_base(&event, Some("https://api.shop.example")).await;
    assert_eq!(status, 403);
}
