use async_trait::async_trait;

use super::StoreError;

/// What an API request's idempotency key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestBegin {
    /// First time: go ahead, then [`RequestLog::complete`].
    New,
    /// Seen before with this body hash; `response` is set once it completed.
    Existing { body_hash: String, response: Option<serde_json::Value> },
}

/// Idempotency records of API requests (by `request_id`), kept for a limited time.
#[async_trait]
pub trait RequestLog: Send + Sync {
    /// Records `key` with the request's body hash if new (a conditional insert), else
    /// returns what is stored.
    async fn begin(
        &self,
        key: &str,
        body_hash: &str,
        expires_at: jiff::Timestamp,
    ) -> Result<RequestBegin, StoreError>;

    /// Stores the answer given, so a repeat gets the same one.
    async fn complete(&self, key: &str, response: &serde_json::Value) -> Result<(), StoreError>;
}
