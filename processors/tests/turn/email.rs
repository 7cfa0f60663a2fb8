//! The email turn at the wire: a signed Inbound Parse post through the router, the
//! engine, and SendGrid Mail Send requests as the stub received them.

use std::time::Duration;

use comms_core::domain::{Address, Author, Channel, EmailAddress, Envelope};
use comms_core::ports::{ItemContent, TurnStep};
use comms_core::secure::verify_unsubscribe_token;
use comms_engine::turn::Outcome;
use comms_testkit::sendgrid::SendGridMode;
use serde_json::Value;

use crate::email_helpers::*;
use crate::stubs::{ModelStep, OpenAiStub};

/// Three sentences: only the first two fit in [`MAX_REPLY_CHARS`].
const LONG_REPLY: &str = "Hi Jane, your phone is ready: the new screen is in and it works well. \
    You can pick it up any weekday between 9 and 6 at the shop. \
    Bring the receipt we emailed you, and we will also check the battery for free while you wait.";
const FITTED: &str = "Hi Jane, your phone is ready: the new screen is in and it works well. \
    You can pick it up any weekday between 9 and 6 at the shop.";

async fn world(reply: &'static str) -> EmailWorld {
    let openai = OpenAiStub::start(vec![]).await;
    openai.always(ModelStep::Text(reply));
    email_world(openai, Duration::from_secs(5)).await
}

/// The one mail SendGrid accepted.
fn only_mail(w: &EmailWorld) -> Value {
    let accepted = w.sendgrid.accepted();
    assert_eq!(accepted.len(), 1, "{:?}", w.sendgrid.requests());
    accepted[0].body.clone()
}

fn content<'a>(mail: &'a Value, kind: &str) -> &'a str {
    let parts = mail["content"].as_array().unwrap();
    parts.iter().find(|c| c["type"] == kind).and_then(|c| c["value"].as_str()).unwrap()
}

#[tokio::test]
async fn an_inbound_email_gets_one_threaded_reply_cut_to_the_cap_with_one_click_unsubscribe() {
    let w = world(LONG_REPLY).await;
    let body =
        w.receive_mail(&customer_mail("m2@mail.gmail.com", "Screen repair", "Is my phone ready?")).await;
    assert_eq!(w.handle(&body).await, Ok(Outcome::Replied));

    let mail = only_mail(&w);
    assert_eq!(mail["subject"], "Re: Screen repair");
    assert_eq!(mail["personalizations"][0]["to"][0]["email"], CUSTOMER_EMAIL);
    assert_eq!(mail["from"]["email"], SHOP_EMAIL);
    let headers = &mail["headers"];
    assert_eq!(headers["In-Reply-To"], "<m2@mail.gmail.com>");
    assert_eq!(headers["References"], "<m0@mail.gmail.com> <m1@repair-shop.example> <m2@mail.gmail.com>");
    assert_eq!(headers["List-Unsubscribe-Post"], "List-Unsubscribe=One-Click");
    let link = headers["List-Unsubscribe"].as_str().unwrap().trim_matches(['<', '>']).to_owned();
    let token = link.strip_prefix(&format!("{PUBLIC_BASE}/email/unsubscribe?t=")).expect(&link);
    let customer = Address::Email(EmailAddress::parse(CUSTOMER_EMAIL).unwrap());
    assert_eq!(
        verify_unsubscribe_token(UNSUBSCRIBE_KEY.as_bytes(), token),
        Some((w.tenant.tenant.clone(), customer))
    );
    // Cut after the last sentence that fits: no SMS segments, the tenant's cap.
    assert_eq!(content(&mail, "text/plain"), FITTED);
    assert!(FITTED.chars().count() <= MAX_REPLY_CHARS);
    let html = content(&mail, "text/html");
    assert!(html.contains("the new screen is in") && html.contains(&link), "{html}");
    let prompt = w.openai.requests()[0]["messages"][0]["content"].as_str().unwrap().to_owned();
    assert!(
        prompt.contains("by email") && prompt.contains(&format!("{MAX_REPLY_CHARS} characters")),
        "{prompt}"
    );

    // The same envelope again (a redelivery): nothing more is sent.
    assert_eq!(w.handle(&body).await, Ok(Outcome::AlreadyDone));
    assert_eq!(w.sendgrid.requests().len(), 1);
}

#[tokio::test]
async fn an_email_send_that_timed_out_is_noted_and_never_resent() {
    let openai = OpenAiStub::start(vec![]).await;
    openai.always(ModelStep::Text("Your phone is ready."));
    let w = email_world(openai, Duration::from_millis(500)).await;
    w.sendgrid.hang(Duration::from_secs(3));
    w.sendgrid.next(&[SendGridMode::AcceptThenHang]);
    let body = w.receive_mail(&customer_mail("m3@mail.gmail.com", "Ready?", "Is it ready?")).await;

    let out = w.handle(&body).await;
    assert!(matches!(&out, Ok(Outcome::Unknown(note)) if note.contains("not resent")), "{out:?}");
    assert_eq!(w.handle(&body).await, Ok(Outcome::AlreadyDone), "a redelivery sends nothing");
    assert_eq!(w.sendgrid.requests().len(), 1);
    let notes: Vec<String> = w
        .items()
        .await
        .into_iter()
        .filter_map(|i| match i.content {
            ItemContent::Note { text } => Some(text),
            _ => None,
        })
        .collect();
    assert!(notes.iter().any(|n| n.contains("may have gone out")), "{notes:?}");
}

#[tokio::test]
async fn an_email_turn_resumed_at_sending_is_done_with_its_outcome_unknown() {
    let w = world("Your phone is ready.").await;
    let body = w.receive_mail(&customer_mail("m4@mail.gmail.com", "Ready?", "Is it ready?")).await;
    // An attempt stored `Sending` and died before (or while) it sent.
    let sending = TurnStep::Sending {
        reply: "Your phone is ready.".into(),
        template: None,
        at: jiff::Timestamp::now(),
    };
    w.store_step(&Envelope::parse(&body).unwrap(), &sending).await;

    let out = w.handle(&body).await;
    assert!(matches!(&out, Ok(Outcome::Unknown(note)) if note.contains("not resent")), "{out:?}");
    assert!(w.sendgrid.requests().is_empty(), "never resent, never reconciled");
    assert!(w.openai.requests().is_empty(), "the reply is not composed again");
    assert_eq!(w.handle(&body).await, Ok(Outcome::AlreadyDone));
}

#[tokio::test]
async fn a_throttled_or_unavailable_sendgrid_gets_the_mail_once() {
    let w = world("Your phone is ready.").await;
    w.sendgrid.next(&[SendGridMode::Throttle, SendGridMode::Unavailable]);
    let body = w.receive_mail(&customer_mail("m5@mail.gmail.com", "Ready?", "Is it ready?")).await;
    assert_eq!(w.handle(&body).await, Ok(Outcome::Replied));
    assert_eq!(w.sendgrid.requests().len(), 3);
    assert_eq!(only_mail(&w)["subject"], "Re: Ready?");
}

#[tokio::test]
async fn a_customer_who_unsubscribed_by_the_link_gets_no_more_email() {
    let w = world("Your phone is ready.").await;
    let body = w.receive_mail(&customer_mail("m6@mail.gmail.com", "Ready?", "Is it ready?")).await;
    w.handle(&body).await.unwrap();
    let link =
        only_mail(&w)["headers"]["List-Unsubscribe"].as_str().unwrap().trim_matches(['<', '>']).to_owned();
    // The mail client's one-click POST (RFC 8058), at the router.
    let resp = comms_testkit::http_client()
        .post(link.replace(PUBLIC_BASE, &w.router))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(w.stores.consent.is_opted_out(&w.tenant.tenant, &w.customer()).await.unwrap());

    let next = w.receive_mail(&customer_mail("m7@mail.gmail.com", "Re: Ready?", "One more thing")).await;
    assert!(matches!(w.handle(&next).await, Ok(Outcome::Suppressed(_))));
    assert_eq!(w.sendgrid.requests().len(), 1, "nothing sent after the opt-out");
}

#[tokio::test]
async fn without_the_unsubscribe_key_no_email_goes_out_and_the_turn_ends() {
    let mut w = world("Your phone is ready.").await;
    std::sync::Arc::get_mut(&mut w.engine).unwrap().settings.unsubscribe_key_secret = "no-such-secret".into();
    let body = w.receive_mail(&customer_mail("m8@mail.gmail.com", "Ready?", "Is it ready?")).await;
    let out = w.handle(&body).await;
    assert!(
        matches!(&out, Err(e) if e.is_permanent() && e.reason().contains("unsubscribe-link key")),
        "{out:?}"
    );
    assert!(w.sendgrid.requests().is_empty());
    assert_eq!(w.handle(&body).await, Ok(Outcome::AlreadyDone));
}

#[tokio::test]
async fn an_owner_reply_into_an_email_conversation_names_the_sender_and_can_be_unsubscribed() {
    let w = world("unused").await;
    let env = Envelope::direct(
        w.tenant.tenant.clone(),
        Channel::Email,
        Address::Email(EmailAddress::parse(SHOP_EMAIL).unwrap()),
        w.customer(),
        "console-reply-1".into(),
        "Hi Jane, it is Sam from the shop: your phone is ready.".into(),
        Author::Owner,
        jiff::Timestamp::now(),
    );
    assert_eq!(w.handle(&env.to_json()).await, Ok(Outcome::Replied));
    let mail = only_mail(&w);
    assert_eq!(mail["subject"], "Message from Demo Repairs");
    assert_eq!(content(&mail, "text/plain"), "Hi Jane, it is Sam from the shop: your phone is ready.");
    assert!(mail["headers"]["List-Unsubscribe"].as_str().unwrap().contains("/email/unsubscribe?t="));
    assert!(mail["headers"].get("In-Reply-To").is_none());
}
