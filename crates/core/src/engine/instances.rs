//! ECS on EC2: EC2 scheduled events (instance retirement, stop, reboot maintenance) name EC2
//! instances; the ECS answer is to drain their container instances ahead of AWS's date.
//!
//! What to do with each is [`crate::instance_plan`]'s decision; this module reads what the
//! planner asks for, then carries its decision out:
//!
//! - **Drain**: `UpdateContainerInstancesState` → `DRAINING`, batched per cluster, unless that
//!   would leave the cluster nowhere to run a task (no other `ACTIVE` container instance in the
//!   cluster and no capacity provider with managed scaling), whether the instance runs tasks now
//!   or not: then `no_capacity_elsewhere`, before acting. ECS moves the service tasks under each
//!   service's deployment configuration.
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

use tokio::time::Instant;

use super::budget::{failure_outcome, Budget};
use super::observe::ClusterTags;
use super::Remediator;
use crate::instance_plan::{
    mark_value, others_active, plan_instance, InstanceDecision, InstanceLook, InstanceSeen, Marks,
    Room, DRAINED_ATTRIBUTE,
};
use crate::names::{Action, Code};
use crate::notice::RetirementNotice;
use crate::outcome::{Outcome, Status};
use crate::plan::TaskDecision;
use crate::ports::{
    ApiErrorKind, Bucket, CodeDeployApi, ContainerInstance, EcsInstances, EcsServices, EcsTasks,
    MAX_INSTANCES_PER_UPDATE,
};
use crate::target::{InstanceRef, Target, TaskRef};

/// Every container instance of the account's clusters, by EC2 instance id.
type Inventory = HashMap<String, ContainerInstance>;

mod check;

/// An instance the notice names while the planner decides: its index among the notice's
/// targets, and what has been seen of it.
struct Deciding {
    index: usize,
    instance: InstanceRef,
    seen: InstanceSeen,
}

/// Container instances of one cluster, with their indexes among the notice's targets.
type Batch = [(usize, ContainerInstance)];

/// Rounds of planning: [`plan_instance`] looks twice at most, then decides.
const ROUNDS: usize = 3;

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

    /// One outcome per instance target of an EC2 scheduled event (`instances`: their indexes
    /// among the notice's targets), each index once.
    pub(super) async fn instances(
        &self,
        notice: &RetirementNotice,
        instances: &[(usize, InstanceRef)],
        deadline: Option<Instant>,
    ) -> Vec<(usize, Outcome)> {
        let inventory = match self.inventory(deadline).await {
            Ok(inventory) => inventory,
            Err(e) => {
                return instances
                    .iter()
                    .map(|(i, _)| (*i, failure_outcome(&notice.targets[*i], e.clone())))
                    .collect()
            }
        };
        let mut deciding: Vec<Deciding> = instances
            .iter()
            .map(|(index, instance)| Deciding {
                index: *index,
                instance: instance.clone(),
                seen: InstanceSeen::new(inventory.get(&instance.instance_id).cloned()),
            })
            .collect();
        let mut outcomes = Vec::new();
        let (mut drains, mut reactivations) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let mut asks = Vec::new();
            for d in deciding {
                match plan_instance(&d.instance, &d.seen, notice, &self.settings) {
                    InstanceDecision::Look(look) => asks.push((look, d)),
                    InstanceDecision::Drain(ci) => drains.push((d.index, ci)),
                    InstanceDecision::Reactivate(ci) => reactivations.push((d.index, ci)),
                    InstanceDecision::Final(outcome) => outcomes.push((d.index, outcome)),
                }
            }
            deciding = self
                .answer(asks, &inventory, notice, deadline, &mut outcomes)
                .await;
        }
        outcomes.extend(deciding.iter().map(|d| {
            let why = "internal: the instance planner asked for more than it was given";
            (
                d.index,
                Outcome::failed(notice.targets[d.index].clone(), Code::ApiError, why, true),
            )
        }));
        let mark = mark_value(notice);
        for (i, ci) in reactivations {
            let outcome = self
                .set_active(&notice.targets[i], &ci, &mark, deadline)
                .await;
            outcomes.push((i, outcome));
        }
        outcomes.extend(Box::pin(self.drain_all(drains, &mark, notice, deadline)).await);
        outcomes
    }

    /// Reads what the planner asked for and records it; hands back the instances to plan
    /// again. One whose read failed ends here, with that failure.
    async fn answer(
        &self,
        asks: Vec<(InstanceLook, Deciding)>,
        inventory: &Inventory,
        notice: &RetirementNotice,
        deadline: Option<Instant>,
        outcomes: &mut Vec<(usize, Outcome)>,
    ) -> Vec<Deciding> {
        let (marks, room): (Vec<_>, Vec<_>) = asks
            .into_iter()
            .partition(|(look, _)| *look == InstanceLook::Marks);
        let room = room.into_iter().map(|(_, d)| d);
        if marks.is_empty() {
            return self
                .read_room(room.collect(), inventory, notice, deadline, outcomes)
                .await;
        }
        // Marks first: only once every instance has its marks is it known which ones this
        // notice drains, and so where the room is.
        let marks = marks.into_iter().map(|(_, d)| d).collect();
        let mut again = self.read_marks(marks, notice, deadline, outcomes).await;
        again.extend(room);
        again
    }

    /// [`InstanceLook::Marks`]: the clusters' tags, and the container instances' with their EC2
    /// instances' as the resources' own.
    async fn read_marks(
        &self,
        asking: Vec<Deciding>,
        notice: &RetirementNotice,
        deadline: Option<Instant>,
        outcomes: &mut Vec<(usize, Outcome)>,
    ) -> Vec<Deciding> {
        let containers = || asking.iter().filter_map(|d| d.seen.container.as_ref());
        let mut clusters: Vec<String> = containers().map(|ci| ci.cluster.clone()).collect();
        clusters.sort();
        clusters.dedup();
        let ids: Vec<String> = containers().map(|ci| ci.ec2_instance_id.clone()).collect();
        let cluster_tags: ClusterTags = self
            .with_backoff(deadline, || self.ecs.cluster_tags(&clusters))
            .await;
        let ec2_tags = match self
            .with_backoff(deadline, || self.ecs.ec2_instance_tags(&ids))
            .await
        {
            Ok(tags) => tags,
            Err(e) => {
                let failed = |d: Deciding| {
                    (
                        d.index,
                        failure_outcome(&notice.targets[d.index], e.clone()),
                    )
                };
                outcomes.extend(asking.into_iter().map(failed));
                return Vec::new();
            }
        };
        let mut again = Vec::with_capacity(asking.len());
        for mut d in asking {
            if let Some(ci) = &d.seen.container {
                let cluster = match &cluster_tags {
                    Ok(all) => all.get(&ci.cluster).cloned().unwrap_or_default(),
                    Err(e) => {
                        outcomes.push((
                            d.index,
                            failure_outcome(&notice.targets[d.index], e.clone()),
                        ));
                        continue;
                    }
                };
                let mut instance = ci.tags.clone();
                instance.extend(
                    ec2_tags
                        .get(&ci.ec2_instance_id)
                        .cloned()
                        .unwrap_or_default(),
                );
                d.seen.marks = Some(Marks { instance, cluster });
            }
            again.push(d);
        }
        again
    }

    /// [`InstanceLook::Room`], per cluster: another ACTIVE instance this notice does not drain
    /// (every instance asking is one it drains), else managed scaling.
    async fn read_room(
        &self,
        asking: Vec<Deciding>,
        inventory: &Inventory,
        notice: &RetirementNotice,
        deadline: Option<Instant>,
        outcomes: &mut Vec<(usize, Outcome)>,
    ) -> Vec<Deciding> {
        let containers = || asking.iter().filter_map(|d| d.seen.container.as_ref());
        let draining: Vec<&str> = containers().map(|ci| ci.arn.as_str()).collect();
        let mut rooms: HashMap<String, Result<Room, Budget>> = HashMap::new();
        for ci in containers() {
            if rooms.contains_key(&ci.cluster) {
                continue;
            }
            let room = if others_active(inventory.values(), &ci.cluster, &draining) {
                Ok(Room::OtherInstances)
            } else {
                self.with_backoff(deadline, || self.ecs.managed_scaling(&ci.cluster))
                    .await
                    .map(|scales| {
                        if scales {
                            Room::ManagedScaling
                        } else {
                            Room::Nowhere
                        }
                    })
            };
            rooms.insert(ci.cluster.clone(), room);
        }
        let mut again = Vec::with_capacity(asking.len());
        for mut d in asking {
            match d
                .seen
                .container
                .as_ref()
                .and_then(|ci| rooms.get(&ci.cluster))
            {
                Some(Err(e)) => {
                    outcomes.push((
                        d.index,
                        failure_outcome(&notice.targets[d.index], e.clone()),
                    ));
                    continue;
                }
                Some(Ok(room)) => d.seen.room = Some(*room),
                None => {}
            }
            again.push(d);
        }
        again
    }

    /// [`InstanceDecision::Drain`]: per cluster, up to [`MAX_INSTANCES_PER_UPDATE`] at a time.
    async fn drain_all(
        &self,
        drains: Vec<(usize, ContainerInstance)>,
        mark: &str,
        notice: &RetirementNotice,
        deadline: Option<Instant>,
    ) -> Vec<(usize, Outcome)> {
        let mut by_cluster: Vec<(String, Vec<(usize, ContainerInstance)>)> = Vec::new();
        for (i, ci) in drains {
            match by_cluster.iter_mut().find(|(c, _)| *c == ci.cluster) {
                Some((_, list)) => list.push((i, ci)),
                None => by_cluster.push((ci.cluster.clone(), vec![(i, ci)])),
            }
        }
        let mut outcomes = Vec::new();
        for (cluster, list) in by_cluster {
            for chunk in list.chunks(MAX_INSTANCES_PER_UPDATE) {
                outcomes
                    .extend(Box::pin(self.drain(&cluster, chunk, mark, notice, deadline)).await);
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
        chunk: &Batch,
        mark: &str,
        notice: &RetirementNotice,
        deadline: Option<Instant>,
    ) -> Vec<(usize, Outcome)> {
        let failed = |i: usize, e: Budget| {
            (
                i,
                failure_outcome(&notice.targets[i], e).with_action(Action::DrainInstance),
            )
        };
        let mut outcomes = Vec::new();
        let mut marked = Vec::new();
        for (i, ci) in chunk {
            match self.mark(ci, mark, deadline).await {
                Ok(()) => marked.push((*i, ci.clone())),
                Err(e) => outcomes.push(failed(*i, e)),
            }
        }
        if marked.is_empty() {
            return outcomes;
        }
        let arns: Vec<String> = marked.iter().map(|(_, ci)| ci.arn.clone()).collect();
        let key = self.key_of_arn(
            Bucket::ClusterResourceModify,
            arns.first().map_or("", String::as_str),
        );
        match self
            .with_backoff(deadline, || async {
                self.paced(&key, deadline).await?;
                self.ecs
                    .set_instances_state(cluster, &arns, "DRAINING")
                    .await
                    .map_err(Budget::Api)
            })
            .await
        {
            Ok(refused) => outcomes.extend(
                self.drained(&marked, &refused, mark, notice, deadline)
                    .await,
            ),
            Err(e) => {
                // Refused outright: not drained, so the mark must not claim it. Any other
                // failure may have drained it (the answer lost): the mark stays, and the next
                // attempt finds the instance DRAINING for this notice, or drains it then.
                if matches!(&e, Budget::Api(api) if api.kind == ApiErrorKind::Rejected) {
                    for (_, ci) in &marked {
                        self.unmark(ci, mark).await;
                    }
                }
                outcomes.extend(marked.iter().map(|(i, _)| failed(*i, e.clone())));
            }
        }
        outcomes
    }

    /// The outcomes of a `DRAINING` call that answered: those it `refused` are unmarked and
    /// failed; the standalone tasks of the others are relaunched.
    async fn drained(
        &self,
        marked: &Batch,
        refused: &[(String, String)],
        mark: &str,
        notice: &RetirementNotice,
        deadline: Option<Instant>,
    ) -> Vec<(usize, Outcome)> {
        let mut outcomes = Vec::with_capacity(marked.len());
        for (i, ci) in marked {
            let target = notice.targets[*i].clone();
            if let Some((_, why)) = refused.iter().find(|(arn, _)| *arn == ci.arn) {
                self.unmark(ci, mark).await;
                let why = format!("UpdateContainerInstancesState refused it: {why}");
                let outcome = Outcome::failed(target, Code::ApiError, why, true);
                outcomes.push((*i, outcome.with_action(Action::DrainInstance)));
                continue;
            }
            let moved = Box::pin(self.relaunch_standalone(ci, deadline)).await;
            outcomes.push((
                *i,
                Outcome::new(
                    target,
                    Status::Acted,
                    Code::Drained,
                    format!(
                        "set DRAINING in cluster {}: ECS moves its service tasks under each service's deployment configuration; {moved}",
                        ci.cluster
                    ),
                )
                .with_action(Action::DrainInstance)
                .with_deployments(Some(ci.ec2_instance_id.clone()), Some(ci.arn.clone())),
            ));
        }
        outcomes
    }

    /// Marks a container instance with the notice's id ([`DRAINED_ATTRIBUTE`]) before it is
    /// drained: only what carries the mark is ever set `ACTIVE` again.
    async fn mark(
        &self,
        ci: &ContainerInstance,
        mark: &str,
        deadline: Option<Instant>,
    ) -> Result<(), Budget> {
        self.with_backoff(deadline, || {
            self.ecs
                .set_instance_attribute(&ci.cluster, &ci.arn, DRAINED_ATTRIBUTE, mark, false)
        })
        .await
    }

    /// Takes the drain mark off a container instance that was not drained after all (once, as
    /// a clean-up: a mark left behind claims nothing ECS did not do).
    async fn unmark(&self, ci: &ContainerInstance, mark: &str) {
        let _ = self
            .ecs
            .set_instance_attribute(&ci.cluster, &ci.arn, DRAINED_ATTRIBUTE, mark, true)
            .await;
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

    /// [`InstanceDecision::Reactivate`]: `ACTIVE` again, then the mark taken off.
    async fn set_active(
        &self,
        target: &Target,
        ci: &ContainerInstance,
        mark: &str,
        deadline: Option<Instant>,
    ) -> Outcome {
        let arns = [ci.arn.clone()];
        let key = self.key_of_arn(Bucket::ClusterResourceModify, &ci.arn);
        match self
            .with_backoff(deadline, || async {
                self.paced(&key, deadline).await?;
                self.ecs
                    .set_instances_state(&ci.cluster, &arns, "ACTIVE")
                    .await
                    .map_err(Budget::Api)
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
                Outcome::new(
                    target.clone(),
                    Status::Acted,
                    Code::Reactivated,
                    format!(
                        "set ACTIVE again in cluster {} after the maintenance it was drained for",
                        ci.cluster
                    ),
                )
                .with_action(Action::ReactivateInstance)
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
}
