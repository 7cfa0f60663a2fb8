//! A tenant's owner sees and acts on that tenant only: every console route, named with
//! another tenant's data, is refused (403 or 404) and changes nothing. The table is
//! checked against the routes the console serves, so a new route must join it.

use comms_core::domain::Channel;
use comms_core::ports::{Booking, OutgoingMessage};

use crate::helpers::*;

/// Every console route (as `router/src/console/mod.rs` declares it) but the ones that
/// need no tenant: sign-in, sign-out, `/console`, static files.
const OPEN_ROUTES: [&str; 6] = [
    "/console",
    "/console/",
    "/console/sign-in",
    "/console/sign-out",
    "/console/static/htmx.min.js",
    "/console/static/console.css",
];

/// The demo tenant's data the other owner aims at: a conversation, a booking, a dead
/// letter.
async fn seed_demo(app: &TestApp) -> (String, Booking) {
    let conv = seed_conversation(app, &app.demo.tenant, CUSTOMER, "my screen is cracked").await;
    let booking = book(app, "LEAD-20990101-110000-abcd", 11, 0).await;
    let msg = OutgoingMessage { body: "{}".into(), attributes: Default::default() };
    app.stores.queues.send(Channel::Sms, msg).await.unwrap();
    let got = app.stores.queues.receive(Channel::Sms, 1, std::time::Duration::ZERO).await.unwrap();
    app.stores.queues.dead_letter(Channel::Sms, &got[0], "test: bad payload").await.unwrap();
    (conv.to_string(), booking)
}

fn gets(c: &str) -> Vec<String> {
    let t = "demo/repair-shop";
    vec![
        format!("/console/today?tenant={t}"),
        format!("/console/bookings?tenant={t}"),
        format!("/console/leads?tenant={t}"),
        format!("/console/conversations?tenant={t}"),
        format!("/console/conversations/{c}"),
        "/console/dead-letters".to_owned(),
        format!("/console/qr?tenant={t}"),
        format!("/console/qr.svg?tenant={t}"),
    ]
}

fn posts(c: &str, lead: &str) -> Vec<(String, Vec<(&'static str, &'static str)>)> {
    let t = "demo/repair-shop";
    vec![
        ("/console/today/state".into(), vec![("state", "OFF"), ("tenant", t)]),
        ("/console/today/clear".into(), vec![("tenant", t)]),
        (format!("/console/bookings/{lead}/cancel"), vec![("tenant", t)]),
        (format!("/console/bookings/{lead}/cancel"), vec![]),
        (format!("/console/conversations/{c}/takeover"), vec![]),
        (format!("/console/conversations/{c}/handback"), vec![]),
        (
            format!("/console/conversations/{c}/reply"),
            vec![("text", "hi"), ("idempotency_key", "abcdefgh-1")],
        ),
        ("/console/dead-letters/sms/replay".into(), vec![]),
        ("/console/dead-letters/sms/purge".into(), vec![("confirm", "purge")]),
    ]
}

#[tokio::test]
async fn an_owner_cannot_read_or_act_on_another_tenant_on_any_console_route() {
    let app = spawn_app().await;
    let (c, booking) = seed_demo(&app).await;
    let mut b = Browser::new(&app);
    assert_eq!(b.sign_in("other", "repair-shop", OTHER_KEY).await.status, 303);
    let csrf = b.csrf().await;
    for path in gets(&c) {
        let page = b.get(&path).await;
        assert!([403, 404].contains(&page.status), "GET {path}: {}", page.status);
        assert!(!page.body.contains(CUSTOMER) && !page.body.contains("cracked"), "GET {path} leaks");
    }
    for (path, fields) in posts(&c, &booking.lead_id) {
        let mut fields: Vec<(&str, &str)> = fields;
        fields.push(("csrf", &csrf));
        let page = b.post(&path, &fields).await;
        assert!([403, 404].contains(&page.status), "POST {path}: {}", page.status);
    }
    // Nothing changed.
    assert!(app.stores.owner_state.get(&app.demo.tenant).await.unwrap().is_none());
    let upcoming = app.stores.bookings.upcoming(&app.demo.tenant, booking.date, 1).await.unwrap();
    assert_eq!(upcoming.len(), 1, "the booking stands");
    let id = comms_core::domain::ConversationId::from_stored(c.clone());
    assert_eq!(app.stores.conversations.get(&id).await.unwrap().unwrap().takeover_until, None);
    assert_eq!(app.stores.dead_letters.stats(Channel::Sms).await.unwrap().dlq_depth, 1);
    assert!(queued_sms(&app).await.is_empty(), "nothing sent");
}

#[test]
fn the_table_holds_every_console_route() {
    let (c, lead) = ("demo.repair-shop.tel.14155550123", "LEAD-1");
    let tested: Vec<String> = gets(c).into_iter().chain(posts(c, lead).into_iter().map(|(p, _)| p)).collect();
    let declared = include_str!("../../src/console/mod.rs");
    let routes: Vec<&str> = declared
        .lines()
        .filter_map(|l| l.trim().strip_prefix(".route(\""))
        .map(|r| r.split('"').next().unwrap())
        .collect();
    assert!(routes.len() > 20, "{routes:?}");
    for route in routes.into_iter().filter(|r| !OPEN_ROUTES.contains(r)) {
        let pattern = route.replace("{lead_id}", lead).replace("{id}", c).replace("{channel}", "sms");
        assert!(
            tested.iter().any(|p| p.split('?').next() == Some(pattern.as_str())),
            "route {route} is not in the table"
        );
    }
}
