//! Counts the AWS API calls a piece of work makes, at the HTTP layer under the SDK
//! clients (so retries count too), for the "AWS calls per turn" measurement.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

/// The calls seen so far, in order, as `Service.Operation` (e.g. `SQS.SendMessage`).
#[derive(Clone, Debug, Default)]
pub struct CallLog(Arc<Mutex<Vec<String>>>);

impl CallLog {
    /// `config` with its HTTP client (or, when it names none, [`crate::https_client`])
    /// wrapped so every request is recorded here.
    pub fn instrument(&self, config: &aws_config::SdkConfig) -> aws_config::SdkConfig {
        let inner = config.http_client().unwrap_or_else(crate::https_client);
        config.to_builder().http_client(CountingClient { inner, log: self.clone() }).build()
    }

    /// The calls recorded since the last `take`, and forgets them.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn push(&self, call: String) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(call);
    }
}

/// The operation of a request: every service used here speaks an AWS JSON protocol
/// that names it in `X-Amz-Target` (`DynamoDB_20120810.PutItem`, `AmazonSQS.SendMessage`,
/// `secretsmanager.GetSecretValue`).
fn operation(request: &HttpRequest) -> String {
    match request.headers().get("x-amz-target").and_then(|t| t.split_once('.')) {
        Some((service, op)) => {
            let service = match service {
                s if s.starts_with("DynamoDB") => "DynamoDB",
                "AmazonSQS" => "SQS",
                "secretsmanager" => "SecretsManager",
                other => other,
            };
            format!("{service}.{op}")
        }
        None => format!("{} {}", request.method(), request.uri()),
    }
}

#[derive(Debug)]
struct CountingClient {
    inner: SharedHttpClient,
    log: CallLog,
}

impl HttpClient for CountingClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(CountingConnector {
            inner: self.inner.http_connector(settings, components),
            log: self.log.clone(),
        })
    }
}

#[derive(Debug)]
struct CountingConnector {
    inner: SharedHttpConnector,
    log: CallLog,
}

impl HttpConnector for CountingConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        self.log.push(operation(&request));
        self.inner.call(request)
    }
}
