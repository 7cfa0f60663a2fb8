//! Conformance suite of what the owner console needs from the stores: the takeover on a
//! conversation's header (read by the journal's claim), searching conversations, and
//! upcoming, cancelled and listed bookings. Every check also proves that one tenant's
//! call never sees or touches another tenant's data. Each check expects an empty store.

use comms_core::domain::{Channel, ConversationId, PhoneNumber, TenantRef};
use comms_core::ports::{Begin, Booking, Bookings, ConversationKey, JournalTurn, Reservation, TurnJournal};

use super::journal::{JournalPorts, customer, finish, tenant, turn, turn_of};

const LEASE: std::time::Duration = std::time::Duration::from_secs(60);

fn other_tenant() -> TenantRef {
    TenantRef::new("other", "shop").expect("valid ids")
}

/// Turn `id` of `number`'s SMS conversation with `t`.
fn turn_with(t: &TenantRef, number: &str, id: &str, secs: i64) -> JournalTurn {
    let base = turn_of(number, id, secs);
    let customer = base.conversation.customer.clone();
    JournalTurn {
        conversation: ConversationKey {
            id: ConversationId::derive(t, Channel::Sms, &customer),
            tenant: t.clone(),
            channel: Channel::Sms,
            customer,
        },
        key: comms_core::ports::turn_key(t, Channel::Sms, id),
        ..base
    }
}

async fn takeover_at_claim(j: &dyn TurnJournal, t: &JournalTurn) -> Option<jiff::Timestamp> {
    match j.begin(t, LEASE).await.expect("begin") {
        Begin::Claimed(c) => {
            j.release(t, c.token).await.expect("release");
            c.takeover_until
        }
        other => panic!("not claimed: {other:?}"),
    }
}

/// A takeover is set and ended on the header, read back by `get` and by the next claim
/// (no other call), and refused (nothing written) for a conversation that does not exist
/// or is another tenant's.
pub async fn takeover_is_read_by_the_claim(ports: JournalPorts) {
    let (j, log) = (ports.journal.as_ref(), ports.log.as_ref());
    let first = turn("SMown1", 0);
    let id = first.conversation.id.clone();
    let until = jiff::Timestamp::from_second(4_102_444_800).expect("2100");
    assert!(!log.set_takeover(&tenant(), &id, Some(until)).await.expect("set"), "no conversation yet");
    assert!(log.get(&id).await.expect("get").is_none(), "a refused takeover creates nothing");
    finish(j, &first, "hello").await;
    assert_eq!(log.get(&id).await.expect("get").expect("header").takeover_until, None);

    assert!(!log.set_takeover(&other_tenant(), &id, Some(until)).await.expect("set"), "not theirs");
    assert_eq!(log.get(&id).await.expect("get").expect("header").takeover_until, None);
    assert!(log.set_takeover(&tenant(), &id, Some(until)).await.expect("set"));
    let header = log.get(&id).await.expect("get").expect("header");
    assert_eq!(header.takeover_until, Some(until));
    assert!(header.taken_over(jiff::Timestamp::now()));
    let second = turn("SMown2", 10);
    assert_eq!(takeover_at_claim(j, &second).await, Some(until));
    let others = turn_of("+14155550999", "SMown3", 10);
    assert_eq!(takeover_at_claim(j, &others).await, None, "only that conversation");

    finish(j, &second, "stored under takeover").await;
    assert_eq!(
        log.get(&id).await.expect("get").expect("header").takeover_until,
        Some(until),
        "a turn keeps it"
    );

    assert!(!log.set_takeover(&other_tenant(), &id, None).await.expect("hand back"), "not theirs");
    assert_eq!(log.get(&id).await.expect("get").expect("header").takeover_until, Some(until));
    assert!(log.set_takeover(&tenant(), &id, None).await.expect("hand back"));
    assert_eq!(log.get(&id).await.expect("get").expect("header").takeover_until, None);
    assert_eq!(takeover_at_claim(j, &turn("SMown4", 20)).await, None);
}

/// Search matches digits of the customer's number or a case-insensitive text of the
/// conversation, by recency, within the tenant asked for (every tenant's for `None`).
pub async fn search_by_number_or_text_per_tenant(ports: JournalPorts) {
    let (j, log) = (ports.journal.as_ref(), ports.log.as_ref());
    let screen = turn("SMs1", 0);
    finish(j, &screen, "My iPhone SCREEN is cracked").await;
    let battery = turn_of("+14155550777", "SMs2", 10);
    finish(j, &battery, "battery swap please").await;
    let theirs = turn_with(&other_tenant(), "+14155550888", "SMs3", 20);
    finish(j, &theirs, "is my iphone screen ready").await;

    let ids = |found: Vec<comms_core::ports::ConversationSummary>| {
        found.into_iter().map(|c| c.conversation_id).collect::<Vec<_>>()
    };
    let mine = Some(tenant());
    let hits = ids(log.search(mine.as_ref(), "iphone screen", 10).await.expect("search"));
    assert_eq!(hits, std::slice::from_ref(&screen.conversation.id));
    let hits = ids(log.search(mine.as_ref(), "0777", 10).await.expect("search"));
    assert_eq!(hits, std::slice::from_ref(&battery.conversation.id));
    let hits = ids(log.search(mine.as_ref(), &customer().as_str()[2..9], 10).await.expect("search"));
    assert_eq!(hits, [battery.conversation.id.clone(), screen.conversation.id.clone()], "by recency");
    assert!(log.search(mine.as_ref(), "0888", 10).await.expect("search").is_empty(), "not theirs");
    assert!(log.search(mine.as_ref(), "nothing like it", 10).await.expect("search").is_empty());
    let everyone = ids(log.search(None, "IPHONE", 10).await.expect("search"));
    assert_eq!(everyone, [theirs.conversation.id.clone(), screen.conversation.id.clone()]);
    assert_eq!(log.search(mine.as_ref(), "", 10).await.expect("search").len(), 2, "empty: all of mine");
    assert_eq!(log.search(None, "iphone", 1).await.expect("search").len(), 1, "limited");
}

fn booking(t: &TenantRef, date: &str, time: &str, number: &str, suffix: &str) -> Booking {
    Booking {
        tenant: t.clone(),
        date: date.parse().expect("date"),
        time: comms_core::tools::schedule::parse_time(time).expect("time"),
        lead_id: format!("LEAD-20990105-100000-{suffix}"),
        customer_name: "Ann".into(),
        phone: PhoneNumber::parse(number).expect("number"),
        service: "screen".into(),
        conversation_id: None,
        created_at: jiff::Timestamp::now(),
    }
}

fn leads(found: &[Booking]) -> Vec<&str> {
    found.iter().map(|b| b.lead_id.as_str()).collect()
}

/// Upcoming bookings by date and time; live leads newest first; a cancel frees the slot
/// once, and only the tenant's own booking can be cancelled.
pub async fn bookings_are_listed_and_cancelled_per_tenant(store: &dyn Bookings) {
    let (mine, theirs) = (tenant(), other_tenant());
    let late = booking(&mine, "2099-01-05", "15:00", "+14155550001", "AAA001");
    store.reserve(&late).await.expect("reserve");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let next_day = booking(&mine, "2099-01-06", "09:00", "+14155550002", "AAA002");
    store.reserve(&next_day).await.expect("reserve");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let early = booking(&mine, "2099-01-05", "10:00", "+14155550003", "AAA003");
    store.reserve(&early).await.expect("reserve");
    let other = booking(&theirs, "2099-01-05", "15:00", "+14155550004", "BBB001");
    store.reserve(&other).await.expect("reserve");

    let day = "2099-01-05".parse().expect("date");
    assert_eq!(
        leads(&store.upcoming(&mine, day, 2).await.expect("upcoming")),
        ["LEAD-20990105-100000-AAA003", "LEAD-20990105-100000-AAA001", "LEAD-20990105-100000-AAA002"]
    );
    assert_eq!(store.upcoming(&mine, day, 1).await.expect("upcoming").len(), 2);
    assert_eq!(
        leads(&store.leads(&mine, 10).await.expect("leads")),
        ["LEAD-20990105-100000-AAA003", "LEAD-20990105-100000-AAA002", "LEAD-20990105-100000-AAA001"]
    );
    assert_eq!(store.leads(&mine, 1).await.expect("leads").len(), 1);

    assert_eq!(store.cancel(&theirs, &late.lead_id).await.expect("cancel"), None, "not theirs");
    assert_eq!(store.upcoming(&mine, day, 1).await.expect("upcoming").len(), 2);
    assert_eq!(store.cancel(&mine, &late.lead_id).await.expect("cancel"), Some(late.clone()));
    assert_eq!(store.cancel(&mine, &late.lead_id).await.expect("cancel"), None, "once");
    assert_eq!(store.cancel(&mine, "LEAD-unknown").await.expect("cancel"), None);
    assert_eq!(leads(&store.on_date(&mine, day).await.expect("on date")), ["LEAD-20990105-100000-AAA003"]);
    assert_eq!(store.leads(&mine, 10).await.expect("leads").len(), 2);
    assert_eq!(leads(&store.leads(&theirs, 10).await.expect("leads")), ["LEAD-20990105-100000-BBB001"]);

    let again = booking(&mine, "2099-01-05", "15:00", "+14155550005", "AAA004");
    assert_eq!(
        store.reserve(&again).await.expect("reserve"),
        Reservation::Created(again.clone()),
        "slot freed"
    );
}
