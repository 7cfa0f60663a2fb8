//! The conversation turn (design §5), effectively once under at-least-once delivery:
//! claim the turn on its conversation → model with tools → store the items with
//! `Sending` → send → store the reply with `Done`. Each step is recorded in the turn
//! journal (on the conversation's header), so a redelivery resumes where the last
//! attempt stopped, an ambiguous send is reconciled with the provider before any resend,
//! and the turns of one conversation run one at a time, in order.
//!
//! This module holds the engine and the resume loop; the steps are in `compose` (the
//! model, tools and templates), `prompt` (the system messages, laid out for prompt
//! caching), `text` (sending SMS and WhatsApp), `email` and `email_text` (sending a
//! mail, never twice), `voice` (speaking into a live call) and
//! `error` (why a turn failed).

mod budget;
mod compose;
mod email;
mod email_text;
mod error;
mod lease;
mod media;
mod owner;
mod prompt;
mod text;
mod voice;

use std::sync::Arc;
use std::time::Duration;

use comms_core::domain::pricing::PriceTable;
use comms_core::domain::tenant::{ProjectStatus, TenantConfig};
use comms_core::domain::{Channel, Envelope, Kind, TenantRef};
use comms_core::ports::{
    Bookings, CallControl, ChatModel, ConsentStore, ConversationItem, ConversationKey, ConversationLog,
    JournalTurn, Ledger, Messenger, OwnerStateStore, Queues, SecretStore, Stores, TenantDirectory,
    TurnJournal, TurnStep, UsageLedger, turn_key,
};
use comms_core::secure::UNSUBSCRIBE_KEY_SECRET;

pub use budget::OVER_BUDGET_MESSAGE;
pub use compose::template_variables;
pub use error::TurnError;
pub use prompt::{context, instructions, system_messages, system_prompt};

use compose::{inbound_item, note_item};
use lease::{Held, LeaseRenewal};

/// What a successful turn did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Replied,
    /// A redelivery of a turn that had already finished: nothing done.
    AlreadyDone,
    /// Finished without a reply, with why (opted out, project paused).
    Suppressed(String),
    /// Finished, the reply perhaps sent and perhaps not (an email send that timed out):
    /// noted in the conversation, never sent again. With what the note says.
    Unknown(String),
}

/// Knobs of the turn.
#[derive(Debug, Clone)]
pub struct TurnSettings {
    /// The business clock the model loop reads (the prompt's date and time, the owner's
    /// state, the tools' "now"); `None` is the wall clock. `comms eval` fixes it, so a
    /// scenario's off-hours or GYM-mode turn is the same on every run.
    pub business_now: Option<jiff::Timestamp>,
    /// Conversation items given to the model as history.
    pub history_items: usize,
    /// Waiting budget for retries of one model or send call.
    pub retry_budget: Duration,
    /// How long a claim holds before another delivery may take over. Set it to the
    /// queue's visibility timeout: the turn renews it every half lease while it runs (as
    /// the heartbeat renews the visibility), so a holder that died leaves at most about
    /// half a lease when its record reappears, and the redelivery waits that out in
    /// process instead of spending a receive (docs/decisions.md, "Crash safety").
    pub lease: Duration,
    /// What model calls cost: the built-in table merged with the configured one.
    pub prices: PriceTable,
    /// Public base URL for Twilio status callbacks (`{base}/twilio/status`), and of an
    /// email's unsubscribe link (`{base}/email/unsubscribe?t=...`).
    pub status_callback_base: Option<String>,
    /// Name of the secret that signs unsubscribe links (read on email turns only).
    pub unsubscribe_key_secret: String,
}

impl Default for TurnSettings {
    fn default() -> Self {
        Self {
            business_now: None,
            history_items: 20,
            retry_budget: Duration::from_secs(20),
            lease: Duration::from_secs(30),
            prices: PriceTable::builtin(),
            status_callback_base: None,
            unsubscribe_key_secret: UNSUBSCRIBE_KEY_SECRET.to_owned(),
        }
    }
}

/// The SMS turn, on its ports.
pub struct Engine {
    ports: EnginePorts,
    pub settings: TurnSettings,
}

/// The ports an [`Engine`] is built from.
pub struct EnginePorts {
    /// Read on every turn: on a networked backend, put the cache in front of it
    /// ([`Stores::with_engine_tenant_cache`]).
    pub tenants: Arc<dyn TenantDirectory>,
    /// Claims, steps and items of turns, on the conversation's header.
    pub journal: Arc<dyn TurnJournal>,
    pub owner_state: Arc<dyn OwnerStateStore>,
    pub bookings: Arc<dyn Bookings>,
    pub ledger: Arc<dyn Ledger>,
    /// Records Twilio's 21610 (unsubscribed at the carrier) as an opt-out; the store
    /// also flags the customer's conversation headers, which the journal checks.
    pub consent: Arc<dyn ConsentStore>,
    pub chat: Arc<dyn ChatModel>,
    pub messenger: Arc<dyn Messenger>,
    /// Live-call updates (the voice channel's answers).
    pub calls: Arc<dyn CallControl>,
    /// The conversation log and the queues: `request_human` sets a takeover and
    /// enqueues the owner's notification.
    pub conversations: Arc<dyn ConversationLog>,
    pub queues: Arc<dyn Queues>,
    /// The deployment's secrets: the unsubscribe-link key, read on email turns only.
    pub secrets: Arc<dyn SecretStore>,
    /// The month's usage (the budget check; cached on a networked backend).
    pub usage: Arc<dyn UsageLedger>,
}

impl EnginePorts {
    /// The engine's ports: the storage ports of `stores` (one backend's composition
    /// root), with the given model, messenger and call control.
    pub fn new(
        stores: &Stores,
        chat: Arc<dyn ChatModel>,
        messenger: Arc<dyn Messenger>,
        calls: Arc<dyn CallControl>,
    ) -> Self {
        Self {
            tenants: Arc::clone(&stores.tenants),
            journal: Arc::clone(&stores.journal),
            owner_state: Arc::clone(&stores.owner_state),
            bookings: Arc::clone(&stores.bookings),
            ledger: Arc::clone(&stores.ledger),
            consent: Arc::clone(&stores.consent),
            chat,
            messenger,
            calls,
            conversations: Arc::clone(&stores.conversations),
            queues: Arc::clone(&stores.queues),
            secrets: Arc::clone(&stores.secrets) as Arc<dyn SecretStore>,
            usage: Arc::clone(&stores.usage),
        }
    }
}

/// What a step led to: the next step, or the end of the turn.
enum Next {
    Step(TurnStep),
    Finished(Outcome),
}

impl Engine {
    /// An engine on these ports.
    pub fn new(ports: EnginePorts, settings: TurnSettings) -> Self {
        Self { ports, settings }
    }

    /// Handles one queue body (no delivery facts: no trace id, no queue wait).
    pub async fn handle(&self, body: &str) -> Result<Outcome, TurnError> {
        self.handle_delivery(body, &Delivery::default()).await
    }

    /// Handles one queue body as delivered: its `turn` span carries the router's trace
    /// id, and the turn's outcome and queue wait are recorded as metrics.
    pub async fn handle_delivery(&self, body: &str, delivery: &Delivery) -> Result<Outcome, TurnError> {
        let envelope = match Envelope::parse(body) {
            Ok(envelope) => envelope,
            Err(e) => {
                let result = Err(TurnError::from(e));
                record_turn("unknown", &result);
                return result;
            }
        };
        let span = tracing::info_span!(
            "turn",
            id = %envelope.id,
            tenant = %envelope.tenant,
            conversation = %envelope.conversation_id.redacted(),
            trace_id = delivery.trace_id.as_deref().unwrap_or(""),
        );
        let channel = envelope.channel.as_str();
        if let Some(sent_at) = delivery.sent_at {
            let wait = jiff::Timestamp::now().duration_since(sent_at).unsigned_abs();
            metrics::histogram!(comms_core::metrics::QUEUE_WAIT_MS, "channel" => channel)
                .record(comms_core::metrics::ms(wait));
        }
        let result = match envelope.kind() {
            Kind::Inbound | Kind::Initiate | Kind::VoiceTurn | Kind::Direct => {
                tracing::Instrument::instrument(self.turn(&envelope), span.clone()).await
            }
        };
        record_turn(channel, &result);
        let _guard = span.enter();
        match &result {
            Ok(outcome) => tracing::info!(?outcome, "turn finished"),
            Err(e) => {
                tracing::warn!(error = %comms_core::redact::redact_digit_runs(&e.reason()), "turn failed")
            }
        }
        result
    }

    /// The tenant's configuration (cached, if at all, by the tenant directory itself).
    async fn tenant(&self, t: &TenantRef) -> Result<Arc<TenantConfig>, TurnError> {
        let cfg = self.ports.tenants.get(t).await?;
        Ok(Arc::new(cfg.ok_or_else(|| TurnError::permanent(format!("unknown tenant {t}")))?))
    }

    async fn turn(&self, env: &Envelope) -> Result<Outcome, TurnError> {
        let tenant = self.tenant(&env.tenant).await?;
        let turn = JournalTurn {
            conversation: ConversationKey::of(env),
            key: turn_key(&env.tenant, env.channel, &owner::journal_id(env)),
            received_at: env.received_at,
            history: self.settings.history_items,
        };
        let asked = std::time::Instant::now();
        let Some(claim) = self.claim(&turn).await? else { return Ok(Outcome::AlreadyDone) };
        let step = claim.step.clone();
        let held = Held::new(turn, claim, asked);
        // Renew the lease while the turn runs; stops when the turn ends (or the process
        // dies, after which the lease runs out within one lease).
        let renewal = LeaseRenewal::start(Arc::clone(&self.ports.journal), &held, self.settings.lease);
        let result = self.resume(&tenant, env, &held, step).await;
        drop(renewal);
        match &result {
            // Another attempt took the turn over and finishes it: nothing to give up.
            Err(e) if e.is_lease_lost() => tracing::warn!("turn taken over by another attempt: stopped"),
            // This attempt gave up: let the next delivery (or the conversation's next
            // turn) go on without waiting out the lease. (A permanent failure has
            // already recorded its Done step.)
            Err(_) => {
                if let Err(e) = self.ports.journal.release(&held.turn, held.token).await {
                    tracing::warn!(error = %e, "could not release turn lease");
                }
            }
            Ok(_) => {}
        }
        result
    }

    /// Runs the turn from `step` to its end, one recorded step at a time.
    async fn resume(
        &self,
        tenant: &Arc<TenantConfig>,
        env: &Envelope,
        key: &Held,
        mut step: TurnStep,
    ) -> Result<Outcome, TurnError> {
        let (voice, email) = (env.channel == Channel::Voice, env.channel == Channel::Email);
        loop {
            let next = match step {
                TurnStep::Started => self.start(tenant, env, key).await?,
                TurnStep::ReplyReady { reply, template } if email => {
                    self.send_email(key, tenant, env, reply, template).await?
                }
                TurnStep::Sending { .. } if email => Next::Finished(self.email_not_resent(key, env).await?),
                TurnStep::ReplyReady { reply, .. } if voice => {
                    Next::Step(self.speak(key, tenant, env, reply).await?)
                }
                TurnStep::ReplyReady { reply, template } => {
                    Next::Step(self.send(key, tenant, env, reply, template, Vec::new()).await?)
                }
                TurnStep::Sending { .. } if voice => Next::Finished(self.not_repeated(key, env).await?),
                TurnStep::Sending { reply, template, at } => {
                    Next::Step(self.reconcile_and_send(key, tenant, env, reply, template, at).await?)
                }
                TurnStep::Sent { reply, provider_ids } => {
                    Next::Finished(self.finish(key, env, reply, provider_ids).await?)
                }
                TurnStep::Done { .. } => Next::Finished(Outcome::AlreadyDone),
            };
            step = match next {
                Next::Step(s) => s,
                Next::Finished(outcome) => return Ok(outcome),
            };
        }
    }

    /// The first step: suppressed (opted out, project paused), or the reply composed
    /// (its items staged for the `Sending` write).
    async fn start(&self, tenant: &Arc<TenantConfig>, env: &Envelope, key: &Held) -> Result<Next, TurnError> {
        if let Some(reason) = self.suppressed(tenant, env, key).await {
            let mut items = vec![note_item(env, &format!("no reply: {reason}"))];
            if env.kind() == Kind::Inbound {
                items.insert(0, inbound_item(env));
            }
            key.stage(items);
            self.advance(key, &TurnStep::Done { outcome: format!("suppressed: {reason}") }).await?;
            return Ok(Next::Finished(Outcome::Suppressed(reason.into())));
        }
        let (reply, template, items) = match env.kind() {
            Kind::Direct => owner::direct_reply(tenant, env)?,
            Kind::Initiate | Kind::Inbound | Kind::VoiceTurn => self.compose(tenant, env, key).await?,
        };
        // Not stored: `send` stores the items with `Sending` before anything goes out, in
        // one write conditioned on the opt-out; a crash before it re-runs the model.
        key.stage(items);
        Ok(Next::Step(TurnStep::ReplyReady { reply, template }))
    }

    /// Why no reply may be made, if so.
    async fn suppressed(&self, tenant: &TenantConfig, env: &Envelope, key: &Held) -> Option<&'static str> {
        // A caller on a live call is answered whatever their texting opt-out.
        let opted_out = env.channel != Channel::Voice && key.opted_out_at_claim().await;
        if opted_out {
            Some("recipient opted out")
        } else if tenant.project_status != ProjectStatus::Active {
            Some("project is not active")
        } else if owner::held_by_owner(env, key).await {
            Some(owner::TAKEN_OVER)
        } else if env.kind() == Kind::Initiate && self.initiate_over_budget(tenant, env).await {
            Some(budget::OVER_BUDGET)
        } else {
            None
        }
    }

    /// The reply went out: stored in the conversation, and the turn done.
    async fn finish(
        &self,
        key: &Held,
        env: &Envelope,
        reply: String,
        provider_ids: Vec<String>,
    ) -> Result<Outcome, TurnError> {
        let item = ConversationItem {
            item_id: format!("{}:reply", owner::journal_id(env)),
            at: jiff::Timestamp::now(),
            content: owner::reply_content(env, reply, provider_ids),
        };
        key.stage(vec![item]);
        self.advance(key, &TurnStep::Done { outcome: "replied".into() }).await?;
        Ok(Outcome::Replied)
    }
}

/// What the queue says about a delivery, beyond its body.
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    /// The router's `trace_id` message attribute: the same id is on the request's logs.
    pub trace_id: Option<String>,
    /// When the message was enqueued (SQS `SentTimestamp`).
    pub sent_at: Option<jiff::Timestamp>,
}

/// Counts a turn by channel and outcome.
fn record_turn(channel: &'static str, result: &Result<Outcome, TurnError>) {
    let outcome = match result {
        Ok(Outcome::Replied) => "replied",
        Ok(Outcome::AlreadyDone) => "already_done",
        Ok(Outcome::Suppressed(_)) => "suppressed",
        Ok(Outcome::Unknown(_)) => "unknown",
        Err(e) if e.is_lease_lost() => "taken_over",
        Err(e) if e.is_permanent() => "failed",
        Err(_) => "retry",
    };
    metrics::counter!(comms_core::metrics::TURNS, "channel" => channel, "outcome" => outcome).increment(1);
}
