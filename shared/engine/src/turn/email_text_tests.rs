#![allow(clippy::unwrap_used)] // tests: a failed step should panic

use comms_core::domain::{Address, Channel, ConversationId, EmailMeta, Envelope, KindDetail, TenantRef};

use super::*;

fn inbound_email(subject: &str, references: &[&str]) -> Envelope {
    let tenant = TenantRef::new("demo", "repair-shop").unwrap();
    let from = Address::parse("ann@example.com").unwrap();
    Envelope {
        id: "<m2@example.com>".into(),
        conversation_id: ConversationId::derive(&tenant, Channel::Email, &from),
        tenant,
        channel: Channel::Email,
        from,
        to: Address::parse("help@shop.example.com").unwrap(),
        body: "Is my phone ready?".into(),
        received_at: jiff::Timestamp::now(),
        detail: KindDetail::Inbound {
            num_media: 0,
            email: Some(EmailMeta {
                subject: subject.into(),
                message_id: "<m2@example.com>".into(),
                in_reply_to: references.last().map(|r| (*r).to_owned()),
                references: references.iter().map(|r| (*r).to_owned()).collect(),
                attachments: Vec::new(),
                raw_text: "Is my phone ready?".into(),
            }),
            media: Vec::new(),
        },
    }
}

#[test]
fn an_answer_threads_under_the_customers_mail_with_one_re() {
    let (subject, in_reply_to, references) = thread(&inbound_email("Screen", &["<m1@x>"]), None, "Shop");
    assert_eq!(subject, "Re: Screen");
    assert_eq!(in_reply_to.as_deref(), Some("<m2@example.com>"));
    assert_eq!(references, ["<m1@x>", "<m2@example.com>"]);
    assert_eq!(thread(&inbound_email("RE:  Screen", &[]), None, "Shop").0, "Re: Screen");
    assert_eq!(thread(&inbound_email("re: re: x", &[]), None, "Shop").0, "Re: re: x");
    assert_eq!(thread(&inbound_email("  ", &[]), None, "Shop").0, "Message from Shop");
    assert_eq!(thread(&inbound_email("a\r\nBcc: x", &[]), None, "Shop").0, "Re: a Bcc: x");
}

#[test]
fn a_composed_subject_is_kept_and_otherwise_the_sender_is_named() {
    let mut env = inbound_email("x", &[]);
    env.detail = KindDetail::Initiate {
        request_id: "r1".into(),
        project_data: serde_json::Value::Null,
        recipient_name: None,
    };
    let vars = subject_vars("Your repair is ready".into());
    assert_eq!(thread(&env, Some(&vars), "Shop"), ("Your repair is ready".into(), None, Vec::new()));
    assert_eq!(thread(&env, None, " Demo Repairs ").0, "Message from Demo Repairs");
}

#[test]
fn a_short_reply_is_only_trimmed() {
    assert_eq!(fit_to_chars("  Hello there.  ", 100), "Hello there.");
}

#[test]
fn a_long_reply_is_cut_after_a_sentence_that_fits() {
    let text = "First sentence is here. Second one is a bit longer! Third never fits in the cap at all.";
    let fitted = fit_to_chars(text, 60);
    assert_eq!(fitted, "First sentence is here. Second one is a bit longer!");
    // A mark right at the cap still ends a sentence.
    assert_eq!(fit_to_chars("Abcdefghi. Zzz", 10), "Abcdefghi.");
    // A dot inside a word (a price, a domain) is no sentence end.
    let fitted = fit_to_chars("It costs 12.50 dollars at shop.example.com today for you", 30);
    assert_eq!(fitted, "It costs 12.50 dollars at…");
}

#[test]
fn with_no_sentence_end_it_is_cut_after_a_word() {
    let text = "word ".repeat(40);
    let fitted = fit_to_chars(&text, 22);
    assert_eq!(fitted, "word word word word…");
    assert!(fitted.chars().count() <= 22);
    // A first sentence shorter than half the cap is not worth losing the rest for.
    let fitted = fit_to_chars("Hi. then a very long run of words without any stop at all here", 40);
    assert_eq!(fitted, "Hi. then a very long run of words…");
}

#[test]
fn the_cut_counts_characters_not_bytes_and_never_splits_one() {
    let text = "Ça coûte très cher, évidemment, mais c'est réparé aujourd'hui même sans faute";
    for max in 5..text.chars().count() {
        let fitted = fit_to_chars(text, max);
        assert!(fitted.chars().count() <= max, "{max}: {fitted}");
        let words = fitted.trim_end_matches('…');
        assert!(words.split_whitespace().all(|w| text.split_whitespace().any(|t| t == w)), "{max}: {fitted}");
    }
    assert_eq!(fit_to_chars(&"x".repeat(50), 10), format!("{}…", "x".repeat(9)));
}

#[test]
fn an_opening_is_split_into_subject_and_body_however_the_model_wrote_it() {
    let plain = "Subject: Your phone is ready\n\nHi Ann,\nyour phone is repaired.";
    assert_eq!(
        split_opening(plain),
        (Some("Your phone is ready".into()), "Hi Ann,\nyour phone is repaired.".into())
    );
    let bold = "**Subject:** Ready!\nBody: Come by any time.";
    assert_eq!(split_opening(bold), (Some("Ready!".into()), "Come by any time.".into()));
    let json = "```json\n{\"subject\": \"Ready\", \"body\": \"Come by.\"}\n```";
    assert_eq!(split_opening(json), (Some("Ready".into()), "Come by.".into()));
    assert_eq!(split_opening("Just a message."), (None, "Just a message.".into()));
    assert_eq!(split_opening("SUBJECT:\nBody only"), (None, "SUBJECT:\nBody only".into()));
}

#[test]
fn an_opening_without_a_subject_is_sent_under_the_senders_name_within_the_cap() {
    let mut raw: serde_json::Value =
        serde_json::from_str(include_str!("../../../../samples/tenants/demo-repair-shop.json")).unwrap();
    raw["email"] = serde_json::json!({"addresses": ["help@shop.example.com"], "from_name": "Demo Repairs",
                                      "max_reply_chars": 100});
    let tenant = TenantConfig::from_json(&raw.to_string()).unwrap();
    let started = ConversationItem {
        item_id: "r1:note".into(),
        at: jiff::Timestamp::now(),
        content: comms_core::ports::ItemContent::Note { text: "started".into() },
    };
    let long = "Your phone is ready. ".repeat(10);
    let (body, vars, items) = opening(&tenant, &long, started.clone());
    assert_eq!(vars, Some(subject_vars("Demo Repairs".into())));
    assert!(body.chars().count() <= 100 && body.ends_with("ready."), "{body}");
    assert_eq!(items, vec![started.clone()]);
    let (_, vars, _) = opening(&tenant, "Subject: Ready\n\nCome by.", started);
    assert_eq!(vars, Some(subject_vars("Ready".into())));
}
