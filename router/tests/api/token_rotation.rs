//! Rotating a tenant's Twilio auth token: during the rotation window the tenant's secret
//! holds the new token and the previous one, and a signature made with either is
//! accepted; once the previous token is removed (or its window ends), it is refused.

use comms_core::ports::Secret;
use comms_sqlite::SqliteSecrets;
use reqwest::StatusCode;

use crate::helpers::*;

const NEW_TOKEN: &str = "the-new-auth-token";

async fn store(app: &TestApp, value: serde_json::Value) {
    let name = app.tenant.credentials.twilio.clone().unwrap();
    SqliteSecrets::new(app.db.clone()).put(&name, &Secret::new(value.to_string())).await.unwrap();
}

#[tokio::test]
async fn both_tokens_verify_during_a_rotation_and_the_old_one_not_after() {
    let app = spawn_app().await;
    store(
        &app,
        serde_json::json!({"account_sid": "ACtest", "auth_token": NEW_TOKEN, "previous_auth_token": AUTH_TOKEN}),
    )
    .await;
    let old =
        app.post_twilio("/twilio/sms", &sms_params("signed with the old token"), Some(AUTH_TOKEN)).await;
    assert_eq!(old.status(), StatusCode::OK, "the previous token is accepted during the rotation");
    let new = app.post_twilio("/twilio/sms", &sms_params("signed with the new token"), Some(NEW_TOKEN)).await;
    assert_eq!(new.status(), StatusCode::OK, "the new token is accepted");
    let other = app.post_twilio("/twilio/sms", &sms_params("hi"), Some("another-token")).await;
    assert_eq!(other.status(), StatusCode::FORBIDDEN);

    // Rotation finished: the previous token is removed from the secret.
    store(&app, serde_json::json!({"account_sid": "ACtest", "auth_token": NEW_TOKEN})).await;
    let old = app.post_twilio("/twilio/sms", &sms_params("old again"), Some(AUTH_TOKEN)).await;
    assert_eq!(old.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_of(old).await.0, "invalid_signature");
    let new = app.post_twilio("/twilio/sms", &sms_params("new again"), Some(NEW_TOKEN)).await;
    assert_eq!(new.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_expired_previous_token_is_refused() {
    let app = spawn_app().await;
    store(
        &app,
        serde_json::json!({"account_sid": "ACtest", "auth_token": NEW_TOKEN,
                           "previous_auth_token": AUTH_TOKEN, "previous_valid_until": "2020-01-01T00:00:00Z"}),
    )
    .await;
    let old = app.post_twilio("/twilio/sms", &sms_params("hi"), Some(AUTH_TOKEN)).await;
    assert_eq!(old.status(), StatusCode::FORBIDDEN);
    let new = app.post_twilio("/twilio/sms", &sms_params("hi"), Some(NEW_TOKEN)).await;
    assert_eq!(new.status(), StatusCode::OK);
}
