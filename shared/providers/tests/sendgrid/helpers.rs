//! In-memory secrets and tenants, the sample mail and outbound email, and the client.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use comms_core::domain::tenant::{EmailSettings, TenantConfig};
use comms_core::domain::{Address, Channel, EmailAddress, PhoneNumber, TenantRef};
use comms_core::ports::{
    OutboundEmail, OutboundText, Secret, SecretError, SecretStore, StoreError, TenantDirectory,
};
use comms_providers::sendgrid::{Mail, SendGridMail};
use comms_testkit::sendgrid::SendGridStub;

pub const SECRET: &str = "email-credentials/demo/repair-shop/sendgrid";
pub const SHOP: &str = "shop@repair.example";

pub struct Secrets(pub HashMap<String, String>);

#[async_trait]
impl SecretStore for Secrets {
    async fn get(&self, name: &str) -> Result<Secret, SecretError> {
        self.0.get(name).map(Secret::new).ok_or_else(|| SecretError::NotFound(name.into()))
    }
}

/// The tenants by id (the only lookup the messenger makes).
pub struct Tenants(Vec<TenantConfig>);

impl Tenants {
    pub fn empty() -> Arc<dyn TenantDirectory> {
        Arc::new(Tenants(Vec::new()))
    }
}

#[async_trait]
impl TenantDirectory for Tenants {
    async fn put(&self, _config: &TenantConfig) -> Result<(), StoreError> {
        unimplemented!("read-only")
    }

    async fn get(&self, tenant: &TenantRef) -> Result<Option<TenantConfig>, StoreError> {
        Ok(self.0.iter().find(|c| &c.tenant == tenant).cloned())
    }

    async fn by_number(&self, _: Channel, _: &PhoneNumber) -> Result<Option<TenantConfig>, StoreError> {
        unimplemented!("not used by the messenger")
    }

    async fn by_email(&self, _: &EmailAddress) -> Result<Option<TenantConfig>, StoreError> {
        unimplemented!("not used by the messenger")
    }
}

/// The demo tenant with an email section (`shop@repair.example`, "Fix-It Shop").
pub fn tenant() -> TenantConfig {
    let mut cfg =
        TenantConfig::from_json(include_str!("../../../../samples/tenants/demo-repair-shop.json")).unwrap();
    cfg.email = Some(EmailSettings {
        addresses: vec![EmailAddress::parse(SHOP).unwrap()],
        from_name: "Fix-It Shop".into(),
        sendgrid_secret: SECRET.into(),
        max_reply_chars: 2000,
        inbound_path_secret: None,
    });
    cfg
}

pub fn mail() -> Mail {
    Mail {
        from: SHOP.into(),
        from_name: "Fix-It Shop".into(),
        to: "jane@example.com".into(),
        subject: "Cracked screen".into(),
        text: "We can fix it today <3 & it costs 80 EUR.".into(),
        in_reply_to: Some("<CAB123@mail.gmail.com>".into()),
        references: vec!["<CAA000@mail.gmail.com>".into()],
        unsubscribe_url: "https://comms.example/email/unsubscribe?t=tok".into(),
        tenant: ("acme".into(), "repairs".into()),
    }
}

/// The reply to Jane's mail, as the engine hands it to the messenger.
pub fn outbound(tenant: &TenantConfig) -> OutboundText {
    OutboundText {
        channel: Channel::Email,
        tenant: tenant.tenant.clone(),
        credentials: Some(SECRET.into()),
        from: Address::parse(SHOP).unwrap(),
        to: Address::parse("jane@example.com").unwrap(),
        body: "Yes, bring it in at 3pm.".into(),
        template: None,
        status_callback: None,
        email: Some(OutboundEmail {
            subject: "Re: Cracked screen".into(),
            in_reply_to: Some("<CAB123@mail.gmail.com>".into()),
            references: vec!["<CAB123@mail.gmail.com>".into()],
            unsubscribe_url: "https://comms.example/email/unsubscribe?t=tok".into(),
        }),
    }
}

/// The messenger on `stub`, knowing the demo tenant and its key.
pub fn messenger(stub: &SendGridStub, timeout: Duration) -> SendGridMail {
    let secrets = Secrets(HashMap::from([(SECRET.into(), r#"{"api_key": "SG.test-key"}"#.into())]));
    SendGridMail::new(&stub.base_url, Arc::new(secrets), Arc::new(Tenants(vec![tenant()])), timeout).unwrap()
}

/// The client on `stub` and the demo tenant's key.
pub async fn client(stub: &SendGridStub, timeout: Duration) -> (SendGridMail, Secret) {
    let sendgrid = messenger(stub, timeout);
    let key = sendgrid.api_key(SECRET).await.unwrap();
    (sendgrid, key)
}
