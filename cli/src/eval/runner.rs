//! Runs one scenario through the real engine: a scratch SQLite store in a temporary
//! folder, the scenario's tenant and owner state, the outbox as messenger, the business
//! clock fixed at the scenario's `now`; each customer message is handled as the router
//! and the SMS processor would (a carrier keyword records consent; anything else is an
//! inbound envelope handed to `Engine::handle`). What happened is read back from the
//! conversation log and checked.

use std::sync::Arc;
use std::time::Duration;

use comms_core::domain::pricing::PriceTable;
use comms_core::domain::tenant::TenantConfig;
use comms_core::domain::{
    Address, Channel, ConversationId, Envelope, KindDetail, OwnerMode, OwnerState, PhoneNumber,
};
use comms_core::ports::{Booking, ConsentAction, ConversationItem, ItemContent, Stores};
use comms_engine::turn::{Engine, EnginePorts, Outcome, TurnSettings};
use comms_sqlite::{Db, QueueSettings, SqliteOutbox};
use serde_json::Value;

use super::check::{ObservedCall, TurnObserved, Verdict, check};
use super::model::{Metered, ModelChoice, Spend};
use super::scenario::{Scenario, merge_patch};
use super::stub::ScriptedModel;
use crate::CliResult;
use crate::demo::DEMO_TENANT_JSON;

/// The customer every scenario texts from.
const CUSTOMER: &str = "+15555550142";

/// What one scenario did and how it fared.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScenarioRun {
    pub name: String,
    pub description: String,
    pub turns: Vec<TurnObserved>,
    pub verdicts: Vec<Verdict>,
    /// The model calls the engine made: tokens and cost.
    pub spend: Spend,
}

impl ScenarioRun {
    /// Whether every expectation held.
    pub fn passed(&self) -> bool {
        self.verdicts.iter().all(|v| v.passed)
    }
}

/// Runs `scenario` against `model`, its calls priced by `prices`.
pub async fn run(scenario: &Scenario, model: &ModelChoice, prices: &PriceTable) -> CliResult<ScenarioRun> {
    let folder = tempfile::tempdir()?;
    let db = Db::open(&folder.path().join("comms.db"))?;
    let stores = comms_sqlite::stores(&db, QueueSettings::default());
    let tenant = setup(scenario, &stores).await?;
    let stub = match model {
        ModelChoice::Stub => {
            Some(ScriptedModel::start(scenario.turns.iter().flat_map(|t| t.script.clone()).collect()).await?)
        }
        _ => None,
    };
    let chat =
        Arc::new(Metered::new(model.build(stub.as_ref().map(|s| s.base_url.as_str()))?, prices.clone()));
    let outbox = Arc::new(SqliteOutbox::new(db.clone()));
    let settings = TurnSettings {
        business_now: Some(scenario.now),
        retry_budget: Duration::from_secs(5),
        ..TurnSettings::default()
    };
    let ports = EnginePorts::new(&stores, chat.clone(), outbox.clone(), outbox);
    let engine = Engine::new(ports, settings);
    let mut turns = Vec::new();
    for (i, turn) in scenario.turns.iter().enumerate() {
        let message = Message { id: format!("SM{:032x}", i + 1), text: &turn.customer, tenant: &tenant };
        turns.push(message.handle(&engine, &stores).await?);
    }
    let mut verdicts = Vec::new();
    for (i, (turn, seen)) in scenario.turns.iter().zip(&turns).enumerate() {
        verdicts.extend(check(&turn.expect, &format!("turn {}", i + 1), &[seen]));
    }
    verdicts.extend(check(&scenario.expect, "conversation", &turns.iter().collect::<Vec<_>>()));
    if let Some(stub) = &stub {
        verdicts.push(script_used(stub));
    }
    Ok(ScenarioRun {
        name: scenario.name.clone(),
        description: scenario.description.clone(),
        turns,
        verdicts,
        spend: chat.spend(),
    })
}

/// The scenario's tenant stored, with the owner's state.
async fn setup(scenario: &Scenario, stores: &Stores) -> CliResult<TenantConfig> {
    let mut json: Value = serde_json::from_str(DEMO_TENANT_JSON)?;
    if !scenario.tenant.patch.is_null() {
        merge_patch(&mut json, &scenario.tenant.patch);
    }
    let tenant = TenantConfig::from_json(&json.to_string())
        .map_err(|e| format!("scenario {}: tenant.patch makes an invalid tenant: {e}", scenario.name))?;
    stores.tenants.put(&tenant).await?;
    if let Some(owner) = &scenario.tenant.owner_state {
        let state = OwnerState {
            mode: OwnerMode::from(owner.mode.clone()),
            location: None,
            notes: owner.notes.clone(),
            until: owner.until,
            updated_at: scenario.now,
        };
        stores.owner_state.set(&tenant.tenant, &state).await?;
    }
    for (i, b) in scenario.tenant.bookings.iter().enumerate() {
        let booking = Booking {
            tenant: tenant.tenant.clone(),
            date: b.date,
            time: b.time,
            lead_id: format!("LEAD-20260101-000000-SEED{i:02}"),
            customer_name: b.customer_name.clone(),
            phone: PhoneNumber::parse(&b.phone)?,
            service: b.service.clone(),
            conversation_id: None,
            created_at: scenario.now,
        };
        stores.bookings.reserve(&booking).await?;
    }
    Ok(tenant)
}

/// In stub mode, the script must be used exactly: a step left over or a request past
/// the end means the scenario's script and the engine disagree.
fn script_used(stub: &ScriptedModel) -> Verdict {
    let (answered, left, overrun) = stub.progress();
    let why = match (left, overrun) {
        (0, 0) => None,
        (left, 0) => Some(format!("{left} script step(s) never asked for ({answered} used)")),
        (_, over) => Some(format!("the engine asked {over} more time(s) than the script has steps")),
    };
    Verdict {
        scope: "conversation".into(),
        expectation: "stub script replayed exactly".into(),
        passed: why.is_none(),
        why,
    }
}

/// One customer message of a scenario.
struct Message<'a> {
    id: String,
    text: &'a str,
    tenant: &'a TenantConfig,
}

impl Message<'_> {
    /// Handles the message as the router and the processor would, and reads back what
    /// its turn stored.
    async fn handle(&self, engine: &Engine, stores: &Stores) -> CliResult<TurnObserved> {
        let customer: Address = PhoneNumber::parse(CUSTOMER)?.into();
        let tenant = &self.tenant.tenant;
        let mut seen = TurnObserved { customer: self.text.to_owned(), ..TurnObserved::default() };
        if let Some(action) = ConsentAction::from_keyword(self.text) {
            let keyword = self.text.trim().to_ascii_uppercase();
            stores.consent.record(tenant, &customer, action, &keyword, jiff::Timestamp::now()).await?;
            seen.note = Some(format!("carrier keyword {keyword}: consent recorded, no turn"));
            return Ok(seen);
        }
        let business = self
            .tenant
            .numbers
            .get(&Channel::Sms)
            .and_then(|n| n.first())
            .ok_or("the scenario's tenant has no SMS number")?;
        let envelope = Envelope {
            id: self.id.clone(),
            conversation_id: ConversationId::derive(tenant, Channel::Sms, &customer),
            tenant: tenant.clone(),
            channel: Channel::Sms,
            from: customer,
            to: business.clone().into(),
            body: self.text.to_owned(),
            received_at: jiff::Timestamp::now(),
            detail: KindDetail::inbound(0),
        };
        match engine.handle(&envelope.to_json()).await {
            Ok(Outcome::Suppressed(why)) => seen.note = Some(format!("suppressed: {why}")),
            Ok(_) => {}
            Err(e) => seen.note = Some(format!("turn failed: {}", e.reason())),
        }
        let items = stores.conversations.items(&envelope.conversation_id, 10_000).await?;
        let own = format!("{}:", self.id);
        observe(&mut seen, items.iter().filter(|i| i.item_id.starts_with(&own)));
        Ok(seen)
    }
}

/// Fills in the reply and the tool calls (with their results) from the turn's items.
fn observe<'a>(seen: &mut TurnObserved, items: impl Iterator<Item = &'a ConversationItem>) {
    let items: Vec<&ConversationItem> = items.collect();
    for item in &items {
        match &item.content {
            ItemContent::Reply { text, .. } => seen.reply = Some(text.clone()),
            ItemContent::ToolCall { call } => {
                let result = items.iter().find_map(|i| match &i.content {
                    ItemContent::ToolResult { call_id, result, .. } if call_id == &call.id => {
                        Some(serde_json::from_str(result).unwrap_or(Value::String(result.clone())))
                    }
                    _ => None,
                });
                seen.calls.push(ObservedCall {
                    name: call.name.clone(),
                    args: serde_json::from_str(&call.arguments)
                        .unwrap_or(Value::String(call.arguments.clone())),
                    result: result.unwrap_or(Value::Null),
                });
            }
            _ => {}
        }
    }
}
