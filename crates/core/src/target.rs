//! Affected-entity strings → typed targets.
//!
//! Public samples disagree on the form (domain notes §2), so every one seen is accepted:
//! - service: `cluster|service`, `cluster | service`, `cluster/service`,
//!   and the service ARN `arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/SERVICE`;
//! - standalone task: `arn:aws:ecs:REGION:ACCOUNT:task/CLUSTER/TASK_ID`, and the old short form
//!   `arn:aws:ecs:REGION:ACCOUNT:task/TASK_ID` (no cluster).
//!
//! Anything else is kept as [`Target::Unrecognized`] so that it still gets an outcome.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One affected resource named by a notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    #[serde(rename = "ecs_service")]
    Service(ServiceRef),
    #[serde(rename = "ecs_task")]
    Task(TaskRef),
    #[serde(rename = "eks_pod")]
    Pod(PodRef),
    /// An EC2 instance an EC2 scheduled event names (ECS on EC2: its container instance).
    #[serde(rename = "ec2_instance")]
    Instance(InstanceRef),
    Unrecognized {
        raw: String,
        why: String,
    },
}

/// An ECS service, by cluster name and service name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ServiceRef {
    pub cluster: String,
    pub service: String,
}

/// An EKS pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodRef {
    pub cluster: String,
    pub namespace: String,
    pub name: String,
}

/// An EC2 instance, by id (`i-…`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRef {
    pub instance_id: String,
}

/// A standalone ECS task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRef {
    /// `None` for the old short ARN form, which does not name the cluster.
    pub cluster: Option<String>,
    pub task_id: String,
    pub arn: String,
}

impl Target {
    /// Identity used for de-duplication.
    pub fn identity(&self) -> String {
        match self {
            Target::Service(s) => format!("service:{}/{}", s.cluster, s.service),
            Target::Task(t) => format!("task:{}", t.task_id),
            Target::Pod(p) => format!("pod:{}/{}/{}", p.cluster, p.namespace, p.name),
            Target::Instance(i) => format!("instance:{}", i.instance_id),
            Target::Unrecognized { raw, .. } => format!("raw:{raw}"),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Service(s) => write!(f, "service {}/{}", s.cluster, s.service),
            Target::Task(t) => match &t.cluster {
                Some(c) => write!(f, "task {c}/{}", t.task_id),
                None => write!(f, "task {}", t.task_id),
            },
            Target::Pod(p) => write!(f, "pod {}/{}/{}", p.cluster, p.namespace, p.name),
            Target::Instance(i) => write!(f, "instance {}", i.instance_id),
            Target::Unrecognized { raw, .. } => write!(f, "entity {raw:?}"),
        }
    }
}

/// Parses one entity string. Never fails: unknown shapes become [`Target::Unrecognized`].
pub fn parse_entity(raw: &str) -> Target {
    let trimmed = raw.trim();
    let unrecognized = |why: &str| Target::Unrecognized {
        raw: raw.to_owned(),
        why: why.to_owned(),
    };
    if trimmed.is_empty() {
        return unrecognized("empty entity value");
    }
    if trimmed.starts_with("arn:") {
        return parse_arn(trimmed).unwrap_or_else(&unrecognized);
    }
    let parts: Vec<&str> = if trimmed.contains('|') {
        trimmed.split('|').map(str::trim).collect()
    } else {
        trimmed.split('/').map(str::trim).collect()
    };
    match parts.as_slice() {
        [cluster, service] if is_ecs_name(cluster) && is_ecs_name(service) => {
            Target::Service(ServiceRef {
                cluster: (*cluster).to_owned(),
                service: (*service).to_owned(),
            })
        }
        [_, _] => unrecognized("cluster or service name has characters ECS does not allow"),
        _ => unrecognized("expected cluster|service, cluster/service or an ECS task ARN"),
    }
}

/// An EC2 scheduled event's entity: an instance id (`i-` and 8 or 17 hexadecimal digits).
pub fn parse_instance_entity(raw: &str) -> Target {
    let id = raw.trim();
    let hex = id.strip_prefix("i-").unwrap_or_default();
    if (hex.len() == 8 || hex.len() == 17) && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Target::Instance(InstanceRef {
            instance_id: id.to_owned(),
        })
    } else {
        Target::Unrecognized {
            raw: raw.to_owned(),
            why: "expected an EC2 instance id (i- and 8 or 17 hexadecimal digits)".to_owned(),
        }
    }
}

/// `arn:PARTITION:ecs:REGION:ACCOUNT:RESOURCE`.
fn parse_arn(arn: &str) -> Result<Target, &'static str> {
    let mut fields = arn.splitn(6, ':');
    let (
        Some("arn"),
        Some(_partition),
        Some(service),
        Some(_region),
        Some(_account),
        Some(resource),
    ) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    )
    else {
        return Err("malformed ARN");
    };
    if service != "ecs" {
        return Err("ARN is not an ECS resource");
    }
    let path: Vec<&str> = resource.split('/').collect();
    match path.as_slice() {
        ["task", cluster, id] if is_ecs_name(cluster) && is_task_id(id) => {
            Ok(Target::Task(TaskRef {
                cluster: Some((*cluster).to_owned()),
                task_id: (*id).to_owned(),
                arn: arn.to_owned(),
            }))
        }
        ["task", id] if is_task_id(id) => Ok(Target::Task(TaskRef {
            cluster: None,
            task_id: (*id).to_owned(),
            arn: arn.to_owned(),
        })),
        ["service", cluster, name] if is_ecs_name(cluster) && is_ecs_name(name) => {
            Ok(Target::Service(ServiceRef {
                cluster: (*cluster).to_owned(),
                service: (*name).to_owned(),
            }))
        }
        ["service", _] => Err("old-format service ARN does not name its cluster"),
        _ => Err("ECS ARN is neither a task nor a service"),
    }
}

/// ECS cluster and service names: up to 255 letters, digits, hyphens and underscores.
fn is_ecs_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Task ids: 32 hex digits today, a UUID in the old format.
fn is_task_id(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}
