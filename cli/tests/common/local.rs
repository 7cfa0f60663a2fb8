//! `comms` on the embedded backend in a temporary data folder, with no model key and no
//! Twilio (the offline rules model and the local outbox).

use std::path::Path;
use std::process::{Command, Output};

use super::{BIN, Server};

pub const SHOP: &str = "+15555550100";
pub const CUSTOMER: &str = "+14155550123";
pub const SAMPLE_TENANT: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/tenants/demo-repair-shop.json");
/// The address the demo tenant of [`email_tenant_file`] receives email at.
pub const SHOP_EMAIL: &str = "help@repair-shop.example";

/// The demo tenant with an email section, written to `dir/tenant.json` for `tenant put`.
pub fn email_tenant_file(dir: &Path) -> std::path::PathBuf {
    let mut tenant: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(SAMPLE_TENANT).unwrap()).unwrap();
    tenant["email"] = serde_json::json!({"addresses": [SHOP_EMAIL], "from_name": "Demo Repairs"});
    let file = dir.join("tenant.json");
    std::fs::write(&file, tenant.to_string()).unwrap();
    file
}

/// Runs one `comms` command on `data_dir`.
pub fn comms(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("TWILIO_AUTH_TOKEN")
        .env_remove("COMMS_PUBLIC_BASE_URL")
        .output()
        .unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Starts `comms serve` (router and workers) on a free port.
pub fn serve(data_dir: &Path) -> Server {
    serve_with(data_dir, &[])
}

/// Starts `comms serve` with extra flags and waits for its "listening on" line.
pub fn serve_with(data_dir: &Path, extra: &[&str]) -> Server {
    let mut cmd = Command::new(BIN);
    cmd.arg("--data-dir")
        .arg(data_dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .env_remove("OPENAI_API_KEY")
        .env_remove("TWILIO_API_BASE")
        .env_remove("COMMS_PUBLIC_BASE_URL")
        .env_remove("COMMS_LISTEN");
    Server::start(&mut cmd, false)
}

pub fn send_sms(data_dir: &Path, server: &Server, body: &str, extra: &[&str]) -> Output {
    let url = format!("{}/twilio/sms", server.base_url);
    let mut args = vec!["webhook", "sms", "--url", &url, "--from", CUSTOMER, "--to", SHOP, "--body", body];
    args.extend_from_slice(extra);
    comms(data_dir, &args)
}

pub fn sms_stats(data_dir: &Path) -> serde_json::Value {
    let out = comms(data_dir, &["queue", "stats", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    rows.into_iter().find(|r| r["channel"] == "sms").unwrap()
}

/// Polls `check` every 100 ms for up to 10 s.
pub fn wait_until(mut check: impl FnMut() -> bool) -> bool {
    for _ in 0..100 {
        if check() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}
