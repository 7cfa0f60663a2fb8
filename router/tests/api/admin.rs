use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;
use crate::initiate::{API_KEY, sample, with_tenant};

pub const ADMIN_KEY: &str = "test-admin-key";
const Q: &str = "company_id=demo&project_id=repair-shop";

impl TestApp {
    pub fn admin(&self, method: reqwest::Method, path: &str, key: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}?{Q}", self.base_url)).header("x-admin-key", key)
    }
}

#[tokio::test]
async fn owner_state_put_get_delete_and_history() {
    let app = spawn_app().await;
    with_tenant(&app, |_| {}).await;
    let resp = app.admin(reqwest::Method::GET, "/admin/state", ADMIN_KEY).send().await.unwrap();
    let state: Value = resp.json().await.unwrap();
    assert_eq!((state["mode"].as_str(), state["default"].as_bool()), (Some("WORK"), Some(true)));

    let resp = app
        .admin(reqwest::Method::PUT, "/admin/state", ADMIN_KEY)
        .json(&sample("admin-state-put.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let got: Value = app
        .admin(reqwest::Method::GET, "/admin/state", ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["mode"], "GYM");
    assert_eq!(got["location"], "Main Street gym");

    let resp = app.admin(reqwest::Method::DELETE, "/admin/state", ADMIN_KEY).send().await.unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap()["mode"], "WORK");
    let history: Value = app
        .admin(reqwest::Method::GET, "/admin/state/history", ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(history["history"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn owner_state_needs_the_admin_key_and_valid_fields() {
    let app = spawn_app().await;
    with_tenant(&app, |_| {}).await;
    // The API key is not an admin key.
    let resp = app.admin(reqwest::Method::GET, "/admin/state", API_KEY).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    error_of(resp).await;
    let resp = app.client.get(format!("{}/admin/state?{Q}", app.base_url)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    error_of(resp).await;

    for (body, field) in [
        (serde_json::json!({"mode": "GYM", "until": "2000-01-01T00:00:00Z"}), "until"),
        (serde_json::json!({"mode": "GYM", "until": "tonight"}), "until"),
        (serde_json::json!({"mode": ""}), "mode"),
        (serde_json::json!({"location": "x"}), "mode"),
        (serde_json::json!({"mode": "GYM", "mood": "happy"}), "mood"),
    ] {
        let resp =
            app.admin(reqwest::Method::PUT, "/admin/state", ADMIN_KEY).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error_of(resp).await.1.as_deref(), Some(field), "{body}");
    }
    let resp = app
        .client
        .get(format!("{}/admin/state", app.base_url))
        .header("x-admin-key", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_of(resp).await.1.as_deref(), Some("company_id"));
}

#[tokio::test]
async fn without_a_key_every_keyed_route_is_401_before_any_validation() {
    let app = spawn_app().await;
    with_tenant(&app, |_| {}).await;
    let url = |path: &str| format!("{}{path}", app.base_url);
    let c = &app.client;
    let requests = [
        ("GET /admin/state", c.get(url("/admin/state"))),
        ("GET /admin/state?company_id=", c.get(url("/admin/state?company_id="))),
        ("PUT /admin/state", c.put(url("/admin/state")).body("{not json")),
        ("DELETE /admin/state", c.delete(url("/admin/state"))),
        ("GET /admin/state/history", c.get(url("/admin/state/history"))),
        ("GET /leads", c.get(url("/leads"))),
        ("GET /leads?date=tomorrow", c.get(url(&format!("/leads?{Q}&date=tomorrow")))),
        ("GET /availability", c.get(url("/availability"))),
        ("GET /availability?date=tomorrow", c.get(url(&format!("/availability?{Q}&date=tomorrow")))),
        (
            "POST /bookings",
            c.post(url("/bookings")).header("content-type", "application/json").body("{not json"),
        ),
        ("POST /bookings (form)", c.post(url("/bookings")).body("x=1")),
        (
            "POST /initiate-conversation",
            c.post(url("/initiate-conversation")).header("content-type", "application/json").body("{}"),
        ),
        ("POST /initiate-conversation (text)", c.post(url("/initiate-conversation")).body("hello")),
    ];
    for (name, request) in requests {
        let resp = request.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{name}");
        assert_eq!(error_of(resp).await.0, "missing_api_key", "{name}");
    }
}
