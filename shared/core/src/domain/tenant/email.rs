//! The `email` section: the addresses that route to the tenant, how replies are signed
//! and sent (SendGrid secret), the reply length cap, the inbound path secret.

use super::EmailSettings;
use super::check::Checker;
use super::raw::{Field, RawEmail};
use crate::domain::EmailAddress;

/// The reply length cap when a tenant sets none.
pub const DEFAULT_MAX_REPLY_CHARS: u32 = 2000;

const FIELDS: &[&str] =
    &["addresses", "from_name", "sendgrid_secret", "max_reply_chars", "inbound_path_secret"];

/// The tenant's own SendGrid secret name.
pub fn default_sendgrid_secret(company: &str, project: &str) -> String {
    format!("email-credentials/{company}/{project}/sendgrid")
}

impl Checker {
    /// The optional section: `Some(None)` when absent.
    pub fn email_section(
        &mut self,
        value: Field<RawEmail>,
        ids: Option<(&str, &str)>,
    ) -> Option<Option<EmailSettings>> {
        match value {
            Field::Missing => Some(None),
            e => self.section("email", e).and_then(|e| self.email(e, ids)).map(Some),
        }
    }

    /// The section, if present; `ids` are the tenant's (company, project) when valid.
    pub fn email(&mut self, raw: RawEmail, ids: Option<(&str, &str)>) -> Option<EmailSettings> {
        self.unknown("email", &raw.unknown, FIELDS);
        let addresses = self.email_addresses(raw.addresses);
        let from_name = self.line("email", "from_name", raw.from_name);
        let sendgrid_secret = self.sendgrid_secret(raw.sendgrid_secret, ids);
        let max_reply_chars = match raw.max_reply_chars {
            Field::Missing => Some(DEFAULT_MAX_REPLY_CHARS),
            n => self.uint("email.max_reply_chars", n, 100, 20_000).and_then(|n| u32::try_from(n).ok()),
        };
        let inbound_path_secret = match raw.inbound_path_secret {
            Field::Missing => Some(None),
            value => {
                let s = self.line("email", "inbound_path_secret", value)?;
                let ok = (16..=128).contains(&s.len())
                    && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if !ok {
                    self.err("email.inbound_path_secret", "must be 16 to 128 letters, digits, '-' or '_'");
                }
                ok.then_some(Some(s))
            }
        };
        Some(EmailSettings {
            addresses: addresses?,
            from_name: from_name?,
            sendgrid_secret: sendgrid_secret?,
            max_reply_chars: max_reply_chars?,
            inbound_path_secret: inbound_path_secret?,
        })
    }

    fn email_addresses(&mut self, value: super::raw::TextList) -> Option<Vec<EmailAddress>> {
        let path = "email.addresses";
        let items = self.required_list(path, value)?;
        if items.is_empty() {
            self.err(path, "must list at least one address");
            return None;
        }
        let mut out: Vec<EmailAddress> = Vec::new();
        let mut ok = true;
        for (i, item) in items.into_iter().enumerate() {
            let parsed = match item {
                Field::Ok(s) => EmailAddress::parse(s.trim()).map_err(|e| e.to_string()),
                _ => Err("must be a string".to_owned()),
            };
            match parsed {
                Ok(a) if out.contains(&a) => {
                    self.err(format!("{path}[{i}]"), "is listed twice");
                    ok = false;
                }
                Ok(a) => out.push(a),
                Err(message) => {
                    self.err(format!("{path}[{i}]"), message);
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    fn sendgrid_secret(&mut self, value: super::raw::Text, ids: Option<(&str, &str)>) -> Option<String> {
        let path = "email.sendgrid_secret";
        let (company, project) = ids?;
        let name = match value {
            Field::Missing => return Some(default_sendgrid_secret(company, project)),
            value => self.line("email", "sendgrid_secret", value)?,
        };
        if name == default_sendgrid_secret(company, project) {
            return Some(name);
        }
        self.err(
            path,
            format!("must be '{}' (this tenant's own secret)", default_sendgrid_secret(company, project)),
        );
        None
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::TenantConfig;

    const SAMPLE: &str = include_str!("../../../../../samples/tenants/demo-repair-shop.json");

    fn with_email(email: Value) -> Result<TenantConfig, Vec<(String, String)>> {
        let mut v: Value = serde_json::from_str(SAMPLE).unwrap();
        v["email"] = email;
        TenantConfig::from_json(&v.to_string())
            .map_err(|e| e.0.into_iter().map(|f| (f.path, f.message)).collect())
    }

    #[test]
    fn a_minimal_section_gets_the_defaults_and_round_trips() {
        let cfg =
            with_email(json!({"addresses": ["Help@Shop.Example.com"], "from_name": "Demo Repairs"})).unwrap();
        let email = cfg.email.as_ref().unwrap();
        assert_eq!(email.addresses[0].as_str(), "Help@shop.example.com");
        assert_eq!(email.sendgrid_secret, "email-credentials/demo/repair-shop/sendgrid");
        assert_eq!(email.max_reply_chars, 2000);
        assert_eq!(cfg.email_addresses().len(), 1);
        assert_eq!(TenantConfig::from_json(&cfg.to_json_pretty()).unwrap(), cfg);
        let plain = TenantConfig::from_json(SAMPLE).unwrap();
        assert!(plain.email.is_none() && !plain.to_json_pretty().contains("\"email\""));
    }

    #[test]
    fn every_bad_email_field_is_reported_by_path() {
        let errors = with_email(json!({
            "addresses": ["help@shop.example.com", "nope", "help@shop.example.com"],
            "sendgrid_secret": "email-credentials/other/tenant/sendgrid",
            "max_reply_chars": 5,
            "inbound_path_secret": "short",
            "colour": "blue"
        }))
        .unwrap_err();
        let paths: Vec<&str> = errors.iter().map(|(p, _)| p.as_str()).collect();
        for expected in [
            "email.addresses[1]",
            "email.addresses[2]",
            "email.from_name",
            "email.sendgrid_secret",
            "email.max_reply_chars",
            "email.inbound_path_secret",
            "email.colour",
        ] {
            assert!(paths.contains(&expected), "{expected} missing from {errors:?}");
        }
        assert!(with_email(json!({"addresses": [], "from_name": "x"})).is_err());
        assert!(with_email(json!("help@shop.example.com")).is_err());
    }
}
