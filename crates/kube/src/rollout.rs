//! Argo Rollouts `Rollout`s (`argoproj.io/v1alpha1`): Pod → ReplicaSet → Rollout. A Rollout is a
//! custom resource, read and patched as a [`DynamicObject`].
//!
//! How a Rollout restarts (Argo Rollouts, "Restarting Rollout Pods",
//! <https://argoproj.github.io/argo-rollouts/features/restart/>): `kubectl argo rollouts restart`
//! sets `spec.restartAt` to the current time as an RFC 3339 UTC string (`2020-03-30T21:19:35Z`),
//! meaning that every pod of the Rollout should have been created after it. The controller then
//! goes through the ReplicaSets (stable, then current, then the others oldest first) and evicts
//! each pod older than `restartAt`, letting its ReplicaSet recreate it in place: no new
//! ReplicaSet, no blue-green or canary steps, even in the middle of a paused update. It evicts
//! up to `maxUnavailable` pods at a time (one at a time when that is 0) and never uses
//! `maxSurge`; since it evicts rather than deletes, it honours PodDisruptionBudgets, so the
//! budget that made EKS's own eviction fail can hold the restart back too (the follow-up check
//! then stays pending). The controller restarts only while every ReplicaSet is fully
//! available (`rollout/restart.go`), and once no pod older than `restartAt` is left it sets
//! `status.restartedAt` to it: that is when the restart is finished.
//!
//! What the status says (the Rollout API's own field docs, `pkg/apis/rollouts/v1alpha1/types.go`):
//! `phase` is `Healthy`, `Progressing` (not yet healthy, still making progress), `Paused` (will not
//! progress until unpaused) or `Degraded` (pod unavailability, misconfiguration; an aborted update
//! ends there), and is to be relied on only once `observedGeneration` (a string) equals
//! `metadata.generation`; `updatedReplicas` counts the pods with the desired template and
//! `availableReplicas` those ready for `minReadySeconds`.

use chrono::{DateTime, Utc};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::Client;
use remediator_core::pod::{WorkloadSeen, ARGO_ROLLOUT_API_VERSION};
use serde_json::{json, Value};

use crate::restart::pairs;

/// The Rollouts of namespace `ns`.
fn rollouts(client: Client, ns: &str) -> Api<DynamicObject> {
    let (group, version) = ARGO_ROLLOUT_API_VERSION
        .split_once('/')
        .unwrap_or(("argoproj.io", "v1alpha1"));
    let gvk = GroupVersionKind::gvk(group, version, "Rollout");
    Api::namespaced_with(
        client,
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, "rollouts"),
    )
}

/// Reads Rollout `name` and what the planner needs of it; `None`: 404.
pub(crate) async fn get(
    client: Client,
    ns: &str,
    name: &str,
) -> Result<Option<WorkloadSeen>, kube::Error> {
    Ok(rollouts(client, ns)
        .get_opt(name)
        .await?
        .map(|r| rollout_seen(&r)))
}

/// Sets `spec.restartAt` to `stamp`, as `kubectl argo rollouts restart` does.
pub(crate) async fn restart(
    client: Client,
    ns: &str,
    name: &str,
    stamp: &str,
    params: &PatchParams,
) -> Result<(), kube::Error> {
    let patch = json!({ "spec": { "restartAt": stamp } });
    rollouts(client, ns)
        .patch(name, params, &Patch::Merge(&patch))
        .await?;
    Ok(())
}

/// An RFC 3339 time field.
fn time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// What the planner needs of a Rollout.
fn rollout_seen(r: &DynamicObject) -> WorkloadSeen {
    let (spec, status) = (&r.data["spec"], &r.data["status"]);
    let count = |field: &str| status[field].as_i64().unwrap_or(0);
    let generation = r.metadata.generation.unwrap_or(0);
    // A string in the Rollout's status (a number in older controllers).
    let observed = match &status["observedGeneration"] {
        Value::String(s) => s.parse().ok(),
        other => other.as_i64(),
    };
    let phase = observed
        .filter(|o| *o >= generation)
        .and(status["phase"].as_str());
    let replicas = spec["replicas"].as_i64().unwrap_or(1);
    let restart_at = time(&spec["restartAt"]);
    let finished = time(&status["restartedAt"]);
    let restart_finished = restart_at.is_none_or(|at| finished.is_some_and(|done| done >= at));
    let paused = spec["paused"] == json!(true)
        || status["pauseConditions"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
        || phase == Some("Paused");
    let name = r.metadata.name.as_deref().unwrap_or_default();
    let blocked = (phase == Some("Degraded")).then(|| degraded(name, status));
    WorkloadSeen {
        restarted_at: restart_at,
        // An update under way replaces the pods; a paused one waits on a person, but a restart
        // goes ahead even then.
        rolling_out: blocked.is_none()
            && !paused
            && (phase.is_none() || count("updatedReplicas") < replicas),
        annotations: pairs(Some(&r.metadata)),
        rollout_done: phase == Some("Healthy")
            && count("updatedReplicas") == replicas
            && count("availableReplicas") == replicas
            && restart_finished,
        blocked,
    }
}

/// Why the Degraded Rollout `name` will not restart its pods, and what continues it.
fn degraded(name: &str, status: &Value) -> String {
    let message = status["message"]
        .as_str()
        .filter(|m| !m.is_empty())
        .map(|m| format!(" ({m})"))
        .unwrap_or_default();
    let next = if status["abort"] == json!(true) {
        format!("its update was aborted: `kubectl argo rollouts retry rollout {name}` resumes it")
    } else {
        format!("fix what keeps its pods unavailable (`kubectl argo rollouts get rollout {name}`)")
    };
    format!("the Rollout is Degraded{message}, and Argo Rollouts restarts pods only while every ReplicaSet of it is fully available; {next}")
}
