//! The retry and pacing budget: every port call goes through `with_backoff` (and the calls of
//! ECS's modify buckets through `paced` as well, which takes from the account's shared budget,
//! [`crate::ports::SharedBudget`]) so that throttling is absorbed and no
//! call starts after the invocation deadline's margin.
//!
//! A call that still fails ends as a `Budget`; `failure_outcome` is the one place that
//! turns it into an outcome, so a given failure reads the same for a service, a task or a
//! cluster's tags.
//!
//! Calls that change something and carry no idempotency token (`UpdateService`,
//! `CreateDeployment`) go through `mutate` instead: after an ambiguous failure it looks before
//! it calls again (see there).

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::Remediator;
use crate::names::Code;
use crate::outcome::{Outcome, Status};
use crate::ports::{
    ApiError, ApiErrorKind, Bucket, BudgetKey, CodeDeployApi, EcsServices, EcsTasks, Grant,
};
use crate::target::Target;

/// Why a call did not produce a result.
#[derive(Clone)]
pub(super) enum Budget {
    Api(ApiError),
    /// The invocation deadline came first.
    Exhausted,
    /// The account's shared API budget (its item in the ledger table) could not be asked:
    /// nothing was sent to the API, and the call is not made without it.
    Store(ApiError),
}

impl std::fmt::Display for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Budget::Api(e) => write!(f, "{e}"),
            Budget::Exhausted => f.write_str("the invocation deadline came first"),
            Budget::Store(e) => write!(
                f,
                "the account's shared API budget could not be asked ({e})"
            ),
        }
    }
}

impl From<ApiError> for Budget {
    fn from(e: ApiError) -> Self {
        Budget::Api(e)
    }
}

/// What a mutating call (`Remediator::mutate`) came to.
pub(super) enum Applied<T> {
    /// The call answered.
    Answered(T),
    /// The call failed ambiguously (`error`), and looking again showed its effect: it is not
    /// made again.
    Observed { value: T, error: ApiError },
}

/// How far before a mutating call a change it made may be dated: AWS's clock and this
/// function's may disagree by this much (both are NTP-synchronised; this is a generous bound).
pub(super) const CLOCK_SKEW: Duration = Duration::from_secs(300);

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
        // Not a throttled API: nothing was sent. Refused (a policy, a missing table, a clock the
        // budget's dates disagree with: the store says which) needs a person; anything else a
        // retry asks again.
        Budget::Store(e) => Outcome::failed(
            target.clone(),
            Code::LedgerUnavailable,
            format!(
                "not acted on: the account's shared API budget, an item of the ledger table, could not be asked ({e}); nothing was sent{}",
                if e.kind == ApiErrorKind::Rejected {
                    ""
                } else {
                    ", a retry asks again"
                }
            ),
            e.kind != ApiErrorKind::Rejected,
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
    /// Waits for a token of `key`'s bucket in the shared budget, but not into the deadline's
    /// margin: asking (the store's answer, this environment's queue for it) and waiting both
    /// count, and a token granted inside the margin is not used. Every failure here is before
    /// the call: nothing was sent, so none of them asks the next attempt to look first.
    pub(super) async fn paced(
        &self,
        key: &BudgetKey,
        deadline: Option<Instant>,
    ) -> Result<(), Budget> {
        let Some(rate) = self.settings.rate(key.bucket) else {
            return Ok(());
        };
        let out_of_time = || self.remaining(deadline).is_some_and(|left| left.is_zero());
        loop {
            if out_of_time() {
                return Err(Budget::Exhausted);
            }
            let asked = self.budget.take(key, rate, 1);
            let answer = match self.remaining(deadline) {
                Some(left) => tokio::time::timeout(left, asked)
                    .await
                    .map_err(|_| Budget::Exhausted)?,
                None => asked.await,
            };
            let wait = match answer {
                Ok(Grant::Taken) if out_of_time() => return Err(Budget::Exhausted),
                Ok(Grant::Taken) => return Ok(()),
                Ok(Grant::Wait(wait)) => wait,
                Err(e) => return Err(Budget::Store(e)),
            };
            if self.remaining(deadline).is_some_and(|left| left <= wait) {
                return Err(Budget::Exhausted);
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// The bucket of the account and Region a resource's ARN names (the ECS ARNs of tasks and
    /// container instances: `arn:<partition>:ecs:<region>:<account>:…`), else this function's.
    pub(super) fn key_of_arn(&self, bucket: Bucket, arn: &str) -> BudgetKey {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        match parts.as_slice() {
            ["arn", _, "ecs", region, account, _] if !region.is_empty() && !account.is_empty() => {
                BudgetKey {
                    account: (*account).to_owned(),
                    region: (*region).to_owned(),
                    bucket,
                }
            }
            _ => self.key_of(bucket, None, None),
        }
    }

    /// The bucket of the account and Region the clients act in: the configured ones, else the
    /// notice's (already checked against them, [`crate::plan::out_of_scope`]).
    pub(super) fn key_of(
        &self,
        bucket: Bucket,
        account: Option<&str>,
        region: Option<&str>,
    ) -> BudgetKey {
        let pick = |set: &Option<String>, seen: Option<&str>, none: &str| {
            set.as_deref().or(seen).unwrap_or(none).to_owned()
        };
        BudgetKey {
            account: pick(&self.settings.account, account, "this-account"),
            region: pick(&self.settings.region, region, "this-region"),
            bucket,
        }
    }

    /// Time left before the margin, `None` when there is no deadline.
    pub(super) fn remaining(&self, deadline: Option<Instant>) -> Option<Duration> {
        deadline.map(|d| {
            d.saturating_duration_since(Instant::now())
                .saturating_sub(self.settings.deadline_margin)
        })
    }

    /// `call`, given no more than the time left before `deadline` (the SDK's own attempts and
    /// backoff included: a call in flight must not outlive the invocation). `None`: cut.
    async fn bounded<T>(
        &self,
        deadline: Option<Instant>,
        call: impl Future<Output = T>,
    ) -> Option<T> {
        match deadline {
            Some(d) => tokio::time::timeout(d.saturating_duration_since(Instant::now()), call)
                .await
                .ok(),
            None => Some(call.await),
        }
    }

    /// One call within the deadline. Cut in flight at the deadline, whatever it asked may or may
    /// not have been done (a RunTask, a StopTask, an UpdateService): not "not reached", and no
    /// time left to look. The next attempt looks before acting (the replacement's marker, the
    /// client token, the stop reason, the service's deployments).
    async fn in_flight<T, Err: Into<Budget>>(
        &self,
        deadline: Option<Instant>,
        call: impl Future<Output = Result<T, Err>>,
    ) -> Result<T, Budget> {
        match self.bounded(deadline, call).await {
            Some(answer) => answer.map_err(Into::into),
            None => Err(Budget::Api(ApiError::new(
                "call",
                ApiErrorKind::Transient,
                "cut at the invocation deadline while in flight; what it asked may have been done: the next attempt looks before acting",
            ))),
        }
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
            let answer = self.in_flight(deadline, call()).await;
            match answer {
                // Busy (a CodeDeploy deployment in progress) takes minutes: not retried here.
                Err(Budget::Api(e))
                    if matches!(e.kind, ApiErrorKind::Throttled | ApiErrorKind::Transient)
                        && round < backoff.rounds =>
                {
                    if self.remaining(deadline).is_some_and(|left| left <= delay) {
                        return Err(Budget::Api(e));
                    }
                    backing_off(&e, round, delay).await;
                    delay = (delay * 2).min(backoff.max);
                    round += 1;
                }
                other => return other,
            }
        }
    }

    /// A call that changes something and has no idempotency token (`UpdateService`,
    /// `CreateDeployment`), retried like [`Self::with_backoff`] with one difference: a failure
    /// that leaves open whether the change was made (`Transient`: a 5xx, a timeout, a lost
    /// connection) is followed by `took_effect`, which observes, before anything else.
    ///
    /// - `Ok(Some(value))`: the change was made and its answer lost; it is reported as
    ///   [`Applied::Observed`] and the call is **not** made again (that would be a second,
    ///   back-to-back deployment).
    /// - `Ok(None)`: nothing shows the change: the call is made again, within the backoff
    ///   rounds. The backoff delay is waited *before* looking, so a change that takes a moment
    ///   to show (eventually consistent reads) is seen.
    /// - `Err(_)`: cannot tell. The call is not made again blind; the ambiguous failure ends the
    ///   work as retryable, and the next attempt starts by observing (the planner sees the new
    ///   deployment if there is one).
    ///
    /// A throttled call is retried without looking: ECS and CodeDeploy apply nothing from a
    /// throttled request. A `Busy` answer after an ambiguous failure (CodeDeploy's
    /// `DeploymentLimitExceeded`) may be the lost deployment itself in the way, so it is looked
    /// at too. The ambiguous failure is remembered: running out of time or rounds after it
    /// reports it, never "no call was made".
    ///
    /// This only holds if the adapter does not resend the request itself (the SDK's retries):
    /// see `remediator_aws::ecs::ThrottlingOnly`.
    pub(super) async fn mutate<T, F, Fut, Err, R, RFut>(
        &self,
        deadline: Option<Instant>,
        mut call: F,
        mut took_effect: R,
    ) -> Result<Applied<T>, Budget>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Err>>,
        Err: Into<Budget>,
        R: FnMut() -> RFut,
        RFut: Future<Output = Result<Option<T>, Budget>>,
    {
        let backoff = self.settings.backoff;
        let mut delay = backoff.initial;
        let mut round = 0;
        // The last failure that left open whether the change was made.
        let mut ambiguous: Option<ApiError> = None;
        // After an ambiguous failure, stopping before the next call (out of time, or no token
        // to make it) reports that failure: the change may have been made.
        let give_up = |e: Budget, ambiguous: Option<ApiError>| match (e, ambiguous) {
            (Budget::Exhausted | Budget::Store(_), Some(first)) => Budget::Api(first),
            (e, _) => e,
        };
        loop {
            if self.remaining(deadline).is_some_and(|left| left.is_zero()) {
                return Err(give_up(Budget::Exhausted, ambiguous));
            }
            let answer = self.in_flight(deadline, call()).await;
            let e = match answer {
                Ok(value) => return Ok(Applied::Answered(value)),
                Err(Budget::Api(e)) => e,
                Err(e) => return Err(give_up(e, ambiguous)),
            };
            let more =
                round < backoff.rounds && self.remaining(deadline).is_none_or(|left| left > delay);
            match e.kind {
                ApiErrorKind::Throttled if more => backing_off(&e, round, delay).await,
                ApiErrorKind::Transient => {
                    tracing::warn!(
                        operation = e.operation,
                        round,
                        "{e}; it may have taken effect: looking before calling again"
                    );
                    if self.remaining(deadline).is_none_or(|left| left > delay) {
                        tokio::time::sleep(delay).await;
                    }
                    match took_effect().await {
                        Ok(Some(value)) => return Ok(Applied::Observed { value, error: e }),
                        Ok(None) if more => {}
                        Ok(None) => return Err(Budget::Api(e)),
                        Err(_) => {
                            tracing::warn!(
                                operation = e.operation,
                                "could not tell whether it took effect: not calling again"
                            );
                            return Err(Budget::Api(e));
                        }
                    }
                    ambiguous = Some(e);
                }
                ApiErrorKind::Busy if ambiguous.is_some() => {
                    return match took_effect().await {
                        Ok(Some(value)) => Ok(Applied::Observed {
                            value,
                            error: ambiguous.unwrap_or(e),
                        }),
                        _ => Err(Budget::Api(e)),
                    };
                }
                _ => return Err(give_up(Budget::Api(e), ambiguous)),
            }
            delay = (delay * 2).min(backoff.max);
            round += 1;
        }
    }
}

/// Waits `delay` before the next round, saying so.
async fn backing_off(e: &ApiError, round: u32, delay: Duration) {
    tracing::warn!(
        operation = e.operation,
        round,
        delay_ms = delay.as_millis() as u64,
        "{e}; backing off"
    );
    tokio::time::sleep(delay).await;
}
