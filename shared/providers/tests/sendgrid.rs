//! SendGrid Mail Send at the wire level, against the testkit's SendGrid stub: the
//! request SendGrid gets, and how its answers are classified and retried.
#![allow(clippy::unwrap_used)] // tests: a failed step should panic

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use comms_core::ports::{Secret, SecretError, SecretStore, SendError};
use comms_core::retry::with_backoff;
use comms_providers::sendgrid::{Mail, SendGridMail};
use comms_testkit::sendgrid::{SendGridMode, SendGridStub};

const SECRET: &str = "email-credentials/acme/repairs/sendgrid";

struct Secrets(HashMap<String, String>);

#[async_trait]
impl SecretStore for Secrets {
    async fn get(&self, name: &str) -> Result<Secret, SecretError> {
        self.0.get(name).map(Secret::new).ok_or_else(|| SecretError::NotFound(name.into()))
    }
}

fn mail() -> Mail {
    Mail {
        from: "shop@repair.example".into(),
        from_name: "Fix-It Shop".into(),
        to: "jane@example.com".into(),
        subject: "Cracked screen".into(),
        text: "We can fix it today <3 & it costs 80 EUR.".into(),
        in_reply_to: Some("<CAB123@mail.gmail.com>".into()),
        references: vec!["<CAA000@mail.gmail.com>".into()],
        unsubscribe_url: "https://comms.example/email/unsubscribe?t=tok".into(),
        tenant: ("acme".into(), "repairs".into()),
    }
}

async fn client(stub: &SendGridStub, timeout: Duration) -> (SendGridMail, Secret) {
    let secrets = Secrets(HashMap::from([(SECRET.into(), r#"{"api_key": "SG.test-key"}"#.into())]));
    let sendgrid = SendGridMail::new(&stub.base_url, Arc::new(secrets), timeout).unwrap();
    let key = sendgrid.api_key(SECRET).await.unwrap();
    (sendgrid, key)
}

#[tokio::test]
async fn one_send_carries_both_contents_threading_and_unsubscribe_headers() {
    let stub = SendGridStub::start().await;
    let (sendgrid, key) = client(&stub, Duration::from_secs(5)).await;
    let id = sendgrid.post(&key, &mail()).await.unwrap();

    let accepted = stub.accepted();
    assert_eq!(accepted.len(), 1);
    assert_eq!(id, accepted[0].message_id);
    assert_eq!(stub.authorizations(), ["Bearer SG.test-key"]);
    let body = &accepted[0].body;
    assert_eq!(body["personalizations"][0]["to"][0]["email"], "jane@example.com");
    assert_eq!(body["from"]["email"], "shop@repair.example");
    assert_eq!(body["from"]["name"], "Fix-It Shop");
    assert_eq!(body["reply_to"]["email"], "shop@repair.example");
    assert_eq!(body["subject"], "Re: Cracked screen");
    assert_eq!(body["content"][0]["type"], "text/plain");
    assert_eq!(body["content"][0]["value"], "We can fix it today <3 & it costs 80 EUR.");
    assert_eq!(body["content"][1]["type"], "text/html");
    let html = body["content"][1]["value"].as_str().unwrap();
    assert!(html.contains("<p>We can fix it today &lt;3 &amp; it costs 80 EUR.</p>"), "{html}");
    let headers = &body["headers"];
    assert_eq!(headers["In-Reply-To"], "<CAB123@mail.gmail.com>");
    assert_eq!(headers["References"], "<CAA000@mail.gmail.com> <CAB123@mail.gmail.com>");
    assert_eq!(headers["List-Unsubscribe"], "<https://comms.example/email/unsubscribe?t=tok>");
    assert_eq!(headers["List-Unsubscribe-Post"], "List-Unsubscribe=One-Click");
    assert_eq!(headers["X-Comms-Send-Id"], body["custom_args"]["comms_send_id"]);
    assert_eq!(body["custom_args"]["company_id"], "acme");
}

#[tokio::test]
async fn throttled_then_accepted_is_one_send() {
    let stub = SendGridStub::start().await;
    stub.next(&[SendGridMode::Throttle, SendGridMode::Unavailable]);
    let (sendgrid, key) = client(&stub, Duration::from_secs(5)).await;
    let mail = mail();
    let id = with_backoff(Duration::from_secs(10), || sendgrid.post(&key, &mail)).await.unwrap();
    assert_eq!(stub.requests().len(), 3);
    assert_eq!(stub.accepted().len(), 1);
    assert_eq!(id, stub.accepted()[0].message_id);
}

#[tokio::test]
async fn a_bad_request_is_permanent_and_not_retried() {
    let stub = SendGridStub::start().await;
    stub.next(&[SendGridMode::BadRequest]);
    let (sendgrid, key) = client(&stub, Duration::from_secs(5)).await;
    let mail = mail();
    let err = with_backoff(Duration::from_secs(10), || sendgrid.post(&key, &mail)).await.unwrap_err();
    match err {
        SendError::Permanent { code, message } => {
            assert_eq!(code, "400");
            assert!(message.contains("personalizations.0.to.0.email"), "{message}");
        }
        other => panic!("expected permanent, got {other:?}"),
    }
    assert_eq!(stub.requests().len(), 1);
    assert!(stub.accepted().is_empty());
}

#[tokio::test]
async fn a_revoked_key_is_permanent() {
    let stub = SendGridStub::start().await;
    stub.next(&[SendGridMode::Unauthorized]);
    let (sendgrid, key) = client(&stub, Duration::from_secs(5)).await;
    let err = sendgrid.post(&key, &mail()).await.unwrap_err();
    assert!(matches!(&err, SendError::Permanent { code, .. } if code == "401"), "{err:?}");
}

#[tokio::test]
async fn a_timeout_is_ambiguous_and_not_retried() {
    let stub = SendGridStub::start().await;
    stub.next(&[SendGridMode::AcceptThenHang]);
    stub.hang(Duration::from_secs(5));
    let (sendgrid, key) = client(&stub, Duration::from_millis(300)).await;
    let mail = mail();
    let err = with_backoff(Duration::from_secs(10), || sendgrid.post(&key, &mail)).await.unwrap_err();
    assert!(matches!(err, SendError::Ambiguous(_)), "{err:?}");
    assert_eq!(stub.requests().len(), 1, "an ambiguous send is never repeated");
    assert_eq!(stub.accepted().len(), 1, "the mail did go out");
}

#[tokio::test]
async fn an_unreachable_api_is_retryable() {
    let stub = SendGridStub::start().await;
    let (_, key) = client(&stub, Duration::from_secs(5)).await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let secrets = Arc::new(Secrets(HashMap::new()));
    let sendgrid = SendGridMail::new(&closed, secrets, Duration::from_secs(5)).unwrap();
    let err = sendgrid.post(&key, &mail()).await.unwrap_err();
    assert!(matches!(err, SendError::Retryable { .. }), "{err:?}");
}

#[tokio::test]
async fn a_missing_or_malformed_secret_is_permanent() {
    let stub = SendGridStub::start().await;
    let secrets = Secrets(HashMap::from([("bad".into(), r#"{"token": 1}"#.into())]));
    let sendgrid = SendGridMail::new(&stub.base_url, Arc::new(secrets), Duration::from_secs(5)).unwrap();
    for name in ["bad", "missing"] {
        let err = sendgrid.api_key(name).await.unwrap_err();
        assert!(matches!(&err, SendError::Permanent { code, .. } if code == "credentials"), "{err:?}");
    }
}
