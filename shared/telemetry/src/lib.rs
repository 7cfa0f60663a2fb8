//! Logging set-up shared by the `comms` command and the Lambda binaries, and where their
//! metrics go: CloudWatch embedded metric format on Lambda ([`emf`]), a summary line in
//! `comms serve` ([`local`]).

pub mod emf;
pub mod local;

use std::fmt::Write as _;

use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::MakeWriter;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (CloudWatch Logs Insights queries them by field).
    Json,
}

/// The environment variable choosing the log format.
pub const ENV_LOG_FORMAT: &str = "COMMS_LOG_FORMAT";

impl LogFormat {
    /// `COMMS_LOG_FORMAT` read through `get` (each binary's settings pass their lookup):
    /// `json` or `text`; unset or empty is `default`. Anything else is an error naming the
    /// variable: a typo must not silently change what the log queries can read.
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
        default: LogFormat,
    ) -> Result<LogFormat, String> {
        match get(ENV_LOG_FORMAT).as_deref().map(str::trim) {
            None | Some("") => Ok(default),
            Some("json") => Ok(LogFormat::Json),
            Some("text") => Ok(LogFormat::Text),
            Some(other) => Err(format!("{ENV_LOG_FORMAT} must be json or text, not '{other}'")),
        }
    }
}

/// Logs to stderr in `format`, level from `RUST_LOG` (default `info`). A second call in
/// the same process (tests running several servers) keeps the first subscriber.
pub fn init(format: LogFormat) {
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = subscriber(format, std::io::stderr).try_init();
}

/// The subscriber [`init`] installs, writing to `writer`. In text, every field value and
/// message has its control characters escaped (`\n`, `\r`, `\t`, `\u{..}`), so one event
/// is always exactly one line, whatever a caller put in a field (no forged log lines);
/// JSON escapes them by itself.
pub fn subscriber<W>(format: LogFormat, writer: W) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    match format {
        LogFormat::Json => Box::new(builder.json().finish()),
        LogFormat::Text => Box::new(builder.fmt_fields(escaped_fields()).finish()),
    }
}

/// Text field formatting: `name=value` pairs separated by spaces, the message bare, every
/// value escaped by [`escape_control`].
fn escaped_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + 'static {
    tracing_subscriber::fmt::format::debug_fn(|w, field, value| {
        let raw = format!("{value:?}");
        let safe = escape_control(&raw);
        match field.name() {
            "message" => w.write_str(&safe),
            name => write!(w, "{name}={safe}"),
        }
    })
    .delimited(" ")
}

/// `s` with every control character (and the Unicode line and paragraph separators)
/// written as an escape, so it cannot break or fake a log line.
pub fn escape_control(s: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() || c == '\u{2028}' || c == '\u{2029}';
    if !s.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if unsafe_char(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use comms_testkit::logs::LogCapture;

    use super::*;

    #[test]
    fn text_logs_never_hold_a_raw_newline_or_control_character() {
        let capture = LogCapture::default();
        let forged = "GYM\n2026-01-01T00:00:00Z ERROR forged";
        tracing::subscriber::with_default(
            subscriber(LogFormat::Text, {
                let w = capture.clone();
                move || w.clone()
            }),
            || {
                let span = tracing::info_span!("webhook", tenant = %"acme.shop\r\nx");
                let _g = span.enter();
                tracing::info!(mode = %forged, notes = forged, other = ?forged, "owner state set\x00\x1b[31m{}", "\u{2028}");
                tracing::warn!("second line\ttab");
            },
        );
        let out = capture.text();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "one line per event: {out:?}");
        for line in &lines {
            assert!(!line.chars().any(|c| c.is_control() && c != '\u{1b}' || c == '\u{2028}'), "{line:?}");
        }
        assert!(lines[0].contains(r"mode=GYM\n2026-01-01T00:00:00Z ERROR forged"), "{}", lines[0]);
        assert!(lines[0].contains(r"\u{0}\u{1b}[31m\u{2028}"), "{}", lines[0]);
        assert!(lines[0].contains(r"tenant=acme.shop\r\nx"), "{}", lines[0]);
        assert!(lines[1].contains(r"second line\ttab"), "{}", lines[1]);
        assert!(!lines.iter().any(|l| l.starts_with("2026-01-01")), "no forged line");
    }

    #[test]
    fn the_log_format_is_json_text_or_the_default_and_nothing_else() {
        let with = |v: &'static str| move |n: &str| (n == "COMMS_LOG_FORMAT").then(|| v.to_owned());
        assert_eq!(LogFormat::from_lookup(|_| None, LogFormat::Json), Ok(LogFormat::Json));
        assert_eq!(LogFormat::from_lookup(with(""), LogFormat::Text), Ok(LogFormat::Text));
        assert_eq!(LogFormat::from_lookup(with("json"), LogFormat::Text), Ok(LogFormat::Json));
        assert_eq!(LogFormat::from_lookup(with("text"), LogFormat::Json), Ok(LogFormat::Text));
        let err = LogFormat::from_lookup(with("xml"), LogFormat::Text).unwrap_err();
        assert!(err.contains("COMMS_LOG_FORMAT") && err.contains("'xml'"), "{err}");
    }

    #[test]
    fn json_logs_are_one_object_per_line() {
        let capture = LogCapture::default();
        tracing::subscriber::with_default(
            subscriber(LogFormat::Json, {
                let w = capture.clone();
                move || w.clone()
            }),
            || {
                tracing::info!(mode = %"GYM\nforged", "set\n");
            },
        );
        let out = capture.text();
        assert_eq!(out.lines().count(), 1, "{out:?}");
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["fields"]["mode"], "GYM\nforged");
    }
}
