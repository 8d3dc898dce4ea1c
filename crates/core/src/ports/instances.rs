//! ECS on EC2: the container instances EC2 scheduled events name, their EC2 instances and
//! Auto Scaling groups. The engine drains, reactivates and replaces through this port; the
//! standalone tasks left on a drained instance go through [`super::EcsTasks`].

use std::collections::HashMap;
use std::future::Future;

use chrono::{DateTime, Utc};

use super::{ApiError, ApiErrorKind};

/// The calls the container-instance remediation needs. The defaults answer as an account
/// without any container instance: what an adapter that does not model them (a fake of the
/// service and task ports) gets by writing `impl EcsInstances for Fake {}`.
pub trait EcsInstances: Send + Sync {
    /// Every container instance of `cluster`, with its attributes and tags
    /// (`ListContainerInstances`, then `DescribeContainerInstances` 100 at a time; the list's
    /// filter expression is not relied on).
    fn container_instances(
        &self,
        _cluster: &str,
    ) -> impl Future<Output = Result<Vec<ContainerInstance>, ApiError>> + Send {
        async { Ok(Vec::new()) }
    }

    /// Whether a capacity provider of `cluster` has managed scaling (it adds an instance when
    /// tasks cannot be placed).
    fn managed_scaling(
        &self,
        _cluster: &str,
    ) -> impl Future<Output = Result<bool, ApiError>> + Send {
        async { Ok(false) }
    }

    /// `UpdateContainerInstancesState` for up to [`MAX_INSTANCES_PER_UPDATE`] container
    /// instances of `cluster`: the ARNs ECS refused, with why.
    fn set_instances_state(
        &self,
        _cluster: &str,
        _arns: &[String],
        _status: &str,
    ) -> impl Future<Output = Result<Vec<(String, String)>, ApiError>> + Send {
        async {
            Err(ApiError::new(
                "UpdateContainerInstancesState",
                ApiErrorKind::Rejected,
                "container instances are not supported here",
            ))
        }
    }

    /// Sets the custom attribute `name` = `value` on a container instance (`remove`: deletes
    /// the attribute of that name and value).
    fn set_instance_attribute(
        &self,
        _cluster: &str,
        _arn: &str,
        _name: &str,
        _value: &str,
        _remove: bool,
    ) -> impl Future<Output = Result<(), ApiError>> + Send {
        async {
            Err(ApiError::new(
                "PutAttributes",
                ApiErrorKind::Rejected,
                "container instances are not supported here",
            ))
        }
    }

    /// The ARNs of the tasks running (desired) on a container instance.
    fn instance_tasks(
        &self,
        _cluster: &str,
        _container_instance: &str,
    ) -> impl Future<Output = Result<Vec<String>, ApiError>> + Send {
        async { Ok(Vec::new()) }
    }

    /// The tags of EC2 instances (`DescribeInstances`), by instance id; unknown ones left out.
    fn ec2_instance_tags(
        &self,
        _ids: &[String],
    ) -> impl Future<Output = Result<HashMap<String, Vec<(String, String)>>, ApiError>> + Send {
        async { Ok(HashMap::new()) }
    }

    /// The EC2 scheduled events of an instance that are neither completed nor canceled
    /// (`DescribeInstanceStatus`): (code, not before), e.g. (`system-reboot`, the window start).
    fn pending_instance_events(
        &self,
        _instance_id: &str,
    ) -> impl Future<Output = Result<Vec<InstanceEvent>, ApiError>> + Send {
        async { Ok(Vec::new()) }
    }

    /// The Auto Scaling group of an EC2 instance, if it is in one.
    fn auto_scaling_group(
        &self,
        _instance_id: &str,
    ) -> impl Future<Output = Result<Option<String>, ApiError>> + Send {
        async { Ok(None) }
    }

    /// `TerminateInstanceInAutoScalingGroup` without decrementing the desired capacity: the
    /// group launches a replacement.
    fn terminate_in_group(
        &self,
        _instance_id: &str,
    ) -> impl Future<Output = Result<(), ApiError>> + Send {
        async {
            Err(ApiError::new(
                "TerminateInstanceInAutoScalingGroup",
                ApiErrorKind::Rejected,
                "Auto Scaling is not supported here",
            ))
        }
    }
}

/// An EC2 scheduled event of an instance: its code (`system-reboot`…) and when it may start.
pub type InstanceEvent = (String, Option<DateTime<Utc>>);

/// `UpdateContainerInstancesState` takes at most 10 container instances per call.
pub const MAX_INSTANCES_PER_UPDATE: usize = 10;

/// A container instance of an ECS cluster (ECS on EC2), as `DescribeContainerInstances` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInstance {
    /// Cluster name.
    pub cluster: String,
    pub arn: String,
    pub ec2_instance_id: String,
    /// `ACTIVE`, `DRAINING`, `REGISTERING`, `DEREGISTERING`, `INACTIVE`…
    pub status: String,
    pub running_tasks: i32,
    pub agent_connected: bool,
    /// Custom attributes (name, value).
    pub attributes: Vec<(String, Option<String>)>,
    pub tags: Vec<(String, String)>,
}

impl ContainerInstance {
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_deref().unwrap_or_default())
    }
}
