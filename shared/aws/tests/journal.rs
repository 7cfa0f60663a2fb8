//! The turn journal's conformance suite on DynamoDB (moto's server).
//! Without moto: skipped with a message locally, a failure when `CI=true`.
#![allow(clippy::unwrap_used)] // tests: a failed setup step should panic

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use comms_aws::{DynamoStore, emulator_config};
use comms_testkit::conformance::journal::{self, JournalPorts};
use comms_testkit::conformance::usage::{self, UsagePorts};
use comms_testkit::moto::Moto;

/// DynamoDB applies each request atomically; moto's threaded server does not (a
/// conditional write checks its condition against a snapshot another thread may change
/// before the write lands), so racing claims could all "win" on moto. Requests go to moto
/// one at a time: each is atomic, as on DynamoDB, and callers still interleave between
/// requests as they would there.
#[derive(Debug)]
struct OneAtATime {
    inner: SharedHttpClient,
    lock: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Debug)]
struct OneAtATimeConnector {
    inner: SharedHttpConnector,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl HttpClient for OneAtATime {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        rc: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let inner = self.inner.http_connector(settings, rc);
        SharedHttpConnector::new(OneAtATimeConnector { inner, lock: Arc::clone(&self.lock) })
    }
}

impl HttpConnector for OneAtATimeConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (inner, lock) = (self.inner.clone(), Arc::clone(&self.lock));
        HttpConnectorFuture::new(async move {
            let _one = lock.lock_owned().await;
            inner.call(request).await
        })
    }
}

/// moto, a fresh table, the journal's ports on it, and the table's name.
async fn ports() -> Option<(Moto, JournalPorts, aws_config::SdkConfig, String)> {
    let moto = Moto::start().await?;
    let config = emulator_config(&moto.endpoint).await;
    let inner = comms_aws::https_client();
    let lock = Arc::new(tokio::sync::Mutex::new(()));
    let config = config.to_builder().http_client(OneAtATime { inner, lock }).build();
    let table = format!("t{}-data", uuid::Uuid::new_v4().simple());
    let store = Arc::new(DynamoStore::provision(&config, &table).await.unwrap());
    let ports = JournalPorts { journal: store.clone(), consent: store.clone(), log: store };
    Some((moto, ports, config, table))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_turn_per_conversation() {
    let Some((_moto, p, ..)) = ports().await else { return };
    journal::one_turn_per_conversation(p).await;
}

#[tokio::test]
async fn stale_tokens_are_fenced() {
    let Some((_moto, p, ..)) = ports().await else { return };
    journal::stale_tokens_are_fenced(p).await;
}

#[tokio::test]
async fn opt_out_refuses_the_write_before_the_send() {
    let Some((_moto, p, ..)) = ports().await else { return };
    journal::opt_out_refuses_the_write_before_the_send(p).await;
}

#[tokio::test]
async fn finished_turns_are_recognised() {
    let Some((_moto, p, ..)) = ports().await else { return };
    journal::finished_turns_are_recognised(p).await;
}

#[tokio::test]
async fn window_is_bounded_and_items_idempotent() {
    let Some((_moto, p, ..)) = ports().await else { return };
    journal::window_is_bounded_and_items_idempotent(p).await;
}

/// A consent item as the adapter wrote it before the journal: no flag on any header.
#[tokio::test]
async fn legacy_headers_read_the_consent_store() {
    let Some((_moto, p, config, table)) = ports().await else { return };
    let client = aws_sdk_dynamodb::Client::new(&config);
    journal::legacy_headers_read_the_consent_store(p, || async move {
        let s = |v: &str| AttributeValue::S(v.to_owned());
        client
            .put_item()
            .table_name(table)
            .item("pk", s("TENANT#demo#repair-shop"))
            .item("sk", s(&format!("CONSENT#{}", journal::customer())))
            .item("opted_out", AttributeValue::Bool(true))
            .item("updated_at", s("2026-01-01T00:00:00.000000Z"))
            .send()
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test]
async fn takeover_is_read_by_the_claim() {
    let Some((_moto, p, ..)) = ports().await else { return };
    comms_testkit::conformance::owner::takeover_is_read_by_the_claim(p).await;
}

#[tokio::test]
async fn search_by_number_or_text_per_tenant() {
    let Some((_moto, p, ..)) = ports().await else { return };
    comms_testkit::conformance::owner::search_by_number_or_text_per_tenant(p).await;
}

/// moto, a fresh table, and the usage ports on it (no racing claims here).
async fn usage_ports() -> Option<(Moto, UsagePorts)> {
    let moto = Moto::start().await?;
    let config = emulator_config(&moto.endpoint).await;
    let table = format!("t{}-data", uuid::Uuid::new_v4().simple());
    let store = Arc::new(DynamoStore::provision(&config, &table).await.unwrap());
    Some((moto, UsagePorts { journal: store.clone(), usage: store.clone(), consent: store }))
}

#[tokio::test]
async fn usage_steps_add_to_the_months_totals() {
    let Some((_moto, p)) = usage_ports().await else { return };
    usage::steps_add_to_the_months_totals(p).await;
}

#[tokio::test]
async fn usage_the_budget_notification_is_marked_once() {
    let Some((_moto, p)) = usage_ports().await else { return };
    usage::the_budget_notification_is_marked_once(p).await;
}
