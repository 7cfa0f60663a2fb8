//! The whole SMS path on the AWS adapters (SQS worker, DynamoDB stores, Secrets Manager)
//! against moto's server, with the OpenAI and Twilio stubs.

use std::sync::Arc;
use std::time::Duration;

use comms_processors::turn::{Engine, EnginePorts, TurnSettings};
use comms_processors::worker::{self, WorkerSettings};
use comms_shared::adapters::aws::{DynamoStore, QueueNames, SecretsManagerStore, SqsQueues, emulator_config};
use comms_shared::adapters::openai::{OpenAiChat, OpenAiSettings};
use comms_shared::conformance::moto::Moto;
use comms_shared::domain::Channel;
use comms_shared::domain::tenant::TenantConfig;
use comms_shared::ports::{ConversationLog, ItemContent, OutgoingMessage, Queues, TenantDirectory};
use comms_shared::twilio::rest::TwilioRest;

use crate::helpers::*;
use crate::stubs::{ModelStep, OpenAiStub, TwilioStub};

async fn drain(queues: Arc<dyn Queues>, engine: Arc<Engine>, until: impl Fn(u64, u64) -> bool) {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let settings = WorkerSettings {
        visibility: Duration::from_secs(2),
        idle_poll: Duration::from_millis(100),
        retry_delay: Duration::ZERO,
        ..Default::default()
    };
    let run = tokio::spawn(worker::run(Arc::clone(&queues), engine, settings, rx));
    let start = std::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let s = queues.stats(Channel::Sms).await.unwrap();
        if until(s.depth + s.in_flight, s.dlq_depth) || start.elapsed() > Duration::from_secs(30) {
            break;
        }
    }
    tx.send(true).unwrap();
    run.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_sms_turn_on_the_aws_adapters_replies_once_and_replays_from_the_dlq() {
    let Some(moto) = Moto::start().await else { return };
    let config = emulator_config(&moto.endpoint).await;
    let prefix = format!("e2e{}", uuid::Uuid::new_v4().simple());
    let queues: Arc<dyn Queues> = Arc::new(
        SqsQueues::provision(&config, &QueueNames { prefix: prefix.clone() }, &[Channel::Sms], 3)
            .await
            .unwrap(),
    );
    let store = DynamoStore::provision(&config, &format!("{prefix}-data")).await.unwrap();
    let tenant =
        TenantConfig::from_json(include_str!("../../../samples/tenants/demo-repair-shop.json")).unwrap();
    store.put(&tenant).await.unwrap();
    aws_sdk_secretsmanager::Client::new(&config)
        .create_secret()
        .name(tenant.credentials.twilio.clone().unwrap())
        .secret_string(r#"{"account_sid": "ACtest", "auth_token": "token"}"#)
        .send()
        .await
        .unwrap();

    let openai = OpenAiStub::start(vec![]).await;
    openai.always(ModelStep::Text("We can fix it today."));
    let twilio = TwilioStub::start().await;
    let secrets = Arc::new(SecretsManagerStore::new(&config, 100, Duration::from_secs(300)).unwrap());
    let chat = OpenAiChat::new(OpenAiSettings {
        api_key: "sk-test".into(),
        base_url: Some(openai.base_url.clone()),
        model_override: None,
        timeout: Duration::from_secs(10),
    })
    .unwrap();
    let s = Arc::new(store.clone());
    let engine = Arc::new(Engine::new(
        EnginePorts {
            tenants: s.clone(),
            conversations: s.clone(),
            turns: s.clone(),
            owner_state: s.clone(),
            bookings: s.clone(),
            ledger: s.clone(),
            consent: s.clone(),
            chat: Arc::new(chat),
            messenger: Arc::new(TwilioRest::new(&twilio.base_url, secrets, Duration::from_secs(5)).unwrap()),
        },
        TurnSettings { retry_budget: Duration::from_millis(500), ..Default::default() },
    ));
    let send = |env: &comms_shared::domain::Envelope| OutgoingMessage {
        body: env.to_json(),
        attributes: env.attributes("t"),
    };

    // One turn: one reply, the conversation in DynamoDB.
    let first = envelope("SM000000000000000000000000000000a1", "Can you fix a cracked screen?");
    queues.send(Channel::Sms, send(&first)).await.unwrap();
    drain(Arc::clone(&queues), Arc::clone(&engine), |waiting, _| waiting == 0).await;
    assert_eq!(twilio.created().len(), 1);
    let items = store.recent(&first.conversation_id, 10).await.unwrap();
    assert!(matches!(items.last().unwrap().content, ItemContent::Reply { .. }), "{items:?}");

    // A model that fails: three receives, then the DLQ with the reason; nothing sent.
    openai.always(ModelStep::Status(500));
    let second = envelope("SM000000000000000000000000000000a2", "hello?");
    queues.send(Channel::Sms, send(&second)).await.unwrap();
    drain(Arc::clone(&queues), Arc::clone(&engine), |waiting, dead| waiting == 0 && dead == 1).await;
    let dead = queues.dlq_list(Channel::Sms, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert!(dead[0].reason.as_deref().unwrap_or("").contains("500"), "{:?}", dead[0].reason);
    assert_eq!(twilio.created().len(), 1);

    // The model is back: replay, and the message is answered exactly once.
    openai.always(ModelStep::Text("Sorry for the wait, yes we can."));
    assert_eq!(queues.dlq_replay(Channel::Sms, 10).await.unwrap(), 1);
    queues.send(Channel::Sms, send(&second)).await.unwrap(); // a duplicate delivery too
    drain(Arc::clone(&queues), Arc::clone(&engine), |waiting, _| waiting == 0).await;
    let sent = twilio.created();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[1]["body"], "Sorry for the wait, yes we can.");
    assert_eq!(queues.stats(Channel::Sms).await.unwrap().dlq_depth, 0);
}
