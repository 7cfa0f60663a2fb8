use std::sync::Arc;
use std::time::Duration;

use comms_core::domain::tenant::TenantConfig;
use comms_core::domain::{Address, Channel, ConversationId, Envelope, KindDetail};
use comms_core::ports::{DeadLetters, OutgoingMessage, Queues, Secret, TenantDirectory, TurnJournal};
use comms_core::twilio::TwilioCredentials;
use comms_engine::turn::{Engine, EnginePorts, TurnSettings};
use comms_engine::worker::{self, WorkerSettings};
use comms_providers::openai::{ByApi, OpenAiSettings};
use comms_providers::twilio::TwilioRest;
use comms_sqlite::{
    Db, QueueSettings, SqliteBookings, SqliteConsent, SqliteConversations, SqliteLedger, SqliteOwnerState,
    SqliteQueues, SqliteSecrets, SqliteTenants,
};

use crate::stubs::{OpenAiStub, TwilioStub};

pub const SHOP: &str = "+15555550100";
pub const CUSTOMER: &str = "+14155550123";

pub struct Harness {
    pub db: Db,
    pub engine: Arc<Engine>,
    pub queues: SqliteQueues,
    pub conversations: SqliteConversations,
    pub owner_state: SqliteOwnerState,
    pub consent: SqliteConsent,
    pub bookings: SqliteBookings,
    pub ledger: SqliteLedger,
    pub tenant: TenantConfig,
    pub openai: OpenAiStub,
    pub twilio: TwilioStub,
    _dir: tempfile::TempDir,
}

pub async fn harness(openai: OpenAiStub) -> Harness {
    harness_with(openai, TurnSettings { retry_budget: Duration::from_secs(1), ..Default::default() }).await
}

pub async fn harness_with(openai: OpenAiStub, settings: TurnSettings) -> Harness {
    harness_with_journal(openai, settings, |journal| journal).await
}

/// A harness whose engine sees the turn journal through `wrap` (to make a holder stall).
pub async fn harness_with_journal(
    openai: OpenAiStub,
    settings: TurnSettings,
    wrap: impl FnOnce(Arc<dyn TurnJournal>) -> Arc<dyn TurnJournal>,
) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("comms.db")).unwrap();
    let tenants = SqliteTenants::new(db.clone());
    let secrets = SqliteSecrets::new(db.clone());
    let tenant =
        TenantConfig::from_json(include_str!("../../../samples/tenants/demo-repair-shop.json")).unwrap();
    tenants.put(&tenant).await.unwrap();
    let creds = TwilioCredentials { account_sid: "ACtest".into(), auth_token: Secret::new("token") };
    secrets.put(tenant.credentials.twilio.as_deref().unwrap(), &creds.to_secret()).await.unwrap();

    let twilio = TwilioStub::start().await;
    let chat = chat_client(&openai);
    let messenger =
        Arc::new(TwilioRest::new(&twilio.base_url, Arc::new(secrets), Duration::from_secs(5)).unwrap());
    let mut stores = comms_sqlite::stores(&db, QueueSettings::default());
    stores.journal = wrap(stores.journal);
    Harness {
        db: db.clone(),
        queues: SqliteQueues::new(db.clone(), QueueSettings { max_receive_count: 3 }),
        conversations: SqliteConversations::new(db.clone()),
        owner_state: SqliteOwnerState::new(db.clone()),
        consent: SqliteConsent::new(db.clone()),
        bookings: SqliteBookings::new(db.clone()),
        ledger: SqliteLedger::new(db.clone()),
        engine: Arc::new(Engine::new(
            EnginePorts::new(&stores, Arc::new(chat), messenger.clone(), messenger),
            TurnSettings { status_callback_base: Some("https://comms.example".into()), ..settings },
        )),
        tenant,
        openai,
        twilio,
        _dir: dir,
    }
}

/// The real OpenAI client, against the stub.
/// Both APIs, picked by the tenant's `ai.api` (the stub speaks both).
pub fn chat_client(openai: &OpenAiStub) -> ByApi {
    ByApi::openai(OpenAiSettings {
        api_key: "sk-test".into(),
        base_url: Some(openai.base_url.clone()),
        model_override: None,
        timeout: Duration::from_secs(30),
    })
    .unwrap()
}

/// An `initiate` envelope as the router builds it.
pub fn initiate_envelope(request_id: &str, channel: Channel) -> Envelope {
    let tenant = comms_core::domain::TenantRef::new("demo", "repair-shop").unwrap();
    let to = Address::parse(CUSTOMER).unwrap();
    Envelope {
        id: request_id.into(),
        conversation_id: ConversationId::derive(&tenant, channel, &to),
        tenant,
        channel,
        from: Address::parse(SHOP).unwrap(),
        to,
        body: String::new(),
        received_at: jiff::Timestamp::now(),
        detail: KindDetail::Initiate {
            request_id: request_id.into(),
            project_data: serde_json::json!({"reason": "repair ready"}),
            recipient_name: Some("Ann Lee".into()),
        },
    }
}

pub fn envelope(message_sid: &str, body: &str) -> Envelope {
    let tenant = comms_core::domain::TenantRef::new("demo", "repair-shop").unwrap();
    let from = Address::parse(CUSTOMER).unwrap();
    Envelope {
        id: message_sid.into(),
        conversation_id: ConversationId::derive(&tenant, Channel::Sms, &from),
        tenant,
        channel: Channel::Sms,
        from,
        to: Address::parse(SHOP).unwrap(),
        body: body.into(),
        received_at: jiff::Timestamp::now(),
        detail: KindDetail::inbound(0),
    }
}

impl Harness {
    pub async fn enqueue(&self, env: &Envelope) {
        let msg = OutgoingMessage { body: env.to_json(), attributes: env.attributes("t") };
        self.queues.send(Channel::Sms, msg).await.unwrap();
    }

    /// Runs a worker until the SMS queue has nothing waiting or in flight (or `limit`).
    pub async fn drain(&self, settings: WorkerSettings, limit: Duration) {
        let queues = Arc::new(self.queues.clone());
        drain(queues.clone(), queues, Arc::clone(&self.engine), settings, limit).await;
    }

    pub fn customer(&self) -> Address {
        Address::parse(CUSTOMER).unwrap()
    }
}

/// Runs a worker of `engine` on `settings.channel`'s queue until it has nothing waiting
/// or in flight (or `limit`), as `comms serve`'s in-process worker runs.
pub async fn drain(
    queues: Arc<dyn Queues>,
    stats: Arc<dyn DeadLetters>,
    engine: Arc<Engine>,
    settings: WorkerSettings,
    limit: Duration,
) {
    let channel = settings.channel;
    let (tx, rx) = tokio::sync::watch::channel(false);
    let run = tokio::spawn(worker::run(queues, engine, settings, rx));
    let start = std::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let s = stats.stats(channel).await.unwrap();
        if s.depth + s.in_flight == 0 || start.elapsed() > limit {
            break;
        }
    }
    tx.send(true).unwrap();
    run.await.unwrap();
}

pub fn fast_worker() -> WorkerSettings {
    WorkerSettings {
        visibility: Duration::from_secs(2),
        idle_poll: Duration::from_millis(50),
        retry_delay: Duration::ZERO,
        ..Default::default()
    }
}

/// The next weekday (Mon-Fri) after today in the demo tenant's time zone: 09:00-18:00.
pub fn next_weekday() -> String {
    let tz = jiff::tz::TimeZone::get("America/New_York").unwrap();
    let mut d = jiff::Timestamp::now().to_zoned(tz).date();
    loop {
        d = d.tomorrow().unwrap();
        if d.weekday().to_monday_zero_offset() < 5 {
            return d.to_string();
        }
    }
}

/// The kind of each conversation item, in order (usage items left out: the budget tests
/// look at them).
pub fn item_kinds(items: &[comms_core::ports::ConversationItem]) -> Vec<&'static str> {
    use comms_core::ports::ItemContent;
    items
        .iter()
        .filter_map(|i| match &i.content {
            ItemContent::Inbound { .. } => Some("inbound"),
            ItemContent::ToolCall { .. } => Some("tool_call"),
            ItemContent::ToolResult { .. } => Some("tool_result"),
            ItemContent::Reply { .. } => Some("reply"),
            ItemContent::Note { .. } => Some("note"),
            ItemContent::OwnerReply { .. } => Some("owner_reply"),
            ItemContent::Notice { .. } => Some("notice"),
            ItemContent::Usage { .. } => None,
        })
        .collect()
}

/// The system messages of a Chat Completions request body, joined: the static
/// instructions, then the turn's context.
pub fn system_text(request: &serde_json::Value) -> String {
    let messages = request["messages"].as_array().unwrap();
    let system: Vec<&str> =
        messages.iter().filter(|m| m["role"] == "system").filter_map(|m| m["content"].as_str()).collect();
    system.join("\n\n")
}

/// Rewrites the harness tenant's `ai` section with `edit` (e.g. `ai.api`) and stores it.
pub async fn edit_ai(h: &mut Harness, edit: impl FnOnce(&mut serde_json::Value)) {
    use comms_core::ports::TenantDirectory;
    let mut doc: serde_json::Value = serde_json::from_str(&h.tenant.to_json_pretty()).unwrap();
    edit(&mut doc["ai"]);
    h.tenant = TenantConfig::from_json(&doc.to_string()).unwrap();
    comms_sqlite::SqliteTenants::new(h.db.clone()).put(&h.tenant).await.unwrap();
}
