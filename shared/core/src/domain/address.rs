//! Customers' addresses: an E.164 phone number or an email address.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Channel, PhoneNumber, PhoneNumberError};

/// An email address: `local@domain`, the domain lowercased (the local part is kept as
/// written: it may be case-sensitive). Conservative: no spaces, no quoted local parts,
/// no IP-literal domains; a domain of dot-separated LDH labels with at least one dot.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailAddress(String);

/// Why a string is not an email address this system accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailAddressError {
    #[error("must be one local part, '@' and a domain (name@example.com)")]
    Shape,
    #[error("must be at most 254 characters")]
    TooLong,
    #[error("the part before '@' must be 1 to 64 printable characters without spaces, quotes or brackets")]
    Local,
    #[error("the domain must be dot-separated labels of letters, digits and '-' (example.com)")]
    Domain,
}

const LOCAL_SPECIALS: &[u8] = b"!#$%&'*+-/=?^_`{|}~.";

impl EmailAddress {
    /// Parses `local@domain` (surrounding spaces are not trimmed: callers trim).
    pub fn parse(s: &str) -> Result<Self, EmailAddressError> {
        if s.len() > 254 {
            return Err(EmailAddressError::TooLong);
        }
        let (local, domain) = s.split_once('@').ok_or(EmailAddressError::Shape)?;
        if domain.contains('@') {
            return Err(EmailAddressError::Shape);
        }
        let local_ok = (1..=64).contains(&local.len())
            && local.bytes().all(|b| b.is_ascii_alphanumeric() || LOCAL_SPECIALS.contains(&b))
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        if !local_ok {
            return Err(EmailAddressError::Local);
        }
        let label_ok = |l: &str| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if !domain.contains('.') || !domain.split('.').all(label_ok) {
            return Err(EmailAddressError::Domain);
        }
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    /// The address as stored (domain lowercased).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The domain part.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, d)| d)
    }

    /// A form safe for logs: the local part's first character and the domain
    /// (`j***@example.com`).
    pub fn redacted(&self) -> String {
        let first = self.0.chars().next().unwrap_or('*');
        format!("{first}***@{}", self.domain())
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Debug never prints the full address.
impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress({})", self.redacted())
    }
}

impl Serialize for EmailAddress {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EmailAddress {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        EmailAddress::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Where a customer (or a tenant) is reached: a phone number (SMS, voice, WhatsApp) or
/// an email address. On the wire and in storage, its plain string: an email when it
/// holds `@`, else a phone number, so records written before email existed read back as
/// phone addresses.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Address {
    Phone(PhoneNumber),
    Email(EmailAddress),
}

/// Why a string is no address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("not a phone number: {0}")]
    Phone(#[from] PhoneNumberError),
    #[error("not an email address: {0}")]
    Email(#[from] EmailAddressError),
}

impl Address {
    /// An email address when `s` holds `@`, else an E.164 phone number.
    pub fn parse(s: &str) -> Result<Self, AddressError> {
        if s.contains('@') {
            Ok(Address::Email(EmailAddress::parse(s)?))
        } else {
            Ok(Address::Phone(PhoneNumber::parse(s)?))
        }
    }

    /// The address as written (`+14155550123`, `ann@example.com`).
    pub fn as_str(&self) -> &str {
        match self {
            Address::Phone(p) => p.as_str(),
            Address::Email(e) => e.as_str(),
        }
    }

    /// A form safe for logs.
    pub fn redacted(&self) -> String {
        match self {
            Address::Phone(p) => p.redacted(),
            Address::Email(e) => e.redacted(),
        }
    }

    /// The phone number, if this is one.
    pub fn phone(&self) -> Option<&PhoneNumber> {
        match self {
            Address::Phone(p) => Some(p),
            Address::Email(_) => None,
        }
    }

    /// The email address, if this is one.
    pub fn email(&self) -> Option<&EmailAddress> {
        match self {
            Address::Email(e) => Some(e),
            Address::Phone(_) => None,
        }
    }

    /// One channel per conversation this address can have (voice shares SMS's): a
    /// number's SMS and WhatsApp conversations, an email address's email one.
    pub fn conversation_channels(&self) -> &'static [Channel] {
        match self {
            Address::Phone(_) => &[Channel::Sms, Channel::Whatsapp],
            Address::Email(_) => &[Channel::Email],
        }
    }

    /// The part of a conversation id naming this address: a number's digits without
    /// `+`, an email address whole.
    pub fn id_part(&self) -> &str {
        match self {
            Address::Phone(p) => p.digits(),
            Address::Email(e) => e.as_str(),
        }
    }
}

impl From<PhoneNumber> for Address {
    fn from(p: PhoneNumber) -> Self {
        Address::Phone(p)
    }
}

impl From<EmailAddress> for Address {
    fn from(e: EmailAddress) -> Self {
        Address::Email(e)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Phone(p) => fmt::Debug::fmt(p, f),
            Address::Email(e) => fmt::Debug::fmt(e, f),
        }
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Address::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses_and_lowercases_the_domain() {
        let e = EmailAddress::parse("Ann.Lee+shop@Example.CO.uk").unwrap();
        assert_eq!(e.as_str(), "Ann.Lee+shop@example.co.uk");
        assert_eq!(e.domain(), "example.co.uk");
        assert_eq!(e.redacted(), "A***@example.co.uk");
        assert!(!format!("{e:?}").contains("Lee"));
    }

    #[test]
    fn rejects_what_is_not_an_address() {
        use EmailAddressError::*;
        for (s, err) in [
            ("ann", Shape),
            ("a@b@c.com", Shape),
            ("@example.com", Local),
            ("a b@example.com", Local),
            (".a@example.com", Local),
            ("a..b@example.com", Local),
            ("ann@localhost", Domain),
            ("ann@-x.com", Domain),
            ("ann@exa_mple.com", Domain),
            ("ann@example..com", Domain),
        ] {
            assert_eq!(EmailAddress::parse(s), Err(err), "{s}");
        }
        assert_eq!(EmailAddress::parse(&format!("a@{}.com", "b".repeat(260))), Err(TooLong));
    }

    #[test]
    fn an_address_is_its_plain_string_on_the_wire() {
        let phone: Address = serde_json::from_str("\"+14155550123\"").unwrap();
        assert_eq!(phone.phone().map(PhoneNumber::as_str), Some("+14155550123"));
        assert_eq!(phone.id_part(), "14155550123");
        let email: Address = serde_json::from_str("\"ann@Example.com\"").unwrap();
        assert_eq!(email.email().map(EmailAddress::as_str), Some("ann@example.com"));
        assert_eq!(serde_json::to_string(&email).unwrap(), "\"ann@example.com\"");
        assert_eq!(email.redacted(), "a***@example.com");
        assert!(email.phone().is_none() && phone.email().is_none());
        assert!(serde_json::from_str::<Address>("\"0415\"").is_err());
        assert!(serde_json::from_str::<Address>("\"ann@\"").is_err());
    }
}
