//! Follow-up checks: acted is not done.
//!
//! A forced deployment can stall or be rolled back, a CodeDeploy deployment can fail, a
//! replacement task can stop, a rollout can hang. So after acting, the remediator follows each
//! resource until the platform shows it replaced:
//!
//! ```text
//!   acted | done ──check──▶ verified                         (final, settled)
//!        │        └──────▶ unreplaced (failed, with reason)  (final, alarmed)
//!        └── pending ──▶ next check (5, 10, 20, 40 … min, capped), until AWS's deadline:
//!                        still pending then ──▶ unreplaced (unverified_by_deadline)
//! ```
//!
//! Checks are one-time EventBridge Scheduler schedules (the maintenance windows' mechanism),
//! one per notice and check number, so a repeated delivery finds the schedule it already made.
//! A check re-delivers the original event in an envelope ([`check_event`]) that says which check
//! it is. The same schedules carry the waiting states (`deployment_in_progress`,
//! `replacement_pending`) and the work an invocation could not reach before its deadline
//! (a continuation, a minute later), instead of Lambda's two retries a few minutes apart.
//!
//! This module is pure: the rules. The ledger ([`crate::ledger`]) remembers what each check saw;
//! each remediation verifies its own kind of resource ([`crate::pipeline::Remediate::verify`]).

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::ledger::{Entry, State};
use crate::names::{Action, Code};
pub use crate::outcome::FollowUp;
use crate::outcome::{Outcome, Status};
use crate::target::Target;

pub use crate::names::{CHECK_DETAIL_TYPE, CHECK_SOURCE};

/// A resource the ledger says was acted on (or found being replaced): what to look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Followed {
    pub target: Target,
    pub action: Option<Action>,
    /// The outcome code that acted (`forced_new_deployment`, `already_replaced`, `restarted`…).
    pub code: Option<Code>,
    /// What ran before (deployment id, original task id).
    pub before: Option<String>,
    /// What the action produced or found (deployment id, CodeDeploy deployment id, replacement
    /// task id, `Kind/name` of a restarted workload).
    pub after: Option<String>,
    /// When the action succeeded (or the replacement was first seen).
    pub acted_at: DateTime<Utc>,
    /// When ECS created `after` (a forced deployment), when it said.
    pub after_created_at: Option<DateTime<Utc>>,
    /// A task of a service, named by its ARN: followed as that service.
    pub service: Option<crate::target::ServiceRef>,
}

impl Followed {
    pub fn of(target: &Target, entry: &Entry) -> Followed {
        Followed {
            target: target.clone(),
            action: entry.action,
            code: entry.code,
            before: entry.before.clone(),
            after: entry.after.clone(),
            acted_at: entry.acted_at.unwrap_or(entry.updated_at),
            after_created_at: entry.after_created_at,
            service: entry.service.clone(),
        }
    }
}

/// What the platform shows of a followed resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Replaced; the reason says what showed it.
    Verified(String),
    /// Still being replaced; the reason says how far.
    Pending(String),
    /// Still being replaced, paused at lifecycle hook `hook` until a person continues or rolls
    /// it back; the reason says how, and by when.
    Awaiting { hook: String, reason: String },
    /// The action will not replace it: the code and the reason, with what the operator can do.
    Failed(Code, String),
}

/// A verdict as the outcome to report and the entry to record. `deadline` is AWS's: a resource
/// still pending at or past it is not verified in time.
pub fn judge(
    followed: &Followed,
    entry: &Entry,
    verdict: Verdict,
    now: DateTime<Utc>,
    deadline: Option<DateTime<Utc>>,
) -> (Outcome, Entry) {
    let base = |status: Status, code: Code, reason: String| {
        let reason = match &followed.service {
            Some(s) => format!(
                "task of service {}/{}, followed as it: {reason}",
                s.cluster, s.service
            ),
            None => reason,
        };
        let mut o = Outcome::new(followed.target.clone(), status, code, reason)
            .with_deployments(followed.before.clone(), followed.after.clone());
        o.action = followed.action;
        o.deployment_created_at = followed.after_created_at;
        o.service = followed.service.clone();
        o
    };
    let mut next = Entry {
        updated_at: now,
        checks: entry.checks.saturating_add(1),
        ..entry.clone()
    };
    // Pending at or past AWS's deadline is not verified in time, whatever it waits for.
    let verdict = match verdict {
        Verdict::Awaiting { reason, .. } if deadline.is_some_and(|d| now >= d) => {
            Verdict::Pending(reason)
        }
        other => other,
    };
    let outcome = match verdict {
        Verdict::Awaiting { hook, reason } => {
            let mut o = base(Status::Pending, Code::AwaitingApproval, reason);
            // Told once: a later check that sees the same hook waiting has no news.
            o.told = entry.awaiting.as_deref() == Some(hook.as_str());
            next.awaiting = Some(hook);
            o
        }
        Verdict::Verified(reason) => {
            next.state = State::Verified;
            next.verified_at = Some(now);
            base(Status::AlreadyDone, Code::Verified, reason)
        }
        Verdict::Pending(reason) if deadline.is_some_and(|d| now >= d) => {
            next.state = State::Unreplaced;
            let reason = format!(
                "acted at {}, not verified replaced by AWS's deadline {}: {reason}; check the resource, AWS stops what still runs on the retiring host",
                followed.acted_at.to_rfc3339(),
                deadline.map(|d| d.to_rfc3339()).unwrap_or_default()
            );
            base(Status::Failed, Code::UnverifiedByDeadline, reason)
        }
        Verdict::Pending(reason) => base(Status::Pending, Code::Verifying, reason),
        Verdict::Failed(code, reason) => {
            next.state = State::Unreplaced;
            base(Status::Failed, code, reason)
        }
    };
    if outcome.status != Status::Pending {
        next.code = Some(outcome.code);
    }
    next.reason = outcome.reason.clone();
    (outcome, next)
}

/// How often checks run: `first` after acting, doubling each time up to `cap`; `continuation`
/// when an invocation ran out of time with work not started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckPolicy {
    pub first: Duration,
    pub cap: Duration,
    pub continuation: Duration,
    /// Waiting states (`deployment_in_progress`, `replacement_pending`, throttling) are retried
    /// until AWS's deadline minus this (`DEADLINE_MARGIN`); after that they are final failures,
    /// alarmed, for a person to act on while there is time. Verification goes on to the deadline.
    pub act_margin: Duration,
    /// Checks of a notice that names no deadline (`startTime` missing) stop after this many.
    pub max_checks_without_deadline: u32,
}

impl Default for CheckPolicy {
    fn default() -> Self {
        CheckPolicy {
            first: Duration::minutes(5),
            cap: Duration::minutes(60),
            continuation: Duration::minutes(1),
            act_margin: Duration::hours(24),
            max_checks_without_deadline: 48,
        }
    }
}

impl CheckPolicy {
    /// Until when waiting resources are retried: AWS's deadline minus `act_margin`.
    pub fn act_until(&self, deadline: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        deadline.map(|d| d - self.act_margin)
    }

    /// The wait before check number `n` (1-based): `first`, then doubling, capped.
    pub fn interval(&self, n: u32) -> Duration {
        let mut wait = self.first;
        for _ in 1..n {
            wait = wait + wait;
            if wait >= self.cap {
                return self.cap;
            }
        }
        wait.min(self.cap)
    }
}

/// What comes after this invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Every resource is final: nothing to follow. For a check, the notice's final summary.
    Final,
    /// Another check at `at`, numbered `check`, because of `why`.
    Check {
        check: u32,
        at: DateTime<Utc>,
        why: String,
    },
}

/// Decides whether the notice needs another check after these outcomes. `check` is this
/// invocation's check number (`None` for a delivery from AWS); `deadline` is AWS's.
/// `remembers`: a ledger keeps what was acted on, so a check can verify it (without one, a
/// check could only observe again, so acted resources are not followed).
///
/// Work not started before the invocation deadline continues a minute later; acted, pending and
/// retryable resources are checked at growing intervals. The last check is at AWS's deadline,
/// where a resource still pending is not verified in time.
pub fn next(
    outcomes: &[Outcome],
    check: Option<u32>,
    now: DateTime<Utc>,
    deadline: Option<DateTime<Utc>>,
    policy: &CheckPolicy,
    remembers: bool,
) -> Next {
    if deadline.is_some_and(|d| now >= d) {
        return Next::Final;
    }
    let n = check.map_or(1, |c| c.saturating_add(1));
    if deadline.is_none() && n > policy.max_checks_without_deadline {
        return Next::Final;
    }
    let waiting_allowed = policy.act_until(deadline).is_none_or(|until| now < until);
    let count = |f: &dyn Fn(&Outcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
    let unreached = count(&|o| o.code == Code::TimeBudgetExhausted);
    let pending = count(&|o| in_flight(o, remembers));
    let retryable = if waiting_allowed {
        count(&|o| o.status == Status::Failed && o.retryable && o.code != Code::TimeBudgetExhausted)
    } else {
        0
    };
    let (wait, why) = if unreached > 0 {
        (
            policy.continuation,
            format!(
                "continuation: {unreached} resource(s) not reached before the invocation deadline"
            ),
        )
    } else if pending + retryable > 0 {
        (
            policy.interval(n),
            format!("{pending} resource(s) being replaced, {retryable} to retry"),
        )
    } else {
        return Next::Final;
    };
    let mut at = now + wait;
    if let Some(d) = deadline {
        at = at.min(d);
    }
    Next::Check { check: n, at, why }
}

/// A check that judged before AWS's window ended (`judged_at`) but ends after it (`ended`):
/// what it saw still pending was judged in time, and `next` would stop here without a verdict.
/// One more check, a continuation later, judges them past the end (`unverified_by_deadline`)
/// and is the last.
pub fn last_look(
    outcomes: &[Outcome],
    check: Option<u32>,
    judged_at: DateTime<Utc>,
    ended: DateTime<Utc>,
    deadline: Option<DateTime<Utc>>,
    policy: &CheckPolicy,
    remembers: bool,
) -> Option<Next> {
    let deadline = deadline.filter(|d| judged_at < *d && ended >= *d)?;
    let open = outcomes.iter().filter(|o| in_flight(o, remembers)).count();
    (open > 0).then(|| Next::Check {
        check: check.map_or(1, |c| c.saturating_add(1)),
        at: ended + policy.continuation,
        why: format!(
            "AWS's window ended ({}) during this check: one last look records the verdict of {open} resource(s)",
            deadline.to_rfc3339()
        ),
    })
}

/// Whether a later check must look at this outcome's resource: still being replaced, or acted
/// on and followed by the ledger (`remembers`).
fn in_flight(o: &Outcome, remembers: bool) -> bool {
    o.status == Status::Pending || (remembers && to_verify(o))
}

/// Whether the ledger follows this outcome's resource: acted on, or found being replaced, with
/// what the action produced recorded (the ledger's `Follow`).
fn to_verify(o: &Outcome) -> bool {
    o.deployment_after.is_some()
        && (o.status == Status::Acted
            || (o.status == Status::AlreadyDone
                && !matches!(o.code, Code::Verified | Code::AlreadyHandled)))
}

/// Past AWS's deadline nothing is retried: a retryable failure becomes final, with the reason.
pub fn close_past_deadline(
    outcomes: Vec<Outcome>,
    now: DateTime<Utc>,
    deadline: Option<DateTime<Utc>>,
) -> Vec<Outcome> {
    let Some(deadline) = deadline.filter(|d| now >= *d) else {
        return outcomes;
    };
    outcomes
        .into_iter()
        .map(|o| {
            if o.status == Status::Failed && o.retryable {
                Outcome {
                    retryable: false,
                    reason: format!(
                        "{}; AWS's deadline {} has passed, so it is not retried",
                        o.reason,
                        deadline.to_rfc3339()
                    ),
                    ..o
                }
            } else {
                o
            }
        })
        .collect()
}

/// Waiting resources this close to AWS's deadline are not waited for any longer: a retryable
/// failure (other than work not reached, which continues until the deadline) becomes final past
/// `policy.act_until(deadline)`, saying why, so it is alarmed while a person still has time.
pub fn stop_waiting(
    outcomes: Vec<Outcome>,
    now: DateTime<Utc>,
    deadline: Option<DateTime<Utc>>,
    policy: &CheckPolicy,
) -> Vec<Outcome> {
    let (Some(deadline), Some(until)) = (deadline, policy.act_until(deadline)) else {
        return outcomes;
    };
    if now < until {
        return outcomes;
    }
    outcomes
        .into_iter()
        .map(|o| {
            if o.status == Status::Failed && o.retryable && o.code != Code::TimeBudgetExhausted {
                Outcome {
                    retryable: false,
                    reason: format!(
                        "{}; not waited for any longer this close to AWS's deadline {} (DEADLINE_MARGIN): replace it by hand",
                        o.reason,
                        deadline.to_rfc3339()
                    ),
                    ..o
                }
            } else {
                o
            }
        })
        .collect()
}

/// `check-<notice digest>-<scope>-<n>`: the same for every delivery that schedules check `n` of a notice
/// (Scheduler refuses a second schedule of that name), at most 64 characters of
/// `[0-9a-zA-Z-_.]`.
///
/// `scope` tells apart the versions of a notice that name different resources (see
/// [`scope`]): an update that adds a resource starts its own chain, carrying the event that
/// names it, instead of finding the first version's check and leaving the added resource to an
/// event that does not name it.
pub fn schedule_name(notice_key: &str, scope: &str, check: u32) -> String {
    format!("{}{scope}-{check}", schedule_prefix(notice_key))
}

/// A short digest of the resources a version of a notice names, order aside.
pub fn scope(targets: &[Target]) -> String {
    let mut ids: Vec<String> = targets.iter().map(Target::identity).collect();
    ids.sort();
    let digest = Sha256::digest(ids.join("\n").as_bytes());
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// What every check schedule of a notice starts with (`remediator status` lists them by it).
pub fn schedule_prefix(notice_key: &str) -> String {
    let digest = Sha256::digest(notice_key.as_bytes());
    let short: String = digest.iter().take(10).map(|b| format!("{b:02x}")).collect();
    format!("check-{short}-")
}

/// The envelope a check delivers: the original event, and which check this is.
///
/// `chain` names the chain of invocations the check continues (the request id of the delivery
/// that started it): the check owns that chain's claims, so a claim whose outcome could not be
/// recorded is taken back, re-observed and recorded by the next invocation, not left to expire.
pub fn check_event(original: &Value, check: u32, chain: &str) -> Value {
    serde_json::json!({
        "source": CHECK_SOURCE,
        "detail-type": CHECK_DETAIL_TYPE,
        "detail": { "check": check, "event": original, "chain": chain },
    })
}

/// The chain a check's envelope continues, when it names one that can be a request id (1 to 64
/// letters, digits, `-` or `_`): anything else is not believed, and the invocation owns its
/// claims under its own request id, as a delivery does.
pub fn chain_of(raw: &Value) -> Option<String> {
    let is_check = raw.get("source").and_then(Value::as_str) == Some(CHECK_SOURCE);
    let chain = raw.pointer("/detail/chain").and_then(Value::as_str)?;
    let plausible = (1..=64).contains(&chain.len())
        && chain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    (is_check && plausible).then(|| chain.to_owned())
}

/// The event inside a check's envelope and the check's number; any other event as it is.
pub fn unwrap_check(raw: Value) -> (Value, Option<u32>) {
    let is_check = raw.get("source").and_then(Value::as_str) == Some(CHECK_SOURCE)
        && raw.get("detail-type").and_then(Value::as_str) == Some(CHECK_DETAIL_TYPE);
    if !is_check {
        return (raw, None);
    }
    let check = raw
        .pointer("/detail/check")
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok());
    match (raw.pointer("/detail/event").cloned(), check) {
        (Some(event), Some(check)) => (event, Some(check)),
        // A broken envelope is parsed as it is, and rejected there with a clear reason.
        _ => (raw, None),
    }
}

#[cfg(test)]
#[path = "follow_judge_tests.rs"]
mod follow_judge_tests;
#[cfg(test)]
#[path = "follow_tests.rs"]
mod follow_tests;
