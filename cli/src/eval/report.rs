//! The eval report: which model ran, each expectation's verdict (with why it failed),
//! and per scenario the model calls, tokens and cost, with totals; as a table or JSON.

use std::fmt::Write;

use serde::Serialize;

use super::model::Spend;
use super::runner::ScenarioRun;

/// A whole run.
#[derive(Debug, Serialize)]
pub struct Report {
    /// What ran (`offline: ...`, `stub: ...`, `gpt-4o-mini at ...`).
    pub model: String,
    pub scenarios: Vec<ScenarioRun>,
}

/// Counts over a run.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Totals {
    pub scenarios: usize,
    pub scenarios_passed: usize,
    pub expectations: usize,
    pub expectations_passed: usize,
    pub spend: Spend,
}

impl Report {
    /// The counts over every scenario.
    pub fn totals(&self) -> Totals {
        let mut t = Totals { scenarios: self.scenarios.len(), ..Totals::default() };
        for s in &self.scenarios {
            t.scenarios_passed += usize::from(s.passed());
            t.expectations += s.verdicts.len();
            t.expectations_passed += s.verdicts.iter().filter(|v| v.passed).count();
            t.spend = t.spend.plus(s.spend);
        }
        t
    }

    /// The scenarios with a failed expectation.
    pub fn failed(&self) -> Vec<&str> {
        self.scenarios.iter().filter(|s| !s.passed()).map(|s| s.name.as_str()).collect()
    }

    /// The report as JSON: the run, each scenario with `passed`, and the totals.
    pub fn to_json(&self) -> serde_json::Value {
        let scenarios: Vec<serde_json::Value> = self
            .scenarios
            .iter()
            .map(|s| {
                let mut v = serde_json::to_value(s).unwrap_or_default();
                v["passed"] = serde_json::Value::Bool(s.passed());
                v
            })
            .collect();
        serde_json::json!({
            "model": self.model,
            "scenarios": scenarios,
            "totals": self.totals(),
            "failed": self.failed(),
        })
    }

    /// The report as a table.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "comms eval: model {}", self.model);
        if self.model.starts_with("offline") {
            let _ = writeln!(
                out,
                "NOTE: the offline rules model is NOT an AI: a few keyword rules for the local demo. \
                 Its failures below show what it cannot do; it is not tuned to these scenarios."
            );
        }
        let width = self.scenarios.iter().map(|s| s.name.len()).max().unwrap_or(8).max(8);
        let _ = writeln!(out, "\n{:<width$}  {:<6}  EXPECTATION", "SCENARIO", "RESULT");
        for s in &self.scenarios {
            for v in &s.verdicts {
                let result = if v.passed { "pass" } else { "FAIL" };
                let _ = write!(out, "{:<width$}  {result:<6}  {}: {}", s.name, v.scope, v.expectation);
                if let Some(why) = &v.why {
                    let _ = write!(out, "\n{:<width$}  {:<6}    -> {why}", "", "");
                }
                out.push('\n');
            }
        }
        self.summary(&mut out, width);
        out
    }

    fn summary(&self, out: &mut String, width: usize) {
        let row = |out: &mut String, cells: [&str; 6]| {
            let [name, result, counts, calls, tokens, cost] = cells;
            let _ =
                writeln!(out, "{name:<width$}  {result:<6}  {counts:>12}  {calls:>5}  {tokens:>28}  {cost}");
        };
        out.push('\n');
        row(out, ["SCENARIO", "RESULT", "EXPECTATIONS", "CALLS", "TOKENS IN (CACHED) / OUT", "COST"]);
        for s in &self.scenarios {
            let passed = s.verdicts.iter().filter(|v| v.passed).count();
            let counts = format!("{passed}/{}", s.verdicts.len());
            let result = if s.passed() { "pass" } else { "FAIL" };
            let calls = s.spend.model_calls.to_string();
            row(out, [&s.name, result, &counts, &calls, &s.spend.tokens(), &s.spend.cost()]);
        }
        let t = self.totals();
        let counts = format!("{}/{}", t.expectations_passed, t.expectations);
        let scenarios = format!("{}/{}", t.scenarios_passed, t.scenarios);
        let calls = t.spend.model_calls.to_string();
        row(out, ["TOTAL", &scenarios, &counts, &calls, &t.spend.tokens(), &t.spend.cost()]);
        let failed = self.failed();
        if !failed.is_empty() {
            let _ = writeln!(out, "\nscenarios not passed with this model: {}", failed.join(", "));
        }
    }
}
