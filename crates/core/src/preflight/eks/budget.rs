//! PodDisruptionBudgets that make the eviction fail, which is what makes EKS send the
//! `EKS Fargate Pod Scheduled Termination` event.

use super::workload::Assessed;
use super::{Amount, Budget, Scope};
use crate::names::Risk;
use crate::pod::WorkloadKind;
use crate::preflight::Finding;

/// The budget findings for one workload: each budget over its pods that allows no disruption,
/// and pods that more than one budget selects.
pub(super) fn findings(scope: &Scope<'_>, w: &Assessed<'_>) -> Vec<Finding> {
    let Some((replicas, ready)) = w.replicas else {
        return Vec::new();
    };
    let budgets: Vec<&Budget> = scope
        .cluster
        .budgets
        .iter()
        .filter(|b| {
            b.namespace == w.namespace && w.pods.iter().any(|p| b.selects.iter().any(|s| s == p))
        })
        .collect();
    let scale = scale_command(w.kind, w.namespace, w.name, replicas);
    let mut out: Vec<Finding> = budgets
        .iter()
        .filter_map(|b| {
            let why = allows_no_disruption(b, replicas, ready)?;
            Some(scope.finding(
                &w.label,
                Risk::PdbAllowsNoDisruption,
                format!("PodDisruptionBudget {}/{} selects its pods and allows no disruption ({why}): the Fargate eviction fails, EKS sends the scheduled-termination event and deletes the pods at its deadline", b.namespace, b.name),
                format!(
                    "allow one disruption: `kubectl patch pdb {} -n {} --type merge -p '{{\"spec\":{{\"minAvailable\":null,\"maxUnavailable\":1}}}}'`, or add a replica: `{scale}`",
                    b.name, b.namespace
                ),
            ))
        })
        .collect();
    if budgets.len() > 1 {
        let names: Vec<&str> = budgets.iter().map(|b| b.name.as_str()).collect();
        out.push(scope.finding(
            &w.label,
            Risk::PdbAllowsNoDisruption,
            format!(
                "PodDisruptionBudgets {} all select its pods: the eviction subresource refuses a pod with more than one budget",
                names.join(", ")
            ),
            "narrow the budgets' spec.selector so that each pod has one PodDisruptionBudget".to_owned(),
        ));
    }
    out
}

/// What in `b` leaves no disruption for a workload of `replicas` (`ready` of them ready):
/// its spec alone, or its status while the workload is healthy (an unhealthy workload's 0 is
/// the budget doing its job, and passes).
fn allows_no_disruption(b: &Budget, replicas: i32, ready: i32) -> Option<String> {
    if replicas <= 0 {
        return None;
    }
    if let Some(max) = b.max_unavailable.filter(|m| scaled(*m, replicas) <= 0) {
        return Some(format!("spec.maxUnavailable {}", show(max)));
    }
    if let Some(min) = b.min_available.filter(|m| scaled(*m, replicas) >= replicas) {
        return Some(format!(
            "spec.minAvailable {} of {replicas} replicas",
            show(min)
        ));
    }
    (ready >= replicas && b.disruptions_allowed == Some(0))
        .then(|| format!("status.disruptionsAllowed 0 with {ready} of {replicas} replicas ready"))
}

/// A budget value as a count of `replicas`, percentages rounded up as the disruption
/// controller does.
fn scaled(amount: Amount, replicas: i32) -> i32 {
    match amount {
        Amount::Count(n) => n,
        Amount::Percent(p) => {
            let total = i64::from(p) * i64::from(replicas);
            i32::try_from((total + 99) / 100).unwrap_or(i32::MAX)
        }
    }
}

fn show(amount: Amount) -> String {
    match amount {
        Amount::Count(n) => n.to_string(),
        Amount::Percent(p) => format!("{p}%"),
    }
}

fn scale_command(kind: WorkloadKind, namespace: &str, name: &str, replicas: i32) -> String {
    format!(
        "kubectl scale {}/{name} -n {namespace} --replicas={}",
        kind.as_str().to_ascii_lowercase(),
        replicas.saturating_add(1)
    )
}
