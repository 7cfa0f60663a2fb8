//! The SAM template deployed as an operator would (`infra/template.yaml`, translated to
//! CloudFormation by `scripts/check-template.py --translate`) into moto's CloudFormation
//! (`scripts/moto-stack.py`), and the functions run with exactly the environment the
//! template sets for them, resolved from the translated template against the stack:
//! the router in process (its Lambda entry point's own pieces), the SMS processor as the
//! real `sms-processor` binary started with only that environment behind a local Lambda
//! Runtime API.
//!
//! Added to the template's environment, and only this: the AWS endpoint and dummy
//! credentials of moto, the Lambda runtime's own variables, `TWILIO_API_BASE` pointed at
//! the Twilio stub (the template hard-codes Twilio's), and, where the test says so, the
//! `OpenAiBaseUrl` parameter set to the OpenAI stub or an `HTTPS_PROXY` that records
//! where the model call goes without letting it leave the machine.
//!
//! moto workarounds (in `scripts/moto-stack.py`): a dummy code zip in S3, a placeholder
//! method because moto ignores the REST API's OpenAPI `Body`, and the event source
//! mappings disabled after their check (moto would run them itself). moto does not
//! implement `AWS::ApiGateway::Stage`, `UsagePlan`, `Account` or `AWS::CloudWatch::Alarm`:
//! those are checked in the translated template instead.
#![allow(clippy::unwrap_used)] // tests: a failed setup step should panic

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use comms_aws::{AwsResources, DynamoStore, ENV_QUEUE_PREFIX, SqsQueues, emulator_config};
use comms_core::domain::Channel;
use comms_core::domain::tenant::TenantConfig;
use comms_core::ports::{Queues, TenantDirectory};
use comms_core::twilio::signature;
use comms_testkit::moto::Moto;
use comms_testkit::{ModelStep, OpenAiStub, TwilioStub};
use serde_json::{Value, json};

const AUTH_TOKEN: &str = "test-auth-token";
const SAMPLE: &str = include_str!("../../samples/events/apigw-rest-twilio-sms.json");
/// The invoke URL of the sample event's API and stage (from its request context).
const SAMPLE_INVOKE_URL: &str = "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A Python with aws-sam-translator and boto3: `COMMS_TEMPLATE_PYTHON`, the worktree's
/// `.venv`, moto's own environment, or `python3`. `None` (the test skips) when there is
/// none, except under `CI=true`.
fn python() -> Option<String> {
    let mut candidates: Vec<String> = std::env::var("COMMS_TEMPLATE_PYTHON").into_iter().collect();
    candidates.push(root().join(".venv/bin/python").display().to_string());
    if let Ok(moto) = std::env::var("COMMS_MOTO_SERVER") {
        candidates.push(Path::new(&moto).with_file_name("python").display().to_string());
    }
    candidates.push("python3".into());
    let found = candidates.into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import samtranslator, boto3"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if found.is_none() {
        assert!(
            !matches!(std::env::var("CI").as_deref(), Ok("true")),
            "no Python with aws-sam-translator and boto3 and CI=true"
        );
        eprintln!("SKIPPED: no Python with aws-sam-translator and boto3 (set COMMS_TEMPLATE_PYTHON)");
    }
    found
}

/// The template translated from SAM to CloudFormation, as `sam deploy` hands it over.
fn translated(py: &str, dir: &Path) -> (PathBuf, Value) {
    let out = dir.join("template.cfn.json");
    let status = Command::new(py)
        .arg(root().join("scripts/check-template.py"))
        .arg("--translate")
        .arg(root().join("infra/template.yaml"))
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "translation failed");
    let template = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    (out, template)
}

/// A stack created in moto, and how to resolve the template's values against it.
struct Stack {
    template: Value,
    /// What `scripts/moto-stack.py` reported.
    report: Value,
    name: String,
    parameters: BTreeMap<String, String>,
}

impl Stack {
    fn deploy(py: &str, moto: &Moto, dir: &Path, name: &str) -> Stack {
        let (path, template) = translated(py, dir);
        let out = Command::new(py)
            .arg(root().join("scripts/moto-stack.py"))
            .args([&moto.endpoint, path.to_str().unwrap(), name, "--disable-mappings"])
            .stderr(Stdio::inherit())
            .output()
            .unwrap();
        assert!(out.status.success(), "moto-stack.py failed");
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        Stack { template, report, name: name.to_owned(), parameters: BTreeMap::new() }
    }

    /// The stack as a redeploy with these parameter values would configure it.
    fn with_parameter(&self, key: &str, value: &str) -> Stack {
        let mut parameters = self.parameters.clone();
        parameters.insert(key.into(), value.into());
        Stack {
            template: self.template.clone(),
            report: self.report.clone(),
            name: self.name.clone(),
            parameters,
        }
    }

    fn physical(&self, logical: &str) -> String {
        let p = self.report["resources"][logical]["physical"].as_str();
        p.unwrap_or_else(|| panic!("no physical id for {logical}")).to_owned()
    }

    fn parameter(&self, name: &str) -> Option<String> {
        if let Some(v) = self.parameters.get(name) {
            return Some(v.clone());
        }
        let default = self.template["Parameters"].get(name)?.get("Default")?;
        Some(match default {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    fn reference(&self, name: &str) -> Option<String> {
        match name {
            "AWS::NoValue" => None,
            "AWS::StackName" => Some(self.name.clone()),
            "AWS::Region" => Some("us-east-1".into()),
            "AWS::AccountId" => Some(self.report["account"].as_str().unwrap().into()),
            "AWS::Partition" => Some("aws".into()),
            _ => Some(self.parameter(name).unwrap_or_else(|| self.physical(name))),
        }
    }

    /// A template value with `Ref`, `Fn::If`, `Fn::Sub` resolved; `None` is
    /// `AWS::NoValue` (the key is not set at all).
    fn resolve(&self, v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Object(o) if o.len() == 1 => {
                let (f, arg) = o.iter().next().unwrap();
                match f.as_str() {
                    "Ref" => self.reference(arg.as_str().unwrap()),
                    "Fn::If" => {
                        let branch = if self.condition(arg[0].as_str().unwrap()) { &arg[1] } else { &arg[2] };
                        self.resolve(branch)
                    }
                    "Fn::Sub" => {
                        let mut s = arg.as_str().unwrap().to_owned();
                        while let Some(start) = s.find("${") {
                            let end = start + s[start..].find('}').unwrap();
                            let value = self.reference(&s[start + 2..end]).unwrap();
                            s.replace_range(start..=end, &value);
                        }
                        Some(s)
                    }
                    other => panic!("unsupported in an environment value: {other}"),
                }
            }
            other => panic!("unsupported environment value {other}"),
        }
    }

    fn condition(&self, name: &str) -> bool {
        self.truth(&self.template["Conditions"][name])
    }

    fn truth(&self, v: &Value) -> bool {
        let (f, arg) = v.as_object().unwrap().iter().next().unwrap();
        match f.as_str() {
            "Fn::Not" => !self.truth(&arg[0]),
            "Fn::Equals" => self.resolve(&arg[0]) == self.resolve(&arg[1]),
            "Fn::And" => arg.as_array().unwrap().iter().all(|c| self.truth(c)),
            "Fn::Or" => arg.as_array().unwrap().iter().any(|c| self.truth(c)),
            "Condition" => self.condition(arg.as_str().unwrap()),
            other => panic!("unsupported condition {other}"),
        }
    }

    /// Exactly the environment the template gives the function `logical`.
    fn environment(&self, logical: &str) -> BTreeMap<String, String> {
        let vars = &self.template["Resources"][logical]["Properties"]["Environment"]["Variables"];
        vars.as_object()
            .unwrap()
            .iter()
            .filter_map(|(k, v)| self.resolve(v).map(|v| (k.clone(), v)))
            .collect()
    }
}

/// moto, a stack named `comms` with the default parameters, the demo tenant and its
/// secrets in it, and the stubs.
struct World {
    moto: Moto,
    stack: Stack,
    config: aws_config::SdkConfig,
    openai: OpenAiStub,
    twilio: TwilioStub,
    _dir: tempfile::TempDir,
}

async fn world() -> Option<World> {
    let py = python()?;
    let moto = Moto::start().await?;
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::deploy(&py, &moto, dir.path(), "comms");
    assert_eq!(stack.report["status"], "CREATE_COMPLETE", "{:#}", stack.report);
    let config = emulator_config(&moto.endpoint).await;
    let tenant =
        TenantConfig::from_json(include_str!("../../samples/tenants/demo-repair-shop.json")).unwrap();
    DynamoStore::new(&config, &stack.physical("DataTable")).put(&tenant).await.unwrap();
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    for (name, value) in [
        (
            tenant.credentials.twilio.clone().unwrap(),
            format!(r#"{{"account_sid": "ACtest", "auth_token": "{AUTH_TOKEN}"}}"#),
        ),
        ("openai-api-key/sms".to_owned(), "sk-test".to_owned()),
    ] {
        sm.create_secret().name(name).secret_string(value).send().await.unwrap();
    }
    let openai = OpenAiStub::start(vec![]).await;
    let twilio = TwilioStub::start().await;
    Some(World { moto, stack, config, openai, twilio, _dir: dir })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_template_deploys_with_one_stage_the_documented_outputs_and_the_names_the_code_derives() {
    let Some(world) = world().await else { return };
    let stack = &world.stack;
    let resources = stack.template["Resources"].as_object().unwrap();

    // One API stage. moto does not implement AWS::ApiGateway::Stage, so the stages are
    // the template's Stage resources plus those moto made from a Deployment's StageName
    // (how SAM's extra "Stage" stage is made).
    let mut stages: BTreeSet<String> =
        stack.report["stages"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect();
    for r in resources.values() {
        let name = &r["Properties"]["StageName"];
        if matches!(r["Type"].as_str(), Some("AWS::ApiGateway::Stage" | "AWS::ApiGateway::Deployment"))
            && !name.is_null()
        {
            stages.insert(stack.resolve(name).unwrap());
        }
    }
    assert_eq!(stages, BTreeSet::from(["prod".to_owned()]));

    // The outputs docs/deploy.md tells operators to copy.
    let outputs = &stack.report["outputs"];
    let deploy_md = std::fs::read_to_string(root().join("docs/deploy.md")).unwrap();
    let api = stack.physical("Api");
    let api_url = format!("https://{api}.execute-api.us-east-1.amazonaws.com/prod");
    assert_eq!(outputs["ApiUrl"], api_url.as_str());
    for (key, path) in [
        ("TwilioSmsWebhookUrl", "/twilio/sms"),
        ("TwilioVoiceWebhookUrl", "/twilio/voice"),
        ("TwilioWhatsappWebhookUrl", "/twilio/whatsapp"),
    ] {
        assert_eq!(outputs[key], format!("{api_url}{path}").as_str(), "{key}");
    }
    for key in
        ["ApiUrl", "TwilioSmsWebhookUrl", "UsagePlanId", "DataTableName", "QueuePrefix", "AlarmTopicArn"]
    {
        assert!(deploy_md.contains(key), "docs/deploy.md does not name the output {key}");
        // moto does not implement AWS::ApiGateway::UsagePlan: its output is checked in
        // the template.
        if key == "UsagePlanId" {
            assert_eq!(stack.template["Outputs"][key]["Value"], json!({"Ref": "ApiUsagePlan"}));
            assert_eq!(resources["ApiUsagePlan"]["Type"], "AWS::ApiGateway::UsagePlan");
        } else {
            assert!(outputs[key].as_str().is_some_and(|v| !v.is_empty()), "output {key}: {outputs:#}");
        }
    }

    // The names the CLI and the functions derive from the prefix are the stack's.
    let prefix = outputs["QueuePrefix"].as_str().unwrap().to_owned();
    assert_eq!(prefix, "comms");
    assert_eq!(outputs["DataTableName"], stack.physical("DataTable").as_str());
    let derived = AwsResources::from_lookup(|n| (n == ENV_QUEUE_PREFIX).then(|| prefix.clone()));
    match derived {
        // Derived from the prefix alone: exactly the stack's table.
        Ok(derived) => assert_eq!(derived.table, stack.physical("DataTable")),
        // Where COMMS_TABLE is still required, the contract is the name `{prefix}-data`.
        Err(_) => assert_eq!(stack.physical("DataTable"), format!("{prefix}-data")),
    }
    let names = comms_aws::QueueNames { prefix: prefix.clone() };
    assert_eq!(stack.physical("FailuresTable"), names.failures_table());
    for (channel, logical) in
        [(Channel::Sms, "Sms"), (Channel::Whatsapp, "Whatsapp"), (Channel::Voice, "Voice")]
    {
        let queue_name = |l: &str| stack.physical(l).rsplit('/').next().unwrap().to_owned();
        assert_eq!(queue_name(&format!("{logical}Queue")), names.queue(channel));
        assert_eq!(queue_name(&format!("{logical}DeadLetterQueue")), names.dlq(channel));
        // Each processor is mapped to its own queue.
        let mapping = &stack.report["mappings"][format!("{logical}ProcessorQueueMapping")];
        assert_eq!(mapping["queue"], names.queue(channel).as_str(), "{mapping}");
        assert_eq!(mapping["function"], format!("{prefix}-{channel}-processor").as_str());
        // And told the same names in its environment.
        let env = stack.environment(&format!("{logical}ProcessorFunction"));
        assert_eq!(env["COMMS_QUEUE_PREFIX"], prefix);
        assert_eq!(env["COMMS_TABLE"], stack.physical("DataTable"));
    }

    // With the default parameters no function gets an empty variable (an empty
    // OPENAI_BASE_URL broke every model call).
    for (logical, r) in resources {
        if r["Type"] == "AWS::Lambda::Function" {
            for (k, v) in stack.environment(logical) {
                assert!(!v.is_empty(), "{logical}: {k} is set to an empty value");
            }
        }
    }
}

/// A minimal Lambda Runtime API: hands out queued events, keeps the answers.
#[derive(Clone, Default)]
struct RuntimeApi {
    events: Arc<Mutex<Vec<(String, Value)>>>,
    answers: Arc<Mutex<BTreeMap<String, (String, Value)>>>,
}

impl RuntimeApi {
    async fn start(&self) -> String {
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
    async fn invoke(&self, id: &str, event: Value, timeout: Duration) -> Option<(String, Value)> {
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
struct Function(std::process::Child);

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_processor(env: &BTreeMap<String, String>, moto: &Moto, runtime_api: &str) -> Function {
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
fn webhook_event(sid: &str, text: &str) -> Value {
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
async fn route(world: &World, env: &BTreeMap<String, String>, event: &Value) -> u16 {
    let settings = comms_router::settings::RouterSettings::from_lookup(|n| env.get(n).cloned()).unwrap();
    let config = settings.router_config();
    let state = comms_router::lambda::aws_state(&world.config, &settings.resources, config).await.unwrap();
    let req = lambda_http::request::from_str(&event.to_string()).unwrap();
    let resp =
        comms_router::lambda::handle(comms_router::app(state), req, settings.base_from_request()).await;
    resp.status().as_u16()
}

/// What the SMS queue holds, as the event source mapping would hand it to the function.
async fn sqs_event(world: &World, env: &BTreeMap<String, String>) -> Value {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_webhook_through_the_router_and_processor_with_the_templates_environment_gets_a_reply() {
    let Some(world) = world().await else { return };
    // The operator points the template's OpenAiBaseUrl at an OpenAI-compatible server.
    let stack = world.stack.with_parameter("OpenAiBaseUrl", &world.openai.base_url);
    world.openai.always(ModelStep::Text("Yes, we fix screens today."));

    let router_env = stack.environment("RouterFunction");
    assert!(!router_env.contains_key("COMMS_PUBLIC_BASE_URL"), "{router_env:?}");
    let status =
        route(&world, &router_env, &webhook_event("SM0000000000000000000000000000d001", "Fix my screen?"))
            .await;
    assert_eq!(status, 200);

    let mut env = stack.environment("SmsProcessorFunction");
    assert_eq!(env["OPENAI_BASE_URL"], world.openai.base_url);
    assert_eq!(
        env.insert("TWILIO_API_BASE".into(), world.twilio.base_url.clone()).unwrap(),
        "https://api.twilio.com"
    );
    let runtime = RuntimeApi::default();
    let addr = runtime.start().await;
    let _function = start_processor(&env, &world.moto, &addr);
    let event = sqs_event(&world, &env).await;
    let (kind, answer) = runtime.invoke("req-1", event, Duration::from_secs(60)).await.expect("no answer");
    assert_eq!(kind, "response", "{answer}");
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    let sent = world.twilio.created();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["body"], "Yes, we fix screens today.");
}

/// Accepts proxy connections and records each request line (`CONNECT host:port ...`),
/// then refuses: nothing leaves the machine.
fn recording_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_the_default_parameters_the_processor_calls_openais_own_endpoint() {
    let Some(world) = world().await else { return };
    // The default OpenAiBaseUrl is empty: the processor must call OpenAI itself (once an
    // empty OPENAI_BASE_URL reached async-openai and every call failed before leaving).
    let router_env = world.stack.environment("RouterFunction");
    let status =
        route(&world, &router_env, &webhook_event("SM0000000000000000000000000000d002", "Open today?")).await;
    assert_eq!(status, 200);
    let mut env = world.stack.environment("SmsProcessorFunction");
    let template_sets_base_url = env.get("OPENAI_BASE_URL").cloned();
    env.insert("TWILIO_API_BASE".into(), world.twilio.base_url.clone());
    let (proxy, seen) = recording_proxy();
    env.insert("HTTPS_PROXY".into(), proxy);
    env.insert("NO_PROXY".into(), "127.0.0.1,localhost".into());

    let runtime = RuntimeApi::default();
    let addr = runtime.start().await;
    let _function = start_processor(&env, &world.moto, &addr);
    let event = sqs_event(&world, &env).await;
    // The record fails (the proxy refuses); the point is where the call went.
    let _ = runtime.invoke("req-1", event, Duration::from_secs(5)).await;
    let start = Instant::now();
    while seen.lock().unwrap().is_empty() && start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = seen.lock().unwrap().clone();
    assert!(seen.first().is_some_and(|l| l.starts_with("CONNECT api.openai.com:443")), "{seen:?}");
    assert!(world.twilio.created().is_empty());
    // And the template sets no (empty) OPENAI_BASE_URL at all.
    assert_eq!(template_sets_base_url, None);
}

#[test]
fn the_translated_template_has_one_stage_and_scopes_queue_access_to_each_functions_own_queue() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (_, template) = translated(&py, dir.path());
    let resources = template["Resources"].as_object().unwrap();
    for (name, r) in resources {
        if r["Type"] != "AWS::IAM::Role" {
            continue;
        }
        let managed = r["Properties"]["ManagedPolicyArns"].to_string();
        assert!(!managed.contains("SQS"), "{name} has a managed SQS policy: {managed}");
        for policy in r["Properties"]["Policies"].as_array().into_iter().flatten() {
            for statement in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
                if statement["Action"].to_string().contains("sqs:") {
                    assert!(!statement["Resource"].to_string().contains("\"*\""), "{name}: {statement}");
                }
            }
        }
    }
    // One API stage: one Stage resource, and no Deployment making another ("Stage").
    let stages = resources.values().filter(|r| r["Type"] == "AWS::ApiGateway::Stage").count();
    assert_eq!(stages, 1);
    for r in resources.values().filter(|r| r["Type"] == "AWS::ApiGateway::Deployment") {
        assert!(r["Properties"]["StageName"].is_null(), "{r}");
    }
    // The alarm topic's key is one CloudWatch may use (the AWS-managed SNS key is not).
    let key = &template["Resources"]["AlarmTopic"]["Properties"]["KmsMasterKeyId"];
    assert_eq!(key, &json!({"Ref": "AlarmTopicKey"}));
    let policy = template["Resources"]["AlarmTopicKey"]["Properties"]["KeyPolicy"].to_string();
    assert!(
        policy.contains("cloudwatch.amazonaws.com") && policy.contains("kms:GenerateDataKey*"),
        "{policy}"
    );
}

/// API Gateway asks for its own key on the key routes, but not on `/availability`, which
/// the router answers to anyone when the tenant made availability public (else it wants
/// the admin key), nor on the signed Twilio webhooks.
#[test]
fn the_gateway_wants_a_key_on_the_key_routes_only() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (_, template) = translated(&py, dir.path());
    let api = template["Resources"]
        .as_object()
        .unwrap()
        .values()
        .find(|r| r["Type"] == "AWS::ApiGateway::RestApi")
        .expect("a REST API");
    let paths = &api["Properties"]["Body"]["paths"];
    let wants_key = |path: &str, method: &str| {
        let op = &paths[path][method];
        assert!(op.is_object(), "{method} {path} is not in the API");
        op["security"].to_string().contains("api_key")
    };
    for (path, method) in [
        ("/initiate-conversation", "post"),
        ("/admin/state", "get"),
        ("/admin/state", "put"),
        ("/bookings", "post"),
        ("/leads", "get"),
    ] {
        assert!(wants_key(path, method), "{method} {path} must need an API Gateway key");
    }
    for (path, method) in [("/availability", "get"), ("/twilio/sms", "post"), ("/healthz", "get")] {
        assert!(!wants_key(path, method), "{method} {path} must not need an API Gateway key");
    }
}
