use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::domain::{Channel, TenantRef};

/// The idempotency key of the turn answering message `id` (a Twilio `MessageSid`, a
/// `request_id`, a `CallSid`+turn) of `tenant` on `channel`. The tenant is part of it:
/// ids come from callers and providers, and one tenant's id must never finish (or block)
/// another tenant's turn. Ids of tenants are `[a-z0-9_-]`, so the parts cannot run
/// together.
pub fn turn_key(tenant: &TenantRef, channel: Channel, id: &str) -> String {
    format!("turn:{}:{}:{channel}:{id}", tenant.company_id, tenant.project_id)
}

/// How far the handling of one inbound message got. Stored with the idempotency key, so
/// a redelivery resumes where the last attempt stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum TurnStep {
    /// Claimed; the model has not produced the reply yet.
    Started,
    /// The reply is decided (and the turn's items stored); not sent yet. `template`
    /// holds WhatsApp template variables when the reply is a template; on an email
    /// turn, the subject the turn composed (`email_subject`), if any.
    ReplyReady {
        reply: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        template: Option<BTreeMap<String, String>>,
    },
    /// A send was attempted at `at`; its outcome is unknown until reconciled.
    Sending {
        reply: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        template: Option<BTreeMap<String, String>>,
        at: jiff::Timestamp,
    },
    /// Sent; only the reply item may be left to store.
    Sent { reply: String, provider_ids: Vec<String> },
    /// Nothing left to do.
    Done { outcome: String },
}

/// The turn record for one idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnRecord {
    pub key: String,
    pub step: TurnStep,
    /// Claims so far; every claim (new or take-over) increments it, so it is also the
    /// fencing token of the claim that returned it ([`TurnRecord::token`]).
    pub attempts: u32,
}

impl TurnRecord {
    /// The fencing token of this claim: the holder passes it to [`TurnStore::advance`],
    /// [`TurnStore::renew`] and [`TurnStore::release`], which are refused with
    /// [`StoreError::LeaseLost`] once another claim took the key over. The claim count
    /// serves: it is stored with the record (rows written before fencing have it too, so
    /// they stay claimable) and no two claims of one key share it.
    pub fn token(&self) -> u32 {
        self.attempts
    }
}

/// The result of trying to claim a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Ours: new, or an earlier attempt's lease expired (resume from `step`).
    Acquired(TurnRecord),
    /// Another attempt holds an unexpired lease, for `lease_left` more; try again
    /// after that (a holder that died stops renewing, so its lease then ends).
    Busy { lease_left: Duration },
    /// Already finished.
    Done(TurnRecord),
}

/// Idempotency records for turns, claimed atomically (a conditional write) before any
/// side effect.
#[async_trait]
pub trait TurnStore: Send + Sync {
    /// Claims `key` for `lease`, atomically: two overlapping deliveries never both get
    /// [`Claim::Acquired`] while the lease runs.
    async fn claim(&self, key: &str, lease: Duration) -> Result<Claim, StoreError>;

    /// Records progress and extends the lease, only while the claim `token` holds the
    /// key; otherwise [`StoreError::LeaseLost`] and nothing is written.
    async fn advance(
        &self,
        key: &str,
        token: u32,
        step: &TurnStep,
        lease: Duration,
    ) -> Result<(), StoreError>;

    /// Extends the lease of a claimed key to `lease` from now (the holder's renewal,
    /// every half lease while the turn runs, and its check before each send). A released
    /// or unknown key is left alone; a key another claim took over is
    /// [`StoreError::LeaseLost`].
    async fn renew(&self, key: &str, token: u32, lease: Duration) -> Result<(), StoreError>;

    /// Gives the lease up (this attempt failed), so the next delivery may resume at once;
    /// [`StoreError::LeaseLost`] (and nothing changed) if another claim holds the key.
    async fn release(&self, key: &str, token: u32) -> Result<(), StoreError>;
}
