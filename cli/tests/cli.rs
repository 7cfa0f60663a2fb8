//! Black-box tests of the `comms` binary: a real `comms serve` on a free port and the
//! commands an operator runs next to it.
#![allow(clippy::unwrap_used)] // tests: a failed setup step should panic

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_comms");
const SHOP: &str = "+15555550100";
const CUSTOMER: &str = "+14155550123";

fn comms(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("TWILIO_AUTH_TOKEN")
        .env_remove("COMMS_PUBLIC_BASE_URL")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

struct Server {
    child: Child,
    base_url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `comms serve` (router and SMS worker) on a free port.
fn serve(data_dir: &Path) -> Server {
    serve_with(data_dir, &[])
}

/// Starts `comms serve` with extra flags and waits for its "listening on" line.
fn serve_with(data_dir: &Path, extra: &[&str]) -> Server {
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .env_remove("OPENAI_API_KEY")
        .env_remove("TWILIO_API_BASE")
        .env_remove("COMMS_PUBLIC_BASE_URL")
        .env_remove("COMMS_LISTEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base_url = loop {
        let line = lines.next().expect("serve exited before listening").unwrap();
        if let Some(url) = line.strip_prefix("listening on ") {
            break url.to_owned();
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, base_url }
}

fn send_sms(data_dir: &Path, server: &Server, body: &str, extra: &[&str]) -> Output {
    let url = format!("{}/twilio/sms", server.base_url);
    let mut args = vec!["webhook", "sms", "--url", &url, "--from", CUSTOMER, "--to", SHOP, "--body", body];
    args.extend_from_slice(extra);
    comms(data_dir, &args)
}

fn sms_stats(data_dir: &Path) -> serde_json::Value {
    let out = comms(data_dir, &["queue", "stats", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    rows.into_iter().find(|r| r["channel"] == "sms").unwrap()
}

#[test]
fn signed_webhook_is_queued_and_wrong_signature_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_with(dir.path(), &["--no-workers"]);

    let ok = send_sms(dir.path(), &server, "Can you fix a cracked screen today?", &[]);
    assert!(ok.status.success(), "{ok:?}");
    assert!(stdout(&ok).starts_with("200"), "{}", stdout(&ok));
    assert_eq!(sms_stats(dir.path())["depth"], 1);

    let bad = send_sms(dir.path(), &server, "hi", &["--auth-token", "not-the-token"]);
    assert!(!bad.status.success());
    assert!(stdout(&bad).starts_with("403"), "{}", stdout(&bad));
    assert_eq!(sms_stats(dir.path())["depth"], 1, "a refused webhook was enqueued");

    let table = stdout(&comms(dir.path(), &["queue", "stats"]));
    assert!(
        table.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["sms", "1", "0", "0"]),
        "{table}"
    );
}

#[test]
fn a_killed_server_loses_nothing_it_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = serve_with(dir.path(), &["--no-workers"]);
    for body in ["first", "second"] {
        assert!(send_sms(dir.path(), &server, body, &[]).status.success());
    }
    // SIGKILL: no shutdown code runs.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    assert_eq!(sms_stats(dir.path())["depth"], 2);

    let again = serve_with(dir.path(), &["--no-workers"]);
    assert!(send_sms(dir.path(), &again, "third", &[]).status.success());
    assert_eq!(sms_stats(dir.path())["depth"], 3);
}

#[test]
fn ctrl_c_shuts_down_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = serve(dir.path());
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let status = server.child.wait().unwrap();
    assert!(status.success(), "serve exited with {status:?} on SIGINT");
}

#[test]
fn tenant_put_and_show_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/tenants/demo-repair-shop.json");
    let put = comms(dir.path(), &["tenant", "put", sample]);
    assert!(put.status.success(), "{put:?}");

    let show = comms(dir.path(), &["tenant", "show", "demo", "repair-shop", "--json"]);
    assert!(show.status.success(), "{show:?}");
    let shown: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    let original: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sample).unwrap()).unwrap();
    assert_eq!(shown, original);

    let summary = stdout(&comms(dir.path(), &["tenant", "show", "demo", "repair-shop"]));
    assert!(summary.contains("demo/repair-shop"), "{summary}");

    let missing = comms(dir.path(), &["tenant", "show", "demo", "nope"]);
    assert!(!missing.status.success());
}

#[test]
fn tenant_put_reports_every_bad_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.json");
    std::fs::write(
        &file,
        r#"{"company_id": "Bad Id", "project_id": "p", "project_status": "running", "allowed_channels": ["fax"]}"#,
    )
    .unwrap();
    let out = comms(dir.path(), &["tenant", "put", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for path in ["company_id", "project_status", "allowed_channels[0]", "company_name", "ai", "scheduling"] {
        assert!(err.contains(&format!("  {path}: ")), "missing {path} in:\n{err}");
    }
}

#[test]
fn secrets_put_and_get() {
    let dir = tempfile::tempdir().unwrap();
    let name = "openai-api-key/sms";
    assert!(comms(dir.path(), &["secrets", "put", name, "sk-test-123"]).status.success());
    assert_eq!(stdout(&comms(dir.path(), &["secrets", "get", name])).trim(), "sk-test-123");
    let missing = comms(dir.path(), &["secrets", "get", "nope"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does not exist"));
}

fn wait_for(mut check: impl FnMut() -> bool) -> bool {
    for _ in 0..100 {
        if check() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}

#[test]
fn serve_answers_an_sms_into_the_outbox_and_logs_the_conversation() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    assert!(send_sms(dir.path(), &server, "Any slots tomorrow?", &[]).status.success());
    let replied = wait_for(|| {
        let out = comms(dir.path(), &["outbox", "--json"]);
        serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).is_ok_and(|v| v.len() == 1)
    });
    assert!(replied, "no reply in the outbox");
    let outbox: Vec<serde_json::Value> =
        serde_json::from_slice(&comms(dir.path(), &["outbox", "--json"]).stdout).unwrap();
    assert_eq!(outbox[0]["to"], CUSTOMER);
    assert!(outbox[0]["body"].as_str().unwrap().contains("I can do"), "{}", outbox[0]["body"]);

    let list: Vec<serde_json::Value> =
        serde_json::from_slice(&comms(dir.path(), &["conversation", "list", "--json"]).stdout).unwrap();
    let id = list[0]["conversation_id"].as_str().unwrap().to_owned();
    assert_eq!(id, "demo.repair-shop.tel.14155550123");
    let shown: serde_json::Value =
        serde_json::from_slice(&comms(dir.path(), &["conversation", "show", &id, "--json"]).stdout).unwrap();
    let types: Vec<&str> =
        shown["items"].as_array().unwrap().iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["inbound", "tool_call", "tool_result", "reply"]);
    assert_eq!(sms_stats(dir.path())["depth"], 0);
}

#[test]
fn state_set_get_clear_and_history() {
    let dir = tempfile::tempdir().unwrap();
    let set = comms(dir.path(), &["state", "set", "gym", "--location", "5th Ave", "--until", "2h"]);
    assert!(set.status.success(), "{set:?}");
    let got: serde_json::Value =
        serde_json::from_slice(&comms(dir.path(), &["state", "get", "--json"]).stdout).unwrap();
    assert_eq!(got["mode"], "GYM");
    assert_eq!(got["location"], "5th Ave");
    assert!(comms(dir.path(), &["state", "clear"]).status.success());
    let got: serde_json::Value =
        serde_json::from_slice(&comms(dir.path(), &["state", "get", "--json"]).stdout).unwrap();
    assert_eq!(got["mode"], "WORK");
    let history: Vec<serde_json::Value> =
        serde_json::from_slice(&comms(dir.path(), &["state", "history", "--json"]).stdout).unwrap();
    assert_eq!(history.len(), 2);
    let bad = comms(dir.path(), &["state", "set", "OFF", "--until", "yesterday"]);
    assert!(!bad.status.success());
}

/// Sends a message, then dead-letters everything waiting on the SMS queue the way the
/// worker does (a failure recorded, then one receive too many).
fn dead_letter_one(dir: &Path, body: &str) {
    let server = serve_with(dir, &["--no-workers", "--max-receive-count", "1"]);
    assert!(send_sms(dir, &server, body, &[]).status.success());
    drop(server);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use comms_core::domain::Channel;
        use comms_core::ports::Queues;
        use comms_sqlite::{Db, QueueSettings, SqliteQueues};
        let q = SqliteQueues::new(
            Db::open(&dir.join("comms.db")).unwrap(),
            QueueSettings { max_receive_count: 1 },
        );
        loop {
            let got = q.receive(Channel::Sms, 10, std::time::Duration::ZERO).await.unwrap();
            if got.is_empty() {
                break;
            }
            for m in got {
                q.record_failure(Channel::Sms, &m.message_id, "model: 500 upstream error").await.unwrap();
            }
        }
    });
}

#[test]
fn dlq_list_peek_replay_and_purge() {
    let dir = tempfile::tempdir().unwrap();
    dead_letter_one(dir.path(), "a message that failed");
    let list: Vec<serde_json::Value> =
        serde_json::from_slice(&comms(dir.path(), &["dlq", "list", "--channel", "sms", "--json"]).stdout)
            .unwrap();
    assert_eq!(list.len(), 1);
    assert!(list[0]["reason"].as_str().unwrap().contains("model: 500"), "{}", list[0]);
    assert!(stdout(&comms(dir.path(), &["dlq", "peek"])).contains("a message that failed"));

    let dry = stdout(&comms(dir.path(), &["dlq", "replay", "--dry-run"]));
    assert!(dry.contains("would replay 1"), "{dry}");
    assert_eq!(sms_stats(dir.path())["dlq_depth"], 1);
    assert!(comms(dir.path(), &["dlq", "replay"]).status.success());
    assert_eq!(
        (sms_stats(dir.path())["depth"].as_u64(), sms_stats(dir.path())["dlq_depth"].as_u64()),
        (Some(1), Some(0))
    );

    dead_letter_one(dir.path(), "another");
    let refused = comms(dir.path(), &["dlq", "purge"]); // no stdin: not confirmed
    assert!(!refused.status.success());
    assert!(sms_stats(dir.path())["dlq_depth"].as_u64().unwrap() >= 1);
    assert!(comms(dir.path(), &["dlq", "purge", "--yes"]).status.success());
    assert_eq!(sms_stats(dir.path())["dlq_depth"], 0);
}

#[test]
fn serve_answers_a_voice_turn_by_updating_the_call() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let call = "CA0123456789abcdef0123456789abcdef";
    let out = comms(
        dir.path(),
        &[
            "webhook",
            "voice",
            "--base-url",
            &server.base_url,
            "--from",
            CUSTOMER,
            "--to",
            SHOP,
            "--speech",
            "Any slots tomorrow?",
            "--call-sid",
            call,
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("<Redirect"), "the caller is held: {}", stdout(&out));
    // Without Twilio, the call update lands in the outbox as TwiML.
    let updated = wait_for(|| {
        let out = comms(dir.path(), &["outbox", "--json"]);
        serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).is_ok_and(|v| v.len() == 1)
    });
    assert!(updated, "no call update in the outbox");
    let outbox: Vec<serde_json::Value> =
        serde_json::from_slice(&comms(dir.path(), &["outbox", "--json"]).stdout).unwrap();
    assert!(outbox[0]["provider_id"].as_str().unwrap().starts_with(&format!("CALL-{call}")), "{outbox:?}");
    let twiml = outbox[0]["body"].as_str().unwrap();
    assert!(twiml.contains("<Say>") && twiml.contains("gather?turn=2"), "{twiml}");
    // The call's transcript is in the caller's conversation.
    let shown: serde_json::Value = serde_json::from_slice(
        &comms(dir.path(), &["conversation", "show", "demo.repair-shop.tel.14155550123", "--json"]).stdout,
    )
    .unwrap();
    let items = shown["items"].as_array().unwrap();
    assert_eq!(items[0]["text"], "Any slots tomorrow?");
    assert_eq!(items.last().unwrap()["type"], "reply");
}

const SAMPLE_TENANT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/tenants/demo-repair-shop.json");

fn shown_tenant(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&comms(dir, &["tenant", "show", "demo", "repair-shop", "--json"]).stdout).unwrap()
}

/// `tenant put` takes a hash pasted as `sha256sum` prints it (`<hex>  -`), as documented.
#[test]
fn tenant_put_accepts_sha256sum_output() {
    let dir = tempfile::tempdir().unwrap();
    let hash = comms_core::domain::tenant::hash_key("the-backend-key");
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(SAMPLE_TENANT).unwrap()).unwrap();
    doc["api_keys"] = serde_json::json!([{"id": "backend", "sha256": format!("{hash}  -")}]);
    let file = dir.path().join("t.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let put = comms(dir.path(), &["tenant", "put", file.to_str().unwrap()]);
    assert!(put.status.success(), "{put:?}");
    assert_eq!(shown_tenant(dir.path())["api_keys"][0]["sha256"], hash.as_str());
}

/// `key issue` stores the hash of the key it prints (once); `key revoke` removes it.
#[test]
fn key_issue_and_revoke_on_the_embedded_backend() {
    let dir = tempfile::tempdir().unwrap();
    assert!(comms(dir.path(), &["tenant", "put", SAMPLE_TENANT]).status.success());
    let out = comms(
        dir.path(),
        &["key", "issue", "--tenant", "demo/repair-shop", "--kind", "admin", "--id", "owner-phone", "--json"],
    );
    assert!(out.status.success(), "{out:?}");
    let issued: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = issued["key"].as_str().unwrap();
    assert!(key.len() >= 40, "{issued}");
    let admin = shown_tenant(dir.path())["admin_keys"].clone();
    let entry = admin.as_array().unwrap().iter().find(|k| k["id"] == "owner-phone").unwrap().clone();
    assert_eq!(entry["sha256"], comms_core::domain::tenant::hash_key(key).as_str());

    let again = comms(
        dir.path(),
        &["key", "issue", "--tenant", "demo/repair-shop", "--kind", "admin", "--id", "owner-phone"],
    );
    assert!(!again.status.success(), "a second key with the same id");
    let bad = comms(
        dir.path(),
        &["key", "issue", "--tenant", "demo/repair-shop", "--kind", "api", "--id", "Bad Id"],
    );
    assert!(!bad.status.success());

    let revoke = comms(
        dir.path(),
        &["key", "revoke", "--tenant", "demo/repair-shop", "--kind", "admin", "--id", "owner-phone"],
    );
    assert!(revoke.status.success(), "{revoke:?}");
    let admin = shown_tenant(dir.path())["admin_keys"].clone();
    assert!(admin.as_array().unwrap().iter().all(|k| k["id"] != "owner-phone"), "{admin}");
    let twice = comms(
        dir.path(),
        &["key", "revoke", "--tenant", "demo/repair-shop", "--kind", "admin", "--id", "owner-phone"],
    );
    assert!(!twice.status.success());
}

/// `dlq replay --reason` / `--id` move only what matches; listing changes nothing.
#[test]
fn dlq_replay_filters_by_reason_and_id() {
    let dir = tempfile::tempdir().unwrap();
    dead_letter_one(dir.path(), "a message that failed");
    let list = |dir: &Path| -> Vec<serde_json::Value> {
        serde_json::from_slice(&comms(dir, &["dlq", "list", "--channel", "sms", "--json"]).stdout).unwrap()
    };
    let first = list(dir.path());
    assert_eq!(list(dir.path()), first, "listing changed the DLQ");

    let dry = stdout(&comms(dir.path(), &["dlq", "replay", "--dry-run", "--reason", "unreadable"]));
    assert!(dry.contains("would replay 0"), "{dry}");
    let none = stdout(&comms(dir.path(), &["dlq", "replay", "--reason", "unreadable"]));
    assert!(none.contains("replayed 0"), "{none}");
    let none = stdout(&comms(dir.path(), &["dlq", "replay", "--id", "not-an-id"]));
    assert!(none.contains("replayed 0"), "{none}");
    assert_eq!(sms_stats(dir.path())["dlq_depth"], 1);

    let id = first[0]["message_id"].as_str().unwrap();
    let dry = stdout(&comms(dir.path(), &["dlq", "replay", "--dry-run", "--reason", "500", "--id", id]));
    assert!(dry.contains("would replay 1"), "{dry}");
    let moved = stdout(&comms(dir.path(), &["dlq", "replay", "--reason", "500", "--id", id]));
    assert!(moved.contains("replayed 1"), "{moved}");
    assert_eq!(sms_stats(dir.path())["dlq_depth"], 0);
}

/// One raw HTTP/1.1 exchange (the server closes after an error it answers itself).
fn raw_http(server: &Server, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let addr = server.base_url.strip_prefix("http://").unwrap();
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    stream.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn errors_the_http_server_answers_itself_have_the_json_shape() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_with(dir.path(), &["--no-workers"]);
    let long =
        format!("GET /admin/state?q={} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "a".repeat(79_000));
    for (request, status, code) in [
        (long.into_bytes(), "414", "uri_too_long"),
        (b"NOT HTTP AT ALL\r\n\r\n".to_vec(), "400", "malformed_request"),
    ] {
        let answer = raw_http(&server, &request);
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{head}");
        assert!(head.to_ascii_lowercase().contains("content-type: application/json"), "{head}");
        let json: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
        assert_eq!(json["error"]["code"], code, "{body}");
        assert!(json["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    }
    // The server still answers normally afterwards.
    let ok = raw_http(&server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(ok.starts_with("HTTP/1.1 200 "), "{ok}");
}
