//! The driver: one event in, one report out, written once for every caller (the Lambda
//! functions, the CLI, the test kit), over the ports it is given.
//!
//! ```text
//! parse and route ─▶ when AWS really retires ─▶ recall (ledger) ─▶ hold or gate (schedules)
//!   ─▶ act with memory (claim, remediate, record) ─▶ close what waits too long ─▶ report
//!   ─▶ follow up (the next check) ─▶ tell (log, metrics, notification) ─▶ result
//! ```
//!
//! Each stage below is one function, in that order. The Lambda shell only translates: its
//! event into a [`Delivery`], the result into what Lambda sees.

mod controls;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::time::Instant;
use tracing::Instrument;

use crate::defer::{Gate, GatedEvent, Scheduler};
use crate::follow::{chain_of, scope, unwrap_check};
use crate::ledger::Ledger;
use crate::outcome::{Disposition, Outcome, Report};
use crate::pipeline::{fill, route, Notice, Recalled, Remediate, Route};
use crate::ports::Notifier;
use crate::target::Target;

pub use controls::{Chain, Controls, FollowedReport, Parts};

/// Kept from the remediation for the steps after it: recording, the next check, metrics, the
/// summary. Each is one or a few calls (the ledger's records go 16 at a time).
pub const FINISH_RESERVE: Duration = Duration::from_secs(5);

/// The finishing steps end this long before the invocation's deadline, so the report is
/// returned before the runtime kills the invocation.
const RETURN_MARGIN: Duration = Duration::from_millis(500);

/// How long the account's retirement timing (settings, event windows) may take to read before
/// the notice's own deadline is used.
const LOOKUP_LIMIT: Duration = Duration::from_secs(10);

/// One event as it was delivered.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The event (or a follow-up check's envelope around it).
    pub payload: Value,
    /// When the invocation must have returned.
    pub deadline: Instant,
    /// The ARN the function was invoked as: what its schedules invoke by default.
    pub invoked_arn: String,
    /// The invocation's id: the owner of its claims.
    pub request_id: String,
}

/// Why an invocation ends as failed, with the report it ended with: a caller that is not
/// Lambda (the CLI, the test kit) shows it all the same.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RunError {
    /// The input is unusable: retrying it cannot help (the dead-letter queue shows it).
    #[error("{}", .0.message)]
    Rejected(Box<Report>),
    /// Some resources could not be remediated yet and no check carries them: run it again.
    #[error("{why}")]
    Retryable { why: String, report: Box<Report> },
}

impl RunError {
    /// The report the invocation ended with.
    pub fn report(&self) -> &Report {
        match self {
            RunError::Rejected(report) | RunError::Retryable { report, .. } => report,
        }
    }

    /// The report, whether the run failed or not.
    pub fn into_report(self) -> Report {
        match self {
            RunError::Rejected(report) | RunError::Retryable { report, .. } => *report,
        }
    }
}

/// The report of a run, failed or not: for callers that judge the report themselves.
pub fn report_of(result: Result<Report, RunError>) -> Report {
    result.unwrap_or_else(RunError::into_report)
}

/// The invocation's clock: when it started and what it may spend.
#[derive(Debug, Clone, Copy)]
struct Budget {
    started: Instant,
    /// The remediation stops then, leaving [`FINISH_RESERVE`] for the finishing steps.
    work_until: Instant,
    /// Every finishing step is done by then.
    return_by: Instant,
}

impl Budget {
    fn of(deadline: Instant) -> Budget {
        let started = Instant::now();
        Budget {
            started,
            work_until: deadline
                .checked_sub(FINISH_RESERVE)
                .unwrap_or(started)
                .max(started),
            return_by: deadline.checked_sub(RETURN_MARGIN).unwrap_or(started),
        }
    }

    fn left(&self) -> Duration {
        self.return_by.saturating_duration_since(Instant::now())
    }
}

/// Handles one delivery: every stage, in order. `now` is the wall clock at the start (tests
/// pass one).
pub async fn handle<R, L, S, N>(
    remediator: &R,
    controls: &Controls<L, S, N>,
    delivery: Delivery,
    now: DateTime<Utc>,
) -> Result<Report, RunError>
where
    R: Remediate,
    L: Ledger,
    S: Scheduler,
    N: Notifier,
{
    let budget = Budget::of(delivery.deadline);
    let time_left_ms = delivery
        .deadline
        .saturating_duration_since(Instant::now())
        .as_millis() as u64;
    // A follow-up check delivers the original event in an envelope that says which check it is.
    // Its claims are the chain's: a check continues its delivery's, a delivery starts its own.
    let owner = chain_of(&delivery.payload).unwrap_or_else(|| delivery.request_id.clone());
    let (raw, check) = unwrap_check(delivery.payload);
    let parsed = crate::parse_value(raw.clone());
    let (event_id, event_arn) = match &parsed {
        Ok(p) => (p.event_id(), p.event_arn()),
        Err(_) => (None, None),
    };
    let span = tracing::info_span!(
        "event",
        request_id = %delivery.request_id,
        event_id = event_id.unwrap_or("-"),
        event_arn = event_arn.unwrap_or("-"),
        check = check.unwrap_or(0),
        time_left_ms
    );
    let event = Event {
        raw: &raw,
        check,
        invoked_arn: &delivery.invoked_arn,
        owner: &owner,
        request_id: &delivery.request_id,
        now,
        budget,
    };
    let followed = match route(remediator, parsed) {
        Route::Answered(report) => FollowedReport::new(*report),
        Route::Remediate(notice) => {
            // Boxed: the remediation's future is large (the engine's passes, the SDK calls);
            // on the heap it does not count against the invoking thread's stack.
            Box::pin(remediate(remediator, controls, &event, notice).instrument(span.clone())).await
        }
    };
    tell(controls, &followed.report, delivery.deadline, &span).await;
    match followed.unscheduled {
        // Resources wait on a check that could not be scheduled: a retry re-observes and
        // schedules it again; after the retries the event waits in the (alarmed) DLQ.
        Some(why) => Err(RunError::Retryable {
            why: format!("{}; {why}", followed.report.message),
            report: Box::new(followed.report),
        }),
        None => result_of(followed.report),
    }
}

/// What one delivery carries into the stages.
struct Event<'a> {
    raw: &'a Value,
    check: Option<u32>,
    invoked_arn: &'a str,
    /// The owner of the claims: the chain's ([`chain_of`]).
    owner: &'a str,
    /// This invocation's id: the owner of the notice's final summary, if it sends it.
    request_id: &'a str,
    now: DateTime<Utc>,
    budget: Budget,
}

/// A notice to remediate: its real retirement moment, what the ledger remembers, hold or gate,
/// act, close, report, follow up.
async fn remediate<R, L, S, N>(
    remediator: &R,
    controls: &Controls<L, S, N>,
    event: &Event<'_>,
    notice: R::Notice,
) -> FollowedReport
where
    R: Remediate,
    L: Ledger,
    S: Scheduler,
    N: Notifier,
{
    let (notice, later) = retirement_moment(remediator, controls, notice, &event.budget).await;
    let recalled = controls.remembered(&notice, event.owner, event.now).await;
    let verdict = decide(controls, &notice, &recalled, event).await;
    let with_later = |why: String| match &later {
        Some(later) => format!("{why}; {later}"),
        None => why,
    };
    let (outcomes, timing) = act(remediator, controls, &notice, recalled, verdict, event).await;
    let timing = timing.map(with_later);
    // The wall clock now, not at the start: a check is scheduled from when this one ends
    // (an invocation can run fifteen minutes; a schedule in the past is refused).
    let ended =
        event.now + chrono::Duration::from_std(event.budget.started.elapsed()).unwrap_or_default();
    let outcomes =
        controls.close_waiting(outcomes, ended, notice.follow_until(), notice.deadline());
    let report = report(remediator, &notice, outcomes, timing, event).await;
    let (key, scope) = (notice.ledger_key(), scope(&notice.targets()));
    let chain = Chain {
        raw: event.raw,
        key: &key,
        scope: &scope,
        deadline: notice.follow_until(),
        judged_at: event.now,
        by: event.budget.return_by,
        owner: event.owner,
    };
    let mut followed = controls
        .follow_up(report, &chain, event.invoked_arn, ended)
        .await;
    followed.report = controls
        .last_word(followed.report, &key, event.request_id, ended)
        .await;
    followed
}

/// With the maintenance windows, AWS may retire later than the notice says (ECS event
/// windows): that later moment is the notice's deadline from here on, for the deferral, the
/// follow-up checks and the ledger alike (each delivery and check reads it again). Best effort,
/// bounded. Also what to say of it.
async fn retirement_moment<R, L, S, N>(
    remediator: &R,
    controls: &Controls<L, S, N>,
    notice: R::Notice,
    budget: &Budget,
) -> (R::Notice, Option<String>)
where
    R: Remediate,
    L: Ledger,
    S: Scheduler,
    N: Notifier,
{
    if !controls.defers() {
        return (notice, None);
    }
    let later = tokio::time::timeout(
        budget.left().min(LOOKUP_LIMIT),
        remediator.earliest_retirement(&notice),
    )
    .await
    .ok()
    .flatten();
    match later {
        Some((at, why)) => (notice.with_deadline(at), Some(why)),
        None => (notice, None),
    }
}

/// Whether the resources still open may be acted on now: held until a moment (a notice that
/// must not be acted on earlier), deferred to a maintenance window, or acted on now (`None`:
/// no gate applies). Resources the ledger settled are answered, those acted on only checked
/// (reads), never deferred: an update of a handled notice defers only what it adds.
async fn decide<N: Notice, L: Ledger, S: Scheduler, M: Notifier>(
    controls: &Controls<L, S, M>,
    notice: &N,
    recalled: &[Recalled],
    event: &Event<'_>,
) -> Option<Gate> {
    let open = pick(notice, recalled, |r| matches!(r, Recalled::Open));
    if open.is_empty() {
        return None;
    }
    let held = notice
        .hold_until(controls.margin())
        .filter(|(at, _)| event.now < *at - crate::window::START_GRACE);
    if let Some(until) = held {
        let acts_now = format!(
            "{}; no schedule can hold it (SCHEDULE_ROLE_ARN is not set): acting now",
            until.1
        );
        let gate = controls
            .hold(gated(event, notice, open), until, event.invoked_arn)
            .await;
        return Some(gate.unwrap_or(Gate::Proceed(acts_now)));
    }
    controls
        .gate(gated(event, notice, open), event.invoked_arn, event.now)
        .await
}

/// The event as a schedule hands it back, and what it names still to do.
fn gated<'a, N: Notice>(event: &Event<'a>, notice: &'a N, open: Vec<Target>) -> GatedEvent<'a> {
    GatedEvent {
        raw: event.raw,
        event_id: notice.event_id(),
        deadline: notice.deadline(),
        targets: open,
    }
}

/// The targets of `notice` whose memory `which` selects.
fn pick<N: Notice>(notice: &N, recalled: &[Recalled], which: fn(&Recalled) -> bool) -> Vec<Target> {
    notice
        .targets()
        .into_iter()
        .zip(recalled)
        .filter(|(_, r)| which(r))
        .map(|(t, _)| t)
        .collect()
}

/// Acts as the gate decided: when held, only what was acted on before is checked and the rest
/// answers held; otherwise everything is remediated with the ledger's memory. The timing to
/// report comes with it.
async fn act<R, L, S, N>(
    remediator: &R,
    controls: &Controls<L, S, N>,
    notice: &R::Notice,
    recalled: Vec<Recalled>,
    verdict: Option<Gate>,
    event: &Event<'_>,
) -> (Vec<Outcome>, Option<String>)
where
    R: Remediate,
    L: Ledger,
    S: Scheduler,
    N: Notifier,
{
    match verdict {
        Some(Gate::Held(held, why)) => {
            let followed = pick(notice, &recalled, |r| matches!(r, Recalled::Follow));
            let checked = if followed.is_empty() {
                Vec::new()
            } else {
                with_memory(remediator, controls, &notice.narrowed(followed), event).await
            };
            (fill(recalled, checked, held), Some(why))
        }
        Some(Gate::Proceed(why)) => (
            with_memory(remediator, controls, notice, event).await,
            Some(why),
        ),
        None => (with_memory(remediator, controls, notice, event).await, None),
    }
}

/// The remediation of `notice` with the ledger's memory around it, within the budget.
async fn with_memory<R, L, S, N>(
    remediator: &R,
    controls: &Controls<L, S, N>,
    notice: &R::Notice,
    event: &Event<'_>,
) -> Vec<Outcome>
where
    R: Remediate,
    L: Ledger,
    S: Scheduler,
    N: Notifier,
{
    controls
        .remediate(
            remediator,
            notice,
            Some(event.budget.work_until),
            Some(event.budget.return_by),
            event.owner,
            event.now,
        )
        .await
}

/// The report of the outcomes: the timing (and whether it races AWS), the check it is, and
/// what the account's settings say (best effort, never at the cost of the report).
async fn report<R: Remediate>(
    remediator: &R,
    notice: &R::Notice,
    outcomes: Vec<Outcome>,
    timing: Option<String>,
    event: &Event<'_>,
) -> Report {
    let timing = match (timing, notice.racing(event.now)) {
        (Some(t), Some(racing)) => Some(format!("{t}; {racing}")),
        (t, racing) => t.or(racing),
    };
    let mut report = notice
        .report(outcomes, remediator.dry_run())
        .with_timing(timing)
        .with_check(event.check);
    report.notes = tokio::time::timeout(event.budget.left(), remediator.notes(notice))
        .await
        .unwrap_or_default();
    report
}

/// The report's log lines, then metrics and the notification, bounded by the time left: the
/// runtime kills an invocation at its deadline, and the report matters more than a late
/// summary.
async fn tell<L: Ledger, S: Scheduler, N: Notifier>(
    controls: &Controls<L, S, N>,
    report: &Report,
    deadline: Instant,
    span: &tracing::Span,
) {
    span.in_scope(|| report.log());
    let left = deadline
        .saturating_duration_since(Instant::now())
        .saturating_sub(RETURN_MARGIN);
    let finishing = controls.finish(report, Utc::now()).instrument(span.clone());
    if tokio::time::timeout(left, finishing).await.is_err() {
        span.in_scope(|| {
            tracing::error!("the summary was cut at the invocation deadline; the report stands")
        });
    }
}

/// What the caller should see of a report. Retryable failures a scheduled check carries are not
/// the runtime's to retry: the check looks again, as long as AWS's deadline allows.
pub fn result_of(report: Report) -> Result<Report, RunError> {
    match report.disposition {
        Disposition::Rejected => Err(RunError::Rejected(Box::new(report))),
        _ if report.has_retryable_failure() && report.follow_up.is_none() => {
            Err(RunError::Retryable {
                why: report.message.clone(),
                report: Box::new(report),
            })
        }
        _ => Ok(report),
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
