//! A notice run the way Lambda and EventBridge Scheduler run it: one invocation of the core's
//! driver ([`run::handle`]) with a deadline, then each continuation or check that invocation
//! scheduled, each a new invocation with its own deadline and request id, all sharing one
//! ledger. The schedules are kept in memory ([`MemoryScheduler`]) and not waited for: the next
//! invocation's wall clock is the time its schedule names, so a run that spans hours of checks
//! takes only the remediation's own time.

use std::time::Duration;

use chrono::{DateTime, Utc};
use remediator_core::defer::MemoryScheduler;
use remediator_core::follow::{unwrap_check, CheckPolicy};
use remediator_core::ledger::Ledger;
use remediator_core::pipeline::Remediate;
use remediator_core::ports::NoNotifier;
use remediator_core::run::{self, Controls, Delivery, Parts};
use remediator_core::Report;
use serde_json::Value;

/// What the schedules invoke (any ARN: they are not sent anywhere).
const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:ecs-retirement";

/// `event` through the driver the functions run, in one invocation of Lambda's longest budget
/// (15 minutes), with `ledger` alone (no windows, checks or notifications).
pub async fn once<R: Remediate, L: Ledger>(
    remediator: &R,
    ledger: Option<&L>,
    event: Value,
) -> Report {
    let controls = Controls::ledger_only(
        ledger.map(|l| (l, chrono::Duration::days(90))),
        "one-invocation",
        false,
    );
    let delivery = Delivery {
        payload: event,
        deadline: tokio::time::Instant::now() + Duration::from_secs(900),
        invoked_arn: FUNCTION_ARN.into(),
        request_id: "one-invocation".into(),
    };
    run::report_of(run::handle(remediator, &controls, delivery, Utc::now()).await)
}

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
    /// Why the invocation failed, when it did (what Lambda would see as its error).
    pub failed: Option<String>,
}

/// Runs `event` through `remediator` with `ledger`, each invocation given `budget`, following
/// every continuation and check it schedules until none is scheduled or `max_invocations` ran.
pub async fn until_final<R: Remediate, L: Ledger>(
    remediator: &R,
    ledger: &L,
    event: Value,
    budget: Duration,
    policy: &CheckPolicy,
    max_invocations: usize,
) -> Vec<Ran> {
    let schedules = MemoryScheduler::default();
    let controls = Controls::with(Parts {
        scheduler: Some(schedules.clone()),
        deferral: None,
        checks: Some(*policy),
        schedule_target_arn: None,
        notifier: None::<NoNotifier>,
        ledger: Some((ledger, chrono::Duration::days(90))),
        metrics_namespace: None,
        function: "until-final".into(),
        dry_run: remediator.dry_run(),
    });
    let mut runs = Vec::new();
    let (mut payload, mut at) = (event, crate::clock::now());
    for n in 0..max_invocations {
        let check = unwrap_check(payload.clone()).1;
        let scheduled_before = schedules.made().len();
        let started = tokio::time::Instant::now();
        let delivery = Delivery {
            payload,
            deadline: started + budget,
            invoked_arn: FUNCTION_ARN.into(),
            request_id: format!("invocation-{n}"),
        };
        let result = run::handle(remediator, &controls, delivery, at).await;
        let failed = result.as_ref().err().map(ToString::to_string);
        runs.push(Ran {
            check,
            at,
            report: run::report_of(result),
            took: started.elapsed(),
            failed,
        });
        // The next invocation is the schedule this one made, if it made one.
        let Some(next) = schedules.made().into_iter().nth(scheduled_before) else {
            break;
        };
        payload = serde_json::from_str(&next.input)
            .unwrap_or_else(|e| panic!("schedule {} has no JSON input: {e}", next.name));
        at = next.at;
    }
    runs
}
