//! The tenant document as written: typed serde structs whose every field is a
//! [`Field`], so one wrong value never stops the parse and every problem can be reported
//! by path (`check.rs` turns these into a `TenantConfig`). Unknown keys are kept in
//! `unknown`, to be refused by name.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// One field of the document: absent, of the expected shape, or something else (the
/// error says what was expected).
#[derive(Debug, Default)]
pub(super) enum Field<T> {
    #[default]
    Missing,
    Ok(T),
    Bad,
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        Ok(Field::from_value(value))
    }
}

impl<T: DeserializeOwned> Field<T> {
    /// `value` read as a `T`, or kept as it is when it is not one.
    pub(super) fn from_value(value: Value) -> Self {
        T::deserialize(&value).map_or(Field::Bad, Field::Ok)
    }
}

/// Keys a section does not know, in document order.
pub(super) type Unknown = BTreeMap<String, Value>;

/// A text field (a string, possibly of the wrong type).
pub(super) type Text = Field<String>;

/// A list of text fields.
pub(super) type TextList = Field<Vec<Text>>;

/// The whole document. Structs with a flattened map are read from JSON objects only, so
/// a list where a section belongs is `Bad`, never read by position.
#[derive(Debug, Deserialize)]
pub(super) struct RawTenant {
    #[serde(default)]
    pub company_id: Text,
    #[serde(default)]
    pub project_id: Text,
    #[serde(default)]
    pub company_name: Text,
    #[serde(default)]
    pub project_name: Text,
    #[serde(default)]
    pub project_status: Text,
    #[serde(default)]
    pub allowed_channels: TextList,
    #[serde(default)]
    pub numbers: Field<BTreeMap<String, TextList>>,
    #[serde(default)]
    pub credentials: Field<RawCredentials>,
    #[serde(default)]
    pub ai: Field<RawAi>,
    #[serde(default)]
    pub scheduling: Field<RawScheduling>,
    #[serde(default)]
    pub discount_policy: Field<RawDiscount>,
    #[serde(default)]
    pub messaging: Field<RawMessaging>,
    #[serde(default)]
    pub whatsapp: Field<RawWhatsapp>,
    #[serde(default)]
    pub booking: Field<RawBooking>,
    #[serde(default)]
    pub handoff: Field<RawHandoff>,
    #[serde(default)]
    pub email: Field<RawEmail>,
    #[serde(default)]
    pub api_keys: Field<Vec<Field<RawKey>>>,
    #[serde(default)]
    pub admin_keys: Field<Vec<Field<RawKey>>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// The top-level keys, in the order the unknown-field message lists them.
pub(super) const TOP_FIELDS: &[&str] = &[
    "company_id",
    "project_id",
    "company_name",
    "project_name",
    "project_status",
    "allowed_channels",
    "numbers",
    "credentials",
    "ai",
    "scheduling",
    "discount_policy",
    "messaging",
    "whatsapp",
    "booking",
    "handoff",
    "email",
    "api_keys",
    "admin_keys",
];

#[derive(Debug, Deserialize)]
pub(super) struct RawCredentials {
    #[serde(default)]
    pub twilio: Text,
    #[serde(default)]
    pub openai: Text,
    #[serde(flatten)]
    pub unknown: Unknown,
}

pub(super) const CREDENTIAL_FIELDS: &[&str] = &["twilio", "openai"];

#[derive(Debug, Deserialize)]
pub(super) struct RawAi {
    #[serde(default)]
    pub model: Text,
    #[serde(default)]
    pub system_prompt: Text,
    #[serde(default)]
    pub enabled_tools: TextList,
    #[serde(default)]
    pub max_tool_rounds: Field<u64>,
    #[serde(default)]
    pub vision: Field<bool>,
    #[serde(default)]
    pub api: Text,
    #[serde(default)]
    pub monthly_budget_usd: Field<serde_json::Number>,
    #[serde(default)]
    pub over_budget_message: Text,
    #[serde(flatten)]
    pub unknown: Unknown,
}

pub(super) const AI_FIELDS: &[&str] = &[
    "model",
    "system_prompt",
    "enabled_tools",
    "max_tool_rounds",
    "vision",
    "api",
    "monthly_budget_usd",
    "over_budget_message",
];

#[derive(Debug, Deserialize)]
pub(super) struct RawScheduling {
    #[serde(default)]
    pub timezone: Text,
    #[serde(default)]
    pub business_hours: Field<BTreeMap<String, TextList>>,
    #[serde(default)]
    pub slot_minutes: Field<u64>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

pub(super) const SCHEDULING_FIELDS: &[&str] = &["timezone", "business_hours", "slot_minutes"];

#[derive(Debug, Deserialize)]
pub(super) struct RawDiscount {
    #[serde(default)]
    pub max_percent: Field<u64>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawMessaging {
    #[serde(default)]
    pub sms_segment_budget: Field<u64>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawWhatsapp {
    #[serde(default)]
    pub template_sid: Text,
    #[serde(default)]
    pub template_variables: TextList,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawBooking {
    #[serde(default)]
    pub public_availability: Field<bool>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawHandoff {
    #[serde(default)]
    pub notify_number: Text,
    #[serde(default)]
    pub takeover_hours: Field<u64>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawEmail {
    #[serde(default)]
    pub addresses: TextList,
    #[serde(default)]
    pub from_name: Text,
    #[serde(default)]
    pub sendgrid_secret: Text,
    #[serde(default)]
    pub max_reply_chars: Field<u64>,
    #[serde(default)]
    pub inbound_path_secret: Text,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawKey {
    #[serde(default)]
    pub id: Text,
    #[serde(default)]
    pub sha256: Text,
    #[serde(flatten)]
    pub unknown: Unknown,
}
