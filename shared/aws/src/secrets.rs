//! The secrets port on AWS Secrets Manager behind a bounded in-memory cache with a TTL:
//! a warm Lambda reads a tenant's credentials from memory instead of once per message.
//! (Our own small cache rather than AWS's caching crate, whose dependencies pulled a
//! second HTTP and TLS stack into every zip: docs/decisions.md, "Cold start and zips".)

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;

use comms_core::ports::{Secret, SecretError, SecretStore, SecretWriter};

/// Secrets Manager behind a bounded in-memory cache with a TTL.
pub struct SecretsManagerStore {
    client: aws_sdk_secretsmanager::Client,
    /// Name → (when read, value); at most `max_entries`, each served for `ttl`.
    cache: Mutex<HashMap<String, (Instant, Secret)>>,
    max_entries: usize,
    ttl: Duration,
}

impl std::fmt::Debug for SecretsManagerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretsManagerStore")
    }
}

impl SecretsManagerStore {
    /// At most `max_entries` secrets cached, each for `ttl`. Makes no call: secrets are
    /// read when first needed.
    pub fn new(
        config: &aws_config::SdkConfig,
        max_entries: usize,
        ttl: Duration,
    ) -> Result<Self, SecretError> {
        Ok(Self {
            client: aws_sdk_secretsmanager::Client::new(config),
            cache: Mutex::new(HashMap::new()),
            max_entries: max_entries.max(1),
            ttl,
        })
    }

    fn cached(&self, name: &str) -> Option<Secret> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.get(name).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, s)| s.clone())
    }

    fn remember(&self, name: &str, secret: &Secret) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= self.max_entries && !cache.contains_key(name) {
            // Full: the expired entries go, else the oldest one.
            let ttl = self.ttl;
            cache.retain(|_, (at, _)| at.elapsed() < ttl);
            if cache.len() >= self.max_entries
                && let Some(oldest) = cache.iter().min_by_key(|(_, (at, _))| *at).map(|(k, _)| k.clone())
            {
                cache.remove(&oldest);
            }
        }
        cache.insert(name.to_owned(), (Instant::now(), secret.clone()));
    }
}

#[async_trait]
impl SecretStore for SecretsManagerStore {
    async fn get(&self, name: &str) -> Result<Secret, SecretError> {
        if let Some(secret) = self.cached(name) {
            return Ok(secret);
        }
        let out =
            self.client.get_secret_value().secret_id(name).send().await.map_err(|e| get_error(name, &e))?;
        let secret = out.secret_string.map(Secret::new).ok_or_else(|| SecretError::Backend {
            message: format!("secret '{name}' has no string value"),
            transient: false,
        })?;
        self.remember(name, &secret);
        Ok(secret)
    }
}

/// A failed read, classified like every other SDK error (a missing secret is `NotFound`).
fn get_error(name: &str, e: &SdkError<GetSecretValueError, HttpResponse>) -> SecretError {
    crate::errors::secret_error(name, e)
}

#[async_trait]
impl SecretWriter for SecretsManagerStore {
    async fn put(&self, name: &str, value: &Secret) -> Result<(), SecretError> {
        let created = self.client.create_secret().name(name).secret_string(value.expose()).send().await;
        match created {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ResourceExistsException") => {
                self.client
                    .put_secret_value()
                    .secret_id(name)
                    .secret_string(value.expose())
                    .send()
                    .await
                    .map_err(|e| crate::errors::secret_error(name, &e))?;
                Ok(())
            }
            Err(e) => Err(crate::errors::secret_error(name, &e)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: constructing fixtures
mod tests {
    use aws_sdk_secretsmanager::error::ErrorMetadata;
    use aws_smithy_runtime_api::http::StatusCode;

    use super::*;

    fn service(code: &str, status: u16) -> SdkError<GetSecretValueError, HttpResponse> {
        let meta = ErrorMetadata::builder().code(code).build();
        let raw = HttpResponse::new(StatusCode::try_from(status).unwrap(), "".into());
        SdkError::service_error(GetSecretValueError::generic(meta), raw)
    }

    /// A failed read goes through the one classifier.
    #[test]
    fn read_errors_are_classified() {
        let denied = get_error("k", &service("AccessDeniedException", 400));
        assert!(matches!(denied, SecretError::Backend { transient: false, .. }), "{denied:?}");
        let missing = get_error("k", &service("ResourceNotFoundException", 400));
        assert!(matches!(missing, SecretError::NotFound(ref n) if n == "k"), "{missing:?}");
        let timeout = get_error("k", &SdkError::timeout_error("slow"));
        assert!(matches!(timeout, SecretError::Backend { transient: true, .. }), "{timeout:?}");
    }

    /// Within the TTL a secret is served from memory; the cache never holds more than
    /// its bound, evicting the oldest entry.
    #[tokio::test]
    async fn the_cache_serves_within_the_ttl_and_stays_bounded() {
        let config = crate::emulator_config("http://127.0.0.1:9").await;
        let store = SecretsManagerStore::new(&config, 2, Duration::from_secs(60)).unwrap();
        for name in ["a", "b", "c"] {
            store.remember(name, &Secret::new(format!("v-{name}")));
        }
        assert_eq!(store.cache.lock().unwrap().len(), 2);
        assert!(store.cached("a").is_none(), "the oldest went");
        assert_eq!(store.get("c").await.unwrap(), Secret::new("v-c".to_owned()));
        let expired = SecretsManagerStore::new(&config, 2, Duration::ZERO).unwrap();
        expired.remember("a", &Secret::new("v".to_owned()));
        assert!(expired.cached("a").is_none(), "past its TTL");
    }
}
