//! What a processor emits about its turns: CloudWatch embedded-metric-format lines (read
//! back as JSON, as CloudWatch Logs does) and log lines carrying the router's trace id.

use std::collections::BTreeMap;
use std::time::Duration;

use comms_core::domain::Channel;
use comms_core::ports::{OutgoingMessage, Queues};
use comms_telemetry::LogFormat;
use comms_telemetry::emf::Emf;
use comms_testkit::logs::LogCapture;
use serde_json::Value;

use crate::helpers::*;
use crate::stubs::{ModelStep, OpenAiStub};

/// A metric's dimensions (name → value) and its value (or values).
type Datum = (BTreeMap<String, String>, Value);

/// Every metric of the EMF documents in `out`, by name.
fn emf_metrics(out: &str) -> BTreeMap<String, Vec<Datum>> {
    let mut found: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for line in out.lines() {
        let doc: Value = serde_json::from_str(line).unwrap();
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Comms", "{line}");
        assert!(doc["_aws"]["Timestamp"].is_u64(), "{line}");
        let names: Vec<String> = directive["Dimensions"][0]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().into())
            .collect();
        let dims: BTreeMap<String, String> =
            names.iter().map(|n| (n.clone(), doc[n].as_str().unwrap().to_owned())).collect();
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            found.entry(name.into()).or_default().push((dims.clone(), doc[name].clone()));
        }
    }
    found
}

#[tokio::test]
async fn a_turn_emits_emf_metrics_and_logs_the_routers_trace_id() {
    // The process's one recorder (no other test of this binary installs one).
    let emf = Emf::install("test-stack", "sms-processor").unwrap();
    let capture = LogCapture::default();
    let logs = comms_telemetry::subscriber(LogFormat::Json, {
        let w = capture.clone();
        move || w.clone()
    });
    let _logs = tracing::subscriber::set_default(logs);

    let h = harness(OpenAiStub::start(vec![ModelStep::Text("We open at nine.")]).await).await;
    let env = envelope("SM00000000000000000000000000000071", "When do you open?");
    let message = OutgoingMessage { body: env.to_json(), attributes: env.attributes("trace-from-router-71") };
    h.queues.send(Channel::Sms, message).await.unwrap();
    let poison = OutgoingMessage { body: "not an envelope".into(), attributes: BTreeMap::new() };
    h.queues.send(Channel::Sms, poison).await.unwrap();
    h.drain(fast_worker(), Duration::from_secs(10)).await;
    assert_eq!(h.twilio.created().len(), 1);

    let mut out = Vec::new();
    emf.flush_to(&mut out).unwrap();
    let metrics = emf_metrics(&String::from_utf8(out).unwrap());
    let one = |name: &str, label: (&str, &str)| {
        let all = metrics.get(name).unwrap_or_else(|| panic!("no {name} in {metrics:#?}"));
        let (dims, value) =
            all.iter().find(|(d, _)| d.get(label.0).map(String::as_str) == Some(label.1)).unwrap();
        assert_eq!((dims["stack"].as_str(), dims["service"].as_str()), ("test-stack", "sms-processor"));
        value.clone()
    };
    assert_eq!(one("turns", ("outcome", "replied")), 1);
    // The stub counts tokens of what it got and said (about 4 bytes each).
    let usage = h.openai.usages()[0];
    assert!(usage.input_tokens > 100 && usage.output_tokens > 0, "{usage:?}");
    assert_eq!(one("model_tokens", ("kind", "prompt")), usage.input_tokens, "the stub's usage");
    assert_eq!(one("model_tokens", ("kind", "completion")), usage.output_tokens);
    assert_eq!(one("sms_segments", ("channel", "sms")), 1);
    assert_eq!(one("dead_letters", ("reason", "envelope")), 1, "the unreadable record");
    assert_eq!(one("turns", ("outcome", "failed")), 1);
    for (name, label) in [
        ("queue_wait_ms", ("channel", "sms")),
        ("model_latency_ms", ("outcome", "ok")),
        ("send_latency_ms", ("channel", "sms")),
    ] {
        let v = one(name, label);
        let values = v.as_array().cloned().unwrap_or_else(|| vec![v]);
        assert!(
            !values.is_empty() && values.iter().all(|x| x.as_f64().unwrap() >= 0.0),
            "{name}: {values:?}"
        );
    }

    // The turn's log lines carry the trace id the router put on the message.
    let finished = capture
        .json_lines()
        .into_iter()
        .find(|l| l["fields"]["message"] == "turn finished")
        .unwrap_or_else(|| panic!("no turn line: {}", capture.text()));
    assert_eq!(finished["span"]["name"], "turn", "{finished}");
    assert_eq!(finished["span"]["trace_id"], "trace-from-router-71", "{finished}");
}
