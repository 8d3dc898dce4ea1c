//! `remediator preflight`, ECS side: read one account and Region (read-only calls only), run the
//! remediator's own planner on a notice naming every service, standalone task and container
//! instance found (a dry run: no mutating call), and apply the readiness rules
//! ([`remediator_core::preflight::ecs`]). SDK types stop here.
//!
//! Calls per scope: `ListClusters`; per cluster `ListServices` (100 a page), `DescribeServices`
//! (10 a call, the API's limit), `ListTasks` (RUNNING, 100 a page), `DescribeTasks` (100 a call),
//! `DescribeTaskDefinition` once per task definition of a standalone task,
//! `ListContainerInstances` + `DescribeContainerInstances`; `ListAccountSettings`; with
//! `fargateEventWindows` enabled, `DescribeInstanceEventWindows`.
//!
//! The services are read once: each observation also answers the planner's dry run
//! ([`SdkEcs::keep_pre_read`]), so 1,000 services cost 100 `DescribeServices`, not 200. The
//! service reads and the task reads (with the container instances' reads, which share the task
//! reads' bucket) are paced at [`READ_SHARE`] of their buckets (ECS: 100
//! burst, 20 a second each), which the account's consoles, pipelines and this function's own
//! checks share.

use std::collections::HashMap;
use std::num::NonZeroU32;

use aws_config::SdkConfig;
use aws_sdk_ecs::types::{DesiredStatus, LaunchType, Service, ServiceField, Task, TaskField};
use aws_smithy_async::future::pagination_stream::PaginationStream;
use chrono::{DateTime, Duration, Utc};
use remediator_core::accounts::event_windows_enabled;
use remediator_core::names::Risk;
use remediator_core::notice::{Ec2Event, RetirementNotice};
use remediator_core::outcome::Outcome;
use remediator_core::pipeline::Remediate;
use remediator_core::ports::{
    ApiError, EcsInstances, EcsServices, EcsTasks, MAX_SERVICES_PER_DESCRIBE,
};
use remediator_core::preflight::ecs::{
    assess, reads_cluster, wait_days, ClusterSeen, EcsScope, EventWindowsSeen, Rules, ServiceSeen,
    TaskSeen,
};
use remediator_core::preflight::{Finding, Resource, Scopes};
use remediator_core::target::{InstanceRef, ServiceRef, Target, TaskRef};
use remediator_sdk::classify;

use crate::ecs::{observe, SdkEcs};
use crate::AwsRemediator;

/// A task definition's task role and execution role ARNs.
type Roles = (Option<String>, Option<String>);

/// `DescribeTasks` accepts at most 100 tasks per call.
const MAX_TASKS_PER_DESCRIBE: usize = 100;

/// The preflight's share of each ECS read bucket it draws on, per account and Region: half.
/// "Service read" (DescribeServices, ListServices) and "cluster resource read" (DescribeTasks,
/// ListTasks) are each 100 burst and 20 a second (domain notes §4); the other half stays for
/// everything else reading the account while a weekly preflight runs.
pub const READ_SHARE: (u32, u32) = (10, 50);

type Limiter = governor::DefaultDirectRateLimiter;

/// One limiter per read bucket, at [`READ_SHARE`].
struct Reads {
    services: Limiter,
    tasks: Limiter,
}

impl Reads {
    fn new() -> Self {
        let (per_second, burst) = READ_SHARE;
        let quota =
            governor::Quota::per_second(NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN))
                .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        Reads {
            services: governor::RateLimiter::direct(quota),
            tasks: governor::RateLimiter::direct(quota),
        }
    }
}

/// Every page of `pages`, a token of `limiter` taken before each poll that sends a request: a
/// page is asked for when it is polled, and only while the last one had a next token.
async fn paced_pages<O, E>(
    limiter: &Limiter,
    mut pages: PaginationStream<Result<O, E>>,
    more: impl Fn(&O) -> bool,
) -> Result<Vec<O>, E> {
    let mut read = Vec::new();
    loop {
        if read.last().is_none_or(&more) {
            limiter.until_ready().await;
        }
        match pages.next().await {
            Some(page) => read.push(page?),
            None => return Ok(read),
        }
    }
}

/// Whether a listing's page names a next one.
fn has_next(token: Option<&str>) -> bool {
    token.is_some_and(|t| !t.is_empty())
}

/// One scope's clients: the reads, and the remediator whose planner answers in a dry run.
pub struct Scope {
    ecs: SdkEcs,
    iam: aws_sdk_iam::Client,
    remediator: AwsRemediator,
    reads: Reads,
}

impl Scope {
    /// Both over `sdk` (the member's credentials in central mode); `settings` must be a dry run.
    pub fn new(sdk: &SdkConfig, mut settings: remediator_core::Settings) -> Self {
        settings.dry_run = true;
        // One ECS adapter for the reads and the planner: what the reads keep, the planner uses.
        let ecs = SdkEcs::with_ec2(aws_sdk_ecs::Client::new(sdk), aws_sdk_ec2::Client::new(sdk));
        Scope {
            remediator: crate::remediator_over(ecs.clone(), sdk, settings),
            ecs,
            iam: aws_sdk_iam::Client::new(sdk),
            reads: Reads::new(),
        }
    }

    /// The findings and resources of `account` in `region`; with `passer` (the role that would
    /// relaunch standalone tasks there), its PassRole on their roles as IAM's policy simulator
    /// answers.
    pub async fn preflight(
        &self,
        account: &str,
        region: &str,
        rules: &Rules,
        now: DateTime<Utc>,
        passer: Option<&str>,
    ) -> Result<(Vec<Finding>, Vec<Resource>), ApiError> {
        let (mut scope, instances) = self.read(rules).await?;
        scope.account = account.to_owned();
        scope.region = region.to_owned();
        let mut roles: Vec<String> = scope.tasks.iter().flat_map(|t| t.roles.clone()).collect();
        roles.sort();
        roles.dedup();
        if let (Some(principal), false) = (passer, roles.is_empty()) {
            scope.pass_simulation = crate::pass_role::simulate(&self.iam, principal, &roles).await;
        }
        let planned = self.plan(&scope, instances, account, region, now).await;
        Ok(assess(&scope, &planned, rules, now))
    }

    /// Everything the rules read, and the EC2 instance ids of the container instances. A
    /// cluster that cannot be read is noted and the others are read on; only the account-wide
    /// reads (`ListClusters`, `ListAccountSettings`) fail the whole scope.
    async fn read(&self, rules: &Rules) -> Result<(EcsScope, Vec<String>), ApiError> {
        let mut scope = EcsScope::default();
        let mut instances = Vec::new();
        let mut definitions = HashMap::new();
        let clusters = self.ecs.list_clusters().await?;
        for cluster in clusters.into_iter().filter(|c| reads_cluster(rules, c)) {
            if let Err(e) = self
                .read_cluster(&cluster, &mut scope, &mut instances, &mut definitions)
                .await
            {
                tracing::warn!(cluster, error = %e, "preflight: cluster not read");
                scope.unreadable_clusters.push((cluster, e.to_string()));
            }
        }
        scope.settings = self.ecs.account_settings().await?;
        if event_windows_enabled(&scope.settings) {
            scope.event_windows = match self.ecs.event_windows().await {
                Ok(w) => EventWindowsSeen::Read(w),
                Err(e) => EventWindowsSeen::Unreadable(e.to_string()),
            };
        }
        Ok((scope, instances))
    }

    /// One cluster's services, standalone tasks and container instances, added to `scope` only
    /// when all of them were read (a cluster half read would be judged on half).
    async fn read_cluster(
        &self,
        cluster: &str,
        scope: &mut EcsScope,
        instances: &mut Vec<String>,
        definitions: &mut HashMap<String, Roles>,
    ) -> Result<(), ApiError> {
        let services = self.services(cluster).await?;
        let tasks = self.standalone_tasks(cluster, definitions).await?;
        // ListContainerInstances and DescribeContainerInstances: the task reads' bucket.
        self.reads
            .tasks
            .until_n_ready(NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN))
            .await
            .ok();
        let found = self.ecs.container_instances(cluster).await?;
        let active = found.iter().filter(|c| c.status == "ACTIVE").count();
        // Only a lone instance needs to know whether anything adds another.
        let managed_scaling = match active {
            1 => Some(self.ecs.managed_scaling(cluster).await?),
            _ => None,
        };
        scope.services.extend(services);
        scope.tasks.extend(tasks);
        instances.extend(found.iter().map(|c| c.ec2_instance_id.clone()));
        if !found.is_empty() {
            scope.clusters.push(ClusterSeen {
                name: cluster.to_owned(),
                active_instances: active,
                managed_scaling,
            });
        }
        Ok(())
    }

    /// The cluster's ACTIVE services; each observation is kept for the planner.
    async fn services(&self, cluster: &str) -> Result<Vec<ServiceSeen>, ApiError> {
        let pages = self
            .ecs
            .client
            .list_services()
            .cluster(cluster)
            .max_results(100)
            .into_paginator()
            .send();
        let pages = paced_pages(&self.reads.services, pages, |p| has_next(p.next_token()))
            .await
            .map_err(|e| classify("ListServices", e))?;
        let arns: Vec<String> = pages
            .iter()
            .flat_map(|p| p.service_arns().to_vec())
            .collect();
        let mut seen = Vec::with_capacity(arns.len());
        for chunk in arns.chunks(MAX_SERVICES_PER_DESCRIBE) {
            self.reads.services.until_ready().await;
            let out = self
                .ecs
                .client
                .describe_services()
                .cluster(cluster)
                .set_services(Some(chunk.to_vec()))
                .include(ServiceField::Tags)
                .send()
                .await
                .map_err(|e| classify("DescribeServices", e))?;
            for service in out.services() {
                // Only ACTIVE services are planned: only theirs are kept.
                let Some(active) = service_seen(cluster, service) else {
                    continue;
                };
                seen.push(active);
                if let Some(observed) = observe(service) {
                    self.ecs.keep_pre_read(cluster, observed);
                }
            }
        }
        Ok(seen)
    }

    /// The cluster's RUNNING tasks that no service owns.
    async fn standalone_tasks(
        &self,
        cluster: &str,
        definitions: &mut HashMap<String, Roles>,
    ) -> Result<Vec<TaskSeen>, ApiError> {
        let pages = self
            .ecs
            .client
            .list_tasks()
            .cluster(cluster)
            .desired_status(DesiredStatus::Running)
            .max_results(100)
            .into_paginator()
            .send();
        let pages = paced_pages(&self.reads.tasks, pages, |p| has_next(p.next_token()))
            .await
            .map_err(|e| classify("ListTasks", e))?;
        let arns: Vec<String> = pages.iter().flat_map(|p| p.task_arns().to_vec()).collect();
        let mut seen = Vec::new();
        for chunk in arns.chunks(MAX_TASKS_PER_DESCRIBE) {
            self.reads.tasks.until_ready().await;
            let out = self
                .ecs
                .client
                .describe_tasks()
                .cluster(cluster)
                .set_tasks(Some(chunk.to_vec()))
                .include(TaskField::Tags)
                .send()
                .await
                .map_err(|e| classify("DescribeTasks", e))?;
            for task in out.tasks() {
                if task.group().is_some_and(|g| g.starts_with("service:")) {
                    continue;
                }
                let Some(arn) = task.task_arn() else { continue };
                let (task_role, execution_role) = self.roles_of(task, definitions).await?;
                // The task's overrides replace its definition's roles.
                let overrides = task.overrides();
                let roles = [
                    overrides
                        .and_then(|o| o.task_role_arn())
                        .map(str::to_owned)
                        .or(task_role),
                    overrides
                        .and_then(|o| o.execution_role_arn())
                        .map(str::to_owned)
                        .or(execution_role),
                ]
                .into_iter()
                .flatten()
                .collect();
                seen.push(TaskSeen {
                    cluster: cluster.to_owned(),
                    id: arn.rsplit('/').next().unwrap_or(arn).to_owned(),
                    roles,
                    fargate: task.launch_type() == Some(&LaunchType::Fargate)
                        || task
                            .capacity_provider_name()
                            .is_some_and(|c| c.starts_with("FARGATE")),
                });
            }
        }
        Ok(seen)
    }

    /// The task and execution role ARNs of the task's definition (one call per definition).
    async fn roles_of(
        &self,
        task: &Task,
        definitions: &mut HashMap<String, Roles>,
    ) -> Result<Roles, ApiError> {
        let Some(arn) = task.task_definition_arn() else {
            return Ok((None, None));
        };
        if let Some(roles) = definitions.get(arn) {
            return Ok(roles.clone());
        }
        let out = self
            .ecs
            .client
            .describe_task_definition()
            .task_definition(arn)
            .send()
            .await
            .map_err(|e| classify("DescribeTaskDefinition", e))?;
        let roles: Roles = out.task_definition().map_or((None, None), |d| {
            (
                d.task_role_arn().map(str::to_owned),
                d.execution_role_arn().map(str::to_owned),
            )
        });
        definitions.insert(arn.to_owned(), roles.clone());
        Ok(roles)
    }

    /// The remediator's own answers, in a dry run, for a notice naming everything read.
    async fn plan(
        &self,
        scope: &EcsScope,
        instances: Vec<String>,
        account: &str,
        region: &str,
        now: DateTime<Utc>,
    ) -> Vec<Outcome> {
        let mut targets: Vec<Target> = scope
            .services
            .iter()
            .map(|s| {
                Target::Service(ServiceRef {
                    cluster: s.cluster.clone(),
                    service: s.name.clone(),
                })
            })
            .collect();
        targets.extend(scope.tasks.iter().map(|t| {
            Target::Task(TaskRef {
                cluster: Some(t.cluster.clone()),
                task_id: t.id.clone(),
                arn: format!("arn:aws:ecs:{region}:{account}:task/{}/{}", t.cluster, t.id),
            })
        }));
        let wait_days = wait_days(&scope.settings);
        let notice = |targets: Vec<Target>, ec2: Option<Ec2Event>| {
            typical_notice(targets, ec2, account, region, now, wait_days)
        };
        let mut planned = Vec::new();
        if !targets.is_empty() {
            planned.extend(
                self.remediator
                    .remediate(&notice(targets, None), None)
                    .await,
            );
        }
        // One notice per instance: AWS schedules an event per instance, and a notice naming
        // them all would leave none of them room elsewhere in its cluster.
        for instance_id in instances {
            let ec2 = notice(
                vec![Target::Instance(InstanceRef { instance_id })],
                Some(Ec2Event::Retirement),
            );
            planned.extend(self.remediator.remediate(&ec2, None).await);
        }
        planned
    }
}

/// A notice as AWS would send one today: published now, AWS's start after the account's wait.
fn typical_notice(
    targets: Vec<Target>,
    ec2: Option<Ec2Event>,
    account: &str,
    region: &str,
    now: DateTime<Utc>,
    wait_days: i64,
) -> RetirementNotice {
    let start = now + Duration::days(wait_days);
    RetirementNotice {
        event_id: None,
        event_arn: format!(
            "arn:aws:health:{region}::event/ECS/PREFLIGHT/preflight-{}",
            now.timestamp()
        ),
        account: Some(account.to_owned()),
        affected_account: None,
        region: Some(region.to_owned()),
        published_at: now,
        start_time: Some(start),
        end_time: Some(start + remediator_core::notice::RETIREMENT_GRACE),
        status: None,
        communication_id: None,
        targets,
        ec2,
    }
}

/// What the rules need of one ACTIVE service.
fn service_seen(cluster: &str, service: &Service) -> Option<ServiceSeen> {
    let observed = observe(service)?;
    if observed.status != "ACTIVE" {
        return None;
    }
    let fargate = service.launch_type() == Some(&LaunchType::Fargate)
        || service
            .capacity_provider_strategy()
            .iter()
            .any(|c| c.capacity_provider().starts_with("FARGATE"));
    Some(ServiceSeen {
        cluster: cluster.to_owned(),
        name: observed.name,
        rollout: observed.rollout,
        controller: observed.controller,
        circuit_breaker: service
            .deployment_configuration()
            .and_then(|c| c.deployment_circuit_breaker())
            .map(|b| b.enable()),
        fargate,
    })
}

/// The preflight of every account and Region asked: the function's own account, and in central
/// mode the member accounts given, each through the member role a notice for it would use
/// ([`remediator_sdk::central::Central::for_account`]). A scope that cannot be read, or is not
/// read by `scopes.read_by`, is a `member_unreadable` finding, never a silent gap.
pub async fn run(
    base: &SdkConfig,
    settings: remediator_core::Settings,
    accounts: remediator_core::accounts::Accounts,
    scopes: &Scopes,
) -> remediator_core::preflight::Preflight {
    use remediator_core::preflight::Preflight;
    let central = remediator_sdk::central::Central::new(base, settings, accounts, Scope::new);
    let own = match central.home_account().await {
        Ok(own) => own,
        Err(why) => {
            let region = scopes
                .regions
                .first()
                .map(String::as_str)
                .unwrap_or_default();
            return Preflight::new(vec![unreadable("unknown", region, why)], Vec::new(), 0);
        }
    };
    let (mut findings, mut resources, mut read) = (Vec::new(), Vec::new(), 0);
    let mut members = scopes.members.clone();
    if scopes.organization {
        match remediator_sdk::organization::active_accounts(base).await {
            Ok(listed) => members.extend(listed),
            Err(why) => findings.push(organization_unreadable(&own, scopes, why)),
        }
    }
    let mut all_accounts = vec![own];
    for member in members {
        if !all_accounts.contains(&member) {
            all_accounts.push(member);
        }
    }
    for account in &all_accounts {
        for region in &scopes.regions {
            let scope = match central.for_account(account, region).await {
                Ok(scope) => scope,
                // Left out by the configuration on purpose: not a finding.
                Err((remediator_core::names::Code::AccountExcluded, why, _)) => {
                    tracing::info!(account, region, %why, "preflight: account left out");
                    continue;
                }
                Err((_, why, _)) => {
                    read += 1;
                    findings.push(unreadable(account, region, why));
                    continue;
                }
            };
            read += 1;
            // The function's own role relaunches in its own account; a member's role is judged
            // by the patterns (the member stack grants the same PassableTaskRoles).
            let passer = (*account == all_accounts[0])
                .then_some(scopes.rules.function_role.as_deref())
                .flatten();
            let reading = scope.preflight(account, region, &scopes.rules, scopes.now, passer);
            let answer = match scopes.read_by {
                Some(by) => tokio::time::timeout_at(by, reading).await.ok(),
                None => Some(reading.await),
            };
            match answer {
                Some(Ok((f, r))) => {
                    findings.extend(f);
                    resources.extend(r);
                }
                Some(Err(e)) => {
                    findings.push(unreadable(account, region, format!("reading failed: {e}")))
                }
                None => findings.push(out_of_time(account, region)),
            }
        }
    }
    Preflight::new(findings, resources, read)
}

/// A scope whose reads failed.
fn unreadable(account: &str, region: &str, why: String) -> Finding {
    Finding::new(
        account,
        region,
        format!("account {account}"),
        Risk::MemberUnreadable,
        why,
        "deploy the member stack (infra/sam/member.yaml) there, trusting the function's role, or give the reading role the preflight's reads (crates/core/README.md, Preflight)",
    )
}

/// The organization's accounts could not be listed: nothing but the function's own account and
/// `ACCOUNTS_INCLUDE` is read, and that gap is a finding (exit 1), not a silent narrowing.
fn organization_unreadable(own: &str, scopes: &Scopes, why: String) -> Finding {
    let region = scopes
        .regions
        .first()
        .map(String::as_str)
        .unwrap_or_default();
    Finding::new(
        own,
        region,
        "organization",
        Risk::MemberUnreadable,
        format!("{why}: the member accounts were not listed, so only this account and ACCOUNTS_INCLUDE were read"),
        "run the remediator in the organization's management account or a delegated administrator with organizations:ListAccounts (the template's OrganizationAccounts=on grants it), or set ORGANIZATION_ACCOUNTS=off and list the accounts in ACCOUNTS_INCLUDE",
    )
}

/// A scope the invocation had no time left to read (or to finish reading).
fn out_of_time(account: &str, region: &str) -> Finding {
    Finding::new(
        account,
        region,
        format!("account {account}"),
        Risk::MemberUnreadable,
        "not read: the scheduled preflight's invocation ran out of time before this scope was read".to_owned(),
        "raise the ECS function's timeout, narrow ECS_CLUSTER_NAMES, or run `remediator preflight` from the CLI (no deadline)",
    )
}
