//! The reply samples in samples/email/ (Gmail, Outlook, Apple Mail formats), posted as
//! SendGrid's Inbound Parse posts them: the model sees only the new text.
#![allow(clippy::unwrap_used)]

use comms_core::sendgrid::inbound::{self, AttachmentInfo, InboundEmail};
use comms_core::sendgrid::inbound_form;

fn sample(name: &str) -> (Vec<u8>, String) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../samples/email");
    let raw = std::fs::read(format!("{dir}/{name}.eml")).unwrap();
    let expected = std::fs::read_to_string(format!("{dir}/{name}.expected.txt")).unwrap();
    (raw, expected.trim_end().to_owned())
}

/// Posts `raw` as Inbound Parse does with "POST the raw, full MIME message" on.
fn posted(raw: &[u8]) -> InboundEmail {
    let envelope = br#"{"to":["shop@example.com"],"from":"bounces@sender.example"}"#;
    let fields: [(&str, &[u8]); 5] = [
        ("to", b"Fix It Shop <shop@example.com>"),
        ("from", b"someone"),
        ("envelope", envelope),
        ("charsets", br#"{"to":"UTF-8","from":"UTF-8","subject":"UTF-8"}"#),
        ("email", raw),
    ];
    let body = inbound_form::encode("xYzZY", &fields);
    inbound::parse("multipart/form-data; boundary=xYzZY", &body).unwrap()
}

#[test]
fn every_sample_strips_to_its_expected_text() {
    for name in
        ["gmail-reply", "outlook-reply", "outlook-html-only", "apple-mail-reply", "apple-mail-desktop-reply"]
    {
        let (raw, expected) = sample(name);
        let email = posted(&raw);
        assert_eq!(email.text, expected, "{name}");
        assert!(email.raw_text.len() > email.text.len(), "{name}: the raw text keeps the quote");
        assert_eq!(email.recipients, ["shop@example.com"], "{name}");
        assert!(email.in_reply_to.as_deref().is_some_and(|id| id.ends_with("@shop.example.com")), "{name}");
    }
}

#[test]
fn gmail_threading_headers_are_read() {
    let email = posted(&sample("gmail-reply").0);
    assert_eq!(email.from, "jane.doe@gmail.com");
    assert_eq!(email.subject, "Re: Your screen repair");
    assert_eq!(email.message_id, "CAK8pQ2v7Jq1Zr9xY0=m4N+example@mail.gmail.com");
    assert_eq!(email.references, ["CAL7vhm1x0@mail.example.com", "20261201100200.a1b2@shop.example.com"]);
}

#[test]
fn the_apple_mail_photo_is_recorded_by_name_and_size() {
    let email = posted(&sample("apple-mail-reply").0);
    assert_eq!(email.attachments, [AttachmentInfo { name: "IMG_0412.jpeg".into(), size: 160 }]);
    assert!(!email.raw_text.contains("/9j/"), "the attachment is not part of the text");
}
