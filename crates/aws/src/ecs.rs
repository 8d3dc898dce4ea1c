//! The ECS port, implemented with `aws-sdk-ecs`. SDK types stop here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_ecs::types::{
    CapacityProviderStrategyItem, ClusterField, NetworkConfiguration, Service, ServiceField,
    TaskSet,
};
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority, RetryReason,
};
use aws_smithy_types::retry::ErrorKind;
use chrono::{DateTime, Utc};
use remediator_core::ports::{
    ApiError, ApiErrorKind, AwsVpc, BlueGreenSpec, CapacityProviderItem, Controller,
    DeploymentInfo, DeploymentState, DescribedServices, EcsServices, EventWindow,
    LoadBalancerTarget, Rollout, ServiceDeploymentView, ServiceObservation, TaskSetInfo,
};
use remediator_core::window::Windows;
use remediator_sdk::classify;

/// ECS through the AWS SDK (and EC2, for task network interfaces). Cheap to clone: the
/// clients are shared.
#[derive(Clone, Debug)]
pub struct SdkEcs {
    pub(crate) client: aws_sdk_ecs::Client,
    pub(crate) ec2: Option<aws_sdk_ec2::Client>,
    /// Auto Scaling, for replacing drained container instances (`REPLACE_DRAINED_INSTANCES`).
    pub(crate) autoscaling: Option<aws_sdk_autoscaling::Client>,
    pub(crate) definitions: Definitions,
    /// Services already described by the caller (the preflight's own read), answering
    /// `describe_services` without a call: one read of an account serves its rules and the
    /// planner's dry run. Empty (the default) outside the preflight.
    pub(crate) pre_read: PreRead,
}

/// Service observations by (cluster, service name), each answering one `describe_services`.
pub(crate) type PreRead = Arc<Mutex<HashMap<(String, String), ServiceObservation>>>;

/// What a task definition says about its containers, per task definition ARN (task definitions
/// are immutable), so a relaunch looks each one up once per execution environment.
pub(crate) type Definitions = Arc<Mutex<HashMap<String, Definition>>>;

/// What a task's observation needs from its task definition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Definition {
    /// An essential container declares a `healthCheck`.
    pub(crate) has_health_checks: bool,
    /// The names of its essential containers (`essential` is true when left out).
    pub(crate) essential: Vec<String>,
}

impl SdkEcs {
    /// ECS only: enough for services; relaunching awsvpc tasks needs [`SdkEcs::with_ec2`].
    pub fn new(client: aws_sdk_ecs::Client) -> Self {
        SdkEcs {
            client,
            ec2: None,
            autoscaling: None,
            definitions: Default::default(),
            pre_read: Default::default(),
        }
    }

    pub fn with_ec2(client: aws_sdk_ecs::Client, ec2: aws_sdk_ec2::Client) -> Self {
        SdkEcs {
            ec2: Some(ec2),
            ..SdkEcs::new(client)
        }
    }

    /// The same, with Auto Scaling (container instances in Auto Scaling groups).
    pub fn with_autoscaling(self, autoscaling: aws_sdk_autoscaling::Client) -> Self {
        SdkEcs {
            autoscaling: Some(autoscaling),
            ..self
        }
    }

    /// One `DescribeServices` call (up to 10 services).
    async fn describe_services_call(
        &self,
        cluster: &str,
        services: &[String],
    ) -> Result<DescribedServices, ApiError> {
        const OP: &str = "DescribeServices";
        let response = self
            .client
            .describe_services()
            .cluster(cluster)
            .set_services(Some(services.to_vec()))
            .include(ServiceField::Tags)
            .send()
            .await;
        match response {
            Ok(out) => Ok(DescribedServices {
                services: out.services().iter().filter_map(observe).collect(),
                failures: failures(out.failures()),
            }),
            Err(e) => {
                let e = classify(OP, e);
                if e.kind == ApiErrorKind::NotFound {
                    // The cluster is gone: so is every service in it.
                    Ok(DescribedServices {
                        services: Vec::new(),
                        failures: services
                            .iter()
                            .map(|s| (s.clone(), format!("cluster {cluster} not found")))
                            .collect(),
                    })
                } else {
                    Err(e)
                }
            }
        }
    }

    /// The pre-read observations of `services` in `cluster` (each answers once), and the names
    /// left to describe.
    fn take_pre_read(
        &self,
        cluster: &str,
        services: &[String],
    ) -> (Vec<ServiceObservation>, Vec<String>) {
        let mut pre_read = self.pre_read.lock().unwrap_or_else(|p| p.into_inner());
        if pre_read.is_empty() {
            return (Vec::new(), services.to_vec());
        }
        let (mut known, mut left) = (Vec::new(), Vec::new());
        for name in services {
            match pre_read.remove(&(cluster.to_owned(), name.clone())) {
                Some(seen) => known.push(seen),
                None => left.push(name.clone()),
            }
        }
        (known, left)
    }

    /// Keeps `observation` of a service of `cluster` to answer the next `describe_services`
    /// naming it (the preflight: its read serves the planner's dry run).
    pub(crate) fn keep_pre_read(&self, cluster: &str, observation: ServiceObservation) {
        let mut pre_read = self.pre_read.lock().unwrap_or_else(|p| p.into_inner());
        pre_read.insert((cluster.to_owned(), observation.name.clone()), observation);
    }

    /// One `DescribeClusters` call: the tags of each cluster found.
    async fn describe_cluster_tags(
        &self,
        clusters: &[String],
    ) -> Result<Vec<(String, Vec<(String, String)>)>, ApiError> {
        let out = self
            .client
            .describe_clusters()
            .set_clusters(Some(clusters.to_vec()))
            .include(ClusterField::Tags)
            .send()
            .await
            .map_err(|e| classify("DescribeClusters", e))?;
        Ok(out
            .clusters()
            .iter()
            .filter_map(|c| Some((c.cluster_name()?.to_owned(), tag_pairs(c.tags()))))
            .collect())
    }
}

impl EcsServices for SdkEcs {
    async fn describe_services(
        &self,
        cluster: &str,
        services: &[String],
    ) -> Result<DescribedServices, ApiError> {
        let (mut known, services) = self.take_pre_read(cluster, services);
        if services.is_empty() {
            return Ok(DescribedServices {
                services: known,
                failures: Vec::new(),
            });
        }
        let mut described = self.describe_services_call(cluster, &services).await?;
        known.append(&mut described.services);
        described.services = known;
        Ok(described)
    }

    async fn describe_service_deployments(
        &self,
        arns: &[String],
    ) -> Result<Vec<ServiceDeploymentView>, ApiError> {
        crate::lifecycle::describe(&self.client, arns).await
    }

    async fn cluster_tags(
        &self,
        clusters: &[String],
    ) -> Result<std::collections::HashMap<String, Vec<(String, String)>>, ApiError> {
        let mut tags = std::collections::HashMap::new();
        // DescribeClusters takes up to 100 clusters per call.
        for chunk in clusters.chunks(100) {
            match self.describe_cluster_tags(chunk).await {
                Ok(found) => tags.extend(found),
                // IAM refuses the whole call when one cluster is outside the function's scope
                // (`EcsClusterNames`): ask per cluster, so one cluster out of scope costs only
                // its own resources (they fail AccessDenied when acted on), not the notice's.
                Err(e) if e.kind == ApiErrorKind::Rejected && chunk.len() > 1 => {
                    for cluster in chunk {
                        match self
                            .describe_cluster_tags(std::slice::from_ref(cluster))
                            .await
                        {
                            Ok(found) => tags.extend(found),
                            Err(e) if e.kind == ApiErrorKind::Rejected => {
                                tracing::warn!(cluster = %cluster, error = %e, "cluster tags not readable");
                            }
                            Err(e) => return Err(e),
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(tags)
    }

    /// Every effective setting, filtered by the caller: naming the retirement settings as a
    /// filter is refused by some endpoints (the local AWS among them), listing all is not.
    async fn account_settings(&self) -> Result<Vec<(String, String)>, ApiError> {
        let mut pairs = Vec::new();
        let mut pages = self
            .client
            .list_account_settings()
            .effective_settings(true)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("ListAccountSettings", e))?;
            for s in page.settings() {
                if let (Some(name), Some(value)) = (s.name(), s.value()) {
                    pairs.push((name.as_str().to_owned(), value.to_owned()));
                }
            }
        }
        Ok(pairs)
    }

    /// Every event window of the Region associated by tags (at most 200 per Region: one or two
    /// pages). Windows that are being deleted, or that associate only instances or hosts, are
    /// left out.
    async fn event_windows(&self) -> Result<Vec<EventWindow>, ApiError> {
        let Some(ec2) = &self.ec2 else {
            return Ok(Vec::new());
        };
        let mut windows = Vec::new();
        let mut pages = ec2
            .describe_instance_event_windows()
            .max_results(200)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("DescribeInstanceEventWindows", e))?;
            for w in page.instance_event_windows() {
                if let Some(window) = event_window(w) {
                    windows.push(window);
                }
            }
        }
        Ok(windows)
    }

    async fn force_new_deployment(
        &self,
        cluster: &str,
        service: &str,
    ) -> Result<Option<DeploymentInfo>, ApiError> {
        let out = self
            .client
            .update_service()
            .cluster(cluster)
            .service(service)
            .force_new_deployment(true)
            .customize()
            .config_override(
                aws_sdk_ecs::config::Config::builder().retry_classifier(ThrottlingOnly),
            )
            .send()
            .await
            .map_err(|e| classify_mutating(e, |e| classify("UpdateService", e)))?;
        Ok(out.service().and_then(primary_deployment))
    }
}

/// The SDK's retry policy for calls that change something and carry no idempotency token
/// (`UpdateService(forceNewDeployment)`, CodeDeploy `CreateDeployment`): the SDK may resend a
/// request that was **throttled**, and nothing else.
///
/// Why: within one call the SDK's standard strategy resends after a 5xx, a timeout or a lost
/// connection, up to `SDK_MAX_ATTEMPTS` times. For these two calls that is the duplicate the
/// engine must avoid: the first request may have forced a deployment (or created one) and only
/// its answer was lost, and the resend makes a second, back-to-back deployment (or meets the
/// first as `DeploymentLimitExceeded`). Such a failure must reach the engine as `Transient` after
/// one attempt, so that it describes the service (lists the group's deployments) before any
/// further call (`Remediator::mutate` in the core).
///
/// How: a retry classifier added to these operations only (`customize().config_override`), run
/// after the SDK's own classifiers, that forbids every retry they asked for except a throttling
/// one. A throttled request was refused before it was applied, so resending it is safe, and this
/// keeps the SDK's handling of throttling (its backoff, `x-amz-retry-after`, the retry quota). Disabling
/// the operations' retries altogether (`RetryConfig::disabled()`) would also be safe but would
/// push every throttle of a large retirement into the engine's slower backoff rounds; leaving the
/// SDK's policy alone would keep the duplicates. Read-only calls keep the full SDK policy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ThrottlingOnly;

impl ClassifyRetry for ThrottlingOnly {
    fn classify_retry(&self, _ctx: &InterceptorContext) -> RetryAction {
        RetryAction::NoActionIndicated
    }

    fn classify_retry_v2(&self, _ctx: &InterceptorContext, previous: &RetryAction) -> RetryAction {
        match previous {
            RetryAction::RetryIndicated(RetryReason::RetryableError {
                kind: ErrorKind::ThrottlingError,
                ..
            }) => RetryAction::NoActionIndicated,
            // 5xx, timeouts, lost connections (and anything else): ambiguous for a mutating call.
            RetryAction::RetryIndicated(_) => RetryAction::RetryForbidden,
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "ThrottlingOnly (mutating call without idempotency token)"
    }

    fn priority(&self) -> RetryClassifierPriority {
        // After every classifier the SDK installs (the transient-error one runs last).
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

/// Classifies a mutating call's failure with `classify`, except that a 5xx is ambiguous
/// (`Transient`) whatever its error code: the SDK no longer retries it (`ThrottlingOnly`), so an
/// error code the classifier does not know (`ServiceUnavailableException`, a bare 503 from a
/// proxy) must still make the engine look and try again rather than end as a final `Rejected`.
pub(crate) fn classify_mutating<E>(
    error: SdkError<E, HttpResponse>,
    classify: impl FnOnce(SdkError<E, HttpResponse>) -> ApiError,
) -> ApiError {
    let server_error = error
        .raw_response()
        .is_some_and(|r| r.status().is_server_error());
    let mut classified = classify(error);
    if server_error && classified.kind == ApiErrorKind::Rejected {
        classified.kind = ApiErrorKind::Transient;
    }
    classified
}

pub(crate) fn observe(service: &Service) -> Option<ServiceObservation> {
    let name = service.service_name()?.to_owned();
    let controller = match service.deployment_controller().map(|c| c.r#type().as_str()) {
        None | Some("ECS") => Controller::Ecs,
        Some("CODE_DEPLOY") => Controller::CodeDeploy,
        Some("EXTERNAL") => Controller::External,
        Some(other) => Controller::Unknown(other.to_owned()),
    };
    Some(ServiceObservation {
        name,
        arn: service.service_arn().map(str::to_owned),
        status: service.status().unwrap_or("ACTIVE").to_owned(),
        controller,
        primary_deployment: primary_deployment(service),
        tags: tag_pairs(service.tags()),
        rollout: Rollout {
            daemon: service.scheduling_strategy()
                == Some(&aws_sdk_ecs::types::SchedulingStrategy::Daemon),
            desired_count: Some(service.desired_count()),
            minimum_healthy_percent: service
                .deployment_configuration()
                .and_then(|c| c.minimum_healthy_percent()),
            maximum_percent: service
                .deployment_configuration()
                .and_then(|c| c.maximum_percent()),
        },
        deployments: service.deployments().iter().map(deployment_state).collect(),
        lifecycle: crate::lifecycle::lifecycle(service),
        express: crate::lifecycle::express(service),
        blue_green: BlueGreenSpec {
            primary_task_set: service
                .task_sets()
                .iter()
                .find(|t| t.status() == Some("PRIMARY"))
                .and_then(task_set),
            load_balancers: service
                .load_balancers()
                .iter()
                .map(|lb| LoadBalancerTarget {
                    container_name: lb.container_name().map(str::to_owned),
                    container_port: lb.container_port(),
                })
                .collect(),
            platform_version: service.platform_version().map(str::to_owned),
            network: service.network_configuration().and_then(awsvpc),
            capacity_provider_strategy: strategy(service.capacity_provider_strategy()),
        },
    })
}

fn deployment_state(d: &aws_sdk_ecs::types::Deployment) -> DeploymentState {
    let time = |t: Option<&aws_sdk_ecs::primitives::DateTime>| {
        t.and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos()))
    };
    DeploymentState {
        id: d.id().unwrap_or_default().to_owned(),
        status: d.status().unwrap_or_default().to_owned(),
        rollout_state: d.rollout_state().map(|s| s.as_str().to_owned()),
        rollout_state_reason: d.rollout_state_reason().map(str::to_owned),
        running_count: d.running_count(),
        desired_count: d.desired_count(),
        failed_tasks: d.failed_tasks(),
        created_at: time(d.created_at()),
        updated_at: time(d.updated_at()),
    }
}

fn task_set(t: &TaskSet) -> Option<TaskSetInfo> {
    Some(TaskSetInfo {
        id: t.id()?.to_owned(),
        external_id: t.external_id().map(str::to_owned),
        task_definition: t.task_definition()?.to_owned(),
        platform_version: t.platform_version().map(str::to_owned),
        network: t.network_configuration().and_then(awsvpc),
        capacity_provider_strategy: strategy(t.capacity_provider_strategy()),
    })
}

fn awsvpc(n: &NetworkConfiguration) -> Option<AwsVpc> {
    let vpc = n.awsvpc_configuration()?;
    Some(AwsVpc {
        subnets: vpc.subnets().to_vec(),
        security_groups: vpc.security_groups().to_vec(),
        assign_public_ip: vpc.assign_public_ip().map(|a| a.as_str().to_owned()),
    })
}

fn strategy(items: &[CapacityProviderStrategyItem]) -> Vec<CapacityProviderItem> {
    items
        .iter()
        .map(|i| CapacityProviderItem {
            provider: i.capacity_provider().to_owned(),
            weight: i.weight(),
            base: i.base(),
        })
        .collect()
}

fn primary_deployment(service: &Service) -> Option<DeploymentInfo> {
    service
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
        .and_then(|d| {
            Some(DeploymentInfo {
                id: d.id()?.to_owned(),
                created_at: d.created_at().and_then(to_chrono),
            })
        })
}

fn to_chrono(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

/// A describe call's `failures[]` as `(arn or name, reason)` pairs.
pub(crate) fn failures(failures: &[aws_sdk_ecs::types::Failure]) -> Vec<(String, String)> {
    failures
        .iter()
        .map(|f| {
            (
                f.arn().unwrap_or_default().to_owned(),
                f.reason().unwrap_or("MISSING").to_owned(),
            )
        })
        .collect()
}

pub(crate) fn tag_pairs(tags: &[aws_sdk_ecs::types::Tag]) -> Vec<(String, String)> {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

/// An EC2 event window as the timing needs it: its open times and the tags associating it.
fn event_window(w: &aws_sdk_ec2::types::InstanceEventWindow) -> Option<EventWindow> {
    use aws_sdk_ec2::types::{InstanceEventWindowState, WeekDay};
    if matches!(
        w.state(),
        Some(InstanceEventWindowState::Deleting | InstanceEventWindowState::Deleted)
    ) {
        return None;
    }
    let tags: Vec<(String, String)> = w
        .association_target()?
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
        .collect();
    if tags.is_empty() {
        return None;
    }
    let name = w
        .name()
        .or(w.instance_event_window_id())
        .unwrap_or("unnamed")
        .to_owned();
    let day = |d: Option<&WeekDay>| -> Option<chrono::Weekday> {
        Some(match d? {
            WeekDay::Monday => chrono::Weekday::Mon,
            WeekDay::Tuesday => chrono::Weekday::Tue,
            WeekDay::Wednesday => chrono::Weekday::Wed,
            WeekDay::Thursday => chrono::Weekday::Thu,
            WeekDay::Friday => chrono::Weekday::Fri,
            WeekDay::Saturday => chrono::Weekday::Sat,
            WeekDay::Sunday => chrono::Weekday::Sun,
            _ => return None,
        })
    };
    let windows = match w.cron_expression() {
        Some(cron) => match Windows::ec2_cron(cron, &name) {
            Ok(windows) => windows,
            Err(e) => {
                tracing::warn!(window = %name, error = %e, "event window not understood: left out");
                return None;
            }
        },
        None => {
            let ranges: Vec<_> = w
                .time_ranges()
                .iter()
                .filter_map(|r| {
                    Some((
                        day(r.start_week_day())?,
                        u32::try_from(r.start_hour()?).ok()?,
                        day(r.end_week_day())?,
                        u32::try_from(r.end_hour()?).ok()?,
                    ))
                })
                .collect();
            Windows::ec2_time_ranges(&ranges, &name)
        }
    };
    Some(EventWindow {
        name,
        windows,
        tags,
    })
}
