//! One Fargate workload: paused Deployments, StatefulSets a rolling restart cannot replace, and
//! the row saying what the pod planner would do.

use super::{Scope, StatefulSet};
use crate::names::{Code, Risk};
use crate::pod::WorkloadKind;
use crate::preflight::{Finding, Resource};

/// A workload as assessed, with what the budget rules need.
pub(super) struct Assessed<'a> {
    pub namespace: &'a str,
    pub kind: WorkloadKind,
    pub name: &'a str,
    /// Its Fargate pods, by name.
    pub pods: Vec<&'a str>,
    pub label: String,
    /// `(replicas, ready)` when the workload was read (Deployments and StatefulSets).
    pub replicas: Option<(i32, i32)>,
    pub findings: Vec<Finding>,
    pub resource: Resource,
}

pub(super) fn assess<'a>(
    scope: &Scope<'a>,
    namespace: &'a str,
    kind: WorkloadKind,
    name: &'a str,
    pods: &[&'a str],
) -> Assessed<'a> {
    let label = scope.label(&kind.as_str().to_ascii_lowercase(), namespace, name);
    let mut findings = Vec::new();
    let (replicas, blocked) = match kind {
        WorkloadKind::Deployment => {
            match scope
                .cluster
                .deployments
                .iter()
                .find(|d| d.namespace == namespace && d.name == name)
            {
                None => (None, Err(format!("its pods name Deployment {namespace}/{name}, which the listing did not return"))),
                Some(d) => {
                    let blocked = d.paused.then(|| {
                        findings.push(scope.finding(
                            &label,
                            Risk::PausedDeployment,
                            "spec.paused is true: `kubectl rollout restart` refuses a paused Deployment and no template change rolls out until it is resumed".to_owned(),
                            format!("kubectl rollout resume deployment/{name} -n {namespace}"),
                        ));
                        "the Deployment is paused".to_owned()
                    });
                    (Some((d.replicas, d.ready_replicas)), Ok(blocked))
                }
            }
        }
        WorkloadKind::StatefulSet => match scope
            .cluster
            .stateful_sets
            .iter()
            .find(|s| s.namespace == namespace && s.name == name)
        {
            None => (None, Err(format!("its pods name StatefulSet {namespace}/{name}, which the listing did not return"))),
            Some(s) => {
                let blocked = stateful_set_blocked(s, pods);
                if let Some((why, fix)) = &blocked {
                    findings.push(scope.finding(
                        &label,
                        Risk::OnDeleteStatefulSet,
                        why.clone(),
                        fix.clone(),
                    ));
                }
                (
                    Some((s.replicas, s.ready_replicas)),
                    Ok(blocked.map(|(why, _)| why)),
                )
            }
        },
        // Not read by the preflight: the planner reads them when a notice names their pods.
        WorkloadKind::DaemonSet | WorkloadKind::Rollout => (None, Ok(None)),
    };
    let resource = match blocked {
        Err(why) => scope.resource(&label, Code::NotFound, why),
        Ok(Some(why)) => scope.resource(
            &label,
            Code::RolloutBlocked,
            format!("{label} would not replace its pods: {why}"),
        ),
        Ok(None) => scope.resource(
            &label,
            Code::WouldRestart,
            format!(
                "would restart {label} (its pod template's {}) for its {} Fargate pod(s)",
                kind.restart_field(),
                pods.len()
            ),
        ),
    };
    Assessed {
        namespace,
        kind,
        name,
        pods: pods.to_vec(),
        label,
        replicas,
        findings,
        resource,
    }
}

/// Why (and how to fix it) a rolling restart of `s` replaces none of `pods`, or not all of them.
fn stateful_set_blocked(s: &StatefulSet, pods: &[&str]) -> Option<(String, String)> {
    let (ns, name) = (&s.namespace, &s.name);
    if s.on_delete {
        return Some((
            "spec.updateStrategy.type is OnDelete: a rollout restart replaces a pod only when the pod is deleted".to_owned(),
            format!(
                "kubectl patch statefulset {name} -n {ns} --type merge -p '{{\"spec\":{{\"updateStrategy\":{{\"type\":\"RollingUpdate\"}}}}}}'"
            ),
        ));
    }
    let prefix = format!("{name}-");
    let below: Vec<&str> = pods
        .iter()
        .copied()
        .filter(|pod| {
            pod.strip_prefix(&prefix)
                .and_then(|o| o.parse::<i32>().ok())
                .is_some_and(|ordinal| ordinal < s.partition)
        })
        .collect();
    (!below.is_empty()).then(|| {
        (
            format!(
                "spec.updateStrategy.rollingUpdate.partition is {} and pods {} have lower ordinals: a rollout restart never replaces them",
                s.partition,
                below.join(", ")
            ),
            format!(
                "kubectl patch statefulset {name} -n {ns} --type merge -p '{{\"spec\":{{\"updateStrategy\":{{\"rollingUpdate\":{{\"partition\":0}}}}}}}}'"
            ),
        )
    })
}
