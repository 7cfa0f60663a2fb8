//! Tenant configuration: one record per (company, project). The schema is documented in
//! `docs/tenants.md`; [`TenantConfig::from_json`] reports every bad field by its path.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{Channel, PhoneNumber, TenantRef, validate_id};

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
}

impl ToolName {
    /// Every tool, in declaration order.
    pub const ALL: [ToolName; 4] =
        [ToolName::CheckAvailability, ToolName::BookSlot, ToolName::AuthorizeDiscount, ToolName::LogUpsell];

    /// The name the model sees.
    pub fn as_str(self) -> &'static str {
        match self {
            ToolName::CheckAvailability => "check_availability",
            ToolName::BookSlot => "book_slot",
            ToolName::AuthorizeDiscount => "authorize_discount",
            ToolName::LogUpsell => "log_upsell",
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
        let mut w = Walker::default();
        let cfg = w.tenant(&value);
        match cfg {
            Some(cfg) if w.errors.is_empty() => Ok(cfg),
            _ => Err(TenantConfigError(w.errors)),
        }
    }

    /// The canonical JSON form, readable again by [`TenantConfig::from_json`].
    pub fn to_json_pretty(&self) -> String {
        // Invariant: the config is plain strings, numbers, lists and maps.
        serde_json::to_string_pretty(self).expect("tenant config serialises")
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

/// Compares two byte strings without an early exit on the first difference.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Walks a JSON document, recording every problem with its path.
#[derive(Default)]
struct Walker {
    errors: Vec<FieldError>,
}

const TOP_FIELDS: &[&str] = &[
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
    "api_keys",
    "admin_keys",
];

fn join(path: &str, field: &str) -> String {
    if path.is_empty() { field.to_owned() } else { format!("{path}.{field}") }
}

impl Walker {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError { path: path.into(), message: message.into() });
    }

    fn object<'a>(&mut self, path: &str, v: &'a Value, allowed: &[&str]) -> Option<&'a Map<String, Value>> {
        let Some(obj) = v.as_object() else {
            self.err(if path.is_empty() { "$" } else { path }, "must be an object");
            return None;
        };
        for key in obj.keys().filter(|k| !allowed.contains(&k.as_str())) {
            self.err(join(path, key), format!("unknown field (expected one of: {})", allowed.join(", ")));
        }
        Some(obj)
    }

    fn required<'a>(&mut self, obj: &'a Map<String, Value>, path: &str, field: &str) -> Option<&'a Value> {
        let v = obj.get(field);
        if v.is_none() {
            self.err(join(path, field), "is required");
        }
        v
    }

    fn string(&mut self, obj: &Map<String, Value>, path: &str, field: &str) -> Option<String> {
        let v = self.required(obj, path, field)?;
        // No control characters in names, ids and settings (they end up in logs and
        // prompts); the system prompt, a text, may have line breaks and tabs.
        let multiline = path == "ai" && field == "system_prompt";
        let bad = |c: char| {
            (c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')))
                || c == '\u{2028}'
                || c == '\u{2029}'
        };
        match v.as_str() {
            Some(s) if s.chars().any(bad) => {
                self.err(join(path, field), "must not contain control characters");
                None
            }
            Some(s) if !s.trim().is_empty() => Some(s.to_owned()),
            Some(_) => {
                self.err(join(path, field), "must not be empty");
                None
            }
            None => {
                self.err(join(path, field), "must be a string");
                None
            }
        }
    }

    fn id(&mut self, obj: &Map<String, Value>, field: &str) -> Option<String> {
        let s = self.string(obj, "", field)?;
        match validate_id(&s) {
            Ok(()) => Some(s),
            Err(e) => {
                self.err(field, e.to_string());
                None
            }
        }
    }

    fn uint(&mut self, obj: &Map<String, Value>, path: &str, field: &str, min: u64, max: u64) -> Option<u64> {
        let v = self.required(obj, path, field)?;
        match v.as_u64() {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.err(join(path, field), format!("must be a whole number from {min} to {max}"));
                None
            }
        }
    }

    fn array<'a>(&mut self, path: &str, v: &'a Value) -> Option<&'a Vec<Value>> {
        let arr = v.as_array();
        if arr.is_none() {
            self.err(path, "must be a list");
        }
        arr
    }

    fn channel(&mut self, path: &str, v: &Value) -> Option<Channel> {
        match v.as_str().map(str::parse::<Channel>) {
            Some(Ok(c)) => Some(c),
            Some(Err(e)) => {
                self.err(path, e.to_string());
                None
            }
            None => {
                self.err(path, "must be a string");
                None
            }
        }
    }

    fn tenant(&mut self, v: &Value) -> Option<TenantConfig> {
        let obj = self.object("", v, TOP_FIELDS)?;
        let company_id = self.id(obj, "company_id");
        let project_id = self.id(obj, "project_id");
        let company_name = self.string(obj, "", "company_name");
        let project_name = self.string(obj, "", "project_name");
        let project_status = self.project_status(obj);
        let allowed_channels = self.allowed_channels(obj);
        let numbers =
            obj.get("numbers").map_or(Some(BTreeMap::new()), |v| self.numbers(v, allowed_channels.as_ref()));
        let credentials = match obj.get("credentials") {
            Some(v) => self.credentials(v, company_id.as_deref(), project_id.as_deref()),
            None => Some(CredentialRefs::default()),
        };
        let ai = self.required(obj, "", "ai").and_then(|v| self.ai(v));
        let scheduling = self.required(obj, "", "scheduling").and_then(|v| self.scheduling(v));
        let discount_policy = self.required(obj, "", "discount_policy").and_then(|v| self.discount(v));
        let messaging = match obj.get("messaging") {
            Some(v) => self.messaging(v),
            None => Some(Messaging::default()),
        };
        let whatsapp = match obj.get("whatsapp") {
            Some(v) => self.whatsapp(v).map(Some),
            None => Some(None),
        };
        let booking = match obj.get("booking") {
            Some(v) => self.booking(v),
            None => Some(BookingConfig::default()),
        };
        let api_keys = self.keys(obj, "api_keys");
        let admin_keys = self.keys(obj, "admin_keys");
        Some(TenantConfig {
            tenant: TenantRef { company_id: company_id?, project_id: project_id? },
            company_name: company_name?,
            project_name: project_name?,
            project_status: project_status?,
            allowed_channels: allowed_channels?,
            numbers: numbers?,
            credentials: credentials?,
            ai: ai?,
            scheduling: scheduling?,
            discount_policy: discount_policy?,
            messaging: messaging?,
            whatsapp: whatsapp?,
            booking: booking?,
            api_keys: api_keys?,
            admin_keys: admin_keys?,
        })
    }

    fn project_status(&mut self, obj: &Map<String, Value>) -> Option<ProjectStatus> {
        match self.string(obj, "", "project_status")?.as_str() {
            "active" => Some(ProjectStatus::Active),
            "paused" => Some(ProjectStatus::Paused),
            "inactive" => Some(ProjectStatus::Inactive),
            other => {
                self.err("project_status", format!("'{other}' is not one of active, paused, inactive"));
                None
            }
        }
    }

    fn allowed_channels(&mut self, obj: &Map<String, Value>) -> Option<BTreeSet<Channel>> {
        let v = self.required(obj, "", "allowed_channels")?;
        let arr = self.array("allowed_channels", v)?;
        let mut set = BTreeSet::new();
        let mut ok = true;
        for (i, item) in arr.iter().enumerate() {
            let path = format!("allowed_channels[{i}]");
            match self.channel(&path, item) {
                Some(c) if !set.insert(c) => self.err(path, format!("'{c}' is listed twice")),
                Some(_) => {}
                None => ok = false,
            }
        }
        ok.then_some(set)
    }

    fn numbers(
        &mut self,
        v: &Value,
        allowed: Option<&BTreeSet<Channel>>,
    ) -> Option<BTreeMap<Channel, Vec<PhoneNumber>>> {
        let names: Vec<&str> = Channel::ALL.iter().map(|c| c.as_str()).collect();
        let obj = self.object("numbers", v, &names)?;
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (key, list) in obj {
            let Ok(channel) = key.parse::<Channel>() else { continue }; // reported by object()
            let path = format!("numbers.{key}");
            if allowed.is_some_and(|a| !a.contains(&channel)) {
                self.err(&path, format!("channel '{key}' is not in allowed_channels"));
            }
            let Some(arr) = self.array(&path, list) else {
                ok = false;
                continue;
            };
            let mut phones = Vec::new();
            for (i, item) in arr.iter().enumerate() {
                match item.as_str().map(PhoneNumber::parse) {
                    Some(Ok(p)) => phones.push(p),
                    Some(Err(e)) => {
                        self.err(format!("{path}[{i}]"), e.to_string());
                        ok = false;
                    }
                    None => {
                        self.err(format!("{path}[{i}]"), "must be a string");
                        ok = false;
                    }
                }
            }
            out.insert(channel, phones);
        }
        ok.then_some(out)
    }

    fn credentials(
        &mut self,
        v: &Value,
        company: Option<&str>,
        project: Option<&str>,
    ) -> Option<CredentialRefs> {
        let obj = self.object("credentials", v, &["twilio", "openai"])?;
        let mut refs = CredentialRefs::default();
        let mut ok = true;
        for (provider, slot) in [("twilio", &mut refs.twilio), ("openai", &mut refs.openai)] {
            if !obj.contains_key(provider) {
                continue;
            }
            let Some(name) = self.string(obj, "credentials", provider) else {
                ok = false;
                continue;
            };
            let path = format!("credentials.{provider}");
            let parts: Vec<&str> = name.split('/').collect();
            let tenant_scoped = parts.len() == 4
                && !parts[0].is_empty()
                && Some(parts[1]) == company
                && Some(parts[2]) == project
                && parts[3] == provider;
            let model_key = provider == "openai"
                && parts.len() == 2
                && parts[0] == "openai-api-key"
                && parts[1].parse::<Channel>().is_ok();
            if tenant_scoped || model_key {
                *slot = Some(name);
            } else {
                let expected = if provider == "openai" {
                    "'{credential_type}/{company_id}/{project_id}/openai' or 'openai-api-key/{channel}'"
                } else {
                    "'{credential_type}/{company_id}/{project_id}/twilio' with this tenant's ids"
                };
                self.err(path, format!("secret name must be {expected}"));
                ok = false;
            }
        }
        ok.then_some(refs)
    }

    fn ai(&mut self, v: &Value) -> Option<AiConfig> {
        let obj = self.object("ai", v, &["model", "system_prompt", "enabled_tools", "max_tool_rounds"])?;
        let model = self.string(obj, "ai", "model");
        let system_prompt = self.string(obj, "ai", "system_prompt");
        let max_tool_rounds = self.uint(obj, "ai", "max_tool_rounds", 1, 10);
        let enabled_tools = self.required(obj, "ai", "enabled_tools").and_then(|v| {
            let arr = self.array("ai.enabled_tools", v)?;
            let mut tools = Vec::new();
            let mut ok = true;
            for (i, item) in arr.iter().enumerate() {
                let found = ToolName::ALL.into_iter().find(|t| Some(t.as_str()) == item.as_str());
                match found {
                    Some(t) if tools.contains(&t) => {
                        self.err(format!("ai.enabled_tools[{i}]"), "listed twice");
                        ok = false;
                    }
                    Some(t) => tools.push(t),
                    None => {
                        let names: Vec<&str> = ToolName::ALL.iter().map(|t| t.as_str()).collect();
                        self.err(
                            format!("ai.enabled_tools[{i}]"),
                            format!("unknown tool (expected one of: {})", names.join(", ")),
                        );
                        ok = false;
                    }
                }
            }
            ok.then_some(tools)
        });
        Some(AiConfig {
            model: model?,
            system_prompt: system_prompt?,
            enabled_tools: enabled_tools?,
            max_tool_rounds: u8::try_from(max_tool_rounds?).ok()?,
        })
    }

    fn scheduling(&mut self, v: &Value) -> Option<Scheduling> {
        let obj = self.object("scheduling", v, &["timezone", "business_hours", "slot_minutes"])?;
        let timezone =
            self.string(obj, "scheduling", "timezone").and_then(|tz| match jiff::tz::TimeZone::get(&tz) {
                Ok(_) => Some(tz),
                Err(_) => {
                    self.err("scheduling.timezone", format!("'{tz}' is not an IANA time zone name"));
                    None
                }
            });
        let slot_minutes = self.uint(obj, "scheduling", "slot_minutes", 5, 480);
        let hours = self.required(obj, "scheduling", "business_hours").and_then(|v| self.business_hours(v));
        Some(Scheduling {
            timezone: timezone?,
            business_hours: hours?,
            slot_minutes: u16::try_from(slot_minutes?).ok()?,
        })
    }

    fn business_hours(&mut self, v: &Value) -> Option<BTreeMap<String, Vec<OpenRange>>> {
        let obj = self.object("scheduling.business_hours", v, &WEEKDAYS)?;
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (day, list) in obj.iter().filter(|(d, _)| WEEKDAYS.contains(&d.as_str())) {
            let path = format!("scheduling.business_hours.{day}");
            let Some(arr) = self.array(&path, list) else {
                ok = false;
                continue;
            };
            let mut ranges: Vec<OpenRange> = Vec::new();
            for (i, item) in arr.iter().enumerate() {
                let path = format!("{path}[{i}]");
                match item.as_str().and_then(parse_range) {
                    Some(r) if ranges.last().is_some_and(|prev| prev.close_minute > r.open_minute) => {
                        self.err(path, "overlaps or comes before the previous range");
                        ok = false;
                    }
                    Some(r) => ranges.push(r),
                    None => {
                        self.err(path, "must be \"HH:MM-HH:MM\" with the opening before the closing");
                        ok = false;
                    }
                }
            }
            out.insert(day.clone(), ranges);
        }
        ok.then_some(out)
    }

    fn discount(&mut self, v: &Value) -> Option<DiscountPolicy> {
        let obj = self.object("discount_policy", v, &["max_percent"])?;
        let max = self.uint(obj, "discount_policy", "max_percent", 0, 100)?;
        Some(DiscountPolicy { max_percent: u8::try_from(max).ok()? })
    }

    fn messaging(&mut self, v: &Value) -> Option<Messaging> {
        let obj = self.object("messaging", v, &["sms_segment_budget"])?;
        if !obj.contains_key("sms_segment_budget") {
            return Some(Messaging::default());
        }
        let budget = self.uint(obj, "messaging", "sms_segment_budget", 1, 10)?;
        Some(Messaging { sms_segment_budget: u8::try_from(budget).ok()? })
    }

    fn whatsapp(&mut self, v: &Value) -> Option<WhatsappConfig> {
        let obj = self.object("whatsapp", v, &["template_sid", "template_variables"])?;
        let sid = self.string(obj, "whatsapp", "template_sid").and_then(|s| {
            let ok = s.starts_with("HX") && s.len() == 34 && s[2..].bytes().all(|b| b.is_ascii_hexdigit());
            if !ok {
                self.err(
                    "whatsapp.template_sid",
                    "must be a Twilio Content SID (HX followed by 32 hex characters)",
                );
            }
            ok.then_some(s)
        });
        let vars = self.required(obj, "whatsapp", "template_variables").and_then(|v| {
            let arr = self.array("whatsapp.template_variables", v)?;
            let names: Vec<String> = arr.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect();
            let blank_or_control = |n: &String| n.trim().is_empty() || n.chars().any(char::is_control);
            if names.len() != arr.len() || names.is_empty() || names.iter().any(blank_or_control) {
                self.err("whatsapp.template_variables", "must be a non-empty list of variable names");
                return None;
            }
            Some(names)
        });
        Some(WhatsappConfig { template_sid: sid?, template_variables: vars? })
    }

    fn booking(&mut self, v: &Value) -> Option<BookingConfig> {
        let obj = self.object("booking", v, &["public_availability"])?;
        match obj.get("public_availability") {
            None => Some(BookingConfig::default()),
            Some(Value::Bool(b)) => Some(BookingConfig { public_availability: *b }),
            Some(_) => {
                self.err("booking.public_availability", "must be true or false");
                None
            }
        }
    }

    fn keys(&mut self, obj: &Map<String, Value>, field: &str) -> Option<Vec<KeyHash>> {
        let Some(v) = obj.get(field) else { return Some(Vec::new()) };
        let arr = self.array(field, v)?;
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in arr.iter().enumerate() {
            let path = format!("{field}[{i}]");
            let Some(k) = self.object(&path, item, &["id", "sha256"]) else {
                ok = false;
                continue;
            };
            let id = self.string(k, &path, "id");
            let sha = self.string(k, &path, "sha256").and_then(|s| {
                let valid =
                    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                if !valid {
                    self.err(
                        format!("{path}.sha256"),
                        "must be 64 lowercase hex characters (the SHA-256 of the key, never the key)",
                    );
                }
                valid.then_some(s)
            });
            match (id, sha) {
                (Some(id), Some(sha256)) => out.push(KeyHash { id, sha256 }),
                _ => ok = false,
            }
        }
        ok.then_some(out)
    }
}

fn parse_hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    // 24:00 is allowed as a closing time only; checked by the caller's ordering.
    (h < 24 && m < 60 || h == 24 && m == 0).then_some(h * 60 + m)
}

fn parse_range(s: &str) -> Option<OpenRange> {
    let (open, close) = s.split_once('-')?;
    let (open_minute, close_minute) = (parse_hhmm(open)?, parse_hhmm(close)?);
    (open_minute < close_minute && open_minute < 24 * 60).then_some(OpenRange { open_minute, close_minute })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../../../samples/tenants/demo-repair-shop.json");

    #[test]
    fn sample_tenant_is_valid_and_round_trips() {
        let cfg = TenantConfig::from_json(SAMPLE).unwrap();
        assert_eq!(cfg.tenant.company_id, "demo");
        assert!(cfg.allowed_channels.contains(&Channel::Sms));
        let again = TenantConfig::from_json(&cfg.to_json_pretty()).unwrap();
        assert_eq!(again, cfg);
    }

    #[test]
    fn every_bad_field_is_reported_by_path() {
        let mut v: Value = serde_json::from_str(SAMPLE).unwrap();
        v["company_id"] = "Bad Id".into();
        v["project_status"] = "running".into();
        v["allowed_channels"] = serde_json::json!(["sms", "fax"]);
        v["numbers"]["sms"] = serde_json::json!(["+15555550100", "555-0101"]);
        v["ai"]["max_tool_rounds"] = 0.into();
        v["ai"]["enabled_tools"] = serde_json::json!(["book_slot", "launch_rocket"]);
        v["scheduling"]["timezone"] = "Mars/Olympus".into();
        v["scheduling"]["business_hours"]["mon"] = serde_json::json!(["18:00-09:00"]);
        v["discount_policy"]["max_percent"] = 150.into();
        v["api_keys"][0]["sha256"] = "not-a-hash".into();
        v["alowed_channels"] = serde_json::json!([]);
        v.as_object_mut().unwrap().remove("company_name");

        let errors = TenantConfig::from_json(&v.to_string()).unwrap_err().0;
        let paths: BTreeSet<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        for expected in [
            "company_id",
            "company_name",
            "project_status",
            "allowed_channels[1]",
            "numbers.sms[1]",
            "ai.max_tool_rounds",
            "ai.enabled_tools[1]",
            "scheduling.timezone",
            "scheduling.business_hours.mon[0]",
            "discount_policy.max_percent",
            "api_keys[0].sha256",
            "alowed_channels",
        ] {
            assert!(paths.contains(expected), "missing {expected} in {errors:#?}");
        }
    }

    #[test]
    fn free_text_fields_refuse_control_characters() {
        let mut v: Value = serde_json::from_str(SAMPLE).unwrap();
        v["company_name"] = "Demo\n2026-01-01T00:00:00Z ERROR forged".into();
        v["project_name"] = "Main\u{0}Street".into();
        v["ai"]["model"] = "gpt\t4".into();
        v["ai"]["system_prompt"] = "Be brief.\u{1b}[2J".into();
        v["scheduling"]["timezone"] = "America/New_York\r".into();
        v["whatsapp"]["template_variables"] = serde_json::json!(["1", "2\n"]);
        let errors = TenantConfig::from_json(&v.to_string()).unwrap_err().0;
        let paths: BTreeSet<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        for expected in [
            "company_name",
            "project_name",
            "ai.model",
            "ai.system_prompt",
            "scheduling.timezone",
            "whatsapp.template_variables",
        ] {
            assert!(paths.contains(expected), "missing {expected} in {errors:#?}");
        }
        // The system prompt is a text: line breaks and tabs are fine there.
        let mut v: Value = serde_json::from_str(SAMPLE).unwrap();
        v["ai"]["system_prompt"] = "Be brief.\n\tAnd warm.\r\n".into();
        assert!(TenantConfig::from_json(&v.to_string()).is_ok());
    }

    #[test]
    fn credentials_must_belong_to_the_tenant() {
        let mut v: Value = serde_json::from_str(SAMPLE).unwrap();
        v["credentials"]["twilio"] = "twilio-credentials/other-co/repair-shop/twilio".into();
        let errors = TenantConfig::from_json(&v.to_string()).unwrap_err().0;
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].path, "credentials.twilio");
    }

    #[test]
    fn numbers_need_an_allowed_channel() {
        let mut v: Value = serde_json::from_str(SAMPLE).unwrap();
        v["allowed_channels"] = serde_json::json!(["sms"]);
        v["numbers"] = serde_json::json!({"sms": ["+15555550100"], "voice": ["+15555550100"]});
        let errors = TenantConfig::from_json(&v.to_string()).unwrap_err().0;
        assert_eq!(errors[0].path, "numbers.voice");
    }

    #[test]
    fn keys_are_compared_by_hash() {
        let mut cfg = TenantConfig::from_json(SAMPLE).unwrap();
        cfg.api_keys = vec![KeyHash { id: "k".into(), sha256: hash_key("secret-key") }];
        assert!(cfg.accepts_api_key("secret-key"));
        assert!(!cfg.accepts_api_key("secret-kez"));
        assert!(!cfg.accepts_admin_key("secret-key"));
    }

    #[test]
    fn not_json_is_one_error_at_the_root() {
        let errors = TenantConfig::from_json("{").unwrap_err().0;
        assert_eq!(errors[0].path, "$");
    }
}
