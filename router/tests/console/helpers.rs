use std::collections::BTreeMap;

use comms_core::domain::tenant::{KeyHash, TenantConfig, hash_key};
use comms_core::domain::{Channel, ConversationId, PhoneNumber, TenantRef};
use comms_core::ports::{Booking, ConversationItem, ConversationKey, ItemContent, Reservation, Stores};
use comms_router::{AppState, RouterConfig, app};
use comms_sqlite::{Db, QueueSettings};

pub const OWNER_KEY: &str = "owner-key-of-the-demo-shop";
pub const OTHER_KEY: &str = "owner-key-of-the-other-shop";
pub const CUSTOMER: &str = "+14155550123";
pub const OTHER_CUSTOMER: &str = "+14155550987";

pub struct TestApp {
    pub base_url: String,
    pub stores: Stores,
    pub demo: TenantConfig,
    pub other: TenantConfig,
    _db: Db,
    _dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn with_admin_key(mut t: TenantConfig, key: &str) -> TenantConfig {
    t.admin_keys = vec![KeyHash { id: "owner".into(), sha256: hash_key(key) }];
    t
}

/// The router with two tenants (the demo shop and another), each with an owner key.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// As [`spawn_app`], with the router's configuration changed by `tune` first.
pub async fn spawn_app_with(tune: impl FnOnce(&mut RouterConfig)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("comms.db")).unwrap();
    let stores = comms_sqlite::stores(&db, QueueSettings::default());
    let sample = include_str!("../../../samples/tenants/demo-repair-shop.json");
    let demo = with_admin_key(TenantConfig::from_json(sample).unwrap(), OWNER_KEY);
    let other_json = sample
        .replace("\"demo\"", "\"other\"")
        .replace("/demo/", "/other/")
        .replace("+15555550100", "+15555550199");
    let other = with_admin_key(TenantConfig::from_json(&other_json).unwrap(), OTHER_KEY);
    stores.tenants.put(&demo).await.unwrap();
    stores.tenants.put(&other).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let mut config = RouterConfig::new(&base_url);
    tune(&mut config);
    let state = AppState::new(&stores, config);
    let server = tokio::spawn(async move {
        let service = app(state).into_make_service_with_connect_info::<comms_router::console::ClientAddr>();
        axum::serve(listener, service).await.unwrap();
    });
    TestApp { base_url, stores, demo, other, _db: db, _dir: dir, server }
}

/// A browser: cookies kept by hand, redirects not followed (tests look at them).
pub struct Browser {
    pub base: String,
    pub client: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
}

pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub body: String,
}

impl Browser {
    pub fn new(app: &TestApp) -> Self {
        drop(comms_testkit::http_client()); // installs the rustls provider (ring) once
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { base: app.base_url.clone(), client, cookies: BTreeMap::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn take(&mut self, resp: reqwest::Response) -> Page {
        let status = resp.status().as_u16();
        let location = resp.headers().get("location").map(|v| v.to_str().unwrap().to_owned());
        let set_cookies: Vec<String> =
            resp.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
        for c in &set_cookies {
            let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        Page { status, location, set_cookies, body: resp.text().await.unwrap() }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.take(resp).await
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        self.take(resp).await
    }

    /// Signs in through the form (company and project empty for an operator key).
    pub async fn sign_in(&mut self, company: &str, project: &str, key: &str) -> Page {
        let form = self.get("/console/sign-in").await;
        let csrf = hidden(&form.body, "csrf");
        self.post(
            "/console/sign-in",
            &[("company_id", company), ("project_id", project), ("key", key), ("csrf", &csrf)],
        )
        .await
    }

    /// The CSRF token of a page's forms.
    pub async fn csrf(&mut self) -> String {
        let page = self.get("/console/conversations").await;
        hidden(&page.body, "csrf")
    }
}

/// The value of the first hidden input named `name` in `html`.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name} in {html}")) + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// Stores a conversation of `tenant` with `customer`: one inbound text and one reply.
pub async fn seed_conversation(
    app: &TestApp,
    tenant: &TenantRef,
    customer: &str,
    text: &str,
) -> ConversationId {
    let customer = comms_core::domain::Address::parse(customer).unwrap();
    let id = ConversationId::derive(tenant, Channel::Sms, &customer);
    let key = ConversationKey { id: id.clone(), tenant: tenant.clone(), channel: Channel::Sms, customer };
    let at = jiff::Timestamp::now();
    let items = [
        ConversationItem {
            item_id: format!("{id}-in"),
            at,
            content: ItemContent::Inbound { text: text.into(), media: Vec::new() },
        },
        ConversationItem {
            item_id: format!("{id}-out"),
            at,
            content: ItemContent::Reply {
                text: "Happy to help!".into(),
                provider_ids: vec!["SMtest1".into()],
            },
        },
    ];
    app.stores.conversations.append(&key, &items).await.unwrap();
    id
}

/// The envelopes queued on the SMS queue (received, and so hidden for a while).
pub async fn queued_sms(app: &TestApp) -> Vec<serde_json::Value> {
    let got = app.stores.queues.receive(Channel::Sms, 10, std::time::Duration::from_secs(60)).await.unwrap();
    got.into_iter().map(|m| serde_json::from_str(&m.body).unwrap()).collect()
}

/// Books `lead_id` for the demo tenant, the day after tomorrow at `hour:minute`.
pub async fn book(app: &TestApp, lead_id: &str, hour: i8, minute: i8) -> Booking {
    let date = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .tomorrow()
        .unwrap()
        .tomorrow()
        .unwrap();
    let booking = Booking {
        tenant: app.demo.tenant.clone(),
        date,
        time: jiff::civil::time(hour, minute, 0, 0),
        lead_id: lead_id.into(),
        customer_name: "Ann".into(),
        phone: PhoneNumber::parse(CUSTOMER).unwrap(),
        service: "screen".into(),
        conversation_id: None,
        created_at: jiff::Timestamp::now(),
    };
    assert!(matches!(app.stores.bookings.reserve(&booking).await.unwrap(), Reservation::Created(_)));
    booking
}
