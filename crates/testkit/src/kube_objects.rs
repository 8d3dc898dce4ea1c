//! The Kubernetes objects behind [`remediator_core::testing::pod_notice`]'s pod
//! `shop/web-5d8c9c5d4b-8jx7l` (Pod → ReplicaSet `web-5d8c9c5d4b` → Deployment `web`), the
//! StatefulSet `db` and DaemonSet `agent` beside it, an Argo Rollout `web` for the same pod
//! ([`rollout_replica_set`], [`rollout`]), their API paths, and their namespace: the
//! answers the kube client's tests script in [`crate::scripted_kube`].

use serde_json::{json, Map, Value};

/// The pod the notice names.
pub const POD: &str = "/api/v1/namespaces/shop/pods/web-5d8c9c5d4b-8jx7l";
/// The pod's ReplicaSet.
pub const REPLICA_SET: &str = "/apis/apps/v1/namespaces/shop/replicasets/web-5d8c9c5d4b";
/// The ReplicaSet's Deployment.
pub const DEPLOYMENT: &str = "/apis/apps/v1/namespaces/shop/deployments/web";
/// StatefulSet `db`, whose pods are `db-<ordinal>`.
pub const STATEFUL_SET: &str = "/apis/apps/v1/namespaces/shop/statefulsets/db";
/// DaemonSet `agent`.
pub const DAEMON_SET: &str = "/apis/apps/v1/namespaces/shop/daemonsets/agent";
/// Argo Rollout `web`, in place of Deployment `web` (see [`rollout_replica_set`]).
pub const ROLLOUT: &str = "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/web";
/// Namespace `shop`.
pub const NAMESPACE: &str = "/api/v1/namespaces/shop";

/// The API path of pod `name` in `shop`.
pub fn pod_path(name: &str) -> String {
    format!("/api/v1/namespaces/shop/pods/{name}")
}

/// Metadata of object `name` in `shop` at `generation`, controlled by `owner` (kind, name).
pub fn meta(name: &str, generation: i64, owner: Option<(&str, &str)>) -> Value {
    let mut m = json!({ "name": name, "namespace": "shop", "generation": generation });
    if let Some((kind, owner_name)) = owner {
        m["ownerReferences"] = json!([{ "apiVersion": "apps/v1", "kind": kind, "name": owner_name,
                                        "uid": "u-1", "controller": true }]);
    }
    m
}

/// Pod `name`, controlled by `owner` (kind, name).
pub fn pod(name: &str, owner: Option<(&str, &str)>) -> Value {
    json!({ "apiVersion": "v1", "kind": "Pod", "metadata": meta(name, 4, owner) })
}

/// The notice's pod, controlled by its ReplicaSet.
pub fn web_pod() -> Value {
    pod(
        "web-5d8c9c5d4b-8jx7l",
        Some(("ReplicaSet", "web-5d8c9c5d4b")),
    )
}

/// ReplicaSet `web-5d8c9c5d4b`, controlled by Deployment `web`.
pub fn replica_set() -> Value {
    json!({ "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": meta("web-5d8c9c5d4b", 4, Some(("Deployment", "web"))),
            "spec": { "selector": {} } })
}

/// Deployment `web` at generation 4, observed: 3 replicas wanted, `updated_replicas` of them
/// updated, its template restarted at `restarted_at` (never, with `None`).
pub fn deployment(restarted_at: Option<&str>, updated_replicas: i32) -> Value {
    let mut template = json!({ "metadata": {} });
    if let Some(at) = restarted_at {
        template["metadata"]["annotations"] = json!({ "kubectl.kubernetes.io/restartedAt": at });
    }
    json!({ "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("web", 4, None),
            "spec": { "replicas": 3, "selector": {}, "template": template },
            "status": { "observedGeneration": 4, "replicas": 3, "updatedReplicas": updated_replicas } })
}

/// Namespace `shop` with `annotations`.
pub fn namespace(annotations: &[(&str, &str)]) -> Value {
    let annotations: Map<String, Value> = annotations
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    json!({ "apiVersion": "v1", "kind": "Namespace",
            "metadata": { "name": "shop", "annotations": annotations } })
}

/// `object` with its metadata annotated `key=value` (and no other annotation).
pub fn annotated(mut object: Value, key: &str, value: &str) -> Value {
    object["metadata"]["annotations"] = json!({ key: value });
    object
}

/// ReplicaSet `web-5d8c9c5d4b`, controlled by the Rollout `web` of `api_version`
/// (`argoproj.io/v1alpha1` for Argo's).
pub fn rollout_replica_set(api_version: &str) -> Value {
    let mut rs = replica_set();
    rs["metadata"]["ownerReferences"] = json!([{ "apiVersion": api_version, "kind": "Rollout",
                                                 "name": "web", "uid": "u-2", "controller": true }]);
    rs
}

/// Argo Rollout `web` at generation 4, observed, `phase` (`Healthy`, `Progressing`, `Paused`,
/// `Degraded`): 3 replicas wanted, all updated and available, never restarted. The tests set
/// `spec.restartAt`, `status.restartedAt` and the counts they need.
pub fn rollout(phase: &str) -> Value {
    json!({ "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": meta("web", 4, None),
            "spec": { "replicas": 3, "selector": {}, "template": { "metadata": {} },
                      "strategy": { "canary": { "steps": [{ "setWeight": 20 }, { "pause": {} }] } } },
            "status": { "observedGeneration": "4", "phase": phase, "replicas": 3,
                        "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3 } })
}
