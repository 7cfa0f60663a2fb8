//! Conformance suite of the turn journal ([`TurnJournal`]): claims one conversation at a
//! time, fencing, the opt-out checked in the write before a send, finished turns
//! recognised (after their eviction from the header too), the bounded window, idempotent
//! items, and headers from before the journal. Each check expects an empty store.

use std::sync::Arc;
use std::time::Duration;

use comms_core::domain::{Address, Channel, ConversationId, TenantRef};
use comms_core::ports::{
    Begin, ConsentAction, ConsentStore, ConversationItem, ConversationKey, ConversationLog, FINISHED_MAX,
    ItemContent, JournalTurn, Recorded, StoreError, TurnClaim, TurnJournal, TurnStep, TurnWrite,
    WINDOW_MAX_BYTES,
};

/// The ports a journal check uses: the journal, and the consent store and conversation
/// log of the same backend.
#[derive(Clone)]
pub struct JournalPorts {
    pub journal: Arc<dyn TurnJournal>,
    pub consent: Arc<dyn ConsentStore>,
    pub log: Arc<dyn ConversationLog>,
}

const LEASE: Duration = Duration::from_secs(60);

pub fn customer() -> Address {
    Address::parse("+14155550123").expect("valid number")
}

pub fn tenant() -> TenantRef {
    TenantRef::new("demo", "repair-shop").expect("valid ids")
}

/// Turn `id` of the customer's SMS conversation, received `secs` after 2030-01-01.
pub fn turn(id: &str, secs: i64) -> JournalTurn {
    turn_of(customer().as_str(), id, secs)
}

/// Turn `id` of `number`'s SMS conversation, received `secs` after 2030-01-01.
pub fn turn_of(number: &str, id: &str, secs: i64) -> JournalTurn {
    let (t, customer) = (tenant(), Address::parse(number).expect("valid number"));
    JournalTurn {
        conversation: ConversationKey {
            id: ConversationId::derive(&t, Channel::Sms, &customer),
            tenant: t.clone(),
            channel: Channel::Sms,
            customer,
        },
        key: comms_core::ports::turn_key(&t, Channel::Sms, id),
        received_at: jiff::Timestamp::from_second(1_893_456_000 + secs).expect("time"),
        history: 10,
    }
}

fn inbound(t: &JournalTurn, text: &str) -> ConversationItem {
    let id = t.key.rsplit(':').next().unwrap_or_default();
    ConversationItem {
        item_id: format!("{id}:inbound"),
        at: t.received_at,
        content: ItemContent::Inbound { text: text.to_owned(), media: Vec::new() },
    }
}

/// The claim of `t` for `lease`; panics if it is not claimed.
pub async fn claimed(j: &dyn TurnJournal, t: &JournalTurn, lease: Duration) -> TurnClaim {
    match j.begin(t, lease).await.expect("begin") {
        Begin::Claimed(c) => c,
        other => panic!("{} not claimed: {other:?}", t.key),
    }
}

async fn write(
    j: &dyn TurnJournal,
    t: &JournalTurn,
    c: &mut TurnClaim,
    items: &[ConversationItem],
    step: TurnStep,
) -> Result<Recorded, StoreError> {
    j.record(t, c, TurnWrite { items, step: &step, unless_opted_out: false }, LEASE).await
}

fn done() -> TurnStep {
    TurnStep::Done { outcome: "replied".into() }
}

/// Runs turn `t` to its end with its inbound item.
pub async fn finish(j: &dyn TurnJournal, t: &JournalTurn, text: &str) {
    let mut c = claimed(j, t, LEASE).await;
    write(j, t, &mut c, &[inbound(t, text)], done()).await.expect("done");
}

/// Many racing claims of one turn, and of different turns of one conversation: one
/// winner each time, the others busy; the conversation's next turn waits for the one
/// in flight, then sees its items.
pub async fn one_turn_per_conversation(ports: JournalPorts) {
    for (number, same) in [("+14155550001", true), ("+14155550002", false)] {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..6 {
            let j = Arc::clone(&ports.journal);
            let id = if same { "SMrace".to_owned() } else { format!("SMrace{i}") };
            let t = turn_of(number, &id, i);
            tasks.spawn(async move { j.begin(&t, LEASE).await });
        }
        let results = tasks.join_all().await;
        let won = results.iter().filter(|r| matches!(r, Ok(Begin::Claimed(_)))).count();
        let busy =
            results.iter().filter(|r| matches!(r, Ok(Begin::Busy { same_turn, .. }) if *same_turn == same));
        assert_eq!((won, busy.count()), (1, 5), "{results:?}");
    }
    let (first, second) = (turn("SMfirst", 10), turn("SMsecond", 11));
    let mut c = claimed(ports.journal.as_ref(), &first, LEASE).await;
    match ports.journal.begin(&second, LEASE).await.expect("begin") {
        Begin::Busy { lease_left, same_turn: false } => assert!(lease_left <= LEASE && !lease_left.is_zero()),
        other => panic!("the second turn must wait: {other:?}"),
    }
    write(ports.journal.as_ref(), &first, &mut c, &[inbound(&first, "one")], done()).await.expect("done");
    let next = claimed(ports.journal.as_ref(), &second, LEASE).await;
    assert_eq!(next.window, vec![inbound(&first, "one")], "the next turn sees the first");
    assert!(matches!(ports.journal.begin(&first, LEASE).await.expect("begin"), Begin::Done));
}

/// A claim taken over after its lease ran out is fenced: the old holder's writes,
/// renewals and releases are refused and write nothing; the new holder resumes at the
/// last recorded step; a released claim is resumed at once.
pub async fn stale_tokens_are_fenced(ports: JournalPorts) {
    let (j, t) = (ports.journal.as_ref(), turn("SMfence", 0));
    let mut old = claimed(j, &t, Duration::ZERO).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut new = claimed(j, &t, LEASE).await;
    assert_ne!(old.token, new.token);
    let ready = TurnStep::ReplyReady { reply: "hi".into(), template: None };
    let stale = write(j, &t, &mut old, &[inbound(&t, "stale")], ready.clone()).await;
    assert!(matches!(stale, Err(StoreError::LeaseLost)), "{stale:?}");
    assert!(matches!(j.renew(&t, old.token, LEASE).await, Err(StoreError::LeaseLost)));
    assert!(matches!(j.release(&t, old.token).await, Err(StoreError::LeaseLost)));
    assert!(ports.log.recent(&t.conversation.id, 10).await.expect("recent").is_empty(), "nothing written");

    write(j, &t, &mut new, &[inbound(&t, "fresh")], ready.clone()).await.expect("record");
    j.renew(&t, new.token, LEASE).await.expect("renew");
    j.release(&t, new.token).await.expect("release");
    // Released: renewing does not bring it back, and the next claim resumes at once.
    j.renew(&t, new.token, LEASE).await.expect("renew of a released claim");
    let resumed = claimed(j, &t, LEASE).await;
    assert_eq!(resumed.step, ready);
    assert!(resumed.token != new.token && resumed.token != old.token);
}

/// A STOP recorded between the claim and the write before the send refuses that write
/// (nothing stored); the turn then ends suppressed. The next claim knows the opt-out.
pub async fn opt_out_refuses_the_write_before_the_send(ports: JournalPorts) {
    let (j, t) = (ports.journal.as_ref(), turn("SMstop", 0));
    let mut c = claimed(j, &t, LEASE).await;
    assert!(!c.opted_out);
    let now = jiff::Timestamp::now();
    ports.consent.record(&tenant(), &customer(), ConsentAction::OptOut, "STOP", now).await.expect("record");
    let sending = TurnStep::Sending { reply: "hi".into(), template: None, at: now };
    let items = [inbound(&t, "hello")];
    let refused =
        j.record(&t, &mut c, TurnWrite { items: &items, step: &sending, unless_opted_out: true }, LEASE);
    assert_eq!(refused.await.expect("record"), Recorded::OptedOut);
    assert!(ports.log.recent(&t.conversation.id, 10).await.expect("recent").is_empty(), "nothing written");
    let suppressed = TurnStep::Done { outcome: "suppressed".into() };
    write(j, &t, &mut c, &items, suppressed).await.expect("done");
    assert_eq!(ports.log.recent(&t.conversation.id, 10).await.expect("recent").len(), 1);

    let next = claimed(j, &turn("SMafter", 1), LEASE).await;
    assert!(next.opted_out, "the header knows the opt-out");
    ports.consent.record(&tenant(), &customer(), ConsentAction::OptIn, "START", now).await.expect("record");
    let mut wa = turn("SMwa", 2);
    wa.conversation.channel = Channel::Whatsapp;
    wa.conversation.id = ConversationId::derive(&tenant(), Channel::Whatsapp, &customer());
    assert!(!claimed(j, &wa, LEASE).await.opted_out, "START reaches every conversation of the customer");
}

/// Finished turns are recognised by the claim, also once evicted from the header's
/// bounded set; a turn older than the watermark that never ran is claimed.
pub async fn finished_turns_are_recognised(ports: JournalPorts) {
    let j = ports.journal.as_ref();
    let count = FINISHED_MAX + 3;
    for i in 0..count {
        finish(j, &turn(&format!("SMdone{i}"), 100 + i as i64), "hi").await;
    }
    for i in [0, 1, count - 1] {
        let again = j.begin(&turn(&format!("SMdone{i}"), 100 + i as i64), LEASE).await.expect("begin");
        assert_eq!(again, Begin::Done, "turn {i}");
    }
    let late = claimed(j, &turn("SMlate", 50), LEASE).await;
    assert_eq!(late.step, TurnStep::Started);
}

/// The window holds the last `history` items, within [`WINDOW_MAX_BYTES`]; items written
/// twice are stored once.
pub async fn window_is_bounded_and_items_idempotent(ports: JournalPorts) {
    let j = ports.journal.as_ref();
    for i in 0..4 {
        let t = JournalTurn { history: 3, ..turn(&format!("SMw{i}"), i) };
        let mut c = claimed(j, &t, LEASE).await;
        let items = [inbound(&t, &format!("m{i}"))];
        let ready = TurnStep::ReplyReady { reply: "r".into(), template: None };
        write(j, &t, &mut c, &items, ready).await.expect("record");
        write(j, &t, &mut c, &items, done()).await.expect("done");
    }
    let t = JournalTurn { history: 3, ..turn("SMw9", 9) };
    let mut c = claimed(j, &t, LEASE).await;
    let texts: Vec<_> = c.window.iter().map(|i| i.item_id.as_str()).collect();
    assert_eq!(texts, ["SMw1:inbound", "SMw2:inbound", "SMw3:inbound"]);
    write(j, &t, &mut c, &[], done()).await.expect("done");
    assert_eq!(ports.log.recent(&c_id(), 10).await.expect("recent").len(), 4, "each item once");

    let big = "x".repeat(WINDOW_MAX_BYTES / 3);
    for i in 10..14 {
        finish(j, &turn(&format!("SMbig{i}"), i), &big).await;
    }
    let c = claimed(j, &turn("SMbig99", 99), LEASE).await;
    let bytes: usize = c.window.iter().map(|i| serde_json::to_string(i).map_or(0, |s| s.len())).sum();
    assert!(bytes <= WINDOW_MAX_BYTES && c.window.len() == 2, "{} items, {bytes} bytes", c.window.len());
}

fn c_id() -> ConversationId {
    turn("x", 0).conversation.id
}

/// A header from before the journal (written by the conversation log, no opt-out flag)
/// with an opt-out recorded before the journal (`legacy_opt_out`, consent only): the
/// claim reads the consent store, and the conversation works on.
pub async fn legacy_headers_read_the_consent_store<F, Fut>(ports: JournalPorts, legacy_opt_out: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let t = turn("SMlegacy", 0);
    let old = ConversationItem {
        item_id: "SMold:inbound".into(),
        at: t.received_at,
        content: ItemContent::Inbound { text: "old".into(), media: Vec::new() },
    };
    ports.log.append(&t.conversation, std::slice::from_ref(&old)).await.expect("append");
    legacy_opt_out().await;
    let mut c = claimed(ports.journal.as_ref(), &t, LEASE).await;
    assert!(c.opted_out, "the consent store's answer");
    assert_eq!(c.window, vec![old]);
    write(ports.journal.as_ref(), &t, &mut c, &[], done()).await.expect("done");
    assert!(claimed(ports.journal.as_ref(), &turn("SMnext", 1), LEASE).await.opted_out);
}
