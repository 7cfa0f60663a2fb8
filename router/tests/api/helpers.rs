use comms_core::domain::tenant::TenantConfig;
use comms_core::ports::DeadLetters;
use comms_core::ports::Secret;
use comms_core::twilio::{TwilioCredentials, signature};
use comms_router::{AppState, RouterConfig, app};
use comms_sqlite::{Db, QueueSettings, SqliteConsent, SqliteConversations, SqliteQueues};

pub const SHOP_NUMBER: &str = "+15555550100";
pub const CUSTOMER: &str = "+14155550123";
pub const AUTH_TOKEN: &str = "test-auth-token";

pub struct TestApp {
    pub base_url: String,
    pub db: Db,
    pub deliveries: SqliteConversations,
    pub queues: SqliteQueues,
    pub consent: SqliteConsent,
    pub tenant: TenantConfig,
    pub client: reqwest::Client,
    _dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Starts the router on a free port with the demo tenant and a known auth token.
pub async fn spawn_app() -> TestApp {
    spawn_app_with_limit(comms_router::DEFAULT_MAX_BODY_BYTES).await
}

/// The router's state on a fresh database with the demo tenant and [`AUTH_TOKEN`], for
/// signatures checked against `public_base_url`.
pub async fn test_state(
    dir: &tempfile::TempDir,
    public_base_url: &str,
    max_body_bytes: usize,
) -> (AppState, Db, TenantConfig) {
    let db = Db::open(&dir.path().join("comms.db")).unwrap();
    // Built as `comms serve` builds it: the embedded composition root, then the state.
    let stores = comms_sqlite::stores(&db, QueueSettings::default());

    let tenant =
        TenantConfig::from_json(include_str!("../../../samples/tenants/demo-repair-shop.json")).unwrap();
    stores.tenants.put(&tenant).await.unwrap();
    let creds = TwilioCredentials { account_sid: "ACtest".into(), auth_token: Secret::new(AUTH_TOKEN) };
    stores.secrets.put(tenant.credentials.twilio.as_deref().unwrap(), &creds.to_secret()).await.unwrap();

    let mut config = RouterConfig::new(public_base_url);
    config.max_body_bytes = max_body_bytes;
    let state = AppState::new(&stores, config);
    (state, db, tenant)
}

pub async fn spawn_app_with_limit(max_body_bytes: usize) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let (state, db, tenant) = test_state(&dir, &base_url, max_body_bytes).await;
    let queues = SqliteQueues::new(db.clone(), QueueSettings::default());
    let consent = SqliteConsent::new(db.clone());
    let conversations = SqliteConversations::new(db.clone());
    let server = tokio::spawn(async move {
        axum::serve(listener, app(state)).await.unwrap();
    });
    TestApp {
        base_url,
        db,
        deliveries: conversations,
        queues,
        consent,
        tenant,
        client: comms_testkit::http_client(),
        _dir: dir,
        server,
    }
}

pub fn sms_params(body: &str) -> Vec<(String, String)> {
    [
        ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
        ("AccountSid", "ACtest"),
        ("From", CUSTOMER),
        ("To", SHOP_NUMBER),
        ("Body", body),
        ("NumMedia", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

pub fn encode(params: &[(String, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}

impl TestApp {
    /// Posts a form to `path`, signed (or not) as Twilio would sign it for this server.
    pub async fn post_twilio(
        &self,
        path: &str,
        params: &[(String, String)],
        sign_with: Option<&str>,
    ) -> reqwest::Response {
        let url = format!("{}{path}", self.base_url);
        let mut req = self
            .client
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode(params));
        if let Some(token) = sign_with {
            req = req.header("x-twilio-signature", signature::compute(token, &url, params));
        }
        req.send().await.unwrap()
    }

    pub async fn sms_depth(&self) -> u64 {
        let s = self.queues.stats(comms_core::domain::Channel::Sms).await.unwrap();
        s.depth + s.in_flight
    }
}

/// Asserts the §3 error shape and returns (code, field).
pub async fn error_of(resp: reqwest::Response) -> (String, Option<String>) {
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/json"), "error content type {ct}");
    let v: serde_json::Value = resp.json().await.unwrap();
    let e = &v["error"];
    assert!(e["code"].is_string() && e["message"].is_string(), "error shape: {v}");
    (e["code"].as_str().unwrap().to_owned(), e["field"].as_str().map(str::to_owned))
}
