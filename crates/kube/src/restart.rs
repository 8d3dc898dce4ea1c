//! Restart the workload that owns a Fargate pod, the way `kubectl rollout restart` does: set
//! `spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]`. The workload's own
//! rolling-update rules (maxSurge / maxUnavailable) then bring new pods up on patched Fargate
//! nodes, instead of EKS deleting the pod at a time nobody chose.
//!
//! Owner chains followed (controller ownerReferences): Pod → ReplicaSet → Deployment,
//! Pod → ReplicaSet → Argo Rollout (restarted through `spec.restartAt` instead: see
//! [`crate::rollout`]), Pod → StatefulSet, Pod → DaemonSet. Anything else has nothing to restart.
//!
//! What to do is decided by the pure planner in [`remediator_core::pod`]; this module only
//! reads the objects it asks for, one at a time and in its order, and sends the patch.

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::{
    DaemonSet, Deployment, ReplicaSet, StatefulSet, StatefulSetUpdateStrategy,
};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams};
use kube::Client;
use remediator_core::follow::Verdict;
use remediator_core::outcome::Outcome;
use remediator_core::pod::{
    self, Look, NamespaceSeen, Observed, Owner, PodSeen, ReplicaSetSeen, Seen, Step, WorkloadSeen,
};
use remediator_core::PodNotice;
use serde_json::json;

pub use remediator_core::pod::WorkloadKind;

/// The annotation `kubectl rollout restart` sets.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";
/// The field manager named on every patch.
pub const FIELD_MANAGER: &str = "retirement-remediator";
/// Pod, ReplicaSet, workload, namespace: the most reads one decision takes.
const MAX_LOOKS: usize = 4;

/// The API server refused the client's credentials (HTTP 401): its bearer token expired, was
/// signed for another partition's STS, or the role has no access to the cluster. The refused
/// request changed nothing.
#[derive(Debug, thiserror::Error)]
#[error("the Kubernetes API server refused the bearer token ({0})")]
pub struct Unauthorized(pub kube::Error);

/// Restarts pod owners through one Kubernetes client.
pub struct PodRestarter {
    client: Client,
    opt_in_only: bool,
}

impl PodRestarter {
    /// Restarts any workload not opted out (see [`PodRestarter::opt_in_only`]).
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
        self.try_remediate(notice, now, dry_run)
            .await
            .unwrap_or_else(|refused| pod::api_error(notice, refused.to_string(), false))
    }

    /// As [`PodRestarter::remediate`], but a 401 (the API server refused the client's token)
    /// comes back as [`Unauthorized`] for the caller to reconnect and try once more: the
    /// refused request changed nothing, and the planner makes the rerun idempotent.
    pub async fn try_remediate(
        &self,
        notice: &PodNotice,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<Outcome, Unauthorized> {
        match self.run(notice, now, dry_run).await {
            Ok(outcome) => Ok(outcome),
            Err(e) if is_unauthorized(&e) => Err(Unauthorized(e)),
            Err(e) => Ok(pod::api_error(notice, e.to_string(), is_retryable(&e))),
        }
    }

    /// Reads what the planner asks for, one object at a time, then patches if it says restart.
    async fn run(
        &self,
        notice: &PodNotice,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<Outcome, kube::Error> {
        let mut seen = Observed::default();
        // Each look fills a part of `seen` that was still unknown, so the planner asks at most
        // four times before a final step or a restart; the bound keeps a planner bug from
        // becoming an endless stream of GETs.
        let mut restart = None;
        for _ in 0..=MAX_LOOKS {
            match pod::plan_pod(notice, &seen, now, self.opt_in_only) {
                Step::Look(look) => self.look(notice, look, &mut seen).await?,
                Step::Final(outcome) => return Ok(outcome),
                Step::Restart { kind, name } => {
                    restart = Some((kind, name));
                    break;
                }
            }
        }
        let Some((kind, name)) = restart else {
            return Ok(pod::api_error(
                notice,
                format!("internal: no decision after {MAX_LOOKS} reads of the owner chain"),
                false,
            ));
        };
        if dry_run {
            return Ok(pod::would_restart(notice, kind, &name));
        }
        let stamp = pod::restart_stamp(now);
        self.patch(&notice.namespace, kind, &name, &stamp).await?;
        Ok(pod::restarted(notice, kind, &name, &stamp))
    }

    /// A follow-up check: the verdict on the workload the pod's remediation restarted, and
    /// whether the pod the notice names is really gone. A rollout can finish without touching
    /// it (it was already on the new revision), and a StatefulSet's replacement takes the same
    /// name: the pod EKS named is the one created before the notice.
    pub async fn check(&self, notice: &PodNotice, kind: WorkloadKind, name: &str) -> Verdict {
        self.try_check(notice, kind, name)
            .await
            .unwrap_or_else(|refused| {
                Verdict::Pending(format!("{refused}; the next check looks again"))
            })
    }

    /// As [`PodRestarter::check`], but a 401 (the API server refused the client's token) comes
    /// back as [`Unauthorized`] for the caller to reconnect and check once more.
    pub async fn try_check(
        &self,
        notice: &PodNotice,
        kind: WorkloadKind,
        name: &str,
    ) -> Result<Verdict, Unauthorized> {
        let pod = match Api::<Pod>::namespaced(self.client.clone(), &notice.namespace)
            .get_opt(&notice.pod)
            .await
        {
            Ok(pod) => pod,
            Err(e) if is_unauthorized(&e) => return Err(Unauthorized(e)),
            Err(e) => {
                return Ok(Verdict::Pending(format!(
                    "could not read pod {}/{} ({e}); the next check looks again",
                    notice.namespace, notice.pod
                )))
            }
        };
        let still_there = pod
            .and_then(|p| p.metadata.creation_timestamp)
            .and_then(|t| {
                DateTime::<Utc>::from_timestamp(
                    t.0.as_second(),
                    u32::try_from(t.0.subsec_nanosecond()).unwrap_or(0),
                )
            })
            .filter(|created| *created <= notice.published_at);
        let verdict = match self
            .workload(kind, &notice.namespace, name, &notice.pod)
            .await
        {
            Ok(seen) => pod::verdict(notice, kind, name, &seen),
            Err(e) if is_unauthorized(&e) => return Err(Unauthorized(e)),
            Err(e) => Verdict::Pending(format!(
                "could not read {} {}/{name} ({e}); the next check looks again",
                kind.as_str(),
                notice.namespace
            )),
        };
        Ok(match (verdict, still_there) {
            (Verdict::Verified(why), Some(created)) => Verdict::Pending(format!(
                "{why}, but pod {}/{} (created {}, before the notice) still runs: the rollout did not replace it",
                notice.namespace,
                notice.pod,
                created.to_rfc3339()
            )),
            (verdict, _) => verdict,
        })
    }

    /// Reads one object and records what the planner needs of it in `seen`.
    async fn look(
        &self,
        notice: &PodNotice,
        look: Look,
        seen: &mut Observed,
    ) -> Result<(), kube::Error> {
        let ns = notice.namespace.as_str();
        match look {
            Look::Pod => {
                let pod = Api::<Pod>::namespaced(self.client.clone(), ns)
                    .get_opt(&notice.pod)
                    .await?;
                seen.pod = Some(
                    pod.map(|p| PodSeen {
                        owner: controller(&p.metadata),
                    })
                    .into(),
                );
            }
            Look::ReplicaSet(name) => {
                let rs = Api::<ReplicaSet>::namespaced(self.client.clone(), ns)
                    .get_opt(&name)
                    .await?;
                seen.replica_set = Some(
                    rs.map(|rs| ReplicaSetSeen {
                        owner: controller(&rs.metadata),
                    })
                    .into(),
                );
            }
            Look::Workload(kind, name) => {
                seen.workload = Some(self.workload(kind, ns, &name, &notice.pod).await?);
            }
            Look::Namespace => {
                seen.namespace = Some(
                    match Api::<Namespace>::all(self.client.clone()).get_opt(ns).await {
                        Ok(Some(namespace)) => {
                            NamespaceSeen::Found(pairs(Some(&namespace.metadata)))
                        }
                        Ok(None) => NamespaceSeen::Missing,
                        // RBAC, not a transient failure: the planner says how to fix it.
                        Err(kube::Error::Api(status)) if status.code == 403 => {
                            NamespaceSeen::Forbidden
                        }
                        Err(e) => return Err(e),
                    },
                );
            }
        }
        Ok(())
    }

    /// Sets the pod template's `restartedAt`, as `kubectl rollout restart` does (a Rollout: its
    /// `spec.restartAt`, as `kubectl argo rollouts restart` does).
    async fn patch(
        &self,
        ns: &str,
        kind: WorkloadKind,
        name: &str,
        stamp: &str,
    ) -> Result<(), kube::Error> {
        let patch = json!({ "spec": { "template": { "metadata": { "annotations": { RESTARTED_AT: stamp } } } } });
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PatchParams::default()
        };
        match kind {
            WorkloadKind::Rollout => {
                crate::rollout::restart(self.client.clone(), ns, name, stamp, &params).await?;
            }
            WorkloadKind::Deployment => {
                Api::<Deployment>::namespaced(self.client.clone(), ns)
                    .patch(name, &params, &Patch::Merge(&patch))
                    .await?;
            }
            WorkloadKind::StatefulSet => {
                Api::<StatefulSet>::namespaced(self.client.clone(), ns)
                    .patch(name, &params, &Patch::Merge(&patch))
                    .await?;
            }
            WorkloadKind::DaemonSet => {
                Api::<DaemonSet>::namespaced(self.client.clone(), ns)
                    .patch(name, &params, &Patch::Merge(&patch))
                    .await?;
            }
        }
        Ok(())
    }

    /// Reads the workload and what the planner needs of it: its last restart, whether a
    /// rollout is under way (each kind says so differently), and its own annotations.
    async fn workload(
        &self,
        kind: WorkloadKind,
        ns: &str,
        name: &str,
        pod: &str,
    ) -> Result<Seen<WorkloadSeen>, kube::Error> {
        Ok(match kind {
            WorkloadKind::Deployment => Api::<Deployment>::namespaced(self.client.clone(), ns)
                .get_opt(name)
                .await?
                .map(|d| deployment_seen(&d))
                .into(),
            WorkloadKind::StatefulSet => Api::<StatefulSet>::namespaced(self.client.clone(), ns)
                .get_opt(name)
                .await?
                .map(|s| stateful_set_seen(&s, pod))
                .into(),
            WorkloadKind::DaemonSet => Api::<DaemonSet>::namespaced(self.client.clone(), ns)
                .get_opt(name)
                .await?
                .map(|d| daemon_set_seen(&d))
                .into(),
            WorkloadKind::Rollout => crate::rollout::get(self.client.clone(), ns, name)
                .await?
                .into(),
        })
    }
}

/// The pod template's last `kubectl rollout restart`, from its annotation.
fn restarted_at(meta: Option<&ObjectMeta>) -> Option<DateTime<Utc>> {
    meta.and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(RESTARTED_AT))
        .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// What the planner needs of a Deployment.
fn deployment_seen(d: &Deployment) -> WorkloadSeen {
    let generation = d.metadata.generation.unwrap_or(0);
    let spec_replicas = d.spec.replicas.unwrap_or(1);
    let status = d.status.as_ref();
    let observed = status.and_then(|s| s.observed_generation).unwrap_or(0);
    let updated = status.and_then(|s| s.updated_replicas).unwrap_or(0);
    let blocked = deployment_blocked(d);
    let ready = status.and_then(|s| s.ready_replicas).unwrap_or(0);
    let available = status.and_then(|s| s.available_replicas).unwrap_or(0);
    let total = status.and_then(|s| s.replicas).unwrap_or(0);
    WorkloadSeen {
        restarted_at: restarted_at(d.spec.template.metadata.as_ref()),
        rolling_out: blocked.is_none() && (observed < generation || updated < spec_replicas),
        annotations: pairs(Some(&d.metadata)),
        // `kubectl rollout status`: no old replica left either.
        rollout_done: observed >= generation
            && updated == spec_replicas
            && ready == spec_replicas
            && available == spec_replicas
            && total == spec_replicas,
        blocked,
    }
}

/// Why a restart of the Deployment cannot replace the pod: it is paused, or its last rollout
/// exceeded its progress deadline.
fn deployment_blocked(d: &Deployment) -> Option<String> {
    let stuck = d
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| {
            c.type_.as_deref() == Some("Progressing")
                && c.status.as_deref() == Some("False")
                && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
        });
    if d.spec.paused == Some(true) {
        Some("the Deployment is paused, and `kubectl rollout restart` refuses a paused Deployment: resume it (`kubectl rollout resume`) to let a restart replace the pod".to_owned())
    } else if stuck {
        Some("its last rollout exceeded progressDeadlineSeconds (Progressing=False, ProgressDeadlineExceeded): a restart would stall the same way; fix what keeps new pods from becoming ready".to_owned())
    } else {
        None
    }
}

/// What the planner needs of a StatefulSet, for its pod `pod`.
fn stateful_set_seen(s: &StatefulSet, pod: &str) -> WorkloadSeen {
    let status = s.status.as_ref();
    let strategy = s.spec.update_strategy.as_ref();
    let partition = strategy
        .and_then(|u| u.rolling_update.as_ref())
        .and_then(|r| r.partition)
        .unwrap_or(0);
    // A StatefulSet pod is named `<set>-<ordinal>`.
    let ordinal = pod.rsplit('-').next().and_then(|n| n.parse::<i32>().ok());
    let blocked = stateful_set_blocked(strategy, partition, ordinal);
    let replicas = s.spec.replicas.unwrap_or(1);
    let generation = s.metadata.generation.unwrap_or(0);
    // With a partition, Kubernetes updates only the pods from the partition up and never makes
    // the update revision current: the rollout is done when those are updated
    // (`kubectl rollout status`: "partitioned roll out complete").
    let updated_needed = if partition > 0 {
        (replicas - partition).max(0)
    } else {
        replicas
    };
    let updated_all = status.is_some_and(|st| {
        if partition > 0 {
            st.updated_replicas.unwrap_or(0) >= updated_needed
        } else {
            st.update_revision.is_some()
                && st.update_revision == st.current_revision
                && st.updated_replicas.unwrap_or(0) == replicas
        }
    });
    WorkloadSeen {
        restarted_at: restarted_at(s.spec.template.metadata.as_ref()),
        rolling_out: blocked.is_none()
            && status.is_some_and(|st| {
                if partition > 0 {
                    st.updated_replicas.unwrap_or(0) < updated_needed
                } else {
                    st.update_revision.is_some() && st.update_revision != st.current_revision
                }
            }),
        annotations: pairs(Some(&s.metadata)),
        // A pod below the partition is never updated, however done the rest is.
        rollout_done: updated_all
            && ordinal.is_none_or(|o| o >= partition)
            && status.is_some_and(|st| {
                st.observed_generation.unwrap_or(0) >= generation
                    && st.ready_replicas.unwrap_or(0) == replicas
                    && st.available_replicas.unwrap_or(0) == replicas
            }),
        blocked,
    }
}

/// Why a rolling restart of the StatefulSet never replaces its pod `ordinal`: the OnDelete
/// strategy, or a rollingUpdate `partition` above the ordinal.
fn stateful_set_blocked(
    strategy: Option<&StatefulSetUpdateStrategy>,
    partition: i32,
    ordinal: Option<i32>,
) -> Option<String> {
    if strategy.and_then(|u| u.type_.as_deref()) == Some("OnDelete") {
        Some(
            "its updateStrategy is OnDelete: a restart replaces a pod only when the pod is deleted"
                .to_owned(),
        )
    } else if ordinal.is_some_and(|o| o < partition) {
        Some(format!("its rollingUpdate partition {partition} is above the pod's ordinal: a rolling restart never reaches it"))
    } else {
        None
    }
}

/// What the planner needs of a DaemonSet.
fn daemon_set_seen(d: &DaemonSet) -> WorkloadSeen {
    let status = d.status.as_ref();
    let on_delete = d
        .spec
        .update_strategy
        .as_ref()
        .and_then(|u| u.type_.as_deref())
        == Some("OnDelete");
    let blocked = on_delete.then(|| {
        "its updateStrategy is OnDelete: a restart replaces a pod only when the pod is deleted"
            .to_owned()
    });
    let generation = d.metadata.generation.unwrap_or(0);
    WorkloadSeen {
        restarted_at: restarted_at(d.spec.template.metadata.as_ref()),
        rolling_out: blocked.is_none()
            && status.is_some_and(|st| {
                st.updated_number_scheduled.unwrap_or(0) < st.desired_number_scheduled
            }),
        annotations: pairs(Some(&d.metadata)),
        rollout_done: status.is_some_and(|st| {
            st.observed_generation.unwrap_or(0) >= generation
                && st.updated_number_scheduled.unwrap_or(0) == st.desired_number_scheduled
                && st.number_available.unwrap_or(0) == st.desired_number_scheduled
        }),
        blocked,
    }
}

/// An object's annotations as key/value pairs.
pub(crate) fn pairs(meta: Option<&ObjectMeta>) -> Vec<(String, String)> {
    meta.and_then(|m| m.annotations.as_ref())
        .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// The controller ownerReference, if any: the object that manages this one.
pub(crate) fn controller(meta: &ObjectMeta) -> Option<Owner> {
    meta.owner_references
        .as_ref()?
        .iter()
        .find(|o| o.controller == Some(true))
        .map(|o| Owner {
            api_version: o.api_version.clone(),
            kind: o.kind.clone(),
            name: o.name.clone(),
        })
}

/// A 401 from the API server: the credentials, not the request, were refused.
pub fn is_unauthorized(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(status) if status.code == 401)
}

/// Kubernetes API errors worth a later attempt: throttling, server errors, timeouts, transport.
pub(crate) fn is_retryable(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(status) => status.code == 429 || status.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}
