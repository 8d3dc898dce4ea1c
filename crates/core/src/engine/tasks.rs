//! Standalone-task relaunch: a task no service owns has nothing to replace it, so the
//! remediator runs a replacement with the same launch parameters, waits for it to run (and be
//! healthy), and only then stops the retiring task.
//!
//! Idempotent across retries: the replacement is started with a client token derived from the
//! task it replaces (ECS answers a repeated `RunTask` with the same token with the same task, for
//! 24 hours) and tagged with that task's id when the tag fits (a task already holding 50 user tags
//! leaves no room: the relaunch goes ahead without it, on the token alone), and the stop reason
//! carries [`STOP_REASON_MARK`] so a later attempt sees the task was already replaced.

use tokio::time::Instant;

use super::budget::{failure_outcome, Budget};
use super::Remediator;
use crate::names::{Action, Code};
use crate::outcome::{Outcome, Status};
use crate::plan::{replaces_marker_fits, MAX_USER_TAGS, REPLACES_TAG};
use crate::ports::{Bucket, CodeDeployApi, EcsServices, EcsTasks, TaskObservation};
use crate::target::Target;

/// Marks the stop reason of a task this remediator replaced (ECS keeps it on the stopped task).
pub const STOP_REASON_MARK: &str = "retirement-remediator";

/// `RunTask`'s idempotency token (up to 64 characters), derived from the retiring task so that a
/// retry of the same relaunch cannot start a second replacement.
pub fn client_token(task_id: &str) -> String {
    let mut token = format!("retire-{task_id}");
    token.truncate(64);
    token
}

/// Where a replacement stands after waiting.
enum Readiness<L> {
    Ready(TaskObservation<L>),
    /// It ran and stopped with every essential container's exit code 0
    /// ([`TaskObservation::finished_its_job`]): a one-off job that finished, as good as ready.
    Finished(TaskObservation<L>),
    Stopped(TaskObservation<L>),
    Pending(TaskObservation<L>),
}

impl<E: EcsServices + EcsTasks, D: CodeDeployApi> Remediator<E, D> {
    /// Relaunches a standalone task and stops it once the replacement runs (and is healthy).
    #[tracing::instrument(name = "task", skip_all, fields(cluster = %task.cluster, task = %task.id))]
    pub(super) async fn relaunch(
        &self,
        target: &Target,
        task: TaskObservation<E::Launch>,
        deadline: Option<Instant>,
    ) -> Outcome {
        let fail = |e: Budget| failure_outcome(target, e).with_action(Action::RelaunchTask);
        // With no room for the marker, a replacement carries none and no search can find it by
        // it: the client token is what stops a second one.
        let marked = replaces_marker_fits(&task.tags);
        let existing = if marked {
            match self
                .with_backoff(deadline, || self.ecs.find_replacement(&task, REPLACES_TAG))
                .await
            {
                Ok(existing) => existing,
                Err(e) => return fail(e),
            }
        } else {
            None
        };
        let unmarked = if marked {
            String::new()
        } else {
            format!(
                " (launched without the {REPLACES_TAG} tag: the task already holds {MAX_USER_TAGS} user tags; \
                 the RunTask client token guards against a second replacement)"
            )
        };
        if self.settings.dry_run {
            let reason = match &existing {
                Some(r) => format!("dry run: replacement {} exists; would stop this task once it runs", r.id),
                None => "dry run: would RunTask a replacement with the same launch parameters, then stop this task".to_owned(),
            };
            return Outcome::new(target.clone(), Status::Planned, Code::WouldRelaunch, reason)
                .with_action(Action::RelaunchTask)
                .with_deployments(Some(task.id.clone()), existing.map(|r| r.id));
        }
        let replacement = match existing {
            Some(r) => r,
            None => {
                let token = client_token(&task.id);
                let key = self.key_of_arn(Bucket::ClusterResourceModify, &task.arn);
                match self
                    .with_backoff(deadline, || async {
                        self.paced(&key, deadline).await?;
                        self.ecs
                            .run_replacement(&task, (REPLACES_TAG, &task.id), &token)
                            .await
                            .map_err(Budget::Api)
                    })
                    .await
                {
                    Ok(r) => r,
                    Err(e) => return fail(e),
                }
            }
        };
        let after = Some(replacement.id.clone());
        let ready = self.wait_ready(replacement, deadline).await;
        self.stop_once_ready(target, &task, ready, &unmarked, deadline)
            .await
            .with_deployments(Some(task.id.clone()), after)
    }

    /// Stops the retiring task once its replacement is ready; otherwise says where the
    /// replacement stands and leaves the task running.
    async fn stop_once_ready(
        &self,
        target: &Target,
        task: &TaskObservation<E::Launch>,
        ready: Result<Readiness<E::Launch>, Budget>,
        unmarked: &str,
        deadline: Option<Instant>,
    ) -> Outcome {
        let fail = |e: Budget| failure_outcome(target, e).with_action(Action::RelaunchTask);
        match ready {
            Err(e) => fail(e),
            Ok(Readiness::Stopped(r)) => Outcome::failed(
                target.clone(),
                Code::ReplacementFailed,
                format!(
                    "replacement {} stopped before it was ready ({}): the original task was left running",
                    r.id,
                    r.how_it_stopped()
                ),
                false,
            )
            .with_action(Action::RelaunchTask),
            // The replacement did the job with the same parameters before it was seen running.
            // The original is still stopped, as for a running replacement: it is a copy of the
            // same job on a retiring host, which AWS stops anyway at its date (without a
            // replacement); left running it would do the job a second time, be stopped by AWS
            // part-way, and leave the follow-up nothing to verify.
            Ok(Readiness::Finished(r)) => {
                let done = format!(
                    "replacement {} ran and exited 0, a one-off job that finished ({})",
                    r.id,
                    r.how_it_stopped()
                );
                self.stop_replaced(target, task, &r.id, &done, unmarked, deadline)
                    .await
            }
            Ok(Readiness::Pending(r)) => Outcome::failed(
                target.clone(),
                Code::ReplacementPending,
                format!(
                    "replacement {} is {} (health {}): the original keeps running until a later attempt sees it ready",
                    r.id,
                    r.last_status,
                    r.health_status.as_deref().unwrap_or("UNKNOWN")
                ),
                true,
            )
            .with_action(Action::RelaunchTask),
            Ok(Readiness::Ready(r)) => {
                let running = format!("replacement {} is running", r.id);
                self.stop_replaced(target, task, &r.id, &running, unmarked, deadline)
                    .await
            }
        }
    }

    /// Stops the retiring task, replaced by task `by` (`how`: where the replacement stands).
    async fn stop_replaced(
        &self,
        target: &Target,
        task: &TaskObservation<E::Launch>,
        by: &str,
        how: &str,
        unmarked: &str,
        deadline: Option<Instant>,
    ) -> Outcome {
        let reason =
            format!("{STOP_REASON_MARK}: replaced by task {by} ahead of a Fargate retirement");
        let key = self.key_of_arn(Bucket::ClusterResourceModify, &task.arn);
        match self
            .with_backoff(deadline, || async {
                self.paced(&key, deadline).await?;
                self.ecs
                    .stop_task(&task.cluster, &task.arn, &reason)
                    .await
                    .map_err(Budget::Api)
            })
            .await
        {
            Ok(()) => Outcome::new(
                target.clone(),
                Status::Acted,
                Code::Relaunched,
                format!("{how}; this task was stopped{unmarked}"),
            )
            .with_action(Action::RelaunchTask),
            Err(e) => failure_outcome(target, e).with_action(Action::RelaunchTask),
        }
    }

    /// Polls the replacement until it runs (and is healthy when the task definition has health
    /// checks), stops, or time runs out.
    async fn wait_ready(
        &self,
        mut replacement: TaskObservation<E::Launch>,
        deadline: Option<Instant>,
    ) -> Result<Readiness<E::Launch>, Budget> {
        let give_up = match deadline {
            Some(d) => d
                .checked_sub(self.settings.deadline_margin)
                .unwrap_or_else(Instant::now),
            None => Instant::now() + self.settings.replacement_wait,
        };
        loop {
            if replacement.last_status == "STOPPED" || replacement.desired_status == "STOPPED" {
                return Ok(if replacement.finished_its_job() {
                    Readiness::Finished(replacement)
                } else {
                    Readiness::Stopped(replacement)
                });
            }
            let healthy = !replacement.has_health_checks
                || replacement.health_status.as_deref() == Some("HEALTHY");
            if replacement.last_status == "RUNNING" && healthy {
                return Ok(Readiness::Ready(replacement));
            }
            if Instant::now() + self.settings.task_poll >= give_up {
                return Ok(Readiness::Pending(replacement));
            }
            tokio::time::sleep(self.settings.task_poll).await;
            let ids = [replacement.id.clone()];
            let described = self
                .with_backoff(deadline, || {
                    self.ecs.describe_tasks(&replacement.cluster, &ids)
                })
                .await?;
            match described.tasks.into_iter().next() {
                Some(t) => replacement = t,
                None => return Ok(Readiness::Stopped(replacement)),
            }
        }
    }
}
