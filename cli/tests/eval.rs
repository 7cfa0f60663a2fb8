//! `comms eval` through the binary: the scripted stub passes every sample scenario, a
//! scenario with a violated expectation fails with why, the offline rules model is
//! reported as not an AI, and a "real" model is reached through `OPENAI_API_BASE`.
#![allow(clippy::unwrap_used)] // tests: a failed step should panic

use std::process::{Command, Output};

use comms_testkit::{ModelStep, OpenAiStub};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_comms");
const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/evals");
const FAILING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/evals-failing");

/// Runs `comms eval` with no model key in its environment (unless `env` sets one).
fn eval(args: &[&str], env: &[(&str, &str)]) -> Output {
    let data = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("eval").args(args).env("COMMS_DATA_DIR", data.path());
    for var in ["OPENAI_API_KEY", "OPENAI_API_BASE", "OPENAI_BASE_URL", "OPENAI_MODEL"] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied()).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_stub_passes_every_sample_scenario() {
    let out = eval(&["--model", "stub", "--json", "--dir", SAMPLES], &[]);
    assert!(out.status.success(), "stdout:\n{}\nstderr:\n{}", text(&out.stdout), text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["model"].as_str().unwrap().starts_with("stub"), "{}", report["model"]);
    let names: Vec<&str> =
        report["scenarios"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    for wanted in [
        "availability-question",
        "booking-flow",
        "gym-mode-scarcity",
        "owner-off",
        "owner-vacation",
        "discount-within-policy",
        "discount-above-policy",
        "injection-discount",
        "injection-other-booking",
        "stop-mid-conversation",
        "ask-for-human",
        "off-hours",
        "spanish",
    ] {
        assert!(names.contains(&wanted), "{wanted} missing from {names:?}");
    }
    let totals = &report["totals"];
    assert_eq!(totals["scenarios_passed"], totals["scenarios"], "{totals}");
    assert_eq!(totals["expectations_passed"], totals["expectations"], "{totals}");
    assert_eq!(report["failed"], serde_json::json!([]));
    // The stub reports usage as OpenAI does: tokens and a cost at the tenant model's price.
    let spend = &totals["spend"];
    assert!(
        spend["input_tokens"].as_u64().unwrap() > 0 && spend["output_tokens"].as_u64().unwrap() > 0,
        "{spend}"
    );
    assert!(spend["cost_usd"].as_f64().unwrap() > 0.0, "{spend}");
    assert_eq!(spend["unpriced_calls"], 0);
    // The booking really happened in the engine: the reply quotes the stored lead id.
    let booking =
        report["scenarios"].as_array().unwrap().iter().find(|s| s["name"] == "booking-flow").unwrap();
    let reply = booking["turns"][1]["reply"].as_str().unwrap();
    assert!(reply.contains("LEAD-2026"), "{reply}");
    assert_eq!(booking["turns"][1]["calls"][0]["result"]["booked"], true);
}

#[test]
fn a_violated_expectation_fails_the_run_and_says_why() {
    let out = eval(&["--model", "stub", "--dir", FAILING], &[]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains("3 expectation(s) failed in discount-overgranted, script-too-short"), "{stderr}");
    assert!(
        stdout.contains("FAIL    turn 1: does not call authorize_discount with percent > 15"),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"-> authorize_discount was called with {"percent":30,"reason":"asked"}"#),
        "{stdout}"
    );
    assert!(stdout.contains(r#"-> reply was "Done: 30% off is approved!""#), "{stdout}");
    assert!(stdout.contains("the engine asked 1 more time(s) than the script has steps"), "{stdout}");
    // Expectations that hold are still reported as passing.
    assert!(stdout.contains("pass    turn 1: reply fits 2 SMS segment(s)"), "{stdout}");

    let out = eval(&["--model", "stub", "--dir", FAILING, "--report-only", "--json"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["failed"], serde_json::json!(["discount-overgranted", "script-too-short"]));
    let one = eval(&["--model", "stub", "--dir", FAILING, "--scenario", "script-too-short"], &[]);
    assert!(
        text(&one.stderr).contains("1 expectation(s) failed in script-too-short"),
        "{}",
        text(&one.stderr)
    );
}

#[test]
fn the_offline_report_says_it_is_not_an_ai() {
    let out = eval(&["--model", "offline", "--report-only", "--dir", SAMPLES], &[]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let header = stdout.lines().next().unwrap();
    assert!(header.contains("offline rules model: NOT an AI"), "{header}");
    assert!(stdout.contains("TOTAL"), "{stdout}");
}

#[test]
fn bad_invocations_are_errors_that_say_what_to_do() {
    let out = eval(&["--model", "stub", "--dir", SAMPLES, "--scenario", "nope"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no scenario named 'nope'"), "{}", text(&out.stderr));
    let out = eval(&["--model", "gpt-4o-mini", "--dir", SAMPLES], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("needs OPENAI_API_KEY"), "{}", text(&out.stderr));
}

/// Runs `comms eval` (blocking) against the testkit's OpenAI stub as a "real" model.
async fn against(openai: &OpenAiStub, args: Vec<String>) -> Output {
    let base = openai.base_url.clone();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        eval(&args, &[("OPENAI_API_KEY", "sk-test"), ("OPENAI_API_BASE", base.as_str())])
    })
    .await
    .unwrap()
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_model_is_called_at_openai_api_base_and_priced() {
    let openai = OpenAiStub::start(Vec::new()).await;
    openai.always(ModelStep::Text("Sorry, I can't approve that. The most is 15% off."));
    let args = ["--model", "gpt-4.1-mini", "--dir", SAMPLES, "--scenario", "injection-discount", "--json"];
    let out = against(&openai, strings(&args)).await;
    assert!(out.status.success(), "stdout:\n{}\nstderr:\n{}", text(&out.stdout), text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let model = report["model"].as_str().unwrap();
    assert!(model.starts_with("gpt-4.1-mini at http://127.0.0.1:"), "{model}");
    let requests = openai.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["model"], "gpt-4.1-mini", "--model overrides the tenant's model");
    assert_eq!(openai.authorizations()[0], "Bearer sk-test");
    let usage = openai.usages()[0];
    let spend = &report["totals"]["spend"];
    assert_eq!(spend["input_tokens"], usage.input_tokens);
    assert_eq!(spend["output_tokens"], usage.output_tokens);
    // gpt-4.1-mini: $0.40 in, $1.60 out per million tokens (the built-in table).
    let micros = (usage.input_tokens * 400_000 + usage.output_tokens * 1_600_000 + 500_000) / 1_000_000;
    assert_eq!((spend["cost_usd"].as_f64().unwrap() * 1e6).round() as u64, micros, "{spend}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scenario_tenant_on_the_responses_api_is_run_through_it() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = serde_json::json!({
        "description": "a tenant on the Responses API",
        "now": "2026-11-23T15:00:00Z",
        "tenant": {"patch": {"ai": {"api": "responses"}}},
        "turns": [{"customer": "Hi there", "expect": {"reply_contains": ["hello"]}}]
    });
    std::fs::write(dir.path().join("responses.json"), scenario.to_string()).unwrap();
    let openai = OpenAiStub::start(Vec::new()).await;
    openai.always(ModelStep::Text("Hello! How can I help?"));
    let out =
        against(&openai, strings(&["--model", "gpt-4o-mini", "--dir", dir.path().to_str().unwrap()])).await;
    assert!(out.status.success(), "stdout:\n{}\nstderr:\n{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(openai.paths(), ["/v1/responses"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_model_sees_the_scenarios_clock_and_owner_state() {
    let openai = OpenAiStub::start(Vec::new()).await;
    openai.always(ModelStep::Text("We're closed now; we open tomorrow at 9:00."));
    let args = ["--model", "gpt-4o-mini", "--dir", SAMPLES, "--scenario", "off-hours", "--report-only"];
    let out = against(&openai, strings(&args)).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let system = system_text(&openai.requests()[0]);
    // 2026-11-24T03:30:00Z is Monday 22:30 in the demo shop's New York.
    assert!(system.contains("Today is 2026-11-23 (Monday), local time 22:30"), "{system}");

    let args =
        ["--model", "gpt-4o-mini", "--dir", SAMPLES, "--scenario", "gym-mode-scarcity", "--report-only"];
    assert!(against(&openai, strings(&args)).await.status.success());
    let system = system_text(&openai.requests()[1]);
    assert!(system.contains("Owner's current state: GYM"), "{system}");
    assert!(system.contains("local time 10:00"), "{system}");
}

/// The system messages of a Chat Completions request, joined (the static instructions
/// first, then the turn's context: date, time, owner state).
fn system_text(request: &serde_json::Value) -> String {
    let messages = request["messages"].as_array().cloned().unwrap_or_default();
    let system = messages.iter().filter(|m| m["role"] == "system");
    system.filter_map(|m| m["content"].as_str()).collect::<Vec<_>>().join("\n")
}
