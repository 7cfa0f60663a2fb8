//! Black-box tests of the operator's `comms` commands on the embedded backend: tenants,
//! secrets, keys, the owner's state and the dead-letter queues.
#![allow(clippy::unwrap_used)] // tests: a failed setup step should panic

mod common;

use std::path::Path;

use common::local::{SAMPLE_TENANT, comms, send_sms, serve_with, sms_stats, stdout};

#[test]
fn tenant_put_and_show_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let sample = SAMPLE_TENANT;
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

/// A malformed setting stops every command at start-up, naming the variable.
#[test]
fn a_malformed_log_format_stops_comms_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(common::BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["secrets", "get", "nope"])
        .env("COMMS_LOG_FORMAT", "xml")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("COMMS_LOG_FORMAT must be json or text, not 'xml'"), "{err}");
}
