//! `comms usage` through the binary: a `comms serve` with OpenAI and Twilio stubs (the
//! stub reports each call's usage the way OpenAI does) answers a few texts, then the
//! report shows their turns, tokens, cost (by the data folder's price file) and SMS
//! segments, as a table and as JSON.
#![allow(clippy::unwrap_used)] // tests: a failed setup step should panic

use std::process::{Command, Output};
use std::time::Duration;

use comms_core::domain::Usd;
use comms_testkit::{ModelStep, OpenAiStub, TwilioStub};
use serde_json::json;

mod common;

use common::{BIN, Server};

const SHOP: &str = "+15555550100";
const CUSTOMER: &str = "+14155550123";

/// gpt-4o-mini at $1 per million input tokens ($0.50 cached) and $2 per million output
/// tokens: round numbers to check the report's cost against the stub's reported tokens.
const PRICES: &str =
    r#"{"gpt-4o-mini": {"input_per_mtok": 1, "cached_input_per_mtok": 0.5, "output_per_mtok": 2}}"#;

fn command(dir: &std::path::Path, openai: &OpenAiStub, twilio: &TwilioStub) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--data-dir")
        .arg(dir)
        .env("OPENAI_API_KEY", "sk-test")
        .env("OPENAI_BASE_URL", &openai.base_url)
        .env("TWILIO_API_BASE", &twilio.base_url)
        .env_remove("COMMS_BACKEND")
        .env_remove("COMMS_PRICES_FILE")
        .env_remove("OPENAI_MODEL")
        .env_remove("COMMS_PUBLIC_BASE_URL")
        .env_remove("COMMS_LISTEN");
    c
}

fn run(c: &mut Command, args: &[&str]) -> Output {
    c.args(args).output().unwrap()
}

/// The tokens the stub reported (input, cached, output) and their cost by [`PRICES`],
/// priced call by call as the engine does (rounded to the micro-dollar).
fn reported(openai: &OpenAiStub) -> (u64, u64, u64, Usd) {
    let (mut input, mut cached, mut output, mut micros) = (0, 0, 0, 0);
    for u in openai.usages() {
        (input, cached, output) =
            (input + u.input_tokens, cached + u.cached_tokens, output + u.output_tokens);
        let fresh = u.input_tokens - u.cached_tokens;
        micros += (fresh * 1_000_000 + u.cached_tokens * 500_000 + u.output_tokens * 2_000_000 + 500_000)
            / 1_000_000;
    }
    (input, cached, output, Usd::from_micros(micros))
}

#[tokio::test]
async fn usage_reports_the_turns_tokens_cost_and_segments_of_a_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("prices.json"), PRICES).unwrap();
    let openai = OpenAiStub::start(vec![]).await;
    openai.always(ModelStep::Text("Yes, we can fix that today."));
    let twilio = TwilioStub::start().await;
    let cmd = || command(dir.path(), &openai, &twilio);
    let server = Server::start(cmd().args(["serve", "--listen", "127.0.0.1:0"]), false);
    let url = format!("{}/twilio/sms", server.base_url);
    for body in ["Can you fix a screen?", "How much is it?", "Thanks!"] {
        let out = run(
            &mut cmd(),
            &["webhook", "sms", "--url", &url, "--from", CUSTOMER, "--to", SHOP, "--body", body],
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let usage = || {
        let out = run(&mut cmd(), &["usage", "--json"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    common::wait_for("three answered turns", Duration::from_secs(30), Duration::from_millis(200), || {
        usage()["total"]["turns"] == 3
    })
    .await;
    assert_eq!(twilio.created().len(), 3);

    let (input, cached, output, cost) = reported(&openai);
    let report = usage();
    let expected = json!({
        "turns": 3, "model_calls": 3, "input_tokens": input, "cached_input_tokens": cached, "output_tokens": output,
        "cost_usd": cost, "priced_cost_usd": cost, "unpriced_calls": 0, "messages": 3, "sms_segments": 3
    });
    assert_eq!(report["total"], expected, "{report}");
    assert_eq!(report["tenants"][0]["tenant"], "demo/repair-shop");
    assert_eq!(report["tenants"][0]["channels"]["sms"], expected);
    let month = jiff::Timestamp::now().strftime("%Y-%m").to_string();
    assert_eq!((&report["since"], &report["months"][0]["month"]), (&json!(month), &json!(month)));

    let table =
        run(&mut cmd(), &["usage", "--tenant", "demo/repair-shop", "--since", &format!("{month}-01")]);
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    let line = table.lines().find(|l| l.starts_with("demo/repair-shop")).unwrap_or_else(|| panic!("{table}"));
    let cells: Vec<&str> = line.split_whitespace().collect();
    let numbers = [input, cached, output].map(|n| n.to_string());
    let row =
        ["demo/repair-shop", "sms", "3", "3", &numbers[0], &numbers[1], &numbers[2], "3", &cost.to_string()];
    assert_eq!(cells, row, "{table}");

    let later = run(&mut cmd(), &["usage", "--since", "2999-01"]);
    assert!(String::from_utf8_lossy(&later.stdout).contains("no usage recorded"));
    let bad = run(&mut cmd(), &["usage", "--since", "last tuesday"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--since must be a date"));
}
