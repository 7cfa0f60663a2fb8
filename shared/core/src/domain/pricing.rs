//! What model calls cost: a price per million tokens for each model, and the cost of one
//! call's [`Usage`]. The built-in table holds OpenAI's public prices; a configured table
//! (the same JSON shape) overrides or adds models.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::Usd;
use super::tenant::{FieldError, TenantConfigError};
use crate::ports::Usage;

/// A model's prices, per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ModelPrice {
    pub input_per_mtok: Usd,
    /// Input tokens served from the prompt cache.
    pub cached_input_per_mtok: Usd,
    pub output_per_mtok: Usd,
}

/// Prices per model name. JSON:
/// `{"gpt-4o-mini": {"input_per_mtok": 0.15, "cached_input_per_mtok": 0.075, "output_per_mtok": 0.6}}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct PriceTable {
    models: BTreeMap<String, ModelPrice>,
}

/// A bad price table: every problem, by path (`gpt-4o.output_per_mtok`).
pub type PriceTableError = TenantConfigError;

const FIELDS: [&str; 3] = ["input_per_mtok", "cached_input_per_mtok", "output_per_mtok"];

/// OpenAI's standard-tier prices in dollars per million tokens (input, cached input,
/// output), from https://openai.com/api/pricing as of 2025-08-07 (gpt-5's launch).
const BUILTIN: [(&str, u64, u64, u64); 8] = [
    ("gpt-4o", 2_500_000, 1_250_000, 10_000_000),
    ("gpt-4o-mini", 150_000, 75_000, 600_000),
    ("gpt-4.1", 2_000_000, 500_000, 8_000_000),
    ("gpt-4.1-mini", 400_000, 100_000, 1_600_000),
    ("gpt-4.1-nano", 100_000, 25_000, 400_000),
    ("gpt-5", 1_250_000, 125_000, 10_000_000),
    ("gpt-5-mini", 250_000, 25_000, 2_000_000),
    ("gpt-5-nano", 50_000, 5_000, 400_000),
];

impl PriceTable {
    /// OpenAI's public prices for the models tenants use (see `BUILTIN`'s date).
    pub fn builtin() -> Self {
        let models = BUILTIN
            .iter()
            .map(|&(name, input, cached, output)| {
                let price = ModelPrice {
                    input_per_mtok: Usd::from_micros(input),
                    cached_input_per_mtok: Usd::from_micros(cached),
                    output_per_mtok: Usd::from_micros(output),
                };
                (name.to_owned(), price)
            })
            .collect();
        Self { models }
    }

    /// A table in the JSON shape above; every bad field is reported by its path.
    pub fn from_json(text: &str) -> Result<Self, PriceTableError> {
        let fail =
            |path: &str, message: String| TenantConfigError(vec![FieldError { path: path.into(), message }]);
        let value: Value = serde_json::from_str(text).map_err(|e| fail("$", e.to_string()))?;
        let Value::Object(entries) = value else {
            return Err(fail("$", "must be an object of model names to prices".into()));
        };
        let mut errors = Vec::new();
        let mut models = BTreeMap::new();
        for (name, price) in entries {
            if name.trim().is_empty() || name.chars().any(char::is_control) {
                errors.push(FieldError { path: name.clone(), message: "must be a model name".into() });
                continue;
            }
            if let Some(price) = model_price(&name, &price, &mut errors) {
                models.insert(name, price);
            }
        }
        if errors.is_empty() { Ok(Self { models }) } else { Err(TenantConfigError(errors)) }
    }

    /// This table with `overrides`' models added or replacing its own.
    pub fn merged(mut self, overrides: PriceTable) -> Self {
        self.models.extend(overrides.models);
        self
    }

    /// The prices of `model`: by its exact name, else the longest name in the table it
    /// starts with followed by `-` (`gpt-4o-mini-2024-07-18` is priced as `gpt-4o-mini`).
    pub fn price(&self, model: &str) -> Option<&ModelPrice> {
        self.models.get(model).or_else(|| {
            self.models
                .iter()
                .filter(|(name, _)| {
                    model.strip_prefix(name.as_str()).is_some_and(|rest| rest.starts_with('-'))
                })
                .max_by_key(|(name, _)| name.len())
                .map(|(_, price)| price)
        })
    }

    /// What a call cost, rounded to the nearest micro-dollar; `None` for a model the table
    /// does not price. Cached input tokens are part of the input tokens, billed at the
    /// cached price.
    pub fn cost(&self, usage: &Usage) -> Option<Usd> {
        let price = self.price(&usage.model)?;
        let cached = usage.cached_input_tokens.min(usage.input_tokens);
        let fresh = usage.input_tokens - cached;
        let micro_mtok = u128::from(fresh) * u128::from(price.input_per_mtok.micros())
            + u128::from(cached) * u128::from(price.cached_input_per_mtok.micros())
            + u128::from(usage.output_tokens) * u128::from(price.output_per_mtok.micros());
        let micros = (micro_mtok + 500_000) / 1_000_000;
        Some(Usd::from_micros(u64::try_from(micros).unwrap_or(u64::MAX)))
    }

    /// The model names priced, in order.
    pub fn models(&self) -> impl Iterator<Item = (&str, &ModelPrice)> {
        self.models.iter().map(|(name, price)| (name.as_str(), price))
    }
}

fn model_price(name: &str, value: &Value, errors: &mut Vec<FieldError>) -> Option<ModelPrice> {
    let Value::Object(fields) = value else {
        errors.push(FieldError { path: name.into(), message: "must be an object".into() });
        return None;
    };
    for key in fields.keys().filter(|k| !FIELDS.contains(&k.as_str())) {
        let message = format!("unknown field (expected one of: {})", FIELDS.join(", "));
        errors.push(FieldError { path: format!("{name}.{key}"), message });
    }
    let mut read = |field: &str| {
        let result = match fields.get(field) {
            None => Err("is required".to_owned()),
            Some(Value::Number(n)) => Usd::from_json_number(n),
            Some(_) => Err("must be a number of dollars".to_owned()),
        };
        result.map_err(|message| errors.push(FieldError { path: format!("{name}.{field}"), message })).ok()
    };
    let (input, cached, output) = (read(FIELDS[0]), read(FIELDS[1]), read(FIELDS[2]));
    Some(ModelPrice { input_per_mtok: input?, cached_input_per_mtok: cached?, output_per_mtok: output? })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests

    use super::*;

    fn usage(model: &str, input: u64, cached: u64, output: u64) -> Usage {
        Usage { model: model.into(), input_tokens: input, cached_input_tokens: cached, output_tokens: output }
    }

    #[test]
    fn prices_a_call_by_exact_name_then_longest_prefix() {
        let table = PriceTable::builtin();
        // 1M fresh input at $0.15 + 1M output at $0.60.
        assert_eq!(table.cost(&usage("gpt-4o-mini", 1_000_000, 0, 1_000_000)), Some(Usd::from_cents(75)));
        // A dated snapshot is priced as gpt-4o-mini, not gpt-4o.
        let dated = table.cost(&usage("gpt-4o-mini-2024-07-18", 1_000_000, 0, 0));
        assert_eq!(dated, Some(Usd::from_micros(150_000)));
        assert_eq!(table.cost(&usage("gpt-4o-2024-08-06", 0, 0, 1_000_000)), Some(Usd::from_cents(1000)));
        assert_eq!(table.cost(&usage("gpt-4oz", 1, 0, 0)), None);
        assert_eq!(table.cost(&usage("llama3", 1, 0, 0)), None);
    }

    #[test]
    fn cached_tokens_are_billed_at_the_cached_price() {
        let table = PriceTable::builtin();
        // gpt-4.1-mini: 2,000 input of which 1,024 cached, 100 output.
        // (976 * 0.40 + 1024 * 0.10 + 100 * 1.60) / 1e6 dollars = 390.4 + 102.4 + 160 micros.
        let cost = table.cost(&usage("gpt-4.1-mini", 2000, 1024, 100)).unwrap();
        assert_eq!(cost, Usd::from_micros(653));
        // More cached than input (a confused server) never underflows.
        assert!(table.cost(&usage("gpt-4.1-mini", 10, 20, 0)).is_some());
    }

    #[test]
    fn a_configured_table_overrides_and_adds_models() {
        let text = r#"{"gpt-4o-mini": {"input_per_mtok": 1, "cached_input_per_mtok": 0.5, "output_per_mtok": 2},
                       "local-llm": {"input_per_mtok": 0, "cached_input_per_mtok": 0, "output_per_mtok": 0}}"#;
        let table = PriceTable::builtin().merged(PriceTable::from_json(text).unwrap());
        assert_eq!(table.cost(&usage("gpt-4o-mini", 1_000_000, 0, 0)), Some(Usd::from_cents(100)));
        assert_eq!(table.cost(&usage("local-llm", 5000, 0, 5000)), Some(Usd::ZERO));
        assert!(table.price("gpt-5-nano").is_some());
    }

    #[test]
    fn the_builtin_table_reads_back_from_its_json() {
        let json = serde_json::to_string(&PriceTable::builtin()).unwrap();
        assert_eq!(PriceTable::from_json(&json).unwrap(), PriceTable::builtin());
    }

    #[test]
    fn a_bad_table_reports_every_field() {
        let text = r#"{"a": {"input_per_mtok": -1, "cached_input_per_mtok": "x", "outptu_per_mtok": 1},
                       "b": 3}"#;
        let errors = PriceTable::from_json(text).unwrap_err().0;
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            ["a.outptu_per_mtok", "a.input_per_mtok", "a.cached_input_per_mtok", "a.output_per_mtok", "b"],
            "{errors:#?}"
        );
        assert!(PriceTable::from_json("[1]").is_err());
        assert!(PriceTable::from_json("{").is_err());
    }
}
