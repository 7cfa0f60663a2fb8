//! Metrics in one local process (`comms serve`): a small recorder behind the `metrics`
//! facade that keeps counters and latency samples in memory, and a summary line in the
//! log every interval and at shutdown. It records the same metrics the Lambdas emit as
//! EMF (docs/operations.md, "Metrics"), with no exporter and no extra crate: the
//! maintained exporters (Prometheus, statsd...) answer a scraper or push to a daemon,
//! and all `comms serve` needs is a line an operator reads.
//!
//! Counters are totals since the start. Latencies are the samples since the last line
//! (count, p50, p99), at most [`SAMPLES_MAX`] per metric per interval, a uniform
//! sample of them beyond that (so memory stays bounded under any load).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

/// Latency samples kept per metric per interval.
pub const SAMPLES_MAX: usize = 4096;

/// The metrics of this process; clones share them.
#[derive(Clone, Default)]
pub struct LocalMetrics(Arc<Registry>);

#[derive(Default)]
struct Registry {
    counters: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
    histograms: Mutex<BTreeMap<String, Arc<Samples>>>,
}

/// One latency metric's samples of the current interval (a reservoir sample).
#[derive(Default)]
struct Samples {
    values: Mutex<Vec<f64>>,
    seen: AtomicU64,
}

impl metrics::HistogramFn for Samples {
    fn record(&self, value: f64) {
        let seen = self.seen.fetch_add(1, Ordering::Relaxed);
        let mut values = self.values.lock().unwrap_or_else(PoisonError::into_inner);
        if values.len() < SAMPLES_MAX {
            values.push(value);
        } else if let Some(slot) = reservoir_slot(seen) {
            values[slot] = value;
        }
    }
}

/// Algorithm R: the `seen`-th value (0-based) replaces a kept one with probability
/// SAMPLES_MAX / (seen + 1). A hash of the count is random enough for a summary line.
fn reservoir_slot(seen: u64) -> Option<usize> {
    let mut x = seen.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 31;
    let slot = x % (seen + 1);
    usize::try_from(slot).ok().filter(|s| *s < SAMPLES_MAX)
}

/// `name{k=v,...}`, labels in the order recorded.
fn render(key: &Key) -> String {
    let mut out = key.name().to_owned();
    let labels: Vec<String> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
    if !labels.is_empty() {
        let _ = write!(out, "{{{}}}", labels.join(","));
    }
    out
}

impl LocalMetrics {
    /// Installs these metrics as the process's recorder. Fails if one is installed.
    pub fn install() -> Result<LocalMetrics, String> {
        let metrics = LocalMetrics::default();
        metrics::set_global_recorder(metrics.clone())
            .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
        Ok(metrics)
    }

    /// The summary: every counter's total, then every latency's samples since the last
    /// call (`n`, `p50`, `p99`, in ms), which starts a new interval. `None` when nothing
    /// was recorded yet.
    pub fn summary(&self) -> Option<String> {
        let mut parts = Vec::new();
        for (name, value) in self.0.counters.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            parts.push(format!("{name}={}", value.load(Ordering::Relaxed)));
        }
        for (name, samples) in self.0.histograms.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            let mut values =
                std::mem::take(&mut *samples.values.lock().unwrap_or_else(PoisonError::into_inner));
            let n = samples.seen.swap(0, Ordering::Relaxed);
            if n == 0 {
                continue;
            }
            values.sort_by(f64::total_cmp);
            let (p50, p99) = (percentile(&values, 0.50), percentile(&values, 0.99));
            parts.push(format!("{name} n={n} p50={p50:.1} p99={p99:.1}"));
        }
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    /// Logs the summary line (if anything was recorded).
    pub fn log_summary(&self) {
        if let Some(line) = self.summary() {
            tracing::info!(target: "comms::metrics", "metrics: {line}");
        }
    }

    /// Logs the summary every `every`, until the task is aborted.
    pub fn spawn_summaries(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let metrics = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                metrics.log_summary();
            }
        })
    }
}

/// The nearest-rank percentile of sorted `values` (not empty).
fn percentile(values: &[f64], p: f64) -> f64 {
    let rank = (p * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

impl Recorder for LocalMetrics {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut counters = self.0.counters.lock().unwrap_or_else(PoisonError::into_inner);
        Counter::from_arc(Arc::clone(counters.entry(render(key)).or_default()))
    }

    /// Gauges are not summarised (none is recorded).
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let mut histograms = self.0.histograms.lock().unwrap_or_else(PoisonError::into_inner);
        Histogram::from_arc(Arc::clone(histograms.entry(render(key)).or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_has_counter_totals_and_interval_percentiles() {
        let m = LocalMetrics::default();
        metrics::with_local_recorder(&m, || {
            metrics::counter!("turns", "channel" => "sms", "outcome" => "replied").increment(2);
            for v in 1..=100 {
                metrics::histogram!("model_latency_ms").record(f64::from(v));
            }
        });
        let line = m.summary().unwrap();
        assert!(line.contains("turns{channel=sms,outcome=replied}=2"), "{line}");
        assert!(line.contains("model_latency_ms n=100 p50=50.0 p99=99.0"), "{line}");
        let next = m.summary().unwrap();
        assert!(next.contains("turns{channel=sms,outcome=replied}=2"), "totals kept: {next}");
        assert!(!next.contains("model_latency_ms"), "latencies start over: {next}");
    }

    #[test]
    fn samples_stay_bounded_and_every_value_is_counted() {
        let m = LocalMetrics::default();
        metrics::with_local_recorder(&m, || {
            for v in 0..3 * SAMPLES_MAX {
                metrics::histogram!("send_latency_ms").record(v as f64);
            }
        });
        let kept = m.0.histograms.lock().unwrap()["send_latency_ms"].values.lock().unwrap().len();
        assert_eq!(kept, SAMPLES_MAX);
        let line = m.summary().unwrap();
        assert!(line.contains(&format!("send_latency_ms n={}", 3 * SAMPLES_MAX)), "{line}");
        assert_eq!(m.summary(), None, "nothing recorded since");
    }
}
