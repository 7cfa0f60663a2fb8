//! No log line of the console holds a customer's number, a key, a session cookie or a
//! CSRF token, while an owner and an operator use every kind of page and form.

use comms_router::console::{OPERATOR_KEYS_SECRET, new_operator_key};
use comms_telemetry::{LogFormat, subscriber};
use comms_testkit::logs::LogCapture;

use crate::helpers::*;

#[tokio::test]
async fn console_logs_carry_no_number_key_cookie_or_token() {
    let capture = LogCapture::default();
    let writer = capture.clone();
    let _default = tracing::subscriber::set_default(subscriber(LogFormat::Json, move || writer.clone()));
    let app = spawn_app().await;
    let conv = seed_conversation(&app, &app.demo.tenant, CUSTOMER, "call me back").await;
    let booking = book(&app, "LEAD-20990101-120000-logs", 12, 0).await;

    let mut owner = Browser::new(&app);
    assert_eq!(owner.sign_in("demo", "repair-shop", "a-wrong-key-attempt").await.status, 401);
    owner.sign_in("demo", "repair-shop", OWNER_KEY).await;
    let csrf = owner.csrf().await;
    let path = format!("/console/conversations/{conv}");
    owner.get(&path).await;
    owner.post(&format!("{path}/takeover"), &[("csrf", &csrf)]).await;
    owner
        .post(
            &format!("{path}/reply"),
            &[("text", "on my way"), ("idempotency_key", "logs-test-1"), ("csrf", &csrf)],
        )
        .await;
    owner
        .post(&format!("{path}/reply"), &[("text", "x"), ("idempotency_key", "bad key!"), ("csrf", &csrf)])
        .await;
    owner.post(&format!("/console/bookings/{}/cancel", booking.lead_id), &[("csrf", &csrf)]).await;
    owner.post("/console/today/state", &[("state", "GYM"), ("csrf", "forged")]).await;
    owner.get("/console/conversations?q=4155550123").await;

    let op_key = new_operator_key(app.stores.secrets.as_ref(), OPERATOR_KEYS_SECRET, "ops").await.unwrap();
    let mut operator = Browser::new(&app);
    operator.sign_in("", "", &op_key).await;
    let list = operator.get("/console/conversations").await;
    let start = list.body.find("href=\"/console/conversations/~").unwrap() + "href=\"".len();
    operator.get(list.body[start..].split('"').next().unwrap()).await;

    let text = capture.text();
    assert!(text.contains("console sign-in") && text.contains("console direct send enqueued"), "{text}");
    let session = owner.cookies["comms_console"].clone();
    for secret in [&CUSTOMER[1..], &CUSTOMER[2..], OWNER_KEY, "a-wrong-key-attempt", &op_key, &session, &csrf]
    {
        assert!(!text.contains(secret), "{secret} in the logs: {text}");
    }
}
