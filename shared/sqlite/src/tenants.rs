use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{Db, backend};
use comms_core::domain::tenant::TenantConfig;
use comms_core::domain::{Channel, EmailAddress, PhoneNumber, TenantRef};
use comms_core::ports::{StoreError, TenantDirectory};

/// The tenant directory on SQLite: the config as JSON, plus a number → tenant index
/// (`tenant_numbers`, which also holds the tenant's email addresses under the channel
/// name `email`).
#[derive(Clone)]
pub struct SqliteTenants {
    db: Db,
}

impl SqliteTenants {
    /// Tenants stored in `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

/// Every (channel, address) that routes to `cfg`: its numbers, its email addresses.
fn routes(cfg: &TenantConfig) -> Vec<(Channel, String, String)> {
    let numbers =
        cfg.numbers.iter().flat_map(|(c, ns)| ns.iter().map(|n| (*c, n.as_str().to_owned(), n.redacted())));
    let emails = cfg.email_addresses().iter().map(|e| (Channel::Email, e.as_str().to_owned(), e.redacted()));
    numbers.chain(emails).collect()
}

fn parse_stored(json: String) -> rusqlite::Result<TenantConfig> {
    TenantConfig::from_json(&json).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
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
                        .query_row(
                            "SELECT company_id, project_id FROM tenant_numbers WHERE channel = ?1 AND number = ?2",
                            params![channel.as_str(), address],
                            |r| Ok((r.get(0)?, r.get(1)?)),
                        )
                        .optional()?;
                    if let Some((oc, op)) = owner.filter(|(oc, op)| oc != company || op != project) {
                        return Ok(Some(format!("{channel} address {shown} already routes to tenant {oc}/{op}")));
                    }
                }
                c.execute(
                    "INSERT INTO tenants (company_id, project_id, config, updated_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (company_id, project_id) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at",
                    params![company, project, json, jiff::Timestamp::now().to_string()],
                )?;
                c.execute(
                    "DELETE FROM tenant_numbers WHERE company_id = ?1 AND project_id = ?2",
                    params![company, project],
                )?;
                for (channel, address, _) in &routes {
                    c.execute(
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
        let t = tenant.clone();
        self.db
            .read(move |c| {
                c.query_row(
                    "SELECT config FROM tenants WHERE company_id = ?1 AND project_id = ?2",
                    params![t.company_id, t.project_id],
                    |r| r.get::<_, String>(0),
                )
                .optional()?
                .map(parse_stored)
                .transpose()
            })
            .await
            .map_err(backend)
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
        self.db
            .read(move |c| {
                c.query_row(
                    "SELECT t.config FROM tenant_numbers n
                     JOIN tenants t ON t.company_id = n.company_id AND t.project_id = n.project_id
                     WHERE n.channel = ?1 AND n.number = ?2",
                    params![channel.as_str(), number],
                    |r| r.get::<_, String>(0),
                )
                .optional()?
                .map(parse_stored)
                .transpose()
            })
            .await
            .map_err(backend)
    }
}
