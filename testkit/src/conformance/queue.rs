//! The queue port's conformance suite. Every check expects a fresh, empty store configured
//! with `max_receive_count = 3`; `open` returns a new handle onto that same store (a new
//! connection or client), so reopening can be tested. The checks drive both queue ports
//! of the adapter: the message path ([`Queues`]) and dead-letter administration
//! ([`DeadLetters`]), on one handle.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use comms_core::domain::Channel;
use comms_core::ports::{DeadLetters, DlqFilter, OutgoingMessage, Queues, ReceivedMessage};
use comms_core::retry::Classify;

/// Both queue ports of one adapter.
pub trait QueuePorts: Queues + DeadLetters {}

impl<T: Queues + DeadLetters + ?Sized> QueuePorts for T {}

/// Opens a handle onto the store under test.
pub type Open<'a> = &'a (dyn Fn() -> Arc<dyn QueuePorts> + Sync);

const CH: Channel = Channel::Sms;
const SEC: Duration = Duration::from_secs(1);

fn msg(body: &str) -> OutgoingMessage {
    OutgoingMessage {
        body: body.to_owned(),
        attributes: BTreeMap::from([
            ("kind".to_owned(), "inbound".to_owned()),
            ("trace_id".to_owned(), body.to_owned()),
        ]),
    }
}

/// What is sent comes back with its body, attributes and a receive count of 1.
pub async fn send_then_receive_round_trips(open: Open<'_>) {
    let q = open();
    let id = q.send(CH, msg("hello")).await.expect("send");
    let got = q.receive(CH, 10, 30 * SEC).await.expect("receive");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].message_id, id);
    assert_eq!(got[0].body, "hello");
    assert_eq!(got[0].attributes, msg("hello").attributes);
    assert_eq!(got[0].receive_count, 1);
    assert!(
        q.receive(Channel::Voice, 10, 30 * SEC).await.expect("receive").is_empty(),
        "channels are separate queues"
    );
}

/// A received message is hidden until its visibility timeout passes, then comes back.
pub async fn visibility_hides_a_message(open: Open<'_>) {
    let q = open();
    q.send(CH, msg("a")).await.expect("send");
    let first = q.receive(CH, 10, SEC).await.expect("receive");
    assert_eq!(first.len(), 1);
    assert!(
        q.receive(CH, 10, SEC).await.expect("receive").is_empty(),
        "in flight message was delivered twice"
    );
    let stats = q.stats(CH).await.expect("stats");
    assert_eq!((stats.depth, stats.in_flight), (0, 1));
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let again = q.receive(CH, 10, 30 * SEC).await.expect("receive");
    assert_eq!(again.len(), 1, "message did not reappear after its timeout");
    assert_eq!(again[0].receive_count, 2);
    assert_ne!(again[0].receipt, first[0].receipt, "a new receive must get a new receipt");
}

/// Changing visibility extends the hiding (a heartbeat); zero releases the message.
pub async fn change_visibility_extends_and_releases(open: Open<'_>) {
    let q = open();
    q.send(CH, msg("a")).await.expect("send");
    let got = q.receive(CH, 1, SEC).await.expect("receive");
    q.change_visibility(CH, &got[0].receipt, 3 * SEC).await.expect("extend");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(q.receive(CH, 1, SEC).await.expect("receive").is_empty(), "extension did not hold the message");
    q.change_visibility(CH, &got[0].receipt, Duration::ZERO).await.expect("release");
    assert_eq!(q.receive(CH, 1, 30 * SEC).await.expect("receive").len(), 1, "released message not visible");
}

/// A deleted message never comes back.
pub async fn delete_removes_for_good(open: Open<'_>) {
    let q = open();
    q.send(CH, msg("a")).await.expect("send");
    let got = q.receive(CH, 1, SEC).await.expect("receive");
    q.delete(CH, &got[0].receipt).await.expect("delete");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(q.receive(CH, 10, SEC).await.expect("receive").is_empty());
    assert_eq!(q.stats(CH).await.expect("stats"), Default::default());
}

/// Received `max_receive_count` (3) times without delete, a message goes to the DLQ with
/// its recorded failure, and is no longer delivered.
pub async fn repeated_receives_dead_letter(open: Open<'_>) {
    let q = open();
    let id = q.send(CH, msg("poison")).await.expect("send");
    for n in 1..=3 {
        let got = q.receive(CH, 1, Duration::ZERO).await.expect("receive");
        assert_eq!(got.len(), 1, "receive {n}");
        assert_eq!(got[0].receive_count, n);
        q.record_failure(CH, &got[0].message_id, "model returned 500").await.expect("record");
    }
    assert!(q.receive(CH, 10, Duration::ZERO).await.expect("receive").is_empty(), "delivered a 4th time");
    let stats = q.stats(CH).await.expect("stats");
    assert_eq!((stats.depth, stats.in_flight, stats.dlq_depth), (0, 0, 1));
    let dead = q.dlq_list(CH, 10).await.expect("list");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, "poison");
    assert_eq!(dead[0].attributes, msg("poison").attributes);
    assert!(dead[0].reason.as_deref().unwrap_or("").contains("model returned 500"), "{:?}", dead[0].reason);
    let _ = id;
}

/// Replay moves dead letters back with body and attributes intact; purge empties the DLQ.
pub async fn dlq_replay_and_purge(open: Open<'_>) {
    let q = open();
    for body in ["one", "two"] {
        q.send(CH, msg(body)).await.expect("send");
    }
    for _ in 0..3 {
        assert_eq!(q.receive(CH, 10, Duration::ZERO).await.expect("receive").len(), 2);
    }
    assert!(q.receive(CH, 10, Duration::ZERO).await.expect("receive").is_empty());
    assert_eq!(q.stats(CH).await.expect("stats").dlq_depth, 2);

    assert_eq!(q.dlq_replay(CH, 1).await.expect("replay"), 1);
    let back = q.receive(CH, 10, 30 * SEC).await.expect("receive");
    assert_eq!(back.len(), 1);
    assert!(["one", "two"].contains(&back[0].body.as_str()));
    assert_eq!(back[0].attributes, msg(&back[0].body).attributes);
    assert_eq!(back[0].receive_count, 1, "a replayed message starts a fresh count");

    assert_eq!(q.dlq_purge(CH).await.expect("purge"), 1);
    assert_eq!(q.stats(CH).await.expect("stats").dlq_depth, 0);
}

/// A permanent failure is dead-lettered at once, with its reason.
pub async fn dead_letter_moves_at_once(open: Open<'_>) {
    let q = open();
    q.send(CH, msg("v9 envelope")).await.expect("send");
    let got = q.receive(CH, 1, 30 * SEC).await.expect("receive");
    q.dead_letter(CH, &got[0], "unsupported envelope version 9").await.expect("dead letter");
    let dead = q.dlq_list(CH, 10).await.expect("list");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].reason.as_deref(), Some("unsupported envelope version 9"));
    assert_eq!(dead[0].body, "v9 envelope");
    assert_eq!(dead[0].attributes, msg("v9 envelope").attributes, "internal attributes leaked or lost");
    assert_eq!(q.stats(CH).await.expect("stats").in_flight, 0);
}

/// Listing the DLQ (as `dlq list`, `peek` and `replay --dry-run` do) changes nothing it
/// reports: the receive count and first receive stay those of the failed deliveries.
pub async fn dlq_listing_does_not_change_it(open: Open<'_>) {
    let q = open();
    q.send(CH, msg("poison")).await.expect("send");
    for _ in 0..3 {
        let got = q.receive(CH, 1, Duration::ZERO).await.expect("receive");
        q.record_failure(CH, &got[0].message_id, "model returned 500").await.expect("record");
    }
    assert!(q.receive(CH, 10, Duration::ZERO).await.expect("receive").is_empty());
    let first = q.dlq_list(CH, 10).await.expect("list");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].receive_count, 3, "the three failed deliveries, not the listing");
    for n in 2..=4 {
        let again = q.dlq_list(CH, 10).await.expect("list");
        assert_eq!(again.len(), 1, "listing {n}");
        assert_eq!(again[0].receive_count, first[0].receive_count, "listing {n} changed the receive count");
        assert_eq!(again[0].first_received_at, first[0].first_received_at, "listing {n} reset first seen");
        assert_eq!(again[0].reason, first[0].reason);
    }
    assert_eq!(q.stats(CH).await.expect("stats").dlq_depth, 1);
}

/// Replay takes a filter: by reason (substring) or by message id; what does not match
/// stays dead-lettered with its reason, and listings still show it unchanged.
pub async fn dlq_replay_filters(open: Open<'_>) {
    let q = open();
    for body in ["poison", "outage", "other"] {
        q.send(CH, msg(body)).await.expect("send");
    }
    let got = q.receive(CH, 10, 30 * SEC).await.expect("receive");
    assert_eq!(got.len(), 3);
    for m in &got {
        let reason = match m.body.as_str() {
            "poison" => "unreadable envelope: expected value",
            "outage" => "model temporarily unavailable: 503",
            _ => "model temporarily unavailable: timeout",
        };
        q.dead_letter(CH, m, reason).await.expect("dead letter");
    }
    let before = q.dlq_list(CH, 10).await.expect("list");
    assert_eq!(before.len(), 3);

    let nothing = DlqFilter { reason_contains: Some("no such reason".into()), ..Default::default() };
    assert_eq!(q.dlq_replay_matching(CH, 10, &nothing).await.expect("replay"), 0);
    let by_reason =
        DlqFilter { reason_contains: Some("temporarily unavailable".into()), ..Default::default() };
    assert_eq!(q.dlq_replay_matching(CH, 1, &by_reason).await.expect("replay"), 1, "--limit applies");
    assert_eq!(q.dlq_replay_matching(CH, 10, &by_reason).await.expect("replay"), 1);
    let back = q.receive(CH, 10, 30 * SEC).await.expect("receive");
    let mut bodies: Vec<&str> = back.iter().map(|m| m.body.as_str()).collect();
    bodies.sort_unstable();
    assert_eq!(bodies, ["other", "outage"]);

    let left = q.dlq_list(CH, 10).await.expect("list");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].body, "poison");
    assert_eq!(left[0].reason.as_deref(), Some("unreadable envelope: expected value"));
    let poison = before.iter().find(|d| d.body == "poison").expect("poison listed");
    assert_eq!(left[0].receive_count, poison.receive_count, "passing it over changed its count");

    let wrong_id = DlqFilter { message_id: Some("not-an-id".into()), ..Default::default() };
    assert_eq!(q.dlq_replay_matching(CH, 10, &wrong_id).await.expect("replay"), 0);
    let by_id = DlqFilter { message_id: Some(left[0].message_id.clone()), ..Default::default() };
    assert_eq!(q.dlq_replay_matching(CH, 10, &by_id).await.expect("replay"), 1);
    assert_eq!(q.stats(CH).await.expect("stats").dlq_depth, 0);
}

/// A receive, retried (a few times) when it fails transiently: an adapter may answer a
/// transient error under load (moto's server sometimes answers 500 to concurrent
/// receives), which its callers retry; the checks here are about what is delivered.
async fn receive_retrying(q: &dyn QueuePorts, max: usize, visibility: Duration) -> Vec<ReceivedMessage> {
    let mut attempt = 0;
    loop {
        match q.receive(CH, max, visibility).await {
            Ok(got) => return got,
            Err(e) if attempt < 5 && e.disposition().is_retry() => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("receive: {e:?}"),
        }
    }
}

async fn race_receivers(open: Open<'_>, total: usize) -> Vec<String> {
    let q = open();
    for i in 0..total {
        q.send(CH, msg(&format!("m{i}"))).await.expect("send");
    }
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let q = open();
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                let got = receive_retrying(q.as_ref(), 3, 60 * SEC).await;
                if got.is_empty() {
                    break;
                }
                seen.extend(got.into_iter().map(|m| m.message_id));
            }
            seen
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("receiver task"));
    }
    all
}

/// Receivers racing on one queue get every message between them (every adapter: at
/// least once).
pub async fn concurrent_receivers_get_every_message(open: Open<'_>) {
    let total = 40;
    let all = race_receivers(open, total).await;
    let unique: BTreeSet<_> = all.iter().collect();
    assert_eq!(unique.len(), total, "a message was never delivered");
}

/// Receivers racing on one queue never hold the same message at the same time, and
/// between them get every message. Only for adapters that promise exclusive delivery
/// (the embedded queue); SQS standard queues may, rarely, deliver a message twice, which
/// the turn claim makes harmless.
pub async fn concurrent_receivers_never_share(open: Open<'_>) {
    let total = 40;
    let all = race_receivers(open, total).await;
    let unique: BTreeSet<_> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "a message was held by two receivers");
    assert_eq!(all.len(), total);
}

/// Dropping a handle without any shutdown (a crash) and opening a new one loses nothing:
/// waiting messages are still there, and in-flight ones reappear after their timeout.
pub async fn reopen_after_crash_loses_nothing(open: Open<'_>) {
    let q = open();
    q.send(CH, msg("waiting")).await.expect("send");
    q.send(CH, msg("in flight")).await.expect("send");
    let held = q.receive(CH, 1, SEC).await.expect("receive");
    assert_eq!(held.len(), 1);
    // Leak the handle: no destructor, no orderly close, as if the process died.
    std::mem::forget(q);

    let q = open();
    let stats = q.stats(CH).await.expect("stats");
    assert_eq!(stats.depth + stats.in_flight, 2, "{stats:?}");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let got = q.receive(CH, 10, 30 * SEC).await.expect("receive");
    let bodies: BTreeSet<_> = got.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, BTreeSet::from(["waiting", "in flight"]));
}

/// Only for adapters whose receive waits for a message (long polling), opened so that it
/// waits far longer than this test runs (an hour) and re-checks as rarely: a receive
/// already waiting when a message is sent through the same handle returns it, so the send
/// woke it rather than a poll or the end of the wait.
pub async fn a_waiting_receive_is_woken_by_a_send(open: Open<'_>) {
    let q = open();
    let receiver = Arc::clone(&q);
    let waiting = tokio::spawn(async move { receiver.receive(CH, 10, 30 * SEC).await });
    // Gives the receive time to find the queue empty and wait (were it slower, it would
    // find the message on its first look and the check would prove less, not fail).
    tokio::time::sleep(Duration::from_millis(200)).await;
    q.send(CH, msg("wake up")).await.expect("send");
    // A guard against hanging for the hour, not a timing assertion.
    let got = tokio::time::timeout(Duration::from_secs(300), waiting)
        .await
        .expect("the send did not wake the waiting receive")
        .expect("receiver task")
        .expect("receive");
    let bodies: Vec<_> = got.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["wake up"]);
}
