//! Conformance suites of the storage ports added for the turn and the APIs. Each check
//! expects an empty store.

use std::time::Duration;

use comms_core::domain::{Address, Channel, ConversationId, OwnerMode, OwnerState, PhoneNumber, TenantRef};
use comms_core::ports::{
    Booking, Bookings, Claim, ConversationItem, ConversationKey, ConversationLog, DeliveryStatusStore,
    ItemContent, Ledger, LedgerEntry, OwnerStateStore, RequestBegin, RequestLog, Reservation, StoreError,
    TurnStep, TurnStore,
};

fn tenant() -> TenantRef {
    TenantRef::new("demo", "repair-shop").expect("valid ids")
}

fn phone(s: &str) -> Address {
    Address::parse(s).expect("valid number")
}

/// One claim wins; a live lease refuses others; a released or expired lease is taken
/// over with the recorded step; a finished turn reports done.
pub async fn turn_claims_are_atomic_and_resumable(store: &dyn TurnStore) {
    let lease = Duration::from_secs(60);
    let Claim::Acquired(first) = store.claim("turn:sms:SM1", lease).await.expect("claim") else {
        panic!("a new key must be acquired");
    };
    assert_eq!(first.step, TurnStep::Started);
    match store.claim("turn:sms:SM1", lease).await.expect("claim") {
        Claim::Busy { lease_left } => assert!(lease_left <= lease && !lease_left.is_zero(), "{lease_left:?}"),
        other => panic!("a live lease must be busy: {other:?}"),
    }

    let ready = TurnStep::ReplyReady { reply: "hi".into(), template: None };
    store.advance("turn:sms:SM1", first.token(), &ready, lease).await.expect("advance");
    store.release("turn:sms:SM1", first.token()).await.expect("release");
    let second = match store.claim("turn:sms:SM1", lease).await.expect("claim") {
        Claim::Acquired(r) => {
            assert_eq!(r.step, ready, "resumes at the recorded step");
            assert_eq!(r.attempts, 2);
            r
        }
        other => panic!("released lease not taken over: {other:?}"),
    };
    let done = TurnStep::Done { outcome: "replied".into() };
    store.advance("turn:sms:SM1", second.token(), &done, lease).await.expect("advance");
    assert!(matches!(store.claim("turn:sms:SM1", lease).await.expect("claim"), Claim::Done(_)));

    // An expired lease (a worker that died) is taken over.
    assert!(matches!(store.claim("turn:sms:SM2", Duration::ZERO).await.expect("claim"), Claim::Acquired(_)));
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(matches!(store.claim("turn:sms:SM2", lease).await.expect("claim"), Claim::Acquired(_)));
}

/// The holder's renewal moves the lease forward; a released lease is not renewed back
/// into a live one.
pub async fn turn_leases_are_renewed_until_released(store: &dyn TurnStore) {
    let short = Duration::from_millis(300);
    let Claim::Acquired(held) = store.claim("turn:sms:SMrenew", short).await.expect("claim") else {
        panic!("a new key must be acquired");
    };
    store.renew("turn:sms:SMrenew", held.token(), Duration::from_secs(60)).await.expect("renew");
    tokio::time::sleep(Duration::from_millis(400)).await;
    match store.claim("turn:sms:SMrenew", short).await.expect("claim") {
        Claim::Busy { lease_left } => assert!(lease_left > Duration::from_secs(30), "{lease_left:?}"),
        other => panic!("a renewed lease must still be busy: {other:?}"),
    }
    store.release("turn:sms:SMrenew", held.token()).await.expect("release");
    store.renew("turn:sms:SMrenew", held.token(), Duration::from_secs(60)).await.expect("renew");
    assert!(matches!(store.claim("turn:sms:SMrenew", short).await.expect("claim"), Claim::Acquired(_)));
    // Renewing a key nobody claimed creates nothing.
    store.renew("turn:sms:SMnobody", 1, Duration::from_secs(60)).await.expect("renew");
    assert!(
        matches!(store.claim("turn:sms:SMnobody", short).await.expect("claim"), Claim::Acquired(r) if r.attempts == 1)
    );
}

/// A claim taken over from a holder whose lease ran out fences that holder: its
/// advance, renew and release are refused (and change nothing), the new holder's work.
pub async fn taken_over_claims_fence_the_old_holder(store: &dyn TurnStore) {
    let key = "turn:sms:SMfence";
    let Claim::Acquired(old) = store.claim(key, Duration::ZERO).await.expect("claim") else {
        panic!("a new key must be acquired");
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let lease = Duration::from_secs(60);
    let Claim::Acquired(new) = store.claim(key, lease).await.expect("claim") else {
        panic!("an expired lease must be taken over");
    };
    assert_ne!(old.token(), new.token(), "each claim has its own token");
    let ready = TurnStep::ReplyReady { reply: "hi".into(), template: None };
    let lost = |r: Result<(), StoreError>| matches!(r, Err(StoreError::LeaseLost));
    assert!(lost(store.advance(key, old.token(), &ready, lease).await), "a stale advance is refused");
    assert!(lost(store.renew(key, old.token(), lease).await), "a stale renew is refused");
    assert!(lost(store.release(key, old.token()).await), "a stale release is refused");
    match store.claim(key, lease).await.expect("claim") {
        Claim::Busy { lease_left } => assert!(lease_left > Duration::from_secs(30), "{lease_left:?}"),
        other => panic!("the new holder's lease must stand: {other:?}"),
    }

    store.renew(key, new.token(), lease).await.expect("renew");
    store.advance(key, new.token(), &ready, lease).await.expect("advance");
    store.release(key, new.token()).await.expect("release");
    match store.claim(key, lease).await.expect("claim") {
        Claim::Acquired(r) => assert_eq!(r.step, ready, "the new holder's step, not the stale one's"),
        other => panic!("released lease not taken over: {other:?}"),
    }
}

/// Turn keys carry the tenant: the same message id in two tenants is two turns.
pub async fn turn_keys_are_scoped_by_tenant(store: &dyn TurnStore) {
    let other = TenantRef::new("other", "shop").expect("ids");
    let a = comms_core::ports::turn_key(&tenant(), Channel::Sms, "SMsame");
    let b = comms_core::ports::turn_key(&other, Channel::Sms, "SMsame");
    assert_ne!(a, b);
    let lease = Duration::from_secs(60);
    let Claim::Acquired(held) = store.claim(&a, lease).await.expect("claim") else {
        panic!("a new key must be acquired");
    };
    store
        .advance(&a, held.token(), &TurnStep::Done { outcome: "replied".into() }, lease)
        .await
        .expect("advance");
    assert!(matches!(store.claim(&b, lease).await.expect("claim"), Claim::Acquired(_)));
}

/// Of many concurrent claims of one key, exactly one acquires it.
pub async fn concurrent_turn_claims_have_one_winner(store: std::sync::Arc<dyn TurnStore>) {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let store = std::sync::Arc::clone(&store);
        tasks.spawn(async move { store.claim("turn:sms:SMrace", Duration::from_secs(60)).await });
    }
    let results = tasks.join_all().await;
    let won = results.iter().filter(|r| matches!(r, Ok(Claim::Acquired(_)))).count();
    assert_eq!(won, 1, "{results:?}");
}

fn booking(time: &str, customer: &str) -> Booking {
    Booking {
        tenant: tenant(),
        date: "2099-01-05".parse().expect("date"),
        time: comms_core::tools::schedule::parse_time(time).expect("time"),
        lead_id: format!("LEAD-20990105-100000-{}", &customer[customer.len() - 4..]),
        customer_name: "Ann".into(),
        phone: PhoneNumber::parse(customer).expect("valid number"),
        service: "screen".into(),
        conversation_id: None,
        created_at: jiff::Timestamp::now(),
    }
}

/// A slot is reserved once; the same customer gets their booking back; others are
/// refused; bookings of a date come back by time.
pub async fn slots_are_reserved_once(store: &dyn Bookings) {
    let first = booking("10:00", "+14155550001");
    assert_eq!(store.reserve(&first).await.expect("reserve"), Reservation::Created(first.clone()));
    let retry = Booking { lead_id: "LEAD-other".into(), ..first.clone() };
    assert_eq!(store.reserve(&retry).await.expect("reserve"), Reservation::AlreadyYours(first.clone()));
    assert_eq!(store.reserve(&booking("10:00", "+14155550002")).await.expect("reserve"), Reservation::Taken);
    store.reserve(&booking("09:00", "+14155550003")).await.expect("reserve");
    let day = store.on_date(&tenant(), first.date).await.expect("on date");
    let times: Vec<String> = day.iter().map(|b| comms_core::tools::schedule::format_time(b.time)).collect();
    assert_eq!(times, ["09:00", "10:00"]);
    let other_day = store.on_date(&tenant(), "2099-01-06".parse().expect("date")).await.expect("on date");
    assert!(other_day.is_empty());
}

fn item(id: &str, text: &str) -> ConversationItem {
    ConversationItem {
        item_id: id.into(),
        at: jiff::Timestamp::now(),
        content: ItemContent::Inbound { text: text.into() },
    }
}

/// Items are stored once per id, come back oldest first (the last N), and conversations
/// list by recency, per tenant.
pub async fn conversation_items_are_idempotent_and_ordered(log: &dyn ConversationLog) {
    let customer = phone("+14155550123");
    let key = ConversationKey {
        id: ConversationId::derive(&tenant(), Channel::Sms, &customer),
        tenant: tenant(),
        channel: Channel::Sms,
        customer: customer.clone(),
    };
    log.append(&key, &[item("a", "one"), item("b", "two")]).await.expect("append");
    log.append(&key, &[item("b", "two"), item("c", "three")]).await.expect("append again");
    let all = log.recent(&key.id, 10).await.expect("recent");
    assert_eq!(all.iter().map(|i| i.item_id.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
    let last = log.recent(&key.id, 2).await.expect("recent");
    assert_eq!(last.iter().map(|i| i.item_id.as_str()).collect::<Vec<_>>(), ["b", "c"]);
    let header = log.get(&key.id).await.expect("get").expect("exists");
    assert_eq!(header.item_count, 3);

    let other_tenant = TenantRef::new("other", "shop").expect("ids");
    let other = ConversationKey {
        id: ConversationId::derive(&other_tenant, Channel::Sms, &customer),
        tenant: other_tenant.clone(),
        channel: Channel::Sms,
        customer,
    };
    tokio::time::sleep(Duration::from_millis(5)).await;
    log.append(&other, &[item("x", "hello")]).await.expect("append");
    let listed = log.list(None, 10).await.expect("list");
    assert_eq!(listed[0].conversation_id, other.id, "most recent first");
    let mine = log.list(Some(&tenant()), 10).await.expect("list");
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].conversation_id, key.id);
}

/// The state set is the state read; clearing and every change are in the history.
pub async fn owner_state_is_kept_with_history(store: &dyn OwnerStateStore) {
    assert_eq!(store.get(&tenant()).await.expect("get"), None);
    let now = jiff::Timestamp::now();
    let gym =
        OwnerState { mode: OwnerMode::Gym, location: Some("gym".into()), ..OwnerState::default_at(now) };
    store.set(&tenant(), &gym).await.expect("set");
    assert_eq!(store.get(&tenant()).await.expect("get"), Some(gym.clone()));
    store.clear(&tenant(), now).await.expect("clear");
    assert_eq!(store.get(&tenant()).await.expect("get"), None);
    let history = store.history(&tenant(), 10).await.expect("history");
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].1, None, "newest first: the clear");
    assert_eq!(history[1].1, Some(gym));
}

/// A request key is new once; then it returns its body hash, and its answer once stored.
pub async fn request_keys_remember_body_and_answer(log: &dyn RequestLog) {
    let later = jiff::Timestamp::now() + Duration::from_secs(3600);
    assert_eq!(log.begin("initiate:k1", "hash-a", later).await.expect("begin"), RequestBegin::New);
    assert_eq!(
        log.begin("initiate:k1", "hash-b", later).await.expect("begin"),
        RequestBegin::Existing { body_hash: "hash-a".into(), response: None }
    );
    let answer = serde_json::json!({"status": "success"});
    log.complete("initiate:k1", &answer).await.expect("complete");
    assert_eq!(
        log.begin("initiate:k1", "hash-a", later).await.expect("begin"),
        RequestBegin::Existing { body_hash: "hash-a".into(), response: Some(answer) }
    );
}

/// Delivery status moves forward only.
pub async fn delivery_status_moves_forward_only(store: &dyn DeliveryStatusStore) {
    let now = jiff::Timestamp::now();
    let t = tenant();
    assert!(store.record_status(&t, "SM1", "sent", None, now).await.expect("record"));
    assert!(store.record_status(&t, "SM1", "undelivered", Some("30003"), now).await.expect("record"));
    assert!(!store.record_status(&t, "SM1", "sending", None, now).await.expect("record"));
    assert_eq!(
        store.status(&t, "SM1").await.expect("status"),
        Some(("undelivered".into(), Some("30003".into())))
    );
    assert_eq!(store.status(&t, "SM2").await.expect("status"), None);
}

/// The same provider id in two tenants is two records: one tenant's callback neither
/// moves nor blocks the other's.
pub async fn delivery_status_is_scoped_by_tenant(store: &dyn DeliveryStatusStore) {
    let now = jiff::Timestamp::now();
    let (a, b) = (tenant(), TenantRef::new("other", "shop").expect("ids"));
    assert!(store.record_status(&a, "SMsame", "delivered", None, now).await.expect("record"));
    assert_eq!(store.status(&b, "SMsame").await.expect("status"), None);
    assert!(store.record_status(&b, "SMsame", "sent", None, now).await.expect("record"));
    assert_eq!(store.status(&b, "SMsame").await.expect("status"), Some(("sent".into(), None)));
    assert_eq!(store.status(&a, "SMsame").await.expect("status"), Some(("delivered".into(), None)));
}

/// Ledger entries come back newest first, per tenant.
pub async fn ledger_keeps_entries_per_tenant(ledger: &dyn Ledger) {
    for (kind, n) in [("discount", 1), ("upsell", 2)] {
        ledger
            .record(&LedgerEntry {
                tenant: tenant(),
                conversation_id: None,
                kind: kind.into(),
                data: serde_json::json!({"n": n}),
                at: jiff::Timestamp::now(),
            })
            .await
            .expect("record");
    }
    let entries = ledger.entries(&tenant(), 10).await.expect("entries");
    assert_eq!(entries.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), ["upsell", "discount"]);
    assert!(ledger.entries(&TenantRef::new("x", "y").expect("ids"), 10).await.expect("entries").is_empty());
}
