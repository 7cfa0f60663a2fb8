//! The secrets port on AWS Secrets Manager, through AWS's own caching client: a warm
//! Lambda reads a tenant's credentials from memory instead of once per message.

use std::num::NonZeroUsize;
use std::time::Duration;

use async_trait::async_trait;
use aws_secretsmanager_caching::SecretsManagerCachingClient;

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretError;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;

use comms_core::ports::{Secret, SecretError, SecretStore, SecretWriter};

/// Secrets Manager behind a bounded in-memory cache with a TTL.
pub struct SecretsManagerStore {
    cache: SecretsManagerCachingClient,
    /// For writes (operator tools), which bypass the cache.
    client: aws_sdk_secretsmanager::Client,
}

impl std::fmt::Debug for SecretsManagerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretsManagerStore")
    }
}

impl SecretsManagerStore {
    /// At most `max_entries` secrets cached, each for `ttl`.
    pub fn new(
        config: &aws_config::SdkConfig,
        max_entries: usize,
        ttl: Duration,
    ) -> Result<Self, SecretError> {
        let client = aws_sdk_secretsmanager::Client::new(config);
        let size = NonZeroUsize::new(max_entries.max(1)).unwrap_or(NonZeroUsize::MIN);
        let cache = SecretsManagerCachingClient::new(client.clone(), size, ttl, false)
            .map_err(|e| SecretError::Backend { message: e.to_string(), transient: false })?;
        Ok(Self { cache, client })
    }
}

#[async_trait]
impl SecretStore for SecretsManagerStore {
    async fn get(&self, name: &str) -> Result<Secret, SecretError> {
        let result = self
            .cache
            .get_secret_value(name, None, None, false)
            .await
            .map_err(|e| cache_error(name, e.as_ref()))?;
        result.secret_string.map(Secret::new).ok_or_else(|| SecretError::Backend {
            message: format!("secret '{name}' has no string value"),
            transient: false,
        })
    }
}

/// The caching client reports errors as `Box<dyn Error>`: the SDK error of the call it
/// made, classified like every other, or one of its own, of which only the text is
/// left (it names the service's error code, which tells a missing secret apart).
fn cache_error(name: &str, e: &(dyn std::error::Error + 'static)) -> SecretError {
    if let Some(e) = e.downcast_ref::<SdkError<GetSecretValueError, HttpResponse>>() {
        return crate::errors::secret_error(name, e);
    }
    if let Some(e) = e.downcast_ref::<SdkError<DescribeSecretError, HttpResponse>>() {
        return crate::errors::secret_error(name, e);
    }
    if format!("{e:?}").contains("ResourceNotFoundException") {
        return SecretError::NotFound(name.to_owned());
    }
    SecretError::Backend { message: e.to_string(), transient: true }
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

    fn boxed(e: SdkError<GetSecretValueError, HttpResponse>) -> Box<dyn std::error::Error> {
        Box::new(e)
    }

    fn service(code: &str, status: u16) -> SdkError<GetSecretValueError, HttpResponse> {
        let meta = ErrorMetadata::builder().code(code).build();
        let raw = HttpResponse::new(StatusCode::try_from(status).unwrap(), "".into());
        SdkError::service_error(GetSecretValueError::generic(meta), raw)
    }

    /// The caching client's boxed SDK errors go through the one classifier.
    #[test]
    fn the_caching_clients_errors_are_classified() {
        let denied = cache_error("k", boxed(service("AccessDeniedException", 400)).as_ref());
        assert!(matches!(denied, SecretError::Backend { transient: false, .. }), "{denied:?}");
        let missing = cache_error("k", boxed(service("ResourceNotFoundException", 400)).as_ref());
        assert!(matches!(missing, SecretError::NotFound(ref n) if n == "k"), "{missing:?}");
        let timeout = cache_error("k", boxed(SdkError::timeout_error("slow")).as_ref());
        assert!(matches!(timeout, SecretError::Backend { transient: true, .. }), "{timeout:?}");
        let own: Box<dyn std::error::Error> = "ResourceNotFoundException: gone".into();
        assert!(matches!(cache_error("k", own.as_ref()), SecretError::NotFound(_)));
    }
}
