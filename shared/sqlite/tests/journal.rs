//! The turn journal's conformance suite on SQLite.
#![allow(clippy::unwrap_used)] // tests: a failed setup step should panic

use std::sync::Arc;

use comms_core::ports::ConsentAction;
use comms_sqlite::{Db, SqliteConsent, SqliteConversations, SqliteJournal, SqliteUsage};
use comms_testkit::conformance::journal::{self, JournalPorts};
use comms_testkit::conformance::usage::{self, UsagePorts};

fn ports() -> (tempfile::TempDir, JournalPorts) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("comms.db")).unwrap();
    let ports = JournalPorts {
        journal: Arc::new(SqliteJournal::new(db.clone())),
        consent: Arc::new(SqliteConsent::new(db.clone())),
        log: Arc::new(SqliteConversations::new(db)),
    };
    (dir, ports)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_turn_per_conversation() {
    let (_dir, p) = ports();
    journal::one_turn_per_conversation(p).await;
}

#[tokio::test]
async fn stale_tokens_are_fenced() {
    let (_dir, p) = ports();
    journal::stale_tokens_are_fenced(p).await;
}

#[tokio::test]
async fn opt_out_refuses_the_write_before_the_send() {
    let (_dir, p) = ports();
    journal::opt_out_refuses_the_write_before_the_send(p).await;
}

#[tokio::test]
async fn finished_turns_are_recognised() {
    let (_dir, p) = ports();
    journal::finished_turns_are_recognised(p).await;
}

#[tokio::test]
async fn window_is_bounded_and_items_idempotent() {
    let (_dir, p) = ports();
    journal::window_is_bounded_and_items_idempotent(p).await;
}

#[tokio::test]
async fn legacy_headers_read_the_consent_store() {
    let (_dir, p) = ports();
    // SQLite's claim reads the consent table itself: any opt-out is "legacy".
    let consent = Arc::clone(&p.consent);
    journal::legacy_headers_read_the_consent_store(p, || async move {
        let (t, c) = (journal::tenant(), journal::customer());
        consent.record(&t, &c, ConsentAction::OptOut, "STOP", jiff::Timestamp::now()).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn takeover_is_read_by_the_claim() {
    let (_dir, p) = ports();
    comms_testkit::conformance::owner::takeover_is_read_by_the_claim(p).await;
}

#[tokio::test]
async fn search_by_number_or_text_per_tenant() {
    let (_dir, p) = ports();
    comms_testkit::conformance::owner::search_by_number_or_text_per_tenant(p).await;
}

fn usage_ports() -> (tempfile::TempDir, UsagePorts) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("comms.db")).unwrap();
    let ports = UsagePorts {
        journal: Arc::new(SqliteJournal::new(db.clone())),
        usage: Arc::new(SqliteUsage::new(db.clone())),
        consent: Arc::new(SqliteConsent::new(db)),
    };
    (dir, ports)
}

#[tokio::test]
async fn usage_steps_add_to_the_months_totals() {
    let (_dir, p) = usage_ports();
    usage::steps_add_to_the_months_totals(p).await;
}

#[tokio::test]
async fn usage_the_budget_notification_is_marked_once() {
    let (_dir, p) = usage_ports();
    usage::the_budget_notification_is_marked_once(p).await;
}
