use std::fmt;

use async_trait::async_trait;

use crate::retry::{Classify, Disposition};

/// A secret value. Debug and Display never show it; read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that must use it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Failure to read a secret.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret '{0}' does not exist")]
    NotFound(String),
    #[error("secret backend error: {message}")]
    Backend { message: String, transient: bool },
}

impl Classify for SecretError {
    fn disposition(&self) -> Disposition {
        match self {
            SecretError::NotFound(_) | SecretError::Backend { transient: false, .. } => {
                Disposition::Permanent
            }
            SecretError::Backend { transient: true, .. } => Disposition::RETRY,
        }
    }
}

/// Reads secrets by name (`{credential_type}/{company_id}/{project_id}/{provider}`).
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// The secret's current value.
    async fn get(&self, name: &str) -> Result<Secret, SecretError>;
}

/// Stores secrets: operator tools and the local demo only; services just read.
#[async_trait]
pub trait SecretWriter: SecretStore {
    /// Creates the secret or replaces its value.
    async fn put(&self, name: &str, value: &Secret) -> Result<(), SecretError>;
}
