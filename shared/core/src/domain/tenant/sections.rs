//! The rules of each section of a tenant document (`docs/tenants.md`), on the
//! [`Checker`]: each returns `None` when its section has a problem, after recording it.

use std::collections::{BTreeMap, BTreeSet};

use super::check::{Checker, as_str};
use super::raw::{
    AI_FIELDS, CREDENTIAL_FIELDS, Field, RawAi, RawBooking, RawCredentials, RawDiscount, RawKey,
    RawMessaging, RawScheduling, RawWhatsapp, SCHEDULING_FIELDS, Text, TextList,
};
use super::{
    AiConfig, BookingConfig, CredentialRefs, DiscountPolicy, KeyHash, Messaging, OpenRange, ProjectStatus,
    Scheduling, ToolName, WEEKDAYS, WhatsappConfig,
};
use crate::domain::{Channel, PhoneNumber};

impl Checker {
    pub fn project_status(&mut self, value: Text) -> Option<ProjectStatus> {
        match self.line("", "project_status", value)?.as_str() {
            "active" => Some(ProjectStatus::Active),
            "paused" => Some(ProjectStatus::Paused),
            "inactive" => Some(ProjectStatus::Inactive),
            other => {
                self.err("project_status", format!("'{other}' is not one of active, paused, inactive"));
                None
            }
        }
    }

    pub fn allowed_channels(&mut self, value: TextList) -> Option<BTreeSet<Channel>> {
        let items = self.required_list("allowed_channels", value)?;
        let mut set = BTreeSet::new();
        let mut ok = true;
        for (i, item) in items.into_iter().enumerate() {
            let path = format!("allowed_channels[{i}]");
            match self.channel(&path, item) {
                Some(c) if !set.insert(c) => self.err(path, format!("'{c}' is listed twice")),
                Some(_) => {}
                None => ok = false,
            }
        }
        ok.then_some(set)
    }

    /// Numbers per channel; a channel must be allowed (when the allowed ones are known).
    pub fn numbers(
        &mut self,
        value: Field<BTreeMap<String, TextList>>,
        allowed: Option<&BTreeSet<Channel>>,
    ) -> Option<BTreeMap<Channel, Vec<PhoneNumber>>> {
        let lists = self.section("numbers", value)?;
        let names: Vec<&str> = Channel::ALL.iter().map(|c| c.as_str()).collect();
        for key in lists.keys().filter(|k| k.parse::<Channel>().is_err()) {
            self.err(
                format!("numbers.{key}"),
                format!("unknown field (expected one of: {})", names.join(", ")),
            );
        }
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (key, list) in lists {
            let Ok(channel) = key.parse::<Channel>() else { continue }; // reported above
            let path = format!("numbers.{key}");
            if allowed.is_some_and(|a| !a.contains(&channel)) {
                self.err(&path, format!("channel '{key}' is not in allowed_channels"));
            }
            match self.list(&path, list).and_then(|items| self.phones(&path, items)) {
                Some(phones) => drop(out.insert(channel, phones)),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// Secret names, which must belong to this tenant (or be a channel's shared model key).
    pub fn credentials(
        &mut self,
        raw: RawCredentials,
        company: Option<&str>,
        project: Option<&str>,
    ) -> Option<CredentialRefs> {
        self.unknown("credentials", &raw.unknown, CREDENTIAL_FIELDS);
        let mut refs = CredentialRefs::default();
        let mut ok = true;
        for (provider, value, slot) in
            [("twilio", raw.twilio, &mut refs.twilio), ("openai", raw.openai, &mut refs.openai)]
        {
            if matches!(value, Field::Missing) {
                continue;
            }
            let path = format!("credentials.{provider}");
            let Some(name) = self.text(&path, value, false) else {
                ok = false;
                continue;
            };
            if secret_name_fits(&name, provider, company, project) {
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

    pub fn ai(&mut self, raw: RawAi) -> Option<AiConfig> {
        self.unknown("ai", &raw.unknown, AI_FIELDS);
        let model = self.line("ai", "model", raw.model);
        let system_prompt = self.text("ai.system_prompt", raw.system_prompt, true);
        let max_tool_rounds = self.uint("ai.max_tool_rounds", raw.max_tool_rounds, 1, 10);
        let enabled_tools =
            self.required_list("ai.enabled_tools", raw.enabled_tools).and_then(|items| self.tools(items));
        let vision = self.flag("ai.vision", raw.vision);
        let api = self.model_api(raw.api);
        let monthly_budget_usd = self.budget(raw.monthly_budget_usd);
        let over_budget_message = self.over_budget_message(raw.over_budget_message);
        Some(AiConfig {
            model: model?,
            system_prompt: system_prompt?,
            enabled_tools: enabled_tools?,
            max_tool_rounds: u8::try_from(max_tool_rounds?).ok()?,
            vision: vision?,
            api: api?,
            monthly_budget_usd: monthly_budget_usd?,
            over_budget_message: over_budget_message?,
        })
    }

    fn tools(&mut self, items: Vec<Text>) -> Option<Vec<ToolName>> {
        let mut tools = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match ToolName::ALL.into_iter().find(|t| Some(t.as_str()) == as_str(item)) {
                Some(t) if tools.contains(&t) => {
                    self.err(format!("ai.enabled_tools[{i}]"), "listed twice");
                    ok = false;
                }
                Some(t) => tools.push(t),
                None => {
                    let names: Vec<&str> = ToolName::ALL.iter().map(|t| t.as_str()).collect();
                    let message = format!("unknown tool (expected one of: {})", names.join(", "));
                    self.err(format!("ai.enabled_tools[{i}]"), message);
                    ok = false;
                }
            }
        }
        ok.then_some(tools)
    }

    pub fn scheduling(&mut self, raw: RawScheduling) -> Option<Scheduling> {
        self.unknown("scheduling", &raw.unknown, SCHEDULING_FIELDS);
        let timezone = self.line("scheduling", "timezone", raw.timezone).and_then(|tz| {
            match jiff::tz::TimeZone::get(&tz) {
                Ok(_) => Some(tz),
                Err(_) => {
                    self.err("scheduling.timezone", format!("'{tz}' is not an IANA time zone name"));
                    None
                }
            }
        });
        let slot_minutes = self.uint("scheduling.slot_minutes", raw.slot_minutes, 5, 480);
        let hours = self
            .required_section("scheduling.business_hours", raw.business_hours)
            .and_then(|days| self.business_hours(days));
        Some(Scheduling {
            timezone: timezone?,
            business_hours: hours?,
            slot_minutes: u16::try_from(slot_minutes?).ok()?,
        })
    }

    fn business_hours(
        &mut self,
        days: BTreeMap<String, TextList>,
    ) -> Option<BTreeMap<String, Vec<OpenRange>>> {
        for day in days.keys().filter(|d| !WEEKDAYS.contains(&d.as_str())) {
            let message = format!("unknown field (expected one of: {})", WEEKDAYS.join(", "));
            self.err(format!("scheduling.business_hours.{day}"), message);
        }
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (day, list) in days.into_iter().filter(|(d, _)| WEEKDAYS.contains(&d.as_str())) {
            let path = format!("scheduling.business_hours.{day}");
            match self.list(&path, list).and_then(|items| self.ranges(&path, &items)) {
                Some(ranges) => drop(out.insert(day, ranges)),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn ranges(&mut self, path: &str, items: &[Text]) -> Option<Vec<OpenRange>> {
        let mut ranges: Vec<OpenRange> = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let path = format!("{path}[{i}]");
            match as_str(item).and_then(parse_range) {
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
        ok.then_some(ranges)
    }

    pub fn discount(&mut self, raw: RawDiscount) -> Option<DiscountPolicy> {
        self.unknown("discount_policy", &raw.unknown, &["max_percent"]);
        let max = self.uint("discount_policy.max_percent", raw.max_percent, 0, 100)?;
        Some(DiscountPolicy { max_percent: u8::try_from(max).ok()? })
    }

    pub fn messaging(&mut self, raw: RawMessaging) -> Option<Messaging> {
        self.unknown("messaging", &raw.unknown, &["sms_segment_budget"]);
        if matches!(raw.sms_segment_budget, Field::Missing) {
            return Some(Messaging::default());
        }
        let budget = self.uint("messaging.sms_segment_budget", raw.sms_segment_budget, 1, 10)?;
        Some(Messaging { sms_segment_budget: u8::try_from(budget).ok()? })
    }

    pub fn whatsapp(&mut self, raw: RawWhatsapp) -> Option<WhatsappConfig> {
        self.unknown("whatsapp", &raw.unknown, &["template_sid", "template_variables"]);
        let sid = self.line("whatsapp", "template_sid", raw.template_sid).and_then(|s| {
            let ok = s.starts_with("HX") && s.len() == 34 && s[2..].bytes().all(|b| b.is_ascii_hexdigit());
            if !ok {
                let message = "must be a Twilio Content SID (HX followed by 32 hex characters)";
                self.err("whatsapp.template_sid", message);
            }
            ok.then_some(s)
        });
        let path = "whatsapp.template_variables";
        let vars = self.required_list(path, raw.template_variables).and_then(|items| {
            let names: Vec<String> = items.iter().filter_map(as_str).map(str::to_owned).collect();
            let blank_or_control = |n: &String| n.trim().is_empty() || n.chars().any(char::is_control);
            if names.len() != items.len() || names.is_empty() || names.iter().any(blank_or_control) {
                self.err(path, "must be a non-empty list of variable names");
                return None;
            }
            Some(names)
        });
        Some(WhatsappConfig { template_sid: sid?, template_variables: vars? })
    }

    pub fn booking(&mut self, raw: RawBooking) -> Option<BookingConfig> {
        self.unknown("booking", &raw.unknown, &["public_availability"]);
        let public_availability = self.flag("booking.public_availability", raw.public_availability)?;
        Some(BookingConfig { public_availability })
    }

    /// An optional boolean (absent: false).
    fn flag(&mut self, field: &str, value: Field<bool>) -> Option<bool> {
        match value {
            Field::Missing => Some(false),
            Field::Ok(b) => Some(b),
            Field::Bad => {
                self.err(field, "must be true or false");
                None
            }
        }
    }

    /// API or admin keys: an absent list is empty.
    pub fn keys(&mut self, field: &str, value: Field<Vec<Field<RawKey>>>) -> Option<Vec<KeyHash>> {
        if matches!(value, Field::Missing) {
            return Some(Vec::new());
        }
        let items = self.list(field, value)?;
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in items.into_iter().enumerate() {
            let path = format!("{field}[{i}]");
            match self.section(&path, item).and_then(|k| self.key(&path, k)) {
                Some(key) => out.push(key),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn key(&mut self, path: &str, raw: RawKey) -> Option<KeyHash> {
        self.unknown(path, &raw.unknown, &["id", "sha256"]);
        let id = self.line(path, "id", raw.id);
        let sha = self.line(path, "sha256", raw.sha256).and_then(|s| {
            let valid = s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if !valid {
                let message = "must be 64 lowercase hex characters (the SHA-256 of the key, never the key)";
                self.err(format!("{path}.sha256"), message);
            }
            valid.then_some(s)
        });
        Some(KeyHash { id: id?, sha256: sha? })
    }
}

/// Whether a secret name belongs to this tenant: `{type}/{company}/{project}/{provider}`,
/// or, for the model, a channel's shared `openai-api-key/{channel}`.
fn secret_name_fits(name: &str, provider: &str, company: Option<&str>, project: Option<&str>) -> bool {
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
    tenant_scoped || model_key
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
