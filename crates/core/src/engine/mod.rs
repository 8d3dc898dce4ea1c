//! The remediation run: parse → plan → act, bounded and resumable.
//!
//! Work is done in two passes per notice: describe every named service (batched, 10 per call,
//! per cluster), then act on those the planner selects. Both passes run with bounded
//! concurrency; `UpdateService` calls are additionally paced to the ECS token bucket so a
//! thousand services proceed at the throttling floor instead of in a storm of retries.
//! Anything not reached before the invocation deadline ends as a retryable failure; a later
//! attempt re-observes state and picks up where this one stopped.
//!
//! This module orchestrates the passes (`Remediator::passes`, the [`Remediate`] impl); each job lives beside it:
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
mod services;
mod settings;
mod tasks;
mod verify;

use std::collections::HashMap;
use std::num::NonZeroU32;

use futures::stream::{self, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

use chrono::{DateTime, Utc};

use crate::follow::{Followed, Verdict};
use crate::names::Code;
use crate::notice::{Parsed, RetirementNotice};
use crate::outcome::{Outcome, Status};
use crate::pipeline::{claim_retirement, collect, Claim, Notice as _, Remediate};
use crate::plan::{out_of_scope, ServiceDecision, TaskDecision};
use crate::ports::{
    CodeDeployApi, EcsInstances, EcsServices, EcsTasks, TaskObservation, MAX_SERVICES_PER_DESCRIBE,
};
use crate::target::{ServiceRef, Target, TaskRef};

pub use lifecycle::{through_lifecycle as lifecycle_verdict, Window};
use observe::ClusterTags;
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
    update_limiter: Option<DefaultDirectRateLimiter>,
}

impl<E: EcsServices + EcsTasks + EcsInstances, D: CodeDeployApi> Remediator<E, D> {
    pub fn new(ecs: E, codedeploy: D, settings: Settings) -> Self {
        let update_limiter = settings.update_service_rate.and_then(|rate| {
            let per_second = NonZeroU32::new(rate.per_second)?;
            let burst = NonZeroU32::new(rate.burst.max(1))?;
            Some(RateLimiter::direct(
                Quota::per_second(per_second).allow_burst(burst),
            ))
        });
        Remediator {
            ecs,
            codedeploy,
            settings,
            update_limiter,
        }
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

    /// One outcome per target of the notice, in the notice's order: the passes, in order.
    async fn passes(&self, notice: &RetirementNotice, deadline: Option<Instant>) -> Vec<Outcome> {
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

        let mut outcomes: Vec<Option<Outcome>> = vec![None; notice.targets.len()];
        let mut services: Vec<(usize, ServiceRef)> = Vec::new();
        let mut tasks: Vec<(usize, TaskRef)> = Vec::new();
        let mut instances = Vec::new();
        for (i, target) in notice.targets.iter().enumerate() {
            match target {
                Target::Service(s) => services.push((i, s.clone())),
                Target::Task(t) => tasks.push((i, t.clone())),
                Target::Instance(instance) => instances.push((i, instance.clone())),
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

        // EC2 scheduled events: drain the instances' container instances.
        if !instances.is_empty() {
            for (i, outcome) in Box::pin(self.instances(notice, &instances, deadline)).await {
                outcomes[i] = Some(outcome);
            }
        }

        // Pass 0: observe standalone tasks, 100 per DescribeTasks call, per cluster.
        let mut relaunches = Vec::new();
        // (task index, index whose outcome it shares): tasks that belong to a service.
        let mut as_service: Vec<(usize, usize, ServiceRef)> = Vec::new();
        for (i, decision, observed) in self.observe_tasks(&tasks, deadline).await {
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
                    match services.iter().find(|(_, s)| *s == service) {
                        Some((j, _)) => as_service.push((i, *j, service)),
                        None => {
                            services.push((i, service.clone()));
                            as_service.push((i, i, service));
                        }
                    }
                }
            }
        }

        // Opt-out / opt-in tags of every cluster involved, in one DescribeClusters call.
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
            match self.consent(
                &notice.targets[*i],
                &task.tags,
                &task.cluster,
                &cluster_tags,
            ) {
                Some(outcome) => {
                    outcomes[*i] = Some(outcome);
                    false
                }
                None => true,
            }
        });

        // Pass 1: observe services, 10 per DescribeServices call, per cluster.
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
                self.observe_batch(cluster, chunk, notice, &cluster_tags, deadline)
            })
            .buffer_unordered(self.settings.concurrency.max(1))
            .collect()
            .await;

        // Pass 2: act on services and tasks together, bounded.
        enum Work<L> {
            Service(ServiceRef, ServiceDecision),
            Task(TaskObservation<L>),
        }
        let mut work = Vec::new();
        for (i, service, decision) in decided.into_iter().flatten() {
            match decision {
                ServiceDecision::Final(outcome) => outcomes[i] = Some(outcome),
                other => work.push((i, Work::Service(service, other))),
            }
        }
        work.extend(relaunches.into_iter().map(|(i, t)| (i, Work::Task(t))));
        let acted: Vec<(usize, Outcome)> = stream::iter(work)
            .map(|(i, item)| async move {
                let outcome = match item {
                    Work::Service(
                        service,
                        ServiceDecision::ForceNewDeployment {
                            previous_deployment,
                        },
                    ) => {
                        self.force_new_deployment(service, previous_deployment, deadline)
                            .await
                    }
                    Work::Service(service, ServiceDecision::CodeDeployRedeploy { spec }) => {
                        self.codedeploy_redeploy(&service, &spec, notice, deadline)
                            .await
                    }
                    Work::Service(_, ServiceDecision::Final(outcome)) => outcome,
                    Work::Task(task) => self.relaunch(&notice.targets[i], task, deadline).await,
                };
                (i, outcome)
            })
            .buffer_unordered(self.settings.concurrency.max(1))
            .collect()
            .await;
        for (i, outcome) in acted {
            outcomes[i] = Some(outcome);
        }

        // Tasks of a service share the service's outcome, under their own name. Take every
        // service outcome before renaming any: several tasks can share one.
        // Each remembers its service: checks follow the task as the service.
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

        // Every target was assigned above; this keeps the invariant without a panic.
        collect(&notice.targets, outcomes)
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
