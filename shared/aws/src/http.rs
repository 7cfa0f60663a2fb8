//! The HTTP client of every AWS configuration built here ([`https_client`]).

use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

/// The SDK's hyper client over rustls with the `ring` provider (the crypto reqwest uses
/// in the processors), so a binary carries one TLS stack and no aws-lc. The SDK crates
/// are built without their `default-https-client` (rustls on aws-lc), so a
/// configuration needs this client. The SDK clients built from one configuration share
/// it, hence one connection pool and one TLS configuration.
///
/// The TLS configuration (the system's root certificates, read from disk and parsed) is
/// built on the first request, not when an SDK client is built: the SDK's client builds
/// it as each SDK client is validated, which put that work (a few milliseconds, once
/// per SDK client) into every Lambda's start-up before its first event.
pub fn https_client() -> SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    let inner =
        aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    SharedHttpClient::new(ConnectOnFirstRequest(inner))
}

/// `inner`, minus its start-up validation hook: its connector (TLS configuration
/// included) is made by `http_connector`, which the SDK calls for a request.
#[derive(Debug)]
struct ConnectOnFirstRequest(SharedHttpClient);

impl HttpClient for ConnectOnFirstRequest {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}
