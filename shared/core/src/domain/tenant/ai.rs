//! The model-layer settings of the `ai` section: which OpenAI API to speak, the monthly
//! budget, and the message sent instead of a model call past it.

use serde::Serialize;

use super::check::Checker;
use super::raw::{Field, Text};
use crate::domain::Usd;

/// Which OpenAI API the tenant's assistant speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelApi {
    /// Chat Completions (`POST /chat/completions`): OpenAI and compatible servers.
    #[default]
    ChatCompletions,
    /// The Responses API (`POST /responses`).
    Responses,
}

impl ModelApi {
    pub const ALL: [ModelApi; 2] = [ModelApi::ChatCompletions, ModelApi::Responses];

    pub fn as_str(self) -> &'static str {
        match self {
            ModelApi::ChatCompletions => "chat_completions",
            ModelApi::Responses => "responses",
        }
    }

    /// Whether this is the default (left out of the canonical form).
    pub fn is_default(&self) -> bool {
        *self == ModelApi::default()
    }
}

impl std::fmt::Display for ModelApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Longest `over_budget_message`, in characters (two SMS segments of GSM-7 text).
pub const OVER_BUDGET_MESSAGE_MAX_CHARS: usize = 320;

impl Checker {
    /// `ai.api`: absent is Chat Completions.
    pub fn model_api(&mut self, value: Text) -> Option<ModelApi> {
        match value {
            Field::Missing => Some(ModelApi::default()),
            value => {
                let name = self.line("ai", "api", value)?;
                let found = ModelApi::ALL.into_iter().find(|a| a.as_str() == name);
                if found.is_none() {
                    self.err("ai.api", format!("'{name}' is not one of chat_completions, responses"));
                }
                found
            }
        }
    }

    /// `ai.monthly_budget_usd`: optional, a number of dollars.
    pub fn budget(&mut self, value: Field<serde_json::Number>) -> Option<Option<Usd>> {
        let path = "ai.monthly_budget_usd";
        match value {
            Field::Missing => Some(None),
            Field::Bad => {
                self.err(path, "must be a number of dollars");
                None
            }
            Field::Ok(n) => match Usd::from_json_number(&n) {
                Ok(usd) => Some(Some(usd)),
                Err(message) => {
                    self.err(path, message);
                    None
                }
            },
        }
    }

    /// `ai.over_budget_message`: optional, 1 to 320 characters of one paragraph.
    pub fn over_budget_message(&mut self, value: Text) -> Option<Option<String>> {
        if matches!(value, Field::Missing) {
            return Some(None);
        }
        let text = self.line("ai", "over_budget_message", value)?;
        if text.chars().count() > OVER_BUDGET_MESSAGE_MAX_CHARS {
            let message = format!("must be 1 to {OVER_BUDGET_MESSAGE_MAX_CHARS} characters");
            self.err("ai.over_budget_message", message);
            return None;
        }
        Some(Some(text))
    }
}
