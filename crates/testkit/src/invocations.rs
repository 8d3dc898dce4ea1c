//! A notice run the way Lambda and EventBridge Scheduler run it: one invocation with a deadline,
//! then, while [`follow::next`] asks for one, the continuation or check it schedules, each a new
//! invocation with its own deadline and request id, all sharing one ledger. Scheduler's wait
//! before a check is not slept: the next invocation's wall clock is the time it was scheduled
//! for, so a run that spans hours of checks takes only the remediation's own time.

use std::time::Duration;

use chrono::{DateTime, Utc};
use remediator_core::follow::{self, CheckPolicy, Next};
use remediator_core::ledger::Ledger;
use remediator_core::pipeline::{
    remediate_remembering, route, Invocation, Notice, Remediate, Route,
};
use remediator_core::{parse_value, Report};
use serde_json::Value;

/// One invocation of the run.
#[derive(Debug, Clone)]
pub struct Ran {
    /// `None` for the delivery, then the check's number.
    pub check: Option<u32>,
    /// The wall clock the invocation started at.
    pub at: DateTime<Utc>,
    pub report: Report,
    /// How long the invocation really took.
    pub took: Duration,
}

/// Runs `event` through `remediator` with `ledger`, each invocation given `budget`, following
/// every continuation and check until the notice is final or `max_invocations` ran.
pub async fn until_final<R: Remediate, L: Ledger>(
    remediator: &R,
    ledger: &L,
    event: Value,
    budget: Duration,
    policy: &CheckPolicy,
    max_invocations: usize,
) -> Vec<Ran> {
    let notice = match route(remediator, parse_value(event)) {
        Route::Remediate(notice) => notice,
        Route::Answered(report) => {
            return vec![Ran {
                check: None,
                at: crate::clock::now(),
                report: *report,
                took: Duration::ZERO,
            }]
        }
    };
    let mut runs = Vec::new();
    let mut check = None;
    let mut at = crate::clock::now();
    for n in 0..max_invocations {
        let started = tokio::time::Instant::now();
        let invocation = Invocation {
            owner: format!("invocation-{n}"),
            now: at,
            lease_margin: chrono::Duration::minutes(1),
            retention: chrono::Duration::days(90),
            concurrency: 16,
            finish_by: None,
        };
        let outcomes = remediate_remembering(
            remediator,
            ledger,
            &notice,
            Some(started + budget),
            &invocation,
        )
        .await;
        let took = started.elapsed();
        let ended = at + chrono::Duration::from_std(took).unwrap_or_default();
        let report = notice.report(outcomes, false).with_check(check);
        let next = follow::next(
            &report.outcomes,
            check,
            ended,
            notice.deadline(),
            policy,
            true,
        );
        runs.push(Ran {
            check,
            at,
            report,
            took,
        });
        match next {
            Next::Final => break,
            Next::Check {
                check: c, at: when, ..
            } => {
                check = Some(c);
                at = when;
            }
        }
    }
    runs
}
