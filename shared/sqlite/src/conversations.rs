use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{Db, backend, from_json, to_json, ts_from_ms, ts_sortable};
use crate::statements::Cached;
use comms_core::domain::{Address, ConversationId, TenantRef};
use comms_core::ports::{
    ConversationItem, ConversationKey, ConversationLog, ConversationSummary, DeliveryStatusStore, StoreError,
    search_digits,
};
use comms_core::twilio::status_rank;

/// The conversation log on SQLite: a header row per conversation, a row per item.
#[derive(Clone)]
pub struct SqliteConversations {
    db: Db,
}

impl SqliteConversations {
    /// Conversations stored in `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

fn summary(r: &rusqlite::Row<'_>) -> rusqlite::Result<ConversationSummary> {
    let parse_err = |e: String| rusqlite::Error::ToSqlConversionFailure(e.into());
    Ok(ConversationSummary {
        conversation_id: ConversationId::from_stored(r.get(0)?),
        tenant: TenantRef { company_id: r.get(1)?, project_id: r.get(2)? },
        channel: r
            .get::<_, String>(3)?
            .parse()
            .map_err(|e: comms_core::domain::ChannelParseError| parse_err(e.to_string()))?,
        customer: Address::parse(&r.get::<_, String>(4)?).map_err(|e| parse_err(e.to_string()))?,
        status: r.get(5)?,
        last_activity: r.get::<_, String>(6)?.parse().map_err(|e: jiff::Error| parse_err(e.to_string()))?,
        item_count: r.get(7)?,
        takeover_until: r.get::<_, Option<i64>>(8)?.map(ts_from_ms),
    })
}

/// Stores `items` (idempotent per item id) and brings the conversation's header up to
/// date (created if new), inside the caller's transaction. Returns the items stored now
/// (not there before).
pub(crate) fn append_items<'a>(
    c: &rusqlite::Connection,
    key: &ConversationKey,
    items: &'a [ConversationItem],
) -> rusqlite::Result<Vec<&'a ConversationItem>> {
    let mut fresh = Vec::new();
    let mut last = None;
    for item in items {
        let inserted = c.run(
            "INSERT INTO conversation_items (conversation_id, item_id, at, content) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (conversation_id, item_id) DO NOTHING",
            params![key.id.as_str(), item.item_id, ts_sortable(item.at), to_json(&item.content)],
        )?;
        if inserted > 0 {
            fresh.push(item);
        }
        last = Some(ts_sortable(item.at));
    }
    let added = fresh.len() as i64;
    let last = last.unwrap_or_else(|| ts_sortable(jiff::Timestamp::now()));
    c.run(
        "INSERT INTO conversations (conversation_id, company_id, project_id, channel, customer, status, last_activity, item_count)
         VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6, ?7)
         ON CONFLICT (conversation_id) DO UPDATE SET
           last_activity = MAX(last_activity, excluded.last_activity),
           item_count = item_count + excluded.item_count",
        params![
            key.id.as_str(),
            key.tenant.company_id,
            key.tenant.project_id,
            key.channel.as_str(),
            key.customer.as_str(),
            last,
            added
        ],
    )?;
    Ok(fresh)
}

/// The last `n` items of conversation `id`, oldest first.
pub(crate) fn recent_items(
    c: &rusqlite::Connection,
    id: &str,
    n: usize,
) -> rusqlite::Result<Vec<ConversationItem>> {
    let mut rows: Vec<ConversationItem> = c
        .prepare_cached(
            "SELECT item_id, at, content FROM conversation_items WHERE conversation_id = ?1
             ORDER BY seq DESC LIMIT ?2",
        )?
        .query_map(params![id, n as i64], |r| {
            let at: String = r.get(1)?;
            Ok(ConversationItem {
                item_id: r.get(0)?,
                at: at.parse().map_err(|e: jiff::Error| {
                    rusqlite::Error::ToSqlConversionFailure(e.to_string().into())
                })?,
                content: from_json(&r.get::<_, String>(2)?)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    rows.reverse();
    Ok(rows)
}

const SUMMARY_COLUMNS: &str = "conversation_id, company_id, project_id, channel, customer, status, \
     last_activity, item_count, takeover_until_ms";

/// Conversations matching a search, by recency: `digits` in the customer's number, or
/// `needle` (lowercase) in the customer's email address or in an item's text. `company` empty: every tenant's.
fn search(
    c: &rusqlite::Connection,
    tenant: Option<&TenantRef>,
    digits: &str,
    needle: &str,
    limit: usize,
) -> rusqlite::Result<Vec<ConversationSummary>> {
    let (company, project) = tenant.map_or(("", ""), |t| (t.company_id.as_str(), t.project_id.as_str()));
    c.prepare_cached(&format!(
        "SELECT {SUMMARY_COLUMNS} FROM conversations c
         WHERE (?1 = '' OR (company_id = ?1 AND project_id = ?2))
           AND ((?3 <> '' AND instr(customer, '@') = 0 AND instr(customer, ?3) > 0)
             OR (instr(customer, '@') > 0 AND instr(lower(customer), ?4) > 0)
             OR EXISTS (SELECT 1 FROM conversation_items i WHERE i.conversation_id = c.conversation_id
                          AND instr(lower(json_extract(i.content, '$.text')), ?4) > 0))
         ORDER BY last_activity DESC LIMIT ?5"
    ))?
    .query_map(params![company, project, digits, needle, limit as i64], summary)?
    .collect()
}

#[async_trait]
impl ConversationLog for SqliteConversations {
    async fn append(&self, key: &ConversationKey, items: &[ConversationItem]) -> Result<(), StoreError> {
        let key = key.clone();
        let items = items.to_vec();
        self.db.write(move |c| append_items(c, &key, &items).map(|_| ())).await.map_err(backend)
    }

    async fn recent(&self, id: &ConversationId, n: usize) -> Result<Vec<ConversationItem>, StoreError> {
        let id = id.as_str().to_owned();
        self.db.read(move |c| recent_items(c, &id, n)).await.map_err(backend)
    }

    async fn list(
        &self,
        tenant: Option<&TenantRef>,
        limit: usize,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        let tenant = tenant.cloned();
        self.db
            .read(move |c| match tenant {
                Some(t) => c
                    .prepare_cached(&format!(
                        "SELECT {SUMMARY_COLUMNS} FROM conversations WHERE company_id = ?1 AND project_id = ?2
                         ORDER BY last_activity DESC LIMIT ?3"
                    ))?
                    .query_map(params![t.company_id, t.project_id, limit as i64], summary)?
                    .collect(),
                None => c
                    .prepare_cached(&format!(
                        "SELECT {SUMMARY_COLUMNS} FROM conversations ORDER BY last_activity DESC LIMIT ?1"
                    ))?
                    .query_map(params![limit as i64], summary)?
                    .collect(),
            })
            .await
            .map_err(backend)
    }

    async fn get(&self, id: &ConversationId) -> Result<Option<ConversationSummary>, StoreError> {
        let id = id.as_str().to_owned();
        self.db
            .read(move |c| {
                c.one(
                    &format!("SELECT {SUMMARY_COLUMNS} FROM conversations WHERE conversation_id = ?1"),
                    params![id],
                    summary,
                )
                .optional()
            })
            .await
            .map_err(backend)
    }

    async fn set_takeover(
        &self,
        tenant: &TenantRef,
        id: &ConversationId,
        until: Option<jiff::Timestamp>,
    ) -> Result<bool, StoreError> {
        let (t, id, until) = (tenant.clone(), id.as_str().to_owned(), until.map(|u| u.as_millisecond()));
        self.db
            .write(move |c| {
                c.run(
                    "UPDATE conversations SET takeover_until_ms = ?4
                     WHERE conversation_id = ?1 AND company_id = ?2 AND project_id = ?3",
                    params![id, t.company_id, t.project_id, until],
                )
                .map(|n| n == 1)
            })
            .await
            .map_err(backend)
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
        let (tenant, digits) = (tenant.cloned(), search_digits(query).unwrap_or_default());
        let needle = query.trim().to_lowercase();
        self.db.read(move |c| search(c, tenant.as_ref(), &digits, &needle, limit)).await.map_err(backend)
    }
}

#[async_trait]
impl DeliveryStatusStore for SqliteConversations {
    async fn record_status(
        &self,
        tenant: &TenantRef,
        provider_id: &str,
        status: &str,
        error_code: Option<&str>,
        at: jiff::Timestamp,
    ) -> Result<bool, StoreError> {
        let (id, st, code) = (provider_id.to_owned(), status.to_owned(), error_code.map(str::to_owned));
        let (company, project) = (tenant.company_id.clone(), tenant.project_id.clone());
        let rank = i64::from(status_rank(status));
        self.db
            .write(move |c| {
                c.run(
                    "INSERT INTO delivery_status (company_id, project_id, provider_id, status, rank, error_code, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (company_id, project_id, provider_id) DO UPDATE SET status = excluded.status,
                       rank = excluded.rank, error_code = excluded.error_code, updated_at = excluded.updated_at
                     WHERE excluded.rank >= delivery_status.rank",
                    params![company, project, id, st, rank, code, ts_sortable(at)],
                )
                .map(|n| n == 1)
            })
            .await
            .map_err(backend)
    }

    async fn status(
        &self,
        tenant: &TenantRef,
        provider_id: &str,
    ) -> Result<Option<(String, Option<String>)>, StoreError> {
        let id = provider_id.to_owned();
        let (company, project) = (tenant.company_id.clone(), tenant.project_id.clone());
        self.db
            .read(move |c| {
                c.one(
                    "SELECT status, error_code FROM delivery_status
                     WHERE company_id = ?1 AND project_id = ?2 AND provider_id = ?3",
                    params![company, project, id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
            })
            .await
            .map_err(backend)
    }
}
