//! `comms serve --backend aws` and the operator commands against moto's server (a
//! local AWS API emulator) with the OpenAI and Twilio stubs: the whole AWS path in one
//! local process, as an operator would run it against an emulator or a real account.
#![allow(clippy::unwrap_used)] // tests: a failed setup step should panic

use std::process::{Command, Output};
use std::time::Duration;

use comms_testkit::moto::Moto;
use comms_testkit::{ModelStep, OpenAiStub, TwilioStub};

mod common;

use common::{BIN, Server};

const SHOP: &str = "+15555550100";
const CUSTOMER: &str = "+14155550123";
const CONVERSATION: &str = "demo.repair-shop.tel.14155550123";

/// The environment every `comms` call of one test gets.
struct Env {
    vars: Vec<(&'static str, String)>,
    data_dir: tempfile::TempDir,
}

impl Env {
    fn new(moto: &Moto, openai: &OpenAiStub, twilio: &TwilioStub) -> Self {
        let mut vars = common::moto_env(moto);
        vars.extend([
            ("OPENAI_API_KEY", "sk-test".to_owned()),
            ("OPENAI_BASE_URL", openai.base_url.clone()),
            ("TWILIO_API_BASE", twilio.base_url.clone()),
            ("COMMS_VISIBILITY_SECS", "2".to_owned()),
            ("COMMS_RETRY_BUDGET_SECS", "1".to_owned()),
        ]);
        Self { vars, data_dir: tempfile::tempdir().unwrap() }
    }

    fn command(&self) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--data-dir").arg(self.data_dir.path());
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c.env_remove("COMMS_PUBLIC_BASE_URL").env_remove("TWILIO_AUTH_TOKEN").env_remove("OPENAI_MODEL");
        c
    }

    fn comms(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.comms(args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn serve(env: &Env) -> Server {
    Server::start(env.command().args(["serve", "--listen", "127.0.0.1:0", "--create-resources"]), false)
}

fn text(env: &Env, server: &Server, body: &str) {
    let url = format!("{}/twilio/sms", server.base_url);
    // No --auth-token: the tenant's token is read from Secrets Manager.
    let out = env.comms(&["webhook", "sms", "--url", &url, "--from", CUSTOMER, "--to", SHOP, "--body", body]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

async fn wait_for(what: &str, limit: Duration, done: impl FnMut() -> bool) {
    common::wait_for(what, limit, Duration::from_millis(250), done).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_backend_aws_answers_dead_letters_and_replays_exactly_once() {
    let Some(moto) = Moto::start().await else { return };
    let openai = OpenAiStub::start(vec![]).await;
    let twilio = TwilioStub::start().await;
    let env = Env::new(&moto, &openai, &twilio);
    let server = serve(&env);

    // One SMS turn: one reply, and the conversation is in DynamoDB.
    openai.always(ModelStep::Text("Yes, we can fix it today."));
    text(&env, &server, "Can you fix a cracked screen?");
    wait_for("the reply", Duration::from_secs(30), || twilio.created().len() == 1).await;
    let conv = env.json(&["conversation", "show", CONVERSATION, "--json"]);
    let kinds: Vec<&str> =
        conv["items"].as_array().unwrap().iter().map(|i| i["type"].as_str().unwrap_or("")).collect();
    assert_eq!(kinds.first(), Some(&"inbound"), "{conv}");
    assert_eq!(kinds.last(), Some(&"reply"), "{conv}");
    // Its usage is in the month's totals on DynamoDB, as `comms usage` reports them.
    let usage = env.json(&["usage", "--tenant", "demo/repair-shop", "--json"]);
    let total = &usage["total"];
    assert_eq!(
        (&total["turns"], &total["model_calls"], &total["sms_segments"]),
        (&1.into(), &1.into(), &1.into())
    );

    // The model fails: after three receives the record is in the DLQ with its reason.
    openai.always(ModelStep::Status(500));
    text(&env, &server, "Are you open on Sunday?");
    let mut dead = serde_json::Value::Null;
    wait_for("the dead letter", Duration::from_secs(90), || {
        dead = env.json(&["dlq", "list", "--channel", "sms", "--json"]);
        dead.as_array().is_some_and(|d| d.len() == 1)
    })
    .await;
    assert!(dead[0]["reason"].as_str().unwrap_or("").contains("500"), "{dead}");
    assert!(dead[0]["receive_count"].as_u64().unwrap() >= 3, "{dead}");
    assert_eq!(twilio.created().len(), 1, "nothing sent for the failing record");

    // The model is back: replay, and the message is answered exactly once.
    openai.always(ModelStep::Text("Yes, 10 to 4 on Sundays."));
    let dry = env.comms(&["dlq", "replay", "--channel", "sms", "--dry-run"]);
    assert!(String::from_utf8_lossy(&dry.stdout).contains("would replay 1"), "{dry:?}");
    let replay = env.comms(&["dlq", "replay", "--channel", "sms"]);
    assert!(String::from_utf8_lossy(&replay.stdout).contains("replayed 1"), "{replay:?}");
    wait_for("the replayed reply", Duration::from_secs(30), || twilio.created().len() == 2).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let sent = twilio.created();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[1]["body"], "Yes, 10 to 4 on Sundays.");
    let stats = env.json(&["queue", "stats", "--json"]);
    let sms = stats.as_array().unwrap().iter().find(|r| r["channel"] == "sms").unwrap().clone();
    assert_eq!((sms["depth"].as_u64(), sms["dlq_depth"].as_u64()), (Some(0), Some(0)), "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_backend_aws_without_resources_says_how_to_create_them() {
    let Some(moto) = Moto::start().await else { return };
    let openai = OpenAiStub::start(vec![]).await;
    let twilio = TwilioStub::start().await;
    let env = Env::new(&moto, &openai, &twilio);
    let out = env.comms(&["serve", "--listen", "127.0.0.1:0"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--create-resources"), "{err}");
}

/// A stand-in for SQS's JSON protocol (moto lacks StartMessageMoveTask): answers queue
/// URL and ARN look-ups and records the move task it is asked to start.
async fn sqs_stub() -> (String, std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>) {
    use axum::http::HeaderMap;
    use std::sync::{Arc, Mutex};
    let tasks: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let seen = Arc::clone(&tasks);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let url_base = base.clone();
    let handler = move |headers: HeaderMap, body: String| {
        let seen = Arc::clone(&seen);
        let url_base = url_base.clone();
        async move {
            let target = headers["x-amz-target"].to_str().unwrap().to_owned();
            let req: serde_json::Value = serde_json::from_str(&body).unwrap();
            let name = |url: &str| url.rsplit('/').next().unwrap().to_owned();
            let answer = match target.as_str() {
                "AmazonSQS.GetQueueUrl" => {
                    serde_json::json!({"QueueUrl": format!("{url_base}/123456789012/{}", req["QueueName"].as_str().unwrap())})
                }
                "AmazonSQS.GetQueueAttributes" => serde_json::json!({"Attributes": {
                    "QueueArn": format!("arn:aws:sqs:us-east-1:123456789012:{}", name(req["QueueUrl"].as_str().unwrap()))}}),
                "AmazonSQS.StartMessageMoveTask" => {
                    seen.lock().unwrap().push(req);
                    serde_json::json!({"TaskHandle": "task-handle-1"})
                }
                other => panic!("unexpected SQS call {other}"),
            };
            ([("content-type", "application/x-amz-json-1.0")], answer.to_string())
        }
    };
    let app = axum::Router::new().route("/", axum::routing::post(handler));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, tasks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_replay_native_starts_an_sqs_move_task_from_the_dlq_to_its_queue() {
    let (endpoint, tasks) = sqs_stub().await;
    let data_dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(data_dir.path())
        .args(["--backend", "aws", "dlq", "replay", "--channel", "sms", "--native"])
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("COMMS_QUEUE_PREFIX", "shop")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("task handle: task-handle-1"), "{out:?}");
    let tasks = tasks.lock().unwrap().clone();
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0]["SourceArn"], "arn:aws:sqs:us-east-1:123456789012:shop-sms-dlq");
    assert_eq!(tasks[0]["DestinationArn"], "arn:aws:sqs:us-east-1:123456789012:shop-sms");

    // On the embedded backend there is no native redrive: said plainly, nothing done.
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(data_dir.path())
        .args(["--backend", "embedded", "dlq", "replay", "--native"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--native needs --backend aws"), "{out:?}");
}

/// The environment of an operator who set only the AWS variables: no COMMS_TABLE, no
/// COMMS_QUEUE_PREFIX (the documented commands).
fn bare_aws(moto: &Moto, data_dir: &std::path::Path) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--data-dir").arg(data_dir).arg("--backend").arg("aws");
    c.env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("COMMS_TABLE")
        .env_remove("COMMS_QUEUE_PREFIX")
        .env_remove("COMMS_BACKEND");
    c
}

const SAMPLE_TENANT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/tenants/demo-repair-shop.json");

/// The CLI's default names are the stack's: prefix `comms`, table `comms-data` (the
/// template's `${AWS::StackName}-data`), and a missing table is named in the error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_table_is_the_stacks_and_a_missing_one_is_named() {
    let Some(moto) = Moto::start().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = bare_aws(&moto, dir.path()).args(["tenant", "put", SAMPLE_TENANT]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("comms-data"), "the error names the table: {err}");
    let out = bare_aws(&moto, dir.path())
        .env("COMMS_QUEUE_PREFIX", "shop")
        .args(["tenant", "show", "demo", "repair-shop"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("shop-data"), "{out:?}");

    // The stack's table (as the template names it for stack "comms").
    let config = comms_aws::emulator_config(&moto.endpoint).await;
    comms_aws::DynamoStore::provision(&config, "comms-data").await.unwrap();
    let out = bare_aws(&moto, dir.path()).args(["tenant", "put", SAMPLE_TENANT]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = bare_aws(&moto, dir.path()).args(["tenant", "show", "demo", "repair-shop"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("Demo Phone Repair"), "{out:?}");
}

/// What a deployed stack made (untagged by comms): the table `comms-data` and the queue
/// `comms-sms` holding a customer's message; returns the queue's URL.
async fn stack_resources(config: &aws_config::SdkConfig) -> String {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    aws_sdk_dynamodb::Client::new(config)
        .create_table()
        .table_name("comms-data")
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().unwrap())
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    let sqs = aws_sdk_sqs::Client::new(config);
    let url =
        sqs.create_queue().queue_name("comms-sms").send().await.unwrap().queue_url().unwrap().to_owned();
    sqs.send_message().queue_url(&url).message_body("a real customer's message").send().await.unwrap();
    url
}

/// The stack's message still waits, received by nobody, and nothing else was created.
async fn assert_stack_untouched(config: &aws_config::SdkConfig, url: &str) {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let sqs = aws_sdk_sqs::Client::new(config);
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    let count = |a: A| attrs.attributes().unwrap()[&a].clone();
    assert_eq!(count(A::ApproximateNumberOfMessages), "1", "the message is still waiting");
    assert_eq!(count(A::ApproximateNumberOfMessagesNotVisible), "0", "nobody received it");
    let queues = sqs.list_queues().send().await.unwrap();
    assert_eq!(queues.queue_urls().len(), 1, "nothing created: {queues:?}");
    let tables = aws_sdk_dynamodb::Client::new(config).list_tables().send().await.unwrap();
    assert_eq!(tables.table_names(), ["comms-data"], "nothing created");
}

/// `serve --create-resources` where a deployed stack's table and queues exist: refused
/// before anything is created or received; the stack's queued message is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_resources_refuses_to_touch_a_deployed_stacks_resources() {
    let Some(moto) = Moto::start().await else { return };
    let config = comms_aws::emulator_config(&moto.endpoint).await;
    let url = stack_resources(&config).await;

    let dir = tempfile::tempdir().unwrap();
    let out = bare_aws(&moto, dir.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--create-resources"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "serve ran against the stack's resources");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused") && err.contains("comms-data") && err.contains("comms-sms"), "{err}");
    assert!(err.contains("COMMS_QUEUE_PREFIX"), "says how to proceed: {err}");
    assert_stack_untouched(&config, &url).await;

    // A scratch prefix next to the stack works, and a second run on it is allowed
    // (`Server::start` fails unless serve says it is listening).
    for _ in 0..2 {
        let mut cmd = bare_aws(&moto, dir.path());
        cmd.env("COMMS_QUEUE_PREFIX", "scratch").args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--create-resources",
            "--no-workers",
        ]);
        drop(Server::start(&mut cmd, false));
    }
}

/// `key issue` on AWS creates the API Gateway key with the printed value, adds it to the
/// usage plan found by the template's name (`{prefix}-usage`) and stores the hash;
/// `key revoke` deletes the gateway key and the hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_issue_creates_the_gateway_key_on_the_usage_plan_and_revoke_deletes_it() {
    let Some(moto) = Moto::start().await else { return };
    let openai = OpenAiStub::start(vec![]).await;
    let twilio = TwilioStub::start().await;
    let env = Env::new(&moto, &openai, &twilio);
    let prefix = env.vars.iter().find(|(k, _)| *k == "COMMS_QUEUE_PREFIX").unwrap().1.clone();
    let config = comms_aws::emulator_config(&moto.endpoint).await;
    comms_aws::DynamoStore::provision(&config, &format!("{prefix}-data")).await.unwrap();
    let gateway = aws_sdk_apigateway::Client::new(&config);
    gateway.create_usage_plan().name("another-plan").send().await.unwrap();
    let plan = gateway.create_usage_plan().name(format!("{prefix}-usage")).send().await.unwrap();
    let plan_id = plan.id().unwrap().to_owned();
    let put = env.comms(&["tenant", "put", SAMPLE_TENANT]);
    assert!(put.status.success(), "{put:?}");

    let issued = env.json(&[
        "key",
        "issue",
        "--tenant",
        "demo/repair-shop",
        "--kind",
        "api",
        "--id",
        "backend",
        "--json",
    ]);
    let key = issued["key"].as_str().unwrap();
    let key_id = issued["api_gateway_key_id"].as_str().unwrap();
    let stored = gateway.get_api_key().api_key(key_id).include_value(true).send().await.unwrap();
    assert_eq!(stored.value(), Some(key));
    assert!(stored.enabled(), "the gateway key is enabled");
    let on_plan = gateway.get_usage_plan_keys().usage_plan_id(&plan_id).send().await.unwrap();
    assert!(on_plan.items().iter().any(|k| k.id() == Some(key_id)), "{on_plan:?}");
    let tenant = env.json(&["tenant", "show", "demo", "repair-shop", "--json"]);
    let hashes: Vec<&str> =
        tenant["api_keys"].as_array().unwrap().iter().map(|k| k["sha256"].as_str().unwrap()).collect();
    assert!(hashes.contains(&comms_core::domain::tenant::hash_key(key).as_str()), "{tenant}");

    let revoke =
        env.comms(&["key", "revoke", "--tenant", "demo/repair-shop", "--kind", "api", "--id", "backend"]);
    assert!(revoke.status.success(), "{revoke:?}");
    assert!(gateway.get_api_key().api_key(key_id).send().await.is_err(), "the gateway key is deleted");
    let tenant = env.json(&["tenant", "show", "demo", "repair-shop", "--json"]);
    assert!(tenant["api_keys"].as_array().unwrap().iter().all(|k| k["id"] != "backend"), "{tenant}");
}
