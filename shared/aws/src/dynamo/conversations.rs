//! The conversation log: a header per conversation (tenant, channel, customer, recency,
//! listed through `gsi1`), an item per message, tool call or reply, and a marker per
//! item id that makes appends idempotent.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::transact_write_items::builders::TransactWriteItemsFluentBuilder;
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;

use comms_core::domain::{Address, ChannelParseError, ConversationId, TenantRef};
use comms_core::ports::{
    ConversationItem, ConversationKey, ConversationLog, ConversationSummary, StoreError,
};

use super::{Attrs, DynamoStore, Item, Key, invalid, json, n, s, sortable};

pub(super) fn conv_pk(id: &ConversationId) -> String {
    format!("CONV#{id}")
}

/// A conversation's partition on the tenant's recency index.
pub(super) fn tenant_gsi1pk(t: &TenantRef) -> String {
    format!("TCONV#{}#{}", t.company_id, t.project_id)
}

/// The conversation header: `CONV#{id}` / `META`.
pub(super) struct HeaderItem(pub(super) ConversationSummary);

impl TryFrom<&Item> for HeaderItem {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        let a = Attrs(item);
        let id = a.s("pk")?.trim_start_matches("CONV#").to_owned();
        Ok(HeaderItem(ConversationSummary {
            conversation_id: ConversationId::from_stored(id),
            tenant: TenantRef {
                company_id: a.s("company_id")?.to_owned(),
                project_id: a.s("project_id")?.to_owned(),
            },
            channel: a.s("channel")?.parse().map_err(|e: ChannelParseError| invalid(e.to_string()))?,
            customer: Address::parse(a.s("customer")?).map_err(|e| invalid(e.to_string()))?,
            status: a.s("conv_status")?.to_owned(),
            last_activity: a.s("last_activity")?.parse().map_err(|e: jiff::Error| invalid(e.to_string()))?,
            item_count: u64::try_from(a.n("item_count")?).unwrap_or(0),
            takeover_until: item
                .get("takeover_until")
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse().ok())
                .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok()),
        }))
    }
}

/// A conversation item: `CONV#{id}` / `ITEM#{at}#{item_id}`, the item as JSON.
pub(super) struct LogItem<'a> {
    pub(super) id: &'a ConversationId,
    pub(super) item: &'a ConversationItem,
}

impl From<LogItem<'_>> for Item {
    fn from(l: LogItem<'_>) -> Item {
        let sk = format!("ITEM#{}#{}", sortable(l.item.at), l.item.item_id);
        Key::new(conv_pk(l.id), sk).with([("item", s(json(l.item)))])
    }
}

fn read_item(item: &Item) -> Result<ConversationItem, StoreError> {
    Attrs(item).json("item")
}

/// An item's marker: `CONV#{id}` / `ITEMID#{item_id}`, no attributes.
pub(super) struct MarkerItem<'a> {
    pub(super) id: &'a ConversationId,
    pub(super) item: &'a ConversationItem,
}

impl From<MarkerItem<'_>> for Item {
    fn from(m: MarkerItem<'_>) -> Item {
        Key::new(conv_pk(m.id), format!("ITEMID#{}", m.item.item_id)).to_item()
    }
}

/// For a cancelled transaction, which actions' conditions failed (in order); `None`
/// for any other error.
fn failed_conditions(e: &SdkError<TransactWriteItemsError, HttpResponse>) -> Option<Vec<bool>> {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => Some(
            c.cancellation_reasons().iter().map(|r| r.code() == Some("ConditionalCheckFailed")).collect(),
        ),
        _ => None,
    }
}

impl DynamoStore {
    /// The header update of an append of `added` items: tenant, channel and customer set,
    /// the status opened if new, and the recency moved to `last` (only forward) if given.
    fn header_update(
        &self,
        key: &ConversationKey,
        added: usize,
        last: Option<&str>,
    ) -> Result<TransactWriteItem, StoreError> {
        let header = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Key::new(conv_pk(&key.id), "META").to_item()))
            .expression_attribute_values(":c", s(&key.tenant.company_id))
            .expression_attribute_values(":p", s(&key.tenant.project_id))
            .expression_attribute_values(":ch", s(key.channel.as_str()))
            .expression_attribute_values(":cu", s(key.customer.as_str()))
            .expression_attribute_values(":open", s("open"))
            .expression_attribute_values(":g", s(tenant_gsi1pk(&key.tenant)))
            .expression_attribute_values(":added", n(i64::try_from(added).unwrap_or(i64::MAX)));
        let set = "SET company_id = :c, project_id = :p, channel = :ch, customer = :cu, \
                   conv_status = if_not_exists(conv_status, :open), gsi1pk = :g";
        let header = match last {
            Some(last) => header
                .update_expression(format!("{set}, last_activity = :l, gsi1sk = :l ADD item_count :added"))
                .condition_expression("attribute_not_exists(last_activity) OR last_activity < :l")
                .expression_attribute_values(":l", s(last)),
            None => header.update_expression(format!("{set} ADD item_count :added")),
        };
        let header = header.build().map_err(|e| invalid(e.to_string()))?;
        Ok(TransactWriteItem::builder().update(header).build())
    }

    /// One append transaction: a marker (on condition: absent) and the item per pending
    /// item, then the header.
    fn append_tx(
        &self,
        key: &ConversationKey,
        pending: &[&ConversationItem],
        move_recency: bool,
    ) -> Result<TransactWriteItemsFluentBuilder, StoreError> {
        let last = pending.iter().map(|i| i.at).max().map(sortable);
        let mut tx = self.client.transact_write_items();
        for &item in pending {
            let marker = MarkerItem { id: &key.id, item };
            tx = tx
                .transact_items(self.put_tx(marker.into(), Some("attribute_not_exists(pk)"))?)
                .transact_items(self.put_tx(LogItem { id: &key.id, item }.into(), None)?);
        }
        let last = last.filter(|_| move_recency);
        Ok(tx.transact_items(self.header_update(key, pending.len(), last.as_deref())?))
    }

    /// Appends items and updates the conversation header in one transaction. A marker
    /// per item id makes it idempotent: when a retried append finds some items already
    /// stored, the transaction is cancelled with the reasons, and is written again
    /// without them. The header's recency only moves forward: an append older than the
    /// latest activity (a late retry) leaves it.
    async fn append_chunk(
        &self,
        key: &ConversationKey,
        items: &[ConversationItem],
    ) -> Result<(), StoreError> {
        let mut pending: Vec<&ConversationItem> = items.iter().collect();
        let mut move_recency = true;
        // Each retry drops at least one item or the recency update, so this ends.
        for _ in 0..=items.len() + 1 {
            if pending.is_empty() {
                return Ok(());
            }
            let written = self.append_tx(key, &pending, move_recency)?.send().await;
            // reasons[2i] is item i's marker; the last one is the header.
            let reasons = match written {
                Ok(_) => return Ok(()),
                Err(e) => failed_conditions(&e).ok_or_else(|| self.err(e))?,
            };
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
}

#[async_trait]
impl ConversationLog for DynamoStore {
    async fn append(&self, key: &ConversationKey, items: &[ConversationItem]) -> Result<(), StoreError> {
        // Each transaction writes up to 49 items (a marker and the item each) and the
        // conversation header: 99 of DynamoDB's 100 actions.
        for chunk in items.chunks(49) {
            self.append_chunk(key, chunk).await?;
        }
        Ok(())
    }

    async fn recent(&self, id: &ConversationId, n: usize) -> Result<Vec<ConversationItem>, StoreError> {
        let items = self.query_desc(&conv_pk(id), "ITEM#", n).await?;
        let mut items: Vec<ConversationItem> = items.iter().map(read_item).collect::<Result<_, _>>()?;
        items.reverse();
        Ok(items)
    }

    async fn list(
        &self,
        tenant: Option<&TenantRef>,
        limit: usize,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        let items = self.headers(tenant, Some(limit)).await?;
        let mut out: Vec<_> =
            items.iter().map(|i| HeaderItem::try_from(i).map(|h| h.0)).collect::<Result<_, _>>()?;
        out.sort_by_key(|c| std::cmp::Reverse(c.last_activity));
        out.truncate(limit);
        Ok(out)
    }

    async fn get(&self, id: &ConversationId) -> Result<Option<ConversationSummary>, StoreError> {
        let header: Option<HeaderItem> = self.get_as(&Key::new(conv_pk(id), "META")).await?;
        Ok(header.map(|HeaderItem(summary)| summary))
    }

    async fn set_takeover(
        &self,
        tenant: &TenantRef,
        id: &ConversationId,
        until: Option<jiff::Timestamp>,
    ) -> Result<bool, StoreError> {
        self.write_takeover(tenant, id, until).await
    }

    async fn search(
        &self,
        tenant: Option<&TenantRef>,
        query: &str,
        limit: usize,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        if query.trim().is_empty() {
            return self.list(tenant, limit).await;
        }
        self.search_headers(tenant, query, limit).await
    }
}
