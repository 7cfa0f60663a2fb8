//! Logging set-up shared by the `comms` command and the Lambda binaries.

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (CloudWatch Logs Insights queries them by field).
    Json,
}

impl LogFormat {
    /// `COMMS_LOG_FORMAT=json` → JSON, else `default`.
    pub fn from_env(default: LogFormat) -> LogFormat {
        match std::env::var("COMMS_LOG_FORMAT").as_deref() {
            Ok("json") => LogFormat::Json,
            Ok("text") => LogFormat::Text,
            _ => default,
        }
    }
}

/// Logs to stderr in `format`, level from `RUST_LOG` (default `info`). A second call in
/// the same process (tests running several servers) keeps the first subscriber.
pub fn init(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
