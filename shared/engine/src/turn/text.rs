//! Sending a text reply (SMS, WhatsApp): `Sending` is stored before anything goes out, a
//! send that may have gone out is reconciled with the provider before any resend, and
//! only the parts not found are sent.

use std::collections::BTreeMap;
use std::time::Duration;

use super::lease::{Fenced, Held};
use super::{Engine, TurnError};
use comms_core::domain::sms::split_for_twilio;
use comms_core::domain::tenant::TenantConfig;
use comms_core::domain::{Channel, Envelope};
use comms_core::ports::{
    ConsentAction, OutboundText, Recorded, SendError, SentText, TemplateContent, TurnStep,
};

/// How long WhatsApp allows free-form replies after the customer's last message.
const WHATSAPP_SESSION: Duration = Duration::from_secs(24 * 3600);

impl Engine {
    /// The `Sending` step met again: the last attempt may have sent some or all parts,
    /// so look before sending.
    pub(super) async fn reconcile_and_send(
        &self,
        key: &Held,
        tenant: &TenantConfig,
        env: &Envelope,
        reply: String,
        template: Option<BTreeMap<String, String>>,
        since: jiff::Timestamp,
    ) -> Result<TurnStep, TurnError> {
        let twilio = tenant.credentials.twilio.as_deref();
        let (from, to) = (env.business_number(), env.customer());
        let found =
            self.ports.messenger.sent_since(env.channel, &env.tenant, twilio, from, to, since).await?;
        tracing::info!(found = found.len(), "reconciled an uncertain send");
        self.send(key, tenant, env, reply, template, found).await
    }

    /// Sends the parts of `reply` not already in `already_sent`; returns the next step.
    pub(super) async fn send(
        &self,
        key: &Held,
        tenant: &TenantConfig,
        env: &Envelope,
        reply: String,
        template: Option<BTreeMap<String, String>>,
        already_sent: Vec<SentText>,
    ) -> Result<TurnStep, TurnError> {
        let opted_out = TurnStep::Done { outcome: "suppressed: recipient opted out before the send".into() };
        if key.opted_out_at_claim().await {
            self.advance(key, &opted_out).await?;
            return Ok(opted_out);
        }
        let template = self.template(key, tenant, env, template).await?;
        let parts = if template.is_some() { vec![reply.clone()] } else { split_for_twilio(&reply) };
        let sending = TurnStep::Sending {
            reply: reply.clone(),
            template: template.as_ref().map(|t| t.variables.clone()),
            at: jiff::Timestamp::now(),
        };
        // The opt-out check and `Sending` are one write: a STOP recorded since the claim
        // refuses it, and nothing goes out.
        if self.record(key, &sending, true).await? == Recorded::OptedOut {
            self.advance(key, &opted_out).await?;
            return Ok(opted_out);
        }
        self.take_over_if_asked(key, tenant, env).await?;
        let mut ids = Vec::new();
        for part in parts {
            if let Some(prev) = already_sent.iter().find(|s| s.body == part && !ids.contains(&s.provider_id))
            {
                ids.push(prev.provider_id.clone());
                continue;
            }
            let text = self.outbound(tenant, env, part, template.clone());
            // Only "never processed" errors are retried here; an ambiguous one leaves the
            // step at Sending so the next attempt reconciles first. Each try follows a
            // lease check: a holder that lost the turn stops before sending.
            match self.fenced(key, || self.ports.messenger.send(&text)).await {
                Ok(s) => ids.push(s.provider_id),
                Err(Fenced::Lease(e)) => return Err(e.into()),
                Err(Fenced::Call(e)) => {
                    return Err(self.send_failed(key, env, reply, template, ids.is_empty(), e).await);
                }
            }
        }
        // Not stored: the caller appends the reply and stores `Done` next; a crash in
        // between leaves `Sending`, and the next attempt finds the parts sent by
        // reconciling, so nothing goes out twice.
        Ok(TurnStep::Sent { reply, provider_ids: ids })
    }

    /// The template to send, if any. WhatsApp allows free text only within 24 hours of
    /// the customer's last message (this turn answers that message); past it, only a
    /// template may go out, so a free-text reply ends the turn.
    async fn template(
        &self,
        key: &Held,
        tenant: &TenantConfig,
        env: &Envelope,
        template: Option<BTreeMap<String, String>>,
    ) -> Result<Option<TemplateContent>, TurnError> {
        let since_inbound = jiff::Timestamp::now().duration_since(env.received_at).unsigned_abs();
        match (template, env.channel) {
            (Some(vars), _) => {
                let wa = tenant.whatsapp.as_ref().ok_or_else(|| {
                    TurnError::permanent("a template reply needs the tenant's whatsapp settings")
                })?;
                Ok(Some(TemplateContent { content_sid: wa.template_sid.clone(), variables: vars }))
            }
            (None, Channel::Whatsapp) if since_inbound > WHATSAPP_SESSION => {
                let done =
                    TurnStep::Done { outcome: "not sent: outside the WhatsApp 24-hour session".into() };
                self.advance(key, &done).await?;
                Err(TurnError::permanent("outside the WhatsApp 24-hour session: only templates may be sent"))
            }
            (None, _) => Ok(None),
        }
    }

    fn outbound(
        &self,
        tenant: &TenantConfig,
        env: &Envelope,
        body: String,
        template: Option<TemplateContent>,
    ) -> OutboundText {
        OutboundText {
            channel: env.channel,
            tenant: env.tenant.clone(),
            credentials: tenant.credentials.twilio.clone(),
            from: env.business_number().clone(),
            to: env.customer().clone(),
            body,
            template,
            status_callback: self
                .settings
                .status_callback_base
                .as_ref()
                .map(|b| format!("{b}/twilio/status")),
            email: None,
        }
    }

    /// Records what a failed send means for the turn, and returns the turn's error.
    async fn send_failed(
        &self,
        key: &Held,
        env: &Envelope,
        reply: String,
        template: Option<TemplateContent>,
        nothing_sent: bool,
        e: SendError,
    ) -> TurnError {
        let recorded = match &e {
            SendError::Retryable { .. } if nothing_sent => {
                // Nothing went out: back to ReplyReady, no reconciliation needed.
                let template = template.map(|t| t.variables);
                self.advance(key, &TurnStep::ReplyReady { reply, template }).await
            }
            SendError::Permanent { code, .. } => self.refused(key, env, code, &e).await,
            // Ambiguous (or retryable after some parts went out): `Sending` stays, and
            // the next attempt reconciles first.
            _ => Ok(()),
        };
        match recorded {
            Ok(()) => e.into(),
            Err(store) => store,
        }
    }

    /// A send refused for good ends the turn. Twilio's 21610 says the customer
    /// unsubscribed at the carrier: remember it, so no later turn tries again.
    async fn refused(&self, key: &Held, env: &Envelope, code: &str, e: &SendError) -> Result<(), TurnError> {
        if code == "21610" {
            let now = jiff::Timestamp::now();
            self.ports
                .consent
                .record(&env.tenant, env.customer(), ConsentAction::OptOut, "twilio:21610", now)
                .await?;
        }
        self.advance(key, &TurnStep::Done { outcome: format!("send refused: {e}") }).await
    }
}
