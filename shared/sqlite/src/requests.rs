use async_trait::async_trait;
use rusqlite::params;

use super::{Db, backend, from_json, to_json, ts_sortable};
use crate::statements::Cached;
use comms_core::ports::{RequestBegin, RequestLog, StoreError};

/// API request idempotency records on SQLite; expired ones are replaced on next use.
#[derive(Clone)]
pub struct SqliteRequests {
    db: Db,
}

impl SqliteRequests {
    /// Request records stored in `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[async_trait]
impl RequestLog for SqliteRequests {
    async fn begin(
        &self,
        key: &str,
        body_hash: &str,
        expires_at: jiff::Timestamp,
    ) -> Result<RequestBegin, StoreError> {
        let (key, hash) = (key.to_owned(), body_hash.to_owned());
        self.db
            .write(move |c| {
                let now = ts_sortable(jiff::Timestamp::now());
                c.run("DELETE FROM requests WHERE key = ?1 AND expires_at < ?2", params![key, now])?;
                let inserted = c.run(
                    "INSERT INTO requests (key, body_hash, expires_at) VALUES (?1, ?2, ?3) ON CONFLICT (key) DO NOTHING",
                    params![key, hash, ts_sortable(expires_at)],
                )?;
                let out = if inserted == 1 {
                    RequestBegin::New
                } else {
                    let (body_hash, response): (String, Option<String>) = c.one(
                        "SELECT body_hash, response FROM requests WHERE key = ?1",
                        params![key],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )?;
                    RequestBegin::Existing { body_hash, response: response.map(|r| from_json(&r)).transpose()? }
                };
                Ok(out)
            })
            .await
            .map_err(backend)
    }

    async fn complete(&self, key: &str, response: &serde_json::Value) -> Result<(), StoreError> {
        let (key, response) = (key.to_owned(), to_json(response));
        self.db
            .write(move |c| c.run("UPDATE requests SET response = ?2 WHERE key = ?1", params![key, response]))
            .await
            .map_err(backend)?;
        Ok(())
    }
}
