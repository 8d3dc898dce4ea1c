//! The container-instance port ([`EcsInstances`]) through the SDK: container instances (list,
//! describe with tags, state, attributes, their tasks), the EC2 instance's tags and scheduled
//! events, and its Auto Scaling group.

use std::collections::HashMap;

use aws_sdk_ecs::types::{
    Attribute, ContainerInstanceField, ContainerInstanceStatus, DesiredStatus,
};
use remediator_core::ports::{
    ApiError, ApiErrorKind, ContainerInstance, EcsInstances, InstanceEvent,
};
use remediator_sdk::classify;

use crate::ecs::{tag_pairs, SdkEcs};

/// `DescribeContainerInstances` takes at most 100 per call.
const MAX_DESCRIBE: usize = 100;

impl EcsInstances for SdkEcs {
    async fn container_instances(&self, cluster: &str) -> Result<Vec<ContainerInstance>, ApiError> {
        let arns: Vec<String> = self
            .client
            .list_container_instances()
            .cluster(cluster)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify("ListContainerInstances", e))?;
        let mut found = Vec::with_capacity(arns.len());
        for chunk in arns.chunks(MAX_DESCRIBE) {
            let out = self
                .client
                .describe_container_instances()
                .cluster(cluster)
                .set_container_instances(Some(chunk.to_vec()))
                .include(ContainerInstanceField::Tags)
                .send()
                .await
                .map_err(|e| classify("DescribeContainerInstances", e))?;
            found.extend(out.container_instances().iter().filter_map(|ci| {
                Some(ContainerInstance {
                    cluster: cluster.to_owned(),
                    arn: ci.container_instance_arn()?.to_owned(),
                    ec2_instance_id: ci.ec2_instance_id()?.to_owned(),
                    status: ci.status().unwrap_or_default().to_owned(),
                    running_tasks: ci.running_tasks_count(),
                    agent_connected: ci.agent_connected(),
                    attributes: ci
                        .attributes()
                        .iter()
                        .map(|a| (a.name().to_owned(), a.value().map(str::to_owned)))
                        .collect(),
                    tags: tag_pairs(ci.tags()),
                })
            }));
        }
        Ok(found)
    }

    /// A capacity provider of the cluster (or of its default strategy) with managed scaling.
    async fn managed_scaling(&self, cluster: &str) -> Result<bool, ApiError> {
        let out = self
            .client
            .describe_clusters()
            .clusters(cluster)
            .send()
            .await
            .map_err(|e| classify("DescribeClusters", e))?;
        let providers: Vec<String> = out
            .clusters()
            .iter()
            .flat_map(|c| c.capacity_providers().iter().cloned())
            .filter(|p| p != "FARGATE" && p != "FARGATE_SPOT")
            .collect();
        if providers.is_empty() {
            return Ok(false);
        }
        let described = self
            .client
            .describe_capacity_providers()
            .set_capacity_providers(Some(providers))
            .send()
            .await
            .map_err(|e| classify("DescribeCapacityProviders", e))?;
        Ok(described.capacity_providers().iter().any(|p| {
            p.auto_scaling_group_provider()
                .and_then(|a| a.managed_scaling())
                .and_then(|m| m.status())
                .is_some_and(|s| s.as_str() == "ENABLED")
        }))
    }

    async fn set_instances_state(
        &self,
        cluster: &str,
        arns: &[String],
        status: &str,
    ) -> Result<Vec<(String, String)>, ApiError> {
        let out = self
            .client
            .update_container_instances_state()
            .cluster(cluster)
            .set_container_instances(Some(arns.to_vec()))
            .status(ContainerInstanceStatus::from(status))
            .send()
            .await
            .map_err(|e| classify("UpdateContainerInstancesState", e))?;
        Ok(out
            .failures()
            .iter()
            .map(|f| {
                (
                    f.arn().unwrap_or_default().to_owned(),
                    format!(
                        "{}{}",
                        f.reason().unwrap_or("refused"),
                        f.detail().map(|d| format!(": {d}")).unwrap_or_default()
                    ),
                )
            })
            .collect())
    }

    async fn set_instance_attribute(
        &self,
        cluster: &str,
        arn: &str,
        name: &str,
        value: &str,
        remove: bool,
    ) -> Result<(), ApiError> {
        // The full ARN as the target, without a target type (which ECS needs only for a short
        // id).
        // DeleteAttributes takes the name and target only (the ECS API reference: "don't
        // specify the value").
        let attribute = Attribute::builder()
            .name(name)
            .set_value((!remove).then(|| value.to_owned()))
            .target_id(arn)
            .build()
            .map_err(|e| ApiError::new("PutAttributes", ApiErrorKind::Rejected, e.to_string()))?;
        let (cluster, attribute) = (Some(cluster.to_owned()), Some(vec![attribute]));
        if remove {
            let sent = self.client.delete_attributes().set_cluster(cluster);
            let sent = sent.set_attributes(attribute).send().await;
            return sent.map(drop).map_err(|e| classify("DeleteAttributes", e));
        }
        let sent = self.client.put_attributes().set_cluster(cluster);
        let sent = sent.set_attributes(attribute).send().await;
        sent.map(drop).map_err(|e| classify("PutAttributes", e))
    }

    async fn instance_tasks(
        &self,
        cluster: &str,
        container_instance: &str,
    ) -> Result<Vec<String>, ApiError> {
        self.client
            .list_tasks()
            .cluster(cluster)
            .container_instance(container_instance)
            .desired_status(DesiredStatus::Running)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify("ListTasks", e))
    }

    async fn ec2_instance_tags(&self, ids: &[String]) -> Result<InstanceTags, ApiError> {
        let Some(ec2) = &self.ec2 else {
            return Ok(HashMap::new());
        };
        match described_tags(ec2, ids).await? {
            Some(tags) => Ok(tags),
            // One unknown id fails the whole call: ask one by one.
            None if ids.len() > 1 => {
                let mut each = HashMap::new();
                for id in ids {
                    let one = described_tags(ec2, std::slice::from_ref(id)).await?;
                    each.extend(one.unwrap_or_default());
                }
                Ok(each)
            }
            None => Ok(HashMap::new()),
        }
    }

    async fn pending_instance_events(
        &self,
        instance_id: &str,
    ) -> Result<Vec<InstanceEvent>, ApiError> {
        let Some(ec2) = &self.ec2 else {
            return Ok(Vec::new());
        };
        let out = match ec2
            .describe_instance_status()
            .instance_ids(instance_id)
            .include_all_instances(true)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if remediator_sdk::has_code(&e, &["InvalidInstanceID.NotFound"]) => {
                return Ok(Vec::new())
            }
            Err(e) => return Err(classify("DescribeInstanceStatus", e)),
        };
        Ok(out
            .instance_statuses()
            .iter()
            .flat_map(|s| s.events())
            .filter(|e| {
                // EC2 keeps a done event a while, its description prefixed.
                let d = e.description().unwrap_or_default();
                !d.starts_with("[Completed]") && !d.starts_with("[Canceled]")
            })
            .filter_map(|e| {
                Some((
                    e.code()?.as_str().to_owned(),
                    e.not_before()
                        .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), 0)),
                ))
            })
            .collect())
    }

    async fn auto_scaling_group(&self, instance_id: &str) -> Result<Option<String>, ApiError> {
        let Some(autoscaling) = &self.autoscaling else {
            return Ok(None);
        };
        let out = autoscaling
            .describe_auto_scaling_instances()
            .instance_ids(instance_id)
            .send()
            .await
            .map_err(|e| classify("DescribeAutoScalingInstances", e))?;
        Ok(out
            .auto_scaling_instances()
            .iter()
            .find(|i| i.instance_id() == Some(instance_id))
            .and_then(|i| i.auto_scaling_group_name())
            .map(str::to_owned))
    }

    async fn terminate_in_group(&self, instance_id: &str) -> Result<(), ApiError> {
        let Some(autoscaling) = &self.autoscaling else {
            return Err(ApiError::new(
                "TerminateInstanceInAutoScalingGroup",
                ApiErrorKind::Rejected,
                "no Auto Scaling client",
            ));
        };
        autoscaling
            .terminate_instance_in_auto_scaling_group()
            .instance_id(instance_id)
            .should_decrement_desired_capacity(false)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("TerminateInstanceInAutoScalingGroup", e))
    }
}

/// Tags by EC2 instance id.
type InstanceTags = HashMap<String, Vec<(String, String)>>;

/// The tags `DescribeInstances` shows for `ids`; `None` when one of them is unknown (EC2 then
/// fails the whole call).
async fn described_tags(
    ec2: &aws_sdk_ec2::Client,
    ids: &[String],
) -> Result<Option<InstanceTags>, ApiError> {
    let mut tags = HashMap::new();
    let mut pages = ec2
        .describe_instances()
        .set_instance_ids(Some(ids.to_vec()))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(e) if remediator_sdk::has_code(&e, &["InvalidInstanceID.NotFound"]) => {
                return Ok(None)
            }
            Err(e) => return Err(classify("DescribeInstances", e)),
        };
        for instance in page.reservations().iter().flat_map(|r| r.instances()) {
            if let Some(id) = instance.instance_id() {
                tags.insert(
                    id.to_owned(),
                    instance
                        .tags()
                        .iter()
                        .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
                        .collect(),
                );
            }
        }
    }
    Ok(Some(tags))
}
