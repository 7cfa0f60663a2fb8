//! The owner's actions through the forms reach the ports: state, takeover, hand back,
//! reply (a direct send, once per form), booking cancellation (the slot frees up and
//! the customer is texted), the QR code.

use comms_core::domain::{Channel, PhoneNumber};
use comms_core::ports::{Booking, Reservation};

use crate::helpers::*;

#[tokio::test]
async fn take_over_reply_and_hand_back_go_through_the_ports() {
    let app = spawn_app().await;
    let conv = seed_conversation(&app, &app.demo.tenant, CUSTOMER, "can I talk to Sam?").await;
    let mut b = Browser::new(&app);
    b.sign_in("demo", "repair-shop", OWNER_KEY).await;
    let path = format!("/console/conversations/{conv}");
    let page = b.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("can I talk to Sam?") && page.body.contains("id=\"takeover\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("delivery-status"), "each reply's delivery status");
    let csrf = hidden(&page.body, "csrf");

    let taken = b.post(&format!("{path}/takeover"), &[("csrf", &csrf)]).await;
    assert_eq!(taken.status, 303);
    let until = app.stores.conversations.get(&conv).await.unwrap().unwrap().takeover_until.unwrap();
    assert!(until > jiff::Timestamp::now(), "taken over for the tenant's takeover time");
    assert!(b.get(&path).await.body.contains("id=\"handback\""));

    let page = b.get(&path).await;
    let key = hidden(&page.body, "idempotency_key");
    for _ in 0..2 {
        let sent = b
            .post(
                &format!("{path}/reply"),
                &[("text", "Sam here, come by at 3"), ("idempotency_key", &key), ("csrf", &csrf)],
            )
            .await;
        assert_eq!(sent.status, 303);
    }
    let queued = queued_sms(&app).await;
    assert_eq!(queued.len(), 2, "both posts enqueue");
    assert_eq!(queued[0]["id"], queued[1]["id"], "with one id: the engine sends once");
    assert_eq!(queued[0]["kind"], "direct");
    assert_eq!(queued[0]["author"], "owner");
    assert_eq!(queued[0]["to"], CUSTOMER);
    assert_eq!(queued[0]["from"], "+15555550100");
    assert_eq!(queued[0]["body"], "Sam here, come by at 3");

    let empty =
        b.post(&format!("{path}/reply"), &[("text", " "), ("idempotency_key", &key), ("csrf", &csrf)]).await;
    assert_eq!(empty.status, 400);

    let back = b.post(&format!("{path}/handback"), &[("csrf", &csrf)]).await;
    assert_eq!(back.status, 303);
    assert_eq!(app.stores.conversations.get(&conv).await.unwrap().unwrap().takeover_until, None);
}

#[tokio::test]
async fn cancelling_a_booking_frees_its_slot_and_texts_the_customer() {
    let app = spawn_app().await;
    let booking = book(&app, "LEAD-20990101-103000-wxyz", 10, 30).await;
    let date = booking.date;
    let mut b = Browser::new(&app);
    b.sign_in("demo", "repair-shop", OWNER_KEY).await;
    let page = b.get("/console/bookings").await;
    assert!(page.body.contains(&booking.lead_id) && page.body.contains("Ann"), "{}", page.body);
    assert!(b.get("/console/leads").await.body.contains(&booking.lead_id));
    let csrf = hidden(&page.body, "csrf");

    let done = b.post(&format!("/console/bookings/{}/cancel", booking.lead_id), &[("csrf", &csrf)]).await;
    assert_eq!(done.status, 303);
    assert!(app.stores.bookings.upcoming(&app.demo.tenant, date, 1).await.unwrap().is_empty());
    let again = Booking {
        lead_id: "LEAD-20990101-103000-next".into(),
        phone: PhoneNumber::parse(OTHER_CUSTOMER).unwrap(),
        ..booking.clone()
    };
    assert!(
        matches!(app.stores.bookings.reserve(&again).await.unwrap(), Reservation::Created(_)),
        "the slot is free"
    );
    let queued = queued_sms(&app).await;
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0]["id"], format!("cancel:{}", booking.lead_id));
    assert_eq!(queued[0]["author"], "system");
    assert!(queued[0]["body"].as_str().unwrap().contains("cancelled"));

    let twice = b.post(&format!("/console/bookings/{}/cancel", booking.lead_id), &[("csrf", &csrf)]).await;
    assert_eq!(twice.status, 404, "cancelled already");
}

#[tokio::test]
async fn the_qr_code_opens_a_text_to_the_shop() {
    let app = spawn_app().await;
    let mut b = Browser::new(&app);
    b.sign_in("demo", "repair-shop", OWNER_KEY).await;
    let page = b.get("/console/qr").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"qr-svg\"") && page.body.contains("<svg"));
    assert!(page.body.contains("sms:+15555550100?body=Hi%20Demo%20Phone%20Repair"), "{}", page.body);
    let svg = b
        .client
        .get(format!("{}/console/qr.svg?text=Hello", b.base))
        .header("cookie", format!("comms_console={}", b.cookies["comms_console"]))
        .send()
        .await
        .unwrap();
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    assert!(svg.text().await.unwrap().starts_with("<svg"));
    let _ = Channel::Sms;
}

#[tokio::test]
async fn the_today_form_sets_states_in_shop_time_and_refuses_bad_fields() {
    let app = spawn_app().await;
    let mut b = Browser::new(&app);
    assert_eq!(b.get("/console").await.location.as_deref(), Some("/console/sign-in"));
    b.sign_in("demo", "repair-shop", OWNER_KEY).await;
    assert_eq!(b.get("/console").await.location.as_deref(), Some("/console/today"));
    let csrf = b.csrf().await;
    let tz = jiff::tz::TimeZone::get("America/New_York").unwrap();
    let tomorrow = jiff::Timestamp::now().to_zoned(tz.clone()).date().tomorrow().unwrap();
    let until = format!("{tomorrow}T10:00");
    let set = b.post("/console/today/state", &[("state", "GYM"), ("until", &until), ("csrf", &csrf)]).await;
    assert_eq!(set.status, 303);
    let stored = app.stores.owner_state.get(&app.demo.tenant).await.unwrap().unwrap();
    assert_eq!(stored.mode.to_string(), "GYM");
    let expected = tomorrow.at(10, 0, 0, 0).to_zoned(tz).unwrap().timestamp();
    assert_eq!(stored.until, Some(expected), "until is the shop's local time");
    let page = b.get("/console/today").await;
    assert!(
        page.body.contains("id=\"state-GYM\" type=\"submit\" name=\"state\" value=\"GYM\" class=\"current\"")
    );

    for (fields, field) in [
        (vec![("state", "GYM"), ("until", "2001-01-01T10:00")], "until"),
        (vec![("state", "GYM"), ("until", "tomorrow")], "until"),
        (vec![("state", "CUSTOM")], "custom_text"),
        (vec![("state", "NAP")], "state"),
    ] {
        let mut fields = fields;
        fields.push(("csrf", &csrf));
        let page = b.post("/console/today/state", &fields).await;
        assert_eq!(page.status, 400, "{field}");
        assert!(page.body.contains(field), "{field}: {}", page.body);
    }
    let custom = b
        .post("/console/today/state", &[("state", "CUSTOM"), ("custom_text", "at lunch"), ("csrf", &csrf)])
        .await;
    assert_eq!(custom.status, 303);
    assert_eq!(
        app.stores.owner_state.get(&app.demo.tenant).await.unwrap().unwrap().mode.to_string(),
        "AT LUNCH"
    );
    let note = b
        .post("/console/today/state", &[("state", "OFF"), ("custom_text", "back Monday"), ("csrf", &csrf)])
        .await;
    assert_eq!(note.status, 303);
    let stored = app.stores.owner_state.get(&app.demo.tenant).await.unwrap().unwrap();
    assert_eq!((stored.mode.to_string(), stored.notes.as_deref()), ("OFF".into(), Some("back Monday")));
    assert_eq!(b.post("/console/today/clear", &[("csrf", &csrf)]).await.status, 303);
    assert!(b.get("/console/today").await.body.contains("(the default)"));
}
