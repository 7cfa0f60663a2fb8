//! What `comms` reads from its environment besides its flags: parsed once, at start-up,
//! in one place. Flags and the variables that back them (`COMMS_LISTEN`, ...) are clap's,
//! which refuses a malformed value by name; the rest is here, as strict: a malformed
//! value is an error naming the variable, never a silent default.

use comms_aws::AwsResources;
use comms_telemetry::LogFormat;

/// The settings of the `comms` command that are not flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `COMMS_LOG_FORMAT` (default text).
    pub log_format: LogFormat,
    /// `OPENAI_API_KEY`: the OpenAI-compatible model; unset, the offline rules model.
    pub openai_api_key: Option<String>,
    /// `OPENAI_BASE_URL` (default OpenAI's) and `OPENAI_MODEL` (default: each tenant's).
    pub openai_base_url: Option<String>,
    pub openai_model: Option<String>,
    /// `TWILIO_API_BASE`: replies through Twilio's REST API there; unset, the local outbox.
    pub twilio_api_base: Option<String>,
    /// `SENDGRID_API_BASE`: email replies through SendGrid's Mail Send there; unset, the
    /// local outbox.
    pub sendgrid_api_base: Option<String>,
    /// `COMMS_PRICES_FILE`: model prices over the built-in ones (else the data folder's
    /// `prices.json`, if any).
    pub prices_file: Option<String>,
}

impl Settings {
    /// Parses the settings from `get` (a map in tests); empty values count as unset.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let set = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        Ok(Self {
            log_format: LogFormat::from_lookup(&get, LogFormat::Text)?,
            openai_api_key: set("OPENAI_API_KEY"),
            openai_base_url: set("OPENAI_BASE_URL"),
            openai_model: set("OPENAI_MODEL"),
            twilio_api_base: set("TWILIO_API_BASE"),
            sendgrid_api_base: set("SENDGRID_API_BASE"),
            prices_file: set("COMMS_PRICES_FILE"),
        })
    }

    /// Parses the settings from the process environment.
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(env)
    }
}

/// The AWS resource names, with the CLI's defaults: prefix `comms` (`COMMS_QUEUE_PREFIX`,
/// the stack name) and table `{prefix}-data` (`COMMS_TABLE`), as the template names them.
/// Read when a command uses the AWS backend (a malformed value is an error naming it).
pub fn aws_resources() -> Result<AwsResources, String> {
    AwsResources::with_defaults(env)
}

/// The process environment: the only place `comms` reads it outside clap.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_and_empty_variables_are_the_local_defaults() {
        let s = Settings::from_lookup(|n| (n == "OPENAI_BASE_URL").then(String::new)).unwrap();
        assert_eq!(s.log_format, LogFormat::Text);
        assert_eq!((s.openai_api_key, s.openai_base_url, s.twilio_api_base), (None, None, None));
        let s = Settings::from_lookup(|n| match n {
            "COMMS_LOG_FORMAT" => Some("json".into()),
            "TWILIO_API_BASE" => Some("http://127.0.0.1:9".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(s.log_format, LogFormat::Json);
        assert_eq!(s.twilio_api_base.as_deref(), Some("http://127.0.0.1:9"));
    }

    #[test]
    fn a_malformed_log_format_is_an_error_naming_it() {
        let err = Settings::from_lookup(|n| (n == "COMMS_LOG_FORMAT").then(|| "xml".into())).unwrap_err();
        assert!(err.contains("COMMS_LOG_FORMAT") && err.contains("'xml'"), "{err}");
    }
}
