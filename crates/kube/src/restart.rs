//! Restart the workload that owns a Fargate pod, the way `kubectl rollout restart` does: set
//! `spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]`. The workload's own
//! rolling-update rules (maxSurge / maxUnavailable) then bring new pods up on patched Fargate
//! nodes, instead of EKS deleting the pod at a time nobody chose.
//!
//! Owner chains followed (controller ownerReferences): Pod → ReplicaSet → Deployment,
//! Pod → StatefulSet, Pod → DaemonSet. Anything else has nothing to restart.

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, Patch, PatchParams};
use kube::Client;
use remediator_core::outcome::{Outcome, Status};
use remediator_core::plan::{consent_by, Marking};
use remediator_core::{PodNotice, Target};
use serde_json::json;

/// The annotation `kubectl rollout restart` sets.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";
/// The field manager named on every patch.
pub const FIELD_MANAGER: &str = "retirement-remediator";

/// Stable outcome codes of the pod path.
pub mod code {
    pub const RESTARTED: &str = "restarted";
    pub const WOULD_RESTART: &str = "would_restart";
    pub const ALREADY_RESTARTED: &str = "already_restarted";
    pub const ROLLOUT_IN_PROGRESS: &str = "rollout_in_progress";
    pub const NO_OWNER: &str = "no_owner_to_restart";
    pub const GONE: &str = "gone";
    pub const TOO_LATE: &str = "too_late";
    pub const API_ERROR: &str = "api_error";
}

/// A workload kind that a rolling restart applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
}

impl WorkloadKind {
    fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
        }
    }
}

/// What the remediator needs to know of a workload.
struct Workload {
    restarted_at: Option<DateTime<Utc>>,
    rolling_out: bool,
    /// The workload's own annotations (not its pod template's).
    annotations: Vec<(String, String)>,
}

/// Restarts pod owners through one Kubernetes client.
pub struct PodRestarter {
    client: Client,
    opt_in_only: bool,
}

impl PodRestarter {
    pub fn new(client: Client) -> Self {
        PodRestarter {
            client,
            opt_in_only: false,
        }
    }

    /// Restart only workloads annotated (or in a namespace annotated)
    /// `retirement-remediator/enabled=true`.
    pub fn opt_in_only(mut self, yes: bool) -> Self {
        self.opt_in_only = yes;
        self
    }

    /// One outcome for the pod the notice names. `now` is the restart timestamp.
    pub async fn remediate(
        &self,
        notice: &PodNotice,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Outcome {
        let target = Target::Pod(remediator_core::PodRef {
            cluster: notice.cluster.clone(),
            namespace: notice.namespace.clone(),
            name: notice.pod.clone(),
        });
        match self.decide(notice, now, dry_run).await {
            Ok(outcome) => outcome.retarget(target),
            Err(e) => Outcome::failed(target, code::API_ERROR, e.to_string(), is_retryable(&e)),
        }
    }

    async fn decide(
        &self,
        notice: &PodNotice,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<Outcome, kube::Error> {
        let placeholder = Target::Unrecognized {
            raw: String::new(),
            why: String::new(),
        };
        if now >= notice.scheduled_termination {
            return Ok(Outcome::new(
                placeholder,
                Status::Skipped,
                code::TOO_LATE,
                format!(
                    "EKS scheduled the pod's deletion for {}; it is too late to restart ahead of it",
                    notice.scheduled_termination.to_rfc3339()
                ),
            ));
        }
        let ns = notice.namespace.as_str();
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let Some(pod) = pods.get_opt(&notice.pod).await? else {
            return Ok(Outcome::new(
                placeholder,
                Status::Skipped,
                code::GONE,
                "pod is already gone",
            ));
        };
        let hint = notice
            .evict_error
            .as_deref()
            .map(|e| format!(" (eviction failed: {e}; check the pod's PodDisruptionBudgets)"))
            .unwrap_or_default();
        let (kind, name) = match controller(&pod.metadata) {
            Some(owner) if owner.kind == "ReplicaSet" => {
                let replica_sets: Api<ReplicaSet> = Api::namespaced(self.client.clone(), ns);
                let rs = replica_sets.get_opt(&owner.name).await?;
                match rs.as_ref().and_then(|rs| controller(&rs.metadata)) {
                    Some(d) if d.kind == "Deployment" => (WorkloadKind::Deployment, d.name.clone()),
                    _ => {
                        return Ok(Outcome::new(
                            placeholder,
                            Status::Skipped,
                            code::NO_OWNER,
                            format!("pod belongs to ReplicaSet {} that no Deployment owns: nothing to restart{hint}", owner.name),
                        ))
                    }
                }
            }
            Some(owner) if owner.kind == "StatefulSet" => {
                (WorkloadKind::StatefulSet, owner.name.clone())
            }
            Some(owner) if owner.kind == "DaemonSet" => {
                (WorkloadKind::DaemonSet, owner.name.clone())
            }
            Some(owner) => {
                return Ok(Outcome::new(
                    placeholder,
                    Status::Skipped,
                    code::NO_OWNER,
                    format!(
                        "pod is owned by {} {}, which has no rolling restart{hint}",
                        owner.kind, owner.name
                    ),
                ))
            }
            None => {
                return Ok(Outcome::new(
                    placeholder,
                    Status::Skipped,
                    code::NO_OWNER,
                    format!(
                        "bare pod without an owner: nothing to restart; EKS deletes it at {}{hint}",
                        notice.scheduled_termination.to_rfc3339()
                    ),
                ))
            }
        };
        let label = format!("{} {ns}/{name}", kind.as_str());
        let Some(workload) = self.workload(kind, ns, &name).await? else {
            return Ok(Outcome::new(
                placeholder,
                Status::Skipped,
                code::GONE,
                format!("{label} is already gone"),
            ));
        };
        // `restartedAt` has whole seconds (as kubectl writes it): compare at that precision.
        let published = notice.published_at.trunc_subsecs(0);
        if let Some(at) = workload.restarted_at.filter(|at| *at >= published) {
            return Ok(Outcome::new(
                placeholder,
                Status::AlreadyDone,
                code::ALREADY_RESTARTED,
                format!(
                    "{label} was restarted at {} after the event: its pods are being replaced",
                    at.to_rfc3339()
                ),
            ));
        }
        if workload.rolling_out {
            return Ok(Outcome::new(
                placeholder,
                Status::AlreadyDone,
                code::ROLLOUT_IN_PROGRESS,
                format!("{label} is mid-rollout: its pods are being replaced already"),
            ));
        }
        // The operator's word: annotations on the workload or its namespace.
        let namespace = match Api::<Namespace>::all(self.client.clone())
            .get_opt(ns)
            .await
        {
            Ok(namespace) => namespace,
            Err(kube::Error::Api(status)) if status.code == 403 => {
                return Ok(Outcome::failed(
                    placeholder,
                    code::API_ERROR,
                    format!(
                        "{label}: not restarted: cannot read namespace {ns} for its retirement-remediator annotations (forbidden); apply infra/kubernetes/rbac.yaml, which allows get on namespaces"
                    ),
                    false,
                ))
            }
            Err(e) => return Err(e),
        };
        let ns_annotations = pairs(namespace.as_ref().map(|n| &n.metadata));
        if let Some(no) = consent_by(
            &placeholder,
            &workload.annotations,
            &ns_annotations,
            self.opt_in_only,
            Marking::KubeAnnotations,
        ) {
            return Ok(no.with_reason_prefix(&label));
        }
        if dry_run {
            return Ok(Outcome::new(
                placeholder,
                Status::Planned,
                code::WOULD_RESTART,
                format!("dry run: would restart {label}"),
            ));
        }
        let stamp = now.to_rfc3339_opts(SecondsFormat::Secs, true);
        let patch = json!({ "spec": { "template": { "metadata": { "annotations": { RESTARTED_AT: stamp } } } } });
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PatchParams::default()
        };
        match kind {
            WorkloadKind::Deployment => {
                Api::<Deployment>::namespaced(self.client.clone(), ns)
                    .patch(&name, &params, &Patch::Merge(&patch))
                    .await?;
            }
            WorkloadKind::StatefulSet => {
                Api::<StatefulSet>::namespaced(self.client.clone(), ns)
                    .patch(&name, &params, &Patch::Merge(&patch))
                    .await?;
            }
            WorkloadKind::DaemonSet => {
                Api::<DaemonSet>::namespaced(self.client.clone(), ns)
                    .patch(&name, &params, &Patch::Merge(&patch))
                    .await?;
            }
        }
        Ok(Outcome::new(
            placeholder,
            Status::Acted,
            code::RESTARTED,
            format!(
                "{label} restarted (restartedAt {stamp}) before EKS deletes the pod at {}",
                notice.scheduled_termination.to_rfc3339()
            ),
        ))
    }

    async fn workload(
        &self,
        kind: WorkloadKind,
        ns: &str,
        name: &str,
    ) -> Result<Option<Workload>, kube::Error> {
        let restarted_at = |meta: Option<&ObjectMeta>| {
            meta.and_then(|m| m.annotations.as_ref())
                .and_then(|a| a.get(RESTARTED_AT))
                .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
                .map(|t| t.with_timezone(&Utc))
        };
        Ok(match kind {
            WorkloadKind::Deployment => Api::<Deployment>::namespaced(self.client.clone(), ns)
                .get_opt(name)
                .await?
                .map(|d| {
                    let generation = d.metadata.generation.unwrap_or(0);
                    let spec_replicas = d.spec.replicas.unwrap_or(1);
                    let status = d.status.as_ref();
                    let observed = status.and_then(|s| s.observed_generation).unwrap_or(0);
                    let updated = status.and_then(|s| s.updated_replicas).unwrap_or(0);
                    Workload {
                        restarted_at: restarted_at(d.spec.template.metadata.as_ref()),
                        rolling_out: observed < generation || updated < spec_replicas,
                        annotations: pairs(Some(&d.metadata)),
                    }
                }),
            WorkloadKind::StatefulSet => Api::<StatefulSet>::namespaced(self.client.clone(), ns)
                .get_opt(name)
                .await?
                .map(|s| {
                    let status = s.status.as_ref();
                    Workload {
                        restarted_at: restarted_at(s.spec.template.metadata.as_ref()),
                        rolling_out: status.is_some_and(|st| {
                            st.update_revision.is_some()
                                && st.update_revision != st.current_revision
                        }),
                        annotations: pairs(Some(&s.metadata)),
                    }
                }),
            WorkloadKind::DaemonSet => Api::<DaemonSet>::namespaced(self.client.clone(), ns)
                .get_opt(name)
                .await?
                .map(|d| {
                    let status = d.status.as_ref();
                    Workload {
                        restarted_at: restarted_at(d.spec.template.metadata.as_ref()),
                        rolling_out: status.is_some_and(|st| {
                            st.updated_number_scheduled.unwrap_or(0) < st.desired_number_scheduled
                        }),
                        annotations: pairs(Some(&d.metadata)),
                    }
                }),
        })
    }
}

/// An object's annotations as key/value pairs.
fn pairs(meta: Option<&ObjectMeta>) -> Vec<(String, String)> {
    meta.and_then(|m| m.annotations.as_ref())
        .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// The controller ownerReference, if any.
fn controller(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .as_ref()?
        .iter()
        .find(|o| o.controller == Some(true))
}

/// Kubernetes API errors worth a later attempt: throttling, server errors, timeouts, transport.
fn is_retryable(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(status) => status.code == 429 || status.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}
