use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a string cannot be a company or project id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "must be 1 to 64 characters of lowercase letters, digits, '-' or '_', starting with a letter or digit"
)]
pub struct IdError;

/// Company and project ids end up in secret names (`a/b/c`), storage keys and queue
/// attributes, so they are kept to a small safe alphabet.
pub fn validate_id(s: &str) -> Result<(), IdError> {
    let ok = (1..=64).contains(&s.len())
        && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok { Ok(()) } else { Err(IdError) }
}

/// Which tenant (company and project) something belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct TenantRef {
    pub company_id: String,
    pub project_id: String,
}

impl TenantRef {
    /// Builds a reference from two valid ids.
    pub fn new(company_id: &str, project_id: &str) -> Result<Self, IdError> {
        validate_id(company_id)?;
        validate_id(project_id)?;
        Ok(Self { company_id: company_id.to_owned(), project_id: project_id.to_owned() })
    }
}

impl fmt::Display for TenantRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.company_id, self.project_id)
    }
}

impl<'de> Deserialize<'de> for TenantRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            company_id: String,
            project_id: String,
        }
        let raw = Raw::deserialize(d)?;
        TenantRef::new(&raw.company_id, &raw.project_id).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_restricted() {
        assert!(validate_id("acme-repair_2").is_ok());
        for bad in ["", "Acme", "-acme", "a/b", "a#b", "a b", &"x".repeat(65)] {
            assert!(validate_id(bad).is_err(), "{bad:?} accepted");
        }
        assert!(serde_json::from_str::<TenantRef>(r#"{"company_id":"A","project_id":"b"}"#).is_err());
    }
}
