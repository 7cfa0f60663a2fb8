use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A phone number in E.164 form: `+`, a country code not starting with 0, at most 15
/// digits in all.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber(String);

/// Why a string is not an E.164 phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneNumberError {
    #[error("must start with '+' followed by the country code (E.164)")]
    MissingPlus,
    #[error("must contain only digits after '+' (E.164)")]
    NotDigits,
    #[error("must have between 8 and 15 digits (E.164)")]
    BadLength,
    #[error("country code cannot start with 0 (E.164)")]
    LeadingZero,
}

impl PhoneNumber {
    /// Parses a strict E.164 number; no spaces, dashes or national formats.
    pub fn parse(s: &str) -> Result<Self, PhoneNumberError> {
        let digits = s.strip_prefix('+').ok_or(PhoneNumberError::MissingPlus)?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PhoneNumberError::NotDigits);
        }
        // Shortest real E.164 numbers (some small countries) have 8 digits in all.
        if !(8..=15).contains(&digits.len()) {
            return Err(PhoneNumberError::BadLength);
        }
        if digits.starts_with('0') {
            return Err(PhoneNumberError::LeadingZero);
        }
        Ok(Self(s.to_owned()))
    }

    /// The number as written, with the leading `+`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits without the `+`, as used inside identifiers.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }

    /// A form safe for logs: country code and last two digits only (`+1******67`).
    pub fn redacted(&self) -> String {
        let d = self.digits();
        let keep_tail = 2;
        let head = &d[..1];
        let tail = &d[d.len() - keep_tail..];
        format!("+{head}{}{tail}", "*".repeat(d.len() - 1 - keep_tail))
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Debug never prints the full number, so a stray `{:?}` in a log cannot leak it.
impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.redacted())
    }
}

impl Serialize for PhoneNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PhoneNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PhoneNumber::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_e164() {
        let p = PhoneNumber::parse("+14155550123").unwrap();
        assert_eq!(p.as_str(), "+14155550123");
        assert_eq!(p.digits(), "14155550123");
    }

    #[test]
    fn rejects_non_e164() {
        assert_eq!(PhoneNumber::parse("14155550123"), Err(PhoneNumberError::MissingPlus));
        assert_eq!(PhoneNumber::parse("+1 415 555"), Err(PhoneNumberError::NotDigits));
        assert_eq!(PhoneNumber::parse("+1415"), Err(PhoneNumberError::BadLength));
        assert_eq!(PhoneNumber::parse("+1234567890123456"), Err(PhoneNumberError::BadLength));
        assert_eq!(PhoneNumber::parse("+0123456789"), Err(PhoneNumberError::LeadingZero));
        assert_eq!(PhoneNumber::parse(""), Err(PhoneNumberError::MissingPlus));
        assert_eq!(PhoneNumber::parse("+"), Err(PhoneNumberError::BadLength));
    }

    #[test]
    fn debug_and_redacted_hide_the_number() {
        let p = PhoneNumber::parse("+14155550123").unwrap();
        assert_eq!(p.redacted(), "+1********23");
        assert!(!format!("{p:?}").contains("5550123"));
    }

    #[test]
    fn serde_parses_and_rejects() {
        let p: PhoneNumber = serde_json::from_str("\"+447700900123\"").unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"+447700900123\"");
        assert!(serde_json::from_str::<PhoneNumber>("\"07700900123\"").is_err());
    }
}
