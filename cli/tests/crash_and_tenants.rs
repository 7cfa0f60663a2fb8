//! Black-box tests of `comms serve` with the OpenAI and Twilio stubs: a `kill -9` at
//! several moments of a turn loses and repeats nothing, and ids chosen by callers or
//! providers (a `request_id`, a `MessageSid`) in one tenant never touch another tenant's
//! turns.
#![allow(clippy::unwrap_used)] // tests: a failed setup step should panic

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use comms_core::domain::tenant::hash_key;
use comms_core::ports::{Secret, SecretStore};
use comms_core::twilio::TwilioCredentials;
use comms_sqlite::{Db, SqliteSecrets};
use comms_testkit::moto::Moto;
use comms_testkit::{ModelStep, OpenAiStub, TwilioStub};

mod common;

use common::{BIN, Server};

const SHOP: &str = "+15555550100";
const OTHER_SHOP: &str = "+15555550199";
const DEMO_TWILIO: &str = "twilio-credentials/demo/repair-shop/twilio";
const OTHER_TWILIO: &str = "twilio-credentials/other/shop/twilio";
/// Visibility timeout and turn lease of the servers under test, in seconds.
const VISIBILITY_SECS: u64 = 4;

/// Environment of the AWS backend on moto (empty: the embedded backend).
type BackendEnv = Vec<(&'static str, String)>;

fn aws_env(moto: &Moto) -> BackendEnv {
    common::moto_env(moto)
}

fn command(dir: &Path, openai: &OpenAiStub, twilio: &TwilioStub, backend: &BackendEnv) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--data-dir")
        .arg(dir)
        .env("OPENAI_API_KEY", "sk-test")
        .env("OPENAI_BASE_URL", &openai.base_url)
        .env("TWILIO_API_BASE", &twilio.base_url)
        .env("COMMS_VISIBILITY_SECS", VISIBILITY_SECS.to_string())
        .env("COMMS_RETRY_BUDGET_SECS", "1")
        .env_remove("COMMS_BACKEND")
        .env_remove("COMMS_PUBLIC_BASE_URL")
        .env_remove("COMMS_LISTEN")
        .env_remove("OPENAI_MODEL")
        .env_remove("TWILIO_AUTH_TOKEN");
    c.envs(backend.iter().map(|(k, v)| (*k, v.as_str())));
    c
}

fn serve(dir: &Path, openai: &OpenAiStub, twilio: &TwilioStub, backend: &BackendEnv) -> Server {
    let mut cmd = command(dir, openai, twilio, backend);
    cmd.args(["serve", "--listen", "127.0.0.1:0"]);
    if !backend.is_empty() {
        cmd.arg("--create-resources");
    }
    Server::start(&mut cmd, false)
}

fn comms_json(
    dir: &Path,
    openai: &OpenAiStub,
    twilio: &TwilioStub,
    backend: &BackendEnv,
    args: &[&str],
) -> serde_json::Value {
    let out = command(dir, openai, twilio, backend).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn secrets(dir: &Path) -> SqliteSecrets {
    SqliteSecrets::new(Db::open(&dir.join("comms.db")).unwrap())
}

async fn auth_token(dir: &Path, name: &str) -> String {
    TwilioCredentials::load(&secrets(dir) as &dyn SecretStore, name)
        .await
        .unwrap()
        .auth_token
        .expose()
        .to_owned()
}

/// The tenant's Twilio auth token from the backend's secret store (`comms secrets get`).
fn backend_auth_token(dir: &Path, openai: &OpenAiStub, twilio: &TwilioStub, backend: &BackendEnv) -> String {
    let out = command(dir, openai, twilio, backend).args(["secrets", "get", DEMO_TWILIO]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let creds: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    creds["auth_token"].as_str().unwrap().to_owned()
}

/// Posts an inbound SMS webhook signed with `token`, as Twilio would.
async fn post_sms(server: &Server, token: &str, from: &str, to: &str, sid: &str, body: &str) {
    common::post_sms_to(&server.base_url, token, from, to, sid, body).await
}

async fn wait_for(what: &str, limit: Duration, done: impl FnMut() -> bool) {
    common::wait_for(what, limit, Duration::from_millis(50), done).await
}

/// Messages the Twilio stub holds, per recipient.
fn sent_per_recipient(twilio: &TwilioStub) -> BTreeMap<String, usize> {
    let mut per = BTreeMap::new();
    for m in twilio.created() {
        *per.entry(m["to"].as_str().unwrap().to_owned()).or_insert(0) += 1;
    }
    per
}

fn customer(i: usize) -> String {
    format!("+1415555{:04}", 100 + i)
}

/// The SMS queue and its DLQ are empty and nothing is dead-lettered.
fn assert_queues_empty(dir: &Path, openai: &OpenAiStub, twilio: &TwilioStub, backend: &BackendEnv) {
    let stats = comms_json(dir, openai, twilio, backend, &["queue", "stats", "--json"]);
    let sms = stats.as_array().unwrap().iter().find(|r| r["channel"] == "sms").unwrap().clone();
    let counts = (sms["depth"].as_u64(), sms["in_flight"].as_u64(), sms["dlq_depth"].as_u64());
    assert_eq!(counts, (Some(0), Some(0), Some(0)), "{stats}");
    let dead = comms_json(dir, openai, twilio, backend, &["dlq", "list", "--channel", "sms", "--json"]);
    assert_eq!(dead.as_array().map(Vec::len), Some(0), "{dead}");
}

/// 20 customers text a server whose model takes 2 s; the server is killed with SIGKILL
/// when `kill_now` says so and restarted on the same data folder: every customer is
/// answered exactly once and nothing ends in the DLQ.
async fn killed_mid_turn_answers_everyone_once(
    backend: BackendEnv,
    twilio_delay: Duration,
    kill_now: impl Fn(&OpenAiStub, &TwilioStub) -> bool,
) {
    const CUSTOMERS: usize = 20;
    let openai = OpenAiStub::start(vec![]).await;
    openai.always(ModelStep::Text("Yes, we can fix that today."));
    openai.delay(Duration::from_secs(2));
    let twilio = TwilioStub::start().await;
    twilio.delay(twilio_delay);
    let dir = tempfile::tempdir().unwrap();

    let server = serve(dir.path(), &openai, &twilio, &backend);
    let token = backend_auth_token(dir.path(), &openai, &twilio, &backend);
    // All at once: the worker takes each message as soon as it is queued, so the moment
    // to kill (e.g. "in the model call, nothing sent") starts with the first webhook, and
    // posting one after another could outlast it on a loaded machine.
    let mut posts = tokio::task::JoinSet::new();
    for i in 0..CUSTOMERS {
        let (base_url, token) = (server.base_url.clone(), token.clone());
        posts.spawn(async move {
            let sid = format!("SM{}", uuid::Uuid::new_v4().simple());
            common::post_sms_to(&base_url, &token, &customer(i), SHOP, &sid, "Can you fix a cracked screen?")
                .await;
        });
    }
    while let Some(posted) = posts.join_next().await {
        posted.unwrap();
    }
    wait_for("the moment to kill", Duration::from_secs(60), || kill_now(&openai, &twilio)).await;
    server.kill_9();

    let _again = serve(dir.path(), &openai, &twilio, &backend);
    let limit = Duration::from_secs(30 * VISIBILITY_SECS);
    wait_for("an answer to every customer", limit, || sent_per_recipient(&twilio).len() == CUSTOMERS).await;
    // Nothing waiting and nothing in flight: every record was deleted or dead-lettered.
    wait_for("the queue to settle", limit, || {
        let stats = comms_json(dir.path(), &openai, &twilio, &backend, &["queue", "stats", "--json"]);
        stats
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["channel"] == "sms" && r["depth"] == 0 && r["in_flight"] == 0)
    })
    .await;
    // Anything still in flight would show up within two visibility timeouts.
    tokio::time::sleep(Duration::from_secs(2 * VISIBILITY_SECS)).await;
    let per = sent_per_recipient(&twilio);
    assert_eq!(per.len(), CUSTOMERS, "{per:?}");
    assert!(per.values().all(|n| *n == 1), "a customer was answered twice: {per:?}");
    assert_queues_empty(dir.path(), &openai, &twilio, &backend);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_the_model_call_loses_nothing() {
    // The first records are in the model call (2 s), nothing sent yet.
    killed_mid_turn_answers_everyone_once(Vec::new(), Duration::ZERO, |openai, twilio| {
        !openai.requests().is_empty() && twilio.posts() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_on_the_aws_backend_loses_and_repeats_nothing() {
    // The same engine on SQS and DynamoDB (moto): killed during the model call.
    let Some(moto) = Moto::start().await else { return };
    killed_mid_turn_answers_everyone_once(aws_env(&moto), Duration::ZERO, |openai, twilio| {
        !openai.requests().is_empty() && twilio.posts() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_the_sends_loses_and_repeats_nothing() {
    killed_mid_turn_answers_everyone_once(Vec::new(), Duration::from_millis(200), |_, twilio| {
        twilio.created().len() >= 3
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_between_send_and_store_repeats_nothing() {
    // Twilio holds its answer: the message exists at Twilio, the server never learns it.
    killed_mid_turn_answers_everyone_once(Vec::new(), Duration::from_secs(3), |_, twilio| {
        !twilio.created().is_empty()
    })
    .await;
}

/// A second tenant, `other/shop`, on its own number, with its own Twilio credentials
/// and API key.
async fn put_other_tenant(dir: &Path, api_key: &str) -> String {
    let mut tenant: serde_json::Value =
        serde_json::from_str(include_str!("../../samples/tenants/demo-repair-shop.json")).unwrap();
    tenant["company_id"] = "other".into();
    tenant["project_id"] = "shop".into();
    tenant["company_name"] = "Other Repairs".into();
    tenant["numbers"] =
        serde_json::json!({"sms": [OTHER_SHOP], "voice": [OTHER_SHOP], "whatsapp": [OTHER_SHOP]});
    tenant["credentials"]["twilio"] = OTHER_TWILIO.into();
    tenant["api_keys"] = serde_json::json!([{"id": "other-backend", "sha256": hash_key(api_key)}]);
    let file = dir.join("other-tenant.json");
    std::fs::write(&file, tenant.to_string()).unwrap();
    let out =
        Command::new(BIN).arg("--data-dir").arg(dir).args(["tenant", "put"]).arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = uuid::Uuid::new_v4().simple().to_string();
    let creds = TwilioCredentials { account_sid: "ACother".into(), auth_token: Secret::new(token.clone()) };
    secrets(dir).put(OTHER_TWILIO, &creds.to_secret()).await.unwrap();
    token
}

async fn initiate(server: &Server, api_key: &str, tenant: (&str, &str), tel: &str, request_id: &str) {
    let body = serde_json::json!({
        "company_data": {"company_id": tenant.0, "project_id": tenant.1},
        "recipient_data": {"first_name": "Ann", "last_name": "Lee", "tel": tel, "comms_consent": true},
        "project_data": {"reason": "repair ready for pickup"},
        "request_data": {"request_id": request_id, "channel_method": "sms",
                         "initial_request_timestamp": "2026-11-23T10:00:00Z"}
    });
    let resp = reqwest::Client::new()
        .post(format!("{}/initiate-conversation", server.base_url))
        .header("x-api-key", api_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let answer: serde_json::Value = resp.json().await.unwrap();
    assert_eq!((status.as_u16(), &answer["status"]), (200, &serde_json::json!("success")), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_request_id_or_message_sid_in_two_tenants_answers_both() {
    let openai = OpenAiStub::start(vec![]).await;
    openai.always(ModelStep::Text("Hello from the shop."));
    let twilio = TwilioStub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let other_key = "other-api-key-0123456789";
    let other_token = put_other_tenant(dir.path(), other_key).await;
    let server = serve(dir.path(), &openai, &twilio, &Vec::new());
    let demo_key = secrets(dir.path()).get("local-demo/api-key").await.unwrap().expose().to_owned();
    let demo_token = auth_token(dir.path(), DEMO_TWILIO).await;

    // Tenant B initiates with request id R, then tenant A with the same R.
    let request_id = "7e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b";
    initiate(&server, other_key, ("other", "shop"), "+14155550201", request_id).await;
    wait_for("B's opening", Duration::from_secs(30), || twilio.created().len() == 1).await;
    initiate(&server, &demo_key, ("demo", "repair-shop"), "+14155550202", request_id).await;
    wait_for("A's opening", Duration::from_secs(30), || twilio.created().len() == 2).await;

    // One MessageSid reaching both tenants (from one customer, to each tenant's number).
    let sid = "SM0123456789abcdef0123456789abcdef";
    post_sms(&server, &other_token, "+14155550203", OTHER_SHOP, sid, "Are you open today?").await;
    wait_for("B's reply", Duration::from_secs(30), || twilio.created().len() == 3).await;
    post_sms(&server, &demo_token, "+14155550203", SHOP, sid, "Are you open today?").await;
    wait_for("A's reply", Duration::from_secs(30), || twilio.created().len() == 4).await;

    let pairs: Vec<(String, String)> = twilio
        .created()
        .iter()
        .map(|m| (m["from"].as_str().unwrap().to_owned(), m["to"].as_str().unwrap().to_owned()))
        .collect();
    let expected = [
        (OTHER_SHOP, "+14155550201"),
        (SHOP, "+14155550202"),
        (OTHER_SHOP, "+14155550203"),
        (SHOP, "+14155550203"),
    ];
    assert_eq!(pairs, expected.map(|(f, t)| (f.to_owned(), t.to_owned())));
    for conversation in [
        "other.shop.tel.14155550201",
        "demo.repair-shop.tel.14155550202",
        "other.shop.tel.14155550203",
        "demo.repair-shop.tel.14155550203",
    ] {
        let args = ["conversation", "show", conversation, "--json"];
        let shown = comms_json(dir.path(), &openai, &twilio, &Vec::new(), &args);
        let kinds: Vec<&str> =
            shown["items"].as_array().unwrap().iter().map(|i| i["type"].as_str().unwrap_or("")).collect();
        assert_eq!(kinds.last(), Some(&"reply"), "{conversation}: {shown}");
    }
}
