//! The remediation run: parse → plan → act, bounded and resumable.
//!
//! Work is done in two passes per notice: describe every named service (batched, 10 per call,
//! per cluster), then act on those the planner selects. Both passes run with bounded
//! concurrency; `UpdateService` calls are additionally paced to the ECS token bucket so a
//! thousand services proceed at the throttling floor instead of in a storm of retries.
//! Anything not reached before the invocation deadline ends as a retryable failure; a later
//! attempt re-observes state and picks up where this one stopped.
//!
//! This module wires the [`Remediate`] impl; `passes` orders the passes over one notice; each job lives beside it:
//! `settings` (what can be tuned), `budget` (retries, pacing, deadline, and the one mapping of
//! a failed call to an outcome), `observe` (describe services, tasks and cluster tags, and ask
//! the planner), `services` (forced deployments), `codedeploy` (blue/green redeploys) and
//! `tasks` (standalone-task relaunch). The scope check (other account / Region) is pure and
//! lives with the planner: [`crate::plan::out_of_scope`].

mod budget;
mod codedeploy;
mod instances;
mod lifecycle;
mod observe;
mod passes;
mod services;
mod settings;
mod tasks;
mod verify;

use std::sync::Arc;

use tokio::time::Instant;

use chrono::{DateTime, Utc};

use crate::follow::{Followed, Verdict};
use crate::notice::{Parsed, RetirementNotice};
use crate::outcome::Outcome;
use crate::pacing::MemoryBudget;
use crate::pipeline::{claim_retirement, Claim, Notice as _, Remediate};
use crate::ports::{CodeDeployApi, EcsInstances, EcsServices, EcsTasks, SharedBudget};
use crate::target::Target;

pub use lifecycle::{through_lifecycle as lifecycle_verdict, Window};
pub use settings::{Backoff, Rate, Settings};
pub use tasks::{client_token, STOP_REASON_MARK};
pub use verify::{
    codedeploy as codedeploy_verdict, rolling as rolling_verdict, task as task_verdict,
};

/// Runs notices against the ports it is given.
pub struct Remediator<E, D> {
    ecs: E,
    codedeploy: D,
    settings: Settings,
    /// The account's buckets, shared with every other environment holding the same store.
    budget: Arc<dyn SharedBudget>,
}

impl<E: EcsServices + EcsTasks + EcsInstances, D: CodeDeployApi> Remediator<E, D> {
    /// A remediator whose pacing is its own ([`MemoryBudget`]): shared with nothing outside this
    /// value until [`Self::with_budget`] gives it the account's shared budget.
    pub fn new(ecs: E, codedeploy: D, settings: Settings) -> Self {
        Remediator {
            ecs,
            codedeploy,
            settings,
            budget: Arc::new(MemoryBudget::default()),
        }
    }

    /// The same, pacing its modify calls from `budget` (the ledger table's, in production).
    pub fn with_budget(mut self, budget: Arc<dyn SharedBudget>) -> Self {
        self.budget = budget;
        self
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// What the account's ECS retirement settings say ([`crate::accounts::retirement_notes`]);
    /// nothing when they cannot be read (logged).
    pub async fn account_notes(&self) -> Vec<String> {
        match self.ecs.account_settings().await {
            Ok(settings) => crate::accounts::retirement_notes(&settings),
            Err(e) => {
                tracing::warn!(error = %e, "the account's ECS settings could not be read");
                Vec::new()
            }
        }
    }
}

/// AWS's retirement window of a notice: from `startTime` to its end ([`Notice::follow_until`]).
fn window(notice: &RetirementNotice) -> lifecycle::Window {
    lifecycle::Window {
        start: notice.start_time,
        end: notice.follow_until(),
    }
}

/// The `ecs-retirement` function's remediation: Health retirement notices, through the engine.
impl<E: EcsServices + EcsTasks + EcsInstances, D: CodeDeployApi> Remediate for Remediator<E, D> {
    type Notice = RetirementNotice;

    fn dry_run(&self) -> bool {
        self.settings.dry_run
    }

    fn deadline_margin(&self) -> std::time::Duration {
        self.settings.deadline_margin
    }

    fn claim(&self, parsed: Parsed) -> Claim<RetirementNotice> {
        claim_retirement(parsed)
    }

    async fn remediate(
        &self,
        notice: &RetirementNotice,
        deadline: Option<Instant>,
    ) -> Vec<Outcome> {
        self.passes(notice, deadline).await
    }

    /// The account's ECS retirement settings.
    async fn notes(&self, _notice: &RetirementNotice) -> Vec<String> {
        self.account_notes().await
    }

    /// With `fargateEventWindows` enabled, the first EC2 instance event window associated with
    /// every task of the notice, at or after its deadline
    /// ([`crate::accounts::earliest_retirement`]).
    async fn earliest_retirement(
        &self,
        notice: &RetirementNotice,
    ) -> Option<(DateTime<Utc>, String)> {
        let deadline = notice.start_time?;
        let settings = match self.ecs.account_settings().await {
            Ok(settings) => settings,
            Err(e) => {
                tracing::warn!(error = %e, "the account's ECS settings could not be read: the notice's deadline stands");
                return None;
            }
        };
        if !crate::accounts::event_windows_enabled(&settings) {
            return None;
        }
        match self.ecs.event_windows().await {
            Ok(windows) => {
                crate::accounts::earliest_retirement(deadline, &notice.targets, &windows)
            }
            Err(e) => {
                tracing::warn!(error = %e, "fargateEventWindows is enabled but the event windows could not be read: the notice's deadline stands");
                None
            }
        }
    }

    async fn verify(
        &self,
        notice: &RetirementNotice,
        followed: &[Followed],
        now: DateTime<Utc>,
        deadline: Option<Instant>,
    ) -> Vec<Verdict> {
        type Indexed<'a> = Vec<(usize, &'a Followed)>;
        let (instances, others): (Indexed, Indexed) = followed
            .iter()
            .enumerate()
            .partition(|(_, f)| matches!(f.target, Target::Instance(_)));
        if instances.is_empty() {
            return self
                .verify_all(followed, window(notice), now, deadline)
                .await;
        }
        let rest: Vec<Followed> = others.iter().map(|(_, f)| (*f).clone()).collect();
        let mut verdicts: Vec<Option<Verdict>> = vec![None; followed.len()];
        for ((i, _), v) in others
            .iter()
            .zip(self.verify_all(&rest, window(notice), now, deadline).await)
        {
            verdicts[*i] = Some(v);
        }
        let drained: Vec<&Followed> = instances.iter().map(|(_, f)| *f).collect();
        for ((i, _), v) in instances
            .iter()
            .zip(self.verify_instances(notice, &drained, now, deadline).await)
        {
            verdicts[*i] = Some(v);
        }
        verdicts
            .into_iter()
            .map(|v| v.unwrap_or_else(|| Verdict::Pending("internal: not checked".into())))
            .collect()
    }
}
