//! The whole SMS path on the AWS adapters (SQS, DynamoDB, Secrets Manager) against moto's
//! server, with the OpenAI and Twilio stubs, wired exactly as the Lambda binaries wire
//! it ([`lambda::aws_handler`], [`comms_router::lambda::aws_state`]).

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use comms_aws::{AwsResources, CallLog, DynamoStore, SqsQueues, emulator_config};
use comms_core::domain::tenant::TenantConfig;
use comms_core::domain::{Channel, Envelope};
use comms_core::ports::{
    ConversationLog, DeadLetters, ItemContent, OutgoingMessage, Queues, TenantDirectory,
};
use comms_core::twilio::signature;
use comms_engine::worker::{self, WorkerSettings};
use comms_processors::lambda::{self, ProcessorSettings, SqsHandler};
use comms_testkit::moto::Moto;

use crate::helpers::*;
use crate::stubs::{ModelStep, OpenAiStub, TwilioStub};

mod owner;

/// The auth token the sample API Gateway event is signed with.
const AUTH_TOKEN: &str = "test-auth-token";
const INVOKE_URL: &str = "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod";

/// moto with the queues, table, demo tenant and secrets of one test, and the stubs.
struct AwsWorld {
    _moto: Moto,
    config: aws_config::SdkConfig,
    resources: AwsResources,
    store: DynamoStore,
    queues: Arc<SqsQueues>,
    openai: OpenAiStub,
    twilio: TwilioStub,
}

async fn aws_world() -> Option<AwsWorld> {
    let moto = Moto::start().await?;
    let config = emulator_config(&moto.endpoint).await;
    let prefix = format!("t{}", uuid::Uuid::new_v4().simple());
    let resources = AwsResources {
        table: format!("{prefix}-data"),
        queue_prefix: prefix.clone(),
        secrets_ttl: Duration::from_secs(300),
        secrets_cache_size: 100,
    };
    let queues =
        SqsQueues::provision(&config, &resources.queue_names(), &[Channel::Sms, Channel::Whatsapp], 3)
            .await
            .unwrap();
    let store = DynamoStore::provision(&config, &resources.table).await.unwrap();
    let mut tenant =
        TenantConfig::from_json(include_str!("../../../samples/tenants/demo-repair-shop.json")).unwrap();
    // A budget far from spent: every turn checks it, and a warm turn reads the month's
    // usage from the engine's cache (the call count below holds with it).
    tenant.ai.monthly_budget_usd = Some(comms_core::domain::Usd::from_cents(100_000));
    store.put(&tenant).await.unwrap();
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
    Some(AwsWorld { _moto: moto, config, resources, store, queues: Arc::new(queues), openai, twilio })
}

impl AwsWorld {
    /// The SMS processor as the Lambda binary builds it, on `config` (instrumented or not).
    async fn handler(&self, config: &aws_config::SdkConfig) -> SqsHandler {
        let settings = ProcessorSettings {
            twilio_api_base: self.twilio.base_url.clone(),
            sendgrid_api_base: "http://127.0.0.1:9".into(),
            openai_base_url: Some(self.openai.base_url.clone()),
            openai_model: None,
            public_base_url: Some(INVOKE_URL.into()),
            unsubscribe_key_secret: None,
            concurrency: 10,
            visibility: Duration::from_secs(2),
            retry_budget: Duration::from_millis(500),
            log_format: comms_telemetry::LogFormat::Json,
            resources: self.resources.clone(),
            queue_urls: self.queues.queue_urls().clone(),
            prices: comms_core::domain::pricing::PriceTable::builtin(),
        };
        let mut handler = lambda::aws_handler(config, &settings, Channel::Sms).unwrap();
        handler.settings.retry_delay = Duration::ZERO;
        handler
    }

    async fn enqueue(&self, env: &Envelope) {
        let msg = OutgoingMessage { body: env.to_json(), attributes: env.attributes("t") };
        self.queues.send(Channel::Sms, msg).await.unwrap();
    }

    /// Runs the polling worker on the handler's engine until `until(waiting, dead)`.
    async fn drain(&self, handler: &SqsHandler, until: impl Fn(u64, u64) -> bool) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let settings = WorkerSettings {
            visibility: Duration::from_secs(2),
            idle_poll: Duration::from_millis(100),
            retry_delay: Duration::ZERO,
            ..Default::default()
        };
        let queues: Arc<dyn Queues> = self.queues.clone();
        let run = tokio::spawn(worker::run(Arc::clone(&queues), Arc::clone(&handler.engine), settings, rx));
        let start = std::time::Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let s = self.queues.stats(Channel::Sms).await.unwrap();
            if until(s.depth + s.in_flight, s.dlq_depth) || start.elapsed() > Duration::from_secs(30) {
                break;
            }
        }
        tx.send(true).unwrap();
        run.await.unwrap();
    }

    /// Receives what is on the SMS queue and shapes it as the event source mapping
    /// would, from the sample event's records (ids and receipt handles made live).
    async fn sqs_event(&self, sample: &str) -> SqsEvent {
        let mut event: serde_json::Value = serde_json::from_str(sample).unwrap();
        let got = self.queues.receive(Channel::Sms, 10, Duration::from_secs(30)).await.unwrap();
        let records = event["Records"].as_array_mut().unwrap();
        assert_eq!(got.len(), records.len(), "queue holds the sample's records");
        for r in records.iter_mut() {
            let body = r["body"].as_str().unwrap();
            let live = got.iter().find(|m| m.body == body).unwrap();
            r["messageId"] = live.message_id.clone().into();
            r["receiptHandle"] = live.receipt.clone().into();
        }
        serde_json::from_value(event).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_sms_turn_on_the_aws_adapters_replies_once_and_replays_from_the_dlq() {
    let Some(world) = aws_world().await else { return };
    let handler = world.handler(&world.config).await;
    world.openai.always(ModelStep::Text("We can fix it today."));

    // One turn: one reply, the conversation in DynamoDB.
    let first = envelope("SM000000000000000000000000000000a1", "Can you fix a cracked screen?");
    world.enqueue(&first).await;
    world.drain(&handler, |waiting, _| waiting == 0).await;
    assert_eq!(world.twilio.created().len(), 1);
    let items = world.store.recent(&first.conversation_id, 10).await.unwrap();
    assert!(matches!(items.last().unwrap().content, ItemContent::Reply { .. }), "{items:?}");

    // A model that fails: three receives, then the DLQ with the reason; nothing sent.
    world.openai.always(ModelStep::Status(500));
    let second = envelope("SM000000000000000000000000000000a2", "hello?");
    world.enqueue(&second).await;
    world.drain(&handler, |waiting, dead| waiting == 0 && dead == 1).await;
    let dead = world.queues.dlq_list(Channel::Sms, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert!(dead[0].reason.as_deref().unwrap_or("").contains("500"), "{:?}", dead[0].reason);
    assert!(dead[0].first_received_at.is_some(), "{:?}", dead[0]);
    assert_eq!(world.twilio.created().len(), 1);

    // The model is back: replay, and the message is answered exactly once.
    world.openai.always(ModelStep::Text("Sorry for the wait, yes we can."));
    assert_eq!(world.queues.dlq_replay(Channel::Sms, 10).await.unwrap(), 1);
    world.enqueue(&second).await; // a duplicate delivery too
    world.drain(&handler, |waiting, _| waiting == 0).await;
    let sent = world.twilio.created();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[1]["body"], "Sorry for the wait, yes we can.");
    assert_eq!(world.queues.stats(Channel::Sms).await.unwrap().dlq_depth, 0);
}

const SQS_SAMPLE: &str = include_str!("../../../samples/events/sqs-batch-with-poison-record.json");

async fn enqueue_sample_bodies(world: &AwsWorld) {
    let event: serde_json::Value = serde_json::from_str(SQS_SAMPLE).unwrap();
    for r in event["Records"].as_array().unwrap() {
        let body = r["body"].as_str().unwrap().to_owned();
        world
            .queues
            .send(Channel::Sms, OutgoingMessage { body, attributes: Default::default() })
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lambda_batch_with_a_poison_record_answers_the_good_one_and_dead_letters_the_poison() {
    let Some(world) = aws_world().await else { return };
    let handler = world.handler(&world.config).await;
    world.openai.always(ModelStep::Text("Yes, bring it in before 5pm."));
    enqueue_sample_bodies(&world).await;

    let response = handler.handle(world.sqs_event(SQS_SAMPLE).await).await;

    // The poison record is dead-lettered by the handler with its reason, so neither
    // record is reported as failed; the good one got exactly one reply.
    assert!(response.batch_item_failures.is_empty(), "{:?}", response.batch_item_failures);
    let dead = world.queues.dlq_list(Channel::Sms, 10).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(dead[0].body.contains("\"v\":7"), "{}", dead[0].body);
    assert!(dead[0].reason.as_deref().unwrap_or("").contains("version"), "{:?}", dead[0].reason);
    let sent = world.twilio.created();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["body"], "Yes, bring it in before 5pm.");
    // The model was called with the key from Secrets Manager.
    assert_eq!(world.openai.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lambda_record_failing_transiently_is_the_only_batch_item_failure() {
    let Some(world) = aws_world().await else { return };
    let handler = world.handler(&world.config).await;
    world.openai.always(ModelStep::Status(503));
    enqueue_sample_bodies(&world).await;
    let event = world.sqs_event(SQS_SAMPLE).await;
    let good_id = event.records[0].message_id.clone().unwrap();

    let response = handler.handle(event).await;

    let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, vec![good_id.as_str()]);
    assert!(world.twilio.created().is_empty());
    assert_eq!(world.queues.dlq_list(Channel::Sms, 10).await.unwrap().len(), 1, "only the poison");
}

/// The sample SMS webhook event with its message ids set to `sid`, signed as Twilio would.
fn signed_sms_webhook(sample: &serde_json::Value, sid: &str) -> serde_json::Value {
    let mut event = sample.clone();
    let mut params: Vec<(String, String)> =
        form_urlencoded::parse(event["body"].as_str().unwrap().as_bytes()).into_owned().collect();
    for (k, v) in params.iter_mut() {
        if k == "MessageSid" || k == "SmsSid" || k == "SmsMessageSid" {
            *v = sid.to_owned();
        }
    }
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(&params).finish();
    event["headers"]["X-Twilio-Signature"] =
        signature::compute(AUTH_TOKEN, &format!("{INVOKE_URL}/twilio/sms"), &params).into();
    event["body"] = body.into();
    event
}

impl AwsWorld {
    /// What the SMS queue holds, received and handed over as the event source mapping does.
    async fn received_event(&self) -> SqsEvent {
        let got = self.queues.receive(Channel::Sms, 10, Duration::from_secs(30)).await.unwrap();
        let mut event = SqsEvent::default();
        for m in got {
            let mut r = aws_lambda_events::event::sqs::SqsMessage::default();
            r.message_id = Some(m.message_id);
            r.receipt_handle = Some(m.receipt);
            r.body = Some(m.body);
            event.records.push(r);
        }
        event
    }
}

/// Counts the AWS API calls of one SMS turn with warm caches: the router Lambda taking
/// the webhook, then the processor Lambda handling the record (as the event source
/// mapping hands it; its own SQS calls are not the function's). Model and Twilio calls
/// are not AWS calls. The list is what docs/performance.md records.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aws_calls_per_sms_turn_with_warm_caches() {
    let Some(world) = aws_world().await else { return };
    let log = CallLog::default();
    let counted = log.instrument(&world.config);
    let router = comms_router::app(
        comms_router::lambda::aws_state(
            &counted,
            &world.resources,
            world.queues.queue_urls(),
            comms_router::RouterConfig::new(INVOKE_URL),
        )
        .unwrap(),
    );
    let handler = world.handler(&counted).await;
    world.openai.always(ModelStep::Text("Sure, come by at 3."));
    let sample: serde_json::Value =
        serde_json::from_str(include_str!("../../../samples/events/apigw-rest-twilio-sms.json")).unwrap();

    let turn = |sid: &str| {
        let event = signed_sms_webhook(&sample, sid);
        let router = router.clone();
        let handler = &handler;
        let world = &world;
        let log = log.clone();
        async move {
            let req = lambda_http::request::from_str(&event.to_string()).unwrap();
            let resp = comms_router::lambda::handle(router, req, false).await;
            assert_eq!(resp.status(), 200);
            let router_calls = log.take();
            // What the event source mapping does, outside the function: not counted.
            let event = world.received_event().await;
            log.take();
            let response = handler.handle(event).await;
            assert!(response.batch_item_failures.is_empty());
            (router_calls, log.take())
        }
    };
    // The first turn warms the caches: the tenant by number (one read: the number's
    // route holds the config) and its Twilio secret, as on a Lambda's first event.
    let (first_router_calls, _) = turn("SM000000000000000000000000000000c1").await;
    assert_eq!(first_router_calls, ["DynamoDB.GetItem", "SecretsManager.GetSecretValue", "SQS.SendMessage"]);
    let (router_calls, processor_calls) = turn("SM000000000000000000000000000000c2").await;
    assert_eq!(world.twilio.created().len(), 2);
    println!("router calls ({}): {router_calls:?}", router_calls.len());
    println!("processor calls ({}): {processor_calls:?}", processor_calls.len());
    assert_eq!(router_calls, vec!["SQS.SendMessage"], "the router's tenant lookup and secret are cached");
    // docs/performance.md explains each call; more is a regression. The turn journal:
    // the claim (returning history, opt-out and step), the items with `Sending` (on
    // condition the customer has not opted out), the reply with `Done`. The owner's
    // state is cached like the tenant.
    assert_eq!(
        processor_calls,
        vec!["DynamoDB.UpdateItem", "DynamoDB.TransactWriteItems", "DynamoDB.TransactWriteItems"],
    );
    assert!(router_calls.len() + processor_calls.len() <= 4);
    assert!(
        !router_calls.iter().chain(&processor_calls).any(|c| c.starts_with("SecretsManager")),
        "secrets are cached"
    );
}

/// Two messages from one customer in one Lambda batch (queued in the opposite order) are
/// answered in the order they were received, the second's model request holding the
/// first and its reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lambda_batch_answers_one_customer_in_order() {
    let Some(world) = aws_world().await else { return };
    let handler = world.handler(&world.config).await;
    world.openai.delay(Duration::from_millis(300));
    world.openai.always(ModelStep::Text("Noted."));
    let first = envelope("SM000000000000000000000000000000d1", "Is my phone ready?");
    let mut second = envelope("SM000000000000000000000000000000d2", "And how much is it?");
    second.received_at = first.received_at + Duration::from_millis(1);
    world.enqueue(&second).await;
    world.enqueue(&first).await;

    let response = handler.handle(world.received_event().await).await;

    assert!(response.batch_item_failures.is_empty(), "{:?}", response.batch_item_failures);
    assert_eq!(world.twilio.created().len(), 2);
    let requests = world.openai.requests();
    let seen = |i: usize| -> Vec<String> {
        let messages = requests[i]["messages"].as_array().unwrap();
        messages
            .iter()
            .filter(|m| m["role"] != "system")
            .map(|m| m["content"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(seen(0), ["Is my phone ready?"]);
    assert_eq!(seen(1), ["Is my phone ready?", "Noted.", "And how much is it?"]);
}

/// A tenant with its own model key (`credentials.openai`) is answered with that key, read
/// from Secrets Manager; a tenant without one uses the channel's `openai-api-key/sms`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tenant_with_its_own_openai_key_is_answered_with_it() {
    let Some(world) = aws_world().await else { return };
    world.openai.always(ModelStep::Text("We can fix it today."));
    let handler = world.handler(&world.config).await;
    world.enqueue(&envelope("SM000000000000000000000000000000b1", "channel key?")).await;
    world.drain(&handler, |waiting, _| waiting == 0).await;
    assert_eq!(world.openai.authorizations(), ["Bearer sk-test"]);

    let mut json: serde_json::Value =
        serde_json::from_str(include_str!("../../../samples/tenants/demo-repair-shop.json")).unwrap();
    let own = "openai-credentials/demo/repair-shop/openai";
    json["credentials"]["openai"] = own.into();
    world.store.put(&TenantConfig::from_json(&json.to_string()).unwrap()).await.unwrap();
    let sm = aws_sdk_secretsmanager::Client::new(&world.config);
    sm.create_secret().name(own).secret_string("sk-tenant-own").send().await.unwrap();

    // A fresh handler (the tenant is cached for a minute in a warm one).
    let handler = world.handler(&world.config).await;
    world.enqueue(&envelope("SM000000000000000000000000000000b2", "own key?")).await;
    world.drain(&handler, |waiting, _| waiting == 0).await;
    assert_eq!(world.openai.authorizations(), ["Bearer sk-test", "Bearer sk-tenant-own"]);
    assert_eq!(world.twilio.created().len(), 2);
}
