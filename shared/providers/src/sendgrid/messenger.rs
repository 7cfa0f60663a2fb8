//! The messenger port for `Channel::Email` on SendGrid: an [`OutboundText`] with its
//! [`comms_core::ports::OutboundEmail`] becomes one [`Mail`], from one of the tenant's
//! addresses with its `from_name`; SendGrid's `X-Message-Id` is the provider id. SendGrid cannot be asked what it sent, so `sent_since` refuses
//! (docs/decisions.md, "SendGrid outbound"): an ambiguous email is never resent.

use async_trait::async_trait;

use super::mail::Mail;
use super::send::SendGridMail;
use comms_core::domain::tenant::EmailSettings;
use comms_core::domain::{Address, Channel, TenantRef};
use comms_core::ports::{Messenger, OutboundText, SendError, SentText};

/// The `code` of [`Messenger::sent_since`]'s refusal.
pub const OUTCOME_UNKNOWN: &str = "email_outcome_unknown";

fn refused(code: &str, message: String) -> SendError {
    SendError::Permanent { code: code.into(), message }
}

/// The mail `text` asks for; refused when it is not an email with its headers.
pub fn mail_for(text: &OutboundText, from_name: &str) -> Result<Mail, SendError> {
    let (Some(from), Some(to)) = (text.from.email(), text.to.email()) else {
        return Err(refused("not_an_email_address", "SendGrid sends to email addresses only".into()));
    };
    let email = text.email.as_ref().ok_or_else(|| {
        refused("no_email_headers", "an email needs its subject and unsubscribe link".into())
    })?;
    Ok(Mail {
        from: from.as_str().to_owned(),
        from_name: from_name.to_owned(),
        to: to.as_str().to_owned(),
        subject: email.subject.clone(),
        text: text.body.clone(),
        in_reply_to: email.in_reply_to.clone(),
        references: email.references.clone(),
        unsubscribe_url: email.unsubscribe_url.clone(),
        tenant: (text.tenant.company_id.to_string(), text.tenant.project_id.to_string()),
    })
}

impl SendGridMail {
    /// The tenant's email settings: the sender's name, the secret, the addresses it may
    /// send from.
    async fn settings(&self, tenant: &TenantRef) -> Result<EmailSettings, SendError> {
        let config = self.tenants.get(tenant).await.map_err(|e| {
            // Our store failing sent nothing: retry.
            SendError::Retryable { message: format!("tenant lookup: {e}"), retry_after: None }
        })?;
        let config = config.ok_or_else(|| refused("unknown_tenant", format!("no tenant {tenant}")))?;
        config
            .email
            .ok_or_else(|| refused("no_email_settings", format!("tenant {tenant} has no email section")))
    }

    async fn deliver(&self, text: &OutboundText) -> Result<SentText, SendError> {
        let settings = self.settings(&text.tenant).await?;
        let mail = mail_for(text, &settings.from_name)?;
        if !text.from.email().is_some_and(|from| settings.addresses.contains(from)) {
            let message = format!("{} is not one of the tenant's email addresses", text.from.redacted());
            return Err(refused("not_the_tenants_address", message));
        }
        let secret = text.credentials.as_deref().unwrap_or(&settings.sendgrid_secret);
        let key = self.api_key(secret).await?;
        let provider_id = self.post(&key, &mail).await?;
        Ok(SentText {
            provider_id,
            to: text.to.clone(),
            from: text.from.clone(),
            body: text.body.clone(),
            status: "accepted".into(),
            sent_at: jiff::Timestamp::now(),
        })
    }
}

#[async_trait]
impl Messenger for SendGridMail {
    async fn send(&self, text: &OutboundText) -> Result<SentText, SendError> {
        let started = std::time::Instant::now();
        let result = self.deliver(text).await;
        let outcome = comms_core::metrics::outcome(&result);
        metrics::histogram!(comms_core::metrics::SEND_LATENCY_MS, "channel" => text.channel.as_str(), "outcome" => outcome)
            .record(comms_core::metrics::ms(started.elapsed()));
        result
    }

    /// SendGrid has no lookup of sent mail: answering "nothing found" would get the
    /// mail sent twice, so the question is refused for good.
    async fn sent_since(
        &self,
        _channel: Channel,
        _tenant: &TenantRef,
        _credentials: Option<&str>,
        _from: &Address,
        to: &Address,
        _since: jiff::Timestamp,
    ) -> Result<Vec<SentText>, SendError> {
        Err(refused(
            OUTCOME_UNKNOWN,
            format!(
                "SendGrid cannot be asked whether an email to {} went out after a timeout: not resent \
                 (SendGrid's activity feed shows it by the reply's comms_send_id)",
                to.redacted()
            ),
        ))
    }
}
