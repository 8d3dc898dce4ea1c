//! ECS on EC2: EC2 scheduled events (instance retirement, stop, reboot maintenance) name EC2
//! instances; the ECS answer is to drain their container instances ahead of AWS's date.
//!
//! - **Drain**: `UpdateContainerInstancesState` → `DRAINING`, batched per cluster, unless that
//!   would leave the instance's tasks nowhere to run (no other `ACTIVE` container instance in the
//!   cluster and no capacity provider with managed scaling): then `no_capacity_elsewhere`, before
//!   acting. ECS moves the service tasks under each service's deployment configuration.
//! - **Standalone tasks** on a drained instance are relaunched on other capacity (the standalone
//!   relaunch, same parameters and placement) and stopped once their replacement runs.
//! - **Ownership**: before draining, the container instance gets the custom attribute
//!   [`DRAINED_ATTRIBUTE`] (the notice's id). Only an instance carrying it is set back to
//!   `ACTIVE` after a reboot maintenance; one an operator or ECS managed draining drained is
//!   left as it is. The ledger remembers the drain per notice and instance as for any action.
//! - **Follow-up** ([`Remediator::verify_instances`]): drained is done when the instance runs
//!   nothing but daemon-service tasks. Retirement and stop: with `REPLACE_DRAINED_INSTANCES`,
//!   an instance in an Auto Scaling group is then terminated there without decrementing the
//!   desired capacity, so the group launches a patched one; without it the instance waits for
//!   AWS. Reboot: once the notice is `closed`, or its window has ended and the instance's agent
//!   is connected again, the instance is reactivated.
//!
//! These follow-up steps change things (reactivate, relaunch what is left, replace): each is
//! idempotent by observation (status, attribute, the relaunch's marker and token).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::budget::{failure_outcome, Budget};
use super::observe::ClusterTags;
use super::Remediator;
use crate::follow::{Followed, Verdict};
use crate::names::{Action, Code};
use crate::notice::{Ec2Event, EventStatus, RetirementNotice};
use crate::outcome::{Outcome, Status};
use crate::plan::TaskDecision;
use crate::ports::{
    ApiErrorKind, CodeDeployApi, ContainerInstance, EcsInstances, EcsServices, EcsTasks,
    MAX_INSTANCES_PER_UPDATE, MAX_TASKS_PER_DESCRIBE,
};
use crate::target::{InstanceRef, Target, TaskRef};

/// The custom attribute that marks a container instance the remediator drained; its value is
/// the notice's id.
pub const DRAINED_ATTRIBUTE: &str = "retirement-remediator/drained";

/// Every container instance of the account's clusters, by EC2 instance id.
type Inventory = HashMap<String, ContainerInstance>;

/// The notice's id as an attribute value (at most 128 characters of a restricted set).
fn mark_value(notice: &RetirementNotice) -> String {
    notice
        .event_arn
        .rsplit('/')
        .next()
        .unwrap_or("notice")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_.@:".contains(*c))
        .take(128)
        .collect()
}

/// The cluster name in a container instance ARN (`…:container-instance/CLUSTER/ID`).
fn cluster_of(arn: &str) -> Option<&str> {
    let rest = arn.split_once(":container-instance/")?.1;
    let (cluster, _) = rest.split_once('/')?;
    Some(cluster)
}

impl<E: EcsServices + EcsTasks + EcsInstances, D: CodeDeployApi> Remediator<E, D> {
    /// Every container instance of every cluster, by EC2 instance id.
    async fn inventory(&self, deadline: Option<Instant>) -> Result<Inventory, Budget> {
        let clusters = self
            .with_backoff(deadline, || self.ecs.list_clusters())
            .await?;
        let mut inventory = HashMap::new();
        for cluster in clusters {
            match self
                .with_backoff(deadline, || self.ecs.container_instances(&cluster))
                .await
            {
                Ok(found) => {
                    for ci in found {
                        inventory.insert(ci.ec2_instance_id.clone(), ci);
                    }
                }
                // A cluster the function may not read (outside `EcsClusterNames`) or that went
                // away costs only its own instances (then `not_container_instance`).
                Err(Budget::Api(e))
                    if matches!(e.kind, ApiErrorKind::Rejected | ApiErrorKind::NotFound) =>
                {
                    tracing::warn!(cluster = %cluster, error = %e, "container instances of the cluster not readable: left out");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(inventory)
    }

    /// One outcome per instance target of an EC2 scheduled event, in order.
    pub(super) async fn instances(
        &self,
        notice: &RetirementNotice,
        instances: &[(usize, InstanceRef)],
        deadline: Option<Instant>,
    ) -> Vec<(usize, Outcome)> {
        let target = |i: usize| notice.targets[i].clone();
        let inventory = match self.inventory(deadline).await {
            Ok(inventory) => inventory,
            Err(e) => {
                return instances
                    .iter()
                    .map(|(i, _)| (*i, failure_outcome(&target(*i), e.clone())))
                    .collect()
            }
        };
        let mut outcomes = Vec::new();
        let mut found: Vec<(usize, ContainerInstance)> = Vec::new();
        for (i, instance) in instances {
            match inventory.get(&instance.instance_id) {
                Some(ci) => found.push((*i, ci.clone())),
                None => outcomes.push((
                    *i,
                    Outcome::new(
                        target(*i),
                        Status::Skipped,
                        Code::NotContainerInstance,
                        format!(
                            "{} is not a container instance of any ECS cluster of this account and Region",
                            instance.instance_id
                        ),
                    ),
                )),
            }
        }
        if found.is_empty() {
            return outcomes;
        }
        if notice.status == Some(EventStatus::Closed) {
            for (i, ci) in found {
                let outcome = self
                    .reactivate(&target(i), &ci, &mark_value(notice), deadline)
                    .await;
                outcomes.push((i, outcome));
            }
            return outcomes;
        }

        // Opt-out / opt-in: the cluster's tags, and the container instance's and EC2
        // instance's together as the resource's.
        let mut clusters: Vec<String> = found.iter().map(|(_, ci)| ci.cluster.clone()).collect();
        clusters.sort();
        clusters.dedup();
        let cluster_tags: ClusterTags = self
            .with_backoff(deadline, || self.ecs.cluster_tags(&clusters))
            .await;
        let ids: Vec<String> = found
            .iter()
            .map(|(_, ci)| ci.ec2_instance_id.clone())
            .collect();
        let ec2_tags = match self
            .with_backoff(deadline, || self.ecs.ec2_instance_tags(&ids))
            .await
        {
            Ok(tags) => tags,
            Err(e) => {
                for (i, _) in found {
                    outcomes.push((i, failure_outcome(&target(i), e.clone())));
                }
                return outcomes;
            }
        };
        let mark = mark_value(notice);
        let mut to_drain: Vec<(usize, ContainerInstance)> = Vec::new();
        for (i, ci) in found {
            let mut tags = ci.tags.clone();
            tags.extend(
                ec2_tags
                    .get(&ci.ec2_instance_id)
                    .cloned()
                    .unwrap_or_default(),
            );
            if let Some(outcome) = self.consent(&target(i), &tags, &ci.cluster, &cluster_tags) {
                outcomes.push((i, outcome));
                continue;
            }
            match ci.status.as_str() {
                "ACTIVE" => to_drain.push((i, ci)),
                "DRAINING" if ci.attribute(DRAINED_ATTRIBUTE) == Some(mark.as_str()) => {
                    // Drained for this notice by an earlier delivery: followed as acted.
                    outcomes.push((
                        i,
                        Outcome::new(
                            target(i),
                            Status::AlreadyDone,
                            Code::AlreadyDraining,
                            format!(
                                "container instance in cluster {} is already DRAINING (drained for this notice earlier)",
                                ci.cluster
                            ),
                        )
                        .with_action(Action::DrainInstance)
                        .with_deployments(Some(ci.ec2_instance_id.clone()), Some(ci.arn.clone())),
                    ));
                }
                "DRAINING" => outcomes.push((
                    i,
                    // Someone else's drain (an operator, ECS managed draining, another notice):
                    // not followed, never reactivated, nothing replaced.
                    Outcome::new(
                        target(i),
                        Status::AlreadyDone,
                        Code::AlreadyDraining,
                        format!(
                            "container instance in cluster {} is already DRAINING, not for this notice (an operator, ECS managed draining or another notice): left as it is",
                            ci.cluster
                        ),
                    ),
                )),
                other => outcomes.push((
                    i,
                    Outcome::new(
                        target(i),
                        Status::Skipped,
                        Code::Gone,
                        format!(
                            "container instance in cluster {} is {other}: nothing to drain",
                            ci.cluster
                        ),
                    ),
                )),
            }
        }

        // Room elsewhere: another ACTIVE instance this notice does not drain, or managed scaling.
        let draining: Vec<&str> = to_drain.iter().map(|(_, ci)| ci.arn.as_str()).collect();
        let mut room: HashMap<String, Result<bool, Budget>> = HashMap::new();
        for (_, ci) in &to_drain {
            if room.contains_key(&ci.cluster) {
                continue;
            }
            let others = inventory.values().any(|o| {
                o.cluster == ci.cluster
                    && o.status == "ACTIVE"
                    && !draining.contains(&o.arn.as_str())
            });
            let verdict = if others {
                Ok(true)
            } else {
                self.with_backoff(deadline, || self.ecs.managed_scaling(&ci.cluster))
                    .await
            };
            room.insert(ci.cluster.clone(), verdict);
        }
        let mut by_cluster: Vec<(String, Vec<(usize, ContainerInstance)>)> = Vec::new();
        for (i, ci) in to_drain {
            match room.get(&ci.cluster) {
                Some(Err(e)) => {
                    outcomes.push((i, failure_outcome(&target(i), e.clone())));
                    continue;
                }
                Some(Ok(false)) if ci.running_tasks > 0 => {
                    outcomes.push((
                        i,
                        Outcome::failed(
                            target(i),
                            Code::NoCapacityElsewhere,
                            format!(
                                "not drained: it is the last ACTIVE container instance of cluster {} and no capacity provider of the cluster has managed scaling, so its {} task(s) would have nowhere to run; add capacity (or managed scaling), then redeliver the notice",
                                ci.cluster, ci.running_tasks
                            ),
                            false,
                        )
                        .with_action(Action::DrainInstance),
                    ));
                    continue;
                }
                _ => {}
            }
            if self.settings.dry_run {
                outcomes.push((
                    i,
                    Outcome::new(
                        target(i),
                        Status::Planned,
                        Code::WouldDrain,
                        format!(
                            "would set the container instance in cluster {} DRAINING",
                            ci.cluster
                        ),
                    )
                    .with_action(Action::DrainInstance),
                ));
                continue;
            }
            match by_cluster.iter_mut().find(|(c, _)| *c == ci.cluster) {
                Some((_, list)) => list.push((i, ci)),
                None => by_cluster.push((ci.cluster.clone(), vec![(i, ci)])),
            }
        }

        for (cluster, list) in by_cluster {
            for chunk in list.chunks(MAX_INSTANCES_PER_UPDATE) {
                outcomes
                    .extend(Box::pin(self.drain(&cluster, chunk, &mark, notice, deadline)).await);
            }
        }
        outcomes
    }

    /// Marks, then drains, up to [`MAX_INSTANCES_PER_UPDATE`] container instances of `cluster`,
    /// then relaunches their standalone tasks.
    #[tracing::instrument(name = "drain", skip_all, fields(cluster = %cluster, instances = chunk.len()))]
    async fn drain(
        &self,
        cluster: &str,
        chunk: &[(usize, ContainerInstance)],
        mark: &str,
        notice: &RetirementNotice,
        deadline: Option<Instant>,
    ) -> Vec<(usize, Outcome)> {
        let target = |i: usize| notice.targets[i].clone();
        let mut outcomes = Vec::new();
        let mut marked = Vec::new();
        for (i, ci) in chunk {
            match self
                .with_backoff(deadline, || {
                    self.ecs.set_instance_attribute(
                        cluster,
                        &ci.arn,
                        DRAINED_ATTRIBUTE,
                        mark,
                        false,
                    )
                })
                .await
            {
                Ok(()) => marked.push((*i, ci)),
                Err(e) => outcomes.push((
                    *i,
                    failure_outcome(&target(*i), e).with_action(Action::DrainInstance),
                )),
            }
        }
        if marked.is_empty() {
            return outcomes;
        }
        let arns: Vec<String> = marked.iter().map(|(_, ci)| ci.arn.clone()).collect();
        let refused = match self
            .with_backoff(deadline, || {
                self.ecs.set_instances_state(cluster, &arns, "DRAINING")
            })
            .await
        {
            Ok(refused) => refused,
            Err(e) => {
                // Refused outright: not drained, so the mark must not claim it. Any other
                // failure may have drained it (the answer lost): the mark stays, and the next
                // attempt finds the instance DRAINING for this notice, or drains it then.
                let refused = matches!(&e, Budget::Api(api) if api.kind == ApiErrorKind::Rejected);
                for (i, ci) in marked {
                    if refused {
                        let _ = self
                            .ecs
                            .set_instance_attribute(cluster, &ci.arn, DRAINED_ATTRIBUTE, mark, true)
                            .await;
                    }
                    outcomes.push((
                        i,
                        failure_outcome(&target(i), e.clone()).with_action(Action::DrainInstance),
                    ));
                }
                return outcomes;
            }
        };
        for (i, ci) in marked {
            if let Some((_, why)) = refused.iter().find(|(arn, _)| *arn == ci.arn) {
                let _ = self
                    .ecs
                    .set_instance_attribute(cluster, &ci.arn, DRAINED_ATTRIBUTE, mark, true)
                    .await;
                outcomes.push((
                    i,
                    Outcome::failed(
                        target(i),
                        Code::ApiError,
                        format!("UpdateContainerInstancesState refused it: {why}"),
                        true,
                    )
                    .with_action(Action::DrainInstance),
                ));
                continue;
            }
            let moved = Box::pin(self.relaunch_standalone(ci, deadline)).await;
            outcomes.push((
                i,
                Outcome::new(
                    target(i),
                    Status::Acted,
                    Code::Drained,
                    format!(
                        "set DRAINING in cluster {cluster}: ECS moves its service tasks under each service's deployment configuration; {moved}"
                    ),
                )
                .with_action(Action::DrainInstance)
                .with_deployments(Some(ci.ec2_instance_id.clone()), Some(ci.arn.clone())),
            ));
        }
        outcomes
    }

    /// The standalone tasks on a drained instance, relaunched elsewhere and stopped once their
    /// replacement runs (the standalone relaunch, idempotent by its marker and token). Says what
    /// became of them; the follow-up checks retry what is left.
    async fn relaunch_standalone(
        &self,
        ci: &ContainerInstance,
        deadline: Option<Instant>,
    ) -> String {
        let arns = match self
            .with_backoff(deadline, || self.ecs.instance_tasks(&ci.cluster, &ci.arn))
            .await
        {
            Ok(arns) => arns,
            Err(e) => return format!("its tasks could not be listed ({e}): a check looks again"),
        };
        let refs: Vec<(usize, TaskRef)> = arns
            .iter()
            .enumerate()
            .map(|(n, arn)| {
                (
                    n,
                    TaskRef {
                        cluster: Some(ci.cluster.clone()),
                        task_id: arn.rsplit('/').next().unwrap_or(arn).to_owned(),
                        arn: arn.clone(),
                    },
                )
            })
            .collect();
        let (mut relaunched, mut failed) = (Vec::new(), Vec::new());
        for (n, decision, observed) in self.observe_tasks(&refs, deadline).await {
            let (TaskDecision::Relaunch, Some(task)) = (decision, observed) else {
                continue; // Service tasks (ECS moves them), tasks already stopping.
            };
            let target = Target::Task(refs[n].1.clone());
            let outcome = Box::pin(self.relaunch(&target, task, deadline)).await;
            match outcome.status {
                Status::Acted | Status::AlreadyDone => relaunched.push(refs[n].1.task_id.clone()),
                _ => failed.push(format!("{} ({})", refs[n].1.task_id, outcome.reason)),
            }
        }
        match (relaunched.is_empty(), failed.is_empty()) {
            (true, true) => "no standalone task runs on it".to_owned(),
            (false, true) => format!(
                "standalone task(s) relaunched elsewhere: {}",
                relaunched.join(", ")
            ),
            _ => format!(
                "standalone task(s) relaunched: [{}]; not yet: [{}] (a check tries again)",
                relaunched.join(", "),
                failed.join("; ")
            ),
        }
    }

    /// After a reboot maintenance: `ACTIVE` again, only if the remediator drained it for this
    /// notice (`mark`): never an operator's drain, nor one made for another notice (a
    /// retirement of the same instance).
    async fn reactivate(
        &self,
        target: &Target,
        ci: &ContainerInstance,
        mark: &str,
        deadline: Option<Instant>,
    ) -> Outcome {
        let outcome = |status, code, reason: String| {
            Outcome::new(target.clone(), status, code, reason)
                .with_action(Action::ReactivateInstance)
        };
        if ci.status != "DRAINING" || ci.attribute(DRAINED_ATTRIBUTE) != Some(mark) {
            return outcome(
                Status::Skipped,
                Code::NotDrainedByRemediator,
                format!(
                    "container instance is {} and carries no {DRAINED_ATTRIBUTE} attribute of this notice: left as it is",
                    ci.status
                ),
            );
        }
        if self.settings.dry_run {
            return outcome(
                Status::Planned,
                Code::WouldReactivate,
                "would set it ACTIVE again".into(),
            );
        }
        let arns = [ci.arn.clone()];
        match self
            .with_backoff(deadline, || {
                self.ecs.set_instances_state(&ci.cluster, &arns, "ACTIVE")
            })
            .await
        {
            Ok(refused) if refused.is_empty() => {
                let _ = self
                    .with_backoff(deadline, || {
                        self.ecs.set_instance_attribute(
                            &ci.cluster,
                            &ci.arn,
                            DRAINED_ATTRIBUTE,
                            mark,
                            true,
                        )
                    })
                    .await;
                outcome(
                    Status::Acted,
                    Code::Reactivated,
                    format!(
                        "set ACTIVE again in cluster {} after the maintenance it was drained for",
                        ci.cluster
                    ),
                )
            }
            Ok(refused) => Outcome::failed(
                target.clone(),
                Code::ApiError,
                format!("UpdateContainerInstancesState refused ACTIVE: {refused:?}"),
                true,
            ),
            Err(e) => failure_outcome(target, e),
        }
    }

    /// One verdict per followed instance (`after` is its container instance ARN), driving it to
    /// done: see the module's documentation.
    pub(super) async fn verify_instances(
        &self,
        notice: &RetirementNotice,
        followed: &[&Followed],
        now: DateTime<Utc>,
        deadline: Option<Instant>,
    ) -> Vec<Verdict> {
        let mut by_cluster: HashMap<String, Result<Vec<ContainerInstance>, Budget>> =
            HashMap::new();
        let mut verdicts = Vec::with_capacity(followed.len());
        for f in followed {
            let Some((arn, cluster)) = f.after.as_deref().and_then(|a| Some((a, cluster_of(a)?)))
            else {
                verdicts.push(Verdict::Failed(
                    Code::UnrecognizedEntity,
                    "no container instance recorded to check".into(),
                ));
                continue;
            };
            if !by_cluster.contains_key(cluster) {
                let listed = self
                    .with_backoff(deadline, || self.ecs.container_instances(cluster))
                    .await;
                by_cluster.insert(cluster.to_owned(), listed);
            }
            let verdict = match by_cluster.get(cluster) {
                Some(Ok(all)) => match all.iter().find(|ci| ci.arn == arn) {
                    None => Verdict::Verified(format!(
                        "the container instance left cluster {cluster} (deregistered): nothing of it is left to retire"
                    )),
                    Some(ci) => {
                        Box::pin(self.verify_instance(notice, &f.target, ci, now, deadline)).await
                    }
                },
                Some(Err(e)) => Verdict::Pending(format!(
                    "cluster {cluster}'s container instances could not be listed ({e}); the next check looks again"
                )),
                None => Verdict::Pending("internal: cluster not listed".into()),
            };
            verdicts.push(verdict);
        }
        verdicts
    }

    async fn verify_instance(
        &self,
        notice: &RetirementNotice,
        target: &Target,
        ci: &ContainerInstance,
        now: DateTime<Utc>,
        deadline: Option<Instant>,
    ) -> Verdict {
        let kind = notice.ec2.unwrap_or(Ec2Event::Retirement);
        if kind == Ec2Event::Reboot {
            let over = notice.status == Some(EventStatus::Closed)
                || notice.end_time.is_some_and(|end| now >= end);
            // A window over by the notice's times may have moved (the maintenance rescheduled,
            // the notice's update not here yet): EC2's own record of the instance's pending
            // reboot decides. A `closed` notice is AWS saying it is over.
            if over && notice.status != Some(EventStatus::Closed) {
                match self
                    .with_backoff(deadline, || {
                        self.ecs.pending_instance_events(&ci.ec2_instance_id)
                    })
                    .await
                {
                    Ok(events) => {
                        if let Some((code, at)) = events.iter().find(|(c, _)| c.contains("reboot")) {
                            return Verdict::Pending(format!(
                                "EC2 still shows a scheduled {code}{} for the instance: it stays drained until that is over",
                                at.map(|t| format!(" from {}", t.to_rfc3339())).unwrap_or_default()
                            ));
                        }
                    }
                    Err(e) => {
                        return Verdict::Pending(format!(
                            "the instance's scheduled events could not be read ({e}); the next check looks again"
                        ))
                    }
                }
            }
            if over {
                if !ci.agent_connected {
                    return Verdict::Pending(
                        "the maintenance is over; waiting for the instance's ECS agent to reconnect before reactivating it".into(),
                    );
                }
                let done = self
                    .reactivate(target, ci, &mark_value(notice), deadline)
                    .await;
                return match done.status {
                    Status::Acted | Status::Skipped | Status::Planned => {
                        Verdict::Verified(done.reason)
                    }
                    _ => Verdict::Pending(format!("{}; the next check tries again", done.reason)),
                };
            }
        }
        if ci.status != "DRAINING" {
            return Verdict::Verified(format!(
                "the container instance is {} again (set by someone else): nothing left to drain",
                ci.status
            ));
        }
        // What still runs on it: standalone tasks are relaunched again (idempotent), replica
        // service tasks are ECS's to move, daemon tasks stay with the instance.
        let arns = match self
            .with_backoff(deadline, || self.ecs.instance_tasks(&ci.cluster, &ci.arn))
            .await
        {
            Ok(arns) => arns,
            Err(e) => {
                return Verdict::Pending(format!(
                    "its tasks could not be listed ({e}); the next check looks again"
                ))
            }
        };
        let left = if arns.is_empty() {
            Vec::new()
        } else {
            self.not_daemon(ci, &arns, deadline).await
        };
        // Tasks ECS is still stopping (desired STOPPED, still running through their stop
        // timeout or load balancer deregistration) are counted by the instance, not listed.
        let daemons = arns.len().saturating_sub(left.len());
        let stopping = usize::try_from(ci.running_tasks)
            .unwrap_or(0)
            .saturating_sub(arns.len());
        if stopping > 0 && left.is_empty() {
            return Verdict::Pending(format!(
                "{stopping} task(s) are still stopping on it ({daemons} daemon task(s) stay); the next check looks again"
            ));
        }
        if !left.is_empty() {
            let moved = Box::pin(self.relaunch_standalone(ci, deadline)).await;
            return Verdict::Pending(format!(
                "{} task(s) other than daemon tasks still run on it ({moved})",
                left.len()
            ));
        }
        match kind {
            Ec2Event::Reboot => Verdict::Pending(format!(
                "drained ahead of the reboot maintenance{}; it is set ACTIVE again when the maintenance is over",
                notice
                    .end_time
                    .map(|t| format!(" (ending {})", t.to_rfc3339()))
                    .unwrap_or_default()
            )),
            Ec2Event::Retirement | Ec2Event::Stop if self.settings.replace_drained_instances => {
                self.replace(ci, deadline).await
            }
            Ec2Event::Retirement | Ec2Event::Stop => Verdict::Verified(format!(
                "drained: it runs no task but daemon tasks, and waits for AWS{} (REPLACE_DRAINED_INSTANCES is off)",
                notice
                    .start_time
                    .map(|t| format!(" at {}", t.to_rfc3339()))
                    .unwrap_or_default()
            )),
        }
    }

    /// The tasks among `arns` that are not daemon-service tasks.
    async fn not_daemon(
        &self,
        ci: &ContainerInstance,
        arns: &[String],
        deadline: Option<Instant>,
    ) -> Vec<String> {
        let mut tasks = Vec::with_capacity(arns.len());
        for chunk in arns.chunks(MAX_TASKS_PER_DESCRIBE) {
            match self
                .with_backoff(deadline, || self.ecs.describe_tasks(&ci.cluster, chunk))
                .await
            {
                Ok(described) => tasks.extend(described.tasks),
                Err(_) => return arns.to_vec(),
            }
        }
        let mut services: Vec<String> = tasks
            .iter()
            .filter_map(|t| {
                t.group
                    .as_deref()?
                    .strip_prefix("service:")
                    .map(str::to_owned)
            })
            .collect();
        services.sort();
        services.dedup();
        let mut daemons = Vec::new();
        for chunk in services.chunks(crate::ports::MAX_SERVICES_PER_DESCRIBE) {
            if let Ok(found) = self
                .with_backoff(deadline, || self.ecs.describe_services(&ci.cluster, chunk))
                .await
            {
                daemons.extend(
                    found
                        .services
                        .into_iter()
                        .filter(|s| s.rollout.daemon)
                        .map(|s| s.name),
                );
            }
        }
        tasks
            .iter()
            .filter(|t| t.last_status != "STOPPED")
            .filter(|t| {
                !t.group
                    .as_deref()
                    .and_then(|g| g.strip_prefix("service:"))
                    .is_some_and(|s| daemons.iter().any(|d| d == s))
            })
            .map(|t| t.arn.clone())
            .collect()
    }

    /// `REPLACE_DRAINED_INSTANCES`: terminate the drained instance in its Auto Scaling group,
    /// keeping the desired capacity, so the group launches a patched replacement.
    async fn replace(&self, ci: &ContainerInstance, deadline: Option<Instant>) -> Verdict {
        let id = &ci.ec2_instance_id;
        match self
            .with_backoff(deadline, || self.ecs.auto_scaling_group(id))
            .await
        {
            Ok(None) => Verdict::Verified(format!(
                "drained: it runs no task but daemon tasks; {id} is in no Auto Scaling group, so it waits for AWS"
            )),
            Ok(Some(group)) => match self
                .with_backoff(deadline, || self.ecs.terminate_in_group(id))
                .await
            {
                Ok(()) => Verdict::Verified(format!(
                    "drained, then terminated in Auto Scaling group {group} without decrementing its desired capacity: the group launches a patched replacement"
                )),
                Err(e) => Verdict::Pending(format!(
                    "drained; terminating it in Auto Scaling group {group} failed ({e}); the next check tries again"
                )),
            },
            Err(e) => Verdict::Pending(format!(
                "drained; its Auto Scaling group could not be read ({e}); the next check tries again"
            )),
        }
    }
}
