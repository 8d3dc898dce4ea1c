//! The passes over one notice, in order: sort the targets by kind, drain instances, observe
//! standalone tasks, read the clusters' tags, observe services, act on services and tasks
//! together (bounded), then give tasks of a service their service's outcome.

use std::collections::HashMap;

use futures::stream::{self, StreamExt};
use tokio::time::Instant;

use super::observe::ClusterTags;
use super::Remediator;
use crate::names::Code;
use crate::notice::RetirementNotice;
use crate::outcome::{Outcome, Status};
use crate::pipeline::collect;
use crate::plan::{out_of_scope, ServiceDecision, TaskDecision};
use crate::ports::{
    Bucket, CodeDeployApi, EcsInstances, EcsServices, EcsTasks, TaskObservation,
    MAX_SERVICES_PER_DESCRIBE,
};
use crate::target::{InstanceRef, ServiceRef, Target, TaskRef};

/// Each target's outcome, as the passes settle them (`None`: not yet).
type Outcomes = Vec<Option<Outcome>>;
/// (task index, index whose outcome it shares, the service): tasks that belong to a service.
type AsService = Vec<(usize, usize, ServiceRef)>;

/// The notice's targets by kind, each with its index; those no pass acts on are settled.
#[derive(Default)]
struct Sorted {
    services: Vec<(usize, ServiceRef)>,
    tasks: Vec<(usize, TaskRef)>,
    instances: Vec<(usize, InstanceRef)>,
}

/// What pass 2 acts on.
enum Work<L> {
    Service(ServiceRef, ServiceDecision),
    Task(TaskObservation<L>),
}

impl<E: EcsServices + EcsTasks + EcsInstances, D: CodeDeployApi> Remediator<E, D> {
    /// One outcome per target of the notice, in the notice's order: the passes, in order.
    pub(super) async fn passes(
        &self,
        notice: &RetirementNotice,
        deadline: Option<Instant>,
    ) -> Vec<Outcome> {
        if let Some((code, reason)) = out_of_scope(
            notice,
            self.settings.account.as_deref(),
            self.settings.region.as_deref(),
        ) {
            return notice
                .targets
                .iter()
                .map(|t| Outcome::new(t.clone(), Status::Skipped, code, reason.clone()))
                .collect();
        }
        let mut outcomes: Outcomes = vec![None; notice.targets.len()];
        let mut sorted = sort(&notice.targets, &mut outcomes);

        // EC2 scheduled events: drain the instances' container instances.
        if !sorted.instances.is_empty() {
            for (i, outcome) in Box::pin(self.instances(notice, &sorted.instances, deadline)).await
            {
                outcomes[i] = Some(outcome);
            }
        }
        // Pass 0: observe standalone tasks, 100 per DescribeTasks call, per cluster.
        let (relaunches, as_service) = self
            .task_pass(notice, &mut sorted, &mut outcomes, deadline)
            .await;
        let (cluster_tags, relaunches) = self
            .cluster_pass(
                notice,
                &sorted.services,
                relaunches,
                &mut outcomes,
                deadline,
            )
            .await;
        // Pass 1: observe services, 10 per DescribeServices call, per cluster.
        let decided = self
            .service_pass(notice, sorted.services, &cluster_tags, deadline)
            .await;
        // Pass 2: act on services and tasks together, bounded.
        let mut work = Vec::new();
        for (i, service, decision) in decided {
            match decision {
                ServiceDecision::Final(outcome) => outcomes[i] = Some(outcome),
                other => work.push((i, Work::Service(service, other))),
            }
        }
        work.extend(relaunches.into_iter().map(|(i, t)| (i, Work::Task(t))));
        for (i, outcome) in self.act_pass(notice, work, deadline).await {
            outcomes[i] = Some(outcome);
        }
        share_service_outcomes(notice, &mut outcomes, as_service);
        // Every target was assigned above; this keeps the invariant without a panic.
        collect(&notice.targets, outcomes)
    }

    /// Observes the standalone tasks: those to relaunch, and those that belong to a service
    /// (added to the services, once each, and remembered to share its outcome).
    async fn task_pass(
        &self,
        notice: &RetirementNotice,
        sorted: &mut Sorted,
        outcomes: &mut Outcomes,
        deadline: Option<Instant>,
    ) -> (Vec<(usize, TaskObservation<E::Launch>)>, AsService) {
        let mut relaunches = Vec::new();
        let mut as_service = AsService::new();
        for (i, decision, observed) in self.observe_tasks(&sorted.tasks, deadline).await {
            match (decision, observed) {
                (TaskDecision::Final(outcome), _) => outcomes[i] = Some(outcome),
                (TaskDecision::Relaunch, Some(task)) => relaunches.push((i, task)),
                (TaskDecision::Relaunch, None) => {
                    outcomes[i] = Some(Outcome::failed(
                        notice.targets[i].clone(),
                        Code::ApiError,
                        "internal: relaunch planned without an observation",
                        true,
                    ))
                }
                (TaskDecision::AsService(service), _) => {
                    match sorted.services.iter().find(|(_, s)| *s == service) {
                        Some((j, _)) => as_service.push((i, *j, service)),
                        None => {
                            sorted.services.push((i, service.clone()));
                            as_service.push((i, i, service));
                        }
                    }
                }
            }
        }
        (relaunches, as_service)
    }

    /// The opt-out / opt-in tags of every cluster involved, in one DescribeClusters call; the
    /// relaunches their tags allow.
    async fn cluster_pass(
        &self,
        notice: &RetirementNotice,
        services: &[(usize, ServiceRef)],
        mut relaunches: Vec<(usize, TaskObservation<E::Launch>)>,
        outcomes: &mut Outcomes,
        deadline: Option<Instant>,
    ) -> (ClusterTags, Vec<(usize, TaskObservation<E::Launch>)>) {
        let mut clusters: Vec<String> = services.iter().map(|(_, s)| s.cluster.clone()).collect();
        clusters.extend(relaunches.iter().map(|(_, t)| t.cluster.clone()));
        clusters.sort();
        clusters.dedup();
        let cluster_tags: ClusterTags = if clusters.is_empty() {
            Ok(HashMap::new())
        } else {
            self.with_backoff(deadline, || self.ecs.cluster_tags(&clusters))
                .await
        };
        relaunches.retain(|(i, task)| {
            let target = &notice.targets[*i];
            match self.consent(target, &task.tags, &task.cluster, &cluster_tags) {
                Some(outcome) => {
                    outcomes[*i] = Some(outcome);
                    false
                }
                None => true,
            }
        });
        (cluster_tags, relaunches)
    }

    /// Describes the services, 10 per call per cluster, bounded, and decides for each.
    async fn service_pass(
        &self,
        notice: &RetirementNotice,
        services: Vec<(usize, ServiceRef)>,
        cluster_tags: &ClusterTags,
        deadline: Option<Instant>,
    ) -> Vec<(usize, ServiceRef, ServiceDecision)> {
        let mut by_cluster: Vec<(String, Vec<(usize, ServiceRef)>)> = Vec::new();
        for (i, s) in services {
            match by_cluster.iter_mut().find(|(c, _)| *c == s.cluster) {
                Some((_, list)) => list.push((i, s)),
                None => by_cluster.push((s.cluster.clone(), vec![(i, s)])),
            }
        }
        let batches: Vec<(&str, &[(usize, ServiceRef)])> = by_cluster
            .iter()
            .flat_map(|(cluster, list)| {
                list.chunks(MAX_SERVICES_PER_DESCRIBE)
                    .map(move |chunk| (cluster.as_str(), chunk))
            })
            .collect();
        let decided: Vec<Vec<(usize, ServiceRef, ServiceDecision)>> = stream::iter(batches)
            .map(|(cluster, chunk)| {
                self.observe_batch(cluster, chunk, notice, cluster_tags, deadline)
            })
            .buffer_unordered(self.settings.concurrency.max(1))
            .collect()
            .await;
        decided.into_iter().flatten().collect()
    }

    /// Forced deployments, CodeDeploy redeploys and relaunches, at most `concurrency` at once.
    async fn act_pass(
        &self,
        notice: &RetirementNotice,
        work: Vec<(usize, Work<E::Launch>)>,
        deadline: Option<Instant>,
    ) -> Vec<(usize, Outcome)> {
        let key = self.key_of(
            Bucket::ServiceModify,
            notice.account.as_deref(),
            notice.region.as_deref(),
        );
        let key = &key;
        stream::iter(work)
            .map(|(i, item)| async move {
                let outcome = match item {
                    Work::Service(
                        service,
                        ServiceDecision::ForceNewDeployment {
                            previous_deployment,
                        },
                    ) => {
                        self.force_new_deployment(service, previous_deployment, key, deadline)
                            .await
                    }
                    Work::Service(service, ServiceDecision::CodeDeployRedeploy { spec }) => {
                        self.codedeploy_redeploy(&service, &spec, notice, deadline)
                            .await
                    }
                    Work::Service(_, ServiceDecision::Final(outcome)) => outcome,
                    Work::Task(task) => {
                        Box::pin(self.relaunch(&notice.targets[i], task, deadline)).await
                    }
                };
                (i, outcome)
            })
            .buffer_unordered(self.settings.concurrency.max(1))
            .collect()
            .await
    }
}

/// The targets by kind; those that are not ECS resources, or not recognized, or elsewhere, are
/// settled here.
fn sort(targets: &[Target], outcomes: &mut Outcomes) -> Sorted {
    let mut sorted = Sorted::default();
    for (i, target) in targets.iter().enumerate() {
        match target {
            Target::Service(s) => sorted.services.push((i, s.clone())),
            Target::Task(t) => sorted.tasks.push((i, t.clone())),
            Target::Instance(instance) => sorted.instances.push((i, instance.clone())),
            Target::Pod(_) => {
                outcomes[i] = Some(Outcome::failed(
                    target.clone(),
                    Code::UnrecognizedEntity,
                    "an EKS pod is not an ECS resource",
                    false,
                ))
            }
            Target::Unrecognized { raw, why } => {
                outcomes[i] = Some(Outcome::failed(
                    target.clone(),
                    Code::UnrecognizedEntity,
                    format!("cannot tell which resource {raw:?} is: {why}"),
                    false,
                ))
            }
            Target::Elsewhere(e) => outcomes[i] = Some(crate::plan::elsewhere(e)),
        }
    }
    sorted
}

/// Tasks of a service share the service's outcome, under their own name, and remember their
/// service: checks follow the task as the service. Every service outcome is taken before any is
/// renamed: several tasks can share one.
fn share_service_outcomes(
    notice: &RetirementNotice,
    outcomes: &mut Outcomes,
    as_service: AsService,
) {
    let shared: Vec<(usize, Option<Outcome>, ServiceRef)> = as_service
        .into_iter()
        .map(|(i, j, service)| (i, outcomes[j].clone(), service))
        .collect();
    for (i, service_outcome, service_ref) in shared {
        if let Some(mut outcome) = service_outcome {
            let service = outcome.target.to_string();
            outcome.target = notice.targets[i].clone();
            outcome.service = Some(service_ref);
            outcome.reason = format!(
                "task belongs to {service}, remediated as such: {}",
                outcome.reason
            );
            outcomes[i] = Some(outcome);
        }
    }
}
