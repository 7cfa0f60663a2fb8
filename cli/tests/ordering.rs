//! Black-box: two messages from one customer arriving together through `comms serve`
//! are answered in order, the second's model request holding the first and its reply.
#![allow(clippy::unwrap_used)] // tests: a failed setup step should panic

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use comms_testkit::{ModelStep, OpenAiStub, TwilioStub};

mod common;

use common::{BIN, Server};

const SHOP: &str = "+15555550100";
const CUSTOMER: &str = "+14155550177";

fn command(dir: &Path, openai: &OpenAiStub, twilio: &TwilioStub) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--data-dir")
        .arg(dir)
        .env("OPENAI_API_KEY", "sk-test")
        .env("OPENAI_BASE_URL", &openai.base_url)
        .env("TWILIO_API_BASE", &twilio.base_url)
        .env("COMMS_VISIBILITY_SECS", "4")
        .env("COMMS_RETRY_BUDGET_SECS", "1")
        .env_remove("COMMS_BACKEND")
        .env_remove("COMMS_PUBLIC_BASE_URL")
        .env_remove("COMMS_LISTEN")
        .env_remove("OPENAI_MODEL")
        .env_remove("TWILIO_AUTH_TOKEN");
    c
}

/// Posts an inbound SMS webhook from the customer, signed as Twilio would.
async fn post_sms(server: &Server, token: &str, sid: &str, body: &str) {
    common::post_sms_to(&server.base_url, token, CUSTOMER, SHOP, sid, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_messages_arriving_together_are_answered_in_order() {
    let openai =
        OpenAiStub::start(vec![ModelStep::Text("Yes, it is ready."), ModelStep::Text("It is 80 dollars.")])
            .await;
    openai.delay(Duration::from_millis(500));
    let twilio = TwilioStub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command(dir.path(), &openai, &twilio);
    cmd.args(["serve", "--listen", "127.0.0.1:0"]);
    let server = Server::start(&mut cmd, false);
    let out = command(dir.path(), &openai, &twilio)
        .args(["secrets", "get", "twilio-credentials/demo/repair-shop/twilio"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let creds: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let token = creds["auth_token"].as_str().unwrap().to_owned();

    post_sms(&server, &token, "SM000000000000000000000000000000e1", "Is my phone ready?").await;
    post_sms(&server, &token, "SM000000000000000000000000000000e2", "And how much is it?").await;
    common::wait_for("both replies", Duration::from_secs(30), Duration::from_millis(50), || {
        twilio.created().len() >= 2
    })
    .await;

    let sent: Vec<serde_json::Value> = twilio.created().iter().map(|m| m["body"].clone()).collect();
    assert_eq!(sent, ["Yes, it is ready.", "It is 80 dollars."]);
    let second = &openai.requests()[1]["messages"];
    let seen: Vec<(&str, &str)> = second
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] != "system")
        .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        seen,
        [("user", "Is my phone ready?"), ("assistant", "Yes, it is ready."), ("user", "And how much is it?")]
    );
}
