//! The console through the router's Lambda entry point: behind API Gateway's stage
//! (`/prod`), links, redirects and cookie paths carry the stage; cookies are Secure
//! (https); sign-in attempts are counted by the last `X-Forwarded-For` hop.

use comms_core::domain::tenant::{KeyHash, TenantConfig, hash_key};
use comms_router::{AppState, RouterConfig, app, lambda};
use comms_sqlite::{Db, QueueSettings};
use serde_json::{Value, json};

use crate::helpers::{OWNER_KEY, hidden};

const SAMPLE: &str = include_str!("../../../samples/events/apigw-rest-twilio-sms.json");

/// An API Gateway REST proxy event for `method path` on the sample's API and stage.
fn event(method: &str, path: &str, cookie: &str, forwarded_for: &str, body: Option<String>) -> Value {
    let mut e: Value = serde_json::from_str(SAMPLE).unwrap();
    let headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Host", "abc123defg.execute-api.us-east-1.amazonaws.com"),
        ("X-Forwarded-For", forwarded_for),
        ("X-Forwarded-Proto", "https"),
        ("Cookie", cookie),
    ];
    e["headers"] = Value::Object(headers.iter().map(|(k, v)| (k.to_string(), json!(v))).collect());
    e["multiValueHeaders"] =
        Value::Object(headers.iter().map(|(k, v)| (k.to_string(), json!([v]))).collect());
    e["httpMethod"] = json!(method);
    e["path"] = json!(path);
    e["resource"] = json!("/console/{proxy+}");
    e["requestContext"]["httpMethod"] = json!(method);
    e["requestContext"]["path"] = json!(format!("/prod{path}"));
    e["requestContext"]["resourcePath"] = json!("/console/{proxy+}");
    e["body"] = body.map_or(Value::Null, Value::String);
    e
}

struct Answer {
    status: u16,
    location: Option<String>,
    cookies: Vec<String>,
    body: String,
}

async fn call(state: &AppState, e: Value) -> Answer {
    let req = lambda_http::request::from_str(&e.to_string()).unwrap();
    // No configured base: the invoke URL comes from the request context, as deployed.
    let resp = lambda::handle(app(state.clone()), req, true).await;
    let status = resp.status().as_u16();
    let location = resp.headers().get("location").map(|v| v.to_str().unwrap().to_owned());
    let cookies =
        resp.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    Answer { status, location, cookies, body: String::from_utf8(body.to_vec()).unwrap() }
}

async fn state(dir: &tempfile::TempDir) -> (AppState, Db) {
    let db = Db::open(&dir.path().join("comms.db")).unwrap();
    let stores = comms_sqlite::stores(&db, QueueSettings::default());
    let mut demo =
        TenantConfig::from_json(include_str!("../../../samples/tenants/demo-repair-shop.json")).unwrap();
    demo.admin_keys = vec![KeyHash { id: "owner".into(), sha256: hash_key(OWNER_KEY) }];
    stores.tenants.put(&demo).await.unwrap();
    (AppState::new(&stores, RouterConfig::new("")), db)
}

/// Signs in from `client` with `key`: the answer to the form's POST.
async fn sign_in(state: &AppState, client: &str, key: &str) -> Answer {
    let form = call(state, event("GET", "/console/sign-in", "", client, None)).await;
    let pre = form.cookies[0].split(';').next().unwrap().to_owned();
    let csrf = hidden(&form.body, "csrf");
    let body = format!("company_id=demo&project_id=repair-shop&key={key}&csrf={csrf}");
    call(state, event("POST", "/console/sign-in", &pre, client, Some(body))).await
}

#[tokio::test]
async fn behind_the_stage_links_redirects_and_cookies_carry_it_and_cookies_are_secure() {
    let dir = tempfile::tempdir().unwrap();
    let (state, _db) = state(&dir).await;
    let asked = call(&state, event("GET", "/console/today", "", "1.2.3.4", None)).await;
    assert_eq!(asked.status, 303);
    assert_eq!(asked.location.as_deref(), Some("/prod/console/sign-in?next=%2Fconsole%2Ftoday"));

    let form = call(&state, event("GET", "/console/sign-in", "", "1.2.3.4", None)).await;
    assert!(form.body.contains("action=\"/prod/console/sign-in\""), "{}", form.body);
    assert!(form.cookies[0].contains("Path=/prod/console") && form.cookies[0].contains("; Secure"));

    let signed = sign_in(&state, "1.2.3.4", OWNER_KEY).await;
    assert_eq!(signed.location.as_deref(), Some("/prod/console/today"));
    let session = signed.cookies.iter().find(|c| c.starts_with("comms_console=")).unwrap();
    assert!(session.contains("Path=/prod/console") && session.contains("; Secure"), "{session}");

    let cookie = session.split(';').next().unwrap();
    let today = call(&state, event("GET", "/console/today", cookie, "1.2.3.4", None)).await;
    assert_eq!(today.status, 200);
    assert!(today.body.contains("href=\"/prod/console/bookings\""), "{}", today.body);
    assert!(today.body.contains("src=\"/prod/console/static/htmx.min.js\""));
}

#[tokio::test]
async fn sign_in_attempts_are_counted_by_the_last_forwarded_hop() {
    let dir = tempfile::tempdir().unwrap();
    let (state, _db) = state(&dir).await;
    // The client may write the first hops; API Gateway appends the address it saw.
    for n in 0..10 {
        let spoofed = format!("10.0.0.{n}, 203.0.113.7");
        assert_eq!(sign_in(&state, &spoofed, "wrong").await.status, 401);
    }
    assert_eq!(sign_in(&state, "10.0.0.99, 203.0.113.7", OWNER_KEY).await.status, 429);
    assert_eq!(sign_in(&state, "203.0.113.8", OWNER_KEY).await.status, 303, "another client");
}
