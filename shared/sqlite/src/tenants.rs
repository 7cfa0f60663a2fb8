use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{Db, backend};
use crate::statements::Cached;
use comms_core::domain::tenant::TenantConfig;
use comms_core::domain::{Channel, EmailAddress, PhoneNumber, TenantRef};
use comms_core::ports::{StoreError, TenantDirectory};

/// The tenant directory on SQLite: the config as JSON, plus a number → tenant index
/// (`tenant_numbers`, which also holds the tenant's email addresses under the channel
/// name `email`).
#[derive(Clone)]
pub struct SqliteTenants {
    db: Db,
    parsed: Arc<Parsed>,
}

impl SqliteTenants {
    /// Tenants stored in `db`.
    pub fn new(db: Db) -> Self {
        Self { db, parsed: Arc::default() }
    }
}

/// Configs kept parsed at most; past it the memo starts again.
const PARSED_KEPT: usize = 64;

/// The configs parsed last, by their stored JSON. Every lookup still reads the row (a
/// change by another process, e.g. the `comms` CLI, is seen at once); one that finds the
/// text it found before is answered without parsing and validating it again, which was
/// about a tenth of a webhook's time in process (docs/performance.md).
#[derive(Default)]
struct Parsed(Mutex<HashMap<String, TenantConfig>>);

impl Parsed {
    fn config(&self, json: String) -> rusqlite::Result<TenantConfig> {
        if let Some(cfg) = self.0.lock().unwrap_or_else(|p| p.into_inner()).get(&json) {
            return Ok(cfg.clone());
        }
        let cfg = parse_stored(&json)?;
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() >= PARSED_KEPT {
            kept.clear();
        }
        kept.insert(json, cfg.clone());
        Ok(cfg)
    }
}

/// Every (channel, address) that routes to `cfg`: its numbers, its email addresses.
fn routes(cfg: &TenantConfig) -> Vec<(Channel, String, String)> {
    let numbers =
        cfg.numbers.iter().flat_map(|(c, ns)| ns.iter().map(|n| (*c, n.as_str().to_owned(), n.redacted())));
    let emails = cfg.email_addresses().iter().map(|e| (Channel::Email, e.as_str().to_owned(), e.redacted()));
    numbers.chain(emails).collect()
}

fn parse_stored(json: &str) -> rusqlite::Result<TenantConfig> {
    TenantConfig::from_json(json).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

#[async_trait]
impl TenantDirectory for SqliteTenants {
    async fn put(&self, config: &TenantConfig) -> Result<(), StoreError> {
        let cfg = config.clone();
        let json = config.to_json_pretty();
        let conflict = self
            .db
            .write(move |c| {
                let (company, project) = (&cfg.tenant.company_id, &cfg.tenant.project_id);
                let routes = routes(&cfg);
                for (channel, address, shown) in &routes {
                    let owner: Option<(String, String)> = c
                        .one(
                            "SELECT company_id, project_id FROM tenant_numbers WHERE channel = ?1 AND number = ?2",
                            params![channel.as_str(), address],
                            |r| Ok((r.get(0)?, r.get(1)?)),
                        )
                        .optional()?;
                    if let Some((oc, op)) = owner.filter(|(oc, op)| oc != company || op != project) {
                        return Ok(Some(format!("{channel} address {shown} already routes to tenant {oc}/{op}")));
                    }
                }
                c.run(
                    "INSERT INTO tenants (company_id, project_id, config, updated_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (company_id, project_id) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at",
                    params![company, project, json, jiff::Timestamp::now().to_string()],
                )?;
                c.run(
                    "DELETE FROM tenant_numbers WHERE company_id = ?1 AND project_id = ?2",
                    params![company, project],
                )?;
                for (channel, address, _) in &routes {
                    c.run(
                        "INSERT INTO tenant_numbers (channel, number, company_id, project_id) VALUES (?1, ?2, ?3, ?4)",
                        params![channel.as_str(), address, company, project],
                    )?;
                }
                Ok(None)
            })
            .await
            .map_err(backend)?;
        match conflict {
            Some(message) => Err(StoreError::Conflict(message)),
            None => Ok(()),
        }
    }

    async fn get(&self, tenant: &TenantRef) -> Result<Option<TenantConfig>, StoreError> {
        let sql = "SELECT config FROM tenants WHERE company_id = ?1 AND project_id = ?2";
        self.config_where(sql, tenant.company_id.clone(), tenant.project_id.clone()).await
    }

    async fn by_number(
        &self,
        channel: Channel,
        number: &PhoneNumber,
    ) -> Result<Option<TenantConfig>, StoreError> {
        self.by_route(channel, number.as_str().to_owned()).await
    }

    async fn by_email(&self, address: &EmailAddress) -> Result<Option<TenantConfig>, StoreError> {
        self.by_route(Channel::Email, address.as_str().to_owned()).await
    }
}

impl SqliteTenants {
    async fn by_route(&self, channel: Channel, number: String) -> Result<Option<TenantConfig>, StoreError> {
        let sql = "SELECT t.config FROM tenant_numbers n
                   JOIN tenants t ON t.company_id = n.company_id AND t.project_id = n.project_id
                   WHERE n.channel = ?1 AND n.number = ?2";
        self.config_where(sql, channel.as_str().to_owned(), number).await
    }

    /// The config `sql` finds with its two parameters, if any.
    async fn config_where(
        &self,
        sql: &'static str,
        a: String,
        b: String,
    ) -> Result<Option<TenantConfig>, StoreError> {
        let parsed = Arc::clone(&self.parsed);
        self.db
            .read(move |c| {
                c.one(sql, params![a, b], |r| r.get::<_, String>(0))
                    .optional()?
                    .map(|json| parsed.config(json))
                    .transpose()
            })
            .await
            .map_err(backend)
    }
}
