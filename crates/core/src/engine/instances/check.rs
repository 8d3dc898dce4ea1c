//! Follow-up checks of the container instances the remediator drained: [`check_instance`]
//! decides, this reads what it asks for and carries out its decision (reactivate, relaunch what
//! is left, replace), each idempotent by observation.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::super::Remediator;
use crate::follow::{Followed, Verdict};
use crate::instance_plan::{
    self, check_instance, listed, mark_value, recorded, CheckLook, Checked, InstanceCheck, TasksOn,
};
use crate::notice::RetirementNotice;
use crate::outcome::Status;
use crate::ports::{
    CodeDeployApi, ContainerInstance, EcsInstances, EcsServices, EcsTasks,
    MAX_SERVICES_PER_DESCRIBE, MAX_TASKS_PER_DESCRIBE,
};
use crate::target::Target;

/// Rounds of a check: [`check_instance`] looks three times at most, then decides.
const CHECK_ROUNDS: usize = 4;

impl<E: EcsServices + EcsTasks + EcsInstances, D: CodeDeployApi> Remediator<E, D> {
    /// One verdict per followed instance (`after` is its container instance ARN), driving it to
    /// done: see the module's documentation.
    pub(in crate::engine) async fn verify_instances(
        &self,
        notice: &RetirementNotice,
        followed: &[&Followed],
        now: DateTime<Utc>,
        deadline: Option<Instant>,
    ) -> Vec<Verdict> {
        let mut listings: HashMap<String, Result<Vec<ContainerInstance>, String>> = HashMap::new();
        let mut verdicts = Vec::with_capacity(followed.len());
        for f in followed {
            let (arn, cluster) = match recorded(f.after.as_deref()) {
                Ok(recorded) => recorded,
                Err(verdict) => {
                    verdicts.push(verdict);
                    continue;
                }
            };
            if !listings.contains_key(cluster) {
                let listing = self
                    .with_backoff(deadline, || self.ecs.container_instances(cluster))
                    .await
                    .map_err(|e| e.to_string());
                listings.insert(cluster.to_owned(), listing);
            }
            let listing = match listings.get(cluster) {
                Some(Ok(all)) => Ok(all.as_slice()),
                Some(Err(e)) => Err(e.clone()),
                None => Err("internal: cluster not listed".to_owned()),
            };
            let verdict = match listed(cluster, arn, listing) {
                Ok(ci) => {
                    let seen = Checked::new(ci.clone());
                    Box::pin(self.verify_instance(notice, &f.target, seen, now, deadline)).await
                }
                Err(verdict) => verdict,
            };
            verdicts.push(verdict);
        }
        verdicts
    }

    /// Asks [`check_instance`] until it decides, reading what it asks for, then carries the
    /// decision out.
    async fn verify_instance(
        &self,
        notice: &RetirementNotice,
        target: &Target,
        mut seen: Checked,
        now: DateTime<Utc>,
        deadline: Option<Instant>,
    ) -> Verdict {
        for _ in 0..CHECK_ROUNDS {
            let look = match check_instance(target, &seen, notice, now, &self.settings) {
                InstanceCheck::Look(look) => look,
                InstanceCheck::Done(verdict) => return verdict,
                InstanceCheck::Reactivate => {
                    let mark = mark_value(notice);
                    let done = self
                        .set_active(target, &seen.instance, &mark, deadline)
                        .await;
                    return match done.status {
                        Status::Acted | Status::Skipped | Status::Planned => {
                            Verdict::Verified(done.reason)
                        }
                        _ => {
                            Verdict::Pending(format!("{}; the next check tries again", done.reason))
                        }
                    };
                }
                InstanceCheck::RelaunchStandalone { left } => {
                    let moved = Box::pin(self.relaunch_standalone(&seen.instance, deadline)).await;
                    return Verdict::Pending(format!(
                        "{left} task(s) other than daemon tasks still run on it ({moved})"
                    ));
                }
                InstanceCheck::Replace { group } => {
                    return self.replace(&seen.instance, &group, deadline).await
                }
            };
            self.look(look, &mut seen, deadline).await;
        }
        Verdict::Pending("internal: the instance check asked for more than it was given".into())
    }

    /// Reads what a check asked for into `seen`.
    async fn look(&self, look: CheckLook, seen: &mut Checked, deadline: Option<Instant>) {
        let ci = &seen.instance;
        let id = &ci.ec2_instance_id;
        match look {
            CheckLook::ScheduledEvents => {
                let events = self
                    .with_backoff(deadline, || self.ecs.pending_instance_events(id))
                    .await;
                seen.scheduled_events = Some(events.map_err(|e| e.to_string()));
            }
            CheckLook::Tasks => seen.tasks = Some(self.tasks_on(ci, deadline).await),
            CheckLook::AutoScalingGroup => {
                let group = self
                    .with_backoff(deadline, || self.ecs.auto_scaling_group(id))
                    .await;
                seen.group = Some(group.map_err(|e| e.to_string()));
            }
        }
    }

    /// [`CheckLook::Tasks`]: what still runs on it. Standalone tasks are relaunched again
    /// (idempotent), replica service tasks are ECS's to move, daemon tasks stay with it.
    async fn tasks_on(
        &self,
        ci: &ContainerInstance,
        deadline: Option<Instant>,
    ) -> Result<TasksOn, String> {
        let arns = self
            .with_backoff(deadline, || self.ecs.instance_tasks(&ci.cluster, &ci.arn))
            .await
            .map_err(|e| e.to_string())?;
        let not_daemon = if arns.is_empty() {
            0
        } else {
            self.not_daemon(ci, &arns, deadline).await
        };
        Ok(TasksOn {
            listed: arns.len(),
            not_daemon,
        })
    }

    /// How many of the tasks `arns` are not daemon-service tasks (all of them when they cannot
    /// be described).
    async fn not_daemon(
        &self,
        ci: &ContainerInstance,
        arns: &[String],
        deadline: Option<Instant>,
    ) -> usize {
        let mut tasks = Vec::with_capacity(arns.len());
        for chunk in arns.chunks(MAX_TASKS_PER_DESCRIBE) {
            match self
                .with_backoff(deadline, || self.ecs.describe_tasks(&ci.cluster, chunk))
                .await
            {
                Ok(described) => tasks.extend(described.tasks),
                Err(_) => return arns.len(),
            }
        }
        let services = instance_plan::services_of(&tasks);
        let mut daemons = Vec::new();
        for chunk in services.chunks(MAX_SERVICES_PER_DESCRIBE) {
            if let Ok(found) = self
                .with_backoff(deadline, || self.ecs.describe_services(&ci.cluster, chunk))
                .await
            {
                let found = found.services.into_iter();
                daemons.extend(found.filter(|s| s.rollout.daemon).map(|s| s.name));
            }
        }
        instance_plan::not_daemon(&tasks, &daemons)
    }

    /// [`InstanceCheck::Replace`]: terminate the drained instance in its Auto Scaling group,
    /// keeping the desired capacity, so the group launches a patched replacement.
    async fn replace(
        &self,
        ci: &ContainerInstance,
        group: &str,
        deadline: Option<Instant>,
    ) -> Verdict {
        let id = &ci.ec2_instance_id;
        match self
            .with_backoff(deadline, || self.ecs.terminate_in_group(id))
            .await
        {
            Ok(()) => Verdict::Verified(format!(
                "drained, then terminated in Auto Scaling group {group} without decrementing its desired capacity: the group launches a patched replacement"
            )),
            Err(e) => Verdict::Pending(format!(
                "drained; terminating it in Auto Scaling group {group} failed ({e}); the next check tries again"
            )),
        }
    }
}
