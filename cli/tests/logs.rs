//! Issue 11, items 3 and 14, black-box: the real `comms serve` with JSON logs, the OpenAI
//! and Twilio stubs, and every channel and route driven once. No line the server writes
//! (stderr logs, stdout) holds a customer's number in any form, and nothing sent to the
//! model does either.
#![allow(clippy::unwrap_used)] // tests: a failed setup step should panic

use std::process::{Command, Output};
use std::time::Duration;

use comms_core::twilio::signature;
use comms_testkit::{ModelStep, OpenAiStub, TwilioStub};
use serde_json::{Value, json};

mod common;

use common::{BIN, Server};

const SHOP: &str = "+15555550100";
/// One customer per route, none of them the number in the server's "try it" hint.
const SMS_CUSTOMER: &str = "+14155550199";
const WHATSAPP_CUSTOMER: &str = "+447700900123";
const CALLER: &str = "+14155550177";
const INITIATE_CUSTOMER: &str = "+14155550166";
const WEB_FORM_CUSTOMER: &str = "+14155550155";
const CUSTOMERS: [&str; 5] = [SMS_CUSTOMER, WHATSAPP_CUSTOMER, CALLER, INITIATE_CUSTOMER, WEB_FORM_CUSTOMER];

/// A number as it could show up: E.164, digits only, national number (country code off).
fn forms(number: &str) -> Vec<String> {
    let digits = number.trim_start_matches('+');
    let national = digits.strip_prefix('1').unwrap_or(&digits[2..]);
    vec![number.to_owned(), digits.to_owned(), national.to_owned()]
}

struct Env {
    dir: tempfile::TempDir,
    openai: OpenAiStub,
    twilio: TwilioStub,
}

impl Env {
    fn command(&self) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--data-dir")
            .arg(self.dir.path())
            .env("OPENAI_API_KEY", "sk-test")
            .env("OPENAI_BASE_URL", &self.openai.base_url)
            .env("TWILIO_API_BASE", &self.twilio.base_url)
            .env("COMMS_LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .env("COMMS_RETRY_BUDGET_SECS", "1")
            .env_remove("COMMS_BACKEND")
            .env_remove("OPENAI_MODEL")
            .env_remove("COMMS_PUBLIC_BASE_URL")
            .env_remove("COMMS_LISTEN")
            .env_remove("TWILIO_AUTH_TOKEN");
        c
    }

    fn comms(&self, args: &[&str]) -> Output {
        let out = self.command().args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out
    }
}

fn serve(env: &Env) -> Server {
    Server::start(env.command().args(["serve", "--listen", "127.0.0.1:0"]), true)
}

async fn wait_for(what: &str, done: impl FnMut() -> bool) {
    common::wait_for(what, Duration::from_secs(20), Duration::from_millis(100), done).await
}

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// Posts a form signed with `token` for `url`, as Twilio would.
async fn twilio_post(url: &str, token: &str, form: &[(String, String)]) -> reqwest::StatusCode {
    reqwest::Client::new()
        .post(url)
        .header("x-twilio-signature", signature::compute(token, url, form))
        .form(form)
        .send()
        .await
        .unwrap()
        .status()
}

fn next_weekday() -> String {
    let tz = jiff::tz::TimeZone::get("America/New_York").unwrap();
    let mut d = jiff::Timestamp::now().to_zoned(tz).date();
    loop {
        d = d.tomorrow().unwrap();
        if d.weekday().to_monday_zero_offset() < 5 {
            return d.to_string();
        }
    }
}

fn secret(env: &Env, name: &str) -> String {
    String::from_utf8(env.comms(&["secrets", "get", name]).stdout).unwrap().trim().to_owned()
}

fn sms_webhook(env: &Env, server: &Server, from: &str, body: &str, extra: &[&str]) -> Output {
    let url = format!("{}/twilio/sms", server.base_url);
    let mut args = vec!["webhook", "sms", "--url", &url, "--from", from, "--to", SHOP, "--body", body];
    args.extend_from_slice(extra);
    env.command().args(&args).output().unwrap()
}

/// The demo tenant's Twilio credentials, API key and admin key.
struct Keys {
    token: String,
    account_sid: String,
    api_key: String,
    admin_key: String,
}

impl Keys {
    fn of(env: &Env) -> Self {
        let creds: Value =
            serde_json::from_str(&secret(env, "twilio-credentials/demo/repair-shop/twilio")).unwrap();
        Self {
            token: creds["auth_token"].as_str().unwrap().to_owned(),
            account_sid: creds["account_sid"].as_str().unwrap().to_owned(),
            api_key: secret(env, "local-demo/api-key"),
            admin_key: secret(env, "local-demo/admin-key"),
        }
    }
}

/// SMS in, a booking by the model, the reply out through Twilio, its status callback;
/// then WhatsApp in and its reply.
async fn texts(env: &Env, server: &Server, keys: &Keys) {
    let base = &server.base_url;
    assert!(sms_webhook(env, server, SMS_CUSTOMER, "Book me at 11:00 please", &[]).status.success());
    wait_for("the SMS reply", || env.twilio.created().len() == 1).await;
    let sid = env.twilio.created()[0]["sid"].as_str().unwrap().to_owned();
    let status = params(&[
        ("MessageSid", &sid),
        ("AccountSid", &keys.account_sid),
        ("From", SHOP),
        ("To", SMS_CUSTOMER),
        ("MessageStatus", "delivered"),
    ]);
    assert_eq!(twilio_post(&format!("{base}/twilio/status"), &keys.token, &status).await, 204);

    let whatsapp = params(&[
        ("MessageSid", "SM0000000000000000000000000000aaaa"),
        ("AccountSid", &keys.account_sid),
        ("From", &format!("whatsapp:{WHATSAPP_CUSTOMER}")),
        ("To", &format!("whatsapp:{SHOP}")),
        ("Body", "Are you open on Saturday?"),
        ("NumMedia", "0"),
    ]);
    assert_eq!(twilio_post(&format!("{base}/twilio/whatsapp"), &keys.token, &whatsapp).await, 200);
    wait_for("the WhatsApp reply", || env.twilio.created().len() == 2).await;
}

/// A call: greeting, what the caller said (queued, the call updated), a hold round.
async fn call(env: &Env, server: &Server, keys: &Keys) {
    let base = &server.base_url;
    let call = "CA0000000000000000000000000000bbbb";
    let call_params = params(&[
        ("CallSid", call),
        ("AccountSid", &keys.account_sid),
        ("From", CALLER),
        ("To", SHOP),
        ("CallStatus", "ringing"),
    ]);
    assert_eq!(twilio_post(&format!("{base}/twilio/voice"), &keys.token, &call_params).await, 200);
    let mut said = env.command();
    said.args(["webhook", "voice", "--base-url", base, "--from", CALLER, "--to", SHOP]);
    said.args(["--speech", "Do you fix batteries?", "--call-sid", call]);
    let said = said.output().unwrap();
    assert!(said.status.success(), "{}", String::from_utf8_lossy(&said.stderr));
    let wait = format!("{base}/twilio/voice/wait?turn=1&n=1");
    assert_eq!(twilio_post(&wait, &keys.token, &call_params).await, 200);
    wait_for("the call update", || env.twilio.call_updates().len() == 1).await;
}

/// A conversation the business starts; the owner's state, the web form's booking, leads
/// and availability.
async fn business_routes(env: &Env, server: &Server, keys: &Keys) {
    let (base, http) = (&server.base_url, reqwest::Client::new());
    let initiate = json!({
        "company_data": {"company_id": "demo", "project_id": "repair-shop"},
        "recipient_data": {"first_name": "Bo", "tel": INITIATE_CUSTOMER, "comms_consent": true},
        "project_data": {"reason": "repair ready"},
        "request_data": {"request_id": "8a6b9c2d-1e3f-4a5b-8c7d-9e0f1a2b3c4d", "channel_method": "sms",
                         "initial_request_timestamp": "2026-11-23T10:00:00Z"}});
    let resp =
        http.post(format!("{base}/initiate-conversation")).header("x-api-key", &keys.api_key).json(&initiate);
    assert_eq!(resp.send().await.unwrap().status(), 200);
    wait_for("the opening message", || env.twilio.created().len() == 3).await;

    let q = "company_id=demo&project_id=repair-shop";
    let admin = |r: reqwest::RequestBuilder| r.header("x-admin-key", &keys.admin_key);
    let put = admin(http.put(format!("{base}/admin/state?{q}")))
        .json(&json!({"mode": "GYM", "notes": "back at 7"}));
    assert_eq!(put.send().await.unwrap().status(), 200);
    assert_eq!(admin(http.get(format!("{base}/admin/state?{q}"))).send().await.unwrap().status(), 200);
    let booking = json!({"company_id": "demo", "project_id": "repair-shop", "date": "2099-01-05", "time": "10:00",
                         "customer_name": "Cy", "phone": WEB_FORM_CUSTOMER, "service": "battery"});
    let post = http.post(format!("{base}/bookings")).header("x-api-key", &keys.api_key).json(&booking);
    assert_eq!(post.send().await.unwrap().status(), 201);
    let leads = admin(http.get(format!("{base}/leads?{q}&date=2099-01-05")));
    assert_eq!(leads.send().await.unwrap().status(), 200);
    let slots = admin(http.get(format!("{base}/availability?{q}&date=2099-01-05")));
    assert_eq!(slots.send().await.unwrap().status(), 200);
}

/// No form of any customer's number in `lines` (the server's whole output, its JSON
/// logs among them) nor in what went to the model (item 14).
fn assert_no_customer_number(lines: &[String], model_requests: &[Value]) {
    let logs: Vec<&String> = lines.iter().filter(|l| l.starts_with('{')).collect();
    assert!(logs.iter().any(|l| l.contains("\"turn finished\"")), "JSON logs of the turns: {lines:#?}");
    assert!(logs.iter().any(|l| l.contains("\"inbound message enqueued\"")), "{lines:#?}");
    for line in &logs {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    }
    for customer in CUSTOMERS {
        for form in forms(customer) {
            let leaks: Vec<&String> = lines.iter().filter(|l| l.contains(&form)).collect();
            assert!(leaks.is_empty(), "{form} in the server's output: {leaks:#?}");
        }
    }
    assert!(model_requests.len() >= 4, "{model_requests:?}");
    for r in model_requests {
        let text = r.to_string();
        for customer in CUSTOMERS {
            for form in forms(customer) {
                assert!(!text.contains(&form), "{form} sent to the model: {text}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_customer_number_in_any_log_line_or_model_request() {
    let day = next_weekday();
    let openai = OpenAiStub::start(vec![
        ModelStep::ToolCall {
            name: "book_slot",
            arguments: json!({"date": day, "time": "11:00", "customer_name": "Ann", "service": "screen"}),
        },
        ModelStep::Text("Booked you in at 11:00."),
    ])
    .await;
    openai.always(ModelStep::Text("Happy to help."));
    let env = Env { dir: tempfile::tempdir().unwrap(), openai, twilio: TwilioStub::start().await };
    let server = serve(&env);
    let keys = Keys::of(&env);
    texts(&env, &server, &keys).await;
    call(&env, &server, &keys).await;
    business_routes(&env, &server, &keys).await;

    // Carrier keywords and a forged webhook.
    for keyword in ["STOP", "START"] {
        assert!(sms_webhook(&env, &server, SMS_CUSTOMER, keyword, &[]).status.success());
    }
    let forged = sms_webhook(&env, &server, SMS_CUSTOMER, "hi", &["--auth-token", "wrong-token"]);
    assert!(!forged.status.success(), "a bad signature is refused");

    // The operator's own view may show the number; it is not a log.
    let shown = env.comms(&["conversation", "show", "demo.repair-shop.tel.14155550199"]);
    assert!(!shown.stdout.is_empty());

    let booked = env.twilio.created();
    assert!(booked[0]["body"].as_str().unwrap().contains("11:00"), "{booked:?}");
    // Let the server finish and flush its lines.
    let lines = server.terminate();
    assert_no_customer_number(&lines, &env.openai.requests());
}
