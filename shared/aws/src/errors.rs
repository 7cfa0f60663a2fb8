//! The one classifier of AWS SDK errors (DynamoDB, SQS, Secrets Manager): what failed, in
//! words an operator can act on, and whether retrying the same call may help.
//!
//! Transient: throttling (any code naming it, DynamoDB's throughput and request limits,
//! a conflicting transaction), any 5xx or 429 answer, and a call that timed out or never
//! reached the service (dispatch failure). Permanent: everything else the service
//! answered (validation, not found, access denied, a failed condition), a request the
//! SDK could not build, and an answer it could not read unless it came with a 5xx.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;

use comms_core::ports::{QueueError, SecretError, StoreError};

/// What an SDK call's failure was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// The service's error code (`ThrottlingException`), empty when it never answered.
    pub code: String,
    /// The code and the service's message, or the SDK's account of what went wrong.
    pub message: String,
    pub transient: bool,
}

/// Error codes whose retry may succeed though the answer was not a 5xx.
fn transient_code(code: &str) -> bool {
    code.contains("Throttl")
        || matches!(
            code,
            "ProvisionedThroughputExceededException"
                | "RequestLimitExceeded"
                | "TransactionConflictException"
                | "TransactionInProgressException"
                | "RequestTimeout"
                | "RequestTimeoutException"
                | "ServiceUnavailable"
                | "InternalError"
                | "InternalFailure"
                | "InternalServerError"
                | "InternalServiceError"
                | "InternalServiceErrorException"
        )
}

fn transient_status(status: u16) -> bool {
    status >= 500 || status == 429
}

/// Classifies a failed SDK call.
pub(crate) fn classify<E>(e: &SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = e.code().unwrap_or("").to_owned();
    let status = e.raw_response().map(|r| r.status().as_u16());
    let transient = match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => true,
        SdkError::ServiceError(_) => transient_code(&code) || status.is_some_and(transient_status),
        SdkError::ResponseError(_) => status.is_some_and(transient_status),
        // ConstructionFailure and variants added later: nothing says a retry would help.
        _ => false,
    };
    let message = match e.message() {
        Some(m) => format!("{code} {m}").trim().to_owned(),
        None if code.is_empty() => DisplayErrorContext(e).to_string(),
        None => code.clone(),
    };
    Failure { code, message, transient }
}

/// A storage port's error from an SDK call on `table`. A missing table is named
/// (DynamoDB's ResourceNotFoundException does not say which), so an operator pointing at
/// the wrong table (`COMMS_TABLE`, `COMMS_QUEUE_PREFIX`) sees it at once.
pub(crate) fn store_error<E>(table: &str, e: &SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let Failure { code, message, transient } = classify(e);
    if code == "ResourceNotFoundException" {
        return StoreError::Backend {
            message: format!("DynamoDB table {table} not found (ResourceNotFoundException)"),
            transient: false,
        };
    }
    StoreError::Backend { message, transient }
}

/// A queue port's error from an SDK call.
pub(crate) fn queue_error<E>(e: &SdkError<E, HttpResponse>) -> QueueError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let Failure { message, transient, .. } = classify(e);
    QueueError::Backend { message, transient }
}

/// A queue port's error from an SDK call on the failure table `table`, named.
pub(crate) fn failure_table_error<E>(table: &str, e: &SdkError<E, HttpResponse>) -> QueueError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let Failure { message, transient, .. } = classify(e);
    QueueError::Backend { message: format!("DynamoDB table {table}: {message}"), transient }
}

/// A secrets port's error from an SDK call; a missing secret is `NotFound(name)`.
pub(crate) fn secret_error<E>(name: &str, e: &SdkError<E, HttpResponse>) -> SecretError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let Failure { code, message, transient } = classify(e);
    if code == "ResourceNotFoundException" {
        return SecretError::NotFound(name.to_owned());
    }
    SecretError::Backend { message, transient }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: constructing fixtures
mod tests {
    use aws_sdk_dynamodb::error::{ConnectorError, ErrorMetadata};
    use aws_sdk_dynamodb::operation::get_item::GetItemError;
    use aws_smithy_runtime_api::http::StatusCode;

    use super::*;

    type DynamoError = SdkError<GetItemError, HttpResponse>;

    fn raw(status: u16) -> HttpResponse {
        HttpResponse::new(StatusCode::try_from(status).unwrap(), "".into())
    }

    fn service(code: &str, status: u16) -> DynamoError {
        let meta = ErrorMetadata::builder().code(code).message("the service says no").build();
        SdkError::service_error(GetItemError::generic(meta), raw(status))
    }

    #[test]
    fn throttling_and_server_errors_are_transient() {
        for (code, status) in [
            ("ThrottlingException", 400),
            ("ProvisionedThroughputExceededException", 400),
            ("RequestLimitExceeded", 400),
            ("TransactionConflictException", 400),
            ("InternalServerError", 500),
            ("ServiceUnavailable", 503),
            ("SomethingNew", 502),
            ("SlowDown", 429),
        ] {
            let failure = classify(&service(code, status));
            assert!(failure.transient, "{code} {status}");
            assert_eq!(failure.code, code);
            assert_eq!(failure.message, format!("{code} the service says no"));
        }
    }

    #[test]
    fn client_errors_are_permanent() {
        for code in [
            "ValidationException",
            "ResourceNotFoundException",
            "AccessDeniedException",
            "ConditionalCheckFailedException",
            "QueueDoesNotExist",
        ] {
            assert!(!classify(&service(code, 400)).transient, "{code}");
        }
    }

    #[test]
    fn timeouts_and_dispatch_failures_are_transient() {
        let timeout: DynamoError = SdkError::timeout_error("operation timed out");
        let dispatch: DynamoError =
            SdkError::dispatch_failure(ConnectorError::io("connection refused".into()));
        for e in [timeout, dispatch] {
            let failure = classify(&e);
            assert!(failure.transient, "{e:?}");
            assert!(failure.code.is_empty());
            assert!(!failure.message.is_empty());
        }
    }

    #[test]
    fn unbuildable_requests_and_unreadable_answers_are_permanent_unless_5xx() {
        let built: DynamoError = SdkError::construction_failure("missing table name");
        assert!(!classify(&built).transient);
        let unreadable: DynamoError = SdkError::response_error("bad JSON", raw(200));
        assert!(!classify(&unreadable).transient);
        let gateway: DynamoError = SdkError::response_error("bad gateway page", raw(502));
        assert!(classify(&gateway).transient);
    }

    #[test]
    fn a_missing_table_is_named_and_permanent() {
        let e = store_error("shop-data", &service("ResourceNotFoundException", 400));
        let StoreError::Backend { message, transient } = e else { panic!("{e:?}") };
        assert_eq!(message, "DynamoDB table shop-data not found (ResourceNotFoundException)");
        assert!(!transient);
        let e = failure_table_error("shop-failures", &service("ThrottlingException", 400));
        let QueueError::Backend { message, transient } = e else { panic!("{e:?}") };
        assert!(message.starts_with("DynamoDB table shop-failures: ThrottlingException"), "{message}");
        assert!(transient);
    }

    #[test]
    fn a_missing_secret_is_not_found() {
        let e = secret_error("openai-api-key/sms", &service("ResourceNotFoundException", 400));
        assert!(matches!(e, SecretError::NotFound(n) if n == "openai-api-key/sms"));
        let e = secret_error("x", &service("InternalServiceError", 500));
        assert!(matches!(e, SecretError::Backend { transient: true, .. }), "{e:?}");
        let e = secret_error("x", &service("AccessDeniedException", 400));
        assert!(matches!(e, SecretError::Backend { transient: false, .. }), "{e:?}");
    }
}
