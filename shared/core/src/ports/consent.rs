use async_trait::async_trait;
use serde::Serialize;

use super::StoreError;
use crate::domain::{Address, TenantRef};

/// What a customer's keyword asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentAction {
    /// STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT.
    OptOut,
    /// START, YES, UNSTOP.
    OptIn,
    /// HELP, INFO: recorded, consent unchanged.
    Help,
}

impl ConsentAction {
    /// The action a message body asks for, if it is exactly one of the carrier keywords
    /// (case and surrounding spaces ignored, as carriers do).
    pub fn from_keyword(body: &str) -> Option<Self> {
        match body.trim().to_ascii_uppercase().as_str() {
            "STOP" | "STOPALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT" => Some(Self::OptOut),
            "START" | "YES" | "UNSTOP" => Some(Self::OptIn),
            "HELP" | "INFO" => Some(Self::Help),
            _ => None,
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OptOut => "opt_out",
            Self::OptIn => "opt_in",
            Self::Help => "help",
        }
    }
}

/// Opt-out state per tenant and customer address, with every keyword kept as history.
#[async_trait]
pub trait ConsentStore: Send + Sync {
    /// Records a keyword from `customer` and updates the opt-out state accordingly.
    async fn record(
        &self,
        tenant: &TenantRef,
        customer: &Address,
        action: ConsentAction,
        keyword: &str,
        at: jiff::Timestamp,
    ) -> Result<(), StoreError>;

    /// Whether `customer` has opted out of messages from `tenant`.
    async fn is_opted_out(&self, tenant: &TenantRef, customer: &Address) -> Result<bool, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_recognised_whole_and_case_insensitively() {
        for k in ["STOP", "stop", " Stop ", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"] {
            assert_eq!(ConsentAction::from_keyword(k), Some(ConsentAction::OptOut), "{k}");
        }
        for k in ["START", "yes", "UNSTOP"] {
            assert_eq!(ConsentAction::from_keyword(k), Some(ConsentAction::OptIn), "{k}");
        }
        for k in ["HELP", "info"] {
            assert_eq!(ConsentAction::from_keyword(k), Some(ConsentAction::Help), "{k}");
        }
        for k in ["stop texting me so early", "yes please book it", "", "STOP!"] {
            assert_eq!(ConsentAction::from_keyword(k), None, "{k}");
        }
    }
}
