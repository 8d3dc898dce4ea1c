//! Pure decisions for one EKS Fargate pod: notice + what was seen of its owner chain → the next
//! step. No I/O and no Kubernetes types here; `remediator-kube` fetches what a [`Step::Look`]
//! asks for, records it in [`Observed`] and asks again, then patches on [`Step::Restart`].
//!
//! ```text
//! too late? ─▶ Pod ─▶ [ReplicaSet] ─▶ Deployment | Rollout | StatefulSet | DaemonSet ─▶ Namespace ─▶ Restart
//! ```
//!
//! Asking one step at a time keeps the requests exactly as few as the decision needs: nothing at
//! all when it is too late, and no namespace read once the workload alone settles it.

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};

use crate::follow::Verdict;
use crate::names::Code;
use crate::notice::PodNotice;
use crate::outcome::{Outcome, Status};
use crate::pipeline::pod_target;
use crate::plan::{consent_by, Marking};

/// The `apiVersion` of an Argo Rollouts `Rollout`: a `Rollout` of any other group is not Argo's,
/// and nothing says it restarts through `spec.restartAt`.
pub const ARGO_ROLLOUT_API_VERSION: &str = "argoproj.io/v1alpha1";

/// A workload kind that a rolling restart applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    /// An Argo Rollouts `Rollout` (`argoproj.io/v1alpha1`): restarted through `spec.restartAt`,
    /// not the pod template's `restartedAt`.
    Rollout,
}

impl WorkloadKind {
    /// The Kubernetes `kind`, as outcomes name it.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
            WorkloadKind::Rollout => "Rollout",
        }
    }

    /// The field a restart sets, as outcomes name it.
    pub fn restart_field(self) -> &'static str {
        match self {
            WorkloadKind::Rollout => "restartAt",
            _ => "restartedAt",
        }
    }

    /// The kind [`WorkloadKind::as_str`] names.
    pub fn parse(kind: &str) -> Option<WorkloadKind> {
        [
            WorkloadKind::Deployment,
            WorkloadKind::StatefulSet,
            WorkloadKind::DaemonSet,
            WorkloadKind::Rollout,
        ]
        .into_iter()
        .find(|k| k.as_str() == kind)
    }
}

/// How outcomes record the workload a pod's remediation acted on or watches (`Deployment/web`),
/// so that follow-up checks can look at it after the pod is gone.
pub fn workload_ref(kind: WorkloadKind, name: &str) -> String {
    format!("{}/{name}", kind.as_str())
}

/// The workload a [`workload_ref`] names.
pub fn parse_workload_ref(reference: &str) -> Option<(WorkloadKind, &str)> {
    let (kind, name) = reference.split_once('/')?;
    Some((WorkloadKind::parse(kind)?, name)).filter(|(_, name)| !name.is_empty())
}

/// The verdict of a follow-up check on the workload a pod's remediation restarted: the rollout
/// finished (see [`WorkloadSeen::rollout_done`]) → verified; the workload's settings keep it
/// from replacing the pod → failed; otherwise still rolling out.
pub fn verdict(
    notice: &PodNotice,
    kind: WorkloadKind,
    name: &str,
    seen: &Seen<WorkloadSeen>,
) -> Verdict {
    let label = label(notice, kind, name);
    match seen {
        Seen::Missing => Verdict::Verified(format!(
            "{label} is gone: none of its pods is left to retire"
        )),
        // A finished rollout replaced the pod, whatever was set on the workload since.
        Seen::Found(w) if w.rollout_done => Verdict::Verified(format!(
            "{label} finished its rollout: every replica updated, ready and available"
        )),
        Seen::Found(w) => match &w.blocked {
            Some(why) => Verdict::Failed(
                Code::RolloutBlocked,
                format!(
                    "{label} will not replace the pod: {why}; EKS deletes the pod at {}",
                    notice.scheduled_termination.to_rfc3339()
                ),
            ),
            None => Verdict::Pending(format!("{label} is still rolling out")),
        },
    }
}

/// An object's controller ownerReference (the one with `controller: true`): who manages it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The owner's `apiVersion` (`apps/v1`, `argoproj.io/v1alpha1`): a kind name alone does
    /// not say whose it is.
    pub api_version: String,
    pub kind: String,
    pub name: String,
}

/// What one read found: the object, or a 404.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen<T> {
    Found(T),
    /// The API answered 404: the object is gone.
    Missing,
}

impl<T> From<Option<T>> for Seen<T> {
    /// `get_opt`'s answer: `None` is a 404.
    fn from(found: Option<T>) -> Self {
        found.map_or(Seen::Missing, Seen::Found)
    }
}

/// What the planner needs of the pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSeen {
    pub owner: Option<Owner>,
}

/// What the planner needs of the ReplicaSet that owns the pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaSetSeen {
    /// The Deployment or Argo Rollout, when one manages it.
    pub owner: Option<Owner>,
}

/// What the planner needs of the workload to restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadSeen {
    /// The pod template's `kubectl.kubernetes.io/restartedAt` (a Rollout: its `spec.restartAt`),
    /// when set and valid RFC 3339.
    pub restarted_at: Option<DateTime<Utc>>,
    /// Whether the workload is replacing its pods already (per-kind status arithmetic).
    pub rolling_out: bool,
    /// The workload's own annotations (not its pod template's): the operator's marks.
    pub annotations: Vec<(String, String)>,
    /// Why a rolling restart would not replace the pod, when the workload says so (a paused
    /// Deployment, one past its progress deadline, an `OnDelete` strategy, a StatefulSet
    /// partition above the pod's ordinal). Such a workload is not `rolling_out` either.
    pub blocked: Option<String>,
    /// The rollout has finished: `observedGeneration` ≥ `generation` and the updated, ready and
    /// available replicas equal the desired count (a StatefulSet: its update revision is
    /// current; a DaemonSet: every scheduled pod is updated and available).
    pub rollout_done: bool,
}

/// What reading the pod's namespace found. It is read only for its annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceSeen {
    /// The namespace's own annotations.
    Found(Vec<(String, String)>),
    /// 404: no namespace, so no marks on it.
    Missing,
    /// 403: the remediator's RBAC does not allow `get` on namespaces. Without the namespace's
    /// marks an opt-out could be missed, so this stops the restart.
    Forbidden,
}

/// What has been read so far. `None`: not read yet; each field is filled by answering the
/// [`Look`] that asked for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    pub pod: Option<Seen<PodSeen>>,
    /// The ReplicaSet [`Look::ReplicaSet`] named.
    pub replica_set: Option<Seen<ReplicaSetSeen>>,
    /// The workload [`Look::Workload`] named.
    pub workload: Option<Seen<WorkloadSeen>>,
    pub namespace: Option<NamespaceSeen>,
}

/// The one object the planner needs to see next. All live in the notice's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Look {
    /// The pod the notice names; answer in [`Observed::pod`].
    Pod,
    /// The ReplicaSet of that name; answer in [`Observed::replica_set`].
    ReplicaSet(String),
    /// The workload of that kind and name; answer in [`Observed::workload`].
    Workload(WorkloadKind, String),
    /// The notice's namespace; answer in [`Observed::namespace`].
    Namespace,
}

/// What to do next for the pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Read this, record it, and ask again.
    Look(Look),
    /// Nothing (more) to call: the outcome is known.
    Final(Outcome),
    /// Set the workload's `restartedAt` (or, in a dry run, say so with [`would_restart`]).
    Restart { kind: WorkloadKind, name: String },
}

/// Decides the next step for the pod `notice` names, from what has been `observed` so far.
///
/// Each [`Step::Look`] asks for a field of `observed` that is still `None`, so filling it in
/// always moves the plan on: at most four looks before a final step.
pub fn plan_pod(
    notice: &PodNotice,
    observed: &Observed,
    now: DateTime<Utc>,
    opt_in_only: bool,
) -> Step {
    let target = pod_target(notice);
    let skipped = |code: Code, reason: String| {
        Step::Final(Outcome::new(target.clone(), Status::Skipped, code, reason))
    };
    // Checked before any read: past the termination time EKS deletes the pod regardless.
    if now >= notice.scheduled_termination {
        return skipped(
            Code::TooLate,
            format!(
                "EKS scheduled the pod's deletion for {}; it is too late to restart ahead of it",
                notice.scheduled_termination.to_rfc3339()
            ),
        );
    }
    let pod = match &observed.pod {
        None => return Step::Look(Look::Pod),
        Some(Seen::Missing) => return skipped(Code::Gone, "pod is already gone".to_owned()),
        Some(Seen::Found(pod)) => pod,
    };
    let (kind, name) = match owner_workload(notice, pod, observed) {
        Ok(workload) => workload,
        Err(step) => return *step,
    };
    let label = label(notice, kind, &name);
    let workload = match &observed.workload {
        None => return Step::Look(Look::Workload(kind, name)),
        Some(Seen::Missing) => return skipped(Code::Gone, format!("{label} is already gone")),
        Some(Seen::Found(workload)) => workload,
    };
    if let Some(replacing) = already_replacing(notice, &label, kind, &name, workload) {
        return Step::Final(replacing);
    }
    // The operator's word: annotations on the workload or its namespace.
    let ns_annotations: &[(String, String)] = match &observed.namespace {
        None => return Step::Look(Look::Namespace),
        Some(NamespaceSeen::Forbidden) => {
            return Step::Final(Outcome::failed(
                target,
                Code::ApiError,
                format!(
                    "{label}: not restarted: cannot read namespace {} for its retirement-remediator annotations (forbidden); apply infra/kubernetes/rbac.yaml, which allows get on namespaces",
                    notice.namespace
                ),
                // Only an RBAC change fixes it: retrying the same request would be refused again.
                false,
            ));
        }
        Some(NamespaceSeen::Missing) => &[],
        Some(NamespaceSeen::Found(annotations)) => annotations,
    };
    if let Some(no) = consent_by(
        &target,
        &workload.annotations,
        ns_annotations,
        opt_in_only,
        Marking::KubeAnnotations,
    ) {
        return Step::Final(no.with_reason_prefix(&label));
    }
    if let Some(why) = &workload.blocked {
        return Step::Final(Outcome::failed(
            target,
            Code::RolloutBlocked,
            format!(
                "{label} not restarted: {why}; EKS deletes the pod at {}",
                notice.scheduled_termination.to_rfc3339()
            ),
            // The workload's own settings block it: a person decides, a retry would not.
            false,
        ));
    }
    Step::Restart { kind, name }
}

/// The workload that owns the pod and has a rolling restart, or the final step saying why there
/// is none (`Err` also carries the look at the ReplicaSet still to be made).
fn owner_workload(
    notice: &PodNotice,
    pod: &PodSeen,
    observed: &Observed,
) -> Result<(WorkloadKind, String), Box<Step>> {
    let skipped = |code: Code, reason: String| {
        Box::new(Step::Final(Outcome::new(
            pod_target(notice),
            Status::Skipped,
            code,
            reason,
        )))
    };
    // The eviction error usually names the PodDisruptionBudget that made EKS give up: when
    // nothing can be restarted, that budget is what the operator has to look at.
    let hint = notice
        .evict_error
        .as_deref()
        .map(|e| format!(" (eviction failed: {e}; check the pod's PodDisruptionBudgets)"))
        .unwrap_or_default();
    match &pod.owner {
        Some(owner) if owner.kind == "ReplicaSet" => {
            let rs_owner = match &observed.replica_set {
                None => return Err(Box::new(Step::Look(Look::ReplicaSet(owner.name.clone())))),
                Some(Seen::Found(rs)) => rs.owner.as_ref(),
                Some(Seen::Missing) => None,
            };
            match rs_owner {
                Some(d) if d.kind == "Deployment" => Ok((WorkloadKind::Deployment, d.name.clone())),
                Some(r) if r.kind == "Rollout" && r.api_version == ARGO_ROLLOUT_API_VERSION => {
                    Ok((WorkloadKind::Rollout, r.name.clone()))
                }
                Some(other) => Err(skipped(
                    Code::NoOwnerToRestart,
                    format!(
                        "pod belongs to ReplicaSet {}, owned by {} {} ({}), which has no rolling restart{hint}",
                        owner.name, other.kind, other.name, other.api_version
                    ),
                )),
                None => {
                    Err(skipped(
                        Code::NoOwnerToRestart,
                        format!(
                            "pod belongs to ReplicaSet {} that no Deployment or Argo Rollout owns: nothing to restart{hint}",
                            owner.name
                        ),
                    ))
                }
            }
        }
        Some(owner) if owner.kind == "StatefulSet" => {
            Ok((WorkloadKind::StatefulSet, owner.name.clone()))
        }
        Some(owner) if owner.kind == "DaemonSet" => {
            Ok((WorkloadKind::DaemonSet, owner.name.clone()))
        }
        Some(owner) => Err(skipped(
            Code::NoOwnerToRestart,
            format!(
                "pod is owned by {} {}, which has no rolling restart{hint}",
                owner.kind, owner.name
            ),
        )),
        None => Err(skipped(
            Code::NoOwnerToRestart,
            format!(
                "bare pod without an owner: nothing to restart; EKS deletes it at {}{hint}",
                notice.scheduled_termination.to_rfc3339()
            ),
        )),
    }
}

/// The outcome when the workload is being replaced already: restarted after the notice, or
/// mid-rollout.
fn already_replacing(
    notice: &PodNotice,
    label: &str,
    kind: WorkloadKind,
    name: &str,
    workload: &WorkloadSeen,
) -> Option<Outcome> {
    let target = pod_target(notice);
    // `restartedAt` (and `restartAt`) has whole seconds (as kubectl writes it): compare at that
    // precision.
    let published = notice.published_at.trunc_subsecs(0);
    if let Some(at) = workload.restarted_at.filter(|at| *at >= published) {
        return Some(
            Outcome::new(
                target,
                Status::AlreadyDone,
                Code::AlreadyRestarted,
                format!(
                    "{label} was restarted at {} after the event: its pods are being replaced",
                    at.to_rfc3339()
                ),
            )
            .with_deployments(None, Some(workload_ref(kind, name))),
        );
    }
    if workload.rolling_out {
        return Some(
            Outcome::new(
                target,
                Status::AlreadyDone,
                Code::RolloutInProgress,
                format!("{label} is mid-rollout: its pods are being replaced already"),
            )
            .with_deployments(None, Some(workload_ref(kind, name))),
        );
    }
    None
}

/// The `restartedAt` (a Rollout's `restartAt`) value for a restart at `now`: whole seconds in
/// UTC, as kubectl and `kubectl argo rollouts restart` write it (and as [`plan_pod`] compares it).
pub fn restart_stamp(now: DateTime<Utc>) -> String {
    now.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The dry-run outcome of a [`Step::Restart`].
pub fn would_restart(notice: &PodNotice, kind: WorkloadKind, name: &str) -> Outcome {
    Outcome::new(
        pod_target(notice),
        Status::Planned,
        Code::WouldRestart,
        format!("dry run: would restart {}", label(notice, kind, name)),
    )
}

/// The outcome of a [`Step::Restart`] whose patch succeeded, setting `restartedAt` (a Rollout:
/// `restartAt`) to `stamp`.
pub fn restarted(notice: &PodNotice, kind: WorkloadKind, name: &str, stamp: &str) -> Outcome {
    Outcome::new(
        pod_target(notice),
        Status::Acted,
        Code::Restarted,
        format!(
            "{} restarted ({} {stamp}) before EKS deletes the pod at {}",
            label(notice, kind, name),
            kind.restart_field(),
            notice.scheduled_termination.to_rfc3339()
        ),
    )
    .with_deployments(None, Some(workload_ref(kind, name)))
}

/// The outcome of a Kubernetes API call that failed; `reason` is the client's error.
pub fn api_error(notice: &PodNotice, reason: impl Into<String>, retryable: bool) -> Outcome {
    Outcome::failed(pod_target(notice), Code::ApiError, reason, retryable)
}

/// How outcomes name a workload: `Deployment shop/web`.
fn label(notice: &PodNotice, kind: WorkloadKind, name: &str) -> String {
    format!("{} {}/{name}", kind.as_str(), notice.namespace)
}

// Beside this file rather than in `pod/`, like the crate's other `*_tests.rs`.
#[cfg(test)]
#[path = "pod_tests.rs"]
mod pod_tests;
