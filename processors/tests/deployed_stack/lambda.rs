//! The functions as Lambda runs them: a minimal Runtime API for the real
//! `sms-processor` binary, the router's own Lambda pieces in process, and the events
//! API Gateway and SQS hand them.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use comms_aws::{AwsResources, SqsQueues};
use comms_core::domain::Channel;
use comms_core::ports::Queues;
use comms_core::twilio::signature;
use comms_testkit::moto::Moto;
use serde_json::{Value, json};

use super::stack::World;
use super::{AUTH_TOKEN, SAMPLE, SAMPLE_INVOKE_URL};

/// A minimal Lambda Runtime API: hands out queued events, keeps the answers.
#[derive(Clone, Default)]
pub struct RuntimeApi {
    events: Arc<Mutex<Vec<(String, Value)>>>,
    answers: Arc<Mutex<BTreeMap<String, (String, Value)>>>,
}

impl RuntimeApi {
    pub async fn start(&self) -> String {
        use axum::extract::{Path as UrlPath, State};
        use axum::routing::{get, post};
        async fn next(State(api): State<RuntimeApi>) -> axum::response::Response {
            loop {
                if let Some((id, event)) = api.events.lock().unwrap().pop() {
                    let deadline = jiff::Timestamp::now().as_millisecond() + 60_000;
                    return axum::response::Response::builder()
                        .header("lambda-runtime-aws-request-id", id)
                        .header("lambda-runtime-deadline-ms", deadline.to_string())
                        .header(
                            "lambda-runtime-invoked-function-arn",
                            "arn:aws:lambda:us-east-1:123456789012:function:f",
                        )
                        .header("content-type", "application/json")
                        .body(axum::body::Body::from(event.to_string()))
                        .unwrap();
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        async fn answer(
            State(api): State<RuntimeApi>,
            UrlPath((id, kind)): UrlPath<(String, String)>,
            body: String,
        ) {
            let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
            api.answers.lock().unwrap().insert(id, (kind, value));
        }
        async fn init_error(State(api): State<RuntimeApi>, body: String) {
            api.answers.lock().unwrap().insert("init".into(), ("error".into(), Value::String(body)));
        }
        let app = axum::Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/{kind}", post(answer))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr.to_string()
    }

    /// Invokes and waits for the answer (`("response" | "error", body)`).
    pub async fn invoke(&self, id: &str, event: Value, timeout: Duration) -> Option<(String, Value)> {
        self.events.lock().unwrap().push((id.into(), event));
        let start = Instant::now();
        while start.elapsed() < timeout {
            let answer = {
                let answers = self.answers.lock().unwrap();
                answers.get(id).or_else(|| answers.get("init")).cloned()
            };
            if answer.is_some() {
                return answer;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
}

/// The `sms-processor` binary with exactly `env` (plus the AWS endpoint and the Lambda
/// runtime's variables), killed when dropped.
pub struct Function(std::process::Child);

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn start_processor(env: &BTreeMap<String, String>, moto: &Moto, runtime_api: &str) -> Function {
    let child = Command::new(env!("CARGO_BIN_EXE_sms-processor"))
        .env_clear()
        .envs(env)
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "comms-sms-processor")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    Function(child)
}

/// The sample API Gateway event with `sid` as its MessageSid, signed for its invoke URL.
pub fn webhook_event(sid: &str, text: &str) -> Value {
    let mut event: Value = serde_json::from_str(SAMPLE).unwrap();
    let mut params: Vec<(String, String)> =
        form_urlencoded::parse(event["body"].as_str().unwrap().as_bytes()).into_owned().collect();
    for (k, v) in &mut params {
        match k.as_str() {
            "MessageSid" | "SmsSid" | "SmsMessageSid" => *v = sid.to_owned(),
            "Body" => *v = text.to_owned(),
            _ => {}
        }
    }
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(&params).finish();
    let sig = signature::compute(AUTH_TOKEN, &format!("{SAMPLE_INVOKE_URL}/twilio/sms"), &params);
    event["body"] = body.into();
    event["headers"]["X-Twilio-Signature"] = sig.clone().into();
    event["multiValueHeaders"]["X-Twilio-Signature"] = json!([sig]);
    event
}

/// The router as its Lambda entry point builds it from `env` (router/src/lambda.rs
/// `run`), answering one API Gateway event.
pub async fn route(world: &World, env: &BTreeMap<String, String>, event: &Value) -> u16 {
    let settings = comms_router::settings::RouterSettings::from_lookup(|n| env.get(n).cloned()).unwrap();
    let config = settings.router_config();
    let state =
        comms_router::lambda::aws_state(&world.config, &settings.resources, &settings.queue_urls, config)
            .unwrap();
    let req = lambda_http::request::from_str(&event.to_string()).unwrap();
    let resp =
        comms_router::lambda::handle(comms_router::app(state), req, settings.base_from_request()).await;
    resp.status().as_u16()
}

/// What the SMS queue holds, as the event source mapping would hand it to the function.
pub async fn sqs_event(world: &World, env: &BTreeMap<String, String>) -> Value {
    let resources = AwsResources::from_lookup(|n| env.get(n).cloned()).unwrap();
    let queues = SqsQueues::connect(&world.config, &resources.queue_names()).await.unwrap();
    let got = queues.receive(Channel::Sms, 10, Duration::from_secs(120)).await.unwrap();
    assert_eq!(got.len(), 1, "{got:?}");
    let records: Vec<Value> = got
        .iter()
        .map(|m| {
            let attributes: serde_json::Map<String, Value> = m
                .attributes
                .iter()
                .map(|(k, v)| (k.clone(), json!({"stringValue": v, "dataType": "String"})))
                .collect();
            json!({
                "messageId": m.message_id, "receiptHandle": m.receipt, "body": m.body,
                "attributes": {"ApproximateReceiveCount": m.receive_count.to_string(),
                               "SentTimestamp": m.sent_at.as_millisecond().to_string()},
                "messageAttributes": attributes, "md5OfBody": "", "eventSource": "aws:sqs",
                "eventSourceARN": format!("arn:aws:sqs:us-east-1:123456789012:{}", resources.queue_names().queue(Channel::Sms)),
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    json!({ "Records": records })
}

/// Accepts proxy connections and records each request line (`CONNECT host:port ...`),
/// then refuses: nothing leaves the machine.
pub fn recording_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 1024];
            let n = stream.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]);
            log.lock().unwrap().push(head.lines().next().unwrap_or("").to_owned());
            let _ = stream.write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
        }
    });
    (format!("http://{addr}"), seen)
}
