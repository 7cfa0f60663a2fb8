use super::*;

fn sample() -> Envelope {
    let tenant = TenantRef::new("acme", "shop").unwrap();
    let from = Address::parse("+14155550123").unwrap();
    Envelope {
        id: "SM0123".into(),
        conversation_id: ConversationId::derive(&tenant, Channel::Sms, &from),
        tenant,
        channel: Channel::Sms,
        from,
        to: Address::parse("+15555550100").unwrap(),
        body: "Can you fix a cracked screen today?".into(),
        received_at: "2026-11-23T10:00:00Z".parse().unwrap(),
        detail: KindDetail::inbound(0),
    }
}

#[test]
fn round_trips_every_kind() {
    let mut e = sample();
    for detail in [
        KindDetail::inbound(2),
        KindDetail::Inbound {
            num_media: 0,
            email: Some(EmailMeta {
                subject: "Cracked screen".into(),
                message_id: "<a1@mail.example.com>".into(),
                in_reply_to: Some("<r0@shop.example.com>".into()),
                references: vec!["<r0@shop.example.com>".into()],
                attachments: vec![Attachment { name: "screen.jpg".into(), size: 2048 }],
                raw_text: "Can you fix it?\n> earlier".into(),
            }),
            media: vec![Media {
                url: "https://api.twilio.com/m/1".into(),
                content_type: "image/jpeg".into(),
            }],
        },
        KindDetail::Initiate {
            request_id: "6f1c".into(),
            project_data: serde_json::json!({"role": "driver"}),
            recipient_name: Some("Ann Lee".into()),
        },
        KindDetail::VoiceTurn { call_sid: "CA1".into(), turn: 3 },
        KindDetail::Direct { author: Author::Owner },
    ] {
        e.detail = detail;
        let json = e.to_json();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["v"], 1);
        assert_eq!(v["kind"], e.kind().as_str());
        assert_eq!(Envelope::parse(&json).unwrap(), e);
    }
}

#[test]
fn wire_shape_matches_the_design() {
    let v: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
    assert_eq!(v["tenant"]["company_id"], "acme");
    assert_eq!(v["channel"], "sms");
    assert_eq!(v["conversation_id"], "acme.shop.tel.14155550123");
    assert_eq!(v["received_at"], "2026-11-23T10:00:00Z");
    assert_eq!(v["kind"], "inbound");
}

fn with(field: &str, value: serde_json::Value) -> String {
    let mut v: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
    v[field] = value;
    v.to_string()
}

#[test]
fn unknown_version_is_a_typed_error() {
    let err = Envelope::parse(&with("v", 2.into())).unwrap_err();
    assert_eq!(err, EnvelopeError::UnsupportedVersion("2".into()));
    let mut v: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
    v.as_object_mut().unwrap().remove("v");
    assert!(matches!(Envelope::parse(&v.to_string()), Err(EnvelopeError::UnsupportedVersion(_))));
}

#[test]
fn unknown_kind_is_a_typed_error() {
    let err = Envelope::parse(&with("kind", "fax".into())).unwrap_err();
    assert_eq!(err, EnvelopeError::UnknownKind("\"fax\"".into()));
}

#[test]
fn bad_fields_and_garbage_are_errors_not_panics() {
    assert!(matches!(Envelope::parse(&with("from", "0415".into())), Err(EnvelopeError::Malformed(_))));
    assert!(matches!(Envelope::parse("not json"), Err(EnvelopeError::NotJson(_))));
    assert!(matches!(Envelope::parse("[1]"), Err(EnvelopeError::NotJson(_))));
}

#[test]
fn customer_and_business_number_do_not_depend_on_the_kind() {
    let mut e = sample();
    let (customer, shop) = (e.from.clone(), e.to.clone());
    for detail in [KindDetail::inbound(0), KindDetail::VoiceTurn { call_sid: "CA1".into(), turn: 1 }] {
        e.detail = detail;
        assert_eq!((e.customer(), e.business_number()), (&customer, &shop), "{}", e.kind());
    }
    let initiate = Envelope {
        from: shop.clone(),
        to: customer.clone(),
        detail: KindDetail::Initiate {
            request_id: "r1".into(),
            project_data: serde_json::Value::Null,
            recipient_name: None,
        },
        ..sample()
    };
    assert_eq!((initiate.customer(), initiate.business_number()), (&customer, &shop));
}

#[test]
fn a_direct_send_is_in_the_customers_conversation() {
    let inbound = sample();
    let direct = Envelope::direct(
        inbound.tenant.clone(),
        Channel::Sms,
        inbound.to.clone(),
        inbound.from.clone(),
        "owner:1".into(),
        "See you at 3".into(),
        Author::System,
        inbound.received_at,
    );
    assert_eq!(direct.conversation_id, inbound.conversation_id);
    assert_eq!((direct.customer(), direct.business_number()), (&inbound.from, &inbound.to));
    let v: serde_json::Value = serde_json::from_str(&direct.to_json()).unwrap();
    assert_eq!((v["kind"].as_str(), v["author"].as_str()), (Some("direct"), Some("system")));
    assert_eq!(Envelope::parse(&direct.to_json()).unwrap(), direct);
}

#[test]
fn an_email_envelope_and_an_old_phone_envelope_both_read() {
    let old = r#"{"v":1,"id":"SM1","tenant":{"company_id":"acme","project_id":"shop"},"channel":"sms","conversation_id":"acme.shop.tel.14155550123","from":"+14155550123","to":"+15555550100","body":"hi","received_at":"2026-11-23T10:00:00Z","kind":"inbound","num_media":0}"#;
    let e = Envelope::parse(old).unwrap();
    assert_eq!(e.customer().phone().map(|p| p.as_str()), Some("+14155550123"));
    assert_eq!(e.detail, KindDetail::inbound(0));
    assert!(!e.to_json().contains("media\":["), "no empty media list on the wire");
    let mut email = sample();
    email.channel = Channel::Email;
    email.from = Address::parse("ann@example.com").unwrap();
    email.to = Address::parse("help@shop.example.com").unwrap();
    let back = Envelope::parse(&email.to_json()).unwrap();
    assert_eq!(back.customer().email().map(|a| a.as_str()), Some("ann@example.com"));
    assert_eq!(back.email_meta(), None);
}

#[test]
fn attributes_carry_routing_facts() {
    let a = sample().attributes("trace-1");
    assert_eq!(a["channel"], "sms");
    assert_eq!(a["company_id"], "acme");
    assert_eq!(a["kind"], "inbound");
    assert_eq!(a["trace_id"], "trace-1");
}
