//! Tenant configuration: one record per (company, project). The schema is documented in
//! `docs/tenants.md`; [`TenantConfig::from_json`] reports every bad field by its path.
//!
//! Parsing has two steps: serde reads the document into the structs of `raw`, where every
//! field may hold the wrong thing without failing the parse; `check` (with the rules of
//! each section in `sections`) then validates them all, collecting every problem.

mod ai;
mod check;
mod email;
mod handoff;
mod raw;
mod sections;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Channel, EmailAddress, PhoneNumber, TenantRef, Usd};
use crate::secure::constant_time_eq;
pub use ai::{ModelApi, OVER_BUDGET_MESSAGE_MAX_CHARS};
pub use email::{DEFAULT_MAX_REPLY_CHARS, default_sendgrid_secret};

/// Whether a project may start or continue conversations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProjectStatus {
    Active,
    Paused,
    Inactive,
}

/// A tool the assistant may be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolName {
    CheckAvailability,
    BookSlot,
    AuthorizeDiscount,
    LogUpsell,
    RequestHuman,
}

impl ToolName {
    /// Every tool, in declaration order.
    pub const ALL: [ToolName; 5] = [
        ToolName::CheckAvailability,
        ToolName::BookSlot,
        ToolName::AuthorizeDiscount,
        ToolName::LogUpsell,
        ToolName::RequestHuman,
    ];

    /// The name the model sees.
    pub fn as_str(self) -> &'static str {
        match self {
            ToolName::CheckAvailability => "check_availability",
            ToolName::BookSlot => "book_slot",
            ToolName::AuthorizeDiscount => "authorize_discount",
            ToolName::LogUpsell => "log_upsell",
            ToolName::RequestHuman => "request_human",
        }
    }
}

/// Which secrets hold this tenant's credentials: names, never values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CredentialRefs {
    /// `{type}/{company}/{project}/twilio`; the secret holds
    /// `{"account_sid": "...", "auth_token": "..."}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub twilio: Option<String>,
    /// `openai-api-key/{channel}` or `{type}/{company}/{project}/openai`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openai: Option<String>,
}

/// How the assistant is configured for this tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AiConfig {
    pub model: String,
    pub system_prompt: String,
    pub enabled_tools: Vec<ToolName>,
    pub max_tool_rounds: u8,
    /// Whether the model takes images: customers' photos are given to it as image inputs
    /// (else it is told how many they sent). Left out of the canonical form while false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub vision: bool,
    /// Which OpenAI API to speak; left out of the canonical form while Chat Completions.
    #[serde(skip_serializing_if = "ModelApi::is_default")]
    pub api: ModelApi,
    /// Past this much model spend in a calendar month (UTC), the assistant answers with
    /// `over_budget_message` without calling the model. `None`: no budget.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monthly_budget_usd: Option<Usd>,
    /// The fixed answer past the budget (1 to 320 characters); `None`: a built-in one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub over_budget_message: Option<String>,
}

/// Opening hours as minutes since midnight, `[open, close)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenRange {
    pub open_minute: u16,
    pub close_minute: u16,
}

impl fmt::Display for OpenRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (o, c) = (self.open_minute, self.close_minute);
        write!(f, "{:02}:{:02}-{:02}:{:02}", o / 60, o % 60, c / 60, c % 60)
    }
}

impl Serialize for OpenRange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Day keys of `business_hours`, Monday first.
pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// When the business takes bookings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scheduling {
    /// IANA time zone name, e.g. `America/New_York`.
    pub timezone: String,
    /// Open ranges per day key (`mon`..`sun`); a missing day is closed.
    pub business_hours: BTreeMap<String, Vec<OpenRange>>,
    pub slot_minutes: u16,
}

/// Limits the assistant can never exceed, whatever the model asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DiscountPolicy {
    pub max_percent: u8,
}

/// An API or admin key, kept only as the SHA-256 of the key.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct KeyHash {
    /// A name for the key, so it can be listed and revoked.
    pub id: String,
    /// Lowercase hex SHA-256 of the key.
    pub sha256: String,
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHash({})", self.id)
    }
}

/// The hex SHA-256 under which a presented key is stored and compared.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// How replies are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Messaging {
    /// Most SMS segments one reply may use (each is billed). Default 2.
    pub sms_segment_budget: u8,
}

impl Default for Messaging {
    fn default() -> Self {
        Self { sms_segment_budget: 2 }
    }
}

/// WhatsApp sending settings: the approved template used to open a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WhatsappConfig {
    /// Twilio Content SID (`HX...`) of the approved template.
    pub template_sid: String,
    /// The template's content variable names (`"1"`, `"2"` or named), all required.
    pub template_variables: Vec<String>,
}

/// Booking API settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct BookingConfig {
    /// Whether `GET /availability` answers without a key (for a public booking page).
    pub public_availability: bool,
}

/// Hand-off to a human: who is told, and how long a takeover lasts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Handoff {
    /// Where the owner is notified by SMS when the assistant hands a conversation over
    /// (`request_human`). Required when that tool is enabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify_number: Option<PhoneNumber>,
    /// How long a takeover lasts unless handed back earlier (1 to 720 hours; default 24).
    pub takeover_hours: u32,
}

impl Default for Handoff {
    fn default() -> Self {
        Self { notify_number: None, takeover_hours: DEFAULT_TAKEOVER_HOURS }
    }
}

/// The takeover length when a tenant sets none.
pub const DEFAULT_TAKEOVER_HOURS: u32 = 24;

impl Handoff {
    /// Whether nothing differs from the default.
    pub fn is_default(&self) -> bool {
        *self == Handoff::default()
    }

    /// How long a takeover lasts.
    pub fn takeover_for(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.takeover_hours) * 3600)
    }
}

/// The email channel's settings.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct EmailSettings {
    /// The addresses that route to this tenant (inbound `To`); the first is the default
    /// sender of conversations the tenant starts.
    pub addresses: Vec<EmailAddress>,
    /// The display name on sent mail (`From: "{from_name}" <address>`).
    pub from_name: String,
    /// The secret holding the SendGrid API key: `email-credentials/{company}/{project}/sendgrid`.
    pub sendgrid_secret: String,
    /// Longest reply sent by email, in characters (100 to 20,000; default 2,000).
    pub max_reply_chars: u32,
    /// A secret path segment for the inbound webhook (`/email/inbound/{secret}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbound_path_secret: Option<String>,
}

impl fmt::Debug for EmailSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailSettings")
            .field("addresses", &self.addresses)
            .field("from_name", &self.from_name)
            .field("sendgrid_secret", &self.sendgrid_secret)
            .field("max_reply_chars", &self.max_reply_chars)
            .field("inbound_path_secret", &self.inbound_path_secret.as_ref().map(|_| "***"))
            .finish()
    }
}

/// A tenant's whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantConfig {
    #[serde(flatten)]
    pub tenant: TenantRef,
    pub company_name: String,
    pub project_name: String,
    pub project_status: ProjectStatus,
    pub allowed_channels: BTreeSet<Channel>,
    /// The numbers that route to this tenant, per channel.
    pub numbers: BTreeMap<Channel, Vec<PhoneNumber>>,
    pub credentials: CredentialRefs,
    pub ai: AiConfig,
    pub scheduling: Scheduling,
    pub discount_policy: DiscountPolicy,
    pub messaging: Messaging,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub whatsapp: Option<WhatsappConfig>,
    pub booking: BookingConfig,
    /// Left out of the canonical form while it is the default (no number, 24 hours).
    #[serde(skip_serializing_if = "Handoff::is_default")]
    pub handoff: Handoff,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailSettings>,
    pub api_keys: Vec<KeyHash>,
    pub admin_keys: Vec<KeyHash>,
}

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Dotted path with array indexes: `numbers.sms[1]`.
    pub path: String,
    pub message: String,
}

/// Every problem found in a tenant file, in document order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct TenantConfigError(pub Vec<FieldError>);

impl fmt::Display for TenantConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid tenant configuration ({} problems):", self.0.len())?;
        for e in &self.0 {
            writeln!(f, "  {}: {}", e.path, e.message)?;
        }
        Ok(())
    }
}

impl TenantConfig {
    /// Parses and validates a tenant document, collecting every error.
    pub fn from_json(text: &str) -> Result<Self, TenantConfigError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| TenantConfigError(vec![FieldError { path: "$".into(), message: e.to_string() }]))?;
        let mut checker = check::Checker::default();
        let cfg = checker.section("", raw::Field::from_value(value)).and_then(|raw| checker.tenant(raw));
        match cfg {
            Some(cfg) if checker.errors.is_empty() => Ok(cfg),
            _ => Err(TenantConfigError(checker.errors)),
        }
    }

    /// The canonical JSON form, readable again by [`TenantConfig::from_json`].
    pub fn to_json_pretty(&self) -> String {
        // Invariant: the config is plain strings, numbers, lists and maps.
        serde_json::to_string_pretty(self).expect("tenant config serialises")
    }

    /// The email addresses that route to this tenant (none without an `email` section).
    pub fn email_addresses(&self) -> &[EmailAddress] {
        self.email.as_ref().map_or(&[], |e| e.addresses.as_slice())
    }

    /// Whether `key` is one of this tenant's API keys (compared by hash, in constant time).
    pub fn accepts_api_key(&self, key: &str) -> bool {
        key_matches(&self.api_keys, key)
    }

    /// Whether `key` is one of this tenant's admin keys.
    pub fn accepts_admin_key(&self, key: &str) -> bool {
        key_matches(&self.admin_keys, key)
    }
}

fn key_matches(keys: &[KeyHash], key: &str) -> bool {
    let presented = hash_key(key);
    // Fold over every key so the time taken does not say which one matched.
    keys.iter().fold(false, |found, k| found | constant_time_eq(k.sha256.as_bytes(), presented.as_bytes()))
}
