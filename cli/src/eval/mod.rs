//! `comms eval`: the evaluation suite (docs/evals.md). Each scenario of `samples/evals/`
//! runs through the real engine on a scratch store against the chosen model, and a
//! program checks its expectations.

pub mod check;
#[cfg(test)]
mod check_tests;
pub mod model;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod stub;

use std::path::PathBuf;

use clap::Args;
use comms_core::domain::pricing::PriceTable;

use crate::CliResult;
use crate::settings::Settings;
use model::ModelChoice;
use report::Report;

/// `comms eval` flags.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Run only this scenario (its file name without `.json`).
    #[arg(long)]
    pub scenario: Option<String>,
    /// The model: `offline` (the rules model, not an AI), `stub` (replays each
    /// scenario's script), or a real model name such as `gpt-4o-mini` (needs
    /// OPENAI_API_KEY; billed). Default: the tenant's model when OPENAI_API_KEY is set,
    /// else offline.
    #[arg(long)]
    pub model: Option<String>,
    /// The folder of scenario files.
    #[arg(long, default_value = "samples/evals")]
    pub dir: PathBuf,
    /// The OpenAI-compatible API base for a real model (default OPENAI_BASE_URL, else
    /// OpenAI's).
    #[arg(long, env = "OPENAI_API_BASE")]
    pub api_base: Option<String>,
    /// A price table (JSON, docs/evals.md) merged over the built-in OpenAI prices.
    #[arg(long)]
    pub prices: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Exit 0 even when expectations fail (the report still says which).
    #[arg(long)]
    pub report_only: bool,
}

/// Runs the scenarios and prints the report; an error when an expectation failed
/// (unless `--report-only`).
pub async fn run(args: EvalArgs, settings: &Settings) -> CliResult {
    let scenarios = scenario::load_dir(&args.dir, args.scenario.as_deref())?;
    let demo = comms_core::domain::tenant::TenantConfig::from_json(crate::demo::DEMO_TENANT_JSON)?;
    let base = args.api_base.clone().or_else(|| settings.openai_base_url.clone());
    let model =
        ModelChoice::parse(args.model.as_deref(), settings.openai_api_key.clone(), base, &demo.ai.model)?;
    let prices = prices(args.prices.as_deref())?;
    let mut report = Report { model: model.label(), scenarios: Vec::new() };
    for s in &scenarios {
        report.scenarios.push(runner::run(s, &model, &prices).await?);
    }
    if args.json {
        crate::print_json(&report.to_json())?;
    } else {
        print!("{}", report.to_table());
    }
    let totals = report.totals();
    let failed = totals.expectations - totals.expectations_passed;
    if failed > 0 && !args.report_only {
        return Err(format!("{failed} expectation(s) failed in {}", report.failed().join(", ")).into());
    }
    Ok(())
}

/// The built-in prices, with `file`'s merged over them.
fn prices(file: Option<&std::path::Path>) -> CliResult<PriceTable> {
    let Some(path) = file else { return Ok(PriceTable::builtin()) };
    let text = std::fs::read_to_string(path).map_err(|e| format!("--prices {}: {e}", path.display()))?;
    let table = PriceTable::from_json(&text).map_err(|e| format!("--prices {}: {e}", path.display()))?;
    Ok(PriceTable::builtin().merged(table))
}
