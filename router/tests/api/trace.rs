//! The trace id: one per request, on the request's span (named by its route), and on
//! the message it enqueues, where the processor picks it up.

use std::time::Duration;

use comms_core::domain::Channel;
use comms_core::ports::Queues;
use comms_telemetry::{LogFormat, subscriber};
use comms_testkit::logs::LogCapture;
use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn the_request_span_and_the_enqueued_message_share_one_trace_id() {
    let capture = LogCapture::default();
    let writer = capture.clone();
    let _default = tracing::subscriber::set_default(subscriber(LogFormat::Json, move || writer.clone()));
    let app = spawn_app().await;
    for _ in 0..2 {
        let resp = app.post_twilio("/twilio/sms", &sms_params("hello"), Some(AUTH_TOKEN)).await;
        assert_eq!(resp.status(), StatusCode::OK);
    }

    let queued = app.queues.receive(Channel::Sms, 10, Duration::from_secs(30)).await.unwrap();
    let lines = capture.json_lines();
    let enqueued: Vec<_> =
        lines.iter().filter(|l| l["fields"]["message"] == "inbound message enqueued").collect();
    assert_eq!(enqueued.len(), 2, "{}", capture.text());
    let mut ids = Vec::new();
    for line in enqueued {
        let request = &line["spans"][0];
        assert_eq!(
            (&request["name"], &request["route"]),
            (&"request".into(), &"/twilio/sms".into()),
            "{line}"
        );
        let trace_id = request["trace_id"].as_str().unwrap();
        assert_eq!(trace_id.len(), 36, "a UUID: {line}");
        assert_eq!(line["fields"]["trace_id"], trace_id, "{line}");
        let queue_id = line["fields"]["queue_message_id"].as_str().unwrap();
        let message = queued.iter().find(|m| m.message_id == queue_id).unwrap();
        assert_eq!(message.attributes["trace_id"], trace_id);
        ids.push(trace_id.to_owned());
    }
    assert_ne!(ids[0], ids[1], "one trace id per request");
}

#[tokio::test]
async fn an_unmatched_request_is_logged_without_a_route_pattern() {
    let capture = LogCapture::default();
    let writer = capture.clone();
    let _default = tracing::subscriber::set_default(subscriber(LogFormat::Json, move || writer.clone()));
    let app = spawn_app().await;
    let resp = app.post_twilio("/twilio/nope?tenant=x", &sms_params("hello"), Some(AUTH_TOKEN)).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let lines = capture.json_lines();
    let refused = lines.iter().find(|l| l["fields"]["message"] == "request refused").unwrap();
    assert_eq!(refused["span"]["route"], "(no route)", "{refused}");
    assert!(!capture.text().contains("tenant=x"), "no query string in the logs");
}
