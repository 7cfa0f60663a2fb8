//! The email routes' test app: the demo tenant with an email section, its SendGrid secret
//! trusting the testkit's webhook key, and SendGrid-shaped posts.

use std::sync::Arc;

use comms_core::domain::tenant::TenantConfig;
use comms_core::domain::{Address, Channel, EmailAddress};
use comms_core::ports::{Secret, Stores};
use comms_core::sendgrid::inbound_form;
use comms_router::{AppState, RouterConfig, app};
use comms_sqlite::QueueSettings;
use comms_testkit::sendgrid_events::WebhookSigner;
use serde_json::{Value, json};

use crate::helpers::test_state;

pub const SHOP_EMAIL: &str = "help@repair-shop.example";
pub const CUSTOMER_EMAIL: &str = "jane.doe@gmail.com";
pub const PATH_SECRET: &str = "inbound-path-secret-0123";
pub const SENDGRID_SECRET: &str = "email-credentials/demo/repair-shop/sendgrid";

pub struct EmailApp {
    pub base_url: String,
    pub stores: Stores,
    pub tenant: TenantConfig,
    pub client: reqwest::Client,
    _dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for EmailApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The router on a free port; inbound mail over `max_email_bytes` is refused.
pub async fn email_app(max_email_bytes: usize) -> EmailApp {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let (state, stores, tenant) = email_state(&dir, &base_url, max_email_bytes).await;
    let server = tokio::spawn(async move {
        axum::serve(listener, app(state)).await.unwrap();
    });
    EmailApp { base_url, stores, tenant, client: comms_testkit::http_client(), _dir: dir, server }
}

/// The router's state on a fresh database in `dir`: the demo tenant with the shop's
/// email address, its SendGrid secret trusting the testkit's key for events and inbound.
pub async fn email_state(
    dir: &tempfile::TempDir,
    base_url: &str,
    max_email_bytes: usize,
) -> (AppState, Stores, TenantConfig) {
    let (mut state, db, tenant) = test_state(dir, base_url, comms_router::DEFAULT_MAX_BODY_BYTES).await;
    let config = RouterConfig { max_email_bytes, ..(*state.config).clone() };
    state.config = Arc::new(config);
    let stores = comms_sqlite::stores(&db, QueueSettings::default());
    let mut raw: Value = serde_json::from_str(&tenant.to_json_pretty()).unwrap();
    raw["email"] =
        json!({"addresses": [SHOP_EMAIL], "from_name": "Demo Repairs", "inbound_path_secret": PATH_SECRET});
    let tenant = TenantConfig::from_json(&raw.to_string()).unwrap();
    stores.tenants.put(&tenant).await.unwrap();
    trust_keys(&stores, true).await;
    (state, stores, tenant)
}

/// The tenant's SendGrid secret: the testkit's key for events and, if `inbound`, for
/// Inbound Parse too.
pub async fn trust_keys(stores: &Stores, inbound: bool) {
    let key = WebhookSigner::test_key().verification_key();
    let mut secret = json!({"api_key": "SG.test", "verification_key": key});
    if inbound {
        secret["inbound_verification_key"] = json!(key);
    }
    stores.secrets.put(SENDGRID_SECRET, &Secret::new(secret.to_string())).await.unwrap();
}

impl EmailApp {
    /// See [`trust_keys`].
    pub async fn trust_keys(&self, inbound: bool) {
        trust_keys(&self.stores, inbound).await;
    }

    /// POSTs `raw` to `path` as Inbound Parse does, signed by `signer` if given.
    pub async fn post_mail(
        &self,
        path: &str,
        raw: &[u8],
        signer: Option<&WebhookSigner>,
    ) -> reqwest::Response {
        self.post_signed(path, FORM_TYPE, form(raw), signer).await
    }

    /// POSTs `body` to `path`, signed now by `signer` if given.
    pub async fn post_signed(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
        signer: Option<&WebhookSigner>,
    ) -> reqwest::Response {
        let mut request =
            self.client.post(format!("{}{path}", self.base_url)).header("content-type", content_type);
        for (name, value) in signer.map(|s| s.headers(&body)).into_iter().flatten() {
            request = request.header(name, value);
        }
        request.body(body).send().await.unwrap()
    }

    /// Messages on the email queue (waiting or in flight).
    pub async fn email_depth(&self) -> u64 {
        let s = self.stores.dead_letters.stats(Channel::Email).await.unwrap();
        s.depth + s.in_flight
    }

    pub async fn opted_out(&self, address: &str) -> bool {
        let address = Address::Email(EmailAddress::parse(address).unwrap());
        self.stores.consent.is_opted_out(&self.tenant.tenant, &address).await.unwrap()
    }
}

/// The Content-Type of [`form`]'s bodies.
pub const FORM_TYPE: &str = "multipart/form-data; boundary=xYzZY";

/// An Inbound Parse body for `raw`, delivered to the shop's address.
pub fn form(raw: &[u8]) -> Vec<u8> {
    let envelope = json!({"to": [SHOP_EMAIL], "from": CUSTOMER_EMAIL}).to_string();
    inbound_form::encode(
        "xYzZY",
        &[("to", SHOP_EMAIL.as_bytes()), ("envelope", envelope.as_bytes()), ("email", raw)],
    )
}

/// A sample mail of samples/email/.
pub fn sample(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../samples/email/{name}.eml", env!("CARGO_MANIFEST_DIR"))).unwrap()
}
