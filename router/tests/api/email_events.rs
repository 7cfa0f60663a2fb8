//! `POST /email/events` (SendGrid's Event Webhook, signed with the testkit's key pair) and
//! `GET`/`POST /email/unsubscribe` (the signed one-click link).

use comms_core::domain::{Address, EmailAddress};
use comms_core::ports::Secret;
use comms_core::secure::unsubscribe_token;
use comms_testkit::sendgrid_events::WebhookSigner;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::email_helpers::*;
use crate::helpers::error_of;

fn event(kind: &str, email: &str, id: &str) -> Value {
    json!({"email": email, "timestamp": 1_700_000_000, "event": kind, "sg_event_id": format!("ev-{id}"),
           "sg_message_id": format!("{id}.filterdrecv-1-1"), "company_id": "demo", "project_id": "repair-shop",
           "type": "bounce", "status": "5.1.1"})
}

#[tokio::test]
async fn a_bounce_opts_out_and_delivery_outcomes_are_recorded() {
    let app = email_app(1024 * 1024).await;
    let events = [
        event("delivered", "ann@example.org", "msg-1"),
        event("bounce", "bob@example.org", "msg-2"),
        event("spamreport", "cy@example.org", "msg-3"),
        event("open", "dee@example.org", "msg-4"),
    ];
    let resp =
        WebhookSigner::test_key().post_events(&format!("{}/email/events", app.base_url), &events).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (deliveries, tenant) = (&app.stores.deliveries, &app.tenant.tenant);
    assert_eq!(deliveries.status(tenant, "msg-1").await.unwrap(), Some(("delivered".into(), None)));
    let bounced = deliveries.status(tenant, "msg-2").await.unwrap();
    assert_eq!(bounced, Some(("undelivered".into(), Some("bounce 5.1.1".into()))));
    assert!(app.opted_out("bob@example.org").await);
    assert!(app.opted_out("cy@example.org").await);
    assert!(!app.opted_out("ann@example.org").await && !app.opted_out("dee@example.org").await);
}

#[tokio::test]
async fn unsigned_or_forged_events_are_403_and_change_nothing() {
    let app = email_app(1024 * 1024).await;
    let url = format!("{}/email/events", app.base_url);
    let body = serde_json::to_vec(&[event("bounce", "bob@example.org", "m")]).unwrap();
    let resp = app.post_signed("/email/events", "application/json", body, None).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_of(resp).await.0, "missing_signature");
    let resp = WebhookSigner::forger().post_events(&url, &[event("bounce", "bob@example.org", "m")]).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_of(resp).await.0, "invalid_signature");
    let mut stranger = event("bounce", "bob@example.org", "m");
    stranger["company_id"] = json!("someone-else");
    let resp = WebhookSigner::test_key().post_events(&url, &[stranger]).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(!app.opted_out("bob@example.org").await);
}

/// The app with the deployment's unsubscribe key (`unsubscribe-key`), and the customer.
async fn unsubscribe_app() -> (EmailApp, Address) {
    let app = email_app(1024 * 1024).await;
    let key = Secret::new("unsubscribe-key");
    app.stores.secrets.put(comms_router::UNSUBSCRIBE_KEY_SECRET, &key).await.unwrap();
    (app, Address::Email(EmailAddress::parse(CUSTOMER_EMAIL).unwrap()))
}

#[tokio::test]
async fn one_click_unsubscribe_opts_out_and_the_page_alone_does_not() {
    let (app, customer) = unsubscribe_app().await;
    let token = unsubscribe_token(b"unsubscribe-key", &app.tenant.tenant, &customer);
    let url = format!("{}/email/unsubscribe?t={token}", app.base_url);
    let page = app.client.get(&url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.text().await.unwrap().contains("<form method=\"post\">"));
    assert!(!app.opted_out(CUSTOMER_EMAIL).await, "following the link changes nothing");
    let resp = app
        .client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(app.opted_out(CUSTOMER_EMAIL).await);
}

#[tokio::test]
async fn a_forged_or_missing_unsubscribe_token_is_400() {
    let (app, customer) = unsubscribe_app().await;
    let forged = unsubscribe_token(b"another-key", &app.tenant.tenant, &customer);
    for query in [format!("?t={forged}"), String::new(), "?t=".into(), "?t=%FF%FE".into()] {
        let resp =
            app.client.post(format!("{}/email/unsubscribe{query}", app.base_url)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(error_of(resp).await, ("invalid_field".into(), Some("t".into())));
    }
    assert!(!app.opted_out(CUSTOMER_EMAIL).await);
}
