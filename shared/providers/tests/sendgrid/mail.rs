//! The request body: HTML escaping, the subject, the thread's ids, the send id.

use comms_providers::sendgrid::mail::html;

use crate::helpers::mail;

#[test]
fn html_is_escaped_paragraphs() {
    let h = html("a <b> & \"c\"\nd\n\ne", "https://x/u?t=1&y=2");
    assert!(h.contains("<p>a &lt;b&gt; &amp; &quot;c&quot;<br>\nd</p><p>e</p>"), "{h}");
    assert!(h.contains("href=\"https://x/u?t=1&amp;y=2\""), "{h}");
}

#[test]
fn the_subject_gets_re_once_and_stays_on_one_line() {
    let mut m = mail();
    assert_eq!(m.subject_line(), "Re: Cracked screen");
    m.subject = "RE: Cracked\r\nBcc: x@evil.example".into();
    assert_eq!(m.subject_line(), "RE: Cracked Bcc: x@evil.example");
    m.in_reply_to = None;
    m.subject = "Your repair".into();
    assert_eq!(m.subject_line(), "Your repair");
}

#[test]
fn references_end_with_the_answered_id_once() {
    let mut m = mail();
    m.in_reply_to = Some("CAB123@mail.gmail.com".into());
    m.references.push("<CAB123@mail.gmail.com>".into());
    let headers = &m.body()["headers"];
    assert_eq!(headers["In-Reply-To"], "<CAB123@mail.gmail.com>");
    assert_eq!(headers["References"], "<CAA000@mail.gmail.com> <CAB123@mail.gmail.com>");
    m.in_reply_to = None;
    m.references.clear();
    assert!(m.body()["headers"].get("References").is_none());
    assert!(m.body()["headers"].get("In-Reply-To").is_none());
}

#[test]
fn the_send_id_is_stable_and_depends_on_the_reply() {
    let (a, mut b) = (mail(), mail());
    assert_eq!(a.send_id(), b.send_id());
    assert_eq!(a.send_id().len(), 32);
    b.text.push('!');
    assert_ne!(a.send_id(), b.send_id());
}
