use comms_core::ports::DeliveryStatusStore;
use reqwest::StatusCode;

use crate::helpers::*;

fn status_params(sid: &str, status: &str) -> Vec<(String, String)> {
    [
        ("MessageSid", sid),
        ("MessageStatus", status),
        ("From", SHOP_NUMBER),
        ("To", CUSTOMER),
        ("AccountSid", "ACtest"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[tokio::test]
async fn status_callbacks_update_the_delivery_status_forward_only() {
    let app = spawn_app().await;
    let sid = "SM11111111111111111111111111111111";
    for status in ["sent", "delivered", "sending"] {
        let resp = app.post_twilio("/twilio/status", &status_params(sid, status), Some(AUTH_TOKEN)).await;
        assert_eq!(resp.status(), StatusCode::NO_CONTENT, "{status}");
    }
    // The late "sending" did not move the message back.
    assert_eq!(
        app.deliveries.status(&app.tenant.tenant, sid).await.unwrap(),
        Some(("delivered".into(), None))
    );
}

#[tokio::test]
async fn status_callbacks_are_signature_checked() {
    let app = spawn_app().await;
    let sid = "SM22222222222222222222222222222222";
    let resp = app.post_twilio("/twilio/status", &status_params(sid, "failed"), Some("wrong")).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.deliveries.status(&app.tenant.tenant, sid).await.unwrap(), None);
    let resp = app.post_twilio("/twilio/status", &status_params(sid, "exploded"), Some(AUTH_TOKEN)).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_of(resp).await.1.as_deref(), Some("MessageStatus"));
}

#[tokio::test]
async fn status_callbacks_need_a_message_sid() {
    let app = spawn_app().await;
    let resp = app.post_twilio("/twilio/status", &status_params("SM123", "sent"), Some(AUTH_TOKEN)).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_of(resp).await.1.as_deref(), Some("MessageSid"));
}
