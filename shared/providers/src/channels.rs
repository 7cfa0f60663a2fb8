//! One messenger for every channel: email goes to the email messenger (SendGrid, or the
//! local outbox), every other channel to the text messenger (Twilio, or the outbox).

use std::sync::Arc;

use async_trait::async_trait;

use comms_core::domain::{Address, Channel, TenantRef};
use comms_core::ports::{Messenger, OutboundText, SendError, SentText};

/// Routes each send, and each reconciliation, by its channel.
pub struct ByChannel {
    texts: Arc<dyn Messenger>,
    email: Arc<dyn Messenger>,
}

impl ByChannel {
    /// `email` for `Channel::Email`, `texts` for SMS, WhatsApp and voice.
    pub fn new(texts: Arc<dyn Messenger>, email: Arc<dyn Messenger>) -> Self {
        Self { texts, email }
    }

    fn of(&self, channel: Channel) -> &dyn Messenger {
        match channel {
            Channel::Email => self.email.as_ref(),
            Channel::Sms | Channel::Whatsapp | Channel::Voice => self.texts.as_ref(),
        }
    }
}

#[async_trait]
impl Messenger for ByChannel {
    async fn send(&self, text: &OutboundText) -> Result<SentText, SendError> {
        self.of(text.channel).send(text).await
    }

    async fn sent_since(
        &self,
        channel: Channel,
        tenant: &TenantRef,
        credentials: Option<&str>,
        from: &Address,
        to: &Address,
        since: jiff::Timestamp,
    ) -> Result<Vec<SentText>, SendError> {
        self.of(channel).sent_since(channel, tenant, credentials, from, to, since).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a failed step should panic

    use super::*;

    /// Answers every call with its own name as the provider id.
    struct Named(&'static str);

    fn sent(name: &str, to: &Address) -> SentText {
        SentText {
            provider_id: name.into(),
            to: to.clone(),
            from: to.clone(),
            body: String::new(),
            status: "queued".into(),
            sent_at: jiff::Timestamp::now(),
        }
    }

    #[async_trait]
    impl Messenger for Named {
        async fn send(&self, text: &OutboundText) -> Result<SentText, SendError> {
            Ok(sent(self.0, &text.to))
        }

        async fn sent_since(
            &self,
            _: Channel,
            _: &TenantRef,
            _: Option<&str>,
            _: &Address,
            to: &Address,
            _: jiff::Timestamp,
        ) -> Result<Vec<SentText>, SendError> {
            Ok(vec![sent(self.0, to)])
        }
    }

    #[tokio::test]
    async fn email_goes_to_the_email_messenger_and_the_rest_to_texts() {
        let by = ByChannel::new(Arc::new(Named("texts")), Arc::new(Named("email")));
        let tenant = TenantRef { company_id: "demo".into(), project_id: "shop".into() };
        let to = Address::parse("+15551234567").unwrap();
        for (channel, expected) in
            [(Channel::Email, "email"), (Channel::Sms, "texts"), (Channel::Whatsapp, "texts")]
        {
            let text = OutboundText {
                channel,
                tenant: tenant.clone(),
                credentials: None,
                from: to.clone(),
                to: to.clone(),
                body: "hi".into(),
                template: None,
                status_callback: None,
                email: None,
            };
            assert_eq!(by.send(&text).await.unwrap().provider_id, expected);
            let now = jiff::Timestamp::now();
            let found = by.sent_since(channel, &tenant, None, &to, &to, now).await.unwrap();
            assert_eq!(found[0].provider_id, expected);
        }
    }
}
