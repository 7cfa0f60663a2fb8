//! Consent: the opt-out per (tenant, customer address), with the keyword log that drove it.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

use comms_core::domain::{Address, Channel, ConversationId, TenantRef};
use comms_core::ports::{ConsentAction, ConsentStore, StoreError};

use super::conversations::{conv_pk, tenant_gsi1pk};
use super::{Attrs, DynamoStore, Item, Key, invalid, s, sortable, tenant_pk};

fn consent_key(tenant: &TenantRef, customer: &Address) -> Key {
    Key::new(tenant_pk(tenant), format!("CONSENT#{customer}"))
}

/// A consent item: `TENANT#{company}#{project}` / `CONSENT#{address}` (an E.164 number or an email address). An item without
/// the flag does not opt out.
struct ConsentItem {
    key: Key,
    opted_out: bool,
    updated_at: jiff::Timestamp,
}

impl TryFrom<&Item> for ConsentItem {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        let a = Attrs(item);
        Ok(Self {
            key: Key::of(item)?,
            opted_out: a.opt_bool("opted_out").unwrap_or(false),
            updated_at: a.opt_s("updated_at").and_then(|t| t.parse().ok()).unwrap_or_default(),
        })
    }
}

impl From<&ConsentItem> for Item {
    fn from(c: &ConsentItem) -> Item {
        c.key.with([
            ("opted_out", AttributeValue::Bool(c.opted_out)),
            ("updated_at", s(sortable(c.updated_at))),
        ])
    }
}

/// A consent log item: `TENANT#{company}#{project}` / `CONSENTLOG#{e164}#{at}#{uuid}`.
struct ConsentLogItem<'a> {
    tenant: &'a TenantRef,
    customer: &'a Address,
    action: ConsentAction,
    keyword: &'a str,
    at: jiff::Timestamp,
}

impl From<ConsentLogItem<'_>> for Item {
    fn from(l: ConsentLogItem<'_>) -> Item {
        let sk = format!("CONSENTLOG#{}#{}#{}", l.customer, sortable(l.at), uuid::Uuid::new_v4().simple());
        Key::new(tenant_pk(l.tenant), sk).with([("action", s(l.action.as_str())), ("keyword", s(l.keyword))])
    }
}

impl DynamoStore {
    /// Sets the opt-out flag on the header of `customer`'s conversation on `channel`
    /// (SMS and voice share one), creating a listable header if there is none.
    fn flag_update(
        &self,
        tenant: &TenantRef,
        channel: Channel,
        customer: &Address,
        opted_out: bool,
        at: jiff::Timestamp,
    ) -> Result<TransactWriteItem, StoreError> {
        let id = ConversationId::derive(tenant, channel, customer);
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Key::new(conv_pk(&id), "META").to_item()))
            .update_expression(
                "SET opted_out = :flag, company_id = :c, project_id = :p, customer = :cu, gsi1pk = :g, \
                 channel = if_not_exists(channel, :ch), conv_status = if_not_exists(conv_status, :open), \
                 last_activity = if_not_exists(last_activity, :la), gsi1sk = if_not_exists(gsi1sk, :la), \
                 item_count = if_not_exists(item_count, :zero)",
            )
            .expression_attribute_values(":flag", AttributeValue::Bool(opted_out))
            .expression_attribute_values(":c", s(&tenant.company_id))
            .expression_attribute_values(":p", s(&tenant.project_id))
            .expression_attribute_values(":cu", s(customer.as_str()))
            .expression_attribute_values(":g", s(tenant_gsi1pk(tenant)))
            .expression_attribute_values(":ch", s(channel.as_str()))
            .expression_attribute_values(":open", s("open"))
            .expression_attribute_values(":la", s(sortable(at)))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

#[async_trait]
impl ConsentStore for DynamoStore {
    async fn record(
        &self,
        tenant: &TenantRef,
        customer: &Address,
        action: ConsentAction,
        keyword: &str,
        at: jiff::Timestamp,
    ) -> Result<(), StoreError> {
        let log = ConsentLogItem { tenant, customer, action, keyword, at };
        let mut tx = self.client.transact_write_items().transact_items(self.put_tx(log.into(), None)?);
        let opted_out = match action {
            ConsentAction::OptOut => Some(true),
            ConsentAction::OptIn => Some(false),
            ConsentAction::Help => None,
        };
        if let Some(opted_out) = opted_out {
            let consent = ConsentItem { key: consent_key(tenant, customer), opted_out, updated_at: at };
            tx = tx.transact_items(self.put_tx((&consent).into(), None)?);
            // The flag on the headers of the customer's conversations, in the same
            // transaction: the turn journal checks it in the write before a send.
            for channel in customer.conversation_channels() {
                tx = tx.transact_items(self.flag_update(tenant, *channel, customer, opted_out, at)?);
            }
        }
        tx.send().await.map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn is_opted_out(&self, tenant: &TenantRef, customer: &Address) -> Result<bool, StoreError> {
        let item: Option<ConsentItem> = self.get_as(&consent_key(tenant, customer)).await?;
        Ok(item.is_some_and(|c| c.opted_out))
    }
}
