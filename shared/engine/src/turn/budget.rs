//! What a turn's model calls use and cost, and the tenant's monthly budget
//! (docs/decisions.md, "Usage and budgets").
//!
//! Each call's usage is gathered while the reply is composed and staged as one `Usage`
//! item with the turn's other items: it is stored, and added to the month's totals, by
//! the write that stores them (the `Sending` step), so a model call counts once. A
//! crash (or a failure) before that write leaves the attempt's calls uncounted: they were
//! billed, but the redelivery calls the model again and only its calls are stored.
//!
//! Before calling the model, a turn of a tenant with `ai.monthly_budget_usd` reads the
//! month's total (through the engine's short-lived cache: no store call on a warm turn).
//! At or over the budget the customer gets `ai.over_budget_message` instead, and the
//! owner is told once a month: a direct SMS with the id `budget:{company}:{project}:{month}`
//! (a redelivery or a second process enqueues the same send, sent once), then the month
//! is marked so later turns do not enqueue it again.

use comms_core::domain::tenant::TenantConfig;
use comms_core::domain::{Author, Channel, Envelope, Kind, Usd};
use comms_core::ports::{
    ChatReply, ConversationItem, ItemContent, ModelCall, OutgoingMessage, Usage, usage_month,
};

use super::compose::{Composed, fit_reply, inbound_item, note_item};
use super::lease::Held;
use super::{Engine, TurnError, owner};

/// What the customer is told past the budget when the tenant set no message.
pub const OVER_BUDGET_MESSAGE: &str =
    "Thanks for your message. We can't reply automatically right now; we'll get back to you personally soon.";

/// Why a conversation the tenant starts is not started past the budget.
pub(super) const OVER_BUDGET: &str = "over the monthly AI budget";

/// The usage of a turn's model calls, gathered as they are made.
#[derive(Debug, Default)]
pub(super) struct Meter(Vec<Usage>);

impl Meter {
    /// Notes what `reply`'s call used (a model that reports nothing is not metered).
    pub(super) fn record(&mut self, reply: &ChatReply) {
        if let Some(usage) = &reply.usage {
            self.0.push(usage.clone());
        }
    }

    /// The turn's usage item, each call priced by the engine's table (`None`: no call
    /// reported usage).
    fn item(self, engine: &Engine, env: &Envelope) -> Option<ConversationItem> {
        if self.0.is_empty() {
            return None;
        }
        let prices = &engine.settings.prices;
        let calls: Vec<ModelCall> =
            self.0.into_iter().map(|usage| ModelCall { cost_usd: prices.cost(&usage), usage }).collect();
        for call in calls.iter().filter(|c| c.cost_usd.is_none()) {
            tracing::warn!(model = %call.usage.model, "no price for this model: its cost is unknown (COMMS_PRICES_FILE)");
        }
        Some(ConversationItem {
            item_id: format!("{}:usage", owner::journal_id(env)),
            at: jiff::Timestamp::now(),
            content: ItemContent::Usage { calls },
        })
    }
}

impl Engine {
    /// The reply of a turn that asks the model: the tenant's fixed message past its
    /// budget (no model call), else the model's, with the usage item staged with it.
    pub(super) async fn compose(
        &self,
        tenant: &std::sync::Arc<TenantConfig>,
        env: &Envelope,
        key: &Held,
    ) -> Result<Composed, TurnError> {
        // A conversation the tenant starts was checked before (`initiate_over_budget`).
        if env.kind() != Kind::Initiate
            && let Some(spent) = self.over_budget(tenant).await
        {
            return Ok(self.over_budget_reply(tenant, env, spent).await);
        }
        let mut meter = Meter::default();
        let (reply, template, mut items) = match env.kind() {
            Kind::Initiate => self.compose_opening(tenant, env, &mut meter).await?,
            _ => self.converse(tenant, env, &key.window().await, &mut meter).await?,
        };
        items.extend(meter.item(self, env));
        Ok((reply, template, items))
    }

    /// Whether a conversation the tenant starts must wait: the budget is spent (the
    /// owner is told once a month). The opening is the model's to write, and a fixed
    /// "we cannot answer" makes no first message.
    pub(super) async fn initiate_over_budget(&self, tenant: &TenantConfig, env: &Envelope) -> bool {
        let Some(spent) = self.over_budget(tenant).await else { return false };
        self.tell_owner_once(tenant, env, spent).await;
        true
    }

    /// What the tenant spent this month, if that reached its budget (no budget: `None`,
    /// nothing read). A failed read lets the turn go on (logged): the budget is a brake
    /// on a runaway bill, not a reason to leave customers unanswered.
    async fn over_budget(&self, tenant: &TenantConfig) -> Option<Usd> {
        let budget = tenant.ai.monthly_budget_usd?;
        let month = usage_month(jiff::Timestamp::now());
        match self.ports.usage.month(&tenant.tenant, &month).await {
            Ok(usage) if usage.totals.cost_usd >= budget => Some(usage.totals.cost_usd),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the month's usage: budget not checked");
                None
            }
        }
    }

    /// The fixed over-budget reply, with the customer's message and a note; the owner is
    /// told (once a month).
    async fn over_budget_reply(&self, tenant: &TenantConfig, env: &Envelope, spent: Usd) -> Composed {
        let text = tenant.ai.over_budget_message.as_deref().unwrap_or(OVER_BUDGET_MESSAGE);
        let budget = tenant.ai.monthly_budget_usd.unwrap_or_default();
        let note = format!("no model call: {OVER_BUDGET} ({spent} spent of {budget})");
        tracing::info!(%spent, %budget, "over the monthly AI budget: fixed reply");
        self.tell_owner_once(tenant, env, spent).await;
        (fit_reply(tenant, env.channel, text), None, vec![inbound_item(env), note_item(env, &note)])
    }

    /// Tells the owner, by SMS to `handoff.notify_number`, that the month's budget is
    /// spent, unless the month is marked as told. Enqueue first, mark second: a crash in
    /// between enqueues the same send again (one id, sent once). No number (or no SMS
    /// number to send from): logged once a month.
    async fn tell_owner_once(&self, tenant: &TenantConfig, env: &Envelope, spent: Usd) {
        let now = jiff::Timestamp::now();
        let month = usage_month(now);
        let (usage, t) = (&self.ports.usage, &tenant.tenant);
        if usage.month(t, &month).await.is_ok_and(|u| u.budget_notified) {
            return;
        }
        let from = match env.channel {
            Channel::Sms => env.business_number().phone().cloned(),
            _ => tenant.numbers.get(&Channel::Sms).and_then(|n| n.first().cloned()),
        };
        let sent = match (tenant.handoff.notify_number.clone(), from) {
            (Some(owner), Some(from)) => {
                let budget = tenant.ai.monthly_budget_usd.unwrap_or_default();
                let text = format!(
                    "{}: the assistant reached this month's AI budget ({spent} of {budget}). Customers get the \
                     fixed over-budget reply until the month ends or the budget (ai.monthly_budget_usd) is raised.",
                    tenant.company_name
                );
                let id = format!("budget:{}:{}:{month}", t.company_id, t.project_id);
                let direct =
                    Envelope::direct(t.clone(), Channel::Sms, from, owner, id, text, Author::System, now);
                let message = OutgoingMessage { body: direct.to_json(), attributes: direct.attributes("") };
                match self.ports.queues.send(Channel::Sms, message).await {
                    Ok(_) => true,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not enqueue the owner's budget notification");
                        return;
                    }
                }
            }
            _ => false,
        };
        match usage.mark_budget_notified(t, &month).await {
            Ok(true) if !sent => tracing::warn!(
                "over the monthly AI budget, and the owner cannot be told: no handoff.notify_number (or no SMS number)"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not mark the budget notification"),
        }
    }
}
