//! The local outbox keeps what the email messenger would have sent: subject, threading
//! headers and unsubscribe link beside the text (texts keep none).
#![allow(clippy::unwrap_used)] // tests: a failed setup step should panic

use comms_core::domain::{Address, Channel, TenantRef};
use comms_core::ports::{Messenger, OutboundEmail, OutboundText};
use comms_sqlite::{Db, OutboxEmail, SqliteOutbox};

fn text(channel: Channel, from: &str, to: &str, email: Option<OutboundEmail>) -> OutboundText {
    OutboundText {
        channel,
        tenant: TenantRef::new("demo", "repair-shop").unwrap(),
        credentials: None,
        from: Address::parse(from).unwrap(),
        to: Address::parse(to).unwrap(),
        body: "Yes, we can fix it today.\nBring the phone by 5pm.".into(),
        template: None,
        status_callback: None,
        email,
    }
}

#[tokio::test]
async fn an_email_is_stored_with_its_subject_threading_headers_and_unsubscribe_link() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = SqliteOutbox::new(Db::open(&dir.path().join("comms.db")).unwrap());
    let headers = OutboundEmail {
        subject: "Re: Cracked screen".into(),
        in_reply_to: Some("m2@mail.example.org".into()),
        references: vec!["m1@mail.example.org".into(), "m2@mail.example.org".into()],
        unsubscribe_url: "http://127.0.0.1:3000/email/unsubscribe?t=abc".into(),
    };
    let shop = "help@repair-shop.example";
    let mail = text(Channel::Email, shop, "ann@example.org", Some(headers.clone()));
    let sent = outbox.send(&mail).await.unwrap();
    outbox.send(&text(Channel::Sms, "+15555550100", "+14155550123", None)).await.unwrap();

    let all = outbox.all().await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!((&all[0].sent.provider_id, &all[0].sent.body), (&sent.provider_id, &sent.body));
    assert_eq!(all[0].email, Some(OutboxEmail::from(&headers)));
    assert_eq!(all[1].email, None, "a text has no email headers");
    // --json: the sent text's fields, plus `email` on emails only.
    let json = serde_json::to_value(&all).unwrap();
    assert_eq!(json[0]["to"], "ann@example.org");
    assert_eq!(json[0]["email"]["subject"], "Re: Cracked screen");
    assert_eq!(json[0]["email"]["references"][1], "m2@mail.example.org");
    assert!(json[1].get("email").is_none(), "{}", json[1]);
    // Reconciliation still finds the email by its addresses.
    let since = sent.sent_at - jiff::SignedDuration::from_secs(60);
    let found =
        outbox.sent_since(Channel::Email, &mail.tenant, None, &mail.from, &mail.to, since).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].provider_id, sent.provider_id);
}
