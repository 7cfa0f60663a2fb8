//! Logging set-up shared by the `comms` command and the Lambda binaries, and where their
//! metrics go: CloudWatch embedded metric format on Lambda ([`emf`]), a summary line in
//! `comms serve` ([`local`]).

pub mod emf;
pub mod local;

use std::fmt::Write as _;

use tracing_subscriber::field::MakeExt;
use tracing_subscriber::filter::Targets;
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

/// The environment variable holding the log filter.
pub const ENV_LOG_FILTER: &str = "RUST_LOG";

/// Logs to stderr in `format`, filtered by `RUST_LOG` (default `info`; see
/// [`log_filter`]). A second call in the same process (tests running several servers)
/// keeps the first subscriber. A `RUST_LOG` that does not parse is logged as a warning.
pub fn init(format: LogFormat) {
    use tracing_subscriber::util::SubscriberInitExt;
    let (filter, rejected) = log_filter(std::env::var(ENV_LOG_FILTER).ok().as_deref());
    if subscriber_with(format, std::io::stderr, filter).try_init().is_ok()
        && let Some(why) = rejected
    {
        tracing::warn!("{ENV_LOG_FILTER} ignored, logging at info: {why}");
    }
}

/// The log filter of a `RUST_LOG` value: comma-separated directives, each a level
/// (`info`, the default for every target), a target and a level (`comms_router=debug`;
/// a target covers its submodules), or a bare target (every level). Unset or empty is
/// `info`. A value that does not parse, or asks for span or field filters
/// (`target[span]=debug`, which `tracing-subscriber`'s `env-filter` would take), is
/// `info` too, with the reason.
pub fn log_filter(value: Option<&str>) -> (Targets, Option<String>) {
    let info = || Targets::new().with_default(tracing::Level::INFO);
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else { return (info(), None) };
    let directives: Vec<&str> = value.split(',').map(str::trim).filter(|d| !d.is_empty()).collect();
    let parsed = match directives.iter().find(|d| d.contains(['[', ']', '{', '}'])) {
        Some(d) => Err(format!("span and field filters are not supported ({d})")),
        None => directives.join(",").parse::<Targets>().map_err(|e| e.to_string()),
    };
    match parsed {
        Ok(_) if directives.is_empty() => (info(), None),
        Ok(targets) => (targets, None),
        Err(why) => (info(), Some(format!("'{}': {why}", escape_control(value)))),
    }
}

/// The subscriber [`init`] installs, writing to `writer`, filtered by `RUST_LOG`.
pub fn subscriber<W>(format: LogFormat, writer: W) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    subscriber_with(format, writer, log_filter(std::env::var(ENV_LOG_FILTER).ok().as_deref()).0)
}

/// The subscriber writing to `writer` what `filter` lets through. In text, every field
/// value and message has its control characters escaped (`\n`, `\r`, `\t`, `\u{..}`),
/// so one event is always exactly one line, whatever a caller put in a field (no forged
/// log lines); JSON escapes them by itself.
pub fn subscriber_with<W>(
    format: LogFormat,
    writer: W,
    filter: Targets,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::layer::SubscriberExt;
    let builder = tracing_subscriber::fmt()
        .with_max_level(tracing::level_filters::LevelFilter::TRACE)
        .with_writer(writer);
    match format {
        LogFormat::Json => Box::new(builder.json().finish().with(filter)),
        LogFormat::Text => Box::new(builder.fmt_fields(escaped_fields()).finish().with(filter)),
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
    fn rust_log_takes_levels_targets_and_both_and_refuses_span_filters_naming_them() {
        use tracing::Level;
        let on = |value: Option<&str>, target: &str, level: Level| {
            let (filter, rejected) = log_filter(value);
            assert_eq!(rejected, None, "{value:?}");
            filter.would_enable(target, &level)
        };
        for unset in [None, Some(""), Some("  "), Some(",")] {
            assert!(on(unset, "comms_router", Level::INFO) && !on(unset, "comms_router", Level::DEBUG));
        }
        assert!(on(Some("warn"), "h2", Level::WARN) && !on(Some("warn"), "h2", Level::INFO));
        let one = Some("comms_router=debug");
        assert!(on(one, "comms_router::lambda", Level::DEBUG) && !on(one, "comms_router", Level::TRACE));
        assert!(!on(one, "comms_aws", Level::ERROR), "a target not named is off without a bare level");
        let two = Some(" comms_aws=debug , info ");
        assert!(on(two, "comms_aws::sqs", Level::DEBUG) && on(two, "hyper", Level::INFO));
        assert!(!on(two, "hyper", Level::DEBUG));
        assert!(on(Some("comms_core"), "comms_core", Level::TRACE), "a bare target: every level");
        assert!(!on(Some("off"), "comms_core", Level::ERROR));
        for bad in ["comms_router[request]=debug", "comms_router=verbose", "a=b=c"] {
            let (filter, rejected) = log_filter(Some(bad));
            let why = rejected.unwrap_or_else(|| panic!("{bad} accepted"));
            assert!(why.contains(bad), "{why}");
            assert!(filter.would_enable("comms_router", &Level::INFO));
            assert!(!filter.would_enable("comms_router", &Level::DEBUG), "{bad}: falls back to info");
        }
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
