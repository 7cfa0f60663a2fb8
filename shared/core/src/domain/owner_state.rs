//! The business owner's current state (at work, at the gym, off...), which the assistant
//! adapts to.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What the owner is doing. Custom modes are kept as written (upper-cased).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum OwnerMode {
    Work,
    Gym,
    Off,
    Vacation,
    Custom(String),
}

impl From<String> for OwnerMode {
    fn from(s: String) -> Self {
        match s.trim().to_ascii_uppercase().as_str() {
            "WORK" => OwnerMode::Work,
            "GYM" => OwnerMode::Gym,
            "OFF" => OwnerMode::Off,
            "VACATION" => OwnerMode::Vacation,
            other => OwnerMode::Custom(other.to_owned()),
        }
    }
}

impl From<OwnerMode> for String {
    fn from(m: OwnerMode) -> Self {
        m.to_string()
    }
}

impl fmt::Display for OwnerMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            OwnerMode::Work => "WORK",
            OwnerMode::Gym => "GYM",
            OwnerMode::Off => "OFF",
            OwnerMode::Vacation => "VACATION",
            OwnerMode::Custom(s) => s,
        })
    }
}

/// The owner's state as set; after `until` it reverts to the default (WORK).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerState {
    pub mode: OwnerMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<jiff::Timestamp>,
    pub updated_at: jiff::Timestamp,
}

impl OwnerState {
    /// The state when none is set, or the set one has expired.
    pub fn default_at(now: jiff::Timestamp) -> Self {
        Self { mode: OwnerMode::Work, location: None, notes: None, until: None, updated_at: now }
    }

    /// This state if still in force at `now`, else the default.
    pub fn effective(stored: Option<Self>, now: jiff::Timestamp) -> Self {
        match stored {
            Some(s) if s.until.is_none_or(|u| u > now) => s,
            _ => Self::default_at(now),
        }
    }

    /// One line for the system prompt.
    pub fn describe(&self) -> String {
        let mut s = format!("Owner's current state: {}", self.mode);
        if let Some(l) = &self.location {
            s.push_str(&format!(", location: {l}"));
        }
        if let Some(n) = &self.notes {
            s.push_str(&format!(", notes: {n}"));
        }
        if let Some(u) = &self.until {
            s.push_str(&format!(", until {u}"));
        }
        s.push('.');
        match self.mode {
            OwnerMode::Gym => s.push_str(
                " The owner is at the gym: fewer and later slots are open today; it is fine to say \
                 slots are limited and to encourage booking the next open one.",
            ),
            OwnerMode::Off => s.push_str(" The owner is off today: offer slots from the next working day."),
            OwnerMode::Vacation => s.push_str(" The owner is on vacation: no bookings until they return."),
            _ => {}
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_custom_is_kept() {
        assert_eq!(OwnerMode::from("gym".to_owned()), OwnerMode::Gym);
        assert_eq!(OwnerMode::from("at lunch".to_owned()), OwnerMode::Custom("AT LUNCH".into()));
    }

    #[test]
    fn expired_state_reverts_to_work() {
        let now: jiff::Timestamp = "2026-11-23T12:00:00Z".parse().unwrap();
        let mut s = OwnerState { mode: OwnerMode::Gym, ..OwnerState::default_at(now) };
        s.until = Some("2026-11-23T11:00:00Z".parse().unwrap());
        assert_eq!(OwnerState::effective(Some(s.clone()), now).mode, OwnerMode::Work);
        s.until = Some("2026-11-23T13:00:00Z".parse().unwrap());
        assert_eq!(OwnerState::effective(Some(s), now).mode, OwnerMode::Gym);
        assert_eq!(OwnerState::effective(None, now).mode, OwnerMode::Work);
    }
}
