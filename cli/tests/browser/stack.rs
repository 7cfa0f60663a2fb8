//! What the browser test runs against: `comms serve` on a temporary data folder with the
//! model stand-in ([`super::model`]) and the Twilio stub (`comms_testkit`), so the real
//! OpenAI and Twilio clients run, and the demo tenant's credentials read back from it.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use comms_testkit::TwilioStub;
use serde_json::Value;

use crate::common::{self, BIN, Server};
use crate::model::ModelStandIn;

/// The demo tenant's SMS number, and its company and project ids.
pub const SHOP: &str = "+15555550100";
pub const COMPANY: &str = "demo";
pub const PROJECT: &str = "repair-shop";
/// Where the owner is texted when the assistant hands a conversation over.
pub const OWNER_PHONE: &str = "+14155550100";
const TWILIO_SECRET: &str = "twilio-credentials/demo/repair-shop/twilio";
const ADMIN_KEY_SECRET: &str = "local-demo/admin-key";

/// The server under test and its stand-ins; everything stops when dropped.
pub struct Stack {
    pub model: ModelStandIn,
    pub twilio: TwilioStub,
    pub server: Server,
    /// A key of the operator (who sees every tenant and the dead letters).
    pub operator_key: String,
    twilio_token: String,
    dir: tempfile::TempDir,
}

impl Stack {
    /// Seeds the demo tenant (a first `comms serve`), lets it hand conversations to the
    /// owner at [`OWNER_PHONE`] (`request_human`), and serves it with an operator key.
    pub async fn start() -> Stack {
        let model = ModelStandIn::start().await;
        let twilio = TwilioStub::start().await;
        let dir = tempfile::tempdir().unwrap();
        let comms = |args: &[&str]| run(dir.path(), &model, &twilio, args);
        serve(dir.path(), &model, &twilio).terminate();
        let mut tenant: Value =
            serde_json::from_slice(&comms(&["tenant", "show", COMPANY, PROJECT, "--json"]).stdout).unwrap();
        tenant["ai"]["enabled_tools"].as_array_mut().unwrap().push("request_human".into());
        tenant["handoff"] = serde_json::json!({"notify_number": OWNER_PHONE, "takeover_hours": 24});
        let file = dir.path().join("tenant.json");
        std::fs::write(&file, tenant.to_string()).unwrap();
        comms(&["tenant", "put", file.to_str().unwrap()]);
        let operator_key = stdout_line(&comms(&["operator-key", "create", "--id", "ops"]));
        let creds: Value = serde_json::from_slice(&comms(&["secrets", "get", TWILIO_SECRET]).stdout).unwrap();
        let twilio_token = creds["auth_token"].as_str().unwrap().to_owned();
        let server = serve(dir.path(), &model, &twilio);
        Stack { model, twilio, server, operator_key, twilio_token, dir }
    }

    /// Runs one `comms` command on the server's data folder; asserts it succeeds.
    pub fn comms(&self, args: &[&str]) -> Output {
        run(self.dir.path(), &self.model, &self.twilio, args)
    }

    /// The rest of the first line `comms serve` printed that starts with `prefix`.
    pub async fn printed(&self, prefix: &str) -> String {
        let line = || {
            let lines = self.server.lines.lock().unwrap();
            lines.iter().find_map(|l| l.strip_prefix(prefix).map(str::to_owned))
        };
        let what = format!("a line {prefix:?} from comms serve");
        common::wait_for(&what, Duration::from_secs(10), Duration::from_millis(50), || line().is_some())
            .await;
        line().unwrap()
    }

    /// The demo tenant's admin key, from the sign-in line `comms serve` prints (checked
    /// against the local secret it comes from).
    pub async fn printed_admin_key(&self) -> String {
        let line = self.printed("console sign-in: ").await;
        let expected = format!("company_id {COMPANY} project_id {PROJECT} admin key ");
        let key = line.strip_prefix(&expected).unwrap_or_else(|| panic!("sign-in line: {line:?}"));
        assert_eq!(key, stdout_line(&self.comms(&["secrets", "get", ADMIN_KEY_SECRET])));
        key.to_owned()
    }

    /// The SMS dead letters (`comms dlq list`).
    pub fn dead_letters(&self) -> Vec<Value> {
        serde_json::from_slice(&self.comms(&["dlq", "list", "--channel", "sms", "--json"]).stdout).unwrap()
    }

    /// `customer` texts the shop: a webhook signed as Twilio signs it.
    pub async fn text(&self, customer: &str, sid: &str, body: &str) {
        common::post_sms_to(&self.server.base_url, &self.twilio_token, customer, SHOP, sid, body).await
    }

    /// The texts Twilio was asked to send to `customer`, oldest first.
    pub fn sent_to(&self, customer: &str) -> Vec<String> {
        let to = |m: &Value| m["to"].as_str() == Some(customer);
        self.twilio
            .created()
            .iter()
            .filter(|m| to(m))
            .map(|m| m["body"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Waits for text number `n` (from 1) to `customer` at the Twilio stub; returns it.
    pub async fn wait_sent(&self, customer: &str, n: usize) -> String {
        let what = format!("text {n} to the customer at the Twilio stub");
        common::wait_for(&what, Duration::from_secs(60), Duration::from_millis(50), || {
            self.sent_to(customer).len() >= n
        })
        .await;
        self.sent_to(customer)[n - 1].clone()
    }
}

/// Starts `comms serve` on `dir`; a failing record comes back after 3 s and its third
/// receive moves it to the DLQ (quick dead-lettering).
fn serve(dir: &Path, model: &ModelStandIn, twilio: &TwilioStub) -> Server {
    let mut cmd = command(dir, model, twilio);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--max-receive-count", "2"]);
    Server::start(&mut cmd, false)
}

fn run(dir: &Path, model: &ModelStandIn, twilio: &TwilioStub, args: &[&str]) -> Output {
    let out = command(dir, model, twilio).args(args).output().unwrap();
    assert!(out.status.success(), "comms {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn stdout_line(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap().trim().to_owned()
}

fn command(dir: &Path, model: &ModelStandIn, twilio: &TwilioStub) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--data-dir")
        .arg(dir)
        .env("OPENAI_API_KEY", "sk-test")
        .env("OPENAI_BASE_URL", &model.base_url)
        .env("TWILIO_API_BASE", &twilio.base_url)
        .env("COMMS_VISIBILITY_SECS", "3")
        .env("COMMS_RETRY_BUDGET_SECS", "1")
        .env("COMMS_METRICS_INTERVAL_SECS", "0")
        .env_remove("COMMS_BACKEND")
        .env_remove("COMMS_PUBLIC_BASE_URL")
        .env_remove("COMMS_LISTEN")
        .env_remove("OPENAI_MODEL")
        .env_remove("TWILIO_AUTH_TOKEN");
    c
}
