//! The standalone-task port, implemented with `aws-sdk-ecs` (and `aws-sdk-ec2` for the security
//! groups of a task's network interface, which `DescribeTasks` does not return).
//!
//! What `RunTask` gets back from the running task, and from where:
//! | RunTask parameter | source |
//! |---|---|
//! | cluster, taskDefinition (exact revision) | DescribeTasks `clusterArn`, `taskDefinitionArn` |
//! | launchType / capacityProviderStrategy | `launchType`, or `capacityProviderName` as a one-item strategy |
//! | platformVersion | `platformVersion` |
//! | awsvpc subnets | the ENI attachment's `subnetId` (the subnet the task landed in) |
//! | awsvpc securityGroups, assignPublicIp | EC2 DescribeNetworkInterfaces on the attachment's `networkInterfaceId` |
//! | overrides | `overrides` (container env/command/cpu/memory, task role, execution role, ephemeral storage) |
//! | group, startedBy | `group`, `startedBy` |
//! | tags (+ the `replaces` marker when it fits) | DescribeTasks `include=[TAGS]`; `aws:` keys are AWS's own and cannot be set; the marker only below 50 user tags (`remediator_core::plan::replaces_marker_fits`) |
//! | enableECSManagedTags | set when the task carries `aws:ecs:` managed tags |
//! | enableExecuteCommand | `enableExecuteCommand` |
//! | clientToken | derived from the retiring task's id |

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, CapacityProviderStrategyItem, DesiredStatus, LaunchType,
    NetworkConfiguration, Tag, Task, TaskField, TaskOverride,
};
use remediator_core::plan::MAX_USER_TAGS;
use remediator_core::ports::{
    ApiError, ApiErrorKind, DescribedTasks, EcsTasks, TaskObservation, MAX_TASKS_PER_DESCRIBE,
};

use remediator_sdk::classify;

use crate::ecs::{failures, Definition, SdkEcs};

/// How many tasks [`EcsTasks::find_replacement`] looks at, at most, whatever the cluster runs:
/// three `ListTasks` pages of 100 and three `DescribeTasks` of 100 per attempt.
pub const REPLACEMENT_SCAN_LIMIT: usize = 300;

/// `ListTasks` returns at most 100 tasks a page.
const LIST_PAGE: i32 = 100;

/// How a task was launched, as far as the SDK tells it: handed back to `RunTask` untouched.
#[derive(Debug, Clone, PartialEq)]
pub struct SdkLaunch {
    cluster_arn: String,
    launch_type: Option<LaunchType>,
    capacity_provider: Option<String>,
    platform_version: Option<String>,
    overrides: Option<TaskOverride>,
    subnet_id: Option<String>,
    eni_id: Option<String>,
    enable_execute_command: bool,
    tags: Vec<Tag>,
}

/// The `exitCode` of each of the task's essential containers (by name), in the task definition's order;
/// an essential container the task does not list counts as one without an exit code.
fn essential_exit_codes(task: &Task, essential: &[String]) -> Vec<Option<i32>> {
    essential
        .iter()
        .map(|name| {
            task.containers()
                .iter()
                .find(|c| c.name() == Some(name.as_str()))
                .and_then(|c| c.exit_code())
        })
        .collect()
}

impl SdkEcs {
    /// What the task definition says of its containers. Whether ECS will report the task's
    /// health: only when an *essential* container (essential is true when the task definition
    /// leaves it out) declares a `healthCheck`. ECS derives a task's `healthStatus` from its
    /// essential containers alone, so a check on a sidecar leaves the task `UNKNOWN` for ever,
    /// and waiting for `HEALTHY` would never end (domain notes §7). The essential containers'
    /// names pick the exit codes that say whether a stopped task finished its job.
    async fn definition(&self, task_definition: &str) -> Result<Definition, ApiError> {
        if let Some(known) = self
            .definitions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(task_definition)
        {
            return Ok(known.clone());
        }
        let out = self
            .client
            .describe_task_definition()
            .task_definition(task_definition)
            .send()
            .await
            .map_err(|e| classify("DescribeTaskDefinition", e))?;
        let essential: Vec<_> = out
            .task_definition()
            .map(|td| td.container_definitions())
            .unwrap_or_default()
            .iter()
            .filter(|c| c.essential().unwrap_or(true))
            .collect();
        let definition = Definition {
            has_health_checks: essential.iter().any(|c| c.health_check().is_some()),
            essential: essential
                .iter()
                .filter_map(|c| c.name().map(str::to_owned))
                .collect(),
        };
        self.definitions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(task_definition.to_owned(), definition.clone());
        Ok(definition)
    }

    async fn observe(&self, task: &Task) -> Result<Option<TaskObservation<SdkLaunch>>, ApiError> {
        let (Some(arn), Some(cluster_arn), Some(task_definition)) = (
            task.task_arn(),
            task.cluster_arn(),
            task.task_definition_arn(),
        ) else {
            return Ok(None);
        };
        let detail = |name: &str| {
            task.attachments()
                .iter()
                .filter(|a| a.r#type() == Some("ElasticNetworkInterface"))
                .flat_map(|a| a.details())
                .find(|d| d.name() == Some(name))
                .and_then(|d| d.value())
                .map(str::to_owned)
        };
        let definition = self.definition(task_definition).await?;
        Ok(Some(TaskObservation {
            arn: arn.to_owned(),
            id: arn.rsplit('/').next().unwrap_or(arn).to_owned(),
            cluster: cluster_arn
                .rsplit('/')
                .next()
                .unwrap_or(cluster_arn)
                .to_owned(),
            last_status: task.last_status().unwrap_or("UNKNOWN").to_owned(),
            desired_status: task.desired_status().unwrap_or("UNKNOWN").to_owned(),
            group: task.group().map(str::to_owned),
            started_by: task.started_by().map(str::to_owned),
            task_definition: task_definition.to_owned(),
            tags: task
                .tags()
                .iter()
                .filter_map(|t| {
                    Some((
                        t.key()?.to_owned(),
                        t.value().unwrap_or_default().to_owned(),
                    ))
                })
                .collect(),
            health_status: task.health_status().map(|h| h.as_str().to_owned()),
            has_health_checks: definition.has_health_checks,
            stopped_reason: task.stopped_reason().map(str::to_owned),
            stop_code: task.stop_code().map(|c| c.as_str().to_owned()),
            essential_exit_codes: essential_exit_codes(task, &definition.essential),
            launch: SdkLaunch {
                cluster_arn: cluster_arn.to_owned(),
                launch_type: task.launch_type().cloned(),
                capacity_provider: task.capacity_provider_name().map(str::to_owned),
                platform_version: task.platform_version().map(str::to_owned),
                overrides: task.overrides().cloned(),
                subnet_id: detail("subnetId"),
                eni_id: detail("networkInterfaceId"),
                enable_execute_command: task.enable_execute_command(),
                tags: task.tags().to_vec(),
            },
        }))
    }

    /// `DescribeTasks` with tags, as the SDK answers it.
    async fn describe_raw(
        &self,
        cluster: &str,
        tasks: &[String],
    ) -> Result<aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput, ApiError> {
        self.client
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(tasks.to_vec()))
            .include(TaskField::Tags)
            .send()
            .await
            .map_err(|e| classify("DescribeTasks", e))
    }

    /// Security groups and public-IP setting of the original task's network interface.
    async fn interface_settings(
        &self,
        eni: &str,
    ) -> Result<(Vec<String>, AssignPublicIp), ApiError> {
        let Some(ec2) = &self.ec2 else {
            return Err(ApiError::new(
                "DescribeNetworkInterfaces",
                ApiErrorKind::Rejected,
                "no EC2 client: the task's security groups cannot be recovered",
            ));
        };
        let out = ec2
            .describe_network_interfaces()
            .network_interface_ids(eni)
            .send()
            .await
            .map_err(|e| classify("DescribeNetworkInterfaces", e))?;
        let interface = out.network_interfaces().first().ok_or_else(|| {
            ApiError::new(
                "DescribeNetworkInterfaces",
                ApiErrorKind::NotFound,
                format!("network interface {eni} not found"),
            )
        })?;
        let groups = interface
            .groups()
            .iter()
            .filter_map(|g| g.group_id().map(str::to_owned))
            .collect();
        let public = if interface
            .association()
            .and_then(|a| a.public_ip())
            .is_some()
        {
            AssignPublicIp::Enabled
        } else {
            AssignPublicIp::Disabled
        };
        Ok((groups, public))
    }
}

impl EcsTasks for SdkEcs {
    type Launch = SdkLaunch;

    async fn describe_tasks(
        &self,
        cluster: &str,
        tasks: &[String],
    ) -> Result<DescribedTasks<SdkLaunch>, ApiError> {
        let out = match self.describe_raw(cluster, tasks).await {
            Ok(out) => out,
            Err(e) => {
                if e.kind == ApiErrorKind::NotFound {
                    return Ok(DescribedTasks {
                        tasks: Vec::new(),
                        failures: tasks
                            .iter()
                            .map(|t| (t.clone(), format!("cluster {cluster} not found")))
                            .collect(),
                    });
                }
                return Err(e);
            }
        };
        let mut observed = Vec::new();
        for task in out.tasks() {
            if let Some(o) = self.observe(task).await? {
                observed.push(o);
            }
        }
        Ok(DescribedTasks {
            tasks: observed,
            failures: failures(out.failures()),
        })
    }

    async fn list_clusters(&self) -> Result<Vec<String>, ApiError> {
        // SDK paginators end on a missing or empty token, so a listing cannot loop for ever.
        let arns: Vec<String> = self
            .client
            .list_clusters()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify("ListClusters", e))?;
        Ok(arns
            .iter()
            .map(|a| a.rsplit('/').next().unwrap_or(a).to_owned())
            .collect())
    }

    /// Looks for the replacement by its marker, within a bound that does not grow with the
    /// cluster's history:
    ///
    /// - only tasks started with the original's `startedBy` (the replacement is launched with
    ///   it), when it has one; `ListTasks` takes `startedBy` only as its sole filter, so the
    ///   family is checked on the described tasks. Without a `startedBy`, RUNNING tasks of the
    ///   original's family;
    /// - page by page, stopping at the first match, and at [`REPLACEMENT_SCAN_LIMIT`] tasks
    ///   (three `ListTasks` and three `DescribeTasks` calls) at most;
    /// - listed tasks are matched on their tags before anything else is looked up for them.
    ///
    /// A replacement beyond the bound is not found here; `RunTask`'s client token, derived from
    /// the original task (ECS keeps it 24 hours), then answers with that same replacement instead
    /// of starting a second one. The token is the guarantee; this search spares the call and
    /// finds a replacement older than the token.
    async fn find_replacement(
        &self,
        original: &TaskObservation<SdkLaunch>,
        marker_key: &str,
    ) -> Result<Option<TaskObservation<SdkLaunch>>, ApiError> {
        // `arn:…:task-definition/FAMILY:REVISION`
        let family_of = |td: &str| -> String {
            td.rsplit('/')
                .next()
                .and_then(|f| f.split(':').next())
                .unwrap_or_default()
                .to_owned()
        };
        let family = family_of(&original.task_definition);
        let listing = self
            .client
            .list_tasks()
            .cluster(&original.cluster)
            .max_results(LIST_PAGE);
        let listing = match original.started_by.as_deref().filter(|s| !s.is_empty()) {
            Some(started_by) => listing.started_by(started_by),
            None => listing
                .family(&family)
                .desired_status(DesiredStatus::Running),
        };
        let mut pages = listing.into_paginator().send();
        let mut scanned = 0;
        while scanned < REPLACEMENT_SCAN_LIMIT {
            let Some(page) = pages.next().await else {
                break;
            };
            let page = page.map_err(|e| classify("ListTasks", e))?;
            let listed = page.task_arns();
            if listed.is_empty() {
                break;
            }
            let arns: Vec<String> = listed
                .iter()
                .take(REPLACEMENT_SCAN_LIMIT - scanned)
                .filter(|a| **a != original.arn)
                .cloned()
                .collect();
            scanned += listed.len();
            for chunk in arns.chunks(MAX_TASKS_PER_DESCRIBE) {
                let described = self.describe_raw(&original.cluster, chunk).await?;
                let found = described.tasks().iter().find(|t| {
                    t.desired_status() != Some("STOPPED")
                        && t.task_definition_arn().map(family_of).as_deref()
                            == Some(family.as_str())
                        && t.tags().iter().any(|tag| {
                            tag.key() == Some(marker_key)
                                && tag.value() == Some(original.id.as_str())
                        })
                });
                if let Some(task) = found {
                    return self.observe(task).await;
                }
            }
        }
        Ok(None)
    }

    async fn run_replacement(
        &self,
        original: &TaskObservation<SdkLaunch>,
        marker: (&str, &str),
        client_token: &str,
    ) -> Result<TaskObservation<SdkLaunch>, ApiError> {
        let launch = &original.launch;
        let network = match (&launch.subnet_id, &launch.eni_id) {
            (Some(subnet), Some(eni)) => {
                let (groups, public) = self.interface_settings(eni).await?;
                Some(
                    NetworkConfiguration::builder()
                        .awsvpc_configuration(
                            AwsVpcConfiguration::builder()
                                .subnets(subnet)
                                .set_security_groups(Some(groups))
                                .assign_public_ip(public)
                                .build()
                                .map_err(|e| {
                                    ApiError::new("RunTask", ApiErrorKind::Rejected, e.to_string())
                                })?,
                        )
                        .build(),
                )
            }
            _ => None,
        };
        let managed_tags = launch
            .tags
            .iter()
            .any(|t| t.key().is_some_and(|k| k.starts_with("aws:ecs:")));
        let mut tags: Vec<Tag> = launch
            .tags
            .iter()
            .filter(|t| {
                t.key()
                    .is_some_and(|k| !k.starts_with("aws:") && k != marker.0)
            })
            .cloned()
            .collect();
        // RunTask rejects more than 50 user tags: the marker is left off rather than failing
        // the relaunch; the client token keeps a retry from starting a second replacement.
        // Same rule as `remediator_core::plan::replaces_marker_fits`, on the tags sent.
        if tags.len() < MAX_USER_TAGS {
            tags.push(Tag::builder().key(marker.0).value(marker.1).build());
        }
        let mut request = self
            .client
            .run_task()
            .cluster(&launch.cluster_arn)
            .task_definition(&original.task_definition)
            .count(1)
            .client_token(client_token)
            .set_platform_version(launch.platform_version.clone())
            .set_network_configuration(network)
            .set_overrides(launch.overrides.clone())
            .set_group(original.group.clone())
            .set_started_by(original.started_by.clone())
            .set_tags(Some(tags))
            .enable_ecs_managed_tags(managed_tags)
            .enable_execute_command(launch.enable_execute_command);
        request = match &launch.capacity_provider {
            Some(provider) => request.capacity_provider_strategy(
                CapacityProviderStrategyItem::builder()
                    .capacity_provider(provider)
                    .weight(1)
                    .build()
                    .map_err(|e| ApiError::new("RunTask", ApiErrorKind::Rejected, e.to_string()))?,
            ),
            None => request.set_launch_type(launch.launch_type.clone()),
        };
        let out = request.send().await.map_err(|e| classify("RunTask", e))?;
        if let Some(failure) = out.failures().first() {
            return Err(ApiError::new(
                "RunTask",
                ApiErrorKind::Transient,
                format!(
                    "RunTask failed: {} {}",
                    failure.reason().unwrap_or("unknown reason"),
                    failure.detail().unwrap_or_default()
                ),
            ));
        }
        let task = out.tasks().first().ok_or_else(|| {
            ApiError::new(
                "RunTask",
                ApiErrorKind::Transient,
                "RunTask started no task",
            )
        })?;
        self.observe(task).await?.ok_or_else(|| {
            ApiError::new(
                "RunTask",
                ApiErrorKind::Transient,
                "RunTask answered an incomplete task",
            )
        })
    }

    async fn stop_task(&self, cluster: &str, task_arn: &str, reason: &str) -> Result<(), ApiError> {
        self.client
            .stop_task()
            .cluster(cluster)
            .task(task_arn)
            .reason(reason)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("StopTask", e))
    }
}
