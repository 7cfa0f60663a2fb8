//! Issue 14, item 7, locally: `comms serve` logs a metrics summary line every interval
//! and at shutdown: turn counts by channel and outcome, latencies with p50/p99.
#![allow(clippy::unwrap_used)] // tests: a failed setup step should panic

use std::process::Command;
use std::time::Duration;

use comms_testkit::{ModelStep, OpenAiStub, TwilioStub};

mod common;

use common::{BIN, Server};

const SHOP: &str = "+15555550100";
const CUSTOMER: &str = "+14155550199";

fn summaries(lines: &[String]) -> Vec<String> {
    lines.iter().filter(|l| l.contains("metrics: ")).cloned().collect()
}

#[tokio::test]
async fn serve_logs_a_metrics_summary_after_a_turn_and_at_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let openai = OpenAiStub::start(vec![ModelStep::Text("We open at nine.")]).await;
    let twilio = TwilioStub::start().await;
    let command = |args: &[&str]| {
        let mut c = Command::new(BIN);
        c.arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .env("OPENAI_API_KEY", "sk-test")
            .env("OPENAI_BASE_URL", &openai.base_url)
            .env("TWILIO_API_BASE", &twilio.base_url)
            .env("COMMS_LOG_FORMAT", "text")
            .env("RUST_LOG", "info")
            .env("COMMS_METRICS_INTERVAL_SECS", "1")
            .env_remove("COMMS_BACKEND")
            .env_remove("OPENAI_MODEL")
            .env_remove("COMMS_PUBLIC_BASE_URL")
            .env_remove("COMMS_LISTEN");
        c
    };
    let server = Server::start(&mut command(&["serve", "--listen", "127.0.0.1:0"]), true);
    let url = format!("{}/twilio/sms", server.base_url);
    let args =
        ["webhook", "sms", "--url", &url, "--from", CUSTOMER, "--to", SHOP, "--body", "When do you open?"];
    let out = command(&args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let turn = "turns{channel=sms,outcome=replied}=1";
    let lines = std::sync::Arc::clone(&server.lines);
    common::wait_for(
        "a summary line after the turn",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || summaries(&lines.lock().unwrap()).iter().any(|l| l.contains(turn)),
    )
    .await;
    let after_turn = summaries(&lines.lock().unwrap()).into_iter().find(|l| l.contains(turn)).unwrap();
    for latency in [
        "queue_wait_ms{channel=sms} n=1 p50=",
        "model_latency_ms{outcome=ok} n=1 p50=",
        "send_latency_ms{channel=sms,outcome=ok} n=1 p50=",
    ] {
        assert!(after_turn.contains(latency), "{latency} in {after_turn}");
    }
    assert!(after_turn.contains("requests{route=/twilio/sms,status=2xx}=1"), "{after_turn}");
    assert!(after_turn.contains("sms_segments{channel=sms}=1"), "{after_turn}");
    assert!(!after_turn.contains(&CUSTOMER[2..]), "no phone number: {after_turn}");

    let all = server.terminate();
    let requested = all.iter().position(|l| l.contains("shutdown requested")).unwrap();
    let stopped = all.iter().position(|l| l.contains("comms serve: stopped")).unwrap();
    let last = summaries(&all[requested..stopped]).pop().expect("a summary line at shutdown");
    assert!(last.contains(turn), "totals at shutdown: {last}");
}
