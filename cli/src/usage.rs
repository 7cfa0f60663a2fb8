//! `comms usage`: what the assistant used and cost, per tenant and channel, from the
//! running monthly totals the turn journal keeps (docs/operations.md, "Usage, cost and
//! budgets"), on the embedded backend or `--backend aws`. One query per tenant (a table
//! scan for every tenant's on AWS): the turns' own items are not read.

use std::collections::BTreeMap;
use std::path::Path;

use comms_core::domain::Channel;
use comms_core::ports::{UsageRow, UsageTotals, usage_month};
use serde_json::{Value, json};

use crate::backend::{self, Backend};
use crate::{CliResult, inspect, print_json};

#[derive(Debug, clap::Args)]
pub struct UsageArgs {
    /// One tenant (COMPANY/PROJECT); default every tenant.
    #[arg(long)]
    pub tenant: Option<String>,
    /// From the month of this date on (YYYY-MM-DD or YYYY-MM, UTC; the totals are kept per
    /// month); default this month.
    #[arg(long)]
    pub since: Option<String>,
    /// The report as JSON (docs/operations.md describes its fields).
    #[arg(long)]
    pub json: bool,
}

/// The month (`YYYY-MM`) a `--since` value starts in.
pub fn since_month(since: Option<&str>) -> CliResult<String> {
    let Some(since) = since.map(str::trim) else { return Ok(usage_month(jiff::Timestamp::now())) };
    let date = if since.len() == 7 { format!("{since}-01") } else { since.to_owned() };
    let date: jiff::civil::Date = date
        .parse()
        .map_err(|_| format!("--since must be a date (YYYY-MM-DD) or a month (YYYY-MM), not '{since}'"))?;
    Ok(date.strftime("%Y-%m").to_string())
}

pub async fn run(data_dir: &Path, backend: Backend, args: UsageArgs) -> CliResult {
    let tenant = args.tenant.as_deref().map(inspect::parse_tenant).transpose()?;
    let since = since_month(args.since.as_deref())?;
    let ports = backend::store_ports(data_dir, backend).await?;
    let rows = ports.stores.usage.report(tenant.as_ref(), &since).await?;
    if args.json {
        return print_json(&report_json(&since, &rows));
    }
    print!("{}", report_text(&since, &rows));
    Ok(())
}

/// The rows summed per tenant and channel (over the months), in order.
fn by_tenant_and_channel(rows: &[UsageRow]) -> BTreeMap<(String, Channel), UsageTotals> {
    let mut out: BTreeMap<(String, Channel), UsageTotals> = BTreeMap::new();
    for row in rows {
        *out.entry((row.tenant.to_string(), row.channel)).or_default() += row.totals;
    }
    out
}

/// One set of totals as JSON: `cost_usd` is `null` when some call's model had no price
/// (`priced_cost_usd` is then what the priced calls cost).
pub fn totals_json(t: &UsageTotals) -> Value {
    json!({
        "turns": t.turns,
        "model_calls": t.model_calls,
        "input_tokens": t.input_tokens,
        "cached_input_tokens": t.cached_input_tokens,
        "output_tokens": t.output_tokens,
        "cost_usd": (t.unpriced_calls == 0).then_some(t.cost_usd),
        "priced_cost_usd": t.cost_usd,
        "unpriced_calls": t.unpriced_calls,
        "messages": t.messages,
        "sms_segments": t.sms_segments,
    })
}

/// The JSON report: `since`, one entry per tenant (its totals and its channels'), the
/// rows per month and channel, and the grand total.
pub fn report_json(since: &str, rows: &[UsageRow]) -> Value {
    let mut tenants: BTreeMap<String, (UsageTotals, serde_json::Map<String, Value>)> = BTreeMap::new();
    for ((tenant, channel), totals) in by_tenant_and_channel(rows) {
        let entry = tenants.entry(tenant).or_default();
        entry.0 += totals;
        entry.1.insert(channel.to_string(), totals_json(&totals));
    }
    let tenants: Vec<Value> = tenants
        .into_iter()
        .map(|(tenant, (total, channels))| json!({"tenant": tenant, "total": totals_json(&total), "channels": channels}))
        .collect();
    let months: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut v = totals_json(&r.totals);
            v["tenant"] = r.tenant.to_string().into();
            v["month"] = r.month.clone().into();
            v["channel"] = r.channel.to_string().into();
            v
        })
        .collect();
    let total = comms_core::ports::sum_rows(rows);
    json!({"since": since, "tenants": tenants, "months": months, "total": totals_json(&total)})
}

/// A cost as shown: `$0.0123`, with `+ unknown` when some calls had no price.
fn cost_text(t: &UsageTotals) -> String {
    match t.unpriced_calls {
        0 => t.cost_usd.to_string(),
        n => format!("{} + unknown ({n} unpriced)", t.cost_usd),
    }
}

/// The text report: a line per tenant and channel, then the total.
pub fn report_text(since: &str, rows: &[UsageRow]) -> String {
    let mut out = format!("usage since {since} (UTC months)\n");
    if rows.is_empty() {
        out.push_str("no usage recorded\n");
        return out;
    }
    out.push_str(&format!(
        "{:<28} {:<9} {:>6} {:>6} {:>10} {:>10} {:>9} {:>9}  {}\n",
        "TENANT", "CHANNEL", "TURNS", "CALLS", "INPUT", "CACHED", "OUTPUT", "SEGMENTS", "COST"
    ));
    let line = |name: &str, channel: &str, t: &UsageTotals| {
        format!(
            "{name:<28} {channel:<9} {:>6} {:>6} {:>10} {:>10} {:>9} {:>9}  {}\n",
            t.turns,
            t.model_calls,
            t.input_tokens,
            t.cached_input_tokens,
            t.output_tokens,
            t.sms_segments,
            cost_text(t)
        )
    };
    for ((tenant, channel), totals) in by_tenant_and_channel(rows) {
        out.push_str(&line(&tenant, channel.as_str(), &totals));
    }
    out.push_str(&line("total", "", &comms_core::ports::sum_rows(rows)));
    out
}
