//! Kubernetes objects → the plain readings of [`remediator_core::preflight::eks`].

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::core::{Selector, SelectorExt};
use remediator_core::pod::{WorkloadKind, ARGO_ROLLOUT_API_VERSION};
use remediator_core::preflight::eks::{self, Amount, Budget, Cluster, FargatePod, PodOwner};

use crate::restart::controller;

/// What the LISTs returned.
#[derive(Default)]
pub(super) struct Lists {
    pub pods: Vec<Pod>,
    pub replica_sets: Vec<ReplicaSet>,
    pub deployments: Vec<Deployment>,
    pub stateful_sets: Vec<StatefulSet>,
    pub budgets: Vec<PodDisruptionBudget>,
}

impl Lists {
    pub fn into_cluster(self, name: &str) -> Cluster {
        Cluster {
            name: name.to_owned(),
            pods: self
                .pods
                .iter()
                .map(|p| fargate_pod(p, &self.replica_sets))
                .collect(),
            deployments: self.deployments.iter().map(deployment).collect(),
            stateful_sets: self.stateful_sets.iter().map(stateful_set).collect(),
            budgets: self.budgets.iter().map(|b| budget(b, &self.pods)).collect(),
        }
    }
}

fn namespace_and_name(meta: &kube::core::ObjectMeta) -> (String, String) {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

/// The pod and its owner chain: pod → ReplicaSet → Deployment (or Argo Rollout).
fn fargate_pod(pod: &Pod, replica_sets: &[ReplicaSet]) -> FargatePod {
    let (namespace, name) = namespace_and_name(&pod.metadata);
    let owner = match controller(&pod.metadata) {
        None => PodOwner::None,
        Some(o) if o.kind == "ReplicaSet" => {
            let rs = replica_sets.iter().find(|rs| {
                rs.metadata.namespace.as_deref() == Some(namespace.as_str())
                    && rs.metadata.name.as_deref() == Some(o.name.as_str())
            });
            match rs.and_then(|rs| controller(&rs.metadata)) {
                Some(d) if d.kind == "Deployment" => {
                    PodOwner::Workload(WorkloadKind::Deployment, d.name)
                }
                Some(r) if r.kind == "Rollout" && r.api_version == ARGO_ROLLOUT_API_VERSION => {
                    PodOwner::Workload(WorkloadKind::Rollout, r.name)
                }
                _ => PodOwner::Other {
                    kind: o.kind,
                    name: o.name,
                },
            }
        }
        Some(o) => match WorkloadKind::parse(&o.kind).filter(|k| *k != WorkloadKind::Rollout) {
            Some(kind) => PodOwner::Workload(kind, o.name),
            None => PodOwner::Other {
                kind: o.kind,
                name: o.name,
            },
        },
    };
    FargatePod {
        namespace,
        name,
        owner,
    }
}

fn deployment(d: &Deployment) -> eks::Deployment {
    let (namespace, name) = namespace_and_name(&d.metadata);
    let spec = Some(&d.spec);
    eks::Deployment {
        namespace,
        name,
        replicas: spec.and_then(|s| s.replicas).unwrap_or(1),
        ready_replicas: d
            .status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0),
        paused: spec.and_then(|s| s.paused).unwrap_or(false),
    }
}

fn stateful_set(s: &StatefulSet) -> eks::StatefulSet {
    let (namespace, name) = namespace_and_name(&s.metadata);
    let spec = Some(&s.spec);
    let strategy = spec.and_then(|s| s.update_strategy.as_ref());
    eks::StatefulSet {
        namespace,
        name,
        replicas: spec.and_then(|s| s.replicas).unwrap_or(1),
        ready_replicas: s
            .status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0),
        on_delete: strategy.and_then(|u| u.type_.as_deref()) == Some("OnDelete"),
        partition: strategy
            .and_then(|u| u.rolling_update.as_ref())
            .and_then(|r| r.partition)
            .unwrap_or(0),
    }
}

/// The budget, with the Fargate pods of its namespace its selector matches (a budget without a
/// selector matches none; `{}` matches all, as policy/v1 has it).
fn budget(b: &PodDisruptionBudget, pods: &[Pod]) -> Budget {
    let (namespace, name) = namespace_and_name(&b.metadata);
    let spec = b.spec.as_ref();
    let selector: Option<Selector> = spec
        .and_then(|s| s.selector.clone())
        .and_then(|s| Selector::try_from(s).ok());
    let selects = selector
        .map(|sel| {
            pods.iter()
                .filter(|p| p.metadata.namespace.as_deref() == Some(namespace.as_str()))
                .filter(|p| sel.matches(&p.metadata.labels.clone().unwrap_or_default()))
                .filter_map(|p| p.metadata.name.clone())
                .collect()
        })
        .unwrap_or_default();
    Budget {
        namespace,
        name,
        selects,
        disruptions_allowed: b.status.as_ref().and_then(|s| s.disruptions_allowed),
        min_available: spec.and_then(|s| s.min_available.as_ref()).and_then(amount),
        max_unavailable: spec
            .and_then(|s| s.max_unavailable.as_ref())
            .and_then(amount),
    }
}

/// `2` or `"50%"`; anything else (which the API server would have refused) as unset.
fn amount(v: &IntOrString) -> Option<Amount> {
    match v {
        IntOrString::Int(n) => Some(Amount::Count(*n)),
        IntOrString::String(s) => match s.strip_suffix('%') {
            Some(p) => p.trim().parse().ok().map(Amount::Percent),
            None => s.trim().parse().ok().map(Amount::Count),
        },
    }
}
