//! The owner's part of a turn: a conversation under takeover gets no model call (the
//! customer's message is stored with a note), and a direct send (the owner's reply, a
//! system notice) goes out as written, through the same `Sending`-before-send steps,
//! stored as the owner's (or the system's) item; a turn whose `request_human` handed
//! the conversation over puts it under takeover.

use comms_core::domain::tenant::TenantConfig;
use comms_core::domain::{Address, Author, Channel, Envelope, Kind, KindDetail};
use comms_core::ports::{ConversationItem, ItemContent};

use super::compose::Composed;
use super::lease::Held;
use super::{Engine, TurnError};

/// Why a conversation under takeover gets no reply.
pub(super) const TAKEN_OVER: &str = "owner has taken over";

/// The id a turn is journalled under, and its items' ids start with: a direct send's id
/// comes from a caller, so it is kept apart from provider message ids (`direct:{id}`),
/// and no caller can finish (or block) a customer's turn, or hide its items, by
/// choosing that turn's id.
pub(super) fn journal_id(env: &Envelope) -> String {
    match env.kind() {
        Kind::Direct => format!("direct:{}", env.id),
        Kind::Inbound | Kind::Initiate | Kind::VoiceTurn => env.id.clone(),
    }
}

/// Whether the owner held the conversation when the turn was claimed. A direct send goes
/// out whatever the takeover (it is the owner's, or the system's), and a caller on a
/// live call is answered (nobody can type into a call).
pub(super) async fn held_by_owner(env: &Envelope, key: &Held) -> bool {
    if env.kind() == Kind::Direct || env.channel == Channel::Voice {
        return false;
    }
    key.takeover_at_claim().await.is_some_and(|until| until > jiff::Timestamp::now())
}

/// A direct send's reply: its text as written, nothing staged (the item is stored once
/// sent). It must go from one of the tenant's own numbers on its channel (or addresses,
/// by email).
pub(super) fn direct_reply(tenant: &TenantConfig, env: &Envelope) -> Result<Composed, TurnError> {
    if env.channel == Channel::Voice {
        return Err(TurnError::permanent("a direct send goes by text (sms, whatsapp), not by voice"));
    }
    let own = match env.business_number() {
        Address::Phone(p) => tenant.numbers.get(&env.channel).is_some_and(|n| n.contains(p)),
        Address::Email(e) => env.channel == Channel::Email && tenant.email_addresses().contains(e),
    };
    if !own {
        return Err(TurnError::permanent(
            "a direct send must come from one of the tenant's numbers (or email addresses)",
        ));
    }
    if env.body.trim().is_empty() {
        return Err(TurnError::permanent("a direct send needs a text"));
    }
    Ok((env.body.clone(), None, Vec::new()))
}

/// What the sent reply is stored as: the assistant's, the owner's or the system's.
pub(super) fn reply_content(env: &Envelope, text: String, provider_ids: Vec<String>) -> ItemContent {
    match env.detail {
        KindDetail::Direct { author: Author::Owner } => ItemContent::OwnerReply { text, provider_ids },
        KindDetail::Direct { author: Author::System } => ItemContent::Notice { text, provider_ids },
        _ => ItemContent::Reply { text, provider_ids },
    }
}

/// Whether this turn's items (in the window once its `Sending` step is stored) hold a
/// `request_human` result that handed the conversation over.
fn handed_over(env: &Envelope, window: &[ConversationItem]) -> bool {
    let own = format!("{}:", env.id);
    window.iter().filter(|i| i.item_id.starts_with(&own)).any(|i| match &i.content {
        ItemContent::ToolResult { name, result, .. } if name == "request_human" => {
            serde_json::from_str::<serde_json::Value>(result)
                .is_ok_and(|v| v["handed_over"] == serde_json::Value::Bool(true))
        }
        _ => false,
    })
}

impl Engine {
    /// Puts the conversation under takeover if this turn's `request_human` handed it
    /// over. Called once the `Sending` step is stored: a crash before it re-runs the
    /// turn (the notification is enqueued again under the same id, sent once); a retry
    /// after it resumes at `Sending`, past the takeover check, so the customer still hears
    /// that the owner will answer. Idempotent (a retry moves the end a little later).
    pub(super) async fn take_over_if_asked(
        &self,
        key: &Held,
        tenant: &TenantConfig,
        env: &Envelope,
    ) -> Result<(), TurnError> {
        if !handed_over(env, &key.window().await) {
            return Ok(());
        }
        let until = jiff::Timestamp::now() + tenant.handoff.takeover_for();
        let set =
            self.ports.conversations.set_takeover(&env.tenant, &env.conversation_id, Some(until)).await?;
        tracing::info!(set, "conversation handed over to the owner");
        Ok(())
    }
}
