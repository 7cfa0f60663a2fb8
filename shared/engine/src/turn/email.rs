//! Sending an email turn's reply: one mail, threaded under the customer's (or with the
//! subject the turn composed), with a signed one-click unsubscribe link. `Sending` is
//! stored before it goes out, as for a text; unlike a text, a mail whose send may have
//! happened is never sent again: SendGrid cannot be asked what it sent, so the turn ends
//! noted as "outcome unknown" (docs/decisions.md, "SendGrid outbound").

use std::collections::BTreeMap;

use super::email_text::thread;
use super::lease::{Fenced, Held};
use super::{Engine, Next, Outcome, TurnError};
use comms_core::domain::tenant::TenantConfig;
use comms_core::domain::{Channel, Envelope};
use comms_core::ports::{
    ConversationItem, ItemContent, OutboundEmail, OutboundText, Recorded, SendError, StoreError, TurnStep,
};
use comms_core::secure::unsubscribe_token;

impl Engine {
    /// Sends the reply as one mail; returns what follows (`Sent`, or the turn's end).
    pub(super) async fn send_email(
        &self,
        key: &Held,
        tenant: &TenantConfig,
        env: &Envelope,
        reply: String,
        vars: Option<BTreeMap<String, String>>,
    ) -> Result<Next, TurnError> {
        let opted_out = TurnStep::Done { outcome: "suppressed: recipient opted out before the send".into() };
        if key.opted_out_at_claim().await {
            self.advance(key, &opted_out).await?;
            return Ok(Next::Step(opted_out));
        }
        let text = match self.email_text(tenant, env, &reply, vars.as_ref()).await {
            Ok(text) => text,
            Err(e) if e.is_permanent() => {
                self.advance(key, &TurnStep::Done { outcome: format!("not sent: {}", e.reason()) }).await?;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let sending =
            TurnStep::Sending { reply: reply.clone(), template: vars.clone(), at: jiff::Timestamp::now() };
        // The opt-out check and `Sending` are one write, as for a text.
        if self.record(key, &sending, true).await? == Recorded::OptedOut {
            self.advance(key, &opted_out).await?;
            return Ok(Next::Step(opted_out));
        }
        self.take_over_if_asked(key, tenant, env).await?;
        let sent = match self.fenced(key, || self.ports.messenger.send(&text)).await {
            Ok(sent) => sent,
            Err(Fenced::Lease(StoreError::LeaseLost)) => return Err(StoreError::LeaseLost.into()),
            Err(Fenced::Lease(e)) => {
                // The lease check failed, so nothing was sent: back to ReplyReady (if the
                // store lets us), so the next attempt does not take it for a mail that may
                // be out.
                self.advance(key, &TurnStep::ReplyReady { reply, template: vars }).await?;
                return Err(e.into());
            }
            Err(Fenced::Call(SendError::Ambiguous(why))) => {
                let note = format!("the email may have gone out (send outcome unknown: {why}); not resent");
                return Ok(Next::Finished(self.outcome_unknown(key, env, &note).await?));
            }
            Err(Fenced::Call(e @ SendError::Retryable { .. })) => {
                // SendGrid queued nothing: back to ReplyReady, and the queue tries again.
                self.advance(key, &TurnStep::ReplyReady { reply, template: vars }).await?;
                return Err(e.into());
            }
            Err(Fenced::Call(e @ SendError::Permanent { .. })) => {
                self.advance(key, &TurnStep::Done { outcome: format!("send refused: {e}") }).await?;
                return Err(e.into());
            }
        };
        Ok(Next::Step(TurnStep::Sent { reply, provider_ids: vec![sent.provider_id] }))
    }

    /// The `Sending` step of an email turn met again: the last attempt may have sent the
    /// mail, and nobody can tell, so it is not sent again.
    pub(super) async fn email_not_resent(&self, key: &Held, env: &Envelope) -> Result<Outcome, TurnError> {
        let note = "an earlier attempt may have sent this email (its outcome is unknown); not resent";
        self.outcome_unknown(key, env, note).await
    }

    /// Ends the turn with a note saying the mail may or may not be out.
    async fn outcome_unknown(&self, key: &Held, env: &Envelope, note: &str) -> Result<Outcome, TurnError> {
        tracing::warn!(reason = %note, "email send outcome unknown: not resent");
        key.stage(vec![ConversationItem {
            // Its own id: an opening's turn has a note already.
            item_id: format!("{}:unknown", super::owner::journal_id(env)),
            at: jiff::Timestamp::now(),
            content: ItemContent::Note { text: note.to_owned() },
        }]);
        self.advance(key, &TurnStep::Done { outcome: "email send outcome unknown: not resent".into() })
            .await?;
        Ok(Outcome::Unknown(note.to_owned()))
    }

    /// The mail for `reply`: everything comes from the envelope, the tenant and what the
    /// step stored, so a resumed turn builds the same mail. The unsubscribe key is read
    /// here, on email turns only; without it (or a public base URL) no mail may go out.
    async fn email_text(
        &self,
        tenant: &TenantConfig,
        env: &Envelope,
        reply: &str,
        vars: Option<&BTreeMap<String, String>>,
    ) -> Result<OutboundText, TurnError> {
        let settings = tenant
            .email
            .as_ref()
            .ok_or_else(|| TurnError::permanent("an email turn needs the tenant's email section"))?;
        let base = self.settings.status_callback_base.as_deref().ok_or_else(|| {
            TurnError::permanent(
                "no public base URL is configured: an email's unsubscribe link cannot be made",
            )
        })?;
        let secret = &self.settings.unsubscribe_key_secret;
        let key =
            self.ports.secrets.get(secret).await.map_err(|e| {
                TurnError::caused_by(&format!("the unsubscribe-link key (secret '{secret}')"), e)
            })?;
        let token = unsubscribe_token(key.expose().as_bytes(), &env.tenant, env.customer());
        let (subject, in_reply_to, references) = thread(env, vars, &settings.from_name);
        Ok(OutboundText {
            channel: Channel::Email,
            tenant: env.tenant.clone(),
            credentials: Some(settings.sendgrid_secret.clone()),
            from: env.business_number().clone(),
            to: env.customer().clone(),
            body: reply.to_owned(),
            template: None,
            status_callback: None,
            email: Some(OutboundEmail {
                subject,
                in_reply_to,
                references,
                unsubscribe_url: format!("{}/email/unsubscribe?t={token}", base.trim_end_matches('/')),
            }),
        })
    }
}
