use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A conversation channel; each has its own queue and dead-letter queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Sms,
    Voice,
    Whatsapp,
    Email,
}

/// The string named no channel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown channel '{0}' (expected one of sms, voice, whatsapp, email)")]
pub struct ChannelParseError(pub String);

impl Channel {
    /// Every channel, in a stable order.
    pub const ALL: [Channel; 4] = [Channel::Sms, Channel::Voice, Channel::Whatsapp, Channel::Email];

    /// The lowercase wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Voice => "voice",
            Channel::Whatsapp => "whatsapp",
            Channel::Email => "email",
        }
    }

    /// The address family a customer is known by on this channel. SMS and voice share
    /// the phone number, so a caller's calls and texts form one conversation.
    pub fn address_family(self) -> &'static str {
        match self {
            Channel::Sms | Channel::Voice => "tel",
            Channel::Whatsapp => "wa",
            Channel::Email => "email",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Channel {
    type Err = ChannelParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| ChannelParseError(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_names() {
        for c in Channel::ALL {
            assert_eq!(c.as_str().parse::<Channel>().unwrap(), c);
            assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{c}\""));
        }
        assert!("SMS".parse::<Channel>().is_err());
        assert!(serde_json::from_str::<Channel>("\"fax\"").is_err());
    }
}
