//! The Lambda handler: one event in, one report out (or an error Lambda retries).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use lambda_runtime::{Diagnostic, LambdaEvent};
use remediator_core::pipeline::Remediate;
use remediator_core::run::{self, Delivery, RunError};
use remediator_core::Report;
use serde_json::Value;

use crate::controls::Controls;

pub use remediator_core::run::FINISH_RESERVE;

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

impl From<RunError> for HandlerError {
    fn from(e: RunError) -> Self {
        match e {
            RunError::Rejected(report) => HandlerError::Rejected(report.message),
            RunError::Retryable { why, .. } => HandlerError::Retryable(why),
        }
    }
}

/// Handles one invocation with no operator controls.
pub async fn handle<R: Remediate>(
    remediator: &R,
    event: LambdaEvent<Value>,
) -> Result<Report, HandlerError> {
    handle_with(remediator, &Controls::none(), event, Utc::now()).await
}

/// Handles one invocation: the Lambda event translated into a [`Delivery`] for the core's
/// driver ([`remediator_core::run::handle`]), its result into what Lambda sees. `now` is the
/// wall clock (tests pass a fixed one).
pub async fn handle_with<R: Remediate>(
    remediator: &R,
    controls: &Controls,
    event: LambdaEvent<Value>,
    now: DateTime<Utc>,
) -> Result<Report, HandlerError> {
    let delivery = Delivery {
        payload: event.payload,
        deadline: deadline_instant(event.context.deadline),
        invoked_arn: event.context.invoked_function_arn,
        request_id: event.context.request_id,
    };
    run::handle(remediator, controls, delivery, now)
        .await
        .map_err(HandlerError::from)
}

/// Maps a report to what Lambda should see ([`remediator_core::run::result_of`]).
pub fn into_result(report: Report) -> Result<Report, HandlerError> {
    run::result_of(report).map_err(HandlerError::from)
}

/// Lambda gives the deadline in epoch milliseconds; the engine counts on a monotonic clock.
///
/// Local emulators differ: `cargo lambda watch` sends the function timeout itself (`600000`),
/// some send nothing (`0`). A value that is not a plausible epoch time (before 2001) is read as
/// a relative budget, and a missing one as Lambda's maximum, so the engine never mistakes an
/// emulator's header for an expired deadline.
pub(crate) fn deadline_instant(deadline_ms: u64) -> tokio::time::Instant {
    const PLAUSIBLE_EPOCH_MS: u64 = 1_000_000_000_000;
    let left = match deadline_ms {
        0 => Duration::from_secs(900),
        relative if relative < PLAUSIBLE_EPOCH_MS => Duration::from_millis(relative),
        absolute => {
            let now_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            Duration::from_millis(absolute.saturating_sub(now_ms))
        }
    };
    tokio::time::Instant::now() + left
}

#[cfg(test)]
mod tests {
    use super::*;

    fn left(deadline_ms: u64) -> Duration {
        deadline_instant(deadline_ms).saturating_duration_since(tokio::time::Instant::now())
    }

    #[test]
    fn an_epoch_deadline_is_the_time_left_until_it() {
        let in_a_minute = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64 + 60_000)
            .unwrap_or(0);
        let l = left(in_a_minute);
        assert!(
            l > Duration::from_secs(55) && l <= Duration::from_secs(60),
            "{l:?}"
        );
    }

    #[test]
    fn a_past_deadline_leaves_no_time() {
        assert_eq!(left(1_600_000_000_000), Duration::ZERO);
    }

    #[test]
    fn an_emulator_timeout_is_read_as_a_relative_budget() {
        let l = left(600_000);
        assert!(
            l > Duration::from_secs(595) && l <= Duration::from_secs(600),
            "{l:?}"
        );
    }

    #[test]
    fn no_deadline_gets_the_lambda_maximum() {
        assert!(left(0) > Duration::from_secs(895));
    }
}
