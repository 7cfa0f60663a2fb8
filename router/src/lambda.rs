//! The router on AWS Lambda behind API Gateway (REST API, proxy integration): the same
//! axum [`Router`](axum::Router), hosted by `lambda_http`.
//!
//! `lambda_http` puts the stage in front of the path (`/prod/twilio/sms`); the routes
//! and the signature URL want the path the API serves (`/twilio/sms`), so the stage is
//! taken off again here. Signatures are checked against the public base URL plus the
//! path, never against the Host header: `COMMS_PUBLIC_BASE_URL` when set (a custom
//! domain; every setting is parsed once by [`RouterSettings`]), else API Gateway's own domain and stage from the request context
//! (`https://{api}.execute-api.{region}.amazonaws.com/prod`), which API Gateway sets and a
//! client cannot. (The template cannot pass the invoke URL to the function that serves
//! it: that would be a circular reference.)

use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, Uri};
use std::sync::Arc;

use comms_aws::{AwsResources, DynamoStore, QueueUrls, SecretsManagerStore, SqsQueues};
use comms_core::cached::CachedTenants;
use lambda_http::aws_lambda_events::apigw::ApiGatewayProxyResponse;
use lambda_http::request::{LambdaRequest, RequestContext};
use lambda_http::{LambdaEvent, RequestExt};
use tower::ServiceExt;

use crate::console::ClientAddr;
use crate::settings::RouterSettings;
use crate::{AppState, RequestBaseUrl, RouterConfig, app};

/// How long a webhook's number → tenant lookup is served from memory.
pub const TENANT_CACHE_TTL: std::time::Duration = comms_core::cached::DEFAULT_TTL;

/// The request's path without the API Gateway stage `lambda_http` put in front of it.
pub fn strip_stage(mut req: lambda_http::Request) -> lambda_http::Request {
    let stage = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.stage.clone(),
        _ => None,
    };
    let Some(stage) = stage.filter(|s| s != "$default") else { return req };
    let prefix = format!("/{stage}");
    let path = req.uri().path();
    let rest = match path.strip_prefix(&prefix) {
        Some("") => "/",
        Some(rest) if rest.starts_with('/') => rest,
        _ => return req,
    };
    let path_and_query = match req.uri().query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_owned(),
    };
    let mut parts = req.uri().clone().into_parts();
    if let Ok(pq) = path_and_query.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
}

/// The public base URL API Gateway reports for a request: `https://{domain}/{stage}`.
pub fn base_from_context(req: &lambda_http::Request) -> Option<String> {
    let Some(RequestContext::ApiGatewayV1(ctx)) = req.request_context_ref() else { return None };
    let domain = ctx.domain_name.as_deref().filter(|d| !d.is_empty())?;
    Some(match ctx.stage.as_deref() {
        Some(stage) if !stage.is_empty() && stage != "$default" => format!("https://{domain}/{stage}"),
        _ => format!("https://{domain}"),
    })
}

/// The client's address: the last hop of `X-Forwarded-For` (API Gateway appends the
/// address it saw; earlier hops are the client's to write), else API Gateway's source IP.
pub fn client_addr(req: &lambda_http::Request) -> Option<String> {
    let forwarded = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
    if let Some(last) = forwarded.and_then(ClientAddr::last_hop) {
        return Some(last);
    }
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.identity.source_ip.clone(),
        _ => None,
    }
}

/// Answers one API Gateway request with the router. With `base_from_request`, the public
/// base URL of the request comes from its API Gateway context (no configured one).
pub async fn handle(
    router: axum::Router,
    req: lambda_http::Request,
    base_from_request: bool,
) -> Response<Body> {
    let base = if base_from_request { base_from_context(&req) } else { None };
    let client = client_addr(&req);
    let mut req: Request<Body> = strip_stage(req).map(Body::new);
    if let Some(base) = base {
        req.extensions_mut().insert(RequestBaseUrl(base));
    }
    if let Some(client) = client {
        req.extensions_mut().insert(ClientAddr(client));
    }
    // Invariant: an axum Router's error type is Infallible.
    match router.oneshot(req).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    }
}

/// The router's state on the AWS adapters: its stores on the DynamoDB table (tenant
/// lookups by number cached for 60 s), the queues at the URLs of its settings, Secrets
/// Manager behind its cache, read-only. Builds clients only: no call is made before the
/// first request (tenants and secrets are read when a request needs them).
///
/// Only the ports the router uses are built here, not the whole
/// [`Stores`](comms_core::ports::Stores) bundle: a port turned into a trait object links
/// every method of its adapter, so the bundle would put the turn journal, the usage
/// ledger and the secret writer (and their DynamoDB and Secrets Manager operations)
/// into the router's zip (docs/performance.md, "Zips").
pub fn aws_state(
    config: &aws_config::SdkConfig,
    resources: &AwsResources,
    queue_urls: &QueueUrls,
    router_config: RouterConfig,
) -> Result<AppState, lambda_http::Error> {
    let queues = Arc::new(SqsQueues::from_urls(config, &resources.queue_names(), queue_urls));
    let store = Arc::new(DynamoStore::new(config, &resources.table));
    let secrets = SecretsManagerStore::new(config, resources.secrets_cache_size, resources.secrets_ttl)?;
    Ok(AppState {
        tenants: Arc::new(CachedTenants::new(store.clone(), TENANT_CACHE_TTL)),
        secrets: Arc::new(secrets),
        queues: queues.clone(),
        consent: store.clone(),
        deliveries: store.clone(),
        owner_state: store.clone(),
        bookings: store.clone(),
        requests: store.clone(),
        conversations: store,
        dead_letters: queues,
        secret_writer: None,
        console: Arc::default(),
        config: Arc::new(router_config),
    })
}

/// The whole router Lambda: its settings (a malformed one stops the start-up, named),
/// logs (JSON unless `COMMS_LOG_FORMAT=text`), then the runtime loop. Nothing here
/// waits on the network: the AWS configuration takes region and credentials from the
/// Lambda environment (credentials are resolved on the first call).
pub async fn run() -> Result<(), lambda_http::Error> {
    let settings = RouterSettings::from_env()?;
    comms_telemetry::init(settings.log_format);
    // Metrics as EMF lines on stdout, flushed after each request (docs/operations.md).
    let emf = comms_telemetry::emf::Emf::install(&settings.resources.queue_prefix, "router")?;
    comms_core::metrics::describe();
    metrics::counter!(comms_core::metrics::COLD_STARTS).increment(1);
    let base_from_request = settings.base_from_request();
    let config = comms_aws::lambda_config(|name| std::env::var(name).ok())?;
    let state = aws_state(&config, &settings.resources, &settings.queue_urls, settings.router_config())?;
    let router = app(state);
    lambda_http::lambda_runtime::run(lambda_http::service_fn(move |event: LambdaEvent<LambdaRequest>| {
        let router = router.clone();
        async move {
            Ok::<_, std::convert::Infallible>(emf.flushed(answer(router, event, base_from_request)).await)
        }
    }))
    .await
}

/// Answers one API Gateway (REST) event with the router: the request as `lambda_http`
/// builds it (its Lambda context attached, `x-amzn-trace-id` from the context's X-Ray
/// trace), the answer in API Gateway's proxy format ([`proxy_response`]). This is
/// `lambda_http::run`'s adapter minus its response charset conversion.
pub async fn answer(
    router: axum::Router,
    event: LambdaEvent<LambdaRequest>,
    base_from_request: bool,
) -> ApiGatewayProxyResponse {
    let LambdaEvent { payload, context } = event;
    let mut req: lambda_http::Request = payload.into();
    if let Some(trace) = context.xray_trace_id.as_deref().and_then(|t| HeaderValue::from_str(t).ok()) {
        req.headers_mut().insert("x-amzn-trace-id", trace);
    }
    proxy_response(handle(router, req.with_lambda_context(context), base_from_request).await).await
}

/// Content types whose bodies API Gateway gets as text (`lambda_http`'s list); other
/// bodies, and any with a `Content-Encoding`, go base64-encoded.
const TEXT_TYPE_PREFIXES: [&str; 5] =
    ["text", "application/json", "application/javascript", "application/xml", "application/yaml"];
const TEXT_TYPE_SUFFIXES: [&str; 3] = ["+xml", "+yaml", "+json"];

/// `resp` in API Gateway's proxy format, as `lambda_http` writes it for a REST API: the
/// headers as `multiValueHeaders` only (API Gateway merges the two maps), a textual body
/// (no `Content-Type`, or a textual one: [`TEXT_TYPE_PREFIXES`]) as text, any other
/// base64. Unlike `lambda_http`, a text body is not re-decoded from the charset its
/// `Content-Type` names: the router writes UTF-8 only (a byte that is not UTF-8 becomes
/// U+FFFD, as `lambda_http` does for UTF-8), and the decoder's tables (`encoding_rs`,
/// about 0.13 MB of the zip) stay out of the binary.
pub async fn proxy_response(resp: Response<Body>) -> ApiGatewayProxyResponse {
    let (parts, body) = resp.into_parts();
    let mut out = ApiGatewayProxyResponse::default();
    out.status_code = i64::from(parts.status.as_u16());
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::error!(error = %e, "the response body could not be read");
            out.status_code = 500;
            Default::default()
        }
    };
    out.body = Some(if is_text(&parts.headers) {
        lambda_http::Body::Text(String::from_utf8_lossy(&bytes).into_owned())
    } else {
        out.is_base64_encoded = true;
        lambda_http::Body::Binary(bytes.to_vec())
    });
    out.multi_value_headers = parts.headers;
    out
}

fn is_text(headers: &axum::http::HeaderMap) -> bool {
    use axum::http::header::{CONTENT_ENCODING, CONTENT_TYPE};
    if headers.contains_key(CONTENT_ENCODING) {
        return false;
    }
    let Some(content_type) = headers.get(CONTENT_TYPE) else { return true };
    let content_type = content_type.to_str().unwrap_or_default();
    let mime = content_type.trim().split(';').next().unwrap_or_default();
    TEXT_TYPE_PREFIXES.iter().any(|p| content_type.starts_with(p))
        || TEXT_TYPE_SUFFIXES.iter().any(|s| mime.ends_with(s))
        || headers.get("x-lambda-http-content-encoding").is_some_and(|v| v == "text")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a failed setup step should panic
mod tests {
    use comms_aws::CallLog;

    use super::*;

    /// The router's state as `run` builds it (settings as the template sets them, then
    /// `aws_state`) makes no AWS call before its first request; the first request's
    /// calls are seen by the same recorder, so the silence before it is not blindness.
    #[tokio::test]
    async fn building_the_state_makes_no_aws_call_before_the_first_request() {
        let url = |q: &str| format!("http://127.0.0.1:9/123456789012/comms-{q}");
        let env: std::collections::BTreeMap<String, String> = [
            ("COMMS_TABLE", "comms-data".to_owned()),
            ("COMMS_QUEUE_PREFIX", "comms".to_owned()),
            ("COMMS_SMS_QUEUE_URL", url("sms")),
            ("COMMS_WHATSAPP_QUEUE_URL", url("whatsapp")),
            ("COMMS_VOICE_QUEUE_URL", url("voice")),
        ]
        .map(|(k, v)| (k.to_owned(), v))
        .into();
        let settings = RouterSettings::from_lookup(|n| env.get(n).cloned()).unwrap();
        let log = CallLog::default();
        // The configuration as the binary builds it, from Lambda's variables; nothing
        // listens on port 9: a call fails at once, and is recorded.
        let lambda_env = |n: &str| match n {
            "AWS_REGION" => Some("us-east-1".to_owned()),
            "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" => Some("test".to_owned()),
            "AWS_ENDPOINT_URL" => Some("http://127.0.0.1:9".to_owned()),
            _ => None,
        };
        let config = log.instrument(&comms_aws::lambda_config(lambda_env).unwrap());
        let state =
            aws_state(&config, &settings.resources, &settings.queue_urls, settings.router_config()).unwrap();
        let router = app(state);
        assert_eq!(log.take(), Vec::<String>::new(), "AWS calls before the first request");

        let sample = include_str!("../../samples/events/apigw-rest-twilio-sms.json");
        let req = lambda_http::request::from_str(sample).unwrap();
        let resp = handle(router, req, settings.base_from_request()).await;
        assert!(resp.status().is_server_error(), "{}", resp.status());
        let calls = log.take();
        assert!(calls.iter().any(|c| c.starts_with("DynamoDB.")), "{calls:?}");
    }

    async fn proxied(
        content_type: Option<&str>,
        encoding: Option<&str>,
        body: &'static [u8],
    ) -> serde_json::Value {
        let mut resp = Response::builder().status(201).header("x-a", "1").header("x-a", "2");
        if let Some(t) = content_type {
            resp = resp.header("content-type", t);
        }
        if let Some(e) = encoding {
            resp = resp.header("content-encoding", e);
        }
        serde_json::to_value(proxy_response(resp.body(Body::from(body)).unwrap()).await).unwrap()
    }

    /// The proxy answer as `lambda_http` writes it for a REST API: text bodies as text,
    /// the rest base64, every header in `multiValueHeaders` (and none in `headers`, which
    /// API Gateway would merge into duplicates).
    #[tokio::test]
    async fn answers_are_written_in_api_gateways_proxy_format() {
        let json = proxied(Some("application/json"), None, br#"{"ok":true}"#).await;
        assert_eq!((json["statusCode"].as_i64(), json["body"].as_str()), (Some(201), Some(r#"{"ok":true}"#)));
        assert_eq!(json["isBase64Encoded"], false);
        assert_eq!(json["multiValueHeaders"]["x-a"], serde_json::json!(["1", "2"]));
        assert!(json["headers"].as_object().is_none_or(|h| h.is_empty()), "{json}");
        for textual in [None, Some("text/xml; charset=utf-8"), Some("application/problem+json")] {
            let v = proxied(textual, None, "é\n".as_bytes()).await;
            assert_eq!((v["body"].as_str(), &v["isBase64Encoded"]), (Some("é\n"), &serde_json::json!(false)));
        }
        let png = proxied(Some("image/png"), None, b"\x89PNG").await;
        assert_eq!(
            (png["body"].as_str(), &png["isBase64Encoded"]),
            (Some("iVBORw=="), &serde_json::json!(true))
        );
        let gzip = proxied(Some("text/plain"), Some("gzip"), b"\x1f\x8b").await;
        assert_eq!(gzip["isBase64Encoded"], true, "{gzip}");
    }
}
