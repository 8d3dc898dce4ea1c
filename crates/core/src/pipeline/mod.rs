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

use crate::follow::{Followed, Verdict};
use crate::ledger::notice_key;
use crate::names::EventCode;
use crate::notice::{
    EventStatus, Ignored, ParseError, Parsed, PodNotice, RetirementNotice, EKS_DETAIL_TYPE,
    EKS_SOURCE, HEALTH_DETAIL_TYPE, HEALTH_SOURCE,
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
    /// Until when follow-up checks look at what was done: AWS's deadline, unless the notice
    /// says the resources come back after it (a reboot maintenance ends at its `endTime`).
    fn follow_until(&self) -> Option<DateTime<Utc>> {
        self.deadline()
    }
    /// Not to be acted on before this instant, however the maintenance windows fall, and why.
    /// EC2 instances: a drained container instance is capacity lost until AWS acts, so it is
    /// drained only `margin` (`DEADLINE_MARGIN`) before AWS's date.
    fn hold_until(&self, _margin: chrono::Duration) -> Option<(DateTime<Utc>, String)> {
        None
    }
    /// The same notice with AWS's deadline moved to `at` (the account's settings say AWS
    /// retires later than the notice: ECS event windows).
    fn with_deadline(&self, at: DateTime<Utc>) -> Self;
    /// The resources the notice names, one outcome each.
    fn targets(&self) -> Vec<Target>;
    /// The report of this notice with these outcomes.
    fn report(&self, outcomes: Vec<Outcome>, dry_run: bool) -> Report;
    /// The notice's key in the ledger: the same for every update and copy of the notice.
    fn ledger_key(&self) -> String;
    /// The notice's lifecycle status, when it has one (`upcoming`, `open`…).
    fn status(&self) -> Option<String>;
    /// The same notice, naming only `targets` (the ones this invocation claimed).
    fn narrowed(&self, targets: Vec<Target>) -> Self;
    /// Whether AWS Health's `service` / `eventTypeCode` is this notice's kind (asked when
    /// notices are confirmed with Health); notices Health does not send never are.
    fn accepts_event_type(&self, _service: &str, _code: &str) -> bool {
        false
    }
    /// When acting at `now` is racing AWS (after its start, before its window ends), saying so.
    fn racing(&self, now: DateTime<Utc>) -> Option<String> {
        let (start, end) = (self.deadline()?, self.follow_until()?);
        (start <= now && now < end).then(|| {
            format!(
                "racing AWS: it began retiring at {}, its window runs until {}; acted now and followed until then",
                start.to_rfc3339(),
                end.to_rfc3339()
            )
        })
    }
    /// The account that received the event (the envelope's `account`).
    fn receiving_account(&self) -> Option<&str>;
    /// The account the resources live in: the organization view's affected account, else the
    /// receiving one (a forwarded event keeps the member's `account`).
    fn affected_account(&self) -> Option<&str>;
    /// The Region the resources live in.
    fn resource_region(&self) -> Option<&str>;
    /// The same notice as the affected account sees it: received where its resources are.
    fn in_member(&self) -> Self;
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

    fn hold_until(&self, margin: chrono::Duration) -> Option<(DateTime<Utc>, String)> {
        self.ec2?;
        // A closed notice (a reboot maintenance over) is acted on when it comes.
        if self.status == Some(crate::notice::EventStatus::Closed) {
            return None;
        }
        // An hour before the deadline margin: a failure there is still retried (follow-up
        // checks stop retrying at the margin).
        let lead = margin + chrono::Duration::hours(1);
        let at = self.start_time? - lead;
        Some((
            at,
            format!(
                "an EC2 instance is drained {} before AWS's date ({}), not earlier: a drained instance is capacity lost until then",
                crate::window::human(lead),
                self.start_time?.to_rfc3339()
            ),
        ))
    }

    fn with_deadline(&self, at: DateTime<Utc>) -> Self {
        RetirementNotice {
            start_time: Some(at),
            ..self.clone()
        }
    }

    /// A reboot maintenance: until two hours after its window ends (the instance's agent
    /// reconnects, and a drained container instance is set `ACTIVE` again).
    ///
    /// A Fargate retirement: until AWS's window ends (`endTime`, else `startTime` plus two
    /// days): AWS retires gradually from `startTime`, so a resource acted on after it is followed,
    /// not failed at the next look.
    fn follow_until(&self) -> Option<DateTime<Utc>> {
        match self.ec2 {
            Some(crate::notice::Ec2Event::Reboot) => self
                .end_time
                .or(self.start_time)
                .map(|t| t + chrono::Duration::hours(2)),
            Some(_) => self.start_time,
            None => self.retirement_end(),
        }
    }

    fn targets(&self) -> Vec<Target> {
        self.targets.clone()
    }

    /// A Fargate retirement is ECS's patching retirement; an EC2 notice one of the EC2 codes
    /// of its kind (a retirement, a stop or a reboot).
    fn accepts_event_type(&self, service: &str, code: &str) -> bool {
        match self.ec2 {
            None => service == "ECS" && code == crate::notice::ECS_RETIREMENT_CODE,
            Some(kind) => {
                service == "EC2"
                    && crate::notice::EC2_EVENT_CODES
                        .iter()
                        .any(|(c, k)| *c == code && *k == kind)
            }
        }
    }

    fn report(&self, outcomes: Vec<Outcome>, dry_run: bool) -> Report {
        Report::handled(self, outcomes, dry_run)
    }

    /// The event ARN and the affected account: Health shares one ARN between the accounts a
    /// change affects, and in central mode two members' notices of one ARN meet in one ledger.
    fn ledger_key(&self) -> String {
        notice_key(&self.event_arn, Notice::affected_account(self))
    }

    fn status(&self) -> Option<String> {
        self.status.as_ref().map(|s| match s {
            EventStatus::Upcoming => "upcoming".to_owned(),
            EventStatus::Open => "open".to_owned(),
            EventStatus::Closed => "closed".to_owned(),
            EventStatus::Other(other) => other.clone(),
        })
    }

    fn narrowed(&self, targets: Vec<Target>) -> Self {
        RetirementNotice {
            targets,
            ..self.clone()
        }
    }

    fn receiving_account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    fn affected_account(&self) -> Option<&str> {
        self.affected_account.as_deref().or(self.account.as_deref())
    }

    fn resource_region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    fn in_member(&self) -> Self {
        RetirementNotice {
            account: self.affected_account().map(str::to_owned),
            ..self.clone()
        }
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

    /// EKS events have no ARN: the pod and the termination EKS scheduled name the notice, so a
    /// redelivery or a repeat of the event is the same notice, and a later termination of a pod
    /// of the same name is a new one.
    ///
    /// The Region opens the key and the account closes it (`eks:<region>:…#<account>`, as an
    /// ECS notice's ARN and account): the same cluster, pod and time can exist in two Regions
    /// or accounts of a central deployment.
    fn ledger_key(&self) -> String {
        let key = format!(
            "eks:{}{}/{}/{}@{}",
            self.region
                .as_deref()
                .map(|r| format!("{r}:"))
                .unwrap_or_default(),
            self.cluster,
            self.namespace,
            self.pod,
            self.scheduled_termination.to_rfc3339()
        );
        match &self.account {
            Some(account) => format!("{key}#{account}"),
            None => key,
        }
    }

    fn status(&self) -> Option<String> {
        None
    }

    /// One target only: the pod. A pod notice is remediated whole or not at all.
    fn narrowed(&self, _targets: Vec<Target>) -> Self {
        self.clone()
    }

    fn receiving_account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    /// EKS events are not aggregated by AWS Health's organizational view: the event's account
    /// is the cluster's, forwarded or not.
    fn affected_account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    fn resource_region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    fn in_member(&self) -> Self {
        self.clone()
    }

    /// EKS names the termination time itself: nothing moves it.
    fn with_deadline(&self, _at: DateTime<Utc>) -> Self {
        self.clone()
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

    /// How long before a deadline this remediator starts no call (its settings'
    /// `deadline_margin`): the ledger's memory shares out an invocation's time net of it.
    fn deadline_margin(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

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

    /// One verdict per followed resource, in order: does the platform show it replaced? Reads
    /// only, except the follow-through a drained container instance needs (its standalone tasks
    /// relaunched, the instance replaced or reactivated), each idempotent by observation. `now`
    /// is the wall clock (for how long a deployment has shown no progress).
    fn verify(
        &self,
        notice: &Self::Notice,
        followed: &[Followed],
        now: DateTime<Utc>,
        deadline: Option<Instant>,
    ) -> impl Future<Output = Vec<Verdict>>;

    /// What the affected account's settings say about this notice (the report's `notes`):
    /// read only, best effort.
    fn notes(&self, _notice: &Self::Notice) -> impl Future<Output = Vec<String>> {
        async { Vec::new() }
    }

    /// When AWS retires the notice's resources at the earliest, when the account's settings make
    /// it later than the notice's deadline (ECS `fargateEventWindows`), and why: the maintenance
    /// windows may then wait that much longer. Read only, best effort.
    fn earliest_retirement(
        &self,
        _notice: &Self::Notice,
    ) -> impl Future<Output = Option<(DateTime<Utc>, String)>> {
        async { None }
    }
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

mod memory;

pub(crate) use memory::collect;
pub use memory::{fill, remediate_remembering, remembered, Invocation, Recalled};

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
    use crate::ledger::{ClaimRequest, Claimed, Entry, Ledger, LedgerError};
    use crate::names::{Code, EventCode};
    use crate::notice::parse_slice;
    use crate::outcome::Disposition;
    use crate::outcome::Status;

    /// A function that claims Health retirements and says `acted` for each target, counting calls
    /// and acts per resource.
    #[derive(Default)]
    struct Counting {
        calls: AtomicUsize,
        checks: AtomicUsize,
        acts: std::sync::Mutex<std::collections::HashMap<String, usize>>,
        /// Checks take all the time they are given (a throttled account, hundreds of them).
        slow_checks: bool,
        /// No call starts this long before a deadline: checks stop then, and a remediation
        /// left less fails as not reached.
        margin: std::time::Duration,
    }

    impl Counting {
        fn acts(&self, resource: &str) -> usize {
            self.acts
                .lock()
                .map(|a| a.get(resource).copied().unwrap_or(0))
                .unwrap_or(0)
        }
    }

    impl Remediate for Counting {
        type Notice = RetirementNotice;

        fn dry_run(&self) -> bool {
            false
        }

        fn deadline_margin(&self) -> std::time::Duration {
            self.margin
        }

        fn claim(&self, parsed: Parsed) -> Claim<RetirementNotice> {
            claim_retirement(parsed)
        }

        async fn remediate(
            &self,
            notice: &RetirementNotice,
            deadline: Option<Instant>,
        ) -> Vec<Outcome> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if deadline.is_some_and(|d| d.saturating_duration_since(Instant::now()) <= self.margin)
            {
                return notice
                    .targets
                    .iter()
                    .map(|t| {
                        Outcome::failed(t.clone(), Code::TimeBudgetExhausted, "not reached", true)
                    })
                    .collect();
            }
            // Let a concurrent delivery run between the claim and the act.
            tokio::task::yield_now().await;
            if let Ok(mut acts) = self.acts.lock() {
                for t in &notice.targets {
                    *acts.entry(t.to_string()).or_default() += 1;
                }
            }
            notice
                .targets
                .iter()
                .map(|t| {
                    Outcome::new(t.clone(), Status::Acted, Code::ForcedNewDeployment, "done")
                        .with_deployments(Some("ecs-svc/old".into()), Some("ecs-svc/new".into()))
                })
                .collect()
        }

        /// Every check sees the deployment still rolling out.
        async fn verify(
            &self,
            _: &RetirementNotice,
            followed: &[Followed],
            _: DateTime<Utc>,
            deadline: Option<Instant>,
        ) -> Vec<Verdict> {
            self.checks.fetch_add(followed.len(), Ordering::SeqCst);
            if let (true, Some(deadline)) = (self.slow_checks, deadline) {
                tokio::time::sleep_until(deadline - self.margin).await;
            }
            followed
                .iter()
                .map(|_| Verdict::Pending("rolling out".into()))
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

    fn notice_naming(services: &[&str], published: &str, status: &str) -> RetirementNotice {
        let Ok(Parsed::Retirement(mut notice)) = fixture("health-ecs-services-pipe.json") else {
            panic!("fixture is a retirement notice");
        };
        notice.targets = services
            .iter()
            .map(|s| crate::target::parse_entity(s))
            .collect();
        notice.published_at = crate::testing::at(published);
        notice.status = Some(match status {
            "open" => EventStatus::Open,
            _ => EventStatus::Upcoming,
        });
        notice
    }

    fn invocation(owner: &str, now: &str) -> Invocation {
        Invocation {
            owner: owner.into(),
            now: crate::testing::at(now),
            lease_margin: chrono::Duration::minutes(1),
            retention: chrono::Duration::days(90),
            concurrency: 4,
            finish_by: None,
        }
    }

    fn said(outcomes: &[Outcome]) -> Vec<(String, Status, Code)> {
        outcomes
            .iter()
            .map(|o| (o.target.to_string(), o.status, o.code))
            .collect()
    }

    #[tokio::test]
    async fn an_update_of_the_notice_acts_only_on_the_resource_it_adds() {
        let ecs = Counting::default();
        let ledger = crate::ledger::MemoryLedger::default();
        let first = notice_naming(
            &["prod|web", "prod|api"],
            "2026-11-20T09:00:00Z",
            "upcoming",
        );
        remediate_remembering(
            &ecs,
            &ledger,
            &first,
            None,
            &invocation("r1", "2026-11-20T09:01:00Z"),
        )
        .await;

        // Health republishes the notice at startTime: status open, a later time, one more service.
        let update = notice_naming(
            &["prod|web", "prod|api", "prod|cart"],
            "2026-11-27T09:00:00Z",
            "open",
        );
        let outcomes = remediate_remembering(
            &ecs,
            &ledger,
            &update,
            None,
            &invocation("r2", "2026-11-27T09:00:05Z"),
        )
        .await;

        // Acted on before, not acted on again: looked at. The update comes at AWS's start and
        // the fake still shows them rolling out: inside AWS's window (until endTime, here
        // startTime + 2 days) that is progress, followed, not a missed deadline (issue 23).
        assert_eq!(ecs.checks.load(Ordering::SeqCst), 2);
        assert_eq!(
            said(&outcomes),
            vec![
                ("service prod/web".into(), Status::Pending, Code::Verifying),
                ("service prod/api".into(), Status::Pending, Code::Verifying),
                (
                    "service prod/cart".into(),
                    Status::Acted,
                    Code::ForcedNewDeployment
                ),
            ]
        );
        assert_eq!(
            (ecs.acts("service prod/web"), ecs.acts("service prod/cart")),
            (1, 1)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn checks_that_take_all_the_time_they_get_leave_the_open_resources_half_the_budget() {
        for margin in [0, 4] {
            checks_that_take_all_their_time_leave_time_to_act(std::time::Duration::from_secs(
                margin,
            ))
            .await;
        }
    }

    /// Within a 10-s deadline, no call starting in the last `margin`.
    async fn checks_that_take_all_their_time_leave_time_to_act(margin: std::time::Duration) {
        let ecs = Counting {
            slow_checks: true,
            margin,
            ..Counting::default()
        };
        let ledger = crate::ledger::MemoryLedger::default();
        let first = notice_naming(&["prod|web"], "2026-11-20T09:00:00Z", "upcoming");
        let update = notice_naming(
            &["prod|web", "prod|api"],
            "2026-11-20T09:00:00Z",
            "upcoming",
        );
        remediate_remembering(
            &ecs,
            &ledger,
            &first,
            None,
            &invocation("r1", "2026-11-20T09:01:00Z"),
        )
        .await;

        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        let second = remediate_remembering(
            &ecs,
            &ledger,
            &update,
            Some(deadline),
            &invocation("r2", "2026-11-20T09:05:00Z"),
        )
        .await;

        assert_eq!(
            said(&second)[1].2,
            Code::ForcedNewDeployment,
            "margin {margin:?}: {second:#?}"
        );
        assert_eq!(ecs.checks.load(Ordering::SeqCst), 1);
        assert_eq!(ecs.acts("service prod/api"), 1);
    }

    #[tokio::test]
    async fn two_deliveries_at_once_act_on_each_resource_exactly_once() {
        let ecs = Counting::default();
        let ledger = crate::ledger::MemoryLedger::with_latency(std::time::Duration::from_millis(2));
        let notice = notice_naming(
            &["prod|a", "prod|b", "prod|c", "prod|d"],
            "2026-11-20T09:00:00Z",
            "upcoming",
        );

        let (first, second) = (
            invocation("r1", "2026-11-20T09:01:00Z"),
            invocation("r2", "2026-11-20T09:01:00Z"),
        );
        let (one, two) = tokio::join!(
            remediate_remembering(&ecs, &ledger, &notice, None, &first),
            remediate_remembering(&ecs, &ledger, &notice, None, &second),
        );

        for service in [
            "service prod/a",
            "service prod/b",
            "service prod/c",
            "service prod/d",
        ] {
            assert_eq!(ecs.acts(service), 1, "{service}");
        }
        let elsewhere = one
            .iter()
            .chain(&two)
            .filter(|o| o.code == Code::HandledElsewhere || o.code == Code::AlreadyHandled)
            .count();
        assert_eq!(elsewhere, 4, "{one:#?} {two:#?}");
    }

    #[tokio::test]
    async fn a_claim_left_by_a_crashed_run_is_taken_over_once_its_lease_ends() {
        let ecs = Counting::default();
        let ledger = crate::ledger::MemoryLedger::default();
        let notice = notice_naming(&["prod|web"], "2026-11-20T09:00:00Z", "upcoming");
        let crashed = ClaimRequest {
            notice: notice.ledger_key(),
            resource: "service:prod/web".into(),
            target: "service prod/web".into(),
            owner: "crashed".into(),
            now: crate::testing::at("2026-11-20T09:01:00Z"),
            lease_until: crate::testing::at("2026-11-20T09:17:00Z"),
            notice_status: None,
            deadline: None,
            expires_at: crate::testing::at("2027-02-20T09:00:00Z"),
        };
        assert_eq!(ledger.claim(&crashed).await.ok(), Some(Claimed::Won));

        let during = remediate_remembering(
            &ecs,
            &ledger,
            &notice,
            None,
            &invocation("r2", "2026-11-20T09:10:00Z"),
        )
        .await;
        let after = remediate_remembering(
            &ecs,
            &ledger,
            &notice,
            None,
            &invocation("r3", "2026-11-20T09:17:01Z"),
        )
        .await;

        assert_eq!(said(&during)[0].2, Code::HandledElsewhere);
        assert!(during[0].reason.contains("crashed"), "{}", during[0].reason);
        assert_eq!(said(&after)[0].2, Code::ForcedNewDeployment);
        assert_eq!(ecs.acts("service prod/web"), 1);
    }

    /// A ledger that cannot be reached.
    struct Unreachable;

    impl Ledger for Unreachable {
        async fn read(
            &self,
            _: &str,
            _: &[String],
        ) -> Result<std::collections::HashMap<String, Entry>, LedgerError> {
            Err(LedgerError {
                table: "remediator-ledger".into(),
                operation: "BatchGetItem",
                message: "ResourceNotFoundException".into(),
                fix: "create it",
            })
        }
        async fn claim(&self, _: &ClaimRequest) -> Result<Claimed, LedgerError> {
            Ok(Claimed::Won)
        }
        async fn record(&self, _: &[Entry]) -> Result<(), LedgerError> {
            Ok(())
        }
        async fn follow(&self, _: &[Entry]) -> Result<(), LedgerError> {
            Ok(())
        }
        async fn notice(&self, _: &str) -> Result<Vec<Entry>, LedgerError> {
            Ok(Vec::new())
        }
        async fn all(&self) -> Result<Vec<Entry>, LedgerError> {
            Ok(Vec::new())
        }
    }

    #[tokio::test]
    async fn without_the_ledger_nothing_is_acted_on_and_the_failure_is_retryable_and_names_the_table(
    ) {
        let ecs = Counting::default();
        let notice = notice_naming(
            &["prod|web", "prod|api"],
            "2026-11-20T09:00:00Z",
            "upcoming",
        );

        let outcomes = remediate_remembering(
            &ecs,
            &Unreachable,
            &notice,
            None,
            &invocation("r1", "2026-11-20T09:01:00Z"),
        )
        .await;

        assert_eq!(ecs.calls.load(Ordering::SeqCst), 0);
        assert!(outcomes.iter().all(|o| o.status == Status::Failed
            && o.retryable
            && o.code == Code::LedgerUnavailable));
        assert!(
            outcomes[0].reason.contains("remediator-ledger"),
            "{}",
            outcomes[0].reason
        );
    }
}
