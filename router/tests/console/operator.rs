//! Operators: an operator key sees every tenant, with customers' numbers masked except
//! on a conversation the operator opens; dead letters are theirs alone.

use comms_core::domain::Channel;
use comms_core::ports::OutgoingMessage;
use comms_router::console::{OPERATOR_KEYS_SECRET, new_operator_key};

use crate::helpers::*;

async fn operator(app: &TestApp) -> Browser {
    let key = new_operator_key(app.stores.secrets.as_ref(), OPERATOR_KEYS_SECRET, "ops").await.unwrap();
    let mut b = Browser::new(app);
    let page = b.sign_in("", "", &key).await;
    assert_eq!((page.status, page.location.as_deref()), (303, Some("/console/conversations")));
    b
}

#[tokio::test]
async fn an_operator_sees_every_tenant_with_numbers_masked_until_opening_one() {
    let app = spawn_app().await;
    seed_conversation(&app, &app.demo.tenant, CUSTOMER, "screen please").await;
    seed_conversation(&app, &app.other.tenant, OTHER_CUSTOMER, "battery please").await;
    let mut b = operator(&app).await;

    let list = b.get("/console/conversations").await;
    assert_eq!(list.status, 200);
    for (full, masked, tenant) in [
        (CUSTOMER, "+1********23", "demo/repair-shop"),
        (OTHER_CUSTOMER, "+1********87", "other/repair-shop"),
    ] {
        assert!(!list.body.contains(&full[1..]), "no full number anywhere on the page (links included)");
        assert!(list.body.contains(masked) && list.body.contains(tenant), "{}", list.body);
    }
    // Opening one shows its number.
    let start = list.body.find("href=\"/console/conversations/~").unwrap() + "href=\"".len();
    let link = list.body[start..].split('"').next().unwrap().to_owned();
    let page = b.get(&link).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(CUSTOMER) || page.body.contains(OTHER_CUSTOMER), "{}", page.body);
    assert!(page.body.contains("id=\"transcript\""));

    // Another session cannot use the operator's masked link.
    let mut other = operator_again(&app).await;
    assert_eq!(other.get(&link).await.status, 404);

    // Search by the number's digits, and by text, across tenants.
    let found = b.get("/console/conversations?q=5550987").await;
    assert!(found.body.contains("+1********87") && !found.body.contains("+1********23"), "{}", found.body);
    let found = b.get("/console/conversations?q=SCREEN").await;
    assert!(found.body.contains("+1********23") && !found.body.contains("+1********87"), "{}", found.body);

    // Tenant pages need a chosen tenant; bookings and leads mask numbers too.
    let pick = b.get("/console/today").await;
    assert_eq!(pick.status, 200);
    assert!(pick.body.contains("href=\"/console/today?tenant=other%2Frepair-shop\""), "{}", pick.body);
    assert_eq!(b.get("/console/today?tenant=other/repair-shop").await.status, 200);
    assert_eq!(b.get("/console/today?tenant=nobody/here").await.status, 404);
}

async fn operator_again(app: &TestApp) -> Browser {
    let key = new_operator_key(app.stores.secrets.as_ref(), OPERATOR_KEYS_SECRET, "ops2").await.unwrap();
    let mut b = Browser::new(app);
    b.sign_in("", "", &key).await;
    b
}

#[tokio::test]
async fn dead_letters_are_listed_with_their_reason_and_replayed_or_purged_by_operators_only() {
    let app = spawn_app().await;
    for n in 0..2 {
        let msg = OutgoingMessage { body: format!("{{\"n\":{n}}}"), attributes: Default::default() };
        app.stores.queues.send(Channel::Sms, msg).await.unwrap();
    }
    let got = app.stores.queues.receive(Channel::Sms, 2, std::time::Duration::ZERO).await.unwrap();
    for m in &got {
        app.stores.queues.dead_letter(Channel::Sms, m, "unknown tenant for +14155550123").await.unwrap();
    }
    let mut owner = Browser::new(&app);
    owner.sign_in("demo", "repair-shop", OWNER_KEY).await;
    assert_eq!(owner.get("/console/dead-letters").await.status, 403);

    let mut b = operator(&app).await;
    let page = b.get("/console/dead-letters").await;
    assert_eq!(page.body.matches("class=\"dlq-row\"").count(), 2, "{}", page.body);
    assert!(page.body.contains("unknown tenant for +*********23"), "reason shown, number masked");
    assert!(page.body.contains("id=\"replay-all-sms\""));
    let csrf = hidden(&page.body, "csrf");

    let one = hidden(&page.body, "message_id");
    let replayed = b.post("/console/dead-letters/sms/replay", &[("message_id", &one), ("csrf", &csrf)]).await;
    assert_eq!(replayed.status, 303);
    assert_eq!(app.stores.dead_letters.stats(Channel::Sms).await.unwrap().dlq_depth, 1);

    let refused = b.post("/console/dead-letters/sms/purge", &[("confirm", "yes"), ("csrf", &csrf)]).await;
    assert_eq!(refused.status, 400, "purge needs the word");
    assert_eq!(
        b.post("/console/dead-letters/fax/purge", &[("confirm", "purge"), ("csrf", &csrf)]).await.status,
        404
    );
    let purged = b.post("/console/dead-letters/sms/purge", &[("confirm", "purge"), ("csrf", &csrf)]).await;
    assert_eq!(purged.status, 303);
    assert_eq!(app.stores.dead_letters.stats(Channel::Sms).await.unwrap().dlq_depth, 0);
    let s = app.stores.dead_letters.stats(Channel::Sms).await.unwrap();
    assert_eq!(s.depth + s.in_flight, 1, "the replayed one is back on its queue");
}

#[tokio::test]
async fn the_email_queues_dead_letters_are_listed_and_replayed_like_the_others() {
    let app = spawn_app().await;
    let msg = OutgoingMessage { body: "{\"not\":\"an envelope\"}".into(), attributes: Default::default() };
    app.stores.queues.send(Channel::Email, msg).await.unwrap();
    let got = app.stores.queues.receive(Channel::Email, 1, std::time::Duration::ZERO).await.unwrap();
    app.stores
        .queues
        .dead_letter(Channel::Email, &got[0], "unreadable envelope: missing field `id`")
        .await
        .unwrap();

    let mut b = operator(&app).await;
    let page = b.get("/console/dead-letters").await;
    for channel in ["sms", "whatsapp", "voice", "email"] {
        assert!(page.body.contains(&format!("id=\"dlq-{channel}\"")), "{channel}: {}", page.body);
    }
    assert!(page.body.contains("id=\"replay-all-email\""), "{}", page.body);
    assert_eq!(page.body.matches("class=\"dlq-row\"").count(), 1, "{}", page.body);
    assert!(page.body.contains("unreadable envelope: missing field `id`"), "{}", page.body);
    let csrf = hidden(&page.body, "csrf");
    let one = hidden(&page.body, "message_id");
    let replayed =
        b.post("/console/dead-letters/email/replay", &[("message_id", &one), ("csrf", &csrf)]).await;
    assert_eq!(replayed.status, 303);
    let s = app.stores.dead_letters.stats(Channel::Email).await.unwrap();
    assert_eq!((s.dlq_depth, s.depth + s.in_flight), (0, 1), "back on the email queue");
}
