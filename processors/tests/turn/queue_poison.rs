//! A malformed record on the email queue, next to a good mail, through the in-process
//! worker (`comms serve`'s): the mail is answered once, the record is dead-lettered with
//! its reason (the SMS queue's poison tests, metrics.rs and aws.rs, for email).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use comms_core::domain::{Channel, Envelope};
use comms_core::ports::OutgoingMessage;
use comms_engine::worker::WorkerSettings;

use crate::email_helpers::{customer_mail, email_world};
use crate::helpers::{drain, fast_worker};
use crate::stubs::{ModelStep, OpenAiStub};

#[tokio::test]
async fn a_malformed_record_on_the_email_queue_is_dead_lettered_with_its_reason() {
    let openai = OpenAiStub::start(vec![]).await;
    openai.always(ModelStep::Text("Yes, bring it in at 3pm."));
    let w = email_world(openai, Duration::from_secs(5)).await;
    // A good mail as the router queued it, then two records no engine can read.
    let good = w.receive_mail(&customer_mail("poison-good-1@mail.gmail.com", "Screen", "Today?")).await;
    let attributes = Envelope::parse(&good).unwrap().attributes("t");
    w.stores.queues.send(Channel::Email, OutgoingMessage { body: good, attributes }).await.unwrap();
    for body in ["not an envelope", "{\"v\":1,\"channel\":\"email\"}"] {
        let poison = OutgoingMessage { body: body.into(), attributes: BTreeMap::new() };
        w.stores.queues.send(Channel::Email, poison).await.unwrap();
    }

    let settings = WorkerSettings { channel: Channel::Email, ..fast_worker() };
    let (queues, stats) = (Arc::clone(&w.stores.queues), Arc::clone(&w.stores.dead_letters));
    drain(queues, stats, Arc::clone(&w.engine), settings, Duration::from_secs(20)).await;

    assert_eq!(w.sendgrid.accepted().len(), 1, "the good mail answered once: {:?}", w.sendgrid.requests());
    let mut dead = w.stores.dead_letters.dlq_list(Channel::Email, 10).await.unwrap();
    dead.sort_by(|a, b| a.body.cmp(&b.body));
    let bodies: Vec<&str> = dead.iter().map(|d| d.body.as_str()).collect();
    assert_eq!(bodies, ["not an envelope", "{\"v\":1,\"channel\":\"email\"}"]);
    for d in &dead {
        let reason = d.reason.as_deref().unwrap_or_default();
        assert!(reason.contains("envelope"), "the reason says why: {reason}");
        assert_eq!(d.receive_count, 1, "dead-lettered at once, not retried: {d:?}");
    }
    let left = w.stores.dead_letters.stats(Channel::Email).await.unwrap();
    assert_eq!(left.depth + left.in_flight, 0);
}
