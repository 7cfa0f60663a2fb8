//! Composing the reply: the model loop with tools for an answer, the first message (or
//! WhatsApp template values) of a conversation a tenant starts, and the reply fitted to
//! its channel (the system messages are in `prompt`).

use std::collections::BTreeMap;
use std::sync::Arc;

use comms_core::domain::sms::fit_to_segments;
use comms_core::domain::tenant::TenantConfig;
use comms_core::domain::voice;
use comms_core::domain::{Channel, Envelope, KindDetail, OwnerState};
use comms_core::ports::{ChatMessage, ChatReply, ChatRequest, ConversationItem, ItemContent, ToolCall};
use comms_core::retry::with_backoff;
use comms_core::tools::{self, HandoffContext, ToolContext};
use tokio::task::JoinSet;

use super::budget::Meter;
use super::email_text;
use super::media::{customer_message, inbound_media, this_message};
use super::prompt::system_messages;
use super::{Engine, TurnError};

/// The reply, WhatsApp template values if it is a template, and the items to store.
pub(super) type Composed = (String, Option<BTreeMap<String, String>>, Vec<ConversationItem>);

impl Engine {
    /// One model call, transient failures retried with backoff within the budget; its
    /// usage noted on `meter`.
    async fn ask_model(&self, request: &ChatRequest, meter: &mut Meter) -> Result<ChatReply, TurnError> {
        let reply = with_backoff(self.settings.retry_budget, || self.ports.chat.complete(request)).await?;
        meter.record(&reply);
        Ok(reply)
    }

    /// The model loop: returns the reply text and the items to store (inbound, each tool
    /// call and result).
    pub(super) async fn converse(
        &self,
        tenant: &Arc<TenantConfig>,
        env: &Envelope,
        window: &[ConversationItem],
        meter: &mut Meter,
    ) -> Result<Composed, TurnError> {
        let now = self.settings.business_now.unwrap_or_else(jiff::Timestamp::now);
        let owner = OwnerState::effective(self.ports.owner_state.get(&env.tenant).await?, now);
        // The static instructions first, the turn's context after (prompt caching).
        let mut messages = Vec::from(system_messages(tenant, &owner, env, now));
        messages.extend(history(tenant.ai.vision, env, window));
        messages.push(this_message(tenant.ai.vision, env));
        let ctx = self.tool_context(tenant, env, owner, now);
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
                api: tenant.ai.api,
            };
            let reply = self.ask_model(&request, meter).await?;
            if reply.tool_calls.is_empty() || round == max_rounds {
                let text = reply.content.unwrap_or_default();
                return Ok((fit_reply(tenant, env.channel, &text), None, items));
            }
            messages.push(ChatMessage::Assistant {
                content: reply.content.clone(),
                tool_calls: reply.tool_calls.clone(),
            });
            let round = Round { env, round, calls: &reply.tool_calls };
            round.run(&ctx, &mut items, &mut messages).await?;
        }
        unreachable!("the last round always returns")
    }

    /// What the tools may see and touch in this turn.
    fn tool_context(
        &self,
        tenant: &Arc<TenantConfig>,
        env: &Envelope,
        owner: OwnerState,
        now: jiff::Timestamp,
    ) -> ToolContext {
        let handoff = HandoffContext {
            queues: Arc::clone(&self.ports.queues),
            envelope_id: env.id.clone(),
            conversation_id: env.conversation_id.clone(),
            channel: env.channel,
            business: env.business_number().clone(),
            customer_said: env.body.clone(),
            public_base: self.settings.status_callback_base.clone(),
            trace_id: None,
        };
        ToolContext {
            tenant: Arc::clone(tenant),
            conversation_id: env.conversation_id.to_string(),
            customer: env.customer().clone(),
            owner,
            now,
            bookings: Arc::clone(&self.ports.bookings),
            ledger: Arc::clone(&self.ports.ledger),
            handoff: Some(handoff),
        }
    }

    /// The first message of a conversation a tenant started: text for SMS; for WhatsApp
    /// the values of the tenant's template variables, checked against its list.
    pub(super) async fn compose_opening(
        &self,
        tenant: &Arc<TenantConfig>,
        env: &Envelope,
        meter: &mut Meter,
    ) -> Result<Composed, TurnError> {
        let KindDetail::Initiate { request_id, project_data, recipient_name } = &env.detail else {
            return Err(TurnError::permanent("not an initiate envelope"));
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
                    .ok_or_else(|| TurnError::permanent("tenant has no WhatsApp template configured"))?
                    .template_variables
                    .clone(),
            ),
            _ => None,
        };
        let request = ChatRequest {
            model: tenant.ai.model.clone(),
            messages: [
                system_messages(tenant, &owner, env, now).to_vec(),
                vec![ChatMessage::user(match env.channel {
                    Channel::Email => email_text::opening_ask(name, project_data),
                    _ => opening_ask(name, project_data, template_vars.as_deref()),
                })],
            ]
            .concat(),
            tools: Vec::new(),
            key_secret: tenant.credentials.openai.clone(),
            api: tenant.ai.api,
        };
        let text = self.ask_model(&request, meter).await?.content.unwrap_or_default();
        match template_vars {
            None if env.channel == Channel::Email => Ok(email_text::opening(tenant, &text, started)),
            None => Ok((fit_reply(tenant, env.channel, &text), None, vec![started])),
            Some(names) => {
                let vars = template_variables(&text, &names).map_err(TurnError::permanent)?;
                let rendering = serde_json::to_string(&vars).unwrap_or_default();
                Ok((rendering, Some(vars), vec![started]))
            }
        }
    }
}

/// The earlier exchanges of the conversation (the journal's window), as chat messages
/// (this message's own items, stored by an earlier attempt, left out).
fn history(vision: bool, env: &Envelope, window: &[ConversationItem]) -> Vec<ChatMessage> {
    let own = format!("{}:", env.id);
    window
        .iter()
        .filter(|i| !i.item_id.starts_with(&own))
        .filter_map(|item| match &item.content {
            ItemContent::Inbound { text, media } => {
                let count = u32::try_from(media.len()).unwrap_or(u32::MAX);
                Some(customer_message(vision, text, media, count))
            }
            // What the owner (or the system) sent in the conversation, the assistant
            // speaks for the same business.
            ItemContent::Reply { text, .. }
            | ItemContent::OwnerReply { text, .. }
            | ItemContent::Notice { text, .. } => {
                Some(ChatMessage::Assistant { content: Some(text.clone()), tool_calls: Vec::new() })
            }
            _ => None,
        })
        .collect()
}

/// One round of tool calls the model asked for.
struct Round<'a> {
    env: &'a Envelope,
    round: usize,
    calls: &'a [ToolCall],
}

impl Round<'_> {
    /// Runs the calls (concurrently) and records each call and result, as items to store
    /// and as messages for the next model call.
    async fn run(
        &self,
        ctx: &ToolContext,
        items: &mut Vec<ConversationItem>,
        messages: &mut Vec<ChatMessage>,
    ) -> Result<(), TurnError> {
        let (env, round) = (self.env, self.round);
        for call in self.calls {
            items.push(ConversationItem {
                item_id: format!("{}:{round}:{}:call", env.id, call.id),
                at: jiff::Timestamp::now(),
                content: ItemContent::ToolCall { call: call.clone() },
            });
        }
        let results = self.execute(ctx).await?;
        for (call, result) in self.calls.iter().zip(results) {
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
        Ok(())
    }

    /// Several calls in one round run concurrently; results in call order.
    async fn execute(&self, ctx: &ToolContext) -> Result<Vec<Option<String>>, TurnError> {
        let mut set = JoinSet::new();
        for (i, call) in self.calls.iter().cloned().enumerate() {
            let ctx = ctx.clone();
            set.spawn(async move { (i, tools::execute(&ctx, &call).await) });
        }
        let mut results: Vec<Option<String>> = vec![None; self.calls.len()];
        while let Some(joined) = set.join_next().await {
            let (i, r) = joined.map_err(|e| TurnError::retry(format!("tool task failed: {e}")))?;
            let value = r.map_err(|e| TurnError::retry(e.to_string()))?;
            results[i] = Some(value.to_string());
        }
        Ok(results)
    }
}

/// What the model is asked for the first message: text, or the template's values.
fn opening_ask(name: &str, project_data: &serde_json::Value, template_vars: Option<&[String]>) -> String {
    match template_vars {
        None => format!(
            "Write the first message of a new conversation to {name}, who agreed to be contacted. \
             Project details: {project_data}. Reply with the message text only."
        ),
        Some(vars) => format!(
            "Fill the approved WhatsApp template that opens a conversation with {name}, who agreed \
             to be contacted. Project details: {project_data}. Reply with only a JSON object whose keys \
             are exactly {vars:?} and whose values are short non-empty strings."
        ),
    }
}

/// SMS replies are held to the tenant's segment budget (every segment is billed).
pub(super) fn fit_reply(tenant: &TenantConfig, channel: Channel, text: &str) -> String {
    let fallback = "Thanks for your message, we'll get back to you shortly.";
    match channel {
        Channel::Sms => {
            let budget = usize::from(tenant.messaging.sms_segment_budget);
            let fitted = fit_to_segments(text, budget);
            if fitted.is_empty() { fit_to_segments(fallback, budget) } else { fitted }
        }
        _ if text.trim().is_empty() => fallback.to_owned(),
        Channel::Voice => voice::speech_sized(text, voice::MAX_SPOKEN_CHARS),
        // No segments by email: the tenant's length cap, cut at a sentence or a word.
        Channel::Email => email_text::fit_to_chars(text, email_text::max_chars(tenant)),
        _ => text.trim().to_owned(),
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

pub(super) fn inbound_item(env: &Envelope) -> ConversationItem {
    ConversationItem {
        item_id: format!("{}:inbound", env.id),
        at: env.received_at,
        content: ItemContent::Inbound { text: env.body.clone(), media: inbound_media(env).to_vec() },
    }
}

pub(super) fn note_item(env: &Envelope, text: &str) -> ConversationItem {
    ConversationItem {
        item_id: format!("{}:note", super::owner::journal_id(env)),
        at: jiff::Timestamp::now(),
        content: ItemContent::Note { text: text.to_owned() },
    }
}

/// How the reply reaches the customer, and how long it may be.
pub(super) fn medium(tenant: &TenantConfig, channel: Channel) -> String {
    let budget = tenant.messaging.sms_segment_budget;
    match channel {
        Channel::Sms => format!(
            "You are replying by SMS: plain text, at most {budget} SMS segments (about {} characters).",
            usize::from(budget) * 153
        ),
        Channel::Voice => "You are speaking on a live phone call: your words are read aloud. Answer \
             in one to three short spoken sentences (under 60 words), no lists, links or symbols."
            .to_owned(),
        Channel::Email => format!(
            "You are writing by email: plain text without markdown, at most {} characters.",
            email_text::max_chars(tenant)
        ),
        other => format!("You are replying by {other}: plain text, short."),
    }
}
