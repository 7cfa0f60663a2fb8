//! Storage ports on DynamoDB, one table (`docs/data-model.md`). Implemented so far: turn
//! records and slot reservations, the two that decide "exactly once".

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    Projection, ProjectionType, Put, ScalarAttributeType, TransactWriteItem,
};

use crate::domain::TenantRef;
use crate::ports::{Booking, Bookings, Claim, Reservation, StoreError, TurnRecord, TurnStep, TurnStore};
use crate::tools::schedule::format_time;

/// How long turn records are kept (longer than any redelivery).
const TURN_TTL_SECS: i64 = 14 * 24 * 3600;

/// The single-table store.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

fn backend<E: ProvideErrorMetadata + std::fmt::Debug>(e: E) -> StoreError {
    let code = e.code().unwrap_or("");
    let transient = code.is_empty()
        || code.contains("Throttl")
        || code == "ProvisionedThroughputExceededException"
        || code == "RequestLimitExceeded"
        || code == "InternalServerError"
        || code == "TransactionConflictException";
    StoreError::Backend { message: format!("{code} {}", e.message().unwrap_or(&format!("{e:?}"))), transient }
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

fn get_s<'a>(item: &'a HashMap<String, AttributeValue>, k: &str) -> Result<&'a String, StoreError> {
    item.get(k).and_then(|v| v.as_s().ok()).ok_or_else(|| invalid(format!("item without string '{k}'")))
}

fn get_n(item: &HashMap<String, AttributeValue>, k: &str) -> Result<i64, StoreError> {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| invalid(format!("item without number '{k}'")))
}

fn json<T: serde::Serialize>(v: &T) -> String {
    // Invariant: the port types serialise to JSON.
    serde_json::to_string(v).expect("port types serialise to JSON")
}

fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| invalid(format!("unreadable stored JSON: {e}")))
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn lease_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
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

fn slot_pk(tenant: &TenantRef, date: jiff::civil::Date) -> String {
    format!("SLOTS#{}#{}#{date}", tenant.company_id, tenant.project_id)
}

impl DynamoStore {
    /// The store on an existing table.
    pub fn new(config: &aws_config::SdkConfig, table: &str) -> Self {
        Self { client: Client::new(config), table: table.to_owned() }
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
            .send()
            .await;
        if let Err(e) = created
            && e.code() != Some("ResourceInUseException")
        {
            return Err(backend(e));
        }
        Ok(store)
    }

    async fn turn_item(&self, key: &str) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(format!("TURN#{key}")))
            .key("sk", s("TURN"))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        Ok(out.item().cloned())
    }
}

#[async_trait]
impl TurnStore for DynamoStore {
    async fn claim(&self, key: &str, lease: Duration) -> Result<Claim, StoreError> {
        let now = now_ms();
        let expires = jiff::Timestamp::now().as_second() + TURN_TTL_SECS;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("TURN#{key}")))
            .item("sk", s("TURN"))
            .item("step", s(json(&TurnStep::Started)))
            .item("attempts", n(1))
            .item("lease_until_ms", n(now + lease_ms(lease)))
            .item("expires_at", n(expires))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => {
                return Ok(Claim::Acquired(TurnRecord {
                    key: key.to_owned(),
                    step: TurnStep::Started,
                    attempts: 1,
                }));
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {}
            Err(e) => return Err(backend(e)),
        }
        let item = self.turn_item(key).await?.ok_or_else(|| invalid("turn record vanished"))?;
        let step: TurnStep = parse(get_s(&item, "step")?)?;
        let attempts = u32::try_from(get_n(&item, "attempts")?).unwrap_or(u32::MAX);
        if matches!(step, TurnStep::Done { .. }) {
            return Ok(Claim::Done(TurnRecord { key: key.to_owned(), step, attempts }));
        }
        let lease_until = get_n(&item, "lease_until_ms")?;
        if lease_until > now {
            return Ok(Claim::Busy);
        }
        // Take over an expired lease, conditionally on it still being that lease.
        let taken = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("TURN#{key}")))
            .key("sk", s("TURN"))
            .update_expression("SET attempts = attempts + :one, lease_until_ms = :lease")
            .condition_expression("lease_until_ms = :old")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":lease", n(now + lease_ms(lease)))
            .expression_attribute_values(":old", n(lease_until))
            .send()
            .await;
        match taken {
            Ok(_) => Ok(Claim::Acquired(TurnRecord { key: key.to_owned(), step, attempts: attempts + 1 })),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                Ok(Claim::Busy)
            }
            Err(e) => Err(backend(e)),
        }
    }

    async fn advance(&self, key: &str, step: &TurnStep, lease: Duration) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("TURN#{key}")))
            .key("sk", s("TURN"))
            .update_expression("SET step = :step, lease_until_ms = :lease")
            .expression_attribute_values(":step", s(json(step)))
            .expression_attribute_values(":lease", n(now_ms() + lease_ms(lease)))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("TURN#{key}")))
            .key("sk", s("TURN"))
            .update_expression("SET lease_until_ms = :zero")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":zero", n(0))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl Bookings for DynamoStore {
    async fn reserve(&self, booking: &Booking) -> Result<Reservation, StoreError> {
        let pk = slot_pk(&booking.tenant, booking.date);
        let sk = format_time(booking.time);
        let body = json(booking);
        let put =
            |item: Vec<(&str, AttributeValue)>, condition: &str| -> Result<TransactWriteItem, StoreError> {
                let mut p = Put::builder().table_name(&self.table).condition_expression(condition);
                for (k, v) in item {
                    p = p.item(k, v);
                }
                Ok(TransactWriteItem::builder().put(p.build().map_err(|e| invalid(e.to_string()))?).build())
            };
        // The slot and its lead in one transaction: both or neither.
        let written = self
            .client
            .transact_write_items()
            .transact_items(put(
                vec![
                    ("pk", s(&pk)),
                    ("sk", s(&sk)),
                    ("booking", s(&body)),
                    ("phone", s(booking.phone.as_str())),
                ],
                "attribute_not_exists(pk)",
            )?)
            .transact_items(put(
                vec![
                    ("pk", s(format!("LEAD#{}", booking.lead_id))),
                    ("sk", s("LEAD")),
                    ("booking", s(&body)),
                ],
                "attribute_not_exists(pk)",
            )?)
            .send()
            .await;
        match written {
            Ok(_) => return Ok(Reservation::Created(booking.clone())),
            Err(e) if e.code() == Some("TransactionCanceledException") => {}
            Err(e) => return Err(backend(e)),
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(&pk))
            .key("sk", s(&sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        let Some(item) = out.item() else {
            // Cancelled for another reason (a conflicting transaction): retry later.
            return Err(StoreError::Backend {
                message: "reservation conflicted; retry".into(),
                transient: true,
            });
        };
        let existing: Booking = parse(get_s(item, "booking")?)?;
        Ok(if existing.phone == booking.phone {
            Reservation::AlreadyYours(existing)
        } else {
            Reservation::Taken
        })
    }

    async fn on_date(&self, tenant: &TenantRef, date: jiff::civil::Date) -> Result<Vec<Booking>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(slot_pk(tenant, date)))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        out.items().iter().map(|i| parse(get_s(i, "booking")?)).collect()
    }
}
