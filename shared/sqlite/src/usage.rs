//! Usage totals on SQLite: a row per tenant, UTC month and channel (`usage_months`), added
//! to by the turn journal inside its own transaction ([`add_usage`]), and a row per
//! month whose budget notification went out (`usage_budget_notified`).

use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{Connection, params, params_from_iter};

use super::{Db, backend, ts_sortable};
use crate::statements::Cached;
use comms_core::domain::{Channel, ChannelParseError, TenantRef};
use comms_core::ports::{MonthUsage, StoreError, UsageLedger, UsageRow, UsageTotals, usage_month};

/// The usage ledger on SQLite.
#[derive(Clone)]
pub struct SqliteUsage {
    db: Db,
}

impl SqliteUsage {
    /// The totals stored in `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

/// Adds `totals` to `tenant`'s current month on `channel`, inside the caller's
/// transaction (nothing when there is nothing to add).
pub(crate) fn add_usage(
    c: &Connection,
    tenant: &TenantRef,
    channel: Channel,
    totals: &UsageTotals,
) -> rusqlite::Result<()> {
    if totals.is_zero() {
        return Ok(());
    }
    let counters = totals.counters();
    let names: Vec<&str> = counters.iter().map(|(name, _)| *name).collect();
    let slots: Vec<String> = (5..5 + names.len()).map(|i| format!("?{i}")).collect();
    let sums: Vec<String> = names.iter().map(|n| format!("{n} = {n} + excluded.{n}")).collect();
    // The names are this crate's constants, the values bound: one statement text for
    // every call, so it is prepared once (the connection's statement cache).
    let sql = format!(
        "INSERT INTO usage_months (company_id, project_id, month, channel, {}) VALUES (?1, ?2, ?3, ?4, {})
         ON CONFLICT (company_id, project_id, month, channel) DO UPDATE SET {}",
        names.join(", "),
        slots.join(", "),
        sums.join(", ")
    );
    let month = usage_month(jiff::Timestamp::now());
    let mut values: Vec<Value> =
        [tenant.company_id.as_str(), tenant.project_id.as_str(), month.as_str(), channel.as_str()]
            .into_iter()
            .map(|t| Value::Text(t.to_owned()))
            .collect();
    for (name, v) in counters {
        let v = i64::try_from(v)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(format!("{name}: {e}").into()))?;
        values.push(Value::Integer(v));
    }
    c.run(&sql, params_from_iter(values))?;
    Ok(())
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UsageRow> {
    let channel: String = r.get(3)?;
    let channel = channel.parse().map_err(|e: ChannelParseError| {
        rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, e.to_string().into())
    })?;
    // Every counter is a column of the query (`rows`), read by its name.
    let totals = UsageTotals::from_counters(|name| {
        r.get::<_, i64>(name).ok().and_then(|v| u64::try_from(v).ok()).unwrap_or(0)
    });
    Ok(UsageRow {
        tenant: TenantRef { company_id: r.get(0)?, project_id: r.get(1)? },
        month: r.get(2)?,
        channel,
        totals,
    })
}

fn rows(c: &Connection, tenant: Option<&TenantRef>, since: &str) -> rusqlite::Result<Vec<UsageRow>> {
    let names = UsageTotals::default().counters().map(|(name, _)| name).join(", ");
    let sql = format!(
        "SELECT company_id, project_id, month, channel, {names} FROM usage_months
         WHERE month >= ?1 AND (?2 IS NULL OR (company_id = ?2 AND project_id = ?3))
         ORDER BY company_id, project_id, month, channel"
    );
    let (company, project) = tenant.map(|t| (t.company_id.as_str(), t.project_id.as_str())).unzip();
    let mut stmt = c.prepare_cached(&sql)?;
    stmt.query_map(params![since, company, project], row)?.collect()
}

#[async_trait]
impl UsageLedger for SqliteUsage {
    async fn month(&self, tenant: &TenantRef, month: &str) -> Result<MonthUsage, StoreError> {
        let (tenant, month) = (tenant.clone(), month.to_owned());
        self.db
            .read(move |c| {
                let mut totals = UsageTotals::default();
                for r in rows(c, Some(&tenant), &month)?.into_iter().filter(|r| r.month == month) {
                    totals += r.totals;
                }
                let budget_notified = c.one(
                    "SELECT EXISTS (SELECT 1 FROM usage_budget_notified
                       WHERE company_id = ?1 AND project_id = ?2 AND month = ?3)",
                    params![tenant.company_id, tenant.project_id, month],
                    |r| r.get(0),
                )?;
                Ok(MonthUsage { totals, budget_notified })
            })
            .await
            .map_err(backend)
    }

    async fn report(&self, tenant: Option<&TenantRef>, since: &str) -> Result<Vec<UsageRow>, StoreError> {
        let (tenant, since) = (tenant.cloned(), since.to_owned());
        self.db.read(move |c| rows(c, tenant.as_ref(), &since)).await.map_err(backend)
    }

    async fn mark_budget_notified(&self, tenant: &TenantRef, month: &str) -> Result<bool, StoreError> {
        let (tenant, month) = (tenant.clone(), month.to_owned());
        self.db
            .write(move |c| {
                let added = c.run(
                    "INSERT INTO usage_budget_notified (company_id, project_id, month, at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT DO NOTHING",
                    params![tenant.company_id, tenant.project_id, month, ts_sortable(jiff::Timestamp::now())],
                )?;
                Ok(added == 1)
            })
            .await
            .map_err(backend)
    }
}
