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

mod lambda;
mod stack;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use comms_aws::{AwsResources, ENV_QUEUE_PREFIX};
use comms_core::domain::Channel;
use comms_testkit::ModelStep;
use serde_json::json;

use lambda::{RuntimeApi, recording_proxy, route, sqs_event, start_processor, webhook_event};
use stack::{Stack, python, root, translated, world};

pub const AUTH_TOKEN: &str = "test-auth-token";
pub const SAMPLE: &str = include_str!("../../../samples/events/apigw-rest-twilio-sms.json");
/// The invoke URL of the sample event's API and stage (from its request context).
pub const SAMPLE_INVOKE_URL: &str = "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_template_deploys_with_one_stage_the_documented_outputs_and_the_names_the_code_derives() {
    let Some(world) = world().await else { return };
    let stack = &world.stack;
    assert_one_stage(stack);
    assert_documented_outputs(stack);
    assert_derived_names(stack);
    assert_no_empty_variable(stack);
}

/// One API stage. moto does not implement AWS::ApiGateway::Stage, so the stages are the
/// template's Stage resources plus those moto made from a Deployment's StageName (how
/// SAM's extra "Stage" stage is made).
fn assert_one_stage(stack: &Stack) {
    let resources = stack.template["Resources"].as_object().unwrap();
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
}

/// The outputs docs/deploy.md tells operators to copy.
fn assert_documented_outputs(stack: &Stack) {
    let resources = stack.template["Resources"].as_object().unwrap();
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
}

/// The names the CLI and the functions derive from the prefix are the stack's.
fn assert_derived_names(stack: &Stack) {
    let outputs = &stack.report["outputs"];
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
    for (channel, logical) in [
        (Channel::Sms, "Sms"),
        (Channel::Whatsapp, "Whatsapp"),
        (Channel::Voice, "Voice"),
        (Channel::Email, "Email"),
    ] {
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
        // And its own queue's and DLQ's URLs, so it looks none up on a cold start.
        assert_eq!(env[comms_aws::queue_url_var(channel)], stack.physical(&format!("{logical}Queue")));
        assert_eq!(
            env[comms_aws::dlq_url_var(channel)],
            stack.physical(&format!("{logical}DeadLetterQueue"))
        );
        // The router gets every channel queue's URL, and each DLQ's for the console's
        // dead-letter page (it dead-letters nothing itself).
        let router = stack.environment("RouterFunction");
        assert_eq!(router[comms_aws::queue_url_var(channel)], stack.physical(&format!("{logical}Queue")));
        let dlq = stack.physical(&format!("{logical}DeadLetterQueue"));
        assert_eq!(router[comms_aws::dlq_url_var(channel)], dlq, "{router:?}");
    }
}

/// With the default parameters no function gets an empty variable (an empty
/// OPENAI_BASE_URL broke every model call).
fn assert_no_empty_variable(stack: &Stack) {
    let resources = stack.template["Resources"].as_object().unwrap();
    for (logical, r) in resources {
        if r["Type"] == "AWS::Lambda::Function" {
            for (k, v) in stack.environment(logical) {
                assert!(!v.is_empty(), "{logical}: {k} is set to an empty value");
            }
        }
    }
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
    for (path, method) in [
        ("/availability", "get"),
        ("/twilio/sms", "post"),
        ("/healthz", "get"),
        // SendGrid's signed webhooks and the unsubscribe link in every reply.
        ("/email/inbound", "post"),
        ("/email/inbound/{secret}", "post"),
        ("/email/events", "post"),
        ("/email/unsubscribe", "get"),
        ("/email/unsubscribe", "post"),
    ] {
        assert!(!wants_key(path, method), "{method} {path} must not need an API Gateway key");
    }
    // Inbound mail (raw MIME in multipart/form-data) reaches the router base64-encoded.
    let binary = &api["Properties"]["Body"]["x-amazon-apigateway-binary-media-types"];
    assert_eq!(binary, &json!(["multipart/form-data"]));
}
