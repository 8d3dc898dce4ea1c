//! The driver's ordering, with in-memory ports: no AWS, no moto. Each test is one story an
//! operator would tell: deferred to a window, a claim lost to a concurrent delivery, work
//! continued a minute later, a check that verifies, a summary sent once.

use std::sync::{Arc, Mutex};

use chrono::Duration;
use serde_json::{json, Value};

use super::*;
use crate::defer::{Deferral, MemoryScheduler, DEFAULT_MARGIN};
use crate::follow::{CheckPolicy, Followed, Verdict};
use crate::ledger::{ClaimRequest, Claimed, MemoryLedger, State};
use crate::names::Code;
use crate::notice::{Parsed, RetirementNotice};
use crate::outcome::Status;
use crate::pipeline::{claim_retirement, Claim};
use crate::ports::ApiError;
use crate::testing::at;

const FIXTURE: &str = include_str!("../../../../events-fixtures/health-ecs-services-pipe.json");
const NOTICE_KEY: &str = "arn:aws:health:us-east-1::event/ECS/AWS_ECS_TASK_PATCHING_RETIREMENT/AWS_ECS_TASK_PATCHING_RETIREMENT_6f1c2a3e#123456789012";

/// A minute after the fixture's notice was published (AWS retires a week later).
fn now() -> DateTime<Utc> {
    at("2026-11-20T09:01:00Z")
}

fn event() -> Value {
    serde_json::from_str(FIXTURE).unwrap_or_else(|e| panic!("fixture: {e}"))
}

/// Forces each service once; `slow` ones are not reached; checks see what `rolled_out` says.
#[derive(Default)]
struct Fake {
    acts: Mutex<Vec<String>>,
    slow: Vec<String>,
    rolled_out: Mutex<bool>,
    /// Observes as the engine does: a service it forced already answers `already_replaced`.
    observes: bool,
}

impl Fake {
    fn acts(&self) -> Vec<String> {
        self.acts.lock().map(|a| a.clone()).unwrap_or_default()
    }
}

impl Remediate for Fake {
    type Notice = RetirementNotice;

    fn dry_run(&self) -> bool {
        false
    }

    fn claim(&self, parsed: Parsed) -> Claim<RetirementNotice> {
        claim_retirement(parsed)
    }

    async fn remediate(&self, notice: &RetirementNotice, _: Option<Instant>) -> Vec<Outcome> {
        notice
            .targets
            .iter()
            .map(|t| {
                if self.slow.contains(&t.to_string()) {
                    return Outcome::failed(
                        t.clone(),
                        Code::TimeBudgetExhausted,
                        "not reached",
                        true,
                    );
                }
                if let Ok(mut acts) = self.acts.lock() {
                    if self.observes && acts.contains(&t.to_string()) {
                        return Outcome::new(
                            t.clone(),
                            Status::AlreadyDone,
                            Code::AlreadyReplaced,
                            "PRIMARY deployment created after the notice",
                        )
                        .with_deployments(None, Some("ecs-svc/new".into()));
                    }
                    acts.push(t.to_string());
                }
                Outcome::new(
                    t.clone(),
                    Status::Acted,
                    Code::ForcedNewDeployment,
                    "forced",
                )
                .with_deployments(Some("ecs-svc/old".into()), Some("ecs-svc/new".into()))
            })
            .collect()
    }

    async fn verify(
        &self,
        _: &RetirementNotice,
        followed: &[Followed],
        _: DateTime<Utc>,
        _: Option<Instant>,
    ) -> Vec<Verdict> {
        let done = self.rolled_out.lock().map(|d| *d).unwrap_or(false);
        followed
            .iter()
            .map(|_| match done {
                true => Verdict::Verified("completed".into()),
                false => Verdict::Pending("rolling out".into()),
            })
            .collect()
    }
}

type Schedules = MemoryScheduler;

/// The notification topic in memory.
#[derive(Debug, Clone, Default)]
struct Inbox(Arc<Mutex<Vec<String>>>);

impl Inbox {
    fn titles(&self) -> Vec<String> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

impl Notifier for Inbox {
    async fn publish(&self, report: &Report) -> Result<Option<String>, ApiError> {
        let mut sent = self.0.lock().unwrap_or_else(|p| p.into_inner());
        sent.push(crate::notify::title(report));
        Ok(Some(format!("m-{}", sent.len())))
    }
}

type Memory = Controls<MemoryLedger, Schedules, Inbox>;

/// The controls as the templates deploy them: ledger, checks, notifications; windows if given.
fn controls(schedules: &Schedules, inbox: &Inbox, windows: Option<&str>) -> Memory {
    Controls::with(Parts {
        scheduler: Some(schedules.clone()),
        deferral: windows.map(|w| Deferral {
            windows: w.parse().unwrap_or_default(),
            margin: DEFAULT_MARGIN,
        }),
        checks: Some(CheckPolicy::default()),
        schedule_target_arn: None,
        notifier: Some(inbox.clone()),
        ledger: Some((MemoryLedger::default(), Duration::days(90))),
        metrics_namespace: None,
        function: "ecs-retirement".into(),
        dry_run: false,
    })
}

fn delivery(payload: Value, request_id: &str) -> Delivery {
    Delivery {
        payload,
        deadline: Instant::now() + std::time::Duration::from_secs(60),
        invoked_arn: "arn:aws:lambda:us-east-1:123456789012:function:ecs-retirement".into(),
        request_id: request_id.into(),
    }
}

fn said(report: &Report) -> Vec<(String, Status, Code)> {
    report
        .outcomes
        .iter()
        .map(|o| (o.target.to_string(), o.status, o.code))
        .collect()
}

async fn deliver(fake: &Fake, controls: &Memory, payload: Value, at: DateTime<Utc>) -> Report {
    handle(fake, controls, delivery(payload, "r-1"), at)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The input of the schedule the report says carries the next check.
fn scheduled(schedules: &Schedules, report: &Report) -> Value {
    let name = report
        .follow_up
        .as_ref()
        .map(|f| f.schedule.clone())
        .unwrap_or_else(|| panic!("no check scheduled: {report:#?}"));
    let input = schedules
        .made()
        .into_iter()
        .find(|s| s.name == name)
        .map(|s| s.input)
        .unwrap_or_else(|| panic!("schedule {name} not made"));
    serde_json::from_str(&input).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn a_delivery_acts_records_and_schedules_a_check_that_verifies_and_the_summary_goes_once_per_news(
) {
    let (fake, schedules, inbox) = (Fake::default(), Schedules::default(), Inbox::default());
    let controls = controls(&schedules, &inbox, None);

    let acted = deliver(&fake, &controls, event(), now()).await;
    let first_check = acted.follow_up.clone().expect("a check follows the action");
    let pending = deliver(
        &fake,
        &controls,
        scheduled(&schedules, &acted),
        first_check.at,
    )
    .await;
    if let Ok(mut done) = fake.rolled_out.lock() {
        *done = true;
    }
    let second = pending.follow_up.clone().expect("still followed");
    let verified = deliver(&fake, &controls, scheduled(&schedules, &pending), second.at).await;

    assert_eq!(
        said(&acted),
        vec![
            (
                "service prod/checkout".into(),
                Status::Acted,
                Code::ForcedNewDeployment
            ),
            (
                "service prod/payments".into(),
                Status::Acted,
                Code::ForcedNewDeployment
            ),
        ]
    );
    let five = first_check.at - now();
    assert!(
        five >= Duration::minutes(5) && five < Duration::minutes(5) + Duration::seconds(5),
        "the first check about five minutes after the action ends: {first_check:?}"
    );
    assert!(
        pending.outcomes.iter().all(|o| o.code == Code::Verifying),
        "{pending:#?}"
    );
    assert!(
        verified.outcomes.iter().all(|o| o.code == Code::Verified),
        "{verified:#?}"
    );
    assert!(verified.follow_up.is_none() && verified.is_final_check());
    assert_eq!(
        fake.acts().len(),
        2,
        "each service forced once: {:?}",
        fake.acts()
    );
    let ledger = controls.ledger().expect("a ledger");
    let states: Vec<State> = ledger
        .notice(NOTICE_KEY)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|e| !e.is_marker())
        .map(|e| e.state)
        .collect();
    assert_eq!(states, vec![State::Verified, State::Verified]);
    let titles = inbox.titles();
    assert_eq!(
        titles.len(),
        2,
        "the delivery and the final check, not the quiet one: {titles:?}"
    );
    assert!(titles[1].contains("(final)"), "{titles:?}");
}

#[tokio::test]
async fn outside_the_maintenance_windows_the_notice_is_deferred_to_one_schedule_and_nothing_is_acted_on(
) {
    let (fake, schedules, inbox) = (Fake::default(), Schedules::default(), Inbox::default());
    let controls = controls(&schedules, &inbox, Some("Sat 02:00-05:00 UTC"));

    let first = deliver(&fake, &controls, event(), now()).await;
    let again = deliver(&fake, &controls, event(), now()).await;

    assert!(
        first.outcomes.iter().all(|o| o.status == Status::Deferred),
        "{first:#?}"
    );
    assert!(
        again.outcomes.iter().all(|o| o.status == Status::Deferred),
        "{again:#?}"
    );
    assert!(fake.acts().is_empty());
    let made = schedules.made();
    assert_eq!(
        made.len(),
        1,
        "a redelivery finds the schedule it made: {made:?}"
    );
    assert_eq!(made[0].at, at("2026-11-21T02:00:00Z"));
    assert_eq!(
        serde_json::from_str::<Value>(&made[0].input).ok(),
        Some(event())
    );
}

#[tokio::test]
async fn a_resource_claimed_by_a_concurrent_delivery_is_left_to_it() {
    let (fake, schedules, inbox) = (Fake::default(), Schedules::default(), Inbox::default());
    let controls = controls(&schedules, &inbox, None);
    let ledger = controls.ledger().expect("a ledger");
    let claimed = ledger
        .claim(&ClaimRequest {
            notice: NOTICE_KEY.into(),
            resource: "service:prod/checkout".into(),
            target: "service prod/checkout".into(),
            owner: "the-other-delivery".into(),
            now: now(),
            lease_until: now() + Duration::minutes(16),
            notice_status: Some("upcoming".into()),
            deadline: None,
            expires_at: now() + Duration::days(90),
        })
        .await;
    assert_eq!(claimed.ok(), Some(Claimed::Won));

    let report = deliver(&fake, &controls, event(), now()).await;

    assert_eq!(
        said(&report),
        vec![
            (
                "service prod/checkout".into(),
                Status::Skipped,
                Code::HandledElsewhere
            ),
            (
                "service prod/payments".into(),
                Status::Acted,
                Code::ForcedNewDeployment
            ),
        ]
    );
    assert_eq!(fake.acts(), vec!["service prod/payments".to_owned()]);
}

#[tokio::test]
async fn work_not_reached_continues_a_minute_later_through_a_check_and_the_invocation_succeeds() {
    let fake = Fake {
        slow: vec!["service prod/payments".into()],
        ..Fake::default()
    };
    let (schedules, inbox) = (Schedules::default(), Inbox::default());
    let controls = controls(&schedules, &inbox, None);

    let result = handle(&fake, &controls, delivery(event(), "r-1"), now()).await;

    let report = result.unwrap_or_else(|e| panic!("a continuation is not a failure: {e}"));
    let follow_up = report.follow_up.clone().expect("a continuation");
    assert!(follow_up.why.starts_with("continuation"), "{follow_up:?}");
    assert!(
        follow_up.at <= now() + Duration::minutes(1) + Duration::seconds(5),
        "{follow_up:?}"
    );
    assert_eq!(fake.acts(), vec!["service prod/checkout".to_owned()]);
}

#[tokio::test]
async fn an_unusable_event_is_rejected_without_reaching_any_port() {
    let (fake, schedules, inbox) = (Fake::default(), Schedules::default(), Inbox::default());
    let controls = controls(&schedules, &inbox, None);

    let result = handle(
        &fake,
        &controls,
        delivery(json!({"not": "an event"}), "r-1"),
        now(),
    )
    .await;

    assert!(matches!(result, Err(RunError::Rejected(_))), "{result:?}");
    assert!(schedules.made().is_empty() && inbox.titles().is_empty() && fake.acts().is_empty());
}

/// The ledger in memory, refusing its first `record` (DynamoDB refusing one write).
#[derive(Default)]
struct RefusesOneRecord {
    inner: MemoryLedger,
    refused: std::sync::atomic::AtomicBool,
}

impl Ledger for RefusesOneRecord {
    async fn read(
        &self,
        notice: &str,
        resources: &[String],
    ) -> Result<std::collections::HashMap<String, crate::ledger::Entry>, crate::ledger::LedgerError>
    {
        self.inner.read(notice, resources).await
    }

    async fn claim(&self, request: &ClaimRequest) -> Result<Claimed, crate::ledger::LedgerError> {
        self.inner.claim(request).await
    }

    async fn record(
        &self,
        entries: &[crate::ledger::Entry],
    ) -> Result<(), crate::ledger::LedgerError> {
        if !self.refused.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Err(crate::ledger::LedgerError {
                table: "ledger".into(),
                operation: "PutItem",
                message: "InternalServerError".into(),
                fix: "the next invocation of the chain records it",
            });
        }
        self.inner.record(entries).await
    }

    async fn follow(
        &self,
        entries: &[crate::ledger::Entry],
    ) -> Result<(), crate::ledger::LedgerError> {
        self.inner.follow(entries).await
    }

    async fn notice(
        &self,
        notice: &str,
    ) -> Result<Vec<crate::ledger::Entry>, crate::ledger::LedgerError> {
        self.inner.notice(notice).await
    }

    async fn all(&self) -> Result<Vec<crate::ledger::Entry>, crate::ledger::LedgerError> {
        self.inner.all().await
    }
}

#[tokio::test]
async fn an_outcome_the_ledger_refused_is_recorded_by_the_chains_next_check_verified_and_never_acted_on_again(
) {
    let fake = Fake {
        observes: true,
        ..Fake::default()
    };
    let schedules = Schedules::default();
    let controls = Controls::with(Parts {
        scheduler: Some(schedules.clone()),
        deferral: None,
        checks: Some(CheckPolicy::default()),
        schedule_target_arn: None,
        notifier: None::<Inbox>,
        ledger: Some((RefusesOneRecord::default(), Duration::days(90))),
        metrics_namespace: None,
        function: "ecs-retirement".into(),
        dry_run: false,
    });
    let run = |payload: Value, request: &str, at: DateTime<Utc>| {
        let (controls, fake, request) = (&controls, &fake, request.to_owned());
        async move {
            // Lambda's longest invocation: its claims' lease outlasts the first check.
            let delivery = Delivery {
                deadline: Instant::now() + std::time::Duration::from_secs(900),
                ..delivery(payload, &request)
            };
            handle(fake, controls, delivery, at)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        }
    };

    let unrecorded = run(event(), "req-1", now()).await;
    let continuation = unrecorded.follow_up.clone().expect("a check carries them");
    let recorded = run(scheduled(&schedules, &unrecorded), "req-2", continuation.at).await;
    if let Ok(mut done) = fake.rolled_out.lock() {
        *done = true;
    }
    let check = recorded.follow_up.clone().expect("followed as any other");
    let verified = run(scheduled(&schedules, &recorded), "req-3", check.at).await;
    // An update of the notice long after every lease: memory answers.
    let update = run(event(), "req-9", check.at + Duration::hours(6)).await;

    assert!(
        unrecorded
            .outcomes
            .iter()
            .all(|o| o.code == Code::LedgerUnavailable),
        "{unrecorded:#?}"
    );
    assert!(
        continuation.at < now() + Duration::minutes(15),
        "the continuation comes inside the first claims' lease: {continuation:?}"
    );
    assert!(
        recorded
            .outcomes
            .iter()
            .all(|o| o.code == Code::AlreadyReplaced),
        "the chain takes its claims back and re-observes: {recorded:#?}"
    );
    assert!(
        verified.outcomes.iter().all(|o| o.code == Code::Verified),
        "{verified:#?}"
    );
    assert!(
        update
            .outcomes
            .iter()
            .all(|o| o.status == Status::AlreadyDone),
        "{update:#?}"
    );
    assert_eq!(
        fake.acts().len(),
        2,
        "each service forced once: {:?}",
        fake.acts()
    );
}

#[test]
fn a_check_envelope_names_its_chain_and_a_forged_chain_is_not_believed() {
    let original = event();
    let envelope = crate::follow::check_event(&original, 1, "4b1c-req_1");
    let forged = crate::follow::check_event(&original, 1, "req 1; DROP");
    let delivered_directly = json!({"source": "aws.health", "detail": {"chain": "req-1"}});

    assert_eq!(
        crate::follow::chain_of(&envelope).as_deref(),
        Some("4b1c-req_1")
    );
    assert_eq!(crate::follow::chain_of(&forged), None);
    assert_eq!(crate::follow::chain_of(&delivered_directly), None);
}

/// The notice's last word: one final summary however many chains follow it.
#[path = "chains_tests.rs"]
mod chains;
