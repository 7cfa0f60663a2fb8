//! Speaking a voice answer: the live call is updated with the reply and the next
//! `<Gather>`, at most once.

use super::compose::note_item;
use super::lease::{Fenced, Held};
use super::{Engine, Outcome, TurnError};
use comms_core::domain::tenant::TenantConfig;
use comms_core::domain::{Envelope, KindDetail, voice};
use comms_core::ports::{CallError, CallUpdate, StoreError, TurnStep};

impl Engine {
    /// Answers a voice turn by updating the live call: the reply, then the next
    /// `<Gather>` (or goodbye). `Sending` is stored first, so the call is updated at most
    /// once; a call that already ended is noted and not retried.
    pub(super) async fn speak(
        &self,
        key: &Held,
        tenant: &TenantConfig,
        env: &Envelope,
        reply: String,
    ) -> Result<TurnStep, TurnError> {
        let update = self.call_update(tenant, env, &reply)?;
        let sending = TurnStep::Sending { reply: reply.clone(), template: None, at: jiff::Timestamp::now() };
        self.advance(key, &sending).await?;
        self.take_over_if_asked(key, tenant, env).await?;
        // Each try follows a lease check: a holder that lost the turn stops first.
        let updated = match self.fenced(key, || self.ports.calls.update_call(&update)).await {
            Err(Fenced::Lease(StoreError::LeaseLost)) => return Err(StoreError::LeaseLost.into()),
            Err(Fenced::Lease(e)) => {
                // The lease check failed, so the call was not updated: back to
                // ReplyReady (if the store lets us), or `Sending` stays and the next
                // attempt does not repeat what was never said.
                self.advance(key, &TurnStep::ReplyReady { reply, template: None }).await?;
                return Err(e.into());
            }
            Err(Fenced::Call(e)) => Err(e),
            Ok(()) => Ok(()),
        };
        let (note, outcome) = match updated {
            Ok(()) => return Ok(TurnStep::Sent { reply, provider_ids: vec![update.call_sid] }),
            Err(e @ CallError::Retryable { .. }) => {
                // Never reached Twilio: back to ReplyReady, and SQS tries again.
                self.advance(key, &TurnStep::ReplyReady { reply, template: None }).await?;
                return Err(e.into());
            }
            Err(CallError::Ended(m)) => (format!("call ended before the answer: {m}"), "call ended"),
            Err(CallError::Ambiguous(m)) => {
                (format!("call update outcome unknown, not repeated: {m}"), "unknown")
            }
            Err(e @ CallError::Permanent { .. }) => {
                self.advance(key, &TurnStep::Done { outcome: format!("call update refused: {e}") }).await?;
                return Err(e.into());
            }
        };
        tracing::info!(reason = %note, "voice answer not delivered");
        key.stage(vec![note_item(env, &note)]);
        let done = TurnStep::Done { outcome: format!("voice answer not delivered: {outcome}") };
        self.advance(key, &done).await?;
        Ok(done)
    }

    /// The `Sending` step of a voice turn met again. Nothing tells whether the earlier
    /// attempt reached the call; saying the answer twice is worse than not at all (the
    /// hold loop ends by asking the caller to repeat), so a voice answer is at most once.
    pub(super) async fn not_repeated(&self, key: &Held, env: &Envelope) -> Result<Outcome, TurnError> {
        let note = note_item(env, "an earlier attempt may have answered the call; not repeated");
        key.stage(vec![note]);
        self.advance(key, &TurnStep::Done { outcome: "voice answer not repeated".into() }).await?;
        Ok(Outcome::AlreadyDone)
    }

    /// The call update saying `reply`.
    fn call_update(
        &self,
        tenant: &TenantConfig,
        env: &Envelope,
        reply: &str,
    ) -> Result<CallUpdate, TurnError> {
        let KindDetail::VoiceTurn { call_sid, turn } = &env.detail else {
            return Err(TurnError::permanent("a voice reply needs a voice_turn envelope"));
        };
        let base = self.settings.status_callback_base.as_deref().ok_or_else(|| {
            TurnError::permanent("voice answers need the public base URL (COMMS_PUBLIC_BASE_URL)")
        })?;
        let twiml = comms_core::twilio::twiml::call_update(voice::answer(base, *turn, reply, &env.body))
            .ok_or_else(|| TurnError::permanent("the call update does not fit Twilio's limit"))?;
        let (Some(from), Some(to)) = (env.business_number().phone(), env.customer().phone()) else {
            return Err(TurnError::permanent("a voice turn is between phone numbers"));
        };
        Ok(CallUpdate {
            tenant: env.tenant.clone(),
            credentials: tenant.credentials.twilio.clone(),
            call_sid: call_sid.clone(),
            from: from.clone(),
            to: to.clone(),
            twiml,
        })
    }
}
