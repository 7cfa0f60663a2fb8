//! From the document as written ([`raw`](super::raw)) to a valid [`TenantConfig`]: every
//! rule of `docs/tenants.md`, each problem recorded with its path and the checking
//! carried on, so one pass reports them all.

use std::collections::BTreeMap;

use super::raw::{Field, RawTenant, TOP_FIELDS, Text, Unknown};
use super::{BookingConfig, CredentialRefs, FieldError, Messaging, TenantConfig};
use crate::domain::TenantRef;
use crate::domain::{Channel, PhoneNumber, validate_id};

/// Collects the problems of one document.
#[derive(Default)]
pub(super) struct Checker {
    pub errors: Vec<FieldError>,
}

/// `path.field`, or `field` at the top level.
pub(super) fn join(path: &str, field: &str) -> String {
    if path.is_empty() { field.to_owned() } else { format!("{path}.{field}") }
}

impl Checker {
    /// The whole document; `None` if anything is wrong (every problem recorded).
    pub fn tenant(&mut self, raw: RawTenant) -> Option<TenantConfig> {
        self.unknown("", &raw.unknown, TOP_FIELDS);
        let company_id = self.id("company_id", raw.company_id);
        let project_id = self.id("project_id", raw.project_id);
        let company_name = self.line("", "company_name", raw.company_name);
        let project_name = self.line("", "project_name", raw.project_name);
        let project_status = self.project_status(raw.project_status);
        let allowed_channels = self.allowed_channels(raw.allowed_channels);
        let numbers = match raw.numbers {
            Field::Missing => Some(BTreeMap::new()),
            numbers => self.numbers(numbers, allowed_channels.as_ref()),
        };
        let credentials = match raw.credentials {
            Field::Missing => Some(CredentialRefs::default()),
            c => self
                .section("credentials", c)
                .and_then(|c| self.credentials(c, company_id.as_deref(), project_id.as_deref())),
        };
        let ai = self.required_section("ai", raw.ai).and_then(|v| self.ai(v));
        let scheduling = self.required_section("scheduling", raw.scheduling).and_then(|v| self.scheduling(v));
        let discount_policy =
            self.required_section("discount_policy", raw.discount_policy).and_then(|v| self.discount(v));
        let messaging = match raw.messaging {
            Field::Missing => Some(Messaging::default()),
            m => self.section("messaging", m).and_then(|m| self.messaging(m)),
        };
        let whatsapp = match raw.whatsapp {
            Field::Missing => Some(None),
            w => self.section("whatsapp", w).and_then(|w| self.whatsapp(w)).map(Some),
        };
        let booking = match raw.booking {
            Field::Missing => Some(BookingConfig::default()),
            b => self.section("booking", b).and_then(|b| self.booking(b)),
        };
        let handoff = self.handoff(raw.handoff, ai.as_ref());
        let email = self.email_section(raw.email, company_id.as_deref().zip(project_id.as_deref()));
        let api_keys = self.keys("api_keys", raw.api_keys);
        let admin_keys = self.keys("admin_keys", raw.admin_keys);
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
            handoff: handoff?,
            email: email?,
            api_keys: api_keys?,
            admin_keys: admin_keys?,
        })
    }

    pub fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError { path: path.into(), message: message.into() });
    }

    /// Refuses every key of a section that is not one of `allowed` (a typo never
    /// silently drops a setting).
    pub fn unknown(&mut self, path: &str, unknown: &Unknown, allowed: &[&str]) {
        for key in unknown.keys() {
            self.err(join(path, key), format!("unknown field (expected one of: {})", allowed.join(", ")));
        }
    }

    /// A section that must be an object; `None` (nothing recorded) when it is absent.
    pub fn section<T>(&mut self, path: &str, field: Field<T>) -> Option<T> {
        match field {
            Field::Ok(t) => Some(t),
            Field::Missing => None,
            Field::Bad => {
                self.err(if path.is_empty() { "$" } else { path }, "must be an object");
                None
            }
        }
    }

    /// A required section; its absence is recorded.
    pub fn required_section<T>(&mut self, path: &str, field: Field<T>) -> Option<T> {
        if matches!(field, Field::Missing) {
            self.err(path, "is required");
        }
        self.section(path, field)
    }

    /// A list; `None` when it is absent (nothing recorded) or not a list.
    pub fn list<T>(&mut self, path: &str, field: Field<Vec<T>>) -> Option<Vec<T>> {
        match field {
            Field::Ok(items) => Some(items),
            Field::Missing => None,
            Field::Bad => {
                self.err(path, "must be a list");
                None
            }
        }
    }

    /// A required list.
    pub fn required_list<T>(&mut self, path: &str, field: Field<Vec<T>>) -> Option<Vec<T>> {
        if matches!(field, Field::Missing) {
            self.err(path, "is required");
        }
        self.list(path, field)
    }

    /// A required, non-empty string without control characters (names, ids and
    /// settings end up in logs and prompts). A `multiline` text (the system prompt) may
    /// have line breaks and tabs.
    pub fn text(&mut self, path: &str, field: Text, multiline: bool) -> Option<String> {
        let bad = |c: char| {
            (c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')))
                || c == '\u{2028}'
                || c == '\u{2029}'
        };
        let problem = match field {
            Field::Missing => "is required",
            Field::Bad => "must be a string",
            Field::Ok(s) if s.chars().any(bad) => "must not contain control characters",
            Field::Ok(s) if s.trim().is_empty() => "must not be empty",
            Field::Ok(s) => return Some(s),
        };
        self.err(path, problem);
        None
    }

    /// A required single-line text at `path.field`.
    pub fn line(&mut self, path: &str, field: &str, value: Text) -> Option<String> {
        self.text(&join(path, field), value, false)
    }

    /// A required id (company or project).
    pub fn id(&mut self, field: &str, value: Text) -> Option<String> {
        let s = self.line("", field, value)?;
        match validate_id(&s) {
            Ok(()) => Some(s),
            Err(e) => {
                self.err(field, e.to_string());
                None
            }
        }
    }

    /// A required whole number in `min..=max`.
    pub fn uint(&mut self, path: &str, field: Field<u64>, min: u64, max: u64) -> Option<u64> {
        match field {
            Field::Missing => self.err(path, "is required"),
            Field::Ok(n) if (min..=max).contains(&n) => return Some(n),
            _ => self.err(path, format!("must be a whole number from {min} to {max}")),
        }
        None
    }

    /// A channel name.
    pub fn channel(&mut self, path: &str, value: Text) -> Option<Channel> {
        match value {
            Field::Ok(s) => match s.parse::<Channel>() {
                Ok(c) => Some(c),
                Err(e) => {
                    self.err(path, e.to_string());
                    None
                }
            },
            _ => {
                self.err(path, "must be a string");
                None
            }
        }
    }

    /// A list of E.164 numbers; `None` if any is invalid (each one recorded).
    pub fn phones(&mut self, path: &str, items: Vec<Text>) -> Option<Vec<PhoneNumber>> {
        let mut phones = Vec::new();
        let mut ok = true;
        for (i, item) in items.into_iter().enumerate() {
            match item {
                Field::Ok(s) => match PhoneNumber::parse(&s) {
                    Ok(p) => phones.push(p),
                    Err(e) => {
                        self.err(format!("{path}[{i}]"), e.to_string());
                        ok = false;
                    }
                },
                _ => {
                    self.err(format!("{path}[{i}]"), "must be a string");
                    ok = false;
                }
            }
        }
        ok.then_some(phones)
    }
}

/// The string of a list item, if it is one.
pub(super) fn as_str(item: &Text) -> Option<&str> {
    match item {
        Field::Ok(s) => Some(s),
        _ => None,
    }
}
