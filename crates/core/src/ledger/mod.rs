//! The ledger: what the remediator did, per notice and resource.
//!
//! AWS Health publishes the same notice (`eventArn`) again whenever it changes: `upcoming` →
//! `open` at `startTime`, resources added, text edited (domain notes §7). Observation alone cannot
//! tell an update from a new notice, so every update would act again. The ledger remembers:
//!
//! ```text
//!   (no entry) ──claim──▶ claimed ──outcome──▶ acted | done | skipped | failed | deferred
//!                            │ lease expired (crashed run): claimable again
//!   acted | done  ─▶ followed: each delivery or check looks at the platform (no new action)
//!                    ──▶ verified (replaced) | unreplaced (the action failed or AWS's deadline
//!                        passed): final for this notice, answered from memory
//!   skipped | failed | deferred ─▶ claimable again (re-observed, acted on if still needed)
//! ```
//!
//! The record lifecycle follows Powertools' idempotency utility (INPROGRESS → COMPLETED, with an
//! in-progress expiry tied to the invocation's remaining time): a claim is a conditional write
//! that only one invocation wins, so two deliveries running at once cannot both act.
//!
//! This module is pure: the decisions and the [`Ledger`] port. DynamoDB implements the port in
//! `remediator-lambda`; [`MemoryLedger`] implements it for tests and benchmarks.

use std::collections::HashMap;
use std::future::Future;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::names::{Action, Code};
use crate::outcome::{Outcome, Status};
use crate::target::Target;

/// Where a resource stands in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum State {
    /// An invocation holds it until `lease_until`.
    Claimed,
    /// A mutating call succeeded (forced deployment, CodeDeploy deployment, relaunch, restart).
    Acted,
    /// Observation showed the work already done.
    Done,
    /// Deliberately left alone (gone, opted out, other owner…).
    Skipped,
    /// Could not be remediated; the next delivery tries again.
    Failed,
    /// Held until a maintenance window; the schedule's delivery goes through the ledger again.
    Deferred,
    /// Acted on, and the platform shows it replaced ([`crate::follow`]).
    Verified,
    /// Acted on, and the platform shows the action will not replace it (deployment failed or
    /// stalled, replacement stopped, rollout blocked), or AWS's deadline passed first. Final for
    /// this notice: a person decides.
    Unreplaced,
}

impl State {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Where an outcome leaves the resource.
    pub fn of(outcome: &Outcome) -> State {
        match outcome.status {
            Status::Acted => State::Acted,
            Status::AlreadyDone => State::Done,
            Status::Skipped => State::Skipped,
            Status::Failed => State::Failed,
            Status::Deferred => State::Deferred,
            Status::Pending => State::Acted,
            // A dry run records nothing; this arm keeps the mapping total.
            Status::Planned => State::Failed,
        }
    }
}

/// One (notice, resource) record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The notice key ([`notice_key`]).
    pub notice: String,
    /// The resource's canonical id ([`Target::identity`]).
    pub resource: String,
    /// How the notice names it, for people (`service prod/web`).
    pub target: String,
    pub state: State,
    /// Read leniently: a name this version does not know (written by a newer one) reads as
    /// `None` rather than making the whole ledger unreadable.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub action: Option<Action>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient"
    )]
    pub code: Option<Code>,
    /// What ran before the action (deployment id, task id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// What the action produced (deployment id, CodeDeploy deployment, replacement task).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// When ECS created `after` (a forced deployment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_created_at: Option<DateTime<Utc>>,
    /// A task of a service, named by its ARN: the service it is remediated and followed as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<crate::target::ServiceRef>,
    /// The lifecycle hook a check last reported as awaiting a person: told once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub awaiting: Option<String>,
    #[serde(default)]
    pub reason: String,
    /// Claims taken, this one included.
    pub attempts: u32,
    /// When this resource was first seen for this notice.
    pub first_seen: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the action succeeded, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acted_at: Option<DateTime<Utc>>,
    /// The notice's `statusCode` when last seen (`upcoming`, `open`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_status: Option<String>,
    /// AWS's deadline for the resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<DateTime<Utc>>,
    /// The claim holds until then (state `claimed` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<DateTime<Utc>>,
    /// The invocation that holds or last held the claim (Lambda request id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// DynamoDB TTL: the deadline (or first sight) plus the retention.
    pub expires_at: DateTime<Utc>,
    /// Follow-up checks that looked at it.
    #[serde(default)]
    pub checks: u32,
    /// When a check saw it replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<DateTime<Utc>>,
}

/// A stable name, or `None` for one this version does not know.
fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    use serde::de::IntoDeserializer;
    let raw: Option<String> = Option::deserialize(deserializer)?;
    Ok(raw.and_then(|s| {
        T::deserialize(IntoDeserializer::<serde::de::value::Error>::into_deserializer(s)).ok()
    }))
}

/// The key of a notice in the ledger: the Health `eventArn`, plus the affected account when the
/// event names one (organization view: one ARN, many accounts); `eks:<event id>` for pods.
pub fn notice_key(event_arn: &str, affected_account: Option<&str>) -> String {
    match affected_account {
        Some(account) => format!("{event_arn}#{account}"),
        None => event_arn.to_owned(),
    }
}

/// What the ledger's memory says about one resource of a notice.
#[derive(Debug, Clone, PartialEq)]
pub enum Memory {
    /// Never seen, or seen and not settled (skipped, failed, deferred), or claimed by a run whose
    /// lease has expired: claim it and remediate.
    Claim,
    /// Acted on or found done already for this notice: the outcome to report, no call.
    Settled(Outcome),
    /// Another invocation holds a live claim: the outcome to report, no call.
    Elsewhere(Outcome),
    /// Acted on (or found being replaced) for this notice: look whether the platform finished.
    Follow(Box<Entry>),
}

/// Decides from a resource's entry (if any) whether `owner` should claim it. `now` is the wall
/// clock.
pub fn recall(target: &Target, entry: Option<&Entry>, now: DateTime<Utc>, owner: &str) -> Memory {
    match recall_entry(target, entry, now, owner) {
        Memory::Settled(outcome) => Memory::Settled(Outcome {
            remembered: true,
            ..outcome
        }),
        other => other,
    }
}

fn recall_entry(target: &Target, entry: Option<&Entry>, now: DateTime<Utc>, owner: &str) -> Memory {
    let Some(entry) = entry else {
        return Memory::Claim;
    };
    match entry.state {
        // What the action produced is known: whether it replaced the resource can be seen.
        State::Acted | State::Done if entry.after.is_some() => {
            Memory::Follow(Box::new(entry.clone()))
        }
        State::Verified => {
            let mut outcome = Outcome::new(
                target.clone(),
                Status::AlreadyDone,
                Code::Verified,
                format!(
                    "verified replaced for this notice at {}: {}",
                    entry.verified_at.unwrap_or(entry.updated_at).to_rfc3339(),
                    entry.reason
                ),
            )
            .with_deployments(entry.before.clone(), entry.after.clone());
            outcome.action = entry.action;
            Memory::Settled(outcome)
        }
        State::Unreplaced => {
            let mut outcome = Outcome::failed(
                target.clone(),
                entry.code.unwrap_or(Code::ApiError),
                format!(
                    "{} (recorded {})",
                    entry.reason,
                    entry.updated_at.to_rfc3339()
                ),
                false,
            )
            .with_deployments(entry.before.clone(), entry.after.clone());
            outcome.action = entry.action;
            Memory::Settled(outcome)
        }
        State::Acted | State::Done => {
            let when = entry.acted_at.unwrap_or(entry.updated_at).to_rfc3339();
            let what = match (&entry.action, &entry.code) {
                (Some(action), Some(code)) => format!("{action} ({code})"),
                (None, Some(code)) => code.to_string(),
                (Some(action), None) => action.to_string(),
                (None, None) => "remediated".to_owned(),
            };
            let ids = match (&entry.before, &entry.after) {
                (None, None) => String::new(),
                (b, a) => format!(
                    ", {} -> {}",
                    b.as_deref().unwrap_or("?"),
                    a.as_deref().unwrap_or("?")
                ),
            };
            let mut outcome = Outcome::new(
                target.clone(),
                Status::AlreadyDone,
                Code::AlreadyHandled,
                format!(
                    "already handled for this notice at {when}: {what}{ids}; an update of the notice acts on nothing twice"
                ),
            )
            .with_deployments(entry.before.clone(), entry.after.clone());
            outcome.action = entry.action;
            Memory::Settled(outcome)
        }
        State::Claimed
            if entry.owner.as_deref() != Some(owner)
                && entry.lease_until.is_some_and(|until| until > now) =>
        {
            Memory::Elsewhere(handled_elsewhere(target, entry))
        }
        State::Claimed | State::Skipped | State::Failed | State::Deferred => Memory::Claim,
    }
}

/// The outcome of a resource another invocation is handling.
pub fn handled_elsewhere(target: &Target, entry: &Entry) -> Outcome {
    Outcome::new(
        target.clone(),
        Status::Skipped,
        Code::HandledElsewhere,
        format!(
            "another invocation ({}) is handling it under a claim until {}",
            entry.owner.as_deref().unwrap_or("unknown"),
            entry
                .lease_until
                .map_or_else(|| "-".to_owned(), |t| t.to_rfc3339())
        ),
    )
}

/// What a claim needs to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRequest {
    pub notice: String,
    pub resource: String,
    pub target: String,
    /// The invocation claiming (Lambda request id).
    pub owner: String,
    pub now: DateTime<Utc>,
    pub lease_until: DateTime<Utc>,
    pub notice_status: Option<String>,
    pub deadline: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
}

/// The answer to a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// This invocation holds the resource now.
    Won,
    /// Someone else does, or it was settled meanwhile: the entry as it stands.
    Lost(Box<Entry>),
}

/// Why the ledger could not be used. Without memory nothing is acted on.
#[derive(Debug, Clone, thiserror::Error)]
#[error("ledger table {table}: {operation} failed: {message}")]
pub struct LedgerError {
    pub table: String,
    pub operation: &'static str,
    pub message: String,
    /// What to fix, for people.
    pub fix: &'static str,
}

/// The ledger's storage.
pub trait Ledger: Send + Sync {
    /// The entries that exist for these resources of `notice`, by resource id.
    fn read(
        &self,
        notice: &str,
        resources: &[String],
    ) -> impl Future<Output = Result<HashMap<String, Entry>, LedgerError>> + Send;

    /// Takes the resource when it has no entry, an unsettled one, or a claim whose lease ended
    /// before `request.now`; loses when another live claim or a settled entry is there.
    fn claim(
        &self,
        request: &ClaimRequest,
    ) -> impl Future<Output = Result<Claimed, LedgerError>> + Send;

    /// Writes the entries (the claims' results).
    fn record(&self, entries: &[Entry]) -> impl Future<Output = Result<(), LedgerError>> + Send;

    /// Writes what follow-up checks saw, each only over an entry still `acted` or `done` (a
    /// concurrent check's or claim's newer word stands).
    fn follow(&self, entries: &[Entry]) -> impl Future<Output = Result<(), LedgerError>> + Send;

    /// Every entry of `notice`.
    fn notice(&self, notice: &str) -> impl Future<Output = Result<Vec<Entry>, LedgerError>> + Send;

    /// Every entry (for `remediator status`).
    fn all(&self) -> impl Future<Output = Result<Vec<Entry>, LedgerError>> + Send;
}

/// A borrowed ledger is a ledger: a caller that keeps its own (the test kit, a benchmark) lends
/// it to the driver's controls.
impl<L: Ledger> Ledger for &L {
    fn read(
        &self,
        notice: &str,
        resources: &[String],
    ) -> impl Future<Output = Result<HashMap<String, Entry>, LedgerError>> + Send {
        (**self).read(notice, resources)
    }

    fn claim(
        &self,
        request: &ClaimRequest,
    ) -> impl Future<Output = Result<Claimed, LedgerError>> + Send {
        (**self).claim(request)
    }

    fn record(&self, entries: &[Entry]) -> impl Future<Output = Result<(), LedgerError>> + Send {
        (**self).record(entries)
    }

    fn follow(&self, entries: &[Entry]) -> impl Future<Output = Result<(), LedgerError>> + Send {
        (**self).follow(entries)
    }

    fn notice(&self, notice: &str) -> impl Future<Output = Result<Vec<Entry>, LedgerError>> + Send {
        (**self).notice(notice)
    }

    fn all(&self) -> impl Future<Output = Result<Vec<Entry>, LedgerError>> + Send {
        (**self).all()
    }
}

/// The entry a resource's outcome leaves, from its claim.
pub fn settle(
    claim: &ClaimRequest,
    previous: Option<&Entry>,
    outcome: &Outcome,
    now: DateTime<Utc>,
) -> Entry {
    let state = State::of(outcome);
    Entry {
        notice: claim.notice.clone(),
        resource: claim.resource.clone(),
        target: claim.target.clone(),
        state,
        action: outcome.action,
        code: Some(outcome.code),
        before: outcome.deployment_before.clone(),
        after: outcome.deployment_after.clone(),
        after_created_at: outcome.deployment_created_at,
        service: outcome.service.clone(),
        awaiting: None,
        reason: outcome.reason.clone(),
        attempts: previous.map_or(1, |p| p.attempts.saturating_add(1)),
        first_seen: previous.map_or(claim.now, |p| p.first_seen),
        updated_at: now,
        // Found being replaced counts from when it was found: checks measure progress from it.
        acted_at: matches!(state, State::Acted | State::Done).then_some(now),
        notice_status: claim.notice_status.clone(),
        deadline: claim.deadline,
        lease_until: None,
        owner: Some(claim.owner.clone()),
        expires_at: claim.expires_at,
        checks: previous.map_or(0, |p| p.checks),
        verified_at: None,
    }
}

/// The entry a claim writes.
pub fn claim_entry(request: &ClaimRequest, previous: Option<&Entry>) -> Entry {
    Entry {
        notice: request.notice.clone(),
        resource: request.resource.clone(),
        target: request.target.clone(),
        state: State::Claimed,
        action: previous.and_then(|p| p.action),
        code: previous.and_then(|p| p.code),
        before: previous.and_then(|p| p.before.clone()),
        after: previous.and_then(|p| p.after.clone()),
        after_created_at: previous.and_then(|p| p.after_created_at),
        service: previous.and_then(|p| p.service.clone()),
        awaiting: previous.and_then(|p| p.awaiting.clone()),
        reason: "claimed".to_owned(),
        attempts: previous.map_or(1, |p| p.attempts.saturating_add(1)),
        first_seen: previous.map_or(request.now, |p| p.first_seen),
        updated_at: request.now,
        acted_at: None,
        notice_status: request.notice_status.clone(),
        deadline: request.deadline,
        lease_until: Some(request.lease_until),
        owner: Some(request.owner.clone()),
        expires_at: request.expires_at,
        checks: previous.map_or(0, |p| p.checks),
        verified_at: None,
    }
}

/// Whether `owner` may claim over `existing` at `now` (the condition the DynamoDB adapter writes
/// as a `ConditionExpression`). A claim is free once its lease has ended, and always to its own
/// owner: Lambda retries an asynchronous invocation with the same request id, and that retry
/// must be able to finish what its first attempt claimed.
pub fn claimable(existing: Option<&Entry>, now: DateTime<Utc>, owner: &str) -> bool {
    match existing {
        None => true,
        Some(e) => match e.state {
            State::Acted | State::Done | State::Verified | State::Unreplaced => false,
            State::Claimed => {
                e.owner.as_deref() == Some(owner) || e.lease_until.is_none_or(|until| until <= now)
            }
            State::Skipped | State::Failed | State::Deferred => true,
        },
    }
}

/// Default retention after AWS's deadline (`LEDGER_RETENTION`).
pub fn default_retention() -> Duration {
    Duration::days(90)
}

mod last_word;
mod memory;
mod status;

pub use last_word::{marker_claim, open_elsewhere, still_open, SUMMARY_MARKER};
pub use memory::{LedgerCounts, MemoryLedger};
pub use status::{render, summarize, NoticeSummary};
