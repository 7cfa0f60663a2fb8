use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{Db, backend};
use crate::statements::Cached;
use comms_core::ports::{Secret, SecretError, SecretStore, StoreError};

/// Local secrets, kept in the same SQLite file (for development and single-machine
/// installs; production uses Secrets Manager).
#[derive(Clone)]
pub struct SqliteSecrets {
    db: Db,
}

impl SqliteSecrets {
    /// Secrets stored in `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Creates or replaces a secret.
    pub async fn put(&self, name: &str, value: &Secret) -> Result<(), StoreError> {
        let (name, value) = (name.to_owned(), value.expose().to_owned());
        self.db
            .write(move |c| {
                c.run(
                    "INSERT INTO secrets (name, value, updated_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                    params![name, value, jiff::Timestamp::now().to_string()],
                )
            })
            .await
            .map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl SecretStore for SqliteSecrets {
    async fn get(&self, name: &str) -> Result<Secret, SecretError> {
        let key = name.to_owned();
        let value = self
            .db
            .read(move |c| {
                c.one("SELECT value FROM secrets WHERE name = ?1", params![key], |r| r.get::<_, String>(0))
                    .optional()
            })
            .await
            .map_err(|e| SecretError::Backend { message: e.to_string(), transient: false })?;
        value.map(Secret::new).ok_or_else(|| SecretError::NotFound(name.to_owned()))
    }
}

#[async_trait]
impl comms_core::ports::SecretWriter for SqliteSecrets {
    async fn put(&self, name: &str, value: &Secret) -> Result<(), SecretError> {
        SqliteSecrets::put(self, name, value)
            .await
            .map_err(|e| SecretError::Backend { message: e.to_string(), transient: e.is_transient() })
    }
}
