//! `comms_aws::https_client` at the wire: a real SDK client (DynamoDB) against local
//! servers. HTTPS with a private CA over HTTP/1.1 with one pooled connection; the SDK's
//! error classes for a refused certificate, a connection closed without an answer (retried),
//! a server that never answers (read timeout) and a TLS handshake that never ends
//! (connect timeout); a 500's connection poisoned. The SDK's own client is not in the build (no h2): these tests are
//! what stands for its test suite.
#![allow(clippy::unwrap_used)] // tests: fixtures

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::error::SdkError;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// A private CA and a certificate for `localhost` signed by it.
struct Pki {
    roots: rustls::RootCertStore,
    server: rustls::ServerConfig,
}

fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()]).unwrap().signed_by(&key, &ca).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key.into())
        .unwrap();
    Pki { roots, server }
}

/// A DynamoDB client on `http` for `endpoint`, with `attempts` and the given timeouts.
fn dynamo(
    http: SharedHttpClient,
    endpoint: &str,
    attempts: u32,
    timeouts: (Option<Duration>, Option<Duration>),
) -> aws_sdk_dynamodb::Client {
    let mut builder = aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder();
    builder.set_connect_timeout(timeouts.0).set_read_timeout(timeouts.1);
    let timeouts = builder.build();
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(http)
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::standard().with_max_attempts(attempts))
        .timeout_config(timeouts)
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// The connector's error of a call that failed before an answer.
fn dispatch_failure<E: std::fmt::Debug, R: std::fmt::Debug>(
    err: SdkError<E, R>,
) -> aws_smithy_runtime_api::client::result::DispatchFailure {
    match err {
        SdkError::DispatchFailure(f) => f,
        other => panic!("not a dispatch failure: {other:?}"),
    }
}

/// What the HTTPS server saw: connections accepted, and per request its HTTP version and
/// the ALPN protocol its connection negotiated.
#[derive(Default)]
struct Seen {
    connections: AtomicUsize,
    requests: std::sync::Mutex<Vec<(hyper::Version, Option<Vec<u8>>)>>,
}

/// An HTTPS server answering every request as DynamoDB answers `ListTables`.
async fn https_dynamo(server: rustls::ServerConfig) -> (String, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("https://localhost:{}", listener.local_addr().unwrap().port());
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let seen = Arc::new(Seen::default());
    let seen2 = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            seen2.connections.fetch_add(1, Ordering::SeqCst);
            let (acceptor, seen) = (acceptor.clone(), Arc::clone(&seen2));
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
                let service =
                    hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        seen.requests.lock().unwrap().push((req.version(), alpn.clone()));
                        async move {
                            hyper::Response::builder()
                                .header("content-type", "application/x-amz-json-1.0")
                                .body(Full::new(Bytes::from_static(br#"{"TableNames":["comms-data"]}"#)))
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (endpoint, seen)
}

#[tokio::test]
async fn https_through_a_trusted_ca_is_http1_on_one_pooled_connection() {
    let pki = pki();
    let (endpoint, seen) = https_dynamo(pki.server).await;
    let client = dynamo(comms_aws::https_client_trusting(pki.roots), &endpoint, 1, (None, None));
    for _ in 0..3 {
        let out = client.list_tables().send().await.unwrap();
        assert_eq!(out.table_names(), ["comms-data"]);
    }
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1, "the three calls share one connection");
    let requests = seen.requests.lock().unwrap();
    assert_eq!(requests.len(), 3);
    for (version, alpn) in requests.iter() {
        assert_eq!(*version, hyper::Version::HTTP_11);
        assert_ne!(alpn.as_deref(), Some(&b"h2"[..]), "never HTTP/2");
    }
}

#[tokio::test]
async fn a_certificate_from_an_unknown_ca_is_refused() {
    let (endpoint, seen) = https_dynamo(pki().server).await;
    // Trusts another CA than the server's.
    let client = dynamo(comms_aws::https_client_trusting(pki().roots), &endpoint, 1, (None, None));
    let err = client.list_tables().send().await.unwrap_err();
    assert!(matches!(err, SdkError::DispatchFailure(_)), "{err:?}");
    assert!(seen.requests.lock().unwrap().is_empty(), "no request was sent");
}

/// A plain TCP server that accepts connections (counting them) and then, per connection,
/// either closes it at once (`close`) or holds it open saying nothing.
async fn silent_server(close: bool) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            if !close {
                held.push(tcp);
            }
        }
    });
    (port, accepted)
}

#[tokio::test]
async fn a_connection_closed_without_an_answer_is_an_io_error_the_sdk_retries() {
    let (port, accepted) = silent_server(true).await;
    let client = dynamo(comms_aws::https_client(), &format!("http://127.0.0.1:{port}"), 3, (None, None));
    let err = client.list_tables().send().await.unwrap_err();
    let failure = dispatch_failure(err);
    // hyper's "connection closed before message completed": transient, as the SDK's client
    // classes it (an I/O error when the close comes before the request is written).
    let transient = Some(aws_smithy_runtime_api::client::retries::ErrorKind::TransientError);
    assert!(failure.is_io() || failure.as_other() == transient, "{failure:?}");
    assert_eq!(accepted.load(Ordering::SeqCst), 3, "retried: three attempts, three connections");
}

#[tokio::test]
async fn a_server_that_never_answers_meets_the_read_timeout() {
    let (port, accepted) = silent_server(false).await;
    let timeouts = (None, Some(Duration::from_millis(300)));
    let client = dynamo(comms_aws::https_client(), &format!("http://127.0.0.1:{port}"), 2, timeouts);
    let err = client.list_tables().send().await.unwrap_err();
    let failure = dispatch_failure(err);
    assert!(failure.is_timeout(), "{failure:?}");
    assert_eq!(accepted.load(Ordering::SeqCst), 2, "a timeout is retried");
}

#[tokio::test]
async fn a_tls_handshake_that_never_ends_meets_the_connect_timeout() {
    let (port, _) = silent_server(false).await;
    let timeouts = (Some(Duration::from_millis(300)), None);
    let client = dynamo(comms_aws::https_client(), &format!("https://localhost:{port}"), 1, timeouts);
    let err = client.list_tables().send().await.unwrap_err();
    let failure = dispatch_failure(err);
    assert!(failure.is_timeout(), "{failure:?}");
}

#[tokio::test]
async fn a_refused_connection_is_an_io_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = dynamo(comms_aws::https_client(), &format!("http://127.0.0.1:{port}"), 1, (None, None));
    let err = client.list_tables().send().await.unwrap_err();
    let failure = dispatch_failure(err);
    assert!(failure.is_io(), "{failure:?}");
}

/// A plain HTTP server answering as DynamoDB's `ListTables`, except its first `failures`
/// requests, answered 500 (keeping the connection open); counts connections.
async fn flaky_dynamo(failures: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let (accepted, answered) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            let answered = Arc::clone(&answered);
            let service = hyper::service::service_fn(move |_: hyper::Request<hyper::body::Incoming>| {
                let failed = answered.fetch_add(1, Ordering::SeqCst) < failures;
                let (status, body): (u16, &'static [u8]) = if failed {
                    (500, br#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError"}"#)
                } else {
                    (200, br#"{"TableNames":["comms-data"]}"#)
                };
                async move {
                    hyper::Response::builder()
                        .status(status)
                        .header("content-type", "application/x-amz-json-1.0")
                        .body(Full::new(Bytes::from_static(body)))
                }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), service),
            );
        }
    });
    (endpoint, accepted)
}

/// An answer the SDK classes as transient (a 500) poisons the connection it came on, as
/// the SDK's own client lets it: the pool does not hand that connection out again, so
/// the retry opens a new one. (Without a connection to poison the connection is reused,
/// and the SDK logs an error.) Calls that succeed keep sharing one connection.
#[tokio::test]
async fn a_transient_errors_connection_is_not_reused_by_the_retry() {
    let (endpoint, accepted) = flaky_dynamo(1).await;
    let client = dynamo(comms_aws::https_client(), &endpoint, 3, (None, None));
    let out = client.list_tables().send().await.unwrap();
    assert_eq!(out.table_names(), ["comms-data"], "the retry succeeded");
    assert_eq!(accepted.load(Ordering::SeqCst), 2, "the 500's connection was not reused");
    client.list_tables().send().await.unwrap();
    assert_eq!(accepted.load(Ordering::SeqCst), 2, "a healthy connection is kept");
}
