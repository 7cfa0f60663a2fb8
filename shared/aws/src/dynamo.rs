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

use comms_core::domain::TenantRef;
use comms_core::ports::{Booking, Bookings, Claim, Reservation, StoreError, TurnRecord, TurnStep, TurnStore};
use comms_core::tools::schedule::format_time;

/// How long turn records are kept (longer than any redelivery).
const TURN_TTL_SECS: i64 = 14 * 24 * 3600;

/// The single-table store.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    /// A storage error from an SDK call on this store's table; a missing table is named
    /// (DynamoDB's ResourceNotFoundException does not say which), so an operator pointing
    /// at the wrong table (`COMMS_TABLE`, `COMMS_QUEUE_PREFIX`) sees it at once.
    fn err<E: ProvideErrorMetadata + std::fmt::Debug>(&self, e: E) -> StoreError {
        if e.code() == Some("ResourceNotFoundException") {
            return StoreError::Backend {
                message: format!("DynamoDB table {} not found (ResourceNotFoundException)", self.table),
                transient: false,
            };
        }
        backend(e)
    }
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
            .tags(super::sqs::provisioned_tag().map_err(invalid)?)
            .send()
            .await;
        if let Err(e) = created
            && e.code() != Some("ResourceInUseException")
        {
            return Err(store.err(e));
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
            .map_err(|e| self.err(e))?;
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
            Err(e) => return Err(self.err(e)),
        }
        let item = self.turn_item(key).await?.ok_or_else(|| invalid("turn record vanished"))?;
        let step: TurnStep = parse(get_s(&item, "step")?)?;
        let attempts = u32::try_from(get_n(&item, "attempts")?).unwrap_or(u32::MAX);
        if matches!(step, TurnStep::Done { .. }) {
            return Ok(Claim::Done(TurnRecord { key: key.to_owned(), step, attempts }));
        }
        let lease_until = get_n(&item, "lease_until_ms")?;
        if lease_until > now {
            let lease_left = Duration::from_millis(lease_until.saturating_sub(now).unsigned_abs());
            return Ok(Claim::Busy { lease_left });
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
            // Another attempt took it over just now: its lease is a whole one.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                Ok(Claim::Busy { lease_left: lease })
            }
            Err(e) => Err(self.err(e)),
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
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn renew(&self, key: &str, lease: Duration) -> Result<(), StoreError> {
        let renewed = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("TURN#{key}")))
            .key("sk", s("TURN"))
            .update_expression("SET lease_until_ms = :lease")
            // A released lease (0) stays released; an unknown key is not created.
            .condition_expression("attribute_exists(pk) AND lease_until_ms > :zero")
            .expression_attribute_values(":lease", n(now_ms() + lease_ms(lease)))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        match renewed {
            Ok(_) => Ok(()),
            Err(e) if conditional_failed(&e) => Ok(()),
            Err(e) => Err(self.err(e)),
        }
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
            .map_err(|e| self.err(e))?;
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
            Err(e) => return Err(self.err(e)),
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
            .map_err(|e| self.err(e))?;
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
            .map_err(|e| self.err(e))?;
        out.items().iter().map(|i| parse(get_s(i, "booking")?)).collect()
    }
}

fn sortable(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// History entries sort by when they were written (not by the time the caller gave,
/// which two changes may share), then by a random suffix.
fn history_key() -> String {
    format!("STATEHIST#{}#{}", sortable(jiff::Timestamp::now()), uuid::Uuid::new_v4().simple())
}

fn tenant_pk(t: &TenantRef) -> String {
    format!("TENANT#{}#{}", t.company_id, t.project_id)
}

/// The delivery status item of a message `tenant` sent (provider ids come from callers,
/// so the tenant is part of the key).
fn msg_pk(tenant: &TenantRef, provider_id: &str) -> String {
    format!("MSG#{}#{}#{provider_id}", tenant.company_id, tenant.project_id)
}

fn conditional_failed<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
}

impl DynamoStore {
    /// Appends items and updates the conversation header in one transaction. A marker
    /// per item id makes it idempotent: when a retried append finds some items already
    /// stored, the transaction is cancelled with the reasons, and is written again
    /// without them. The header's recency only moves forward: an append older than the
    /// latest activity (a late retry) leaves it.
    async fn append_chunk(
        &self,
        key: &comms_core::ports::ConversationKey,
        items: &[comms_core::ports::ConversationItem],
    ) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        use aws_sdk_dynamodb::types::Update;
        let pk = format!("CONV#{}", key.id);
        let mut pending: Vec<&comms_core::ports::ConversationItem> = items.iter().collect();
        let mut move_recency = true;
        // Each retry drops at least one item or the recency update, so this ends.
        for _ in 0..=items.len() + 1 {
            let Some(last) = pending.iter().map(|i| i.at).max() else { return Ok(()) };
            let last = sortable(last);
            let mut tx = self.client.transact_write_items();
            for item in &pending {
                tx = tx
                    .transact_items(self.put_item_tx(
                        vec![("pk", s(&pk)), ("sk", s(format!("ITEMID#{}", item.item_id)))],
                        Some("attribute_not_exists(pk)"),
                    )?)
                    .transact_items(self.put_item_tx(
                        vec![
                            ("pk", s(&pk)),
                            ("sk", s(format!("ITEM#{}#{}", sortable(item.at), item.item_id))),
                            ("item", s(json(*item))),
                        ],
                        None,
                    )?);
            }
            let mut header = Update::builder()
                .table_name(&self.table)
                .key("pk", s(&pk))
                .key("sk", s("META"))
                .expression_attribute_values(":c", s(&key.tenant.company_id))
                .expression_attribute_values(":p", s(&key.tenant.project_id))
                .expression_attribute_values(":ch", s(key.channel.as_str()))
                .expression_attribute_values(":cu", s(key.customer.as_str()))
                .expression_attribute_values(":open", s("open"))
                .expression_attribute_values(
                    ":g",
                    s(format!("TCONV#{}#{}", key.tenant.company_id, key.tenant.project_id)),
                )
                .expression_attribute_values(":added", n(i64::try_from(pending.len()).unwrap_or(i64::MAX)));
            let set = "SET company_id = :c, project_id = :p, channel = :ch, customer = :cu, \
                       conv_status = if_not_exists(conv_status, :open), gsi1pk = :g";
            header = if move_recency {
                header
                    .update_expression(format!(
                        "{set}, last_activity = :l, gsi1sk = :l ADD item_count :added"
                    ))
                    .condition_expression("attribute_not_exists(last_activity) OR last_activity < :l")
                    .expression_attribute_values(":l", s(&last))
            } else {
                header.update_expression(format!("{set} ADD item_count :added"))
            };
            let header = header.build().map_err(|e| invalid(e.to_string()))?;
            let written = tx.transact_items(TransactWriteItem::builder().update(header).build()).send().await;
            let reasons: Vec<bool> = match written {
                Ok(_) => return Ok(()),
                Err(e) => match e.as_service_error() {
                    Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code() == Some("ConditionalCheckFailed"))
                        .collect(),
                    _ => return Err(self.err(e)),
                },
            };
            // reasons[2i] is item i's marker; the last one is the header.
            if !reasons.iter().any(|&failed| failed) {
                return Err(StoreError::Backend {
                    message: "conversation append cancelled without a condition failure (conflict)".into(),
                    transient: true,
                });
            }
            if reasons.get(pending.len() * 2).copied().unwrap_or(false) {
                move_recency = false;
            }
            let mut i = 0;
            pending.retain(|_| {
                let stored = reasons.get(i * 2).copied().unwrap_or(false);
                i += 1;
                !stored
            });
        }
        Err(invalid("conversation append did not settle"))
    }

    fn put_item_tx(
        &self,
        item: Vec<(&str, AttributeValue)>,
        condition: Option<&str>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut p =
            Put::builder().table_name(&self.table).set_condition_expression(condition.map(str::to_owned));
        for (k, v) in item {
            p = p.item(k, v);
        }
        Ok(TransactWriteItem::builder().put(p.build().map_err(|e| invalid(e.to_string()))?).build())
    }

    async fn get(&self, pk: &str, sk: &str) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.err(e))?;
        Ok(out.item().cloned())
    }

    /// Items of a partition whose sort key starts with `prefix`, newest (highest) first.
    async fn query_desc(
        &self,
        pk: &str,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(prefix))
            .scan_index_forward(false)
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.err(e))?;
        Ok(out.items().to_vec())
    }
}

#[async_trait]
impl comms_core::ports::RequestLog for DynamoStore {
    async fn begin(
        &self,
        key: &str,
        body_hash: &str,
        expires_at: jiff::Timestamp,
    ) -> Result<comms_core::ports::RequestBegin, StoreError> {
        let pk = format!("REQ#{key}");
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&pk))
            .item("sk", s("REQ"))
            .item("body_hash", s(body_hash))
            .item("expires_at", n(expires_at.as_second()))
            // An expired record (TTL deletion is lazy) counts as absent.
            .condition_expression("attribute_not_exists(pk) OR expires_at < :now")
            .expression_attribute_values(":now", n(jiff::Timestamp::now().as_second()))
            .send()
            .await;
        match put {
            Ok(_) => return Ok(comms_core::ports::RequestBegin::New),
            Err(e) if conditional_failed(&e) => {}
            Err(e) => return Err(self.err(e)),
        }
        let item = self.get(&pk, "REQ").await?.ok_or_else(|| invalid("request record vanished"))?;
        let response = item.get("response").and_then(|v| v.as_s().ok()).map(|r| parse(r)).transpose()?;
        Ok(comms_core::ports::RequestBegin::Existing {
            body_hash: get_s(&item, "body_hash")?.clone(),
            response,
        })
    }

    async fn complete(&self, key: &str, response: &serde_json::Value) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("REQ#{key}")))
            .key("sk", s("REQ"))
            .update_expression("SET #r = :r")
            .expression_attribute_names("#r", "response")
            .expression_attribute_values(":r", s(response.to_string()))
            .send()
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}

#[async_trait]
impl comms_core::ports::DeliveryStatusStore for DynamoStore {
    async fn record_status(
        &self,
        tenant: &TenantRef,
        provider_id: &str,
        status: &str,
        error_code: Option<&str>,
        at: jiff::Timestamp,
    ) -> Result<bool, StoreError> {
        let rank = i64::from(comms_core::twilio::status_rank(status));
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(msg_pk(tenant, provider_id)))
            .item("sk", s("STATUS"))
            .item("msg_status", s(status))
            .item("status_rank", n(rank))
            .item("updated_at", s(sortable(at)))
            .condition_expression("attribute_not_exists(pk) OR status_rank <= :rank")
            .expression_attribute_values(":rank", n(rank));
        if let Some(code) = error_code {
            put = put.item("error_code", s(code));
        }
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) if conditional_failed(&e) => Ok(false),
            Err(e) => Err(self.err(e)),
        }
    }

    async fn status(
        &self,
        tenant: &TenantRef,
        provider_id: &str,
    ) -> Result<Option<(String, Option<String>)>, StoreError> {
        let Some(item) = self.get(&msg_pk(tenant, provider_id), "STATUS").await? else { return Ok(None) };
        let code = item.get("error_code").and_then(|v| v.as_s().ok()).cloned();
        Ok(Some((get_s(&item, "msg_status")?.clone(), code)))
    }
}

#[async_trait]
impl comms_core::ports::OwnerStateStore for DynamoStore {
    async fn get(&self, tenant: &TenantRef) -> Result<Option<comms_core::domain::OwnerState>, StoreError> {
        let item = DynamoStore::get(self, &tenant_pk(tenant), "STATE").await?;
        item.map(|i| parse(get_s(&i, "state")?)).transpose()
    }

    async fn set(
        &self,
        tenant: &TenantRef,
        state: &comms_core::domain::OwnerState,
    ) -> Result<(), StoreError> {
        let pk = tenant_pk(tenant);
        let hist = format!("STATEHIST#{}#{}", sortable(state.updated_at), uuid::Uuid::new_v4().simple());
        self.client
            .transact_write_items()
            .transact_items(
                self.put_item_tx(vec![("pk", s(&pk)), ("sk", s("STATE")), ("state", s(json(state)))], None)?,
            )
            .transact_items(
                self.put_item_tx(vec![("pk", s(&pk)), ("sk", s(hist)), ("state", s(json(state)))], None)?,
            )
            .send()
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn clear(&self, tenant: &TenantRef, at: jiff::Timestamp) -> Result<(), StoreError> {
        let pk = tenant_pk(tenant);
        let delete = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&self.table)
            .key("pk", s(&pk))
            .key("sk", s("STATE"))
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        self.client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().delete(delete).build())
            .transact_items(
                self.put_item_tx(
                    vec![("pk", s(&pk)), ("sk", s(history_key())), ("at", s(sortable(at)))],
                    None,
                )?,
            )
            .send()
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn history(
        &self,
        tenant: &TenantRef,
        limit: usize,
    ) -> Result<Vec<(jiff::Timestamp, Option<comms_core::domain::OwnerState>)>, StoreError> {
        let items = self.query_desc(&tenant_pk(tenant), "STATEHIST#", limit).await?;
        items
            .iter()
            .map(|i| {
                let sk = get_s(i, "sk")?;
                let at = sk
                    .split('#')
                    .nth(1)
                    .and_then(|t| t.parse().ok())
                    .ok_or_else(|| invalid("bad history key"))?;
                let state = i.get("state").and_then(|v| v.as_s().ok()).map(|t| parse(t)).transpose()?;
                Ok((at, state))
            })
            .collect()
    }
}

#[async_trait]
impl comms_core::ports::Ledger for DynamoStore {
    async fn record(&self, entry: &comms_core::ports::LedgerEntry) -> Result<(), StoreError> {
        // Sorted by write time, like the history: entries given one instant keep their order.
        let sk = format!("LEDGER#{}#{}", sortable(jiff::Timestamp::now()), uuid::Uuid::new_v4().simple());
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(tenant_pk(&entry.tenant)))
            .item("sk", s(sk))
            .item("entry", s(json(entry)))
            .send()
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn entries(
        &self,
        tenant: &TenantRef,
        limit: usize,
    ) -> Result<Vec<comms_core::ports::LedgerEntry>, StoreError> {
        let items = self.query_desc(&tenant_pk(tenant), "LEDGER#", limit).await?;
        items.iter().map(|i| parse(get_s(i, "entry")?)).collect()
    }
}

#[async_trait]
impl comms_core::ports::ConsentStore for DynamoStore {
    async fn record(
        &self,
        tenant: &TenantRef,
        customer: &comms_core::domain::PhoneNumber,
        action: comms_core::ports::ConsentAction,
        keyword: &str,
        at: jiff::Timestamp,
    ) -> Result<(), StoreError> {
        use comms_core::ports::ConsentAction;
        let pk = tenant_pk(tenant);
        let log_sk = format!("CONSENTLOG#{customer}#{}#{}", sortable(at), uuid::Uuid::new_v4().simple());
        let mut tx = self.client.transact_write_items().transact_items(self.put_item_tx(
            vec![("pk", s(&pk)), ("sk", s(log_sk)), ("action", s(action.as_str())), ("keyword", s(keyword))],
            None,
        )?);
        let opted_out = match action {
            ConsentAction::OptOut => Some(true),
            ConsentAction::OptIn => Some(false),
            ConsentAction::Help => None,
        };
        if let Some(out) = opted_out {
            tx = tx.transact_items(self.put_item_tx(
                vec![
                    ("pk", s(&pk)),
                    ("sk", s(format!("CONSENT#{customer}"))),
                    ("opted_out", AttributeValue::Bool(out)),
                    ("updated_at", s(sortable(at))),
                ],
                None,
            )?);
        }
        tx.send().await.map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn is_opted_out(
        &self,
        tenant: &TenantRef,
        customer: &comms_core::domain::PhoneNumber,
    ) -> Result<bool, StoreError> {
        let item = self.get(&tenant_pk(tenant), &format!("CONSENT#{customer}")).await?;
        Ok(item.and_then(|i| i.get("opted_out").and_then(|v| v.as_bool().ok()).copied()).unwrap_or(false))
    }
}

#[async_trait]
impl comms_core::ports::TenantDirectory for DynamoStore {
    async fn put(&self, config: &comms_core::domain::tenant::TenantConfig) -> Result<(), StoreError> {
        let t = &config.tenant;
        let pk = tenant_pk(t);
        let previous = DynamoStore::get(self, &pk, "CONFIG").await?;
        let previous: Option<comms_core::domain::tenant::TenantConfig> = previous
            .map(|i| {
                comms_core::domain::tenant::TenantConfig::from_json(get_s(&i, "config")?)
                    .map_err(|e| invalid(e.to_string()))
            })
            .transpose()?;
        let mut tx = self.client.transact_write_items().transact_items(self.put_item_tx(
            vec![("pk", s(&pk)), ("sk", s("CONFIG")), ("config", s(config.to_json_pretty()))],
            None,
        )?);
        let route = |c: comms_core::domain::Channel, num: &comms_core::domain::PhoneNumber| {
            format!("NUMBER#{c}#{num}")
        };
        for (channel, numbers) in &config.numbers {
            for number in numbers {
                let mut p = Put::builder()
                    .table_name(&self.table)
                    .item("pk", s(route(*channel, number)))
                    .item("sk", s("ROUTE"))
                    .item("company_id", s(&t.company_id))
                    .item("project_id", s(&t.project_id))
                    .condition_expression(
                        "attribute_not_exists(pk) OR (company_id = :c AND project_id = :p)",
                    );
                p = p
                    .expression_attribute_values(":c", s(&t.company_id))
                    .expression_attribute_values(":p", s(&t.project_id));
                tx = tx.transact_items(
                    TransactWriteItem::builder().put(p.build().map_err(|e| invalid(e.to_string()))?).build(),
                );
            }
        }
        // Numbers the tenant no longer has are released.
        for (channel, numbers) in previous.iter().flat_map(|p| p.numbers.iter()) {
            for number in
                numbers.iter().filter(|n| !config.numbers.get(channel).is_some_and(|l| l.contains(n)))
            {
                let delete = aws_sdk_dynamodb::types::Delete::builder()
                    .table_name(&self.table)
                    .key("pk", s(route(*channel, number)))
                    .key("sk", s("ROUTE"))
                    .build()
                    .map_err(|e| invalid(e.to_string()))?;
                tx = tx.transact_items(TransactWriteItem::builder().delete(delete).build());
            }
        }
        match tx.send().await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("TransactionCanceledException") => {
                Err(StoreError::Conflict("a number already routes to another tenant".into()))
            }
            Err(e) => Err(self.err(e)),
        }
    }

    async fn get(
        &self,
        tenant: &TenantRef,
    ) -> Result<Option<comms_core::domain::tenant::TenantConfig>, StoreError> {
        let item = DynamoStore::get(self, &tenant_pk(tenant), "CONFIG").await?;
        item.map(|i| {
            comms_core::domain::tenant::TenantConfig::from_json(get_s(&i, "config")?)
                .map_err(|e| invalid(e.to_string()))
        })
        .transpose()
    }

    async fn by_number(
        &self,
        channel: comms_core::domain::Channel,
        number: &comms_core::domain::PhoneNumber,
    ) -> Result<Option<comms_core::domain::tenant::TenantConfig>, StoreError> {
        let Some(route) = DynamoStore::get(self, &format!("NUMBER#{channel}#{number}"), "ROUTE").await?
        else {
            return Ok(None);
        };
        let tenant = TenantRef {
            company_id: get_s(&route, "company_id")?.clone(),
            project_id: get_s(&route, "project_id")?.clone(),
        };
        comms_core::ports::TenantDirectory::get(self, &tenant).await
    }
}

fn summary(
    item: &HashMap<String, AttributeValue>,
) -> Result<comms_core::ports::ConversationSummary, StoreError> {
    let id = get_s(item, "pk")?.trim_start_matches("CONV#").to_owned();
    Ok(comms_core::ports::ConversationSummary {
        conversation_id: comms_core::domain::ConversationId::from_stored(id),
        tenant: TenantRef {
            company_id: get_s(item, "company_id")?.clone(),
            project_id: get_s(item, "project_id")?.clone(),
        },
        channel: get_s(item, "channel")?
            .parse()
            .map_err(|e: comms_core::domain::ChannelParseError| invalid(e.to_string()))?,
        customer: comms_core::domain::PhoneNumber::parse(get_s(item, "customer")?)
            .map_err(|e| invalid(e.to_string()))?,
        status: get_s(item, "conv_status")?.clone(),
        last_activity: get_s(item, "last_activity")?
            .parse()
            .map_err(|e: jiff::Error| invalid(e.to_string()))?,
        item_count: u64::try_from(get_n(item, "item_count")?).unwrap_or(0),
    })
}

#[async_trait]
impl comms_core::ports::ConversationLog for DynamoStore {
    async fn append(
        &self,
        key: &comms_core::ports::ConversationKey,
        items: &[comms_core::ports::ConversationItem],
    ) -> Result<(), StoreError> {
        // Each transaction writes up to 49 items (a marker and the item each) and the
        // conversation header: 99 of DynamoDB's 100 actions.
        for chunk in items.chunks(49) {
            self.append_chunk(key, chunk).await?;
        }
        Ok(())
    }

    async fn recent(
        &self,
        id: &comms_core::domain::ConversationId,
        n: usize,
    ) -> Result<Vec<comms_core::ports::ConversationItem>, StoreError> {
        let mut items: Vec<comms_core::ports::ConversationItem> = self
            .query_desc(&format!("CONV#{id}"), "ITEM#", n)
            .await?
            .iter()
            .map(|i| parse(get_s(i, "item")?))
            .collect::<Result<_, _>>()?;
        items.reverse();
        Ok(items)
    }

    async fn list(
        &self,
        tenant: Option<&TenantRef>,
        limit: usize,
    ) -> Result<Vec<comms_core::ports::ConversationSummary>, StoreError> {
        let limit_i32 = i32::try_from(limit.max(1)).unwrap_or(i32::MAX);
        let items = match tenant {
            Some(t) => self
                .client
                .query()
                .table_name(&self.table)
                .index_name("gsi1")
                .key_condition_expression("gsi1pk = :g")
                .expression_attribute_values(":g", s(format!("TCONV#{}#{}", t.company_id, t.project_id)))
                .scan_index_forward(false)
                .limit(limit_i32)
                .send()
                .await
                .map_err(|e| self.err(e))?
                .items()
                .to_vec(),
            // Every tenant: an operator's listing, not a hot path; a scan of headers.
            None => self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("sk = :meta")
                .expression_attribute_values(":meta", s("META"))
                .send()
                .await
                .map_err(|e| self.err(e))?
                .items()
                .to_vec(),
        };
        let mut out: Vec<_> = items.iter().map(summary).collect::<Result<_, _>>()?;
        out.sort_by_key(|c| std::cmp::Reverse(c.last_activity));
        out.truncate(limit);
        Ok(out)
    }

    async fn get(
        &self,
        id: &comms_core::domain::ConversationId,
    ) -> Result<Option<comms_core::ports::ConversationSummary>, StoreError> {
        DynamoStore::get(self, &format!("CONV#{id}"), "META").await?.map(|i| summary(&i)).transpose()
    }
}
