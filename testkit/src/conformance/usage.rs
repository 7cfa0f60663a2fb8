//! Conformance suite of the usage totals ([`UsageLedger`]), kept by the turn journal's
//! own writes: a step's new items add to the tenant's month on the conversation's
//! channel in the same write (a refused or fenced write adds nothing), the month sums
//! the channels, the report lists them, and the budget notification is marked once.
//! Each check expects an empty store.

use std::sync::Arc;
use std::time::Duration;

use comms_core::domain::{Channel, ConversationId, TenantRef, Usd};
use comms_core::ports::{
    ConsentAction, ConsentStore, ConversationItem, ItemContent, JournalTurn, ModelCall, Recorded, StoreError,
    TurnClaim, TurnJournal, TurnStep, TurnWrite, Usage, UsageLedger, UsageTotals, usage_month,
};

use super::journal::{claimed, customer, tenant, turn};

/// The ports a usage check uses: the journal that writes the totals, the ledger that
/// reads them, and the consent store (a refused write).
#[derive(Clone)]
pub struct UsagePorts {
    pub journal: Arc<dyn TurnJournal>,
    pub usage: Arc<dyn UsageLedger>,
    pub consent: Arc<dyn ConsentStore>,
}

const LEASE: Duration = Duration::from_secs(60);

fn call(model: &str, input: u64, cached: u64, output: u64, cost: Option<u64>) -> ModelCall {
    let usage = Usage {
        model: model.into(),
        input_tokens: input,
        cached_input_tokens: cached,
        output_tokens: output,
    };
    ModelCall { usage, cost_usd: cost.map(Usd::from_micros) }
}

fn item(t: &JournalTurn, suffix: &str, content: ItemContent) -> ConversationItem {
    let id = t.key.rsplit(':').next().unwrap_or_default();
    ConversationItem { item_id: format!("{id}:{suffix}"), at: t.received_at, content }
}

fn usage_item(t: &JournalTurn, calls: Vec<ModelCall>) -> ConversationItem {
    item(t, "usage", ItemContent::Usage { calls })
}

fn reply(t: &JournalTurn, text: &str) -> ConversationItem {
    item(t, "reply", ItemContent::Reply { text: text.into(), provider_ids: vec!["SM1".into()] })
}

async fn write(
    j: &dyn TurnJournal,
    t: &JournalTurn,
    c: &mut TurnClaim,
    items: &[ConversationItem],
    step: TurnStep,
) -> Result<Recorded, StoreError> {
    j.record(t, c, TurnWrite { items, step: &step, unless_opted_out: true }, LEASE).await
}

fn sending() -> TurnStep {
    TurnStep::Sending { reply: "r".into(), template: None, at: jiff::Timestamp::now() }
}

fn done() -> TurnStep {
    TurnStep::Done { outcome: "replied".into() }
}

/// Runs turn `t`: its usage item with `Sending`, then `reply_text` with `Done`.
async fn run_turn(j: &dyn TurnJournal, t: &JournalTurn, calls: Vec<ModelCall>, reply_text: &str) {
    let mut c = claimed(j, t, LEASE).await;
    assert_eq!(
        write(j, t, &mut c, &[usage_item(t, calls)], sending()).await.expect("sending"),
        Recorded::Stored
    );
    write(j, t, &mut c, &[reply(t, reply_text)], done()).await.expect("done");
}

fn whatsapp(mut t: JournalTurn) -> JournalTurn {
    t.conversation.channel = Channel::Whatsapp;
    t.conversation.id = ConversationId::derive(&tenant(), Channel::Whatsapp, &customer());
    t.key = t.key.replace(":sms:", ":whatsapp:");
    t
}

/// Usage and replies add to the month per channel; a fenced or refused write adds
/// nothing; the month sums the channels and the report lists them.
pub async fn steps_add_to_the_months_totals(ports: UsagePorts) {
    let j = ports.journal.as_ref();
    let month = usage_month(jiff::Timestamp::now());
    let two_segments = "x".repeat(200);
    let calls = vec![call("gpt-4o-mini", 1000, 400, 50, Some(120)), call("mystery-model", 10, 0, 5, None)];
    run_turn(j, &turn("SMu1", 0), calls, &two_segments).await;
    run_turn(j, &whatsapp(turn("SMu2", 1)), vec![call("gpt-4o", 100, 0, 10, Some(350))], "hi").await;

    // Fenced: an old claim's write adds nothing.
    let t = turn("SMu3", 2);
    let mut old = claimed(j, &t, Duration::ZERO).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut new = claimed(j, &t, LEASE).await;
    let big = vec![call("gpt-4o", 1_000_000, 0, 0, Some(2_500_000))];
    let stale = write(j, &t, &mut old, &[usage_item(&t, big.clone())], sending()).await;
    assert!(matches!(stale, Err(StoreError::LeaseLost)), "{stale:?}");
    // Refused: the customer opted out before the send.
    let now = jiff::Timestamp::now();
    ports.consent.record(&tenant(), &customer(), ConsentAction::OptOut, "STOP", now).await.expect("stop");
    let refused = write(j, &t, &mut new, &[usage_item(&t, big)], sending()).await.expect("record");
    assert_eq!(refused, Recorded::OptedOut);

    let sms = UsageTotals {
        turns: 1,
        model_calls: 2,
        input_tokens: 1010,
        cached_input_tokens: 400,
        output_tokens: 55,
        cost_usd: Usd::from_micros(120),
        unpriced_calls: 1,
        messages: 1,
        sms_segments: 2,
    };
    let wa = UsageTotals {
        turns: 1,
        model_calls: 1,
        input_tokens: 100,
        output_tokens: 10,
        cost_usd: Usd::from_micros(350),
        messages: 1,
        ..Default::default()
    };
    let rows = ports.usage.report(Some(&tenant()), &month).await.expect("report");
    let got: Vec<(Channel, &str, UsageTotals)> =
        rows.iter().map(|r| (r.channel, r.month.as_str(), r.totals)).collect();
    assert_eq!(got, vec![(Channel::Sms, month.as_str(), sms), (Channel::Whatsapp, month.as_str(), wa)]);
    assert!(rows.iter().all(|r| r.tenant == tenant()));
    let mut both = sms;
    both += wa;
    assert_eq!(ports.usage.month(&tenant(), &month).await.expect("month").totals, both);
    let all = ports.usage.report(None, &month).await.expect("every tenant");
    assert_eq!(all, rows, "one tenant in the store");
    assert!(ports.usage.report(None, "9999-01").await.expect("later").is_empty());
    let other = TenantRef::new("other", "shop").expect("ids");
    assert!(ports.usage.month(&other, &month).await.expect("other").totals.is_zero());
}

/// The month's budget notification is marked once per tenant and month.
pub async fn the_budget_notification_is_marked_once(ports: UsagePorts) {
    let u = ports.usage.as_ref();
    let month = usage_month(jiff::Timestamp::now());
    assert!(!u.month(&tenant(), &month).await.expect("month").budget_notified);
    assert!(u.mark_budget_notified(&tenant(), &month).await.expect("mark"));
    assert!(!u.mark_budget_notified(&tenant(), &month).await.expect("again"));
    assert!(u.month(&tenant(), &month).await.expect("month").budget_notified);
    assert!(!u.month(&tenant(), "2020-01").await.expect("another month").budget_notified);
    let other = TenantRef::new("other", "shop").expect("ids");
    assert!(u.mark_budget_notified(&other, &month).await.expect("other tenant"));
    assert!(u.report(Some(&tenant()), &month).await.expect("report").is_empty(), "a mark is no usage row");
}
