//! Runs every conformance suite against the embedded (SQLite) adapters.
#![allow(clippy::unwrap_used)] // tests: a failed setup step should panic

use std::sync::Arc;

use comms_core::ports::{Queues, Secret, SecretError, SecretStore};
use comms_sqlite::{Db, QueueSettings, SqliteConsent, SqliteQueues, SqliteSecrets, SqliteTenants};
use comms_testkit::conformance;

/// Each queue check gets its own database file; `open` connects to it anew each call.
macro_rules! queue_conformance {
    ($($check:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $check() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("comms.db");
            let open = move || -> Arc<dyn conformance::queue::QueuePorts> {
                Arc::new(SqliteQueues::new(Db::open(&path).unwrap(), QueueSettings { max_receive_count: 3 }))
            };
            conformance::queue::$check(&open).await;
        }
    )*};
}

queue_conformance!(
    send_then_receive_round_trips,
    visibility_hides_a_message,
    change_visibility_extends_and_releases,
    delete_removes_for_good,
    repeated_receives_dead_letter,
    dlq_replay_and_purge,
    dead_letter_moves_at_once,
    dlq_listing_does_not_change_it,
    dlq_replay_filters,
    concurrent_receivers_never_share,
    concurrent_receivers_get_every_message,
    reopen_after_crash_loses_nothing,
);

/// A receive long-polling with a re-check every hour is woken by a send at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_receive_is_woken_by_a_send() {
    use std::time::Duration;

    let (_dir, db) = fresh_db();
    let hour = Duration::from_secs(3600);
    let queues = SqliteQueues::new(db, QueueSettings::default()).with_long_polling(hour, hour);
    let open = move || -> Arc<dyn conformance::queue::QueuePorts> { Arc::new(queues.clone()) };
    conformance::queue::a_waiting_receive_is_woken_by_a_send(&open).await;
}

/// SQLite-specific (SQS does not promise it): a receipt from an earlier receive can no
/// longer change the message's visibility.
#[tokio::test]
async fn old_receipt_cannot_release_a_message_someone_else_holds() {
    use std::time::Duration;

    use comms_core::domain::Channel;
    use comms_core::ports::OutgoingMessage;

    let (_dir, db) = fresh_db();
    let q = SqliteQueues::new(db, QueueSettings::default());
    q.send(Channel::Sms, OutgoingMessage { body: "a".into(), attributes: Default::default() }).await.unwrap();
    let first = q.receive(Channel::Sms, 1, Duration::ZERO).await.unwrap();
    let second = q.receive(Channel::Sms, 1, Duration::from_secs(30)).await.unwrap();
    assert_eq!(second.len(), 1);
    assert!(q.change_visibility(Channel::Sms, &first[0].receipt, Duration::ZERO).await.is_err());
    assert!(q.delete(Channel::Sms, &first[0].receipt).await.is_err());
    assert!(q.receive(Channel::Sms, 1, Duration::from_secs(30)).await.unwrap().is_empty());
}

fn fresh_db() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("comms.db")).unwrap();
    (dir, db)
}

#[tokio::test]
async fn tenants_found_by_id_and_by_number() {
    let (_dir, db) = fresh_db();
    conformance::tenants::found_by_id_and_by_number(&SqliteTenants::new(db)).await;
}

// Two handles on one file: the server's and, say, the `comms` CLI's.
#[tokio::test]
async fn a_tenant_changed_by_another_handle_is_read_changed() {
    let (dir, db) = fresh_db();
    let other = Db::open(&dir.path().join("comms.db")).unwrap();
    conformance::tenants::a_changed_tenant_is_read_changed(
        &SqliteTenants::new(other),
        &SqliteTenants::new(db),
    )
    .await;
}

#[tokio::test]
async fn tenant_numbers_have_one_owner() {
    let (_dir, db) = fresh_db();
    conformance::tenants::numbers_have_one_owner(&SqliteTenants::new(db)).await;
}

#[tokio::test]
async fn tenant_email_addresses_route_with_one_owner() {
    let (_dir, db) = fresh_db();
    conformance::tenants::email_addresses_route_with_one_owner(&SqliteTenants::new(db)).await;
}

// The caching decorator the router puts in front of the directory passes the same suite.
#[tokio::test]
async fn cached_tenants_pass_the_directory_suite() {
    use comms_core::cached::CachedTenants;
    use std::time::Duration;
    let (_dir, db) = fresh_db();
    let cached =
        |db: &Db| CachedTenants::new(Arc::new(SqliteTenants::new(db.clone())), Duration::from_secs(60));
    conformance::tenants::found_by_id_and_by_number(&cached(&db)).await;
    let (_dir2, db2) = fresh_db();
    conformance::tenants::numbers_have_one_owner(&cached(&db2)).await;
    let (_dir3, db3) = fresh_db();
    conformance::tenants::email_addresses_route_with_one_owner(&cached(&db3)).await;
}

#[tokio::test]
async fn cached_tenants_serve_number_lookups_from_memory_until_the_ttl() {
    use comms_core::cached::CachedTenants;
    use comms_core::domain::tenant::TenantConfig;
    use comms_core::domain::{Channel, PhoneNumber};
    use comms_core::ports::TenantDirectory;
    use std::time::Duration;
    let (_dir, db) = fresh_db();
    let store = SqliteTenants::new(db.clone());
    let cached = CachedTenants::new(Arc::new(store.clone()), Duration::from_millis(300));
    let cfg =
        TenantConfig::from_json(include_str!("../../../samples/tenants/demo-repair-shop.json")).unwrap();
    store.put(&cfg).await.unwrap();
    let shop = PhoneNumber::parse("+15555550100").unwrap();
    assert!(cached.by_number(Channel::Sms, &shop).await.unwrap().is_some());
    // Changed behind the cache's back (another process): the cached answer stands...
    let mut moved = cfg.clone();
    moved.numbers = [(Channel::Sms, vec![PhoneNumber::parse("+15555550101").unwrap()])].into();
    store.put(&moved).await.unwrap();
    assert!(cached.by_number(Channel::Sms, &shop).await.unwrap().is_some());
    // ...until the TTL; an unknown number is never cached, so new numbers work at once.
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(cached.by_number(Channel::Sms, &shop).await.unwrap().is_none());
    let new = PhoneNumber::parse("+15555550101").unwrap();
    assert!(cached.by_number(Channel::Sms, &new).await.unwrap().is_some());
}

#[tokio::test]
async fn consent_keywords_drive_opt_out_per_tenant() {
    let (_dir, db) = fresh_db();
    conformance::consent::keywords_drive_opt_out_per_tenant(&SqliteConsent::new(db)).await;
}

#[tokio::test]
async fn local_secrets_put_get_and_missing() {
    let (_dir, db) = fresh_db();
    let secrets = SqliteSecrets::new(db);
    secrets.put("twilio-credentials/a/b/twilio", &Secret::new("v1")).await.unwrap();
    secrets.put("twilio-credentials/a/b/twilio", &Secret::new("v2")).await.unwrap();
    assert_eq!(secrets.get("twilio-credentials/a/b/twilio").await.unwrap().expose(), "v2");
    assert!(matches!(secrets.get("nope").await, Err(SecretError::NotFound(_))));
    assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(***)");
}

#[tokio::test]
async fn schema_migrations_are_idempotent() {
    let (dir, db) = fresh_db();
    drop(db);
    // Reopening an up-to-date file runs no migration twice.
    Db::open(&dir.path().join("comms.db")).unwrap();
}

mod stores {
    use comms_sqlite::{
        SqliteBookings, SqliteConversations, SqliteLedger, SqliteOwnerState, SqliteRequests, SqliteTurns,
    };
    use comms_testkit::conformance::stores;

    use super::fresh_db;

    #[tokio::test]
    async fn turn_claims_are_atomic_and_resumable() {
        let (_dir, db) = fresh_db();
        stores::turn_claims_are_atomic_and_resumable(&SqliteTurns::new(db)).await;
    }

    #[tokio::test]
    async fn turn_leases_are_renewed_until_released() {
        let (_dir, db) = fresh_db();
        stores::turn_leases_are_renewed_until_released(&SqliteTurns::new(db)).await;
    }

    #[tokio::test]
    async fn taken_over_claims_fence_the_old_holder() {
        let (_dir, db) = fresh_db();
        stores::taken_over_claims_fence_the_old_holder(&SqliteTurns::new(db)).await;
    }

    #[tokio::test]
    async fn turn_keys_are_scoped_by_tenant() {
        let (_dir, db) = fresh_db();
        stores::turn_keys_are_scoped_by_tenant(&SqliteTurns::new(db)).await;
    }

    #[tokio::test]
    async fn delivery_status_is_scoped_by_tenant() {
        let (_dir, db) = fresh_db();
        stores::delivery_status_is_scoped_by_tenant(&SqliteConversations::new(db)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_turn_claims_have_one_winner() {
        let (_dir, db) = fresh_db();
        stores::concurrent_turn_claims_have_one_winner(std::sync::Arc::new(SqliteTurns::new(db))).await;
    }

    #[tokio::test]
    async fn slots_are_reserved_once() {
        let (_dir, db) = fresh_db();
        stores::slots_are_reserved_once(&SqliteBookings::new(db)).await;
    }

    #[tokio::test]
    async fn bookings_are_listed_and_cancelled_per_tenant() {
        let (_dir, db) = fresh_db();
        let bookings = SqliteBookings::new(db);
        comms_testkit::conformance::owner::bookings_are_listed_and_cancelled_per_tenant(&bookings).await;
    }

    #[tokio::test]
    async fn conversation_items_are_idempotent_and_ordered() {
        let (_dir, db) = fresh_db();
        stores::conversation_items_are_idempotent_and_ordered(&SqliteConversations::new(db)).await;
    }

    #[tokio::test]
    async fn owner_state_is_kept_with_history() {
        let (_dir, db) = fresh_db();
        stores::owner_state_is_kept_with_history(&SqliteOwnerState::new(db)).await;
    }

    #[tokio::test]
    async fn request_keys_remember_body_and_answer() {
        let (_dir, db) = fresh_db();
        stores::request_keys_remember_body_and_answer(&SqliteRequests::new(db)).await;
    }

    #[tokio::test]
    async fn delivery_status_moves_forward_only() {
        let (_dir, db) = fresh_db();
        stores::delivery_status_moves_forward_only(&SqliteConversations::new(db)).await;
    }

    #[tokio::test]
    async fn ledger_keeps_entries_per_tenant() {
        let (_dir, db) = fresh_db();
        stores::ledger_keeps_entries_per_tenant(&SqliteLedger::new(db)).await;
    }
}
