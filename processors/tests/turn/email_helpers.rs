//! The email turn's world: the router on a free port (signed Inbound Parse posts land on
//! the email queue), the engine with the real OpenAI and SendGrid clients against the
//! testkit's stubs, on the embedded storage; the demo tenant with an email section.

use std::sync::Arc;
use std::time::Duration;

use comms_core::domain::tenant::TenantConfig;
use comms_core::domain::tenant::{KeyHash, hash_key};
use comms_core::domain::{Address, Channel, ConversationId, EmailAddress, Envelope};
use comms_core::ports::{
    Begin, ConversationItem, ConversationKey, JournalTurn, Secret, Stores, TurnStep, TurnWrite, turn_key,
};
use comms_core::sendgrid::inbound_form;
use comms_engine::turn::{Engine, EnginePorts, Outcome, TurnError, TurnSettings};
use comms_providers::channels::ByChannel;
use comms_providers::sendgrid::SendGridMail;
use comms_providers::twilio::TwilioRest;
use comms_sqlite::{Db, QueueSettings};
use comms_testkit::sendgrid::SendGridStub;
use comms_testkit::sendgrid_events::WebhookSigner;
use serde_json::json;

use crate::stubs::{OpenAiStub, TwilioStub};

pub const SHOP_EMAIL: &str = "help@repair-shop.example";
pub const CUSTOMER_EMAIL: &str = "jane.doe@gmail.com";
pub const SENDGRID_SECRET: &str = "email-credentials/demo/repair-shop/sendgrid";
/// The public base the engine signs unsubscribe links under.
pub const PUBLIC_BASE: &str = "https://comms.example";
pub const UNSUBSCRIBE_KEY: &str = "unsubscribe-key-for-tests";
pub const API_KEY: &str = "test-api-key";
/// The tenant's reply cap in these tests.
pub const MAX_REPLY_CHARS: usize = 160;

pub struct EmailWorld {
    pub stores: Stores,
    pub engine: Arc<Engine>,
    pub tenant: TenantConfig,
    pub openai: OpenAiStub,
    pub sendgrid: SendGridStub,
    /// The router's base URL.
    pub router: String,
    _twilio: TwilioStub,
    _dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for EmailWorld {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The world; SendGrid sends time out after `send_timeout` (then the send is ambiguous).
pub async fn email_world(openai: OpenAiStub, send_timeout: Duration) -> EmailWorld {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("comms.db")).unwrap();
    let stores = comms_sqlite::stores(&db, QueueSettings::default());
    let mut raw: serde_json::Value =
        serde_json::from_str(include_str!("../../../samples/tenants/demo-repair-shop.json")).unwrap();
    raw["email"] =
        json!({"addresses": [SHOP_EMAIL], "from_name": "Demo Repairs", "max_reply_chars": MAX_REPLY_CHARS});
    let mut tenant = TenantConfig::from_json(&raw.to_string()).unwrap();
    tenant.allowed_channels.insert(Channel::Email);
    tenant.api_keys = vec![KeyHash { id: "test".into(), sha256: hash_key(API_KEY) }];
    stores.tenants.put(&tenant).await.unwrap();
    let key = WebhookSigner::test_key().verification_key();
    let sendgrid_secret =
        json!({"api_key": "SG.test", "verification_key": key, "inbound_verification_key": key});
    stores.secrets.put(SENDGRID_SECRET, &Secret::new(sendgrid_secret.to_string())).await.unwrap();
    stores
        .secrets
        .put(comms_core::secure::UNSUBSCRIBE_KEY_SECRET, &Secret::new(UNSUBSCRIBE_KEY))
        .await
        .unwrap();

    let (twilio, sendgrid) = (TwilioStub::start().await, SendGridStub::start().await);
    let secrets = Arc::clone(&stores.secrets) as Arc<dyn comms_core::ports::SecretStore>;
    let texts =
        Arc::new(TwilioRest::new(&twilio.base_url, Arc::clone(&secrets), Duration::from_secs(5)).unwrap());
    let email = Arc::new(
        SendGridMail::new(&sendgrid.base_url, secrets, Arc::clone(&stores.tenants), send_timeout).unwrap(),
    );
    let chat = crate::helpers::chat_client(&openai);
    let settings = TurnSettings {
        status_callback_base: Some(PUBLIC_BASE.into()),
        retry_budget: Duration::from_secs(2),
        ..Default::default()
    };
    let ports =
        EnginePorts::new(&stores, Arc::new(chat), Arc::new(ByChannel::new(texts.clone(), email)), texts);
    let engine = Arc::new(Engine::new(ports, settings));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let router = format!("http://{}", listener.local_addr().unwrap());
    let state = comms_router::AppState::new(&stores, comms_router::RouterConfig::new(&router));
    let server = tokio::spawn(async move { axum::serve(listener, comms_router::app(state)).await.unwrap() });
    EmailWorld { stores, engine, tenant, openai, sendgrid, router, _twilio: twilio, _dir: dir, server }
}

/// A customer's reply in a thread, as Gmail would send it.
pub fn customer_mail(message_id: &str, subject: &str, text: &str) -> String {
    format!(
        "From: Jane Doe <{CUSTOMER_EMAIL}>\r\nTo: Demo Repairs <{SHOP_EMAIL}>\r\nSubject: {subject}\r\n\
         Message-ID: <{message_id}>\r\nIn-Reply-To: <m1@repair-shop.example>\r\n\
         References: <m0@mail.gmail.com> <m1@repair-shop.example>\r\n\
         Date: Thu, 3 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
    )
}

impl EmailWorld {
    /// Posts `raw` to `/email/inbound` as a signed Inbound Parse webhook; returns the
    /// queue body the router enqueued for it.
    pub async fn receive_mail(&self, raw: &str) -> String {
        let envelope = json!({"to": [SHOP_EMAIL], "from": CUSTOMER_EMAIL}).to_string();
        let body = inbound_form::encode(
            "xYzZY",
            &[("to", SHOP_EMAIL.as_bytes()), ("envelope", envelope.as_bytes()), ("email", raw.as_bytes())],
        );
        let mut request = comms_testkit::http_client()
            .post(format!("{}/email/inbound", self.router))
            .header("content-type", "multipart/form-data; boundary=xYzZY");
        for (name, value) in WebhookSigner::test_key().headers(&body) {
            request = request.header(name, value);
        }
        let resp = request.body(body).send().await.unwrap();
        assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
        self.next_body().await
    }

    /// The next message on the email queue (deleted: the test plays the queue's part).
    pub async fn next_body(&self) -> String {
        let mut got = self.stores.queues.receive(Channel::Email, 1, Duration::from_secs(30)).await.unwrap();
        let message = got.pop().expect("a message on the email queue");
        self.stores.queues.delete(Channel::Email, &message.receipt).await.unwrap();
        message.body
    }

    pub async fn handle(&self, body: &str) -> Result<Outcome, TurnError> {
        self.engine.handle(body).await
    }

    pub fn customer(&self) -> Address {
        Address::Email(EmailAddress::parse(CUSTOMER_EMAIL).unwrap())
    }

    /// Leaves the turn of `env` at `step`, as an attempt that stopped there would.
    pub async fn store_step(&self, env: &Envelope, step: &TurnStep) {
        let turn = JournalTurn {
            conversation: ConversationKey::of(env),
            key: turn_key(&env.tenant, env.channel, &env.id),
            received_at: env.received_at,
            history: 20,
        };
        let lease = Duration::from_secs(30);
        let Begin::Claimed(mut claim) = self.stores.journal.begin(&turn, lease).await.unwrap() else {
            panic!("the turn is new")
        };
        let write = TurnWrite { items: &[], step, unless_opted_out: false };
        self.stores.journal.record(&turn, &mut claim, write, lease).await.unwrap();
        self.stores.journal.release(&turn, claim.token).await.unwrap();
    }

    /// Posts `body` to `/initiate-conversation` with the tenant's API key.
    pub async fn initiate(&self, body: &serde_json::Value) -> reqwest::Response {
        comms_testkit::http_client()
            .post(format!("{}/initiate-conversation", self.router))
            .header("x-api-key", API_KEY)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// The customer's email conversation, oldest item first.
    pub async fn items(&self) -> Vec<ConversationItem> {
        let id = ConversationId::derive(&self.tenant.tenant, Channel::Email, &self.customer());
        self.stores.conversations.items(&id, 100).await.unwrap()
    }
}
