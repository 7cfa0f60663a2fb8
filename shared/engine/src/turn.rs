//! The conversation turn (design §5), effectively once under at-least-once delivery:
//! claim the inbound id → model with tools → store the items → send → store the reply.
//! Each step is recorded on the turn record, so a redelivery resumes where the last
//! attempt stopped, and an ambiguous send is reconciled with the provider before any
//! resend.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use comms_core::domain::sms::{fit_to_segments, split_for_twilio};
use comms_core::domain::tenant::{ProjectStatus, TenantConfig};
use comms_core::domain::voice;
use comms_core::domain::{Channel, Envelope, Kind, KindDetail, OwnerState, PhoneNumber, TenantRef};
use comms_core::ports::{
    Bookings, CallControl, CallError, CallUpdate, ChatError, ChatMessage, ChatModel, ChatReply, ChatRequest,
    Claim, ConsentAction, ConsentStore, ConversationItem, ConversationKey, ConversationLog, ItemContent,
    Ledger, Messenger, OutboundText, OwnerStateStore, SendError, SentText, StoreError, Stores,
    TemplateContent, TenantDirectory, TurnStep, TurnStore, turn_key,
};
use comms_core::retry::with_backoff;
use comms_core::tools::{self, ToolContext};
use tokio::task::JoinSet;

/// A turn failed; the kind decides retry or dead letter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TurnError {
    /// Retry later (the queue redelivers).
    #[error("{0}")]
    Transient(String),
    /// Record the reason and dead-letter; retrying cannot help.
    #[error("{0}")]
    Permanent(String),
}

impl From<StoreError> for TurnError {
    fn from(e: StoreError) -> Self {
        // Our storage failing is never the message's fault: retry, then dead-letter.
        TurnError::Transient(format!("storage: {e}"))
    }
}

/// What a successful turn did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Replied,
    /// A redelivery of a turn that had already finished: nothing done.
    AlreadyDone,
    /// Finished without a reply, with why (opted out, project paused).
    Suppressed(String),
}

/// Knobs of the turn.
#[derive(Debug, Clone)]
pub struct TurnSettings {
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
    /// Public base URL for Twilio status callbacks (`{base}/twilio/status`).
    pub status_callback_base: Option<String>,
    /// How long tenant configs are cached.
    pub tenant_cache_ttl: Duration,
}

impl Default for TurnSettings {
    fn default() -> Self {
        Self {
            history_items: 20,
            retry_budget: Duration::from_secs(20),
            lease: Duration::from_secs(30),
            status_callback_base: None,
            tenant_cache_ttl: Duration::from_secs(60),
        }
    }
}

/// The SMS turn, on its ports.
pub struct Engine {
    ports: EnginePorts,
    pub settings: TurnSettings,
    cache: Mutex<HashMap<TenantRef, (Instant, Arc<TenantConfig>)>>,
}

/// The ports an [`Engine`] is built from.
pub struct EnginePorts {
    pub tenants: Arc<dyn TenantDirectory>,
    pub conversations: Arc<dyn ConversationLog>,
    pub turns: Arc<dyn TurnStore>,
    pub owner_state: Arc<dyn OwnerStateStore>,
    pub bookings: Arc<dyn Bookings>,
    pub ledger: Arc<dyn Ledger>,
    pub consent: Arc<dyn ConsentStore>,
    pub chat: Arc<dyn ChatModel>,
    pub messenger: Arc<dyn Messenger>,
    /// Live-call updates (the voice channel's answers).
    pub calls: Arc<dyn CallControl>,
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
            conversations: Arc::clone(&stores.conversations),
            turns: Arc::clone(&stores.turns),
            owner_state: Arc::clone(&stores.owner_state),
            bookings: Arc::clone(&stores.bookings),
            ledger: Arc::clone(&stores.ledger),
            consent: Arc::clone(&stores.consent),
            chat,
            messenger,
            calls,
        }
    }
}

fn chat_error(e: ChatError) -> TurnError {
    match e {
        ChatError::Transient { message, .. } => TurnError::Transient(format!("model: {message}")),
        ChatError::Permanent(m) => TurnError::Permanent(format!("model: {m}")),
    }
}

fn send_error(e: SendError) -> TurnError {
    match e {
        SendError::Retryable { message, .. } => TurnError::Transient(format!("send: {message}")),
        SendError::Ambiguous(m) => TurnError::Transient(format!("send outcome unknown, will reconcile: {m}")),
        SendError::Permanent { code, message } => {
            TurnError::Permanent(format!("send refused ({code}): {message}"))
        }
    }
}

impl Engine {
    /// An engine on these ports.
    pub fn new(ports: EnginePorts, settings: TurnSettings) -> Self {
        Self { ports, settings, cache: Mutex::new(HashMap::new()) }
    }

    /// Handles one queue body.
    pub async fn handle(&self, body: &str) -> Result<Outcome, TurnError> {
        let envelope = Envelope::parse(body).map_err(|e| TurnError::Permanent(e.to_string()))?;
        let span = tracing::info_span!(
            "turn",
            id = %envelope.id,
            tenant = %envelope.tenant,
            conversation = %envelope.conversation_id.redacted(),
        );
        let result = match envelope.kind() {
            Kind::Inbound | Kind::Initiate | Kind::VoiceTurn => {
                tracing::Instrument::instrument(self.turn(&envelope), span.clone()).await
            }
        };
        let _guard = span.enter();
        match &result {
            Ok(outcome) => tracing::info!(?outcome, "turn finished"),
            Err(e) => {
                tracing::warn!(error = %comms_core::redact::redact_digit_runs(&e.to_string()), "turn failed")
            }
        }
        result
    }

    async fn tenant(&self, t: &TenantRef) -> Result<Arc<TenantConfig>, TurnError> {
        let ttl = self.settings.tenant_cache_ttl;
        if let Some((at, cfg)) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(t)
            && at.elapsed() < ttl
        {
            return Ok(Arc::clone(cfg));
        }
        let cfg = self
            .ports
            .tenants
            .get(t)
            .await?
            .ok_or_else(|| TurnError::Permanent(format!("unknown tenant {t}")))?;
        let cfg = Arc::new(cfg);
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(t.clone(), (Instant::now(), Arc::clone(&cfg)));
        Ok(cfg)
    }

    /// One model call, transient failures retried with backoff within the budget.
    async fn ask_model(&self, request: &ChatRequest) -> Result<ChatReply, TurnError> {
        with_backoff(
            self.settings.retry_budget,
            || self.ports.chat.complete(request),
            |e| match e {
                ChatError::Transient { retry_after, .. } => Some(*retry_after),
                ChatError::Permanent(_) => None,
            },
        )
        .await
        .map_err(chat_error)
    }

    async fn advance(&self, key: &str, step: &TurnStep) -> Result<(), TurnError> {
        Ok(self.ports.turns.advance(key, step, self.settings.lease).await?)
    }

    /// Claims the turn. A busy claim whose lease ends within three quarters of a lease is
    /// the claim of a holder that stopped renewing it (it died, or a Lambda timed out):
    /// this delivery waits it out, kept invisible by its heartbeat, and takes over, so a
    /// crash never costs a receive. A lease further off belongs to a live holder (just
    /// claimed or renewed): that is a real overlap, retried later.
    async fn claim(&self, key: &str) -> Result<Option<comms_core::ports::TurnRecord>, TurnError> {
        let lease = self.settings.lease;
        let mut waited = false;
        loop {
            match self.ports.turns.claim(key, lease).await? {
                Claim::Acquired(r) => return Ok(Some(r)),
                Claim::Done(_) => return Ok(None),
                Claim::Busy { lease_left } if !waited && lease_left <= lease * 3 / 4 => {
                    tracing::info!(?lease_left, "turn claimed by an attempt that stopped renewing: waiting");
                    tokio::time::sleep(lease_left + BUSY_MARGIN).await;
                    waited = true;
                }
                Claim::Busy { .. } => {
                    return Err(TurnError::Transient(
                        "another delivery of this message is in progress".into(),
                    ));
                }
            }
        }
    }

    async fn turn(&self, env: &Envelope) -> Result<Outcome, TurnError> {
        let tenant = self.tenant(&env.tenant).await?;
        let key = turn_key(&env.tenant, env.channel, &env.id);
        let Some(record) = self.claim(&key).await? else { return Ok(Outcome::AlreadyDone) };
        // Renew the lease while the turn runs; stops when the turn ends (or the process
        // dies, after which the lease runs out within one lease).
        let renewal = LeaseRenewal::start(Arc::clone(&self.ports.turns), key.clone(), self.settings.lease);
        let result = self.resume(&tenant, env, &key, record.step).await;
        drop(renewal);
        if result.is_err() {
            // This attempt gave up: let the next delivery resume without waiting out
            // the lease. (A permanent failure has already recorded its Done step.)
            if let Err(e) = self.ports.turns.release(&key).await {
                tracing::warn!(error = %e, "could not release turn lease");
            }
        }
        result
    }

    async fn resume(
        &self,
        tenant: &Arc<TenantConfig>,
        env: &Envelope,
        key: &str,
        mut step: TurnStep,
    ) -> Result<Outcome, TurnError> {
        let key = key.to_owned();
        let conv = ConversationKey {
            id: env.conversation_id.clone(),
            tenant: env.tenant.clone(),
            channel: env.channel,
            customer: customer(env).clone(),
        };
        loop {
            step = match step {
                TurnStep::Started => {
                    // A caller on a live call is answered whatever their texting opt-out.
                    let opted_out = env.channel != Channel::Voice
                        && self.ports.consent.is_opted_out(&env.tenant, customer(env)).await?;
                    let suppressed = if opted_out {
                        Some("recipient opted out")
                    } else if tenant.project_status != ProjectStatus::Active {
                        Some("project is not active")
                    } else {
                        None
                    };
                    if let Some(reason) = suppressed {
                        let mut items = vec![note_item(env, &format!("no reply: {reason}"))];
                        if env.kind() == Kind::Inbound {
                            items.insert(0, inbound_item(env));
                        }
                        self.ports.conversations.append(&conv, &items).await?;
                        self.advance(&key, &TurnStep::Done { outcome: format!("suppressed: {reason}") })
                            .await?;
                        return Ok(Outcome::Suppressed(reason.into()));
                    }
                    let (reply, template, items) = match env.kind() {
                        Kind::Initiate => self.compose_opening(tenant, env).await?,
                        _ => {
                            let (reply, items) = self.converse(tenant, env).await?;
                            (reply, None, items)
                        }
                    };
                    self.ports.conversations.append(&conv, &items).await?;
                    // Not stored: `send` stores `Sending` before anything goes out, so a
                    // write here would only cover the opt-out re-check in between (one
                    // AWS call per turn saved; a crash there re-runs the model, whose
                    // items are appended idempotently).
                    TurnStep::ReplyReady { reply, template }
                }
                TurnStep::ReplyReady { reply, .. } if env.channel == Channel::Voice => {
                    self.speak(&key, tenant, env, &conv, reply).await?
                }
                TurnStep::ReplyReady { reply, template } => {
                    self.send(&key, tenant, env, reply, template, Vec::new()).await?
                }
                TurnStep::Sending { .. } if env.channel == Channel::Voice => {
                    // Nothing tells whether the earlier attempt reached the call; saying
                    // the answer twice is worse than not at all (the hold loop ends by
                    // asking the caller to repeat), so a voice answer is at most once.
                    let note = note_item(env, "an earlier attempt may have answered the call; not repeated");
                    self.ports.conversations.append(&conv, &[note]).await?;
                    self.advance(&key, &TurnStep::Done { outcome: "voice answer not repeated".into() })
                        .await?;
                    return Ok(Outcome::AlreadyDone);
                }
                TurnStep::Sending { reply, template, at } => {
                    // The last attempt may have sent some or all parts: look before sending.
                    let found = self
                        .ports
                        .messenger
                        .sent_since(
                            env.channel,
                            &env.tenant,
                            tenant.credentials.twilio.as_deref(),
                            sender(env),
                            customer(env),
                            at,
                        )
                        .await
                        .map_err(send_error)?;
                    tracing::info!(found = found.len(), "reconciled an uncertain send");
                    self.send(&key, tenant, env, reply, template, found).await?
                }
                TurnStep::Sent { reply, provider_ids } => {
                    let item = ConversationItem {
                        item_id: format!("{}:reply", env.id),
                        at: jiff::Timestamp::now(),
                        content: ItemContent::Reply { text: reply, provider_ids },
                    };
                    self.ports.conversations.append(&conv, &[item]).await?;
                    self.advance(&key, &TurnStep::Done { outcome: "replied".into() }).await?;
                    return Ok(Outcome::Replied);
                }
                TurnStep::Done { .. } => return Ok(Outcome::AlreadyDone),
            };
        }
    }

    /// Sends the parts of `reply` not already in `already_sent`; returns the next step.
    async fn send(
        &self,
        key: &str,
        tenant: &TenantConfig,
        env: &Envelope,
        reply: String,
        template: Option<BTreeMap<String, String>>,
        already_sent: Vec<SentText>,
    ) -> Result<TurnStep, TurnError> {
        if self.ports.consent.is_opted_out(&env.tenant, customer(env)).await? {
            let done = TurnStep::Done { outcome: "suppressed: recipient opted out before the send".into() };
            self.advance(key, &done).await?;
            return Ok(done);
        }
        let template = match (template, env.channel) {
            (Some(vars), _) => {
                let wa = tenant.whatsapp.as_ref().ok_or_else(|| {
                    TurnError::Permanent("a template reply needs the tenant's whatsapp settings".into())
                })?;
                Some(TemplateContent { content_sid: wa.template_sid.clone(), variables: vars })
            }
            // WhatsApp allows free text only within 24 hours of the customer's last
            // message; this turn answers that message.
            (None, Channel::Whatsapp)
                if jiff::Timestamp::now().duration_since(env.received_at).unsigned_abs()
                    > WHATSAPP_SESSION =>
            {
                let done =
                    TurnStep::Done { outcome: "not sent: outside the WhatsApp 24-hour session".into() };
                self.advance(key, &done).await?;
                return Err(TurnError::Permanent(
                    "outside the WhatsApp 24-hour session: only templates may be sent".into(),
                ));
            }
            (None, _) => None,
        };
        let mut ids = Vec::new();
        let parts = if template.is_some() { vec![reply.clone()] } else { split_for_twilio(&reply) };
        let sending = TurnStep::Sending {
            reply: reply.clone(),
            template: template.as_ref().map(|t| t.variables.clone()),
            at: jiff::Timestamp::now(),
        };
        self.advance(key, &sending).await?;
        for part in parts {
            if let Some(prev) = already_sent.iter().find(|s| s.body == part && !ids.contains(&s.provider_id))
            {
                ids.push(prev.provider_id.clone());
                continue;
            }
            let text = OutboundText {
                channel: env.channel,
                tenant: env.tenant.clone(),
                credentials: tenant.credentials.twilio.clone(),
                from: sender(env).clone(),
                to: customer(env).clone(),
                body: part,
                template: template.clone(),
                status_callback: self
                    .settings
                    .status_callback_base
                    .as_ref()
                    .map(|b| format!("{b}/twilio/status")),
            };
            // Only "never processed" errors are retried here; an ambiguous one leaves the
            // step at Sending so the next attempt reconciles first.
            let sent = with_backoff(
                self.settings.retry_budget,
                || self.ports.messenger.send(&text),
                |e| match e {
                    SendError::Retryable { retry_after, .. } => Some(*retry_after),
                    _ => None,
                },
            )
            .await;
            match sent {
                Ok(s) => ids.push(s.provider_id),
                Err(SendError::Retryable { message, .. }) if ids.is_empty() => {
                    // Nothing went out: back to ReplyReady, no reconciliation needed.
                    let template = template.map(|t| t.variables);
                    self.advance(key, &TurnStep::ReplyReady { reply, template }).await?;
                    return Err(TurnError::Transient(format!("send: {message}")));
                }
                Err(e @ SendError::Permanent { .. }) => {
                    if matches!(&e, SendError::Permanent { code, .. } if code == "21610") {
                        // The carrier says the customer unsubscribed: remember it (the
                        // customer: the sender of an inbound, the recipient of an
                        // initiate), so no later turn tries again.
                        let now = jiff::Timestamp::now();
                        self.ports
                            .consent
                            .record(&env.tenant, customer(env), ConsentAction::OptOut, "twilio:21610", now)
                            .await?;
                    }
                    self.advance(key, &TurnStep::Done { outcome: format!("send refused: {e}") }).await?;
                    return Err(send_error(e));
                }
                Err(e) => return Err(send_error(e)),
            }
        }
        // Not stored: the caller appends the reply and stores `Done` next; a crash in
        // between leaves `Sending`, and the next attempt finds the parts sent by
        // reconciling, so nothing goes out twice.
        Ok(TurnStep::Sent { reply, provider_ids: ids })
    }

    /// Answers a voice turn by updating the live call: the reply, then the next
    /// `<Gather>` (or goodbye). `Sending` is stored first, so the call is updated at most
    /// once; a call that already ended is noted and not retried.
    async fn speak(
        &self,
        key: &str,
        tenant: &TenantConfig,
        env: &Envelope,
        conv: &ConversationKey,
        reply: String,
    ) -> Result<TurnStep, TurnError> {
        let KindDetail::VoiceTurn { call_sid, turn } = &env.detail else {
            return Err(TurnError::Permanent("a voice reply needs a voice_turn envelope".into()));
        };
        let base = self.settings.status_callback_base.as_deref().ok_or_else(|| {
            TurnError::Permanent("voice answers need the public base URL (COMMS_PUBLIC_BASE_URL)".into())
        })?;
        let twiml = comms_core::twilio::twiml::call_update(voice::answer(base, *turn, &reply, &env.body))
            .ok_or_else(|| TurnError::Permanent("the call update does not fit Twilio's limit".into()))?;
        let update = CallUpdate {
            tenant: env.tenant.clone(),
            credentials: tenant.credentials.twilio.clone(),
            call_sid: call_sid.clone(),
            from: sender(env).clone(),
            to: customer(env).clone(),
            twiml,
        };
        let sending = TurnStep::Sending { reply: reply.clone(), template: None, at: jiff::Timestamp::now() };
        self.advance(key, &sending).await?;
        let updated = with_backoff(
            self.settings.retry_budget,
            || self.ports.calls.update_call(&update),
            |e| match e {
                CallError::Retryable { retry_after, .. } => Some(*retry_after),
                _ => None,
            },
        )
        .await;
        let (note, outcome) = match updated {
            Ok(()) => return Ok(TurnStep::Sent { reply, provider_ids: vec![call_sid.clone()] }),
            Err(CallError::Retryable { message, .. }) => {
                // Never reached Twilio: back to ReplyReady, and SQS tries again.
                self.advance(key, &TurnStep::ReplyReady { reply, template: None }).await?;
                return Err(TurnError::Transient(format!("call update: {message}")));
            }
            Err(CallError::Ended(m)) => (format!("call ended before the answer: {m}"), "call ended"),
            Err(CallError::Ambiguous(m)) => {
                (format!("call update outcome unknown, not repeated: {m}"), "unknown")
            }
            Err(e @ CallError::Permanent { .. }) => {
                self.advance(key, &TurnStep::Done { outcome: format!("call update refused: {e}") }).await?;
                return Err(TurnError::Permanent(format!("call update refused: {e}")));
            }
        };
        tracing::info!(reason = %note, "voice answer not delivered");
        self.ports.conversations.append(conv, &[note_item(env, &note)]).await?;
        let done = TurnStep::Done { outcome: format!("voice answer not delivered: {outcome}") };
        self.advance(key, &done).await?;
        Ok(done)
    }

    /// The model loop: returns the reply text and the items to store (inbound, each tool
    /// call and result).
    async fn converse(
        &self,
        tenant: &Arc<TenantConfig>,
        env: &Envelope,
    ) -> Result<(String, Vec<ConversationItem>), TurnError> {
        let now = jiff::Timestamp::now();
        let owner = OwnerState::effective(self.ports.owner_state.get(&env.tenant).await?, now);
        let history =
            self.ports.conversations.recent(&env.conversation_id, self.settings.history_items).await?;
        let mut messages = vec![ChatMessage::System { content: system_prompt(tenant, &owner, env, now) }];
        for item in history.iter().filter(|i| !i.item_id.starts_with(&format!("{}:", env.id))) {
            match &item.content {
                ItemContent::Inbound { text } => messages.push(ChatMessage::User { content: text.clone() }),
                ItemContent::Reply { text, .. } => messages
                    .push(ChatMessage::Assistant { content: Some(text.clone()), tool_calls: Vec::new() }),
                _ => {}
            }
        }
        messages.push(ChatMessage::User { content: env.body.clone() });

        let ctx = ToolContext {
            tenant: Arc::clone(tenant),
            conversation_id: env.conversation_id.to_string(),
            customer: customer(env).clone(),
            owner,
            now,
            bookings: Arc::clone(&self.ports.bookings),
            ledger: Arc::clone(&self.ports.ledger),
        };
        let mut items = vec![inbound_item(env)];
        let specs = tools::specs(&tenant.ai.enabled_tools);
        let max_rounds = usize::from(tenant.ai.max_tool_rounds);
        for round in 0..=max_rounds {
            // Past the round limit the model gets no tools and must answer.
            let request = ChatRequest {
                model: tenant.ai.model.clone(),
                messages: messages.clone(),
                tools: if round < max_rounds { specs.clone() } else { Vec::new() },
                key_secret: tenant.credentials.openai.clone(),
            };
            let reply = self.ask_model(&request).await?;
            if reply.tool_calls.is_empty() || round == max_rounds {
                let text = reply.content.unwrap_or_default();
                return Ok((fit_reply(tenant, env.channel, &text), items));
            }
            messages.push(ChatMessage::Assistant {
                content: reply.content.clone(),
                tool_calls: reply.tool_calls.clone(),
            });
            for call in &reply.tool_calls {
                items.push(ConversationItem {
                    item_id: format!("{}:{round}:{}:call", env.id, call.id),
                    at: jiff::Timestamp::now(),
                    content: ItemContent::ToolCall { call: call.clone() },
                });
            }
            // Several calls in one round run concurrently.
            let mut set = JoinSet::new();
            for (i, call) in reply.tool_calls.iter().cloned().enumerate() {
                let ctx = ctx.clone();
                set.spawn(async move { (i, tools::execute(&ctx, &call).await) });
            }
            let mut results: Vec<Option<String>> = vec![None; reply.tool_calls.len()];
            while let Some(joined) = set.join_next().await {
                let (i, r) = joined.map_err(|e| TurnError::Transient(format!("tool task failed: {e}")))?;
                let value = r.map_err(|e| TurnError::Transient(e.to_string()))?;
                results[i] = Some(value.to_string());
            }
            for (call, result) in reply.tool_calls.iter().zip(results) {
                let result = result.unwrap_or_else(|| "{\"error\":\"no result\"}".into());
                tracing::info!(tool = %call.name, "tool executed");
                items.push(ConversationItem {
                    item_id: format!("{}:{round}:{}:result", env.id, call.id),
                    at: jiff::Timestamp::now(),
                    content: ItemContent::ToolResult {
                        call_id: call.id.clone(),
                        name: call.name.clone(),
                        result: result.clone(),
                    },
                });
                messages.push(ChatMessage::Tool { call_id: call.id.clone(), content: result });
            }
        }
        unreachable!("the last round always returns")
    }
}

/// Slack added to a dead holder's remaining lease before claiming again.
const BUSY_MARGIN: Duration = Duration::from_millis(100);

/// Renews a turn's lease every half lease until dropped.
struct LeaseRenewal(tokio::task::JoinHandle<()>);

impl LeaseRenewal {
    fn start(turns: Arc<dyn TurnStore>, key: String, lease: Duration) -> Self {
        Self(tokio::spawn(async move {
            loop {
                tokio::time::sleep(lease / 2).await;
                if let Err(e) = turns.renew(&key, lease).await {
                    // The turn may still finish; if the lease runs out meanwhile, the
                    // steps recorded so far make a takeover safe.
                    tracing::warn!(error = %e, "could not renew the turn lease");
                }
            }
        }))
    }
}

impl Drop for LeaseRenewal {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How long WhatsApp allows free-form replies after the customer's last message.
const WHATSAPP_SESSION: Duration = Duration::from_secs(24 * 3600);

/// The customer's number: the sender of an inbound message, the recipient of an initiate.
fn customer(env: &Envelope) -> &PhoneNumber {
    if env.kind() == Kind::Initiate { &env.to } else { &env.from }
}

/// The tenant's number on this conversation.
fn sender(env: &Envelope) -> &PhoneNumber {
    if env.kind() == Kind::Initiate { &env.from } else { &env.to }
}

/// SMS replies are held to the tenant's segment budget (every segment is billed).
fn fit_reply(tenant: &TenantConfig, channel: Channel, text: &str) -> String {
    let fallback = "Thanks for your message, we'll get back to you shortly.";
    match channel {
        Channel::Sms => {
            let budget = usize::from(tenant.messaging.sms_segment_budget);
            let fitted = fit_to_segments(text, budget);
            if fitted.is_empty() { fit_to_segments(fallback, budget) } else { fitted }
        }
        _ if text.trim().is_empty() => fallback.to_owned(),
        Channel::Voice => voice::speech_sized(text, voice::MAX_SPOKEN_CHARS),
        _ => text.trim().to_owned(),
    }
}

impl Engine {
    /// The first message of a conversation a tenant started: text for SMS; for WhatsApp
    /// the values of the tenant's template variables, checked against its list.
    async fn compose_opening(
        &self,
        tenant: &Arc<TenantConfig>,
        env: &Envelope,
    ) -> Result<(String, Option<BTreeMap<String, String>>, Vec<ConversationItem>), TurnError> {
        let KindDetail::Initiate { request_id, project_data, recipient_name } = &env.detail else {
            return Err(TurnError::Permanent("not an initiate envelope".into()));
        };
        let now = jiff::Timestamp::now();
        let owner = OwnerState::effective(self.ports.owner_state.get(&env.tenant).await?, now);
        let name = recipient_name.as_deref().unwrap_or("the recipient");
        let started = note_item(env, &format!("conversation started by request {request_id}"));
        let template_vars = match env.channel {
            Channel::Whatsapp => Some(
                tenant
                    .whatsapp
                    .as_ref()
                    .ok_or_else(|| TurnError::Permanent("tenant has no WhatsApp template configured".into()))?
                    .template_variables
                    .clone(),
            ),
            _ => None,
        };
        let ask = match &template_vars {
            None => format!(
                "Write the first message of a new conversation to {name}, who agreed to be contacted. \
                 Project details: {project_data}. Reply with the message text only."
            ),
            Some(vars) => format!(
                "Fill the approved WhatsApp template that opens a conversation with {name}, who agreed \
                 to be contacted. Project details: {project_data}. Reply with only a JSON object whose keys \
                 are exactly {vars:?} and whose values are short non-empty strings."
            ),
        };
        let request = ChatRequest {
            model: tenant.ai.model.clone(),
            messages: vec![
                ChatMessage::System { content: system_prompt(tenant, &owner, env, now) },
                ChatMessage::User { content: ask },
            ],
            tools: Vec::new(),
            key_secret: tenant.credentials.openai.clone(),
        };
        let reply = self.ask_model(&request).await?;
        let text = reply.content.unwrap_or_default();
        match template_vars {
            None => Ok((fit_reply(tenant, env.channel, &text), None, vec![started])),
            Some(names) => {
                let vars = template_variables(&text, &names).map_err(TurnError::Permanent)?;
                let rendering = serde_json::to_string(&vars).unwrap_or_default();
                Ok((rendering, Some(vars), vec![started]))
            }
        }
    }
}

/// Checks the model's template values: a JSON object with exactly `names` as keys and
/// non-empty string values (a template sent with a gap would read badly or be refused).
pub fn template_variables(text: &str, names: &[String]) -> Result<BTreeMap<String, String>, String> {
    let trimmed = text.trim().trim_start_matches("```json").trim_start_matches("```").trim_end_matches("```");
    let value: serde_json::Value =
        serde_json::from_str(trimmed.trim()).map_err(|e| format!("template variables are not JSON: {e}"))?;
    let obj = value.as_object().ok_or("template variables are not a JSON object")?;
    let mut out = BTreeMap::new();
    let missing: Vec<&str> = names
        .iter()
        .filter(|n| obj.get(n.as_str()).and_then(|v| v.as_str()).is_none_or(|s| s.trim().is_empty()))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(format!("template variables incomplete: missing or empty {missing:?}"));
    }
    let extra: Vec<&String> = obj.keys().filter(|k| !names.contains(k)).collect();
    if !extra.is_empty() {
        return Err(format!("template variables include unknown names {extra:?}"));
    }
    for n in names {
        if let Some(v) = obj.get(n).and_then(|v| v.as_str()) {
            out.insert(n.clone(), v.trim().to_owned());
        }
    }
    Ok(out)
}

fn inbound_item(env: &Envelope) -> ConversationItem {
    ConversationItem {
        item_id: format!("{}:inbound", env.id),
        at: env.received_at,
        content: ItemContent::Inbound { text: env.body.clone() },
    }
}

fn note_item(env: &Envelope, text: &str) -> ConversationItem {
    ConversationItem {
        item_id: format!("{}:note", env.id),
        at: jiff::Timestamp::now(),
        content: ItemContent::Note { text: text.to_owned() },
    }
}

/// The system prompt: the tenant's own prompt, the business facts, the owner's state,
/// today's date in the business's time zone, and the reply budget. The customer's number
/// appears masked only: the model never needs it (tools take it from the turn), and less
/// personal data leaves the system.
pub fn system_prompt(
    tenant: &TenantConfig,
    owner: &OwnerState,
    env: &Envelope,
    now: jiff::Timestamp,
) -> String {
    let tz = jiff::tz::TimeZone::get(&tenant.scheduling.timezone).unwrap_or(jiff::tz::TimeZone::UTC);
    let local = now.to_zoned(tz);
    let budget = tenant.messaging.sms_segment_budget;
    let hours: Vec<String> = tenant
        .scheduling
        .business_hours
        .iter()
        .map(|(d, r)| format!("{d} {}", r.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",")))
        .collect();
    format!(
        "{prompt}\n\nBusiness: {company} ({project}). Opening hours: {hours}; appointments of {slot} minutes. \
         Time zone: {tzname}. Today is {date} ({weekday}), local time {time}.\n{owner}\n\
         Customer phone (masked; bookings use the customer's own number): {phone}.\n\
         {medium} \
         Use the tools to check availability, book, grant discounts (never more than the tool approves) \
         and log upsells.",
        prompt = tenant.ai.system_prompt,
        company = tenant.company_name,
        project = tenant.project_name,
        hours = hours.join("; "),
        slot = tenant.scheduling.slot_minutes,
        tzname = tenant.scheduling.timezone,
        date = local.date(),
        weekday = local.strftime("%A"),
        time = local.strftime("%H:%M"),
        owner = owner.describe(),
        phone = customer(env).redacted(),
        medium = match env.channel {
            Channel::Sms => format!(
                "You are replying by SMS: plain text, at most {budget} SMS segments (about {} characters).",
                usize::from(budget) * 153
            ),
            Channel::Voice => "You are speaking on a live phone call: your words are read aloud. Answer \
                 in one to three short spoken sentences (under 60 words), no lists, links or symbols."
                .to_owned(),
            other => format!("You are replying by {other}: plain text, short."),
        },
    )
}
