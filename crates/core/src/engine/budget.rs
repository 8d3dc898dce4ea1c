//! The retry and pacing budget: every port call goes through `with_backoff` (and
//! `UpdateService` through `paced` as well) so that throttling is absorbed and no
//! call starts after the invocation deadline's margin.
//!
//! A call that still fails ends as a `Budget`; `failure_outcome` is the one place that
//! turns it into an outcome, so a given failure reads the same for a service, a task or a
//! cluster's tags.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::Remediator;
use crate::names::Code;
use crate::outcome::{Outcome, Status};
use crate::ports::{ApiError, ApiErrorKind, CodeDeployApi, EcsServices, EcsTasks};
use crate::target::Target;

/// Why a call did not produce a result.
#[derive(Clone)]
pub(super) enum Budget {
    Api(ApiError),
    /// The invocation deadline came first.
    Exhausted,
}

impl From<ApiError> for Budget {
    fn from(e: ApiError) -> Self {
        Budget::Api(e)
    }
}

/// The outcome of a call that did not produce a result, for `target`.
///
/// `Busy` (only CodeDeploy's `DeploymentLimitExceededException` is classified so) is a
/// deployment in progress: retryable, later.
pub(super) fn failure_outcome(target: &Target, e: Budget) -> Outcome {
    match e {
        Budget::Exhausted => Outcome::failed(
            target.clone(),
            Code::TimeBudgetExhausted,
            "not reached before the invocation deadline: a retry picks it up",
            true,
        ),
        Budget::Api(e) => match e.kind {
            ApiErrorKind::NotFound => Outcome::new(
                target.clone(),
                Status::Skipped,
                Code::NotFound,
                format!("not found: {}", e.message),
            ),
            ApiErrorKind::Throttled => Outcome::failed(
                target.clone(),
                Code::Throttled,
                format!("still throttled after backing off: {e}"),
                true,
            ),
            ApiErrorKind::Transient => {
                Outcome::failed(target.clone(), Code::ApiError, e.to_string(), true)
            }
            ApiErrorKind::Busy => Outcome::failed(
                target.clone(),
                Code::DeploymentInProgress,
                e.to_string(),
                true,
            ),
            ApiErrorKind::Rejected => {
                Outcome::failed(target.clone(), Code::ApiError, e.to_string(), false)
            }
        },
    }
}

impl<E: EcsServices + EcsTasks, D: CodeDeployApi> Remediator<E, D> {
    /// Waits for an `UpdateService` token, but not past the deadline.
    pub(super) async fn paced(&self, deadline: Option<Instant>) -> Result<(), Budget> {
        let Some(limiter) = &self.update_limiter else {
            return Ok(());
        };
        match self.remaining(deadline) {
            None => {
                limiter.until_ready().await;
                Ok(())
            }
            Some(left) => tokio::time::timeout(left, limiter.until_ready())
                .await
                .map_err(|_| Budget::Exhausted),
        }
    }

    /// Time left before the margin, `None` when there is no deadline.
    pub(super) fn remaining(&self, deadline: Option<Instant>) -> Option<Duration> {
        deadline.map(|d| {
            d.saturating_duration_since(Instant::now())
                .saturating_sub(self.settings.deadline_margin)
        })
    }

    /// Retries throttled and transient failures with exponential backoff, within the deadline.
    pub(super) async fn with_backoff<T, F, Fut, Err>(
        &self,
        deadline: Option<Instant>,
        mut call: F,
    ) -> Result<T, Budget>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Err>>,
        Err: Into<Budget>,
    {
        let backoff = self.settings.backoff;
        let mut delay = backoff.initial;
        let mut round = 0;
        loop {
            if self.remaining(deadline).is_some_and(|left| left.is_zero()) {
                return Err(Budget::Exhausted);
            }
            match call().await.map_err(Into::into) {
                // Busy (a CodeDeploy deployment in progress) takes minutes: not retried here.
                Err(Budget::Api(e))
                    if matches!(e.kind, ApiErrorKind::Throttled | ApiErrorKind::Transient)
                        && round < backoff.rounds =>
                {
                    if self.remaining(deadline).is_some_and(|left| left <= delay) {
                        return Err(Budget::Api(e));
                    }
                    tracing::warn!(
                        operation = e.operation,
                        round,
                        delay_ms = delay.as_millis() as u64,
                        "{e}; backing off"
                    );
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(backoff.max);
                    round += 1;
                }
                other => return other,
            }
        }
    }
}
