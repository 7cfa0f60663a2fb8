//! A holder that stalls past its lease while another delivery takes the turn over: the
//! claim's fencing token stops it, so the customer gets exactly one reply.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use comms_core::ports::{
    Begin, JournalTurn, Recorded, StoreError, TurnClaim, TurnJournal, TurnStep, TurnWrite,
};
use comms_engine::turn::{Outcome, TurnSettings};

use crate::helpers::{Harness, envelope, harness_with_journal};
use crate::stubs::{ModelStep, OpenAiStub};

const LEASE: Duration = Duration::from_secs(1);

/// The turn journal as a stalled process sees it: the first claim's renewals (its
/// heartbeat, and its check before a send) arrive `renewals` late, as under load, and
/// the process stalls for `after_sending` once it has stored its `Sending` step.
struct StalledFirstHolder {
    inner: Arc<dyn TurnJournal>,
    renewals: Duration,
    after_sending: Duration,
}

#[async_trait]
impl TurnJournal for StalledFirstHolder {
    async fn begin(&self, turn: &JournalTurn, lease: Duration) -> Result<Begin, StoreError> {
        self.inner.begin(turn, lease).await
    }

    async fn record(
        &self,
        turn: &JournalTurn,
        claim: &mut TurnClaim,
        write: TurnWrite<'_>,
        lease: Duration,
    ) -> Result<Recorded, StoreError> {
        let recorded = self.inner.record(turn, claim, write, lease).await?;
        if claim.token == 1 && matches!(write.step, TurnStep::Sending { .. }) {
            tokio::time::sleep(self.after_sending).await;
        }
        Ok(recorded)
    }

    async fn renew(&self, turn: &JournalTurn, token: u32, lease: Duration) -> Result<(), StoreError> {
        if token == 1 {
            tokio::time::sleep(self.renewals).await;
        }
        self.inner.renew(turn, token, lease).await
    }

    async fn release(&self, turn: &JournalTurn, token: u32) -> Result<(), StoreError> {
        self.inner.release(turn, token).await
    }
}

async fn stalling_harness(openai: OpenAiStub, renewals: Duration, after_sending: Duration) -> Harness {
    let settings = TurnSettings { lease: LEASE, retry_budget: Duration::from_secs(1), ..Default::default() };
    let stalled =
        |inner| Arc::new(StalledFirstHolder { inner, renewals, after_sending }) as Arc<dyn TurnJournal>;
    harness_with_journal(openai, settings, stalled).await
}

/// Delivers `body` again and again (as the queue would) until a delivery succeeds.
async fn redeliver_until_handled(h: &Harness, body: &str) -> Outcome {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match h.engine.handle(body).await {
            Ok(outcome) => return outcome,
            Err(e) if !e.is_permanent() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the redelivery failed: {}", e.reason()),
        }
    }
}

#[tokio::test]
async fn a_holder_whose_model_outlasts_its_lease_stops_at_its_next_write() {
    let openai = OpenAiStub::start(vec![]).await;
    openai.always(ModelStep::Text("Your phone is ready."));
    // Longer than the lease, and the stalled holder's heartbeat never lands in time.
    openai.delay(Duration::from_millis(2500));
    let h = stalling_harness(openai, Duration::from_secs(30), Duration::ZERO).await;
    let body = envelope("SM00000000000000000000000000000f01", "is it ready?").to_json();

    let engine = Arc::clone(&h.engine);
    let stale_body = body.clone();
    let stale = tokio::spawn(async move { engine.handle(&stale_body).await });
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(redeliver_until_handled(&h, &body).await, Outcome::Replied);

    let e = stale.await.unwrap().expect_err("the stale holder must stop");
    assert!(e.is_lease_lost(), "{}", e.reason());
    assert!(!e.is_permanent(), "a lost lease is not dead-lettered: {}", e.reason());
    assert_eq!(h.twilio.created().len(), 1, "exactly one reply");
    assert_eq!(h.openai.requests().len(), 2, "both holders ran the model");
}

#[tokio::test]
async fn a_holder_that_stalls_right_before_its_send_sends_nothing() {
    let openai = OpenAiStub::start(vec![]).await;
    openai.always(ModelStep::Text("Your phone is ready."));
    // The model is quick: the stale holder stores `Sending`, then stalls (its heartbeat
    // too) while the redelivery takes over, reconciles and sends; when it wakes up its
    // lease check before the send finds the claim taken over.
    let h = stalling_harness(openai, Duration::from_secs(3), Duration::from_secs(2)).await;
    let body = envelope("SM00000000000000000000000000000f02", "is it ready?").to_json();

    let engine = Arc::clone(&h.engine);
    let stale_body = body.clone();
    let stale = tokio::spawn(async move { engine.handle(&stale_body).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(redeliver_until_handled(&h, &body).await, Outcome::Replied);

    let e = stale.await.unwrap().expect_err("the stale holder must not send");
    assert!(e.is_lease_lost(), "{}", e.reason());
    assert_eq!(h.twilio.created().len(), 1, "exactly one reply");
}
