//! `comms webhook email` against a real `comms serve`: a signed Inbound Parse post the
//! server accepts, with the key the command makes and keeps for the tenant.
#![allow(clippy::unwrap_used)] // tests: a failed setup step should panic

mod common;

use std::path::Path;

use common::local::{SHOP_EMAIL, comms, email_tenant_file, serve_with, stdout};

/// The demo tenant with an email address, put before the server starts.
fn put_email_tenant(dir: &Path) {
    let file = email_tenant_file(dir);
    let out = comms(dir, &["tenant", "put", file.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
}

fn email_depth(dir: &Path) -> u64 {
    let out = comms(dir, &["queue", "stats", "--json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let row = rows.into_iter().find(|r| r["channel"] == "email").unwrap();
    row["depth"].as_u64().unwrap()
}

#[test]
fn a_signed_inbound_email_is_accepted_and_a_foreign_key_is_refused() {
    let data = tempfile::tempdir().unwrap();
    put_email_tenant(data.path());
    let server = serve_with(data.path(), &["--no-workers"]);
    let send = |extra: &[&str]| {
        let mut args = vec![
            "webhook",
            "email",
            "--base-url",
            &server.base_url,
            "--from",
            "ann@example.org",
            "--to",
            SHOP_EMAIL,
            "--subject",
            "Cracked screen",
            "--text",
            "Can you fix it today?",
        ];
        args.extend_from_slice(extra);
        comms(data.path(), &args)
    };
    // First use: the command makes the tenant's key; later uses sign with the same one.
    for _ in 0..2 {
        let ok = send(&[]);
        assert!(ok.status.success(), "{ok:?}");
        assert!(stdout(&ok).starts_with("204"), "{}", stdout(&ok));
        assert!(stdout(&ok).contains("Message-ID: <"), "{}", stdout(&ok));
    }
    assert_eq!(email_depth(data.path()), 2, "two mails, two Message-IDs");
    let replying = send(&["--in-reply-to", "<earlier@repair-shop.example>"]);
    assert!(replying.status.success(), "{replying:?}");
    let foreign = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    let bad = send(&["--signing-key", foreign]);
    assert!(!bad.status.success());
    assert!(stdout(&bad).starts_with("403"), "{}", stdout(&bad));
    assert_eq!(email_depth(data.path()), 3, "a refused mail was enqueued");
}

#[test]
fn comms_serve_makes_the_unsubscribe_key_once_and_keeps_it() {
    let data = tempfile::tempdir().unwrap();
    let key = || {
        let out = comms(data.path(), &["secrets", "get", "email-unsubscribe-key"]);
        out.status.success().then(|| stdout(&out).trim().to_owned())
    };
    assert_eq!(key(), None, "no key before the first serve");
    let server = serve_with(data.path(), &["--no-workers"]);
    let first = key().expect("serve made the key");
    assert_eq!(first.len(), 64, "256 random bits, hex");
    drop(server);
    let _again = serve_with(data.path(), &["--no-workers"]);
    assert_eq!(key(), Some(first), "a restart keeps the key (links already sent stay valid)");
}
