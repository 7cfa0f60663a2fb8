//! Usage totals on DynamoDB: `USAGE#{company}#{project}` / `MONTH#{YYYY-MM}#{channel}#{shard}`,
//! one counter attribute per total, added to with `ADD` inside the turn journal's own
//! step transaction ([`usage_update`]): no call of its own. A tenant's turns spread over
//! [`SHARDS`] items per month and channel (by conversation), so concurrent turns of one
//! busy tenant seldom touch the same item in two transactions at once (DynamoDB cancels
//! one of them: a `TransactionConflict`, retried by the journal). A month is one Query
//! (every channel and shard, and the budget notification mark `MONTH#{YYYY-MM}#NOTIFIED`).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};

use comms_core::domain::{Channel, ChannelParseError, ConversationId, TenantRef};
use comms_core::ports::{MonthUsage, StoreError, UsageLedger, UsageRow, UsageTotals, usage_month};

use super::{Attrs, DynamoStore, Item, Key, conditional_failed, invalid, n, s, sortable};

/// Counter items per tenant, month and channel.
const SHARDS: u32 = 4;

/// Sort key of the month's budget notification mark.
const NOTIFIED: &str = "NOTIFIED";

fn usage_pk(t: &TenantRef) -> String {
    format!("USAGE#{}#{}", t.company_id, t.project_id)
}

/// Which of its tenant's counter items a conversation adds to (stable per conversation).
fn shard(id: &ConversationId) -> u32 {
    id.as_str().bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b))) % SHARDS
}

/// The transaction action adding `totals` to the current month of `tenant` on `channel`
/// (`None`: nothing to add).
pub(super) fn usage_update(
    table: &str,
    tenant: &TenantRef,
    channel: Channel,
    conversation: &ConversationId,
    totals: &UsageTotals,
) -> Result<Option<TransactWriteItem>, StoreError> {
    if totals.is_zero() {
        return Ok(None);
    }
    let month = usage_month(jiff::Timestamp::now());
    let sk = format!("MONTH#{month}#{channel}#{}", shard(conversation));
    let mut u = Update::builder()
        .table_name(table)
        .set_key(Some(Key::new(usage_pk(tenant), sk).to_item()))
        .expression_attribute_values(":uc", s(&tenant.company_id))
        .expression_attribute_values(":up", s(&tenant.project_id))
        .expression_attribute_values(":um", s(&month))
        .expression_attribute_values(":uch", s(channel.as_str()));
    let mut adds = Vec::new();
    for (i, (name, value)) in totals.counters().into_iter().enumerate().filter(|(_, (_, v))| *v > 0) {
        adds.push(format!("#u{i} :u{i}"));
        u = u
            .expression_attribute_names(format!("#u{i}"), name)
            .expression_attribute_values(format!(":u{i}"), n(i64::try_from(value).unwrap_or(i64::MAX)));
    }
    let expr = format!(
        "SET company_id = :uc, project_id = :up, usage_month = :um, channel = :uch ADD {}",
        adds.join(", ")
    );
    let update = u.update_expression(expr).build().map_err(|e| invalid(e.to_string()))?;
    Ok(Some(TransactWriteItem::builder().update(update).build()))
}

/// A counter item as a report row (`None`: the notification mark).
fn read_row(item: &Item) -> Result<Option<UsageRow>, StoreError> {
    let a = Attrs(item);
    if a.s("sk")?.ends_with(NOTIFIED) {
        return Ok(None);
    }
    let channel = a.s("channel")?.parse().map_err(|e: ChannelParseError| invalid(e.to_string()))?;
    let totals = UsageTotals::from_counters(|name| u64::try_from(a.n(name).unwrap_or(0)).unwrap_or(0));
    Ok(Some(UsageRow {
        tenant: TenantRef {
            company_id: a.s("company_id")?.to_owned(),
            project_id: a.s("project_id")?.to_owned(),
        },
        month: a.s("usage_month")?.to_owned(),
        channel,
        totals,
    }))
}

/// Rows merged per tenant, month and channel (the shards summed), in that order.
fn merged(items: &[Item]) -> Result<Vec<UsageRow>, StoreError> {
    let mut rows: Vec<UsageRow> = Vec::new();
    for row in items.iter().map(read_row).collect::<Result<Vec<_>, _>>()?.into_iter().flatten() {
        match rows
            .iter_mut()
            .find(|r| r.tenant == row.tenant && r.month == row.month && r.channel == row.channel)
        {
            Some(r) => r.totals += row.totals,
            None => rows.push(row),
        }
    }
    rows.sort_by(|a, b| {
        let key = |r: &UsageRow| (r.tenant.to_string(), r.month.clone(), r.channel.as_str());
        key(a).cmp(&key(b))
    });
    Ok(rows)
}

impl DynamoStore {
    /// A tenant's usage items whose sort key is between `from` and `to`.
    async fn usage_items(
        &self,
        tenant: &TenantRef,
        from: String,
        to: String,
    ) -> Result<Vec<Item>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(usage_pk(tenant)))
            .expression_attribute_values(":from", s(from))
            .expression_attribute_values(":to", s(to));
        self.query_pages(query, None).await
    }
}

#[async_trait]
impl UsageLedger for DynamoStore {
    async fn month(&self, tenant: &TenantRef, month: &str) -> Result<MonthUsage, StoreError> {
        let items = self.usage_items(tenant, format!("MONTH#{month}#"), format!("MONTH#{month}#~")).await?;
        let mut usage = MonthUsage::default();
        for row in merged(&items)? {
            usage.totals += row.totals;
        }
        usage.budget_notified =
            items.iter().any(|i| Attrs(i).opt_s("sk").is_some_and(|k| k.ends_with(NOTIFIED)));
        Ok(usage)
    }

    async fn report(&self, tenant: Option<&TenantRef>, since: &str) -> Result<Vec<UsageRow>, StoreError> {
        let items = match tenant {
            Some(t) => self.usage_items(t, format!("MONTH#{since}"), "MONTH#~".to_owned()).await?,
            // Every tenant's: a scan of the table (an operator's report, not a turn's path).
            None => {
                let scan = self
                    .client
                    .scan()
                    .table_name(&self.table)
                    .filter_expression("begins_with(pk, :usage) AND usage_month >= :since")
                    .expression_attribute_values(":usage", s("USAGE#"))
                    .expression_attribute_values(":since", s(since));
                self.scan_pages(scan).await?
            }
        };
        merged(&items)
    }

    async fn mark_budget_notified(&self, tenant: &TenantRef, month: &str) -> Result<bool, StoreError> {
        let item = Key::new(usage_pk(tenant), format!("MONTH#{month}#{NOTIFIED}"))
            .with([("at", s(sortable(jiff::Timestamp::now()))), ("usage_month", s(month))]);
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(conditional_failed) => Ok(false),
            Err(e) => Err(self.err(e)),
        }
    }
}
