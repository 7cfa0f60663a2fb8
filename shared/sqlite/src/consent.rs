use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{Db, backend};
use crate::statements::Cached;
use comms_core::domain::{Address, TenantRef};
use comms_core::ports::{ConsentAction, ConsentStore, StoreError};

/// Opt-out state and keyword history on SQLite.
#[derive(Clone)]
pub struct SqliteConsent {
    db: Db,
}

impl SqliteConsent {
    /// Consent records stored in `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Every keyword recorded for a customer, oldest first, as (action, keyword).
    pub async fn history(
        &self,
        tenant: &TenantRef,
        customer: &Address,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let (t, phone) = (tenant.clone(), customer.as_str().to_owned());
        self.db
            .read(move |c| {
                c.prepare_cached(
                    "SELECT action, keyword FROM consent_events
                     WHERE company_id = ?1 AND project_id = ?2 AND phone = ?3 ORDER BY id",
                )?
                .query_map(params![t.company_id, t.project_id, phone], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
            })
            .await
            .map_err(backend)
    }
}

/// Whether `phone` (the column holds any customer address) opted out of `t`'s messages (read in the caller's transaction).
pub(crate) fn opted_out(c: &rusqlite::Connection, t: &TenantRef, phone: &str) -> rusqlite::Result<bool> {
    c.one(
        "SELECT opted_out FROM consent WHERE company_id = ?1 AND project_id = ?2 AND phone = ?3",
        params![t.company_id, t.project_id, phone],
        |r| r.get::<_, bool>(0),
    )
    .optional()
    .map(|v| v.unwrap_or(false))
}

#[async_trait]
impl ConsentStore for SqliteConsent {
    async fn record(
        &self,
        tenant: &TenantRef,
        customer: &Address,
        action: ConsentAction,
        keyword: &str,
        at: jiff::Timestamp,
    ) -> Result<(), StoreError> {
        let (t, phone, keyword, at) =
            (tenant.clone(), customer.as_str().to_owned(), keyword.to_owned(), at.to_string());
        self.db
            .write(move |tx| {
                tx.run(
                    "INSERT INTO consent_events (company_id, project_id, phone, action, keyword, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![t.company_id, t.project_id, phone, action.as_str(), keyword, at],
                )?;
                let opted_out = match action {
                    ConsentAction::OptOut => Some(true),
                    ConsentAction::OptIn => Some(false),
                    ConsentAction::Help => None,
                };
                if let Some(opted_out) = opted_out {
                    tx.run(
                        "INSERT INTO consent (company_id, project_id, phone, opted_out, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (company_id, project_id, phone) DO UPDATE SET opted_out = excluded.opted_out, updated_at = excluded.updated_at",
                        params![t.company_id, t.project_id, phone, opted_out, at],
                    )?;
                }
                Ok(())
            })
            .await
            .map_err(backend)
    }

    async fn is_opted_out(&self, tenant: &TenantRef, customer: &Address) -> Result<bool, StoreError> {
        let (t, phone) = (tenant.clone(), customer.as_str().to_owned());
        self.db.read(move |c| opted_out(c, &t, &phone)).await.map_err(backend)
    }
}
