//! Observation: describe what the notice names before anything is decided.
//!
//! Services are described 10 per `DescribeServices` call, per cluster; standalone tasks 100 per
//! `DescribeTasks` call, per cluster (a task named without a cluster is searched for in every
//! cluster). Each observation goes through the pure planner, and the operator's opt-out /
//! opt-in tags (`consent`) are checked before anything is acted on.

use std::collections::HashMap;

use tokio::time::Instant;

use super::budget::{failure_outcome, Budget};
use super::tasks::STOP_REASON_MARK;
use super::Remediator;
use crate::names::{Action, Code};
use crate::notice::RetirementNotice;
use crate::outcome::{Outcome, Status};
use crate::plan::{plan_service, plan_task, ServiceDecision, TaskDecision};
use crate::ports::{CodeDeployApi, EcsServices, EcsTasks, TaskObservation, MAX_TASKS_PER_DESCRIBE};
use crate::target::{ServiceRef, Target, TaskRef};

/// Tags per cluster name, or why they could not be read.
pub(super) type ClusterTags = Result<HashMap<String, Vec<(String, String)>>, Budget>;

impl<E: EcsServices + EcsTasks, D: CodeDeployApi> Remediator<E, D> {
    /// The operator's word on a resource, from its tags and its cluster's. Without the cluster's
    /// tags (the lookup failed) nothing is acted on: an opted-out cluster must stay untouched.
    pub(super) fn consent(
        &self,
        target: &Target,
        resource_tags: &[(String, String)],
        cluster: &str,
        cluster_tags: &ClusterTags,
    ) -> Option<Outcome> {
        match cluster_tags {
            Ok(all) => crate::plan::consent(
                target,
                resource_tags,
                all.get(cluster).map(Vec::as_slice).unwrap_or(&[]),
                self.settings.opt_in_only,
            ),
            Err(e) => Some(failure_outcome(target, e.clone())),
        }
    }

    /// Describes one batch of services of `cluster` and decides for each.
    #[tracing::instrument(name = "describe_services", skip_all, fields(cluster = %cluster, services = chunk.len()))]
    pub(super) async fn observe_batch(
        &self,
        cluster: &str,
        chunk: &[(usize, ServiceRef)],
        notice: &RetirementNotice,
        cluster_tags: &ClusterTags,
        deadline: Option<Instant>,
    ) -> Vec<(usize, ServiceRef, ServiceDecision)> {
        let names: Vec<String> = chunk.iter().map(|(_, s)| s.service.clone()).collect();
        let described = self
            .with_backoff(deadline, || self.ecs.describe_services(cluster, &names))
            .await;
        chunk
            .iter()
            .map(|(i, service)| {
                let decision = match &described {
                    Ok(d) => {
                        let observed = d.services.iter().find(|o| o.name == service.service);
                        let missing = d
                            .failures
                            .iter()
                            .find(|(arn, _)| {
                                arn == &service.service
                                    || arn.ends_with(&format!("/{}", service.service))
                            })
                            .map(|(_, reason)| reason.as_str());
                        let decision =
                            plan_service(service, observed, missing, notice.published_at);
                        match (decision, observed) {
                            (ServiceDecision::Final(o), _) => ServiceDecision::Final(o),
                            (acting, Some(observed)) => {
                                match self.consent(
                                    &Target::Service(service.clone()),
                                    &observed.tags,
                                    cluster,
                                    cluster_tags,
                                ) {
                                    Some(outcome) => ServiceDecision::Final(outcome),
                                    None => acting,
                                }
                            }
                            (acting, None) => acting,
                        }
                    }
                    Err(e) => ServiceDecision::Final(failure_outcome(
                        &Target::Service(service.clone()),
                        e.clone(),
                    )),
                };
                (*i, service.clone(), decision)
            })
            .collect()
    }

    /// Describes the named tasks (per cluster, 100 per call; tasks named without a cluster are
    /// looked for in every cluster) and decides for each.
    pub(super) async fn observe_tasks(
        &self,
        tasks: &[(usize, TaskRef)],
        deadline: Option<Instant>,
    ) -> Vec<(usize, TaskDecision, Option<TaskObservation<E::Launch>>)> {
        let mut search = Search::new(tasks.len());
        let clusters = self.clusters_to_search(tasks, &mut search, deadline).await;
        for cluster in &clusters {
            self.describe_in(cluster, tasks, &mut search, deadline)
                .await;
        }
        search.settle_unsure();
        tasks
            .iter()
            .enumerate()
            .map(|(k, (i, t))| {
                let (decision, observed) =
                    decide_task(t, search.failed[k].take(), search.found[k].take());
                (*i, decision, observed)
            })
            .collect()
    }

    /// The clusters the tasks name, and every cluster when a task names none (a failed
    /// `ListClusters` fails those tasks).
    async fn clusters_to_search(
        &self,
        tasks: &[(usize, TaskRef)],
        search: &mut Search<E::Launch>,
        deadline: Option<Instant>,
    ) -> Vec<String> {
        let mut clusters: Vec<String> = Vec::new();
        for (_, t) in tasks {
            if let Some(c) = &t.cluster {
                if !clusters.contains(c) {
                    clusters.push(c.clone());
                }
            }
        }
        if tasks.iter().all(|(_, t)| t.cluster.is_some()) {
            return clusters;
        }
        match self
            .with_backoff(deadline, || self.ecs.list_clusters())
            .await
        {
            Ok(all) => {
                for c in all {
                    if !clusters.contains(&c) {
                        clusters.push(c);
                    }
                }
            }
            Err(e) => {
                for (k, (_, t)) in tasks.iter().enumerate() {
                    if t.cluster.is_none() {
                        search.failed[k] = Some(failure_outcome(&task_target(t), e.clone()));
                    }
                }
            }
        }
        clusters
    }

    /// Describes, in `cluster`, the tasks still unplaced that may be in it.
    async fn describe_in(
        &self,
        cluster: &str,
        tasks: &[(usize, TaskRef)],
        search: &mut Search<E::Launch>,
        deadline: Option<Instant>,
    ) {
        let wanted: Vec<usize> = (0..tasks.len())
            .filter(|&k| search.found[k].is_none() && search.failed[k].is_none())
            .filter(|&k| tasks[k].1.cluster.as_deref().is_none_or(|c| c == cluster))
            .collect();
        for chunk in wanted.chunks(MAX_TASKS_PER_DESCRIBE) {
            let ids: Vec<String> = chunk.iter().map(|&k| tasks[k].1.task_id.clone()).collect();
            match self
                .with_backoff(deadline, || self.ecs.describe_tasks(cluster, &ids))
                .await
            {
                Ok(described) => {
                    for task in described.tasks {
                        if let Some(&k) = chunk.iter().find(|&&k| tasks[k].1.task_id == task.id) {
                            search.found[k] = Some(task);
                        }
                    }
                }
                Err(e) => {
                    for &k in chunk {
                        if tasks[k].1.cluster.is_some() {
                            search.failed[k] =
                                Some(failure_outcome(&task_target(&tasks[k].1), e.clone()));
                        } else {
                            // It may be in this cluster: "not found" would be a guess.
                            search.unsure[k] = Some((task_target(&tasks[k].1), e.clone()));
                        }
                    }
                }
            }
        }
    }
}

/// What the search for the named tasks found, per task: the observation, the failure that
/// settles it, or the failed call that leaves it unsure (a task named without its cluster).
struct Search<L> {
    found: Vec<Option<TaskObservation<L>>>,
    failed: Vec<Option<Outcome>>,
    unsure: Vec<Option<(Target, Budget)>>,
}

impl<L: Clone> Search<L> {
    fn new(n: usize) -> Self {
        Search {
            found: vec![None; n],
            failed: vec![None; n],
            unsure: vec![None; n],
        }
    }

    /// A task found nowhere after a failed call fails with that call's error.
    fn settle_unsure(&mut self) {
        for k in 0..self.found.len() {
            if self.found[k].is_none() && self.failed[k].is_none() {
                if let Some((target, e)) = self.unsure[k].take() {
                    self.failed[k] = Some(failure_outcome(&target, e));
                }
            }
        }
    }
}

/// The decision for one named task: a failure stands; a task this remediator already replaced
/// and stopped says so in its reason; the rest go to the planner.
fn decide_task<L>(
    task: &TaskRef,
    failed: Option<Outcome>,
    observed: Option<TaskObservation<L>>,
) -> (TaskDecision, Option<TaskObservation<L>>) {
    let target = task_target(task);
    if let Some(outcome) = failed {
        return (TaskDecision::Final(outcome), None);
    }
    if let Some(reason) = observed
        .as_ref()
        .and_then(|t| t.stopped_reason.as_deref())
        .filter(|r| r.contains(STOP_REASON_MARK))
    {
        let outcome = Outcome::new(
            target,
            Status::AlreadyDone,
            Code::AlreadyReplaced,
            format!("already relaunched and stopped: {reason}"),
        )
        .with_action(Action::RelaunchTask);
        return (TaskDecision::Final(outcome), None);
    }
    (plan_task(&target, observed.as_ref()), observed)
}

fn task_target(task: &TaskRef) -> Target {
    Target::Task(task.clone())
}
