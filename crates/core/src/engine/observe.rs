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
        let mut found: Vec<Option<TaskObservation<E::Launch>>> = vec![None; tasks.len()];
        let mut failed: Vec<Option<Outcome>> = vec![None; tasks.len()];
        let mut unsure: Vec<Option<Budget>> = vec![None; tasks.len()];
        let mut clusters: Vec<String> = Vec::new();
        for (_, t) in tasks {
            if let Some(c) = &t.cluster {
                if !clusters.contains(c) {
                    clusters.push(c.clone());
                }
            }
        }
        if tasks.iter().any(|(_, t)| t.cluster.is_none()) {
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
                            failed[k] = Some(failure_outcome(&task_target(t), e.clone()));
                        }
                    }
                }
            }
        }
        for cluster in &clusters {
            // Still unplaced tasks that may be in this cluster.
            let wanted: Vec<usize> = (0..tasks.len())
                .filter(|&k| found[k].is_none() && failed[k].is_none())
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
                            if let Some(&k) = chunk.iter().find(|&&k| tasks[k].1.task_id == task.id)
                            {
                                found[k] = Some(task);
                            }
                        }
                    }
                    Err(e) => {
                        for &k in chunk {
                            if tasks[k].1.cluster.is_some() {
                                failed[k] =
                                    Some(failure_outcome(&task_target(&tasks[k].1), e.clone()));
                            } else {
                                // It may be in this cluster: "not found" would be a guess.
                                unsure[k] = Some(e.clone());
                            }
                        }
                    }
                }
            }
        }
        for k in 0..tasks.len() {
            if found[k].is_none() && failed[k].is_none() {
                if let Some(e) = unsure[k].take() {
                    failed[k] = Some(failure_outcome(&task_target(&tasks[k].1), e));
                }
            }
        }
        tasks
            .iter()
            .enumerate()
            .map(|(k, (i, t))| {
                let target = task_target(t);
                if let Some(outcome) = failed[k].take() {
                    return (*i, TaskDecision::Final(outcome), None);
                }
                let observed = found[k].take();
                // A task this remediator already replaced and stopped says so in its reason.
                if let Some(task) = observed.as_ref() {
                    if let Some(reason) = task
                        .stopped_reason
                        .as_deref()
                        .filter(|r| r.contains(STOP_REASON_MARK))
                    {
                        let outcome = Outcome::new(
                            target,
                            Status::AlreadyDone,
                            Code::AlreadyReplaced,
                            format!("already relaunched and stopped: {reason}"),
                        )
                        .with_action(Action::RelaunchTask);
                        return (*i, TaskDecision::Final(outcome), None);
                    }
                }
                (*i, plan_task(&target, observed.as_ref()), observed)
            })
            .collect()
    }
}

fn task_target(task: &TaskRef) -> Target {
    Target::Task(task.clone())
}
