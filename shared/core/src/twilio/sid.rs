//! Twilio's resource identifiers: two letters naming the kind and 32 hex digits
//! (`SM…`/`MM…` for messages, `CA…` for calls, `AC…` for accounts). Parsed where they
//! enter (webhook forms), so code past the edge holds a checked SID, never a raw string.

use std::fmt;

/// Why a string is not a SID of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a 34-character Twilio {0} SID")]
pub struct SidError(&'static str);

/// Whether `s` is one of `prefixes` followed by 32 hex digits.
fn well_formed(s: &str, prefixes: &[&str]) -> bool {
    s.len() == 34
        && prefixes.iter().any(|p| s.starts_with(p))
        && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

macro_rules! sid {
    ($(#[$doc:meta])* $name:ident, $kind:literal, [$($prefix:literal),+]) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// Checks the prefix and the 32 hex digits.
            pub fn parse(s: &str) -> Result<Self, SidError> {
                if well_formed(s, &[$($prefix),+]) { Ok(Self(s.to_owned())) } else { Err(SidError($kind)) }
            }

            /// The SID as Twilio writes it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<&str> for $name {
            type Error = SidError;
            fn try_from(s: &str) -> Result<Self, SidError> {
                Self::parse(s)
            }
        }

        impl std::str::FromStr for $name {
            type Err = SidError;
            fn from_str(s: &str) -> Result<Self, SidError> {
                Self::parse(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<$name> for String {
            fn from(sid: $name) -> String {
                sid.0
            }
        }
    };
}

sid!(
    /// A message (`SM…`, or `MM…` for a message with media).
    MessageSid, "message", ["SM", "MM"]
);
sid!(
    /// A call (`CA…`).
    CallSid, "call", ["CA"]
);
sid!(
    /// An account (`AC…`).
    AccountSid, "account", ["AC"]
);

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789ABCDEF";

    #[test]
    fn sids_need_their_prefix_and_32_hex_digits() {
        assert!(MessageSid::parse(&format!("SM{HEX}")).is_ok());
        assert!(MessageSid::parse(&format!("MM{HEX}")).is_ok());
        assert!(CallSid::parse(&format!("CA{HEX}")).is_ok());
        assert!(AccountSid::parse(&format!("AC{HEX}")).is_ok());
        assert_eq!(
            CallSid::parse(&format!("SM{HEX}")).unwrap_err().to_string(),
            "must be a 34-character Twilio call SID"
        );
        for bad in [
            format!("SM{}", &HEX[1..]),
            format!("SM{HEX}0"),
            format!("SM{}g", &HEX[1..]),
            format!("sm{HEX}"),
            String::new(),
        ] {
            assert!(MessageSid::parse(&bad).is_err(), "{bad}");
        }
        assert_eq!(MessageSid::parse(&format!("SM{HEX}")).map(String::from), Ok(format!("SM{HEX}")));
    }
}
