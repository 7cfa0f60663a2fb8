use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Address, Channel, TenantRef};

/// Identifies a conversation between one tenant and one customer address.
///
/// Derived, never random, so every message from the same customer to the same tenant
/// lands in the same conversation, and a retried request derives the same id:
/// `{company_id}.{project_id}.{family}.{address}` where `family` is the channel's
/// address family (`tel` for SMS and voice, `wa` for WhatsApp, `email`) and `address`
/// is the number's digits without `+`, or the email address whole.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConversationId(String);

impl ConversationId {
    /// The conversation between `tenant` and the customer at `customer` on `channel`.
    pub fn derive(tenant: &TenantRef, channel: Channel, customer: &Address) -> Self {
        Self(format!(
            "{}.{}.{}.{}",
            tenant.company_id,
            tenant.project_id,
            channel.address_family(),
            customer.id_part()
        ))
    }

    /// Wraps a stored id read back from storage or from a queue envelope.
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A form safe for logs: tenant and family kept, the customer's number cut to its last
    /// four digits (`acme.shop.tel.*******0123`). The full id holds the full number, so it
    /// is never logged ([`fmt::Display`] prints it whole: it is the stored key).
    pub fn redacted(&self) -> String {
        let mut parts = self.0.splitn(4, '.');
        if let (Some(c), Some(p), Some("email"), Some(address)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        {
            let shown =
                super::EmailAddress::parse(address).map_or_else(|_| "****".to_owned(), |e| e.redacted());
            return format!("{c}.{p}.email.{shown}");
        }
        match self.0.rsplit_once('.') {
            Some((head, address)) if address.len() > 4 && address.bytes().all(|b| b.is_ascii_digit()) => {
                let tail = &address[address.len() - 4..];
                format!("{head}.{}{tail}", "*".repeat(address.len() - 4))
            }
            Some((head, _)) => format!("{head}.****"),
            None => "****".to_owned(),
        }
    }
}

impl fmt::Display for ConversationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sms_and_voice_share_a_conversation() {
        let t = TenantRef::new("acme", "shop").unwrap();
        let p = Address::parse("+14155550123").unwrap();
        let sms = ConversationId::derive(&t, Channel::Sms, &p);
        assert_eq!(sms.as_str(), "acme.shop.tel.14155550123");
        assert_eq!(sms, ConversationId::derive(&t, Channel::Voice, &p));
        assert_ne!(sms, ConversationId::derive(&t, Channel::Whatsapp, &p));
    }

    #[test]
    fn redacted_keeps_the_tenant_and_hides_the_number() {
        let t = TenantRef::new("acme", "shop").unwrap();
        let p = Address::parse("+14155550123").unwrap();
        let id = ConversationId::derive(&t, Channel::Whatsapp, &p);
        assert_eq!(id.redacted(), "acme.shop.wa.*******0123");
        assert!(!id.redacted().contains("4155550"));
        assert_eq!(ConversationId::from_stored("odd".into()).redacted(), "****");
        assert_eq!(ConversationId::from_stored("a.b.tel.12".into()).redacted(), "a.b.tel.****");
        let email = Address::parse("ann.lee@example.com").unwrap();
        let id = ConversationId::derive(&t, Channel::Email, &email);
        assert_eq!(id.as_str(), "acme.shop.email.ann.lee@example.com");
        assert_eq!(id.redacted(), "acme.shop.email.a***@example.com");
    }
}
