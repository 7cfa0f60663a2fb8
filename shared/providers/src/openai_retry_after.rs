//! The `Retry-After` of a failed OpenAI call, for `ChatError::Transient::retry_after`.
//! async-openai's typed error keeps a failed response's status and body but not its
//! headers, so the client is built with its own transport (its `middleware` feature): the
//! same retry layer the default client has (3 retries honouring `Retry-After`) over a
//! reqwest call that notes the header of each failed response in a task-local slot,
//! which [`with_retry_after`] reads once the call has failed.

use std::cell::Cell;
use std::time::Duration;

use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use async_openai::middleware::retry::OpenAIRetryLayer;
use async_openai::{Client, config::OpenAIConfig};
use comms_core::ports::{ChatError, ChatReply};

tokio::task_local! {
    /// The last `Retry-After` (or `retry-after-ms`) a failed response of this call gave.
    static RETRY_AFTER: Cell<Option<Duration>>;
}

/// A client over `http` whose failed responses' `Retry-After` is noted.
pub(crate) fn client(config: OpenAIConfig, http: reqwest::Client) -> Client<OpenAIConfig> {
    let transport = tower::service_fn(move |request: HttpRequestFactory| {
        let http = http.clone();
        async move {
            let response = http.execute(request.build().await?).await.map_err(OpenAIError::Reqwest)?;
            if !response.status().is_success() {
                let after = retry_after(response.headers());
                // Outside `with_retry_after` (no slot) there is nobody to tell.
                let _ = RETRY_AFTER.try_with(|slot| slot.set(after));
            }
            Ok::<_, OpenAIError>(response)
        }
    });
    let service = tower::ServiceBuilder::new().layer(OpenAIRetryLayer::default()).service(transport);
    Client::with_config(config).with_http_service(service)
}

/// `retry-after-ms` (OpenAI's), else `Retry-After` in seconds.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let number = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok();
    let ms = number("retry-after-ms").map(|ms| ms / 1000.0);
    let seconds = ms.or_else(|| number("retry-after")).filter(|s| s.is_finite() && *s >= 0.0)?;
    Some(Duration::from_secs_f64(seconds.min(3600.0)))
}

/// Runs one model call; a transient failure carries the server's `Retry-After`, if any.
pub(crate) async fn with_retry_after(
    call: impl Future<Output = Result<ChatReply, ChatError>>,
) -> Result<ChatReply, ChatError> {
    RETRY_AFTER
        .scope(Cell::new(None), async {
            match call.await {
                Err(ChatError::Transient { message, retry_after: None }) => {
                    let retry_after = RETRY_AFTER.with(Cell::get);
                    Err(ChatError::Transient { message, retry_after })
                }
                other => other,
            }
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_milliseconds_then_seconds() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert("retry-after", "7".parse().unwrap_or_else(|_| unreachable!()));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert("retry-after-ms", "250".parse().unwrap_or_else(|_| unreachable!()));
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(250)));
        headers.insert("retry-after-ms", "soon".parse().unwrap_or_else(|_| unreachable!()));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
    }
}
