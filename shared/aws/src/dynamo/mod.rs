//! Storage ports on DynamoDB, one table (`docs/data-model.md`). One file per port; each
//! maps its items through typed item structs (`TryFrom<&Item>` to read, `From<…> for
//! Item` to write), so an attribute's name and type are spelled in one place.

mod bookings;
mod consent;
mod conversations;
mod delivery;
mod journal;
mod ledger;
mod owner_state;
mod requests;
mod takeover;
mod tenants;
mod turns;
mod usage;

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, Put, ScalarAttributeType, TransactWriteItem,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;

use comms_core::domain::TenantRef;
use comms_core::ports::StoreError;

/// One stored item, as the SDK hands it over.
type Item = HashMap<String, AttributeValue>;

/// The single-table store.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// Items per Query/Scan page; `None` lets DynamoDB fill pages (up to 1 MB).
    page_size: Option<i32>,
}

impl DynamoStore {
    /// The store on an existing table.
    pub fn new(config: &aws_config::SdkConfig, table: &str) -> Self {
        Self { client: Client::new(config), table: table.to_owned(), page_size: None }
    }

    /// At most `items` items per Query/Scan page. Reads follow every page either way;
    /// small pages let tests prove it without a megabyte of data.
    pub fn with_page_size(mut self, items: i32) -> Self {
        self.page_size = Some(items.max(1));
        self
    }

    /// Creates the table (keys and `gsi1`) if missing. For local use and tests; in AWS
    /// the template creates it.
    pub async fn provision(config: &aws_config::SdkConfig, table: &str) -> Result<Self, StoreError> {
        let store = Self::new(config, table);
        let gsi = GlobalSecondaryIndex::builder()
            .index_name("gsi1")
            .key_schema(key_element("gsi1pk", KeyType::Hash)?)
            .key_schema(key_element("gsi1sk", KeyType::Range)?)
            .projection(Projection::builder().projection_type(ProjectionType::All).build())
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        let created = store
            .client
            .create_table()
            .table_name(table)
            .attribute_definitions(attr_def("pk")?)
            .attribute_definitions(attr_def("sk")?)
            .attribute_definitions(attr_def("gsi1pk")?)
            .attribute_definitions(attr_def("gsi1sk")?)
            .key_schema(key_element("pk", KeyType::Hash)?)
            .key_schema(key_element("sk", KeyType::Range)?)
            .global_secondary_indexes(gsi)
            .billing_mode(BillingMode::PayPerRequest)
            .tags(crate::sqs::provisioned_tag().map_err(invalid)?)
            .send()
            .await;
        if let Err(e) = created
            && e.code() != Some("ResourceInUseException")
        {
            return Err(store.err(e));
        }
        Ok(store)
    }

    /// A storage error from an SDK call on this store's table (a missing table named).
    fn err<E>(&self, e: SdkError<E, HttpResponse>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        crate::errors::store_error(&self.table, &e)
    }

    /// The item at `key` (a strongly consistent read).
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key.to_item()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.err(e))?;
        Ok(out.item().cloned())
    }

    /// The item at `key`, read as `T`.
    async fn get_as<T>(&self, key: &Key) -> Result<Option<T>, StoreError>
    where
        T: for<'a> TryFrom<&'a Item, Error = StoreError>,
    {
        self.get(key).await?.as_ref().map(T::try_from).transpose()
    }

    /// A transaction action writing `item`, on `condition` if any.
    fn put_tx(&self, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_owned))
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// A transaction action deleting the item at `key`.
    fn delete_tx(&self, key: &Key) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key.to_item()))
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// Items of a partition whose sort key starts with `prefix`, newest (highest) first,
    /// at most `limit`, following pages until there are enough.
    async fn query_desc(&self, pk: &str, prefix: &str, limit: usize) -> Result<Vec<Item>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(prefix))
            .scan_index_forward(false)
            .consistent_read(true);
        self.query_pages(query, Some(limit)).await
    }

    /// A query of the `gsi1` partition `pk`, newest (highest `gsi1sk`) first.
    fn gsi1_desc(&self, pk: String) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :g")
            .expression_attribute_values(":g", s(pk))
            .scan_index_forward(false)
    }

    /// Every item of a query (or its first `limit`), page after page: a page stops at
    /// 1 MB (or the page size) and `LastEvaluatedKey` says where the next one starts.
    async fn query_pages(
        &self,
        query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
        limit: Option<usize>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = query.set_limit(self.page_limit(limit)).into_paginator().items().send();
        let mut out = Vec::new();
        // Stop as soon as there are enough: asking for another item would fetch a page.
        while limit.is_none_or(|l| out.len() < l) {
            match items.try_next().await.map_err(|e| self.err(e))? {
                Some(item) => out.push(item),
                None => break,
            }
        }
        Ok(out)
    }

    /// Every item of a scan, page after page.
    async fn scan_pages(
        &self,
        scan: aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = scan.set_limit(self.page_limit(None)).into_paginator().items().send();
        let mut out = Vec::new();
        while let Some(item) = items.try_next().await.map_err(|e| self.err(e))? {
            out.push(item);
        }
        Ok(out)
    }

    /// DynamoDB's `Limit` for a page: the page size, lowered to the items wanted; none
    /// (pages of 1 MB) when neither is set.
    fn page_limit(&self, wanted: Option<usize>) -> Option<i32> {
        let wanted = wanted.map(|w| i32::try_from(w.max(1)).unwrap_or(i32::MAX));
        match (self.page_size, wanted) {
            (Some(p), Some(w)) => Some(p.min(w)),
            (p, w) => p.or(w),
        }
    }
}

/// The primary key of an item.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    pk: String,
    sk: String,
}

impl Key {
    fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self { pk: pk.into(), sk: sk.into() }
    }

    /// The key of a stored item.
    fn of(item: &Item) -> Result<Self, StoreError> {
        let a = Attrs(item);
        Ok(Self::new(a.s("pk")?, a.s("sk")?))
    }

    /// The key as attributes: a `GetItem`/`Delete` key, or the start of an item.
    fn to_item(&self) -> Item {
        HashMap::from([("pk".to_owned(), s(&self.pk)), ("sk".to_owned(), s(&self.sk))])
    }

    /// An item: this key and `attributes`.
    fn with(&self, attributes: impl IntoIterator<Item = (&'static str, AttributeValue)>) -> Item {
        let mut item = self.to_item();
        item.extend(attributes.into_iter().map(|(k, v)| (k.to_owned(), v)));
        item
    }
}

/// Reads a stored item's attributes, naming the one missing or of the wrong type.
struct Attrs<'a>(&'a Item);

impl<'a> Attrs<'a> {
    fn s(&self, k: &str) -> Result<&'a str, StoreError> {
        self.opt_s(k).ok_or_else(|| invalid(format!("item without string '{k}'")))
    }

    fn opt_s(&self, k: &str) -> Option<&'a str> {
        self.0.get(k).and_then(|v| v.as_s().ok()).map(String::as_str)
    }

    fn n(&self, k: &str) -> Result<i64, StoreError> {
        self.0
            .get(k)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| invalid(format!("item without number '{k}'")))
    }

    fn opt_bool(&self, k: &str) -> Option<bool> {
        self.0.get(k).and_then(|v| v.as_bool().ok()).copied()
    }

    /// A string attribute holding JSON.
    fn json<T: serde::de::DeserializeOwned>(&self, k: &str) -> Result<T, StoreError> {
        parse(self.s(k)?)
    }

    fn opt_json<T: serde::de::DeserializeOwned>(&self, k: &str) -> Result<Option<T>, StoreError> {
        self.opt_s(k).map(parse).transpose()
    }
}

fn invalid(message: impl Into<String>) -> StoreError {
    StoreError::Backend { message: message.into(), transient: false }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn json<T: serde::Serialize>(v: &T) -> String {
    // Invariant: the port types serialise to JSON.
    serde_json::to_string(v).expect("port types serialise to JSON")
}

fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| invalid(format!("unreadable stored JSON: {e}")))
}

fn key_element(name: &str, kind: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(|e| invalid(e.to_string()))
}

fn attr_def(name: &str) -> Result<AttributeDefinition, StoreError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| invalid(e.to_string()))
}

/// A timestamp as fixed-width UTC text (microseconds), so text order is time order.
fn sortable(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// The partition of a tenant's own items (config, owner state, ledger, consent).
fn tenant_pk(t: &TenantRef) -> String {
    format!("TENANT#{}#{}", t.company_id, t.project_id)
}

fn conditional_failed<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
}
