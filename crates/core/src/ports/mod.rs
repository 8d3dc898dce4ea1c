//! Narrow ports to the outside world. The planner and engine only see these types; the AWS SDK
//! implements them in `remediator-aws`, tests implement them with fakes.

use std::future::Future;

use chrono::{DateTime, Utc};

/// ECS deployment controller of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Controller {
    /// Rolling update and the ECS-native BLUE_GREEN / LINEAR / CANARY strategies
    /// (`deploymentController` absent or `ECS`).
    Ecs,
    CodeDeploy,
    External,
    Unknown(String),
}

/// A service deployment as far as remediation cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentInfo {
    pub id: String,
    pub created_at: Option<DateTime<Utc>>,
}

/// One of a service's deployments, as far as a follow-up check cares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeploymentState {
    pub id: String,
    /// `PRIMARY`, `ACTIVE` (older, still draining) or `INACTIVE`.
    pub status: String,
    /// `IN_PROGRESS`, `COMPLETED` or `FAILED` (the deployment circuit breaker).
    pub rollout_state: Option<String>,
    pub rollout_state_reason: Option<String>,
    pub running_count: i32,
    pub desired_count: i32,
    pub failed_tasks: i32,
    pub created_at: Option<DateTime<Utc>>,
    /// When ECS last changed the deployment (its counts move as tasks start and stop).
    pub updated_at: Option<DateTime<Utc>>,
}

/// One service as `DescribeServices` showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceObservation {
    pub name: String,
    pub arn: Option<String>,
    /// `ACTIVE`, `DRAINING` or `INACTIVE`.
    pub status: String,
    pub controller: Controller,
    /// The deployment with `status == PRIMARY`.
    pub primary_deployment: Option<DeploymentInfo>,
    /// What a CodeDeploy redeploy needs (task sets, load balancers, network); empty otherwise.
    pub blue_green: BlueGreenSpec,
    /// The service's tags (opt-out / opt-in).
    pub tags: Vec<(String, String)>,
    /// How a rolling deployment may replace tasks, when ECS says.
    pub rollout: Rollout,
    /// Every deployment ECS lists (rolling services): what follow-up checks look at.
    pub deployments: Vec<DeploymentState>,
    /// How ECS rolls a deployment out: the waits it takes on purpose.
    pub lifecycle: Lifecycle,
    /// An ECS Express Mode service (`resourceManagementType` `ECS`).
    pub express: bool,
}

/// A service's task count and its deployment configuration's limits, as `DescribeServices`
/// shows them (`None` when it does not say).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rollout {
    /// `schedulingStrategy` `DAEMON`: one task per container instance, never moved by draining.
    pub daemon: bool,
    pub desired_count: Option<i32>,
    pub minimum_healthy_percent: Option<i32>,
    pub maximum_percent: Option<i32>,
}

impl Rollout {
    /// Whether a rolling deployment can replace any task: ECS may start a new task only while
    /// running tasks stay at or under `maximumPercent` of the desired count (rounded down), and
    /// stop an old one only while healthy tasks stay at or over `minimumHealthyPercent` (rounded
    /// up). With neither (100 % / 100 %), a forced deployment stalls with the old tasks running.
    pub fn has_room(&self) -> bool {
        let (Some(desired), Some(min), Some(max)) = (
            self.desired_count,
            self.minimum_healthy_percent,
            self.maximum_percent,
        ) else {
            return true;
        };
        if desired <= 0 {
            return true;
        }
        let desired = i64::from(desired);
        let may_run = i64::from(max) * desired / 100;
        let must_keep = (i64::from(min) * desired + 99) / 100;
        may_run > desired || must_keep < desired
    }
}

/// `awsvpc` network settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsVpc {
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    /// `ENABLED` / `DISABLED`.
    pub assign_public_ip: Option<String>,
}

/// One capacity provider strategy item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapacityProviderItem {
    pub provider: String,
    pub weight: i32,
    pub base: i32,
}

/// A service load balancer's target container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadBalancerTarget {
    pub container_name: Option<String>,
    pub container_port: Option<i32>,
}

/// A task set of a CODE_DEPLOY or EXTERNAL service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSetInfo {
    pub id: String,
    /// For CODE_DEPLOY services: the CodeDeploy deployment id that created the task set.
    pub external_id: Option<String>,
    pub task_definition: String,
    pub platform_version: Option<String>,
    pub network: Option<AwsVpc>,
    pub capacity_provider_strategy: Vec<CapacityProviderItem>,
}

/// What runs now, as far as a blue/green redeploy must reproduce it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlueGreenSpec {
    /// The task set with `status == PRIMARY`.
    pub primary_task_set: Option<TaskSetInfo>,
    pub load_balancers: Vec<LoadBalancerTarget>,
    pub platform_version: Option<String>,
    pub network: Option<AwsVpc>,
    pub capacity_provider_strategy: Vec<CapacityProviderItem>,
}

/// The answer to one batched describe call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribedServices {
    pub services: Vec<ServiceObservation>,
    /// `(arn or name, reason)` pairs from the response's `failures[]`.
    pub failures: Vec<(String, String)>,
}

/// How an API failure should be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiErrorKind {
    /// The call was throttled even after the SDK's own retries: back off and try again.
    Throttled,
    /// A server-side or network fault: a later attempt can succeed. For a call that changes
    /// something it is ambiguous (the change may have been made and the answer lost), so the
    /// engine re-observes before calling again.
    Transient,
    /// The resource (or its cluster) does not exist or is no longer active: final.
    NotFound,
    /// The request was refused for a reason retrying cannot fix (permissions, invalid
    /// parameters): final.
    Rejected,
    /// The target is busy with other work (CodeDeploy: a deployment of the group is already in
    /// progress): retry later, not in a tight loop.
    Busy,
}

/// An error from a port, classified once, at the edge.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation} failed ({kind:?}): {message}")]
pub struct ApiError {
    pub operation: &'static str,
    pub kind: ApiErrorKind,
    pub message: String,
}

impl ApiError {
    pub fn new(operation: &'static str, kind: ApiErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            operation,
            kind,
            message: message.into(),
        }
    }

    /// Whether waiting and trying again can help.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            ApiErrorKind::Throttled | ApiErrorKind::Transient | ApiErrorKind::Busy
        )
    }
}

/// The ECS calls the service remediation needs.
pub trait EcsServices: Send + Sync {
    /// Describes up to [`MAX_SERVICES_PER_DESCRIBE`] services of one cluster. A cluster that
    /// does not exist is reported as every service missing, not as an error.
    fn describe_services(
        &self,
        cluster: &str,
        services: &[String],
    ) -> impl Future<Output = Result<DescribedServices, ApiError>> + Send;

    /// Tags of each named cluster (clusters that do not exist are left out).
    fn cluster_tags(
        &self,
        clusters: &[String],
    ) -> impl Future<
        Output = Result<std::collections::HashMap<String, Vec<(String, String)>>, ApiError>,
    > + Send;

    /// `UpdateService(forceNewDeployment=true)`; returns the new PRIMARY deployment.
    ///
    /// An implementation must not resend the request itself after a failure that leaves open
    /// whether it took effect (5xx, timeout, lost connection), and must report such a failure
    /// as [`ApiErrorKind::Transient`]: the engine describes the service before calling again.
    /// Throttling (ECS applies nothing from a throttled request) may be retried.
    fn force_new_deployment(
        &self,
        cluster: &str,
        service: &str,
    ) -> impl Future<Output = Result<Option<DeploymentInfo>, ApiError>> + Send;

    /// The account's effective ECS settings (`ListAccountSettings`, `effectiveSettings`), as
    /// (name, value) pairs: the retirement ones among them change when AWS retires tasks.
    fn account_settings(
        &self,
    ) -> impl Future<Output = Result<Vec<(String, String)>, ApiError>> + Send {
        async { Ok(Vec::new()) }
    }

    /// The Region's EC2 instance event windows associated by tags (`DescribeInstanceEventWindows`):
    /// with `fargateEventWindows` enabled, AWS retires Fargate tasks only inside those its tags
    /// associate with the task (`aws:ecs:clusterArn`, `aws:ecs:serviceArn`,
    /// `aws:ecs:fargateTask=true`).
    fn event_windows(&self) -> impl Future<Output = Result<Vec<EventWindow>, ApiError>> + Send {
        async { Ok(Vec::new()) }
    }

    /// Up to [`MAX_SERVICE_DEPLOYMENTS_PER_DESCRIBE`] service deployments by ARN
    /// (`DescribeServiceDeployments`); those ECS does not know are left out. An adapter that
    /// cannot read them answers an error: follow-up checks then judge nothing final on them.
    fn describe_service_deployments(
        &self,
        arns: &[String],
    ) -> impl Future<Output = Result<Vec<ServiceDeploymentView>, ApiError>> + Send {
        let _ = arns;
        async {
            Err(ApiError::new(
                "DescribeServiceDeployments",
                ApiErrorKind::Rejected,
                "not available through this adapter",
            ))
        }
    }
}

/// An EC2 instance event window, as the retirement timing needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventWindow {
    /// Its name, else its id.
    pub name: String,
    /// When it is open (UTC).
    pub windows: crate::window::Windows,
    /// The tags that associate resources with it, as (key, value).
    pub tags: Vec<(String, String)>,
}

/// `DescribeServices` accepts at most 10 services per call.
pub const MAX_SERVICES_PER_DESCRIBE: usize = 10;

/// A CodeDeploy application and deployment group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentGroupRef {
    pub application: String,
    pub group: String,
}

/// A CodeDeploy deployment as remediation cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeDeployment {
    pub id: String,
    pub group: DeploymentGroupRef,
    /// `Created`, `Queued`, `InProgress`, `Baking`, `Ready`, `Succeeded`, `Failed`, `Stopped`.
    pub status: String,
    pub created_at: Option<DateTime<Utc>>,
    /// The revision's AppSpec content, when the revision was `AppSpecContent`.
    pub appspec_content: Option<String>,
    /// The revision type (`AppSpecContent`, `S3`, `GitHub`, `String`), when known.
    pub revision_type: Option<String>,
    /// `errorInformation` of a failed or stopped deployment (`CODE: message`).
    pub error: Option<String>,
}

impl CodeDeployment {
    /// Statuses in which CodeDeploy still counts the deployment against the group's limit of one.
    pub fn is_in_progress(&self) -> bool {
        IN_PROGRESS_STATUSES.contains(&self.status.as_str())
    }
}

/// CodeDeploy deployment statuses that block a new deployment of the same group.
pub const IN_PROGRESS_STATUSES: [&str; 5] = ["Created", "Queued", "InProgress", "Baking", "Ready"];

/// The CodeDeploy calls a blue/green redeploy needs.
pub trait CodeDeployApi: Send + Sync {
    /// `GetDeployment`; `Ok(None)` when CodeDeploy no longer knows the id.
    fn get_deployment(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<CodeDeployment>, ApiError>> + Send;

    /// The ECS deployment group whose `ecsServices` names (cluster, service), searching every
    /// application of the account.
    fn find_group(
        &self,
        cluster: &str,
        service: &str,
    ) -> impl Future<Output = Result<Option<DeploymentGroupRef>, ApiError>> + Send;

    /// Deployments of the group in `statuses`, newest first.
    fn deployments(
        &self,
        group: &DeploymentGroupRef,
        statuses: &[&str],
    ) -> impl Future<Output = Result<Vec<CodeDeployment>, ApiError>> + Send;

    /// The group's newest deployment in `statuses` (the hooks fallback: its last success).
    ///
    /// A group's history grows with every release, so an implementation should bound the
    /// search (the SDK adapter lists in `createTimeRange` windows back from now and stops at the
    /// first window that holds any); this default reads everything [`Self::deployments`] returns.
    fn newest_deployment(
        &self,
        group: &DeploymentGroupRef,
        statuses: &[&str],
    ) -> impl Future<Output = Result<Option<CodeDeployment>, ApiError>> + Send {
        async move { Ok(self.deployments(group, statuses).await?.into_iter().next()) }
    }

    /// `CreateDeployment` with AppSpec content; returns the new deployment id.
    /// `DeploymentLimitExceededException` must come back as [`ApiErrorKind::Busy`].
    ///
    /// An implementation must not resend the request itself after a failure that leaves open
    /// whether the deployment was created (5xx, timeout, lost connection): the engine looks at
    /// the group's deployments before calling again. Throttling may be retried.
    fn create_deployment(
        &self,
        group: &DeploymentGroupRef,
        appspec_content: &str,
        sha256: &str,
        description: &str,
    ) -> impl Future<Output = Result<String, ApiError>> + Send;
}

/// One standalone task as `DescribeTasks` showed it. `L` is the adapter's own record of how the
/// task was launched (overrides, network, capacity…), carried back to it untouched to relaunch.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskObservation<L> {
    pub arn: String,
    pub id: String,
    /// Cluster name.
    pub cluster: String,
    pub last_status: String,
    pub desired_status: String,
    pub group: Option<String>,
    pub started_by: Option<String>,
    pub task_definition: String,
    pub tags: Vec<(String, String)>,
    /// `HEALTHY`, `UNHEALTHY`, `UNKNOWN` (no health checks, or not yet known).
    pub health_status: Option<String>,
    /// Whether the task definition declares container health checks.
    pub has_health_checks: bool,
    pub stopped_reason: Option<String>,
    /// `stopCode` once ECS stopped the task (`EssentialContainerExited`, `TaskFailedToStart`,
    /// `UserInitiated`, …); `None` while it runs.
    pub stop_code: Option<String>,
    /// The `exitCode` of each essential container, as `DescribeTasks` reports it (`None`: it
    /// reports none, as for a container that never started).
    pub essential_exit_codes: Vec<Option<i32>>,
    pub launch: L,
}

impl<L> TaskObservation<L> {
    /// Whether a stopped task ran to its end and succeeded: a one-off job that finished.
    ///
    /// The ECS API reference (`Task.stopCode`: "the stop code indicating why a task was
    /// stopped", one of `TaskFailedToStart`, `EssentialContainerExited`, `UserInitiated`,
    /// `ServiceSchedulerInitiated`, `SpotInterruption`, `TerminationNotice`,
    /// `InfrastructureHealth`; `Container.exitCode`: "the exit code returned from the
    /// container", not required) tells a finished job from a crash only together: the task
    /// stopped because an essential container exited, and every essential container reported
    /// exit code 0. Anything else (a non-zero exit, `TaskFailedToStart`, a stop by a user or
    /// AWS, an exit code missing) is not known to have done its job. Non-essential containers
    /// are left out: ECS stops them when an essential one exits, so theirs is ECS's signal.
    pub fn finished_its_job(&self) -> bool {
        self.stop_code.as_deref() == Some("EssentialContainerExited")
            && !self.essential_exit_codes.is_empty()
            && self.essential_exit_codes.iter().all(|c| *c == Some(0))
    }

    /// How a stopped task ended, for a reason: its stopped reason, stop code and essential
    /// containers' exit codes, as ECS gave them.
    pub fn how_it_stopped(&self) -> String {
        let codes: Vec<String> = self
            .essential_exit_codes
            .iter()
            .map(|c| c.map_or_else(|| "none".to_owned(), |c| c.to_string()))
            .collect();
        format!(
            "{}; stop code {}, essential exit code(s) {}",
            self.stopped_reason.as_deref().unwrap_or("no reason given"),
            self.stop_code.as_deref().unwrap_or("none"),
            if codes.is_empty() {
                "none".to_owned()
            } else {
                codes.join(", ")
            }
        )
    }

    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The answer to one batched `DescribeTasks`.
#[derive(Debug, Clone, PartialEq)]
pub struct DescribedTasks<L> {
    pub tasks: Vec<TaskObservation<L>>,
    /// `(arn or id, reason)` pairs from the response's `failures[]`.
    pub failures: Vec<(String, String)>,
}

/// `DescribeTasks` accepts at most 100 tasks per call.
pub const MAX_TASKS_PER_DESCRIBE: usize = 100;

/// The ECS calls standalone-task relaunch needs.
pub trait EcsTasks: Send + Sync {
    /// How the adapter remembers a task's launch parameters.
    type Launch: Clone + Send + Sync + std::fmt::Debug + 'static;

    /// Describes up to [`MAX_TASKS_PER_DESCRIBE`] tasks of one cluster, with their tags. A
    /// cluster that does not exist is reported as every task missing.
    fn describe_tasks(
        &self,
        cluster: &str,
        tasks: &[String],
    ) -> impl Future<Output = Result<DescribedTasks<Self::Launch>, ApiError>> + Send;

    /// Names of every cluster (to place tasks named by the old short ARN).
    fn list_clusters(&self) -> impl Future<Output = Result<Vec<String>, ApiError>> + Send;

    /// A task of the same cluster and family, not stopped, tagged `marker_key = original.id`.
    fn find_replacement(
        &self,
        original: &TaskObservation<Self::Launch>,
        marker_key: &str,
    ) -> impl Future<Output = Result<Option<TaskObservation<Self::Launch>>, ApiError>> + Send;

    /// `RunTask` with the original's launch parameters, its tags plus `marker`, and `client_token`.
    fn run_replacement(
        &self,
        original: &TaskObservation<Self::Launch>,
        marker: (&str, &str),
        client_token: &str,
    ) -> impl Future<Output = Result<TaskObservation<Self::Launch>, ApiError>> + Send;

    /// `StopTask` with a reason.
    fn stop_task(
        &self,
        cluster: &str,
        task_arn: &str,
        reason: &str,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
}

mod budget;
mod deployments;
mod instances;
mod notifier;

pub use budget::{Bucket, BudgetKey, Grant, SharedBudget};
pub use deployments::{
    HookView, Lifecycle, ServiceDeploymentView, MAX_SERVICE_DEPLOYMENTS_PER_DESCRIBE,
};
pub use instances::{ContainerInstance, EcsInstances, InstanceEvent, MAX_INSTANCES_PER_UPDATE};
pub use notifier::{NoNotifier, Notifier};
