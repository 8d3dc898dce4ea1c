//! Readiness rules for EKS Fargate workloads: what the Kubernetes reader saw → findings, and
//! what the pod planner would do for each workload today. Pure: no I/O here (the reader lives in
//! `remediator_kube::preflight`).
//!
//! The Kubernetes and EKS behaviours these rules rely on (the shared domain notes, §5 and §7):
//! - EKS patches Fargate nodes by *evicting* pods, which respects PodDisruptionBudgets, and sends
//!   the `EKS Fargate Pod Scheduled Termination` event only when an eviction fails: a budget that
//!   allows no disruption (or several budgets over one pod, which the eviction subresource
//!   refuses). Then it deletes the pod anyway at the scheduled time.
//! - A budget's `minAvailable` / `maxUnavailable` percentages are scaled to the workload's
//!   replicas rounded up (the disruption controller's `GetScaledValueFromIntOrPercent`).
//! - `kubectl rollout restart` refuses a paused Deployment (`spec.paused`), and a paused
//!   Deployment does not roll out a template change until resumed.
//! - A StatefulSet with `updateStrategy.type: OnDelete` never replaces a pod on a template change;
//!   with a `rollingUpdate.partition` above a pod's ordinal, the rolling update never reaches it.
//! - A pod no controller owns (no `ownerReferences` with `controller: true`) is not recreated by
//!   anything once EKS deletes it.

mod budget;
mod workload;

use std::collections::BTreeMap;

use super::{Finding, Resource};
use crate::names::{Code, Risk};
use crate::pod::WorkloadKind;

/// What the reader saw of one cluster's Fargate pods and the objects around them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cluster {
    pub name: String,
    /// Pods with the `eks.amazonaws.com/fargate-profile` label, every namespace.
    pub pods: Vec<FargatePod>,
    pub deployments: Vec<Deployment>,
    pub stateful_sets: Vec<StatefulSet>,
    /// PodDisruptionBudgets of the pods' namespaces.
    pub budgets: Vec<Budget>,
}

/// One pod running on Fargate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FargatePod {
    pub namespace: String,
    pub name: String,
    pub owner: PodOwner,
}

/// The pod's owner chain, resolved by the reader (pod → ReplicaSet → Deployment or Rollout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodOwner {
    /// No controller ownerReference: a bare pod.
    None,
    /// A workload with a rolling restart.
    Workload(WorkloadKind, String),
    /// The nearest controller, which has no rolling restart (a Job, a ReplicaSet no Deployment
    /// owns, another operator's kind).
    Other { kind: String, name: String },
}

/// What the rules need of a Deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub namespace: String,
    pub name: String,
    /// `spec.replicas` (1 when unset, as the API defaults it).
    pub replicas: i32,
    /// `status.readyReplicas`.
    pub ready_replicas: i32,
    /// `spec.paused`.
    pub paused: bool,
}

/// What the rules need of a StatefulSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatefulSet {
    pub namespace: String,
    pub name: String,
    pub replicas: i32,
    pub ready_replicas: i32,
    /// `spec.updateStrategy.type` is `OnDelete`.
    pub on_delete: bool,
    /// `spec.updateStrategy.rollingUpdate.partition` (0 when unset).
    pub partition: i32,
}

/// An `IntOrString` budget value: `2` or `"50%"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    Count(i32),
    Percent(i32),
}

/// What the rules need of a PodDisruptionBudget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    pub namespace: String,
    pub name: String,
    /// The Fargate pods (by name, in the budget's namespace) its selector matches.
    pub selects: Vec<String>,
    /// `status.disruptionsAllowed`, when the status was written.
    pub disruptions_allowed: Option<i32>,
    pub min_available: Option<Amount>,
    pub max_unavailable: Option<Amount>,
}

/// Where a scope's findings and resource rows are reported.
pub(crate) struct Scope<'a> {
    pub cluster: &'a Cluster,
    pub account: &'a str,
    pub region: &'a str,
}

impl Scope<'_> {
    fn finding(&self, resource: &str, risk: Risk, why: String, fix: String) -> Finding {
        Finding::new(self.account, self.region, resource, risk, why, fix)
    }

    fn resource(&self, resource: &str, code: Code, reason: String) -> Resource {
        Resource {
            account: self.account.to_owned(),
            region: self.region.to_owned(),
            resource: resource.to_owned(),
            code,
            action: None,
            reason,
        }
    }

    /// How findings name an object: `deployment CLUSTER/NS/NAME`, as pod targets do
    /// (`pod CLUSTER/NS/NAME`), so that two clusters' objects of one name stay apart.
    fn label(&self, kind: &str, namespace: &str, name: &str) -> String {
        format!("{kind} {}/{namespace}/{name}", self.cluster.name)
    }
}

/// The findings for `cluster` and what the remediator would do for each of its Fargate
/// workloads (one row per workload, one per pod that has none) if a notice named it today.
pub fn assess(cluster: &Cluster, account: &str, region: &str) -> (Vec<Finding>, Vec<Resource>) {
    let scope = Scope {
        cluster,
        account,
        region,
    };
    let mut findings = Vec::new();
    let mut resources = Vec::new();
    // (namespace, kind, name) → its pods, in a stable order.
    let mut workloads: BTreeMap<(&str, &str, &str), (WorkloadKind, Vec<&str>)> = BTreeMap::new();
    for pod in &cluster.pods {
        match &pod.owner {
            PodOwner::Workload(kind, name) => {
                workloads
                    .entry((&pod.namespace, kind.as_str(), name))
                    .or_insert_with(|| (*kind, Vec::new()))
                    .1
                    .push(&pod.name);
            }
            PodOwner::None => {
                let label = scope.label("pod", &pod.namespace, &pod.name);
                findings.push(scope.finding(
                    &label,
                    Risk::BarePod,
                    "the pod has no controller ownerReference: nothing recreates it after EKS deletes it".to_owned(),
                    format!(
                        "run it from a Deployment (or StatefulSet) instead of a bare pod, e.g. `kubectl create deployment {} -n {} --image=IMAGE`",
                        pod.name, pod.namespace
                    ),
                ));
                resources.push(scope.resource(
                    &label,
                    Code::NoOwnerToRestart,
                    "bare pod without an owner: nothing to restart".to_owned(),
                ));
            }
            PodOwner::Other { kind, name } => resources.push(scope.resource(
                &scope.label("pod", &pod.namespace, &pod.name),
                Code::NoOwnerToRestart,
                format!("pod is owned by {kind} {name}, which has no rolling restart"),
            )),
        }
    }
    for ((namespace, _, name), (kind, pods)) in workloads {
        let assessed = workload::assess(&scope, namespace, kind, name, &pods);
        let budgets = budget::findings(&scope, &assessed);
        findings.extend(assessed.findings);
        findings.extend(budgets);
        resources.push(assessed.resource);
    }
    (findings, resources)
}

#[cfg(test)]
#[path = "eks_tests.rs"]
mod tests;
