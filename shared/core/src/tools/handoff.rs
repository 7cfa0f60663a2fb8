//! `request_human`: the assistant hands the conversation to the owner. The owner is sent
//! one SMS: a direct send with id `{envelope id}:human`, so a turn that runs again (a
//! redelivery, a crash before its reply was recorded) enqueues the same send, which the
//! engine sends once. The result says `handed_over`; the engine then puts the
//! conversation under takeover for the tenant's `handoff.takeover_hours`, once the
//! turn's `Sending` step is stored (so a retry of this turn resumes after that step, and
//! is not itself silenced by the takeover it asked for).

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use super::ToolContext;
use crate::domain::{Address, Author, Channel, ConversationId, Envelope};
use crate::ports::{OutgoingMessage, Queues, StoreError};
use crate::retry::Classify;

/// What `request_human` needs beyond the other tools: the stores it writes and the
/// facts of the turn that calls it.
#[derive(Clone)]
pub struct HandoffContext {
    pub queues: Arc<dyn Queues>,
    /// The turn's envelope id: the notification's idempotency key is `{id}:human`.
    pub envelope_id: String,
    pub conversation_id: ConversationId,
    /// The turn's channel and the tenant's number on it.
    pub channel: Channel,
    pub business: Address,
    /// What the customer wrote (a line of it goes into the notification).
    pub customer_said: String,
    /// The public base URL the console is served under (`{base}/console/...`).
    pub public_base: Option<String>,
    pub trace_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HumanArgs {
    #[serde(default)]
    reason: String,
}

/// Most characters of the customer's words and of the reason quoted to the owner.
const QUOTE_CHARS: usize = 80;

fn quote(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(QUOTE_CHARS) {
        Some((cut, _)) => format!("{}...", &line[..cut]),
        None => line,
    }
}

fn queue_failure(e: crate::ports::QueueError) -> StoreError {
    StoreError::Backend { transient: e.disposition().is_retry(), message: e.to_string() }
}

/// Enqueues the owner's notification; the result tells the engine to take over.
pub(super) async fn request_human(ctx: &ToolContext, a: HumanArgs) -> Result<Value, StoreError> {
    let unavailable = json!({"handed_over": false,
        "message": "No person is available through this channel right now: keep helping the customer."});
    let (Some(h), Some(owner)) = (ctx.handoff.as_ref(), ctx.tenant.handoff.notify_number.clone()) else {
        return Ok(unavailable);
    };
    let sms_from = match h.channel {
        Channel::Sms => h.business.phone().cloned(),
        _ => ctx.tenant.numbers.get(&Channel::Sms).and_then(|n| n.first().cloned()),
    };
    let Some(from) = sms_from else { return Ok(unavailable) };
    let link = format!(
        "{}/console/conversations/{}",
        h.public_base.as_deref().unwrap_or("").trim_end_matches('/'),
        h.conversation_id
    );
    let mut text =
        format!("{}: a customer ({}) asked for you", ctx.tenant.company_name, ctx.customer.redacted());
    if !a.reason.trim().is_empty() {
        text.push_str(&format!(" ({})", quote(&a.reason)));
    }
    text.push_str(&format!(": \"{}\". Reply in the console: {link}", quote(&h.customer_said)));
    let id = format!("{}:human", h.envelope_id);
    let env = Envelope::direct(
        ctx.tenant.tenant.clone(),
        Channel::Sms,
        from,
        owner,
        id,
        text,
        Author::System,
        ctx.now,
    );
    let message = OutgoingMessage {
        body: env.to_json(),
        attributes: env.attributes(h.trace_id.as_deref().unwrap_or("")),
    };
    h.queues.send(Channel::Sms, message).await.map_err(queue_failure)?;
    let hours = ctx.tenant.handoff.takeover_hours;
    Ok(json!({"handed_over": true, "owner_notified": true, "takeover_hours": hours,
        "message": "The owner has been told and will answer this conversation personally. Tell the customer \
                    that the owner will get back to them here shortly; do not promise a time."}))
}
