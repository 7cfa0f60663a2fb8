//! Black-box tests of the `comms` binary: a real `comms serve` on a free port, answering
//! webhooks on the embedded backend (operator commands: `operator.rs`).
#![allow(clippy::unwrap_used)] // tests: a failed setup step should panic

mod common;

use std::process::Command;

use common::Server;
use common::local::{CUSTOMER, SHOP, comms, send_sms, serve, serve_with, sms_stats, stdout, wait_until};

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
fn serve_answers_an_sms_into_the_outbox_and_logs_the_conversation() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    assert!(send_sms(dir.path(), &server, "Any slots tomorrow?", &[]).status.success());
    let replied = wait_until(|| {
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
    let updated = wait_until(|| {
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
