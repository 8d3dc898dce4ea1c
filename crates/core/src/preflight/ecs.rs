//! Readiness rules for ECS: what the reader saw of one account and Region, and what the
//! remediator's own planner answered for it in a dry run, turned into findings and the
//! resources table. Pure: no I/O here (the reader is `remediator_aws::preflight`).
//!
//! Sources the rules rest on:
//! - `minimumHealthyPercent` is a lower limit on RUNNING tasks during a deployment "as a
//!   percentage of the desiredCount (rounded up to the nearest integer)" (ECS API reference,
//!   `DeploymentConfiguration`): at 0 the scheduler may stop every task before starting one.
//! - The deployment circuit breaker applies to rolling (`ECS`) deployments only (same page).
//! - `fargateTaskRetirementWaitPeriod` 0: "AWS sends the notification, and immediately starts to
//!   retire" (ECS developer guide, "Prepare for AWS Fargate task retirement").
//! - EC2 instance event windows (EC2 user guide, "event windows"; `CreateInstanceEventWindow`):
//!   each time range at least 2 hours, at least 4 hours in all per week, up to 200 windows per
//!   Region; with `fargateEventWindows` enabled a task is retired only inside the window its tags
//!   associate with it ([`crate::accounts::associates`]).

use chrono::{DateTime, Duration, Utc};

use super::{Finding, Resource};
use crate::accounts::{associates, event_windows_enabled};
use crate::names::{Code, Risk};
use crate::outcome::Outcome;
use crate::ports::{Controller, EventWindow, Rollout};
use crate::target::Target;
use crate::window::Windows;

/// AWS's limit of EC2 instance event windows per Region.
pub const EVENT_WINDOWS_PER_REGION: usize = 200;
/// From this many windows on, a finding says the limit is near.
pub const EVENT_WINDOWS_NEAR_LIMIT: usize = 180;
/// The shortest time range an event window may have.
pub const EVENT_WINDOW_MIN_RANGE: Duration = Duration::hours(2);
/// The least an event window must be open per week.
pub const EVENT_WINDOW_MIN_WEEKLY: Duration = Duration::hours(4);
/// `fargateTaskRetirementWaitPeriod`'s default, in days.
pub const DEFAULT_WAIT_DAYS: i64 = 7;

/// What the reader saw of one account and Region.
#[derive(Debug, Clone, Default)]
pub struct EcsScope {
    pub account: String,
    pub region: String,
    pub services: Vec<ServiceSeen>,
    /// Standalone tasks only (not a service's).
    pub tasks: Vec<TaskSeen>,
    pub clusters: Vec<ClusterSeen>,
    /// `ListAccountSettings(effectiveSettings=true)` pairs.
    pub settings: Vec<(String, String)>,
    /// Read only when `fargateEventWindows` is enabled.
    pub event_windows: EventWindowsSeen,
    /// Clusters whose reads failed, with why: findings of their own, the other clusters judged.
    pub unreadable_clusters: Vec<(String, String)>,
    /// What IAM's policy simulator answered for passing the standalone tasks' roles.
    pub pass_simulation: PassSimulation,
}

/// IAM's policy simulator on `iam:PassRole` of the standalone tasks' roles by the role that
/// would relaunch them (`SimulatePrincipalPolicy`, the context `iam:PassedToService` =
/// `ecs-tasks.amazonaws.com`): what the function's own policies, its permissions boundary and
/// the organization's SCPs decide, where `PASSABLE_TASK_ROLES` only repeats the template.
#[derive(Debug, Clone, Default)]
pub enum PassSimulation {
    /// No principal to simulate (`FUNCTION_ROLE_ARN` unset, a member account) or no role to pass:
    /// the roles are judged against `PASSABLE_TASK_ROLES`.
    #[default]
    NotRun,
    /// The simulator's answer for `principal`: each role it would refuse, with its decision
    /// (`implicitDeny`, `explicitDeny`); a role not listed is allowed.
    Answered {
        principal: String,
        refused: std::collections::BTreeMap<String, String>,
    },
    /// The simulator could not be asked (why): the roles are judged against the patterns.
    Unavailable(String),
}

/// The account's EC2 instance event windows, as far as they were read.
#[derive(Debug, Clone, Default)]
pub enum EventWindowsSeen {
    #[default]
    NotRead,
    Read(Vec<EventWindow>),
    Unreadable(String),
}

/// One ACTIVE service.
#[derive(Debug, Clone)]
pub struct ServiceSeen {
    pub cluster: String,
    pub name: String,
    pub rollout: Rollout,
    pub controller: Controller,
    /// `deploymentCircuitBreaker.enable`, when ECS says.
    pub circuit_breaker: Option<bool>,
    /// Its tasks run on Fargate (launch type or capacity provider).
    pub fargate: bool,
}

/// One RUNNING standalone task.
#[derive(Debug, Clone)]
pub struct TaskSeen {
    pub cluster: String,
    pub id: String,
    /// Its task role and execution role ARNs (task definition, or the task's override).
    pub roles: Vec<String>,
    pub fargate: bool,
}

/// One cluster with container instances.
#[derive(Debug, Clone)]
pub struct ClusterSeen {
    pub name: String,
    pub active_instances: usize,
    /// Whether a capacity provider with managed scaling serves it (`None`: not read).
    pub managed_scaling: Option<bool>,
}

/// The function's own settings the rules weigh.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// `PASSABLE_TASK_ROLES`: the template's `PassableTaskRoles`, what follows `role/` in the ARNs
    /// of the roles the function may pass, `*` and `?` as IAM wildcards (`ecs-tasks/*`, a name);
    /// `None`: not configured, not checked.
    pub passable_roles: Option<Vec<String>>,
    /// `FUNCTION_ROLE_ARN`: the role that relaunches standalone tasks in the function's own
    /// account; given, IAM's policy simulator answers for it instead of the patterns.
    pub function_role: Option<String>,
    /// `ECS_CLUSTER_NAMES`: the template's `EcsClusterNames`, the clusters the function may act
    /// in (wildcards as IAM's); empty: every cluster. The preflight reads these only.
    pub clusters: Vec<String>,
    /// `MAINTENANCE_WINDOWS` (empty: act at once).
    pub maintenance: Windows,
    /// `DEADLINE_MARGIN`.
    pub margin: Duration,
}

/// The findings and resources of one scope; `planned` is the dry run's outcomes for it.
pub fn assess(
    scope: &EcsScope,
    planned: &[Outcome],
    rules: &Rules,
    now: DateTime<Utc>,
) -> (Vec<Finding>, Vec<Resource>) {
    let at = |resource: String, risk: Risk, why: String, fix: String| {
        Finding::new(&scope.account, &scope.region, resource, risk, why, fix)
    };
    let mut findings: Vec<Finding> = planned.iter().filter_map(|o| from_plan(o, &at)).collect();
    findings.extend(scope.services.iter().flat_map(|s| service_rules(s, &at)));
    // Only a task the planner would relaunch has its roles passed.
    let relaunched = |t: &&TaskSeen| {
        planned.iter().any(|o| {
            o.code == Code::WouldRelaunch
                && matches!(&o.target, Target::Task(task) if task.task_id == t.id)
        })
    };
    findings.extend(
        scope
            .tasks
            .iter()
            .filter(relaunched)
            .flat_map(|t| role_rule(t, rules, &scope.pass_simulation, &at)),
    );
    findings.extend(scope.clusters.iter().filter_map(|c| cluster_rule(c, &at)));
    findings.extend(scope.unreadable_clusters.iter().map(|(cluster, why)| {
        at(
            format!("cluster {cluster}"),
            Risk::MemberUnreadable,
            format!("the cluster could not be read, so nothing in it was judged: {why}"),
            "give the reading role the preflight's reads on this cluster (ecs:ListServices, ecs:DescribeServices, ecs:ListTasks, ecs:DescribeTasks, ecs:ListContainerInstances), or leave it out with ECS_CLUSTER_NAMES".to_owned(),
        )
    }));
    findings.extend(account_rules(scope, rules, now, &at));
    let resources = planned
        .iter()
        .map(|o| Resource {
            account: scope.account.clone(),
            region: scope.region.clone(),
            resource: o.target.to_string(),
            code: o.code,
            action: o.action,
            reason: o.reason.clone(),
        })
        .collect();
    (findings, resources)
}

type At<'a> = dyn Fn(String, Risk, String, String) -> Finding + 'a;

/// What the planner's own answer says is at risk.
fn from_plan(o: &Outcome, at: &At) -> Option<Finding> {
    let resource = o.target.to_string();
    let service = match &o.target {
        Target::Service(s) => format!("--cluster {} --service {}", s.cluster, s.service),
        _ => String::new(),
    };
    let appspec_lost =
        o.reason.contains("could not be read") || o.reason.contains("not AppSpec content");
    let (risk, fix) = match o.code {
        Code::NoRoomToReplace => (
            Risk::NoRoomToReplace,
            format!("aws ecs update-service {service} --deployment-configuration maximumPercent=200,minimumHealthyPercent=100"),
        ),
        Code::ExternalController => (
            Risk::ExternalController,
            "replace its task set before the retirement date (CreateTaskSet → UpdateServicePrimaryTaskSet → DeleteTaskSet), or move the service to the ECS or CODE_DEPLOY controller".to_owned(),
        ),
        Code::CannotBuildAppspec => (
            Risk::AppspecUnreadable,
            "deploy the service once through CodeDeploy with an AppSpec given as content (revisionType AppSpecContent), so its hooks can be carried over".to_owned(),
        ),
        Code::WouldCreateCodedeployDeployment if appspec_lost => (
            Risk::AppspecUnreadable,
            "deploy the service once through CodeDeploy with an AppSpec given as content (revisionType AppSpecContent), so its hooks can be carried over".to_owned(),
        ),
        Code::WouldRelaunch => (
            Risk::UnownedStandaloneTask,
            "run it as a service (desiredCount 1), or start it from an owner that runs it again (Step Functions, AWS Batch, an EventBridge schedule); the remediator relaunches it meanwhile".to_owned(),
        ),
        Code::MemberRoleUnavailable => (
            Risk::MemberUnreadable,
            "deploy the member stack (infra/sam/member.yaml) in this account, trusting the function's role".to_owned(),
        ),
        // The planner could not judge it (a read refused, throttled, out of time): nothing about
        // it was checked, which is said rather than counted as fine. The last ACTIVE instance is
        // the single-instance rule's, from the cluster's own reading.
        _ if o.status == crate::outcome::Status::Failed && o.code != Code::NoCapacityElsewhere => (
            Risk::MemberUnreadable,
            "grant the reading role what the reason names (infra/sam/member.yaml, the function's policies), then run the preflight again".to_owned(),
        ),
        _ => return None,
    };
    let why = match risk {
        Risk::UnownedStandaloneTask => "a standalone task nothing restarts: AWS stops it at retirement and launches no replacement".to_owned(),
        _ => o.reason.clone(),
    };
    Some(at(resource, risk, why, fix))
}

/// A rolling service's own settings: an outage at each retirement, no circuit breaker.
fn service_rules(s: &ServiceSeen, at: &At) -> Vec<Finding> {
    let mut out = Vec::new();
    if s.controller != Controller::Ecs || s.rollout.daemon {
        return out;
    }
    let resource = format!("service {}/{}", s.cluster, s.name);
    let update = format!(
        "aws ecs update-service --cluster {} --service {}",
        s.cluster, s.name
    );
    let r = s.rollout;
    if let (Some(desired), Some(min)) = (r.desired_count, r.minimum_healthy_percent) {
        let must_keep = (i64::from(min) * i64::from(desired) + 99) / 100;
        if desired >= 1 && must_keep < 1 {
            out.push(at(
                resource.clone(),
                Risk::OutageAtRetirement,
                format!("minimumHealthyPercent {min} of {desired} desired task(s) keeps no task running: ECS may stop the only task(s) before a replacement starts, at every retirement and deployment"),
                format!("{update} --deployment-configuration minimumHealthyPercent=100,maximumPercent=200 (and desiredCount 2 or more for no single task)"),
            ));
        }
    }
    if s.circuit_breaker == Some(false) {
        out.push(at(
            resource,
            Risk::NoCircuitBreaker,
            "no deployment circuit breaker: a forced deployment whose tasks cannot start keeps retrying instead of failing".to_owned(),
            format!("{update} --deployment-configuration 'deploymentCircuitBreaker={{enable=true,rollback=true}}'"),
        ));
    }
    out
}

/// A standalone task whose roles the function may not pass: its relaunch would fail. IAM's
/// policy simulator decides when it answered; otherwise the configured patterns do.
fn role_rule(t: &TaskSeen, rules: &Rules, simulation: &PassSimulation, at: &At) -> Option<Finding> {
    let resource = format!("task {}/{}", t.cluster, t.id);
    if let PassSimulation::Answered { principal, refused } = simulation {
        let denied: Vec<String> = t
            .roles
            .iter()
            .filter_map(|r| refused.get(r).map(|d| format!("{r} ({d})")))
            .collect();
        if denied.is_empty() {
            return None;
        }
        return Some(at(
            resource,
            Risk::RoleNotPassable,
            format!("IAM's policy simulator: {principal} may not pass {} to ecs-tasks.amazonaws.com, so the relaunch's RunTask would be refused", denied.join(", ")),
            "grant the function's role iam:PassRole on these roles (the template's PassableTaskRoles), or lift the permissions boundary or SCP that denies it".to_owned(),
        ));
    }
    let passable = rules.passable_roles.as_ref()?;
    // What follows `role/` in the ARN: the role's path and name, as the template's grant reads it.
    let name = |arn: &str| arn.split_once(":role/").map_or(arn, |(_, n)| n).to_owned();
    let refused: Vec<String> = t
        .roles
        .iter()
        .map(|arn| name(arn))
        .filter(|n| !passable.iter().any(|p| matches(p, n)))
        .collect();
    if refused.is_empty() {
        return None;
    }
    let unasked = match simulation {
        PassSimulation::Unavailable(why) => {
            format!(" (IAM's policy simulator could not be asked: {why})")
        }
        _ => String::new(),
    };
    Some(at(
        resource,
        Risk::RoleNotPassable,
        format!("its role(s) {} are not in PassableTaskRoles ({}){unasked}: the relaunch's RunTask would be refused (iam:PassRole)", refused.join(", "), passable.join(", ")),
        format!("add {} to the PassableTaskRoles parameter and redeploy the stack", refused.join(",")),
    ))
}

/// Whether `name` matches the IAM-style pattern (`*` any run of characters, `?` one).
pub fn matches(pattern: &str, name: &str) -> bool {
    wildmatch::WildMatch::new(pattern).matches(name)
}

/// Whether the preflight reads `cluster` (`ECS_CLUSTER_NAMES`, every cluster when empty).
pub fn reads_cluster(rules: &Rules, cluster: &str) -> bool {
    rules.clusters.is_empty() || rules.clusters.iter().any(|p| matches(p, cluster))
}

/// ECS on EC2: one ACTIVE instance and nothing that adds another.
fn cluster_rule(c: &ClusterSeen, at: &At) -> Option<Finding> {
    (c.active_instances == 1 && c.managed_scaling == Some(false)).then(|| {
        at(
            format!("cluster {}", c.name),
            Risk::SingleInstanceCluster,
            "one ACTIVE container instance and no capacity provider with managed scaling: the remediator never drains the last instance (no_capacity_elsewhere), so its tasks stop when AWS retires it".to_owned(),
            "add a second instance, or a capacity provider with managed scaling on an Auto Scaling group".to_owned(),
        )
    })
}

/// The account's retirement settings, event windows and the function's maintenance windows.
fn account_rules(scope: &EcsScope, rules: &Rules, now: DateTime<Utc>, at: &At) -> Vec<Finding> {
    let mut out = Vec::new();
    let setting = |name: &str| {
        scope
            .settings
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let wait = setting("fargateTaskRetirementWaitPeriod");
    if wait == Some("0") {
        out.push(at(
            "account settings".to_owned(),
            Risk::RetirementWaitZero,
            "fargateTaskRetirementWaitPeriod is 0: AWS retires tasks as soon as it notifies, so the remediator can only race it".to_owned(),
            "aws ecs put-account-setting-default --name fargateTaskRetirementWaitPeriod --value 7".to_owned(),
        ));
    }
    if event_windows_enabled(&scope.settings) {
        out.extend(event_window_rules(scope, now, at));
    }
    let wait_days = wait_days(&scope.settings);
    if !rules.maintenance.is_empty() && wait_days > 0 {
        let latest = now + Duration::days(wait_days) - rules.margin;
        let opens = rules.maintenance.current(now).is_some()
            || rules.maintenance.next_start(now, latest).is_some();
        if !opens {
            out.push(at(
                "maintenance windows".to_owned(),
                Risk::MaintenanceWindowMissesDeadline,
                format!("MAINTENANCE_WINDOWS opens at no time in the {wait_days} day(s) between a notice and AWS's start, minus DEADLINE_MARGIN: a notice arriving now would act outside every window (at the margin)"),
                "widen MAINTENANCE_WINDOWS (a window every few days) or shorten DEADLINE_MARGIN".to_owned(),
            ));
        }
    }
    out
}

/// `fargateTaskRetirementWaitPeriod` in days (0, 7 or 14; the default when unset or odd).
pub fn wait_days(settings: &[(String, String)]) -> i64 {
    settings
        .iter()
        .find(|(n, _)| n == "fargateTaskRetirementWaitPeriod")
        .and_then(|(_, v)| v.parse::<i64>().ok())
        .filter(|d| (0..=14).contains(d))
        .unwrap_or(DEFAULT_WAIT_DAYS)
}

/// `fargateEventWindows` enabled: every Fargate task in a window, each window long enough, the
/// Region's limit not near.
fn event_window_rules(scope: &EcsScope, now: DateTime<Utc>, at: &At) -> Vec<Finding> {
    let windows = match &scope.event_windows {
        EventWindowsSeen::Read(w) => w,
        EventWindowsSeen::NotRead => return Vec::new(),
        EventWindowsSeen::Unreadable(why) => {
            return vec![at(
                "event windows".to_owned(),
                Risk::MemberUnreadable,
                format!("fargateEventWindows is enabled but the EC2 instance event windows could not be read: {why}"),
                "allow ec2:DescribeInstanceEventWindows to the function's (or member) role".to_owned(),
            )]
        }
    };
    let mut out = Vec::new();
    for w in windows {
        let week = w.windows.week_from(now);
        let total = week
            .iter()
            .fold(Duration::zero(), |sum, o| sum + (o.end - o.start));
        let shortest = week.iter().map(|o| o.end - o.start).min();
        if total < EVENT_WINDOW_MIN_WEEKLY || shortest.is_some_and(|d| d < EVENT_WINDOW_MIN_RANGE) {
            out.push(at(
                format!("event window {}", w.name),
                Risk::EventWindowTooShort,
                format!("open {} h a week, shortest range {} h: AWS asks for at least 4 h a week and 2 h per range", total.num_hours(), shortest.map_or(0, |d| d.num_hours())),
                "aws ec2 modify-instance-event-window with longer time ranges".to_owned(),
            ));
        }
    }
    if windows.len() >= EVENT_WINDOWS_NEAR_LIMIT {
        out.push(at(
            "event windows".to_owned(),
            Risk::EventWindowsNearLimit,
            format!("{} of {EVENT_WINDOWS_PER_REGION} EC2 instance event windows per Region are in use", windows.len()),
            "associate windows by cluster (aws:ecs:clusterArn) or all Fargate tasks (aws:ecs:fargateTask=true) instead of one per service".to_owned(),
        ));
    }
    let outside: Vec<String> = fargate_workloads(scope)
        .filter(|(cluster, service, _)| {
            !windows
                .iter()
                .any(|w| associates(w, Some(cluster), service.as_deref()))
        })
        .map(|(_, _, label)| label)
        .collect();
    if let Some(first) = outside.first() {
        out.push(at(
            first.clone(),
            Risk::TasksOutsideEventWindows,
            format!("{} Fargate workload(s) fall in no event window ({}{}): AWS retires them on its usual schedule", outside.len(), outside.iter().take(5).cloned().collect::<Vec<_>>().join(", "), if outside.len() > 5 { ", …" } else { "" }),
            "associate a window with tag aws:ecs:fargateTask=true (every Fargate task) or with their cluster's ARN (aws:ecs:clusterArn)".to_owned(),
        ));
    }
    out
}

/// (cluster, service, label) of every Fargate service and standalone Fargate task.
fn fargate_workloads(
    scope: &EcsScope,
) -> impl Iterator<Item = (String, Option<String>, String)> + '_ {
    let services = scope.services.iter().filter(|s| s.fargate).map(|s| {
        (
            s.cluster.clone(),
            Some(s.name.clone()),
            format!("service {}/{}", s.cluster, s.name),
        )
    });
    let tasks = scope.tasks.iter().filter(|t| t.fargate).map(|t| {
        (
            t.cluster.clone(),
            None,
            format!("task {}/{}", t.cluster, t.id),
        )
    });
    services.chain(tasks)
}

#[cfg(test)]
#[path = "ecs_tests.rs"]
mod tests;
