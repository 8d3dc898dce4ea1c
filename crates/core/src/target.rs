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
    /// A resource whose own ARN (or `awsAccountId`) puts it in another account or Region than
    /// the notice's: never acted on as the notice's same-named resource, nor in its own place
    /// on this notice's word (see [`place_in`]).
    #[serde(rename = "elsewhere")]
    Elsewhere(Box<Elsewhere>),
}

/// Where a resource says it is: the account and Region of its ARN, or its entity's
/// `awsAccountId`. `None` where it does not say (then it is the notice's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place {
    pub account: Option<String>,
    pub region: Option<String>,
}

/// A resource of another account or Region than its notice's (see [`Target::Elsewhere`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Elsewhere {
    /// The entity as the notice gave it.
    pub raw: String,
    /// What it names (`service payments/api`, `task prod/0123…`).
    pub resource: String,
    /// Its own account and Region, as its ARN (or entity) says.
    pub account: Option<String>,
    pub region: Option<String>,
    /// The notice's account and Region.
    pub notice_account: Option<String>,
    pub notice_region: Option<String>,
}

impl Elsewhere {
    /// Whether it is another account (else another Region of the same account).
    pub fn other_account(&self) -> bool {
        self.account.is_some() && self.account != self.notice_account
    }
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
            Target::Elsewhere(e) => format!(
                "elsewhere:{}:{}:{}",
                e.account.as_deref().unwrap_or_default(),
                e.region.as_deref().unwrap_or_default(),
                e.resource
            ),
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
            Target::Elsewhere(e) => write!(
                f,
                "{} in account {} {}",
                e.resource,
                e.account.as_deref().unwrap_or("?"),
                e.region.as_deref().unwrap_or("?")
            ),
        }
    }
}

/// Parses one entity string. Never fails: unknown shapes become [`Target::Unrecognized`].
pub fn parse_entity(raw: &str) -> Target {
    parse_entity_placed(raw).0
}

/// The entity `raw` placed against its notice's account and Region: a resource whose ARN (or
/// `entity_account`, the entity's `awsAccountId`) names another account or Region than the
/// notice's becomes [`Target::Elsewhere`]. Acting on it in the notice's account would force a
/// same-named resource nobody named; acting on it in its own account would let one account's
/// notice steer another's resources. Neither happens: its outcome names both places.
pub fn place_in(
    raw: &str,
    entity_account: Option<&str>,
    notice_account: Option<&str>,
    notice_region: Option<&str>,
) -> Target {
    let (target, mut place) = parse_entity_placed(raw);
    // A place the resource names and the notice does not (or names otherwise) is elsewhere:
    // a hand-made notice without an account cannot claim an ARN's resources for this one; an
    // ARN and its entity's `awsAccountId` that disagree are not believed either.
    let differs = |own: Option<&str>, notice: Option<&str>| own.is_some_and(|a| Some(a) != notice);
    let arn_and_entity_disagree = matches!(
        (place.account.as_deref(), entity_account),
        (Some(a), Some(b)) if a != b
    );
    if place.account.is_none() || arn_and_entity_disagree {
        place.account = entity_account.map(str::to_owned).or(place.account);
    }
    if !(arn_and_entity_disagree
        || differs(place.account.as_deref(), notice_account)
        || differs(place.region.as_deref(), notice_region))
    {
        return target;
    }
    Target::Elsewhere(Box::new(Elsewhere {
        raw: raw.to_owned(),
        resource: target.to_string(),
        account: place.account,
        region: place.region.or(notice_region.map(str::to_owned)),
        notice_account: notice_account.map(str::to_owned),
        notice_region: notice_region.map(str::to_owned),
    }))
}

/// An EC2 instance entity, placed like an ECS one by its `awsAccountId`.
pub(crate) fn instance_in(
    raw: &str,
    entity_account: Option<&str>,
    notice_account: Option<&str>,
    notice_region: Option<&str>,
) -> Target {
    let target = parse_instance_entity(raw);
    match (entity_account, notice_account) {
        (Some(own), notice) if Some(own) != notice && matches!(target, Target::Instance(_)) => {
            Target::Elsewhere(Box::new(Elsewhere {
                raw: raw.to_owned(),
                resource: target.to_string(),
                account: Some(own.to_owned()),
                region: notice_region.map(str::to_owned),
                notice_account: notice_account.map(str::to_owned),
                notice_region: notice_region.map(str::to_owned),
            }))
        }
        _ => target,
    }
}

/// A resource the notice places in two ways (`resources[]` or a plain entity says here, an
/// entity's ARN or `awsAccountId` says elsewhere) is not believed to be here: it is kept as
/// unrecognized, with the reason (its own outcome, no call), beside its elsewhere outcome.
pub(crate) fn distrust_disagreements(targets: Vec<Target>) -> Vec<Target> {
    let elsewhere: std::collections::HashMap<String, String> = targets
        .iter()
        .filter_map(|t| match t {
            Target::Elsewhere(e) => {
                Some((e.resource.clone(), e.account.clone().unwrap_or_default()))
            }
            _ => None,
        })
        .collect();
    targets
        .into_iter()
        .map(|t| match elsewhere.get(&t.to_string()) {
            Some(account) if !matches!(t, Target::Elsewhere(_)) => Target::Unrecognized {
                raw: t.to_string(),
                why: format!(
                    "the notice also places {t} in account {account}: not believed to be this account's, not acted on"
                ),
            },
            _ => t,
        })
        .collect()
}

/// [`parse_entity`] and where the entity says it is.
fn parse_entity_placed(raw: &str) -> (Target, Place) {
    let trimmed = raw.trim();
    let unrecognized = |why: &str| Target::Unrecognized {
        raw: raw.to_owned(),
        why: why.to_owned(),
    };
    if trimmed.is_empty() {
        return (unrecognized("empty entity value"), Place::default());
    }
    if trimmed.starts_with("arn:") {
        return match parse_arn(trimmed) {
            Ok(placed) => placed,
            Err(why) => (unrecognized(why), Place::default()),
        };
    }
    let parts: Vec<&str> = if trimmed.contains('|') {
        trimmed.split('|').map(str::trim).collect()
    } else {
        trimmed.split('/').map(str::trim).collect()
    };
    let target = match parts.as_slice() {
        [cluster, service] if is_ecs_name(cluster) && is_ecs_name(service) => {
            Target::Service(ServiceRef {
                cluster: (*cluster).to_owned(),
                service: (*service).to_owned(),
            })
        }
        [_, _] => unrecognized("cluster or service name has characters ECS does not allow"),
        _ => unrecognized("expected cluster|service, cluster/service or an ECS task ARN"),
    };
    (target, Place::default())
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
fn parse_arn(arn: &str) -> Result<(Target, Place), &'static str> {
    let mut fields = arn.splitn(6, ':');
    let (Some("arn"), Some(_partition), Some(service), Some(region), Some(account), Some(resource)) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err("malformed ARN");
    };
    if service != "ecs" {
        return Err("ARN is not an ECS resource");
    }
    if region.is_empty() || account.is_empty() {
        return Err("ECS ARN names no Region or no account");
    }
    let path: Vec<&str> = resource.split('/').collect();
    let place = Place {
        account: Some(account.to_owned()).filter(|a| !a.is_empty()),
        region: Some(region.to_owned()).filter(|r| !r.is_empty()),
    };
    let target = match path.as_slice() {
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
    }?;
    Ok((target, place))
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
