//! The owner's side of a conversation header: the takeover (`takeover_until`, epoch ms,
//! read by the journal's claim) and the console's search over headers.

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;

use comms_core::domain::{ConversationId, TenantRef};
use comms_core::ports::{ConversationItem, ConversationSummary, StoreError, search_matches};

use super::conversations::{HeaderItem, tenant_gsi1pk};
use super::journal::conv_key;
use super::{Attrs, DynamoStore, Item, n, s};

impl DynamoStore {
    /// Conversation headers of `tenant` by recency (its `gsi1` partition), or of every
    /// tenant (a scan of headers: an operator's listing, not a hot path); at most `limit`
    /// from the index.
    pub(super) async fn headers(
        &self,
        tenant: Option<&TenantRef>,
        limit: Option<usize>,
    ) -> Result<Vec<Item>, StoreError> {
        match tenant {
            Some(t) => self.query_pages(self.gsi1_desc(tenant_gsi1pk(t)), limit).await,
            None => {
                let scan = self
                    .client
                    .scan()
                    .table_name(&self.table)
                    .filter_expression("sk = :meta")
                    .expression_attribute_values(":meta", s("META"));
                self.scan_pages(scan).await
            }
        }
    }

    /// Headers matching `query` by the customer's number or the text of the items the
    /// header keeps (the journal's window: the recent history), by recency.
    pub(super) async fn search_headers(
        &self,
        tenant: Option<&TenantRef>,
        query: &str,
        limit: usize,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        let mut out = Vec::new();
        for item in self.headers(tenant, None).await? {
            let HeaderItem(summary) = HeaderItem::try_from(&item)?;
            let window: Vec<ConversationItem> = Attrs(&item).opt_json("window")?.unwrap_or_default();
            if search_matches(&summary.customer, window.iter().filter_map(|i| i.content.text()), query) {
                out.push(summary);
            }
        }
        out.sort_by_key(|c| std::cmp::Reverse(c.last_activity));
        out.truncate(limit);
        Ok(out)
    }

    /// Sets or removes `takeover_until` on the header, on condition that it exists and
    /// is `tenant`'s.
    pub(super) async fn write_takeover(
        &self,
        tenant: &TenantRef,
        id: &ConversationId,
        until: Option<jiff::Timestamp>,
    ) -> Result<bool, StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(conv_key(id).to_item()))
            .condition_expression("attribute_exists(pk) AND company_id = :c AND project_id = :p")
            .expression_attribute_values(":c", s(&tenant.company_id))
            .expression_attribute_values(":p", s(&tenant.project_id));
        let update = match until {
            Some(until) => update
                .update_expression("SET takeover_until = :t")
                .expression_attribute_values(":t", n(until.as_millisecond())),
            None => update.update_expression("REMOVE takeover_until"),
        };
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(self.err(e)),
        }
    }
}
