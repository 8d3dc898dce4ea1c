//! The Lambda handler: one event in, one report out (or an error Lambda retries).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use lambda_runtime::{Diagnostic, LambdaEvent};
use remediator_core::defer::Gate;
use remediator_core::follow::{scope, unwrap_check};
use remediator_core::pipeline::{fill, route, Notice, Recalled, Remediate, Route};
use remediator_core::{parse_value, Disposition, Report};

use crate::controls::{Chain, Controls, FollowedReport};
use serde_json::Value;
use tracing::Instrument;

/// Kept from the remediation for the steps after it: recording, the next check, metrics, the
/// summary. Each is one or a few calls (the ledger's records go 16 at a time).
pub const FINISH_RESERVE: Duration = Duration::from_secs(5);

/// The finishing steps end this long before Lambda's deadline, so the report is returned
/// before Lambda kills the invocation.
const RETURN_MARGIN: Duration = Duration::from_millis(500);

/// How long the account's retirement timing (settings, event windows) may take to read before
/// the notice's own deadline is used.
const LOOKUP_LIMIT: Duration = Duration::from_secs(10);

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

/// Handles one invocation with no operator controls.
pub async fn handle<R: Remediate>(
    remediator: &R,
    event: LambdaEvent<Value>,
) -> Result<Report, HandlerError> {
    handle_with(remediator, &Controls::none(), event, Utc::now()).await
}

/// Handles one invocation: parse, claim, maintenance-window gate, remediation, the report's log
/// lines, metrics and notification. `now` is the wall clock (tests pass a fixed one).
pub async fn handle_with<R: Remediate>(
    remediator: &R,
    controls: &Controls,
    event: LambdaEvent<Value>,
    now: DateTime<Utc>,
) -> Result<Report, HandlerError> {
    let started = tokio::time::Instant::now();
    let deadline = deadline_instant(event.context.deadline);
    // The remediation stops early enough for the finishing steps (recording the outcomes,
    // scheduling the next check, metrics and the summary) to run before Lambda's deadline.
    let work_until = deadline
        .checked_sub(FINISH_RESERVE)
        .unwrap_or(started)
        .max(started);
    // Every finishing step is done by then, so the report is returned before Lambda's deadline.
    let return_by = deadline.checked_sub(RETURN_MARGIN).unwrap_or(started);
    let time_left_ms = deadline
        .saturating_duration_since(tokio::time::Instant::now())
        .as_millis() as u64;
    let invoked_arn = event.context.invoked_function_arn;
    let request_id = event.context.request_id;
    // A follow-up check delivers the original event in an envelope that says which check it is.
    let (raw, check) = unwrap_check(event.payload);
    let parsed = parse_value(raw.clone());
    let (event_id, event_arn) = match &parsed {
        Ok(p) => (p.event_id(), p.event_arn()),
        Err(_) => (None, None),
    };
    let span = tracing::info_span!(
        "event",
        request_id = %request_id,
        event_id = event_id.unwrap_or("-"),
        event_arn = event_arn.unwrap_or("-"),
        check = check.unwrap_or(0),
        deadline_ms = event.context.deadline,
        time_left_ms
    );
    let work = async {
        let notice = match route(remediator, parsed) {
            Route::Remediate(notice) => notice,
            Route::Answered(report) => return FollowedReport::new(*report),
        };
        // With the maintenance windows: AWS may retire later than the notice says (ECS event
        // windows). That later moment is the notice's deadline from here on, for the deferral,
        // the follow-up checks and the ledger alike (each delivery and check reads it again).
        // Best effort, bounded.
        let later = if controls.defers() {
            let left = return_by.saturating_duration_since(tokio::time::Instant::now());
            tokio::time::timeout(
                left.min(LOOKUP_LIMIT),
                remediator.earliest_retirement(&notice),
            )
            .await
            .ok()
            .flatten()
        } else {
            None
        };
        let notice = match &later {
            Some((at, _)) => notice.with_deadline(*at),
            None => notice,
        };
        let dry_run = remediator.dry_run();
        // Resources the ledger already settled are answered, and those acted on are only
        // checked (reads), not deferred: an update of a handled notice outside the windows
        // defers only what it adds.
        let recalled = controls.remembered(&notice, &request_id, now).await;
        let targets = notice.targets();
        let pick = |which: fn(&Recalled) -> bool| -> Vec<_> {
            targets
                .iter()
                .zip(&recalled)
                .filter(|(_, r)| which(r))
                .map(|(t, _)| t.clone())
                .collect()
        };
        let open = pick(|r| matches!(r, Recalled::Open));
        let held = notice
            .hold_until(controls.margin())
            .filter(|(at, _)| now < *at - remediator_core::window::START_GRACE);
        let verdict = if open.is_empty() {
            None
        } else if let Some(until) = held {
            let acts_now = format!(
                "{}; no schedule can hold it (SCHEDULE_ROLE_ARN is not set): acting now",
                until.1
            );
            Some(
                controls
                    .hold(
                        &raw,
                        notice.event_id(),
                        notice.deadline(),
                        open,
                        until,
                        &invoked_arn,
                    )
                    .await
                    .unwrap_or(Gate::Proceed(acts_now)),
            )
        } else {
            controls
                .gate(
                    &raw,
                    notice.event_id(),
                    notice.deadline(),
                    open,
                    &invoked_arn,
                    now,
                )
                .await
        };
        let with_later = |why: String| match &later {
            Some((_, later)) => format!("{why}; {later}"),
            None => why,
        };
        let (outcomes, timing) = match verdict {
            Some(Gate::Held(held, why)) => {
                let followed = pick(|r| matches!(r, Recalled::Follow));
                let checked = if followed.is_empty() {
                    Vec::new()
                } else {
                    controls
                        .remediate(
                            remediator,
                            &notice.narrowed(followed),
                            Some(work_until),
                            Some(return_by),
                            &request_id,
                            now,
                        )
                        .await
                };
                (fill(recalled, checked, held), Some(with_later(why)))
            }
            proceed => {
                let outcomes = controls
                    .remediate(
                        remediator,
                        &notice,
                        Some(work_until),
                        Some(return_by),
                        &request_id,
                        now,
                    )
                    .await;
                let timing = match proceed {
                    Some(Gate::Proceed(why)) => Some(with_later(why)),
                    _ => None,
                };
                (outcomes, timing)
            }
        };
        // The wall clock now, not at the start: a check is scheduled from when this one ends
        // (an invocation can run fifteen minutes; a schedule in the past is refused).
        let ended = now + chrono::Duration::from_std(started.elapsed()).unwrap_or_default();
        let outcomes =
            controls.close_waiting(outcomes, ended, notice.follow_until(), notice.deadline());
        let timing = match (timing, notice.racing(now)) {
            (Some(t), Some(racing)) => Some(format!("{t}; {racing}")),
            (t, racing) => t.or(racing),
        };
        let mut report = notice
            .report(outcomes, dry_run)
            .with_timing(timing)
            .with_check(check);
        // Best effort, read once per account: never at the cost of the report.
        let left = return_by.saturating_duration_since(tokio::time::Instant::now());
        report.notes = tokio::time::timeout(left, remediator.notes(&notice))
            .await
            .unwrap_or_default();
        let (key, scope) = (notice.ledger_key(), scope(&notice.targets()));
        let chain = Chain {
            raw: &raw,
            key: &key,
            scope: &scope,
            deadline: notice.follow_until(),
            judged_at: now,
            by: return_by,
        };
        controls
            .follow_up(report, &chain, &invoked_arn, ended)
            .await
    };
    let followed = work.instrument(span.clone()).await;
    let report = followed.report;
    span.in_scope(|| report.log());
    // Bounded by the time left: Lambda kills an invocation at its deadline, and the report
    // (returned below) matters more than a late summary.
    let left = deadline
        .saturating_duration_since(tokio::time::Instant::now())
        .saturating_sub(RETURN_MARGIN);
    let finishing = controls
        .finish(&report, Utc::now())
        .instrument(span.clone());
    if tokio::time::timeout(left, finishing).await.is_err() {
        span.in_scope(|| {
            tracing::error!("the summary was cut at the invocation deadline; the report stands")
        });
    }
    if let Some(why) = followed.unscheduled {
        // Resources wait on a check that could not be scheduled: Lambda's retry re-observes and
        // schedules it again; after the retries the event waits in the (alarmed) DLQ.
        return Err(HandlerError::Retryable(format!(
            "{}; {why}",
            report.message
        )));
    }
    into_result(report)
}

/// Maps a report to what Lambda should see. Retryable failures a scheduled check carries are
/// not Lambda's to retry: the check looks again, as long as AWS's deadline allows.
pub fn into_result(report: Report) -> Result<Report, HandlerError> {
    match report.disposition {
        Disposition::Rejected => Err(HandlerError::Rejected(report.message)),
        _ if report.has_retryable_failure() && report.follow_up.is_none() => {
            Err(HandlerError::Retryable(report.message))
        }
        _ => Ok(report),
    }
}

/// Lambda gives the deadline in epoch milliseconds; the engine counts on a monotonic clock.
///
/// Local emulators differ: `cargo lambda watch` sends the function timeout itself (`600000`),
/// some send nothing (`0`). A value that is not a plausible epoch time (before 2001) is read as
/// a relative budget, and a missing one as Lambda's maximum, so the engine never mistakes an
/// emulator's header for an expired deadline.
fn deadline_instant(deadline_ms: u64) -> tokio::time::Instant {
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
