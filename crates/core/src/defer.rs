//! Maintenance-window gate: before acting on an event, decide whether it waits for the next
//! window and, if so, leave a one-time schedule that re-runs the *original* event then.
//!
//! Idempotent by construction: the schedule's name is derived from the event's identity and the
//! instant it fires, so a redelivered event finds the schedule it already made
//! ([`Scheduled::AlreadyExists`]) instead of creating a second one. When the schedule fires, the
//! event runs inside the window, acts, and re-observation keeps that safe too.

use std::future::Future;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::names::{Action, Code};
use crate::outcome::{Outcome, Status};
use crate::ports::ApiError;
use crate::target::Target;
use crate::window::{human, Timing, Windows};

/// A one-time schedule that invokes `target_arn` with `input` at `at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleRequest {
    pub name: String,
    pub at: DateTime<Utc>,
    pub target_arn: String,
    /// The original event, verbatim JSON.
    pub input: String,
    pub description: String,
    /// Minutes after `at` within which Scheduler may invoke (its flexible time window; 0:
    /// exactly at `at`). Spreads the schedules that fire together, so that they reach Lambda
    /// and the accounts' budgets over that time rather than at one instant.
    pub spread_minutes: u16,
}

/// Deferrals fire at the window's start exactly: a later run could fall past the end of a
/// short window and be deferred a week. The budget (shared per account) and Lambda's queue of
/// asynchronous invocations absorb their burst.
pub const DEFERRAL_SPREAD_MINUTES: u16 = 0;
/// Follow-up checks and continuations fire on time too: a continuation still acts and passes
/// the window gate again, so a late one could fall past a window's end (or AWS's deadline), and
/// a check can act as well (a retry, a standalone task's old copy stopped). The checks of a
/// wave are spread already, each set from the end of acting paced by the account's budget and
/// the function's concurrency (infra/README.md, "Schedules").
pub const CHECK_SPREAD_MINUTES: u16 = 0;

/// What creating a schedule found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheduled {
    Created,
    /// A schedule of that name exists: this event was deferred already.
    AlreadyExists,
}

/// EventBridge Scheduler, as the gate needs it.
pub trait Scheduler: Send + Sync {
    fn schedule_once(
        &self,
        request: &ScheduleRequest,
    ) -> impl Future<Output = Result<Scheduled, ApiError>> + Send;
}

/// EventBridge Scheduler in memory, for tests, the test kit and benchmarks: each schedule is
/// kept, and a name already taken is answered [`Scheduled::AlreadyExists`], as Scheduler
/// answers a `ConflictException`.
#[derive(Debug, Clone, Default)]
pub struct MemoryScheduler(std::sync::Arc<std::sync::Mutex<Vec<ScheduleRequest>>>);

impl MemoryScheduler {
    /// Every schedule made so far, in order.
    pub fn made(&self) -> Vec<ScheduleRequest> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

impl Scheduler for MemoryScheduler {
    async fn schedule_once(&self, r: &ScheduleRequest) -> Result<Scheduled, ApiError> {
        let mut made = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if made.iter().any(|m| m.name == r.name) {
            return Ok(Scheduled::AlreadyExists);
        }
        made.push(r.clone());
        Ok(Scheduled::Created)
    }
}

/// Windows plus the safety margin kept before AWS's deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deferral {
    pub windows: Windows,
    pub margin: Duration,
}

/// Default `DEADLINE_MARGIN`.
pub const DEFAULT_MARGIN: Duration = Duration::hours(24);

/// The event being gated.
#[derive(Debug, Clone)]
pub struct GatedEvent<'a> {
    /// The event as delivered: what the schedule hands back.
    pub raw: &'a Value,
    pub event_id: Option<&'a str>,
    /// When AWS retires the resources (ECS `startTime`, EKS `scheduledTerminationTime`).
    pub deadline: Option<DateTime<Utc>>,
    /// Every resource the event names: each gets an outcome if the event is deferred.
    pub targets: Vec<Target>,
}

/// The gate's verdict.
#[derive(Debug, Clone, PartialEq)]
pub enum Gate {
    /// Act now; the string says why (for the report and the log).
    Proceed(String),
    /// Not acting now: one outcome per resource (deferred, or failed to defer), and why.
    Held(Vec<Outcome>, String),
}

/// A stable short key for an event: its EventBridge id, else a digest of the whole event.
pub fn event_key(event_id: Option<&str>, raw: &Value) -> String {
    let digest = match event_id {
        Some(id) => Sha256::digest(id.as_bytes()),
        None => Sha256::digest(raw.to_string().as_bytes()),
    };
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// `retirement-<key>-<yyyymmddThhmmZ>`: at most 64 characters of `[0-9a-zA-Z-_.]`, as Scheduler
/// requires.
pub fn schedule_name(key: &str, at: DateTime<Utc>) -> String {
    format!("retirement-{key}-{}", at.format("%Y%m%dT%H%MZ"))
}

/// Decides whether the event acts now; if it waits, makes sure exactly one schedule re-runs it.
pub async fn gate<S: Scheduler>(
    scheduler: &S,
    deferral: &Deferral,
    event: GatedEvent<'_>,
    target_arn: &str,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Gate {
    if event.targets.is_empty() {
        return Gate::Proceed("the notice names no resource: nothing to defer".into());
    }
    let (occurrence, latest) = match deferral
        .windows
        .timing(now, event.deadline, deferral.margin)
    {
        Timing::ActNow { reason } => return Gate::Proceed(reason),
        Timing::Defer { occurrence, latest } => (occurrence, latest),
    };
    let why = format!(
        "outside the maintenance windows: next window {:?} starts {}, before the retirement at {} minus the {} margin ({})",
        occurrence.window,
        occurrence.start.to_rfc3339(),
        event
            .deadline
            .map(|d| d.to_rfc3339())
            .unwrap_or_else(|| "-".into()),
        human(deferral.margin),
        latest.to_rfc3339()
    );
    let description = format!(
        "Re-runs retirement event {} in maintenance window {:?}",
        event.event_id.unwrap_or("-"),
        occurrence.window
    );
    hold(
        scheduler,
        &event,
        occurrence.start,
        why,
        description,
        target_arn,
        dry_run,
    )
    .await
}

/// Holds `event` until `at`: one one-time schedule (named by the event and `at`, so a
/// redelivery finds it) re-runs the original event then; every resource is `deferred`. `why`
/// goes to the report's timing.
pub async fn hold<S: Scheduler>(
    scheduler: &S,
    event: &GatedEvent<'_>,
    at: DateTime<Utc>,
    why: String,
    description: String,
    target_arn: &str,
    dry_run: bool,
) -> Gate {
    let name = schedule_name(&event_key(event.event_id, event.raw), at);
    let each = |status: Status, code: Code, reason: String, retryable: bool| -> Vec<Outcome> {
        event
            .targets
            .iter()
            .map(|t| Outcome {
                retryable,
                ..Outcome::new(t.clone(), status, code, reason.clone()).with_action(Action::Defer)
            })
            .collect()
    };
    if dry_run {
        let reason = format!("would defer until {}: {why}", at.to_rfc3339());
        return Gate::Held(each(Status::Planned, Code::WouldDefer, reason, false), why);
    }
    let request = ScheduleRequest {
        name: name.clone(),
        at,
        target_arn: target_arn.to_owned(),
        input: event.raw.to_string(),
        description,
        spread_minutes: DEFERRAL_SPREAD_MINUTES,
    };
    match scheduler.schedule_once(&request).await {
        Ok(found) => {
            let how = match found {
                Scheduled::Created => "created",
                Scheduled::AlreadyExists => "already existed (redelivered event)",
            };
            let reason = format!("deferred until {}: schedule {name} {how}", at.to_rfc3339());
            Gate::Held(each(Status::Deferred, Code::Deferred, reason, false), why)
        }
        Err(e) => {
            // Always retryable, whatever the cause: the event must not end as a quiet success
            // with nothing done. Lambda retries it, then it waits in the (alarmed) dead-letter
            // queue until the schedule settings are fixed and it is redriven.
            let reason = format!(
                "could not defer until {} ({e}); nothing was done: fix the schedule role, group or permissions (or clear MAINTENANCE_WINDOWS) and redrive the event",
                at.to_rfc3339()
            );
            Gate::Held(each(Status::Failed, Code::ApiError, reason, true), why)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::ApiErrorKind;
    use crate::target::ServiceRef;
    use crate::testing::at;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Recorder {
        made: Mutex<Vec<ScheduleRequest>>,
        fail: Option<ApiErrorKind>,
    }

    impl Scheduler for Recorder {
        async fn schedule_once(&self, r: &ScheduleRequest) -> Result<Scheduled, ApiError> {
            if let Some(kind) = self.fail {
                return Err(ApiError::new("CreateSchedule", kind, "refused"));
            }
            let mut made = self.made.lock().map_err(|_| {
                ApiError::new("CreateSchedule", ApiErrorKind::Transient, "poisoned")
            })?;
            if made.iter().any(|m| m.name == r.name) {
                return Ok(Scheduled::AlreadyExists);
            }
            made.push(r.clone());
            Ok(Scheduled::Created)
        }
    }

    fn deferral() -> Deferral {
        Deferral {
            windows: "Sat 02:00-05:00 UTC".parse().unwrap_or_default(),
            margin: DEFAULT_MARGIN,
        }
    }

    fn service(name: &str) -> Target {
        Target::Service(ServiceRef {
            cluster: "prod".into(),
            service: name.into(),
        })
    }

    async fn run(s: &Recorder, raw: &Value, deadline: &str, dry_run: bool) -> Gate {
        let event = GatedEvent {
            raw,
            event_id: Some("e-1"),
            deadline: Some(at(deadline)),
            targets: vec![service("web"), service("api")],
        };
        gate(
            s,
            &deferral(),
            event,
            "arn:fn",
            at("2026-11-25T12:00:00Z"),
            dry_run,
        )
        .await
    }

    #[tokio::test]
    async fn a_deferred_event_gets_one_deferred_outcome_per_resource_and_one_schedule() {
        let s = Recorder::default();
        let raw = serde_json::json!({"id": "e-1"});
        let Gate::Held(outcomes, _) = run(&s, &raw, "2026-12-02T00:00:00Z", false).await else {
            panic!("expected a deferral");
        };
        assert_eq!(outcomes.len(), 2);
        assert!(outcomes.iter().all(|o| o.status == Status::Deferred
            && o.reason
                .starts_with("deferred until 2026-11-28T02:00:00+00:00")));
        let made = s.made.lock().map(|m| m.clone()).unwrap_or_default();
        assert_eq!(made.len(), 1);
        assert_eq!(made[0].at, at("2026-11-28T02:00:00Z"));
        assert_eq!(made[0].input, raw.to_string());
        assert_eq!(made[0].target_arn, "arn:fn");
    }

    #[tokio::test]
    async fn the_same_event_twice_finds_its_schedule() {
        let s = Recorder::default();
        let raw = serde_json::json!({"id": "e-1"});
        run(&s, &raw, "2026-12-02T00:00:00Z", false).await;
        let Gate::Held(outcomes, _) = run(&s, &raw, "2026-12-02T00:00:00Z", false).await else {
            panic!("expected a deferral");
        };
        assert!(
            outcomes[0].reason.contains("already existed"),
            "{}",
            outcomes[0].reason
        );
        assert_eq!(s.made.lock().map(|m| m.len()).unwrap_or(0), 1);
    }

    #[tokio::test]
    async fn a_dry_run_plans_the_deferral_and_makes_no_schedule() {
        let s = Recorder::default();
        let raw = serde_json::json!({"id": "e-1"});
        let Gate::Held(outcomes, _) = run(&s, &raw, "2026-12-02T00:00:00Z", true).await else {
            panic!("expected a planned deferral");
        };
        assert!(outcomes.iter().all(|o| o.code == Code::WouldDefer));
        assert_eq!(s.made.lock().map(|m| m.len()).unwrap_or(1), 0);
    }

    #[tokio::test]
    async fn a_close_deadline_proceeds_without_a_schedule() {
        let s = Recorder::default();
        let raw = serde_json::json!({"id": "e-1"});
        let gate = run(&s, &raw, "2026-11-27T00:00:00Z", false).await;
        assert!(
            matches!(gate, Gate::Proceed(ref why) if why.contains("acting now")),
            "{gate:?}"
        );
        assert_eq!(s.made.lock().map(|m| m.len()).unwrap_or(1), 0);
    }

    #[tokio::test]
    async fn a_refused_schedule_fails_every_resource_for_a_retry() {
        let s = Recorder {
            fail: Some(ApiErrorKind::Rejected),
            ..Recorder::default()
        };
        let raw = serde_json::json!({"id": "e-1"});
        let Gate::Held(outcomes, _) = run(&s, &raw, "2026-12-02T00:00:00Z", false).await else {
            panic!("expected a failure to defer");
        };
        assert!(outcomes
            .iter()
            .all(|o| o.status == Status::Failed && o.retryable));
    }

    #[tokio::test]
    async fn a_notice_naming_nothing_makes_no_schedule() {
        let s = Recorder::default();
        let raw = serde_json::json!({"id": "e-1"});
        let event = GatedEvent {
            raw: &raw,
            event_id: Some("e-1"),
            deadline: Some(at("2026-12-02T00:00:00Z")),
            targets: Vec::new(),
        };
        let verdict = gate(
            &s,
            &deferral(),
            event,
            "arn:fn",
            at("2026-11-25T12:00:00Z"),
            false,
        )
        .await;
        assert!(matches!(verdict, Gate::Proceed(_)), "{verdict:?}");
        assert_eq!(s.made.lock().map(|m| m.len()).unwrap_or(1), 0);
    }

    #[test]
    fn schedule_names_fit_schedulers_rules() {
        let name = schedule_name(
            &event_key(None, &serde_json::json!({"a": 1})),
            at("2026-11-28T02:00:00Z"),
        );
        assert!(name.len() <= 64, "{name}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
            "{name}"
        );
        assert_eq!(
            event_key(Some("x"), &Value::Null),
            event_key(Some("x"), &serde_json::json!(1))
        );
    }
}
