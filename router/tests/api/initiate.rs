use comms_core::domain::tenant::{KeyHash, ProjectStatus, TenantConfig, hash_key};
use comms_core::domain::{Address, Channel, Envelope, KindDetail, PhoneNumber, TenantRef};
use comms_core::ports::{ConsentAction, ConsentStore, DeadLetters, Queues, TenantDirectory};
use comms_sqlite::SqliteTenants;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

pub const API_KEY: &str = "test-api-key";

pub fn sample(name: &str) -> Value {
    let path = format!("{}/../samples/requests/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The demo tenant with a known API key (and any change `edit` makes).
pub async fn with_tenant(app: &TestApp, edit: impl FnOnce(&mut TenantConfig)) {
    let mut t = app.tenant.clone();
    t.api_keys = vec![KeyHash { id: "test".into(), sha256: hash_key(API_KEY) }];
    t.admin_keys = vec![KeyHash { id: "owner".into(), sha256: hash_key(crate::admin::ADMIN_KEY) }];
    edit(&mut t);
    SqliteTenants::new(app.db.clone()).put(&t).await.unwrap();
}

impl TestApp {
    pub async fn post_json(&self, path: &str, body: &Value, key: Option<(&str, &str)>) -> reqwest::Response {
        let mut req = self.client.post(format!("{}{path}", self.base_url)).json(body);
        if let Some((header, value)) = key {
            req = req.header(header, value);
        }
        req.send().await.unwrap()
    }

    pub async fn depth(&self, channel: Channel) -> u64 {
        let s = self.queues.stats(channel).await.unwrap();
        s.depth + s.in_flight
    }
}

pub async fn initiate(app: &TestApp, body: &Value) -> reqwest::Response {
    app.post_json("/initiate-conversation", body, Some(("x-api-key", API_KEY))).await
}

#[tokio::test]
async fn initiate_enqueues_once_and_answers_the_documented_shape() {
    let app = spawn_app().await;
    with_tenant(&app, |_| {}).await;
    let body = sample("initiate-conversation.json");
    let resp = app
        .client
        .post(format!("{}/initiate-conversation", app.base_url))
        .header("origin", "https://company.example")
        .header("x-api-key", API_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["status"], "success");
    assert_eq!(answer["request_id"], "3f2b8c1e-6a4d-4c1b-9e2f-7d5a1b0c9e8f");
    assert_eq!(answer["conversation_id"], "demo.repair-shop.tel.14155550123");
    assert_eq!(answer["channel"], "sms");
    assert!(answer["queued_at"].is_string());

    let got = app.queues.receive(Channel::Sms, 10, std::time::Duration::from_secs(30)).await.unwrap();
    assert_eq!(got.len(), 1);
    let env = Envelope::parse(&got[0].body).unwrap();
    assert_eq!(env.from.as_str(), SHOP_NUMBER);
    assert_eq!(env.to.as_str(), CUSTOMER);
    assert!(
        matches!(env.detail, KindDetail::Initiate { ref recipient_name, .. } if recipient_name.as_deref() == Some("Ann Lee"))
    );
}

#[tokio::test]
async fn the_same_request_id_is_answered_the_same_and_enqueued_once() {
    let app = spawn_app().await;
    with_tenant(&app, |_| {}).await;
    let body = sample("initiate-conversation.json");
    let first: Value = initiate(&app, &body).await.json().await.unwrap();
    let second = initiate(&app, &body).await;
    assert_eq!(second.status(), StatusCode::OK);
    assert_eq!(second.json::<Value>().await.unwrap(), first);
    assert_eq!(app.depth(Channel::Sms).await, 1);

    let mut changed = body.clone();
    changed["project_data"]["device"] = "Pixel 8".into();
    let resp = initiate(&app, &changed).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert_eq!(error_of(resp).await, ("request_id_conflict".into(), Some("request_data.request_id".into())));
    assert_eq!(app.depth(Channel::Sms).await, 1);
}

#[tokio::test]
async fn keys_only_open_their_own_company() {
    let app = spawn_app().await;
    with_tenant(&app, |_| {}).await;
    // Another company with its own key and numbers.
    let mut other = app.tenant.clone();
    other.tenant = TenantRef::new("other-co", "shop").unwrap();
    other.credentials = Default::default();
    other.numbers = [(Channel::Sms, vec![PhoneNumber::parse("+15555550177").unwrap()])].into();
    other.api_keys = vec![KeyHash { id: "k".into(), sha256: hash_key("other-key") }];
    SqliteTenants::new(app.db.clone()).put(&other).await.unwrap();

    let mut body = sample("initiate-conversation.json");
    body["company_data"]["company_id"] = "other-co".into();
    body["company_data"]["project_id"] = "shop".into();
    let resp = initiate(&app, &body).await; // demo's key, other-co's project
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_of(resp).await.0, "forbidden");
    let resp = app.post_json("/initiate-conversation", &body, None).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_of(resp).await.0, "missing_api_key");
    let resp = app.post_json("/initiate-conversation", &body, Some(("x-api-key", "other-key"))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    // An unknown company looks the same as someone else's: 403.
    body["company_data"]["company_id"] = "nobody".into();
    assert_eq!(initiate(&app, &body).await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn inactive_project_and_disallowed_channel_are_403() {
    let app = spawn_app().await;
    with_tenant(&app, |t| t.project_status = ProjectStatus::Paused).await;
    let resp = initiate(&app, &sample("initiate-conversation.json")).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_of(resp).await.0, "project_inactive");

    with_tenant(&app, |t| {
        t.allowed_channels = [Channel::Sms].into();
        t.numbers.retain(|c, _| *c == Channel::Sms);
    })
    .await;
    let resp = initiate(&app, &sample("initiate-conversation-whatsapp.json")).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        error_of(resp).await,
        ("channel_not_allowed".into(), Some("request_data.channel_method".into()))
    );
    assert_eq!(app.depth(Channel::Whatsapp).await + app.depth(Channel::Sms).await, 0);
}

#[tokio::test]
async fn bad_recipient_fields_are_400_with_the_field() {
    let app = spawn_app().await;
    with_tenant(&app, |_| {}).await;
    let cases = [
        ("/recipient_data/comms_consent", Value::Bool(false), "recipient_data.comms_consent"),
        ("/recipient_data/tel", "0415 555 0123".into(), "recipient_data.tel"),
        ("/request_data/request_id", "not-a-uuid".into(), "request_data.request_id"),
        ("/request_data/channel_method", "fax".into(), "request_data.channel_method"),
        (
            "/request_data/initial_request_timestamp",
            "yesterday".into(),
            "request_data.initial_request_timestamp",
        ),
        ("/project_data", "text".into(), "project_data"),
    ];
    for (pointer, value, field) in cases {
        let mut body = sample("initiate-conversation.json");
        *body.pointer_mut(pointer).unwrap() = value;
        let resp = initiate(&app, &body).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{field}");
        assert_eq!(error_of(resp).await.1.as_deref(), Some(field));
    }
    // Email takes the recipient's email address, checked as one (initiate_email.rs has more).
    let mut email = sample("initiate-conversation.json");
    email["request_data"]["channel_method"] = "email".into();
    email["recipient_data"]["email"] = "ann@@example.com".into();
    let resp = initiate(&app, &email).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_of(resp).await.1.as_deref(), Some("recipient_data.email"));
    let resp = app
        .client
        .post(format!("{}/initiate-conversation", app.base_url))
        .header("content-type", "application/json")
        .header("x-api-key", API_KEY)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_of(resp).await.0, "malformed_json");
    assert_eq!(app.depth(Channel::Sms).await, 0);
}

#[tokio::test]
async fn an_opted_out_recipient_is_409() {
    let app = spawn_app().await;
    with_tenant(&app, |_| {}).await;
    let customer = Address::parse(CUSTOMER).unwrap();
    app.consent
        .record(&app.tenant.tenant, &customer, ConsentAction::OptOut, "STOP", jiff::Timestamp::now())
        .await
        .unwrap();
    let resp = initiate(&app, &sample("initiate-conversation.json")).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert_eq!(error_of(resp).await.0, "recipient_opted_out");
    assert_eq!(app.depth(Channel::Sms).await, 0);
}

#[tokio::test]
async fn a_signed_whatsapp_message_lands_on_the_whatsapp_queue() {
    let app = spawn_app().await;
    let sample = sample("twilio-whatsapp-inbound.json");
    let params: Vec<(String, String)> = serde_json::from_value(sample["params"].clone()).unwrap();
    let resp = app.post_twilio("/twilio/whatsapp", &params, Some(AUTH_TOKEN)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let got = app.queues.receive(Channel::Whatsapp, 10, std::time::Duration::from_secs(30)).await.unwrap();
    assert_eq!(got.len(), 1);
    let env = Envelope::parse(&got[0].body).unwrap();
    assert_eq!(env.channel, Channel::Whatsapp);
    assert_eq!(env.from.as_str(), CUSTOMER);
    assert_eq!(env.conversation_id.as_str(), "demo.repair-shop.wa.14155550123");
    assert_eq!(app.depth(Channel::Sms).await, 0);
}

#[tokio::test]
async fn browser_preflight_is_answered_for_the_api_but_not_for_webhooks() {
    let app = spawn_app().await;
    let preflight = |path: &str| {
        app.client
            .request(reqwest::Method::OPTIONS, format!("{}{path}", app.base_url))
            .header("origin", "https://company.example")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type,x-api-key")
            .send()
    };
    let resp = preflight("/initiate-conversation").await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    let allowed = resp.headers()["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
    assert!(allowed.contains("x-api-key"), "{allowed}");
    let resp = preflight("/twilio/sms").await.unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());
}
