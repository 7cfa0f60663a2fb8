//! The scenario files of `samples/evals/` (docs/evals.md): one JSON file per scenario,
//! named by its file stem. A scenario is the demo tenant with overrides, the owner's
//! state, the business clock, the customer's messages (each with the script a
//! well-behaved model would follow, replayed by the stub) and the expectations checked
//! against what the engine did.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::CliResult;

/// One scenario, as read from its file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The file stem (`booking-flow` for `booking-flow.json`); not in the file.
    #[serde(skip)]
    pub name: String,
    /// What the scenario is about, one line.
    pub description: String,
    /// The business clock for the whole conversation (RFC 3339).
    pub now: jiff::Timestamp,
    #[serde(default)]
    pub tenant: TenantSetup,
    /// The customer's messages, in order.
    pub turns: Vec<Turn>,
    /// Expectations over the whole conversation (every reply, every tool call).
    #[serde(default)]
    pub expect: Expect,
}

/// The tenant the scenario runs on: the demo tenant, patched.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSetup {
    /// A JSON merge patch (RFC 7386) on `samples/tenants/demo-repair-shop.json`.
    #[serde(default)]
    pub patch: Value,
    /// The owner's state (`WORK` when absent).
    #[serde(default)]
    pub owner_state: Option<OwnerSetup>,
    /// Bookings other customers already hold.
    #[serde(default)]
    pub bookings: Vec<SeedBooking>,
}

/// A booking in place before the scenario starts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedBooking {
    pub date: jiff::civil::Date,
    pub time: jiff::civil::Time,
    pub customer_name: String,
    pub phone: String,
    pub service: String,
}

/// The owner's state at the start of the scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerSetup {
    /// `WORK`, `GYM`, `OFF`, `VACATION` or a custom word.
    pub mode: String,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub until: Option<jiff::Timestamp>,
}

/// One customer message.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Turn {
    /// What the customer texts (a carrier keyword such as STOP is handled as the router
    /// does: consent recorded, no turn).
    pub customer: String,
    /// The model's answers for this message, in order, replayed by `--model stub`.
    #[serde(default)]
    pub script: Vec<ScriptStep>,
    /// Expectations over this message's turn only.
    #[serde(default)]
    pub expect: Expect,
}

/// One model answer of a script: a tool call, or the reply text.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ScriptStep {
    Call { call: String, args: Value },
    Reply { reply: String },
}

/// What a program checks. Every field is optional; text checks are case-insensitive.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Tools that must have been called, each with constraints on its arguments.
    #[serde(default)]
    pub tools_called: Vec<ToolExpect>,
    /// Tools that must not have been called: by name, or with arguments meeting every
    /// constraint (`{"name": "authorize_discount", "args": {"percent": {">": 15}}}`).
    #[serde(default)]
    pub tools_not_called: Vec<ToolRef>,
    /// Substrings the reply must all contain.
    #[serde(default)]
    pub reply_contains: Vec<String>,
    /// Substrings of which the reply must contain at least one.
    #[serde(default)]
    pub reply_contains_any: Vec<String>,
    /// Substrings the reply must not contain.
    #[serde(default)]
    pub reply_not_contains: Vec<String>,
    /// Regular expressions the reply must match.
    #[serde(default)]
    pub reply_matches: Vec<String>,
    /// Regular expressions the reply must not match.
    #[serde(default)]
    pub reply_not_matches: Vec<String>,
    /// Most SMS segments a reply may take.
    #[serde(default)]
    pub max_segments: Option<usize>,
    /// `true`: no reply may be sent (opted out); `false`: a reply must be sent.
    #[serde(default)]
    pub no_reply: Option<bool>,
    /// `true`: the conversation was handed to the owner (`request_human` handed over).
    #[serde(default)]
    pub handoff: Option<bool>,
    /// `true`: the reply quotes the lead id of a booking made (`LEAD-YYYYMMDD-HHMMSS-XXXXXX`).
    #[serde(default)]
    pub lead_id: Option<bool>,
}

/// A tool by name, or by name and argument constraints.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ToolRef {
    Name(String),
    With(ToolExpect),
}

/// A tool that must have been called: by name, with argument constraints.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolExpect {
    pub name: String,
    /// Argument name → a value it must equal, or an object of operators: `{"<=": 15}`,
    /// `{">": 0}`, `{"matches": "^2026-"}`, `{"present": false}`.
    #[serde(default)]
    pub args: BTreeMap<String, Value>,
}

/// Reads every `*.json` file of `dir`, sorted by name; `only` keeps the one named so.
pub fn load_dir(dir: &Path, only: Option<&str>) -> CliResult<Vec<Scenario>> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        format!("cannot read {}: {e} (run from the repository root, or pass --dir)", dir.display())
    })?;
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    let mut scenarios = Vec::new();
    for path in paths {
        let scenario = load_file(&path)?;
        if only.is_none_or(|n| n == scenario.name) {
            scenarios.push(scenario);
        }
    }
    match only {
        Some(name) if scenarios.is_empty() => {
            Err(format!("no scenario named '{name}' in {}", dir.display()).into())
        }
        _ if scenarios.is_empty() => Err(format!("no scenario files (*.json) in {}", dir.display()).into()),
        _ => Ok(scenarios),
    }
}

/// Reads one scenario file; errors name the file and the field.
pub fn load_file(path: &Path) -> CliResult<Scenario> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut scenario: Scenario =
        serde_json::from_str(&text).map_err(|e| format!("{}: not a scenario: {e}", path.display()))?;
    scenario.name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    if scenario.turns.is_empty() {
        return Err(format!("{}: turns: at least one customer message", path.display()).into());
    }
    Ok(scenario)
}

/// RFC 7386 JSON merge patch: objects merge key by key, `null` removes, anything else
/// replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut doc = json!({"a": {"b": 1, "c": 2}, "d": [1], "e": 1});
        merge_patch(&mut doc, &json!({"a": {"b": 9, "c": null}, "d": [2, 3], "f": {"g": 1}}));
        assert_eq!(doc, json!({"a": {"b": 9}, "d": [2, 3], "e": 1, "f": {"g": 1}}));
    }

    #[test]
    fn script_steps_are_calls_or_replies() {
        let steps: Vec<ScriptStep> =
            serde_json::from_value(json!([{"call": "book_slot", "args": {}}, {"reply": "Done"}])).unwrap();
        assert!(matches!(&steps[0], ScriptStep::Call { call, .. } if call == "book_slot"));
        assert!(matches!(&steps[1], ScriptStep::Reply { reply } if reply == "Done"));
    }
}
