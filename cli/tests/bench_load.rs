//! `comms bench load` end to end with a small count: it spawns `comms serve`, sends
//! signed webhooks, and reports every message answered once, with the figures' shape
//! (no timing is asserted).
#![allow(clippy::unwrap_used)] // tests: a failed setup step should panic

use std::process::Command;

mod common;

#[test]
fn bench_load_answers_every_message_and_prints_the_figures() {
    let out = Command::new(common::BIN)
        .args(["bench", "load", "--messages", "20", "--concurrency", "4", "--worker-concurrency", "8"])
        .env_remove("COMMS_BACKEND")
        .env_remove("COMMS_DATA_DIR")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(
        lines[0].starts_with("comms bench load: 20 messages, client concurrency 4, worker concurrency 8")
    );
    // Every message answered, and exactly once (one reply sent per message).
    assert_eq!(lines[1].trim(), "answered: 20 of 20 (20 replies sent)");
    assert!(lines[2].trim().starts_with("throughput: ") && lines[2].contains(" turns/s (20 turns in "));
    let latency = lines[3].trim();
    assert!(latency.starts_with("webhook accepted to reply sent: p50 "), "{latency}");
    for label in ["p90 ", "p99 ", "max "] {
        assert!(latency.contains(label), "{latency}");
    }
}
