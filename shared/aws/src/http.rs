//! The HTTP client of every AWS configuration built here ([`https_client`]): HTTP/1.1
//! over rustls with the `ring` provider, on hyper-util's pooled client.
//!
//! Why not the SDK's own client (`aws-smithy-http-client`): it always compiles HTTP/2
//! in (`h2`, about 0.15 MB of each Lambda zip) and a proxy layer, and DynamoDB, SQS and
//! Secrets Manager answer HTTP/1.1, which is what this client speaks (as boto3 does).
//! What it keeps from the SDK's client: one connection pool per configuration, the
//! connect timeout (TCP and TLS) and read timeout of the SDK's
//! [`HttpConnectorSettings`], the SDK's error classes (a timeout is a timeout, a
//! refused or dropped connection is an I/O error: both retried by the SDK), and connection
//! poisoning (a connection that brought a transient error is not reused). Not
//! supported: HTTP proxies (a Lambda reaches AWS directly; `HTTPS_PROXY` is ignored).
//! Decision and figures: docs/decisions.md, docs/performance.md ("Zips").

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use aws_smithy_runtime_api::client::connection::{CaptureSmithyConnection, ConnectionMetadata};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::retries::ErrorKind;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{
    CaptureConnection, HttpConnector as TcpConnector, capture_connection,
};
use hyper_util::rt::{TokioExecutor, TokioTimer};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Pool = Client<ConnectTimeout, SdkBody>;

/// The client for an AWS configuration. The SDK clients built from one configuration
/// share it, hence one connection pool per connect timeout and one TLS configuration.
///
/// The TLS configuration (the system's root certificates, read from disk and parsed) is
/// built on the first request, not when an SDK client is built, so no Lambda spends its
/// start-up on it.
pub fn https_client() -> SharedHttpClient {
    SharedHttpClient::new(Http1Client::default())
}

/// As [`https_client`], trusting `roots` instead of the system's root certificates (an
/// endpoint behind a private CA; the tests' own CA).
pub fn https_client_trusting(roots: rustls::RootCertStore) -> SharedHttpClient {
    SharedHttpClient::new(Http1Client { roots: Some(roots), ..Http1Client::default() })
}

#[derive(Debug, Default)]
struct Http1Client {
    /// The roots to trust; None: the system's.
    roots: Option<rustls::RootCertStore>,
    tls: OnceLock<rustls::ClientConfig>,
    /// One pool per connect timeout the SDK asked for (in practice one).
    pools: Mutex<Vec<(Option<Duration>, Pool)>>,
}

impl Http1Client {
    fn pool(&self, connect_timeout: Option<Duration>) -> Pool {
        // Invariant: the lock is never held across a panic (only Vec operations below).
        let mut pools = self.pools.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, pool)) = pools.iter().find(|(t, _)| *t == connect_timeout) {
            return pool.clone();
        }
        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        let tls = HttpsConnectorBuilder::new()
            .with_tls_config(self.tls.get_or_init(|| tls_config(self.roots.clone())).clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let pool = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .build(ConnectTimeout { inner: tls, timeout: connect_timeout });
        pools.push((connect_timeout, pool.clone()));
        pool
    }
}

impl HttpClient for Http1Client {
    fn http_connector(&self, settings: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        let pool = self.pool(settings.connect_timeout());
        SharedHttpConnector::new(Http1Connector { pool, read_timeout: settings.read_timeout() })
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new("comms-http1", None))
    }
}

/// The system's root certificates: its CA bundle file where it has one (Debian's
/// `/etc/ssl/certs/ca-certificates.crt`, Amazon Linux's `/etc/pki/tls/certs/ca-bundle.crt`),
/// else every file `rustls_native_certs` finds. Not the directory of one file per CA next
/// to the bundle: `update-ca-certificates` builds both from the same list, and reading
/// both (and parsing every CA twice) took about 2.6 ms of a cold start against 0.5 ms
/// for the bundle alone (docs/performance.md). `SSL_CERT_FILE` and `SSL_CERT_DIR`, when
/// set, are read as OpenSSL reads them.
fn system_roots() -> rustls_native_certs::CertificateResult {
    let set = |name| std::env::var_os(name).is_some();
    if !set("SSL_CERT_FILE")
        && !set("SSL_CERT_DIR")
        && let Some(bundle) = openssl_probe::probe().cert_file
    {
        let found = rustls_native_certs::load_certs_from_paths(Some(&bundle), None);
        if !found.certs.is_empty() {
            return found;
        }
    }
    rustls_native_certs::load_native_certs()
}

/// rustls on `ring`, trusting `roots` or else the system's root certificates.
fn tls_config(roots: Option<rustls::RootCertStore>) -> rustls::ClientConfig {
    let roots = roots.unwrap_or_else(|| {
        let mut roots = rustls::RootCertStore::empty();
        let found = system_roots();
        for e in &found.errors {
            tracing::warn!(error = %e, "a system root certificate could not be read");
        }
        let (added, ignored) = roots.add_parsable_certificates(found.certs);
        tracing::debug!(added, ignored, "TLS roots loaded");
        roots
    });
    // Invariant: ring supports the default protocol versions.
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

#[derive(Debug, Clone)]
struct Http1Connector {
    pool: Pool,
    read_timeout: Option<Duration>,
}

impl HttpConnector for Http1Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let mut request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        // The SDK poisons the connection of an attempt that failed transiently (as its
        // own client lets it): hand it the connection hyper picks for this request.
        let connection = capture_connection(&mut request);
        if let Some(capture) = request.extensions().get::<CaptureSmithyConnection>() {
            capture.set_connection_retriever(move || poisonable(&connection));
        }
        let response = self.pool.request(request);
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let response = match read_timeout {
                Some(limit) => tokio::time::timeout(limit, response)
                    .await
                    .map_err(|_| ConnectorError::timeout(timed_out("no response within the read timeout")))?,
                None => response.await,
            }
            .map_err(classify)?;
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// The connection a request went out on, as the SDK's retry layer sees it: poisoning it
/// makes the pool close it instead of reusing it.
fn poisonable(connection: &CaptureConnection) -> Option<ConnectionMetadata> {
    connection.connection_metadata().as_ref()?;
    let connection = connection.clone();
    let metadata = ConnectionMetadata::builder()
        .proxied(false)
        .poison_fn(move || {
            if let Some(connected) = connection.connection_metadata().as_ref() {
                connected.poison();
            }
        })
        .build();
    Some(metadata)
}

/// The SDK's error class for a failed request (what `aws-smithy-http-client` does for
/// hyper's errors): timeouts and I/O (refused, reset, closed) are retried by the SDK's
/// standard retry strategy; an answer cut short is transient; a malformed request is the
/// caller's.
fn classify(err: hyper_util::client::legacy::Error) -> ConnectorError {
    if find::<TimedOut>(&err).is_some() {
        return ConnectorError::timeout(err.into());
    }
    if let Some(hyper) = find::<hyper::Error>(&err) {
        if hyper.is_timeout() {
            return ConnectorError::timeout(err.into());
        }
        if hyper.is_user() {
            return ConnectorError::user(err.into());
        }
        if hyper.is_incomplete_message() {
            return ConnectorError::other(err.into(), Some(ErrorKind::TransientError));
        }
        if hyper.is_closed() || hyper.is_canceled() || find::<std::io::Error>(hyper).is_some() {
            return ConnectorError::io(err.into());
        }
    }
    if err.is_connect() || find::<std::io::Error>(&err).is_some() {
        return ConnectorError::io(err.into());
    }
    ConnectorError::other(err.into(), None)
}

fn find<'a, E: std::error::Error + 'static>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a E> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        next = e.source();
    }
    None
}

/// A connect (TCP and TLS) or read that took longer than the SDK's settings allow.
#[derive(Debug)]
struct TimedOut(&'static str);

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for TimedOut {}

fn timed_out(what: &'static str) -> BoxError {
    Box::new(TimedOut(what))
}

/// The TLS connector with the SDK's connect timeout over the TCP connect and the TLS
/// handshake together.
#[derive(Debug, Clone)]
struct ConnectTimeout {
    inner: HttpsConnector<TcpConnector>,
    timeout: Option<Duration>,
}

type Connecting = Pin<
    Box<
        dyn Future<
                Output = Result<
                    <HttpsConnector<TcpConnector> as tower::Service<http::Uri>>::Response,
                    BoxError,
                >,
            > + Send,
    >,
>;

impl tower::Service<http::Uri> for ConnectTimeout {
    type Response = <HttpsConnector<TcpConnector> as tower::Service<http::Uri>>::Response;
    type Error = BoxError;
    type Future = Connecting;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let limit = self.timeout;
        Box::pin(async move {
            match limit {
                Some(limit) => tokio::time::timeout(limit, connecting)
                    .await
                    .map_err(|_| timed_out("no connection within the connect timeout"))?,
                None => connecting.await,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the machine has a CA bundle, the roots are that file's certificates, all of
    /// them; elsewhere what `rustls_native_certs` finds.
    #[test]
    fn system_roots_are_the_bundle_file_where_there_is_one() {
        let found = system_roots();
        assert!(found.errors.is_empty(), "{:?}", found.errors);
        let env_set =
            std::env::var_os("SSL_CERT_FILE").is_some() || std::env::var_os("SSL_CERT_DIR").is_some();
        match openssl_probe::probe().cert_file.filter(|_| !env_set) {
            Some(bundle) => {
                let text = std::fs::read_to_string(&bundle).expect("the bundle is readable");
                let in_file = text.matches("-----BEGIN CERTIFICATE-----").count();
                assert!(in_file > 0, "{} holds no certificate", bundle.display());
                assert_eq!(found.certs.len(), in_file, "{}", bundle.display());
            }
            None => assert_eq!(found.certs, rustls_native_certs::load_native_certs().certs),
        }
    }
}
