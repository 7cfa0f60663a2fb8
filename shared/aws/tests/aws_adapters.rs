//! Runs the AWS adapters (the queue conformance suite on SQS, Secrets Manager) on moto's server (a local AWS
//! API emulator, installed by `scripts/test`), so the real SDK calls are exercised. Each
//! test starts its own server on a free loopback port and stops it at the end.
//! Without moto: skipped with a message locally, a failure when `CI=true`.
#![allow(clippy::unwrap_used)] // tests: a failed setup step should panic

use std::sync::Arc;
use std::time::Duration;

use comms_aws::{QueueNames, SqsQueues, emulator_config};
use comms_core::domain::Channel;
use comms_testkit::conformance;
use comms_testkit::moto::Moto;

async fn start_moto() -> Option<Moto> {
    Moto::start().await
}

async fn queues(moto: &Moto) -> SqsQueues {
    let config = emulator_config(&moto.endpoint).await;
    let names = QueueNames { prefix: format!("t{}", uuid::Uuid::new_v4().simple()) };
    SqsQueues::provision(&config, &names, &Channel::ALL, 3).await.unwrap()
}

macro_rules! sqs_conformance {
    ($($check:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $check() {
            let Some(moto) = start_moto().await else { return };
            let q = queues(&moto).await;
            let open = move || -> Arc<dyn conformance::queue::QueuePorts> { Arc::new(q.clone()) };
            conformance::queue::$check(&open).await;
        }
    )*};
}

sqs_conformance!(
    send_then_receive_round_trips,
    visibility_hides_a_message,
    change_visibility_extends_and_releases,
    delete_removes_for_good,
    repeated_receives_dead_letter,
    dlq_replay_and_purge,
    dead_letter_moves_at_once,
    dlq_listing_does_not_change_it,
    dlq_replay_filters,
    // Not `concurrent_receivers_never_share`: SQS standard queues (and moto under
    // load) may deliver a message twice; see the queue port's documentation.
    concurrent_receivers_get_every_message,
    reopen_after_crash_loses_nothing,
);

/// Secrets Manager through the caching client: reads a secret, answers NotFound for a
/// missing one, and serves a warm entry from memory until its TTL (no fetch per message).
#[tokio::test]
async fn secrets_manager_reads_caches_and_misses() {
    use comms_aws::SecretsManagerStore;
    use comms_core::ports::{SecretError, SecretStore};

    let Some(moto) = start_moto().await else { return };
    let config = emulator_config(&moto.endpoint).await;
    let admin = aws_sdk_secretsmanager::Client::new(&config);
    let name = "twilio-credentials/demo/repair-shop/twilio";
    admin.create_secret().name(name).secret_string("v1").send().await.unwrap();

    let store = SecretsManagerStore::new(&config, 100, Duration::from_secs(300)).unwrap();
    assert_eq!(store.get(name).await.unwrap().expose(), "v1");
    admin.put_secret_value().secret_id(name).secret_string("v2").send().await.unwrap();
    assert_eq!(store.get(name).await.unwrap().expose(), "v1", "a warm entry is served from the cache");
    let fresh = SecretsManagerStore::new(&config, 100, Duration::from_secs(300)).unwrap();
    assert_eq!(fresh.get(name).await.unwrap().expose(), "v2", "a new cache reads the rotated value");
    assert!(matches!(store.get("nope/x/y/z").await, Err(SecretError::NotFound(_))));
}

/// Operator writes: a new secret is created, an existing one gets a new value.
#[tokio::test]
async fn secrets_manager_put_creates_then_replaces() {
    use comms_aws::SecretsManagerStore;
    use comms_core::ports::{Secret, SecretStore, SecretWriter};

    let Some(moto) = start_moto().await else { return };
    let config = emulator_config(&moto.endpoint).await;
    let store = SecretsManagerStore::new(&config, 100, Duration::from_secs(0)).unwrap();
    store.put("openai-api-key/sms", &Secret::new("sk-1")).await.unwrap();
    assert_eq!(store.get("openai-api-key/sms").await.unwrap().expose(), "sk-1");
    store.put("openai-api-key/sms", &Secret::new("sk-2")).await.unwrap();
    let fresh = SecretsManagerStore::new(&config, 100, Duration::from_secs(300)).unwrap();
    assert_eq!(fresh.get("openai-api-key/sms").await.unwrap().expose(), "sk-2");
}

mod dynamo {
    use std::sync::Arc;

    use comms_aws::{CallLog, DynamoStore, emulator_config};
    use comms_core::domain::{Address, Channel, ConversationId, TenantRef};
    use comms_core::ports::{
        ConversationItem, ConversationKey, ConversationLog, ItemContent, Ledger, LedgerEntry,
    };
    use comms_testkit::conformance::{self, stores};

    use super::start_moto;

    async fn store(endpoint: &str) -> DynamoStore {
        let config = emulator_config(endpoint).await;
        DynamoStore::provision(&config, &format!("t{}-data", uuid::Uuid::new_v4().simple())).await.unwrap()
    }

    #[tokio::test]
    async fn turn_claims_are_atomic_and_resumable() {
        let Some(moto) = start_moto().await else { return };
        stores::turn_claims_are_atomic_and_resumable(&store(&moto.endpoint).await).await;
    }

    #[tokio::test]
    async fn turn_leases_are_renewed_until_released() {
        let Some(moto) = start_moto().await else { return };
        stores::turn_leases_are_renewed_until_released(&store(&moto.endpoint).await).await;
    }

    #[tokio::test]
    async fn taken_over_claims_fence_the_old_holder() {
        let Some(moto) = start_moto().await else { return };
        stores::taken_over_claims_fence_the_old_holder(&store(&moto.endpoint).await).await;
    }

    #[tokio::test]
    async fn turn_keys_are_scoped_by_tenant() {
        let Some(moto) = start_moto().await else { return };
        stores::turn_keys_are_scoped_by_tenant(&store(&moto.endpoint).await).await;
    }

    #[tokio::test]
    async fn delivery_status_is_scoped_by_tenant() {
        let Some(moto) = start_moto().await else { return };
        stores::delivery_status_is_scoped_by_tenant(&store(&moto.endpoint).await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_turn_claims_have_one_winner() {
        let Some(moto) = start_moto().await else { return };
        stores::concurrent_turn_claims_have_one_winner(Arc::new(store(&moto.endpoint).await)).await;
    }

    #[tokio::test]
    async fn slots_are_reserved_once() {
        let Some(moto) = start_moto().await else { return };
        stores::slots_are_reserved_once(&store(&moto.endpoint).await).await;
    }

    #[tokio::test]
    async fn request_keys_remember_body_and_answer() {
        let Some(moto) = start_moto().await else { return };
        stores::request_keys_remember_body_and_answer(&store(&moto.endpoint).await).await;
    }

    #[tokio::test]
    async fn delivery_status_moves_forward_only() {
        let Some(moto) = start_moto().await else { return };
        stores::delivery_status_moves_forward_only(&store(&moto.endpoint).await).await;
    }

    #[tokio::test]
    async fn owner_state_is_kept_with_history() {
        let Some(moto) = start_moto().await else { return };
        stores::owner_state_is_kept_with_history(&store(&moto.endpoint).await).await;
    }

    #[tokio::test]
    async fn ledger_keeps_entries_per_tenant() {
        let Some(moto) = start_moto().await else { return };
        stores::ledger_keeps_entries_per_tenant(&store(&moto.endpoint).await).await;
    }

    #[tokio::test]
    async fn consent_keywords_drive_opt_out_per_tenant() {
        let Some(moto) = start_moto().await else { return };
        conformance::consent::keywords_drive_opt_out_per_tenant(&store(&moto.endpoint).await).await;
    }

    #[tokio::test]
    async fn tenants_found_by_id_and_by_number() {
        let Some(moto) = start_moto().await else { return };
        conformance::tenants::found_by_id_and_by_number(&store(&moto.endpoint).await).await;
    }

    #[tokio::test]
    async fn a_changed_tenant_is_read_changed() {
        let Some(moto) = start_moto().await else { return };
        let store = store(&moto.endpoint).await;
        conformance::tenants::a_changed_tenant_is_read_changed(&store, &store).await;
    }

    #[tokio::test]
    async fn bookings_are_listed_and_cancelled_per_tenant() {
        let Some(moto) = start_moto().await else { return };
        let store = store(&moto.endpoint).await.with_page_size(2);
        conformance::owner::bookings_are_listed_and_cancelled_per_tenant(&store).await;
    }

    #[tokio::test]
    async fn conversation_items_are_idempotent_and_ordered() {
        let Some(moto) = start_moto().await else { return };
        stores::conversation_items_are_idempotent_and_ordered(&store(&moto.endpoint).await).await;
    }

    /// Pages of two items: the suites that read lists still pass, and reads of more than
    /// a page (a tenant's conversations, all of them by scan, a conversation's items, the
    /// ledger, a day's bookings) follow `LastEvaluatedKey` to the end or to their limit.
    #[tokio::test]
    async fn reads_follow_every_page() {
        let Some(moto) = start_moto().await else { return };
        let calls = CallLog::default();
        let config = calls.instrument(&emulator_config(&moto.endpoint).await);
        let table = format!("t{}-data", uuid::Uuid::new_v4().simple());
        let store = DynamoStore::provision(&config, &table).await.unwrap().with_page_size(2);
        stores::conversation_items_are_idempotent_and_ordered(&store).await;
        stores::slots_are_reserved_once(&store).await;
        stores::owner_state_is_kept_with_history(&store).await;
        stores::ledger_keeps_entries_per_tenant(&store).await;

        let tenant = TenantRef::new("paged", "shop").unwrap();
        let mut ids = Vec::new();
        for i in 0..5 {
            let customer = Address::parse(&format!("+1415555020{i}")).unwrap();
            let key = ConversationKey {
                id: ConversationId::derive(&tenant, Channel::Sms, &customer),
                tenant: tenant.clone(),
                channel: Channel::Sms,
                customer,
            };
            let items: Vec<_> = (0..5).map(|n| inbound(&format!("{i}-{n}"))).collect();
            store.append(&key, &items).await.unwrap();
            ids.push(key.id);
        }
        calls.take();
        assert_eq!(store.list(Some(&tenant), 10).await.unwrap().len(), 5, "every page of the index");
        assert!(queries(&calls) >= 3, "pages of two: {:?}", calls.take());
        assert_eq!(store.list(Some(&tenant), 3).await.unwrap().len(), 3, "the limit across pages");
        let all = store.list(None, 100).await.unwrap();
        assert_eq!(all.iter().filter(|c| c.tenant == tenant).count(), 5, "every page of the scan");
        assert_eq!(all.len(), 7, "with the suite's two");
        let recent = store.recent(&ids[0], 4).await.unwrap();
        let got: Vec<_> = recent.iter().map(|i| i.item_id.as_str()).collect();
        assert_eq!(got, ["0-1", "0-2", "0-3", "0-4"], "the last four, oldest first");
        assert_eq!(store.recent(&ids[0], 10).await.unwrap().len(), 5);

        for n in 0..5 {
            let entry = LedgerEntry {
                tenant: tenant.clone(),
                conversation_id: None,
                kind: format!("k{n}"),
                data: serde_json::json!({}),
                at: jiff::Timestamp::now(),
            };
            store.record(&entry).await.unwrap();
        }
        let kinds: Vec<_> = store.entries(&tenant, 10).await.unwrap().into_iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["k4", "k3", "k2", "k1", "k0"]);
        assert_eq!(store.entries(&tenant, 3).await.unwrap().len(), 3);
    }

    fn inbound(id: &str) -> ConversationItem {
        // Distinct, increasing times: the items' order is their time order.
        std::thread::sleep(std::time::Duration::from_millis(2));
        ConversationItem {
            item_id: id.into(),
            at: jiff::Timestamp::now(),
            content: ItemContent::Inbound { text: id.into(), media: Vec::new() },
        }
    }

    fn queries(calls: &CallLog) -> usize {
        calls.take().iter().filter(|c| c.as_str() == "DynamoDB.Query").count()
    }

    /// A number leads to its tenant's whole config in one `GetItem` (the route's copy,
    /// written with the config), and a route written before the copy existed (no
    /// `config` attribute) still leads to it, through the config item.
    #[tokio::test]
    async fn a_tenant_is_found_by_number_in_one_read() {
        use comms_core::domain::PhoneNumber;
        use comms_core::domain::tenant::TenantConfig;
        use comms_core::ports::TenantDirectory;

        let Some(moto) = start_moto().await else { return };
        let calls = CallLog::default();
        let config = calls.instrument(&emulator_config(&moto.endpoint).await);
        let table = format!("t{}-data", uuid::Uuid::new_v4().simple());
        let store = DynamoStore::provision(&config, &table).await.unwrap();
        let demo =
            TenantConfig::from_json(include_str!("../../../samples/tenants/demo-repair-shop.json")).unwrap();
        store.put(&demo).await.unwrap();
        let number = PhoneNumber::parse("+15555550100").unwrap();
        calls.take();
        assert_eq!(store.by_number(Channel::Sms, &number).await.unwrap(), Some(demo.clone()));
        assert_eq!(calls.take(), ["DynamoDB.GetItem"]);

        let route = format!("NUMBER#{}#{number}", Channel::Sms);
        let key = |v: &str| aws_sdk_dynamodb::types::AttributeValue::S(v.to_owned());
        aws_sdk_dynamodb::Client::new(&config)
            .update_item()
            .table_name(&table)
            .key("pk", key(&route))
            .key("sk", key("ROUTE"))
            .update_expression("REMOVE config")
            .send()
            .await
            .unwrap();
        calls.take();
        assert_eq!(store.by_number(Channel::Sms, &number).await.unwrap(), Some(demo));
        assert_eq!(calls.take(), ["DynamoDB.GetItem", "DynamoDB.GetItem"], "route, then config");
    }

    #[tokio::test]
    async fn tenant_numbers_have_one_owner() {
        let Some(moto) = start_moto().await else { return };
        conformance::tenants::numbers_have_one_owner(&store(&moto.endpoint).await).await;
    }

    #[tokio::test]
    async fn tenant_email_addresses_route_with_one_owner() {
        let Some(moto) = start_moto().await else { return };
        conformance::tenants::email_addresses_route_with_one_owner(&store(&moto.endpoint).await).await;
    }
}

/// A store pointed at a table that does not exist says which table (DynamoDB's own error
/// does not), and the error is permanent: retrying cannot create it.
#[tokio::test]
async fn a_missing_table_is_named_in_the_error() {
    use comms_aws::DynamoStore;
    use comms_core::domain::TenantRef;
    use comms_core::ports::{StoreError, TenantDirectory};
    let Some(moto) = start_moto().await else { return };
    let config = emulator_config(&moto.endpoint).await;
    let store = DynamoStore::new(&config, "no-such-table-data");
    let err = store.get(&TenantRef::new("demo", "shop").unwrap()).await.unwrap_err();
    let StoreError::Backend { message, transient } = err else { panic!("{err:?}") };
    assert!(message.contains("no-such-table-data"), "{message}");
    assert!(!transient, "{message}");
}
