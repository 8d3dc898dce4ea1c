//! The Lambda handler: one event in, one report out (or an error Lambda retries).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{Diagnostic, LambdaEvent};
use remediator_core::ports::EcsServices;
use remediator_core::{Disposition, Remediator, Report};
use serde_json::Value;
use tracing::Instrument;

/// Why an invocation is reported as failed to Lambda.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The input is unusable. Lambda's retries cannot fix it; after them the event lands in the
    /// dead-letter queue, where an operator can see it.
    #[error("{0}")]
    Rejected(String),
    /// Some resources could not be remediated yet; everything else was done. Lambda's async
    /// retry runs the event again and re-observation makes that safe.
    #[error("{0}")]
    Retryable(String),
}

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Self {
        Diagnostic {
            error_type: match e {
                HandlerError::Rejected(_) => "RejectedInput".into(),
                HandlerError::Retryable(_) => "RetryableFailures".into(),
            },
            error_message: e.to_string(),
        }
    }
}

/// Handles one invocation with the shared remediator.
pub async fn handle<E: EcsServices>(
    remediator: &Remediator<E>,
    event: LambdaEvent<Value>,
) -> Result<Report, HandlerError> {
    let deadline = deadline_instant(event.context.deadline);
    let span = tracing::info_span!("event", request_id = %event.context.request_id);
    let report = remediator
        .handle(event.payload, Some(deadline))
        .instrument(span.clone())
        .await;
    span.in_scope(|| report.log());
    into_result(report)
}

/// Maps a report to what Lambda should see.
pub fn into_result(report: Report) -> Result<Report, HandlerError> {
    match report.disposition {
        Disposition::Rejected => Err(HandlerError::Rejected(report.message)),
        _ if report.has_retryable_failure() => Err(HandlerError::Retryable(report.message)),
        _ => Ok(report),
    }
}

/// Lambda gives the deadline in epoch milliseconds; the engine counts on a monotonic clock.
fn deadline_instant(deadline_ms: u64) -> tokio::time::Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    // A missing deadline (0, as in some local emulators) means "no rush": give the Lambda maximum.
    let left = if deadline_ms == 0 {
        Duration::from_secs(900)
    } else {
        Duration::from_millis(deadline_ms.saturating_sub(now_ms))
    };
    tokio::time::Instant::now() + left
}
