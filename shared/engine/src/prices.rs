//! The price table in configuration (docs/operations.md, "Usage, cost and budgets"): the
//! built-in OpenAI prices ([`PriceTable::builtin`]) with the models of a JSON file of the
//! same shape added or replacing them. The file is named by `COMMS_PRICES_FILE` (the
//! processor Lambdas, `comms serve`); locally, without it, `<data dir>/prices.json` is
//! read if present. A model in neither has no price: its calls' cost is unknown, never 0.

use std::path::Path;

use comms_core::domain::pricing::PriceTable;

/// The variable naming the price file.
pub const PRICES_FILE_VAR: &str = "COMMS_PRICES_FILE";

/// The price file `comms serve` reads from its data folder when the variable is unset.
pub const LOCAL_PRICES_FILE: &str = "prices.json";

/// The built-in table with `file`'s models over it. The error names the file and each
/// bad field by its path (`gpt-4o.output_per_mtok: must have at most 6 decimals`).
pub fn with_file(file: &Path) -> Result<PriceTable, String> {
    let name = file.display();
    let text = std::fs::read_to_string(file).map_err(|e| format!("{PRICES_FILE_VAR} {name}: {e}"))?;
    let overrides = PriceTable::from_json(&text).map_err(|e| {
        let fields: Vec<String> = e.0.iter().map(|f| format!("{}: {}", f.path, f.message)).collect();
        format!("price file {name}: {}", fields.join("; "))
    })?;
    Ok(PriceTable::builtin().merged(overrides))
}

/// The configured table: `named`'s file (the variable's value) if given, else `local`
/// if that file exists, else the built-in one.
pub fn configured(named: Option<&str>, local: Option<&Path>) -> Result<PriceTable, String> {
    match (named.map(str::trim).filter(|n| !n.is_empty()), local) {
        (Some(file), _) => with_file(Path::new(file)),
        (None, Some(local)) if local.exists() => with_file(local),
        _ => Ok(PriceTable::builtin()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests

    use comms_core::domain::Usd;
    use comms_core::ports::Usage;

    use super::*;

    fn usage(model: &str) -> Usage {
        Usage { model: model.into(), input_tokens: 1_000_000, cached_input_tokens: 0, output_tokens: 0 }
    }

    #[test]
    fn a_file_adds_and_overrides_models_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("prices.json");
        std::fs::write(
            &file,
            r#"{"my-llama": {"input_per_mtok": 0.2, "cached_input_per_mtok": 0.1, "output_per_mtok": 0.4},
                "gpt-4o": {"input_per_mtok": 3, "cached_input_per_mtok": 1.5, "output_per_mtok": 12}}"#,
        )
        .unwrap();
        let table = configured(None, Some(&file)).unwrap();
        assert_eq!(table.cost(&usage("my-llama")), Some(Usd::from_cents(20)));
        assert_eq!(table.cost(&usage("gpt-4o")), Some(Usd::from_cents(300)));
        assert_eq!(table.cost(&usage("gpt-4o-mini")), PriceTable::builtin().cost(&usage("gpt-4o-mini")));
        assert_eq!(table.cost(&usage("unknown")), None, "unknown, not 0");

        let missing = dir.path().join("none.json");
        assert_eq!(configured(None, Some(&missing)).unwrap(), PriceTable::builtin(), "no local file");
        let err = configured(Some(missing.to_str().unwrap()), None).unwrap_err();
        assert!(err.contains("COMMS_PRICES_FILE") && err.contains("none.json"), "{err}");
        std::fs::write(&file, r#"{"gpt-4o": {"input_per_mtok": -1}}"#).unwrap();
        let err = configured(Some(file.to_str().unwrap()), None).unwrap_err();
        assert!(err.contains("gpt-4o.input_per_mtok"), "{err}");
    }
}
