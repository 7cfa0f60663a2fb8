//! The messenger port for `Channel::Email`: what the engine's reply becomes on the wire,
//! and what is refused before anything is sent.

use std::time::Duration;

use comms_core::domain::Address;
use comms_core::ports::{Messenger, SendError};
use comms_core::retry::with_backoff;
use comms_providers::sendgrid::messenger::OUTCOME_UNKNOWN;
use comms_testkit::sendgrid::{SendGridMode, SendGridStub};

use crate::helpers::{messenger, outbound, tenant};

fn code(e: &SendError) -> &str {
    match e {
        SendError::Permanent { code, .. } => code,
        other => panic!("expected a permanent refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_reply_goes_out_from_the_tenant_threaded_with_sendgrids_id() {
    let stub = SendGridStub::start().await;
    let sent = messenger(&stub, Duration::from_secs(5)).send(&outbound(&tenant())).await.unwrap();

    let accepted = stub.accepted();
    assert_eq!(accepted.len(), 1);
    assert_eq!(sent.provider_id, accepted[0].message_id);
    assert_eq!(sent.to, Address::parse("jane@example.com").unwrap());
    let body = &accepted[0].body;
    assert_eq!(body["from"], serde_json::json!({"email": "shop@repair.example", "name": "Fix-It Shop"}));
    assert_eq!(body["subject"], "Re: Cracked screen");
    assert_eq!(body["content"][0]["value"], "Yes, bring it in at 3pm.");
    assert_eq!(body["content"][1]["type"], "text/html");
    assert_eq!(body["headers"]["In-Reply-To"], "<CAB123@mail.gmail.com>");
    assert_eq!(body["headers"]["References"], "<CAB123@mail.gmail.com>");
    assert_eq!(body["headers"]["List-Unsubscribe"], "<https://comms.example/email/unsubscribe?t=tok>");
    assert_eq!(body["headers"]["List-Unsubscribe-Post"], "List-Unsubscribe=One-Click");
    assert_eq!(body["custom_args"]["company_id"], "demo");
}

#[tokio::test]
async fn throttled_then_accepted_is_one_email() {
    let stub = SendGridStub::start().await;
    stub.next(&[SendGridMode::Throttle]);
    let sendgrid = messenger(&stub, Duration::from_secs(5));
    let text = outbound(&tenant());
    with_backoff(Duration::from_secs(10), || sendgrid.send(&text)).await.unwrap();
    assert_eq!(stub.requests().len(), 2);
    assert_eq!(stub.accepted().len(), 1);
}

#[tokio::test]
async fn refuses_what_is_not_the_tenants_email_before_sending() {
    let stub = SendGridStub::start().await;
    let sendgrid = messenger(&stub, Duration::from_secs(5));
    let mut spoofed = outbound(&tenant());
    spoofed.from = Address::parse("ceo@bank.example").unwrap();
    assert_eq!(code(&sendgrid.send(&spoofed).await.unwrap_err()), "not_the_tenants_address");
    let mut phone = outbound(&tenant());
    phone.to = Address::parse("+15551234567").unwrap();
    assert_eq!(code(&sendgrid.send(&phone).await.unwrap_err()), "not_an_email_address");
    let mut bare = outbound(&tenant());
    bare.email = None;
    assert_eq!(code(&sendgrid.send(&bare).await.unwrap_err()), "no_email_headers");
    let mut stranger = outbound(&tenant());
    stranger.tenant.company_id = "nobody".into();
    assert_eq!(code(&sendgrid.send(&stranger).await.unwrap_err()), "unknown_tenant");
    assert!(stub.requests().is_empty());
}

#[tokio::test]
async fn what_was_sent_cannot_be_asked_so_nothing_is_resent() {
    let stub = SendGridStub::start().await;
    stub.next(&[SendGridMode::AcceptThenHang]);
    stub.hang(Duration::from_secs(5));
    let sendgrid = messenger(&stub, Duration::from_millis(300));
    let text = outbound(&tenant());
    let at = jiff::Timestamp::now();
    let err = with_backoff(Duration::from_secs(10), || sendgrid.send(&text)).await.unwrap_err();
    assert!(matches!(err, SendError::Ambiguous(_)), "{err:?}");

    let found = sendgrid
        .sent_since(text.channel, &text.tenant, text.credentials.as_deref(), &text.from, &text.to, at)
        .await
        .unwrap_err();
    assert_eq!(code(&found), OUTCOME_UNKNOWN);
    assert!(!found.to_string().contains("jane@"), "the address is redacted: {found}");
    assert_eq!(stub.requests().len(), 1);
}
