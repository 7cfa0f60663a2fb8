//! `comms outbox` shows an email as a person reads one: recipient, subject, threading
//! headers and the first lines of the text (`--json`: every field).
#![allow(clippy::unwrap_used)] // tests: a failed setup step should panic

mod common;

use common::local::{comms, stdout};
use comms_core::domain::{Address, Channel, TenantRef};
use comms_core::ports::{Messenger, OutboundEmail, OutboundText};
use comms_sqlite::{Db, SqliteOutbox};

#[tokio::test]
async fn the_outbox_shows_an_emails_recipient_subject_threading_headers_and_first_lines() {
    let data = tempfile::tempdir().unwrap();
    let outbox = SqliteOutbox::new(Db::open(&data.path().join("comms.db")).unwrap());
    let body: Vec<String> = (1..=8).map(|i| format!("Line {i} of the reply.")).collect();
    let mail = OutboundText {
        channel: Channel::Email,
        tenant: TenantRef::new("demo", "repair-shop").unwrap(),
        credentials: None,
        from: Address::parse("help@repair-shop.example").unwrap(),
        to: Address::parse("ann@example.org").unwrap(),
        body: body.join("\n"),
        template: None,
        status_callback: None,
        email: Some(OutboundEmail {
            subject: "Re: Cracked screen".into(),
            in_reply_to: Some("m2@mail.example.org".into()),
            references: vec!["m1@mail.example.org".into(), "m2@mail.example.org".into()],
            unsubscribe_url: "http://127.0.0.1:3000/email/unsubscribe?t=abc".into(),
        }),
    };
    outbox.send(&mail).await.unwrap();
    drop(outbox);

    let out = comms(data.path(), &["outbox"]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    assert!(text.contains("help@repair-shop.example -> ann@example.org"), "{text}");
    assert!(text.contains("  Subject: Re: Cracked screen\n"), "{text}");
    assert!(text.contains("  In-Reply-To: <m2@mail.example.org>\n"), "{text}");
    assert!(text.contains("  References: <m1@mail.example.org> <m2@mail.example.org>\n"), "{text}");
    assert!(
        text.contains("  | Line 1 of the reply.\n") && text.contains("  | Line 6 of the reply.\n"),
        "{text}"
    );
    assert!(!text.contains("Line 7") && text.contains("(2 more lines)"), "{text}");

    let out = comms(data.path(), &["outbox", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["email"]["in_reply_to"], "m2@mail.example.org");
    assert_eq!(json[0]["email"]["unsubscribe_url"], "http://127.0.0.1:3000/email/unsubscribe?t=abc");
    assert_eq!(json[0]["body"].as_str().unwrap().lines().count(), 8, "--json keeps the whole text");
}
