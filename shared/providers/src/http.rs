//! What the HTTP adapters share about a failed create: which transport errors may have
//! left the message out, and the server's `Retry-After`.

use std::time::Duration;

use comms_core::ports::SendError;

/// A create that failed in transport: refused connections never reached the provider
/// (retry); anything later (a timeout, a cut connection) may have created the message.
pub(crate) fn send_error(e: reqwest::Error) -> SendError {
    if e.is_connect() {
        SendError::Retryable { message: e.to_string(), retry_after: None }
    } else {
        SendError::Ambiguous(e.to_string())
    }
}

/// `Retry-After` in seconds, when the server sent one.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers.get("retry-after")?.to_str().ok()?.trim().parse().ok().map(Duration::from_secs)
}
