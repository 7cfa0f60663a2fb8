//! Metrics on the Lambdas: CloudWatch embedded metric format (EMF) through
//! `metrics_cloudwatch_embedded`. The recorder aggregates what the code records during
//! an invocation, and [`Emf::flush`] writes it to stdout as JSON lines when the
//! invocation ends; CloudWatch Logs turns those lines into metrics. No API call, no
//! agent, nothing on the request path.
//!
//! Every metric carries two fixed dimensions: `stack` (the stack's name,
//! `COMMS_QUEUE_PREFIX`, so two stacks in one account stay apart) and `service`
//! (`router`, `sms-processor`, ...), then its own labels. The crate's Lambda layer is
//! not used: it links `lambda_http`, which the processors must not (testkit layout
//! test); flushing after each event is one call here instead.

use std::future::Future;

use metrics_cloudwatch_embedded::{Builder, Collector};

/// The CloudWatch namespace of every metric (the dashboard and alarms read it).
pub const NAMESPACE: &str = "Comms";

/// The installed EMF recorder.
#[derive(Clone, Copy)]
pub struct Emf(&'static Collector);

impl Emf {
    /// Installs the process's global metrics recorder. Fails if one is installed already.
    pub fn install(stack: &str, service: &'static str) -> Result<Emf, String> {
        let collector = Builder::new()
            .cloudwatch_namespace(NAMESPACE)
            .with_dimension("stack", stack.to_owned())
            .with_dimension("service", service)
            .init()
            .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
        Ok(Emf(collector))
    }

    /// Writes what was recorded since the last flush to stdout (one JSON document per
    /// label set) and starts over. A failed write is logged, never fatal.
    pub fn flush(&self) {
        if let Err(e) = self.flush_to(std::io::stdout().lock()) {
            tracing::warn!(error = %e, "could not write metrics");
        }
    }

    /// [`Emf::flush`] into `writer` (tests read the lines).
    pub fn flush_to(&self, writer: impl std::io::Write) -> std::io::Result<()> {
        self.0.flush(writer)
    }

    /// Runs one invocation, then flushes its metrics.
    pub async fn flushed<F: Future>(&self, invocation: F) -> F::Output {
        let out = invocation.await;
        self.flush();
        out
    }
}
