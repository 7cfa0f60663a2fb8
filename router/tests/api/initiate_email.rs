//! `POST /initiate-conversation` with `channel_method: "email"`: the recipient's email
//! address checked, the tenant's email section and channel required, consent and
//! opt-out as for SMS; the envelope goes on the email queue from the tenant's first
//! address.

use std::time::Duration;

use comms_core::domain::tenant::{EmailSettings, TenantConfig};
use comms_core::domain::{Address, Channel, EmailAddress, Envelope, KindDetail};
use comms_core::ports::{ConsentAction, ConsentStore, Queues};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;
use crate::initiate::{initiate, sample, with_tenant};

const SHOP_EMAIL: &str = "help@repair-shop.example";

fn email_request() -> Value {
    let mut body = sample("initiate-conversation.json");
    body["request_data"]["channel_method"] = "email".into();
    body
}

fn with_email(t: &mut TenantConfig) {
    t.allowed_channels.insert(Channel::Email);
    t.email = Some(EmailSettings {
        addresses: vec![
            EmailAddress::parse(SHOP_EMAIL).unwrap(),
            EmailAddress::parse("b@x.example").unwrap(),
        ],
        from_name: "Demo Repairs".into(),
        sendgrid_secret: "email-credentials/demo/repair-shop/sendgrid".into(),
        max_reply_chars: 2000,
        inbound_path_secret: None,
    });
}

#[tokio::test]
async fn an_email_initiate_is_queued_from_the_tenants_first_address() {
    let app = spawn_app().await;
    with_tenant(&app, with_email).await;
    let mut body = email_request();
    // No phone number is needed by email.
    body["recipient_data"].as_object_mut().unwrap().remove("tel");
    let resp = initiate(&app, &body).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["channel"], "email");
    assert_eq!(answer["conversation_id"], "demo.repair-shop.email.ann@example.com");
    let got = app.queues.receive(Channel::Email, 10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(got.len(), 1);
    let env = Envelope::parse(&got[0].body).unwrap();
    assert_eq!((env.from.as_str(), env.to.as_str()), (SHOP_EMAIL, "ann@example.com"));
    assert!(matches!(env.detail, KindDetail::Initiate { ref recipient_name, .. }
        if recipient_name.as_deref() == Some("Ann Lee")));
    assert_eq!(app.depth(Channel::Sms).await, 0);
    // The same request again: the same answer, nothing more queued.
    let again: Value = initiate(&app, &body).await.json().await.unwrap();
    assert_eq!(again, answer);
    assert_eq!(app.depth(Channel::Email).await, 1);
}

#[tokio::test]
async fn a_bad_or_missing_email_address_is_400_naming_the_field() {
    let app = spawn_app().await;
    with_tenant(&app, with_email).await;
    for bad in [Value::from("ann at example.com"), Value::from("ann@localhost"), Value::from(""), Value::Null]
    {
        let mut body = email_request();
        body["recipient_data"]["email"] = bad.clone();
        let resp = initiate(&app, &body).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(
            error_of(resp).await,
            ("invalid_field".into(), Some("recipient_data.email".into())),
            "{bad}"
        );
    }
    // By SMS the phone number is the one required.
    let mut sms = sample("initiate-conversation.json");
    sms["recipient_data"].as_object_mut().unwrap().remove("tel");
    let resp = initiate(&app, &sms).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_of(resp).await.1.as_deref(), Some("recipient_data.tel"));
    assert_eq!(app.depth(Channel::Email).await + app.depth(Channel::Sms).await, 0);
}

#[tokio::test]
async fn email_needs_the_channel_allowed_and_an_email_section() {
    let app = spawn_app().await;
    with_tenant(&app, |_| {}).await;
    let resp = initiate(&app, &email_request()).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        error_of(resp).await,
        ("channel_not_allowed".into(), Some("request_data.channel_method".into()))
    );
    with_tenant(&app, |t| {
        t.allowed_channels.insert(Channel::Email);
    })
    .await;
    let resp = initiate(&app, &email_request()).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert_eq!(error_of(resp).await.0, "channel_not_configured");
    assert_eq!(app.depth(Channel::Email).await, 0);
}

#[tokio::test]
async fn consent_and_opt_out_hold_by_email_as_by_sms() {
    let app = spawn_app().await;
    with_tenant(&app, with_email).await;
    let mut body = email_request();
    body["recipient_data"]["comms_consent"] = Value::Bool(false);
    let resp = initiate(&app, &body).await;
    assert_eq!(error_of(resp).await.1.as_deref(), Some("recipient_data.comms_consent"));
    let ann = Address::Email(EmailAddress::parse("ann@example.com").unwrap());
    let now = jiff::Timestamp::now();
    app.consent.record(&app.tenant.tenant, &ann, ConsentAction::OptOut, "UNSUBSCRIBE", now).await.unwrap();
    let resp = initiate(&app, &email_request()).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert_eq!(error_of(resp).await.0, "recipient_opted_out");
    assert_eq!(app.depth(Channel::Email).await, 0);
}
