//! The one place that decides what an SDK error means for the remediation: every adapter maps
//! its errors through [`classify`], so "retry", "not found" and "give up" mean the same thing
//! for every service.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use remediator_core::ports::{ApiError, ApiErrorKind};

/// Error codes that mean "slow down", across the services this project calls.
const THROTTLED: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    // DynamoDB's (the ledger table's budget items).
    "ProvisionedThroughputExceededException",
];

/// Error codes that mean the resource (or its cluster) is gone or no longer active.
const NOT_FOUND: &[&str] = &[
    "ClusterNotFoundException",
    "ServiceNotFoundException",
    "ServiceNotActiveException",
];

/// Server-side faults a later attempt can get past.
const TRANSIENT: &[&str] = &[
    "ServerException",
    "InternalFailure",
    "InternalServerException",
    "InternalError",
    "ServiceUnavailable",
    // DynamoDB's spelling, and its write conflicts (another writer's transaction or Region).
    "InternalServerError",
    "TransactionConflictException",
    "ReplicatedWriteConflictException",
];

/// Classifies an SDK error for `operation`.
pub fn classify<E, R>(operation: &'static str, error: SdkError<E, R>) -> ApiError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    classify_with(operation, error, &[])
}

/// [`classify`], with a service's own names for "not found" (CodeDeploy's
/// `ApplicationDoesNotExistException`, …) added to the common ones.
pub fn classify_with<E, R>(
    operation: &'static str,
    error: SdkError<E, R>,
    not_found: &[&str],
) -> ApiError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let message = DisplayErrorContext(&error).to_string();
    let kind = match &error {
        SdkError::ServiceError(service_error) => {
            let code = service_error.err().code().unwrap_or_default();
            if THROTTLED.contains(&code) {
                ApiErrorKind::Throttled
            } else if NOT_FOUND.contains(&code) || not_found.contains(&code) {
                ApiErrorKind::NotFound
            } else if TRANSIENT.contains(&code) {
                ApiErrorKind::Transient
            } else {
                ApiErrorKind::Rejected
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ApiErrorKind::Transient
        }
        // A request that could not even be built will not build next time either.
        _ => ApiErrorKind::Rejected,
    };
    ApiError::new(operation, kind, message)
}

/// Whether `error` is a service error with one of `codes`.
pub fn has_code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>, codes: &[&str]) -> bool {
    match error {
        SdkError::ServiceError(se) => se.err().code().is_some_and(|c| codes.contains(&c)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn dynamodb(code: &str, status: u16) -> ApiErrorKind {
        let error = UpdateItemError::generic(ErrorMetadata::builder().code(code).build());
        let status = StatusCode::try_from(status).expect("a status");
        classify(
            "UpdateItem",
            SdkError::service_error(error, Response::new(status, SdkBody::empty())),
        )
        .kind
    }

    #[test]
    fn dynamodbs_throttling_server_faults_and_write_conflicts_are_retried_and_its_refusals_are_final(
    ) {
        for (code, status, kind) in [
            (
                "ProvisionedThroughputExceededException",
                400,
                ApiErrorKind::Throttled,
            ),
            ("ThrottlingException", 400, ApiErrorKind::Throttled),
            ("InternalServerError", 500, ApiErrorKind::Transient),
            ("TransactionConflictException", 400, ApiErrorKind::Transient),
            (
                "ReplicatedWriteConflictException",
                400,
                ApiErrorKind::Transient,
            ),
            ("AccessDeniedException", 400, ApiErrorKind::Rejected),
            ("ResourceNotFoundException", 400, ApiErrorKind::Rejected),
        ] {
            assert_eq!(dynamodb(code, status), kind, "{code}");
        }
    }
}
