//! The metrics the system records, by name, through the `metrics` facade: the code that
//! knows a fact records it here, and the process decides where it goes (CloudWatch
//! embedded metric format on Lambda, a periodic summary line in `comms serve`, nowhere
//! when no recorder is installed). Names, units and dimensions are documented in
//! docs/operations.md, "Metrics". Dimensions stay low-cardinality (channel, outcome,
//! tool, error code, reason class): never a phone number, a tenant or a message id.

use std::time::Duration;

use metrics::Unit;

/// Turns ended, by `channel` and `outcome` (`replied`, `already_done`, `suppressed`,
/// `retry`, `failed`, `taken_over`).
pub const TURNS: &str = "turns";
/// Enqueue → start of the turn (the record's sent time to the turn's start), by `channel`.
pub const QUEUE_WAIT_MS: &str = "queue_wait_ms";
/// One model call, by `outcome` (`ok`, `error`).
pub const MODEL_LATENCY_MS: &str = "model_latency_ms";
/// Tokens a model call used, by `kind` (`prompt`, `completion`).
pub const MODEL_TOKENS: &str = "model_tokens";
/// One tool call, by `tool` and `outcome` (`ok`, `error`).
pub const TOOL_LATENCY_MS: &str = "tool_latency_ms";
/// One send to the provider, by `channel` and `outcome` (`ok`, `error`).
pub const SEND_LATENCY_MS: &str = "send_latency_ms";
/// Message segments the provider billed for the texts sent, by `channel`.
pub const SMS_SEGMENTS: &str = "sms_segments";
/// Errors a provider answered, by `provider` (`twilio`) and its error `code`.
pub const PROVIDER_ERRORS: &str = "provider_errors";
/// Records moved to a dead-letter queue, by `channel` and `reason` class (`model`,
/// `send`, `storage`, `call`, `envelope`, `turn`).
pub const DEAD_LETTERS: &str = "dead_letters";
/// Process starts (a Lambda's first invocation carries it).
pub const COLD_STARTS: &str = "cold_starts";
/// HTTP requests the router answered, by `route` (the pattern) and `status` class (`2xx`...).
pub const REQUESTS: &str = "requests";

/// Declares the units (the EMF output names them; CloudWatch graphs them).
pub fn describe() {
    use metrics::{describe_counter, describe_histogram};
    describe_counter!(TURNS, Unit::Count, "turns ended");
    describe_histogram!(QUEUE_WAIT_MS, Unit::Milliseconds, "enqueue to turn start");
    describe_histogram!(MODEL_LATENCY_MS, Unit::Milliseconds, "one model call");
    describe_counter!(MODEL_TOKENS, Unit::Count, "model tokens");
    describe_histogram!(TOOL_LATENCY_MS, Unit::Milliseconds, "one tool call");
    describe_histogram!(SEND_LATENCY_MS, Unit::Milliseconds, "one send");
    describe_counter!(SMS_SEGMENTS, Unit::Count, "segments sent");
    describe_counter!(PROVIDER_ERRORS, Unit::Count, "provider error answers");
    describe_counter!(DEAD_LETTERS, Unit::Count, "records dead-lettered");
    describe_counter!(COLD_STARTS, Unit::Count, "process starts");
    describe_counter!(REQUESTS, Unit::Count, "HTTP requests answered");
}

/// A duration as the milliseconds the latency histograms hold.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `ok` or `error`, the outcome label of a call.
pub fn outcome<T, E>(r: &Result<T, E>) -> &'static str {
    if r.is_ok() { "ok" } else { "error" }
}
