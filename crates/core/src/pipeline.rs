//! The one path every event takes, whatever the function:
//!
//! ```text
//! raw event ──parse──▶ Parsed ──claim──▶ notice ──remediate──▶ outcomes ──▶ Report
//!                         │ ignored / rejected      │ the other function's event
//!                         └────────▶ Report ◀───────┘ (an explicit, logged no-op)
//! ```
//!
//! Each function implements [`Remediate`] (the ECS engine, the pod restarter); the Lambda shell
//! (`remediator-lambda`) runs this path with the maintenance-window gate, metrics and
//! notifications around it, and the CLI runs it bare with [`run`].

use std::future::Future;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::names::EventCode;
use crate::notice::{
    Ignored, ParseError, Parsed, PodNotice, RetirementNotice, EKS_DETAIL_TYPE, EKS_SOURCE,
    HEALTH_DETAIL_TYPE, HEALTH_SOURCE,
};
use crate::outcome::{Outcome, Report};
use crate::target::{PodRef, Target};

/// What the pipeline needs to know of a notice, whichever kind it is.
pub trait Notice: Send + Sync {
    /// The EventBridge event id.
    fn event_id(&self) -> Option<&str>;
    /// The AWS Health event ARN, when the notice has one.
    fn event_arn(&self) -> Option<&str>;
    /// When AWS retires the resources (ECS `startTime`, EKS `scheduledTerminationTime`).
    fn deadline(&self) -> Option<DateTime<Utc>>;
    /// The resources the notice names, one outcome each.
    fn targets(&self) -> Vec<Target>;
    /// The report of this notice with these outcomes.
    fn report(&self, outcomes: Vec<Outcome>, dry_run: bool) -> Report;
}

impl Notice for RetirementNotice {
    fn event_id(&self) -> Option<&str> {
        self.event_id.as_deref()
    }

    fn event_arn(&self) -> Option<&str> {
        Some(&self.event_arn)
    }

    fn deadline(&self) -> Option<DateTime<Utc>> {
        self.start_time
    }

    fn targets(&self) -> Vec<Target> {
        self.targets.clone()
    }

    fn report(&self, outcomes: Vec<Outcome>, dry_run: bool) -> Report {
        Report::handled(self, outcomes, dry_run)
    }
}

impl Notice for PodNotice {
    fn event_id(&self) -> Option<&str> {
        self.event_id.as_deref()
    }

    fn event_arn(&self) -> Option<&str> {
        None
    }

    fn deadline(&self) -> Option<DateTime<Utc>> {
        Some(self.scheduled_termination)
    }

    fn targets(&self) -> Vec<Target> {
        vec![pod_target(self)]
    }

    fn report(&self, outcomes: Vec<Outcome>, dry_run: bool) -> Report {
        Report::for_pod(self, outcomes, dry_run)
    }
}

/// The target a pod notice names.
pub fn pod_target(notice: &PodNotice) -> Target {
    Target::Pod(PodRef {
        cluster: notice.cluster.clone(),
        namespace: notice.namespace.clone(),
        name: notice.pod.clone(),
    })
}

/// One function's remediation: which notices it handles and how.
pub trait Remediate: Send + Sync {
    /// The kind of notice this function acts on.
    type Notice: Notice;

    /// Compute and report the plan without any mutating call.
    fn dry_run(&self) -> bool;

    /// Takes the notice this function handles out of `parsed`; anything else comes back as the
    /// explicit no-op to report (the other function's events are `wrong_function`).
    fn claim(&self, parsed: Parsed) -> Claim<Self::Notice>;

    /// One outcome per target of the notice, in the notice's order, before `deadline`.
    ///
    /// The future need not be `Send`: the Lambda runtime polls one invocation at a time on its
    /// own task, and concurrent deliveries are separate invocations.
    fn remediate(
        &self,
        notice: &Self::Notice,
        deadline: Option<Instant>,
    ) -> impl Future<Output = Vec<Outcome>>;
}

/// Whether a function handles a parsed event.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim<N> {
    /// Its notice: remediate it.
    Mine(N),
    /// Not for this function (another function's notice, or an event nobody acts on).
    NotMine(Ignored),
}

/// Where an event goes next.
#[derive(Debug, Clone, PartialEq)]
pub enum Route<N> {
    /// A notice the function remediates.
    Remediate(N),
    /// The event's final report: rejected input, or an explicit no-op.
    Answered(Box<Report>),
}

/// Parse result → the notice `remediator` acts on, or the final report of an event it does not.
pub fn route<R: Remediate>(remediator: &R, parsed: Result<Parsed, ParseError>) -> Route<R::Notice> {
    let dry_run = remediator.dry_run();
    match parsed {
        Err(error) => Route::Answered(Box::new(Report::rejected(&error, dry_run))),
        Ok(parsed) => match remediator.claim(parsed) {
            Claim::Mine(notice) => Route::Remediate(notice),
            Claim::NotMine(ignored) => {
                Route::Answered(Box::new(Report::ignored(&ignored, dry_run)))
            }
        },
    }
}

/// The path without operator controls (the CLI): route, remediate, report. Never panics,
/// never returns without a report.
pub async fn run<R: Remediate>(
    remediator: &R,
    parsed: Result<Parsed, ParseError>,
    deadline: Option<Instant>,
) -> Report {
    match route(remediator, parsed) {
        Route::Remediate(notice) => {
            let outcomes = remediator.remediate(&notice, deadline).await;
            notice.report(outcomes, remediator.dry_run())
        }
        Route::Answered(report) => *report,
    }
}

/// The claim of the `ecs-retirement` function: Health retirement notices.
pub fn claim_retirement(parsed: Parsed) -> Claim<RetirementNotice> {
    match parsed {
        Parsed::Retirement(notice) => Claim::Mine(notice),
        Parsed::Ignored(ignored) => Claim::NotMine(ignored),
        Parsed::PodTermination(pod) => Claim::NotMine(Ignored {
            event_id: pod.event_id.clone(),
            event_arn: None,
            source: EKS_SOURCE.into(),
            detail_type: EKS_DETAIL_TYPE.into(),
            code: EventCode::WrongFunction,
            reason: format!(
                "EKS Fargate pod {}/{} in cluster {}: the eks-fargate-pod function handles it",
                pod.namespace, pod.pod, pod.cluster
            ),
        }),
    }
}

/// The claim of the `eks-fargate-pod` function: EKS pod termination notices.
pub fn claim_pod(parsed: Parsed) -> Claim<PodNotice> {
    match parsed {
        Parsed::PodTermination(notice) => Claim::Mine(notice),
        Parsed::Ignored(ignored) => Claim::NotMine(ignored),
        Parsed::Retirement(notice) => Claim::NotMine(Ignored {
            event_id: notice.event_id.clone(),
            event_arn: Some(notice.event_arn.clone()),
            source: HEALTH_SOURCE.into(),
            detail_type: HEALTH_DETAIL_TYPE.into(),
            code: EventCode::WrongFunction,
            reason: "an ECS retirement notice: the ecs-retirement function handles it".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::names::{Code, EventCode};
    use crate::notice::parse_slice;
    use crate::outcome::{Disposition, Status};

    /// A function that claims Health retirements and says `acted` for each target, counting calls.
    #[derive(Default)]
    struct Counting {
        calls: AtomicUsize,
    }

    impl Remediate for Counting {
        type Notice = RetirementNotice;

        fn dry_run(&self) -> bool {
            false
        }

        fn claim(&self, parsed: Parsed) -> Claim<RetirementNotice> {
            claim_retirement(parsed)
        }

        async fn remediate(&self, notice: &RetirementNotice, _: Option<Instant>) -> Vec<Outcome> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            notice
                .targets
                .iter()
                .map(|t| Outcome::new(t.clone(), Status::Acted, Code::ForcedNewDeployment, "done"))
                .collect()
        }
    }

    fn fixture(name: &str) -> Result<Parsed, ParseError> {
        let path = format!(
            "{}/../../events-fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        parse_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
    }

    #[tokio::test]
    async fn the_other_functions_notice_is_an_explicit_no_op_that_never_reaches_the_remediation() {
        let ecs = Counting::default();

        let report = run(
            &ecs,
            fixture("eks-fargate-pod-scheduled-termination.json"),
            None,
        )
        .await;

        assert_eq!(report.disposition, Disposition::Ignored);
        assert_eq!(report.code, Some(EventCode::WrongFunction));
        assert!(
            report
                .message
                .contains("eks-fargate-pod function handles it"),
            "{}",
            report.message
        );
        assert_eq!(ecs.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_claimed_notice_is_remediated_once_with_one_outcome_per_target() {
        let ecs = Counting::default();

        let report = run(&ecs, fixture("health-ecs-services-pipe.json"), None).await;

        assert_eq!(report.disposition, Disposition::Handled);
        assert_eq!(ecs.calls.load(Ordering::SeqCst), 1);
        assert!(!report.outcomes.is_empty());
        assert_eq!(report.summary.acted, report.outcomes.len());
    }

    #[tokio::test]
    async fn unusable_input_is_rejected_without_reaching_the_remediation() {
        let ecs = Counting::default();

        let report = run(&ecs, fixture("malformed-truncated.json"), None).await;

        assert_eq!(report.disposition, Disposition::Rejected);
        assert_eq!(report.code, Some(EventCode::MalformedInput));
        assert_eq!(ecs.calls.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn the_pod_function_leaves_a_retirement_notice_to_the_ecs_function() {
        let Ok(parsed) = fixture("health-ecs-services-pipe.json") else {
            panic!("fixture parses");
        };
        let Claim::NotMine(ignored) = claim_pod(parsed) else {
            panic!("a retirement notice is not the pod function's");
        };
        assert_eq!(ignored.code, EventCode::WrongFunction);
        assert!(ignored.event_arn.is_some());
    }
}
