//! The remediation run: parse → plan → act, bounded and resumable.
//!
//! Work is done in two passes per notice: describe every named service (batched, 10 per call,
//! per cluster), then act on those the planner selects. Both passes run with bounded
//! concurrency; `UpdateService` calls are additionally paced to the ECS token bucket so a
//! thousand services proceed at the throttling floor instead of in a storm of retries.
//! Anything not reached before the invocation deadline ends as a retryable failure; a later
//! attempt re-observes state and picks up where this one stopped.

use std::collections::HashMap;
use std::future::Future;
use std::num::NonZeroU32;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde_json::Value;
use tokio::time::Instant;

use crate::appspec;
use crate::notice::{parse_value, ParseError, Parsed, RetirementNotice};
use crate::outcome::{code, Outcome, Report, Status};
use crate::plan::{
    check_codedeploy, plan_service, plan_task, CodeDeployCheck, ServiceDecision, TaskDecision,
    CODEDEPLOY_REDEPLOY, FORCE_NEW_DEPLOYMENT, RELAUNCH_TASK, REPLACES_TAG,
};
use crate::ports::{
    ApiError, ApiErrorKind, BlueGreenSpec, CodeDeployApi, CodeDeployment, EcsServices, EcsTasks,
    TaskObservation, IN_PROGRESS_STATUSES, MAX_SERVICES_PER_DESCRIBE, MAX_TASKS_PER_DESCRIBE,
};
use crate::target::{ServiceRef, Target, TaskRef};

/// A token bucket: `per_second` refill, `burst` capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_second: u32,
    pub burst: u32,
}

/// Backoff applied on top of the SDK's own retries when a call still ends throttled or failed
/// transiently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub rounds: u32,
    pub initial: Duration,
    pub max: Duration,
}

/// Engine settings. `Settings::default()` is what production uses unless configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Compute and report the plan without any mutating call.
    pub dry_run: bool,
    /// At most this many API calls in flight.
    pub concurrency: usize,
    /// The account the clients act in, when known: notices for another account are skipped.
    pub account: Option<String>,
    /// The Region the clients act in, when known: notices for another Region are skipped.
    pub region: Option<String>,
    /// Client-side pacing of `UpdateService` (ECS "service modify" bucket: 50 burst, 5/s).
    pub update_service_rate: Option<Rate>,
    pub backoff: Backoff,
    /// Stop starting new calls this long before the deadline, to report in time.
    pub deadline_margin: Duration,
    /// How often a replacement task is looked at while it starts.
    pub task_poll: Duration,
    /// How long to wait for a replacement to run (and be healthy) when there is no deadline.
    pub replacement_wait: Duration,
    /// Act only on resources (or clusters) tagged `retirement-remediator/enabled=true`.
    pub opt_in_only: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            dry_run: false,
            concurrency: 8,
            account: None,
            region: None,
            update_service_rate: Some(Rate {
                per_second: 5,
                burst: 50,
            }),
            backoff: Backoff {
                rounds: 6,
                initial: Duration::from_secs(1),
                max: Duration::from_secs(20),
            },
            deadline_margin: Duration::from_secs(10),
            task_poll: Duration::from_secs(5),
            replacement_wait: Duration::from_secs(600),
            opt_in_only: false,
        }
    }
}

/// Runs notices against the ports it is given.
pub struct Remediator<E, D> {
    ecs: E,
    codedeploy: D,
    settings: Settings,
    update_limiter: Option<DefaultDirectRateLimiter>,
}

impl<E: EcsServices + EcsTasks, D: CodeDeployApi> Remediator<E, D> {
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

    /// Handles one raw event end to end. Never panics, never returns without a report.
    pub async fn handle(&self, input: Value, deadline: Option<Instant>) -> Report {
        self.handle_parsed(parse_value(input), deadline).await
    }

    /// [`Remediator::handle`] for an event parsed already.
    pub async fn handle_parsed(
        &self,
        parsed: Result<Parsed, ParseError>,
        deadline: Option<Instant>,
    ) -> Report {
        match parsed {
            Err(error) => Report::rejected(&error, self.settings.dry_run),
            Ok(Parsed::Ignored(ignored)) => Report::ignored(&ignored, self.settings.dry_run),
            Ok(Parsed::PodTermination(pod)) => Report::ignored(
                &crate::notice::Ignored {
                    event_id: pod.event_id.clone(),
                    event_arn: None,
                    source: crate::notice::EKS_SOURCE.into(),
                    detail_type: crate::notice::EKS_DETAIL_TYPE.into(),
                    code: "wrong_function",
                    reason: format!(
                        "EKS Fargate pod {}/{} in cluster {}: the eks-fargate-pod function handles it",
                        pod.namespace, pod.pod, pod.cluster
                    ),
                },
                self.settings.dry_run,
            ),
            Ok(Parsed::Retirement(notice)) => {
                let outcomes = self.remediate(&notice, deadline).await;
                Report::handled(&notice, outcomes, self.settings.dry_run)
            }
        }
    }

    /// One outcome per target of the notice, in the notice's order.
    pub async fn remediate(
        &self,
        notice: &RetirementNotice,
        deadline: Option<Instant>,
    ) -> Vec<Outcome> {
        if let Some(skip) = self.out_of_scope(notice) {
            return notice
                .targets
                .iter()
                .map(|t| Outcome::new(t.clone(), Status::Skipped, skip.0, skip.1.clone()))
                .collect();
        }

        let mut outcomes: Vec<Option<Outcome>> = vec![None; notice.targets.len()];
        let mut services: Vec<(usize, ServiceRef)> = Vec::new();
        let mut tasks: Vec<(usize, TaskRef)> = Vec::new();
        for (i, target) in notice.targets.iter().enumerate() {
            match target {
                Target::Service(s) => services.push((i, s.clone())),
                Target::Task(t) => tasks.push((i, t.clone())),
                Target::Pod(_) => {
                    outcomes[i] = Some(Outcome::failed(
                        target.clone(),
                        code::UNRECOGNIZED_ENTITY,
                        "an EKS pod is not an ECS resource",
                        false,
                    ))
                }
                Target::Unrecognized { raw, why } => {
                    outcomes[i] = Some(Outcome::failed(
                        target.clone(),
                        code::UNRECOGNIZED_ENTITY,
                        format!("cannot tell which resource {raw:?} is: {why}"),
                        false,
                    ))
                }
            }
        }

        // Pass 0: observe standalone tasks, 100 per DescribeTasks call, per cluster.
        let mut relaunches = Vec::new();
        // (task index, index whose outcome it shares): tasks that belong to a service.
        let mut as_service: Vec<(usize, usize)> = Vec::new();
        for (i, decision, observed) in self.observe_tasks(&tasks, deadline).await {
            match (decision, observed) {
                (TaskDecision::Final(outcome), _) => outcomes[i] = Some(outcome),
                (TaskDecision::Relaunch, Some(task)) => relaunches.push((i, task)),
                (TaskDecision::Relaunch, None) => {
                    outcomes[i] = Some(Outcome::failed(
                        notice.targets[i].clone(),
                        code::API_ERROR,
                        "internal: relaunch planned without an observation",
                        true,
                    ))
                }
                (TaskDecision::AsService(service), _) => {
                    match services.iter().find(|(_, s)| *s == service) {
                        Some((j, _)) => as_service.push((i, *j)),
                        None => {
                            services.push((i, service));
                            as_service.push((i, i));
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
        let shared: Vec<(usize, Option<Outcome>)> = as_service
            .iter()
            .map(|&(i, j)| (i, outcomes[j].clone()))
            .collect();
        for (i, service_outcome) in shared {
            if let Some(mut outcome) = service_outcome {
                let service = outcome.target.to_string();
                outcome.target = notice.targets[i].clone();
                outcome.reason = format!(
                    "task belongs to {service}, remediated as such: {}",
                    outcome.reason
                );
                outcomes[i] = Some(outcome);
            }
        }

        outcomes
            .into_iter()
            .zip(&notice.targets)
            .map(|(o, t)| {
                // Every target was assigned above; this keeps the invariant without a panic.
                o.unwrap_or_else(|| {
                    Outcome::failed(
                        t.clone(),
                        code::API_ERROR,
                        "internal: no outcome recorded",
                        true,
                    )
                })
            })
            .collect()
    }

    /// The operator's word on a resource, from its tags and its cluster's. Without the cluster's
    /// tags (the lookup failed) nothing is acted on: an opted-out cluster must stay untouched.
    fn consent(
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
            Err(e) => Some(budget_failure(target, e.clone())),
        }
    }

    /// Resources of another account or Region cannot be reached with these clients.
    fn out_of_scope(&self, notice: &RetirementNotice) -> Option<(&'static str, String)> {
        // Organization view: Health aggregates events of member accounts into this one.
        if let (Some(affected), Some(receiving)) = (&notice.affected_account, &notice.account) {
            if affected != receiving {
                return Some((
                    code::OTHER_ACCOUNT,
                    format!("resources are in account {affected}, the event was received in {receiving}: deploy the remediator in {affected}"),
                ));
            }
        }
        if let (Some(affected), Some(ours)) = (
            notice.affected_account.as_ref().or(notice.account.as_ref()),
            self.settings.account.as_ref(),
        ) {
            if affected != ours {
                return Some((
                    code::OTHER_ACCOUNT,
                    format!("resources are in account {affected}; this remediator acts in {ours}: deploy it in that account"),
                ));
            }
        }
        if let (Some(theirs), Some(ours)) = (notice.region.as_ref(), self.settings.region.as_ref())
        {
            if theirs != ours {
                return Some((
                    code::OTHER_REGION,
                    format!("resources are in {theirs}; this remediator acts in {ours}: deploy it in that Region"),
                ));
            }
        }
        None
    }

    async fn observe_batch(
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
                    Err(Budget::Exhausted) => ServiceDecision::Final(budget_exhausted(service)),
                    Err(Budget::Api(e)) => ServiceDecision::Final(api_failure(service, e)),
                };
                (*i, service.clone(), decision)
            })
            .collect()
    }

    async fn force_new_deployment(
        &self,
        service: ServiceRef,
        previous: Option<String>,
        deadline: Option<Instant>,
    ) -> Outcome {
        let target = Target::Service(service.clone());
        if self.settings.dry_run {
            return Outcome::new(
                target,
                Status::Planned,
                code::WOULD_FORCE_NEW_DEPLOYMENT,
                "dry run: would call UpdateService(forceNewDeployment=true)",
            )
            .with_action(FORCE_NEW_DEPLOYMENT)
            .with_deployments(previous, None);
        }
        let result = self
            .with_backoff(deadline, || async {
                self.paced(deadline).await?;
                self.ecs
                    .force_new_deployment(&service.cluster, &service.service)
                    .await
                    .map_err(Budget::Api)
            })
            .await;
        match result {
            Ok(new_primary) => Outcome::new(
                target,
                Status::Acted,
                code::FORCED_NEW_DEPLOYMENT,
                "new deployment forced: ECS replaces the tasks under the service's deployment settings",
            )
            .with_action(FORCE_NEW_DEPLOYMENT)
            .with_deployments(previous, new_primary.map(|d| d.id)),
            Err(Budget::Api(e)) if e.kind == ApiErrorKind::NotFound => Outcome::new(
                target,
                Status::Skipped,
                code::NOT_FOUND,
                format!("service disappeared before it could be updated: {}", e.message),
            )
            .with_deployments(previous, None),
            Err(Budget::Exhausted) => budget_exhausted(&service).with_deployments(previous, None),
            Err(Budget::Api(e)) => api_failure(&service, &e)
                .with_action(FORCE_NEW_DEPLOYMENT)
                .with_deployments(previous, None),
        }
    }

    /// A CodeDeploy deployment that re-deploys what the PRIMARY task set runs, with the hooks
    /// of the revision that deployed it.
    async fn codedeploy_redeploy(
        &self,
        service: &ServiceRef,
        spec: &BlueGreenSpec,
        notice: &RetirementNotice,
        deadline: Option<Instant>,
    ) -> Outcome {
        let target = Target::Service(service.clone());
        let fail = |e: Budget| match e {
            Budget::Exhausted => budget_exhausted(service),
            Budget::Api(e) => api_failure(service, &e).with_action(CODEDEPLOY_REDEPLOY),
        };
        // 1. The deployment that created the PRIMARY task set names the group and the revision.
        let external_id = spec
            .primary_task_set
            .as_ref()
            .and_then(|t| t.external_id.clone());
        let previous = match &external_id {
            Some(id) => match self
                .with_backoff(deadline, || self.codedeploy.get_deployment(id))
                .await
            {
                Ok(previous) => previous,
                Err(e) => return fail(e),
            },
            None => None,
        };
        // 2. Fallback: the group whose ecsServices names this service.
        let group =
            match &previous {
                Some(d) => d.group.clone(),
                None => {
                    let found = self
                        .with_backoff(deadline, || {
                            self.codedeploy
                                .find_group(&service.cluster, &service.service)
                        })
                        .await;
                    match found {
                        Ok(Some(group)) => group,
                        Ok(None) => return Outcome::failed(
                            target,
                            code::NO_DEPLOYMENT_GROUP,
                            "no CodeDeploy ECS deployment group names this service: nothing can \
                             redeploy it; create a deployment of the same task definition by hand",
                            false,
                        )
                        .with_action(CODEDEPLOY_REDEPLOY),
                        Err(e) => return fail(e),
                    }
                }
            };
        // 3. One deployment per group: look before creating.
        let in_progress = match self
            .with_backoff(deadline, || {
                self.codedeploy.deployments(&group, &IN_PROGRESS_STATUSES)
            })
            .await
        {
            Ok(list) => list,
            Err(e) => return fail(e),
        };
        if let CodeDeployCheck::Final(outcome) = check_codedeploy(
            service,
            previous.as_ref(),
            &in_progress,
            notice.published_at,
        ) {
            let after = outcome.deployment_after.clone();
            return outcome.with_deployments(external_id.clone(), after);
        }
        // 4. The hooks to keep: the PRIMARY task set's revision, else the group's last success.
        let (hooks, hooks_note) = match self.hooks_source(&group, previous, deadline).await {
            Ok(found) => found,
            Err(e) => return fail(e),
        };
        let content = match appspec::build(spec, hooks).map(|a| a.to_content()) {
            Ok(Ok(content)) => content,
            Ok(Err(e)) => {
                return Outcome::failed(target, code::CANNOT_BUILD_APPSPEC, e.to_string(), false)
                    .with_action(CODEDEPLOY_REDEPLOY)
            }
            Err(e) => {
                return Outcome::failed(target, code::CANNOT_BUILD_APPSPEC, e.to_string(), false)
                    .with_action(CODEDEPLOY_REDEPLOY)
            }
        };
        let where_to = format!("{}/{}", group.application, group.group);
        if self.settings.dry_run {
            return Outcome::new(
                target,
                Status::Planned,
                code::WOULD_CREATE_CODEDEPLOY_DEPLOYMENT,
                format!(
                    "dry run: would create a CodeDeploy deployment in {where_to}; {hooks_note}"
                ),
            )
            .with_action(CODEDEPLOY_REDEPLOY)
            .with_deployments(external_id, None);
        }
        let description = format!(
            "Redeploy of the running task definition ahead of a Fargate retirement ({})",
            notice.event_arn
        );
        let sha256 = appspec::sha256_hex(&content);
        let created = self
            .with_backoff(deadline, || {
                self.codedeploy
                    .create_deployment(&group, &content, &sha256, &description)
            })
            .await;
        match created {
            Ok(id) => Outcome::new(
                target,
                Status::Acted,
                code::CODEDEPLOY_DEPLOYMENT_CREATED,
                format!("CodeDeploy deployment {id} created in {where_to}; {hooks_note}"),
            )
            .with_action(CODEDEPLOY_REDEPLOY)
            .with_deployments(external_id, Some(id)),
            Err(Budget::Api(e)) if e.kind == ApiErrorKind::Busy => Outcome::failed(
                target,
                code::DEPLOYMENT_IN_PROGRESS,
                format!("{where_to} already has a deployment in progress: a later attempt redeploys ({})", e.message),
                true,
            )
            .with_action(CODEDEPLOY_REDEPLOY)
            .with_deployments(external_id, None),
            Err(e) => fail(e).with_deployments(external_id, None),
        }
    }

    /// The lifecycle hooks to carry over, and a note saying where they came from.
    async fn hooks_source(
        &self,
        group: &crate::ports::DeploymentGroupRef,
        previous: Option<CodeDeployment>,
        deadline: Option<Instant>,
    ) -> Result<(Vec<std::collections::BTreeMap<String, String>>, String), Budget> {
        let source = match previous {
            Some(d) => Some(d),
            None => self
                .with_backoff(deadline, || {
                    self.codedeploy.deployments(group, &["Succeeded"])
                })
                .await?
                .into_iter()
                .next(),
        };
        Ok(match source {
            Some(d) => match d.appspec_content.as_deref().map(appspec::hooks_of) {
                Some(Some(hooks)) => {
                    let note = format!("{} lifecycle hook(s) kept from deployment {}", hooks.len(), d.id);
                    (hooks, note)
                }
                Some(None) => (Vec::new(), format!("deployment {}'s AppSpec could not be read: no hooks carried over", d.id)),
                None => (
                    Vec::new(),
                    format!(
                        "deployment {}'s revision is {}, not AppSpec content: no hooks carried over",
                        d.id,
                        d.revision_type.as_deref().unwrap_or("unknown")
                    ),
                ),
            },
            None => (Vec::new(), "no earlier deployment found: no hooks carried over".to_owned()),
        })
    }

    /// Describes the named tasks (per cluster, 100 per call; tasks named without a cluster are
    /// looked for in every cluster) and decides for each.
    async fn observe_tasks(
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
                            failed[k] = Some(budget_failure(&task_target(t), e.clone()));
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
                                    Some(budget_failure(&task_target(&tasks[k].1), e.clone()));
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
                    failed[k] = Some(budget_failure(&task_target(&tasks[k].1), e));
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
                            code::ALREADY_REPLACED,
                            format!("already relaunched and stopped: {reason}"),
                        )
                        .with_action(RELAUNCH_TASK);
                        return (*i, TaskDecision::Final(outcome), None);
                    }
                }
                (*i, plan_task(&target, observed.as_ref()), observed)
            })
            .collect()
    }

    /// Relaunches a standalone task and stops it once the replacement runs (and is healthy).
    async fn relaunch(
        &self,
        target: &Target,
        task: TaskObservation<E::Launch>,
        deadline: Option<Instant>,
    ) -> Outcome {
        let fail = |e: Budget| budget_failure(target, e).with_action(RELAUNCH_TASK);
        let existing = match self
            .with_backoff(deadline, || self.ecs.find_replacement(&task, REPLACES_TAG))
            .await
        {
            Ok(existing) => existing,
            Err(e) => return fail(e),
        };
        if self.settings.dry_run {
            let reason = match &existing {
                Some(r) => format!("dry run: replacement {} exists; would stop this task once it runs", r.id),
                None => "dry run: would RunTask a replacement with the same launch parameters, then stop this task".to_owned(),
            };
            return Outcome::new(
                target.clone(),
                Status::Planned,
                code::WOULD_RELAUNCH,
                reason,
            )
            .with_action(RELAUNCH_TASK)
            .with_deployments(Some(task.id.clone()), existing.map(|r| r.id));
        }
        let replacement = match existing {
            Some(r) => r,
            None => {
                let token = client_token(&task.id);
                match self
                    .with_backoff(deadline, || {
                        self.ecs
                            .run_replacement(&task, (REPLACES_TAG, &task.id), &token)
                    })
                    .await
                {
                    Ok(r) => r,
                    Err(e) => return fail(e),
                }
            }
        };
        let before = Some(task.id.clone());
        let after = Some(replacement.id.clone());
        match self.wait_ready(replacement, deadline).await {
            Err(e) => fail(e).with_deployments(before, after),
            Ok(Readiness::Stopped(r)) => Outcome::failed(
                target.clone(),
                code::REPLACEMENT_FAILED,
                format!(
                    "replacement {} stopped before it was ready ({}): the original task was left running",
                    r.id,
                    r.stopped_reason.as_deref().unwrap_or("no reason given")
                ),
                false,
            )
            .with_action(RELAUNCH_TASK)
            .with_deployments(before, after),
            Ok(Readiness::Pending(r)) => Outcome::failed(
                target.clone(),
                code::REPLACEMENT_PENDING,
                format!(
                    "replacement {} is {} (health {}): the original keeps running until a later attempt sees it ready",
                    r.id,
                    r.last_status,
                    r.health_status.as_deref().unwrap_or("UNKNOWN")
                ),
                true,
            )
            .with_action(RELAUNCH_TASK)
            .with_deployments(before, after),
            Ok(Readiness::Ready(r)) => {
                let reason = format!("{STOP_REASON_MARK}: replaced by task {} ahead of a Fargate retirement", r.id);
                match self
                    .with_backoff(deadline, || self.ecs.stop_task(&task.cluster, &task.arn, &reason))
                    .await
                {
                    Ok(()) => Outcome::new(
                        target.clone(),
                        Status::Acted,
                        code::RELAUNCHED,
                        format!("replacement {} is running; this task was stopped", r.id),
                    )
                    .with_action(RELAUNCH_TASK)
                    .with_deployments(before, after),
                    Err(e) => fail(e).with_deployments(before, after),
                }
            }
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
                return Ok(Readiness::Stopped(replacement));
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

    /// Waits for an `UpdateService` token, but not past the deadline.
    async fn paced(&self, deadline: Option<Instant>) -> Result<(), Budget> {
        let Some(limiter) = &self.update_limiter else {
            return Ok(());
        };
        match self.remaining(deadline) {
            None => {
                limiter.until_ready().await;
                Ok(())
            }
            Some(left) => tokio::time::timeout(left, limiter.until_ready())
                .await
                .map_err(|_| Budget::Exhausted),
        }
    }

    /// Time left before the margin, `None` when there is no deadline.
    fn remaining(&self, deadline: Option<Instant>) -> Option<Duration> {
        deadline.map(|d| {
            d.saturating_duration_since(Instant::now())
                .saturating_sub(self.settings.deadline_margin)
        })
    }

    /// Retries throttled and transient failures with exponential backoff, within the deadline.
    async fn with_backoff<T, F, Fut, Err>(
        &self,
        deadline: Option<Instant>,
        mut call: F,
    ) -> Result<T, Budget>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Err>>,
        Err: Into<Budget>,
    {
        let backoff = self.settings.backoff;
        let mut delay = backoff.initial;
        let mut round = 0;
        loop {
            if self.remaining(deadline).is_some_and(|left| left.is_zero()) {
                return Err(Budget::Exhausted);
            }
            match call().await.map_err(Into::into) {
                // Busy (a CodeDeploy deployment in progress) takes minutes: not retried here.
                Err(Budget::Api(e))
                    if matches!(e.kind, ApiErrorKind::Throttled | ApiErrorKind::Transient)
                        && round < backoff.rounds =>
                {
                    if self.remaining(deadline).is_some_and(|left| left <= delay) {
                        return Err(Budget::Api(e));
                    }
                    tracing::warn!(
                        operation = e.operation,
                        round,
                        delay_ms = delay.as_millis() as u64,
                        "{e}; backing off"
                    );
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(backoff.max);
                    round += 1;
                }
                other => return other,
            }
        }
    }
}

/// Tags per cluster name, or why they could not be read.
type ClusterTags = Result<HashMap<String, Vec<(String, String)>>, Budget>;

/// Why a call did not produce a result.
#[derive(Clone)]
enum Budget {
    Api(ApiError),
    /// The invocation deadline came first.
    Exhausted,
}

impl From<ApiError> for Budget {
    fn from(e: ApiError) -> Self {
        Budget::Api(e)
    }
}

fn budget_exhausted(service: &ServiceRef) -> Outcome {
    Outcome::failed(
        Target::Service(service.clone()),
        code::TIME_BUDGET_EXHAUSTED,
        "not reached before the invocation deadline: a retry picks it up",
        true,
    )
}

fn api_failure(service: &ServiceRef, e: &ApiError) -> Outcome {
    let target = Target::Service(service.clone());
    match e.kind {
        ApiErrorKind::NotFound => Outcome::new(
            target,
            Status::Skipped,
            code::NOT_FOUND,
            format!("not found: {}", e.message),
        ),
        ApiErrorKind::Throttled => Outcome::failed(
            target,
            code::THROTTLED,
            format!("still throttled after backing off: {e}"),
            true,
        ),
        ApiErrorKind::Transient => Outcome::failed(target, code::API_ERROR, e.to_string(), true),
        ApiErrorKind::Busy => {
            Outcome::failed(target, code::DEPLOYMENT_IN_PROGRESS, e.to_string(), true)
        }
        ApiErrorKind::Rejected => Outcome::failed(target, code::API_ERROR, e.to_string(), false),
    }
}

/// Where a replacement stands after waiting.
enum Readiness<L> {
    Ready(TaskObservation<L>),
    Stopped(TaskObservation<L>),
    Pending(TaskObservation<L>),
}

/// Marks the stop reason of a task this remediator replaced (ECS keeps it on the stopped task).
pub const STOP_REASON_MARK: &str = "retirement-remediator";

/// `RunTask`'s idempotency token (up to 64 characters), derived from the retiring task so that a
/// retry of the same relaunch cannot start a second replacement.
pub fn client_token(task_id: &str) -> String {
    let mut token = format!("retire-{task_id}");
    token.truncate(64);
    token
}

fn budget_failure(target: &Target, e: Budget) -> Outcome {
    match e {
        Budget::Exhausted => Outcome::failed(
            target.clone(),
            code::TIME_BUDGET_EXHAUSTED,
            "not reached before the invocation deadline: a retry picks it up",
            true,
        ),
        Budget::Api(e) => match e.kind {
            ApiErrorKind::NotFound => Outcome::new(
                target.clone(),
                Status::Skipped,
                code::NOT_FOUND,
                format!("not found: {}", e.message),
            ),
            ApiErrorKind::Throttled => Outcome::failed(
                target.clone(),
                code::THROTTLED,
                format!("still throttled after backing off: {e}"),
                true,
            ),
            ApiErrorKind::Transient | ApiErrorKind::Busy => {
                Outcome::failed(target.clone(), code::API_ERROR, e.to_string(), true)
            }
            ApiErrorKind::Rejected => {
                Outcome::failed(target.clone(), code::API_ERROR, e.to_string(), false)
            }
        },
    }
}

fn task_target(task: &TaskRef) -> Target {
    Target::Task(task.clone())
}
