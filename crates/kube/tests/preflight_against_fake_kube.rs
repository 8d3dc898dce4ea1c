//! The EKS preflight reader against the test kit's stateful [`FakeKube`], which serves LISTs of
//! the objects it holds: one flagged and one unflagged workload per finding, and nothing but
//! GET requests, paged by `limit` / `continue`.

use remediator_core::preflight::{Finding, Resource};
use remediator_core::{Code, Risk};
use remediator_kube::preflight::{preflight_cluster, preflight_cluster_paged};
use remediator_testkit::fake_kube::FakeKube;
use serde_json::{json, Value};

const FARGATE: &str = "eks.amazonaws.com/fargate-profile";

fn meta(ns: &str, name: &str, owner: Option<(&str, &str, &str)>, labels: Value) -> Value {
    let mut m = json!({ "name": name, "namespace": ns, "labels": labels });
    if let Some((api_version, kind, owner_name)) = owner {
        m["ownerReferences"] = json!([{ "apiVersion": api_version, "kind": kind,
                                        "name": owner_name, "uid": "u", "controller": true }]);
    }
    m
}

/// A Fargate pod of app `app`, controlled by `owner`.
fn pod(name: &str, app: &str, owner: Option<(&str, &str, &str)>) -> (String, Value) {
    let labels = json!({ FARGATE: "fp-default", "app": app });
    (
        format!("/api/v1/namespaces/shop/pods/{name}"),
        json!({ "apiVersion": "v1", "kind": "Pod", "metadata": meta("shop", name, owner, labels) }),
    )
}

fn replica_set(name: &str, deployment: &str) -> (String, Value) {
    let owner = Some(("apps/v1", "Deployment", deployment));
    (
        format!("/apis/apps/v1/namespaces/shop/replicasets/{name}"),
        json!({ "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": meta("shop", name, owner, json!({})), "spec": { "selector": {} } }),
    )
}

fn deployment(name: &str, replicas: i32, paused: bool) -> (String, Value) {
    (
        format!("/apis/apps/v1/namespaces/shop/deployments/{name}"),
        json!({ "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": meta("shop", name, None, json!({})),
                "spec": { "replicas": replicas, "paused": paused, "selector": {}, "template": {} },
                "status": { "replicas": replicas, "readyReplicas": replicas } }),
    )
}

fn stateful_set(name: &str, strategy: &str) -> (String, Value) {
    (
        format!("/apis/apps/v1/namespaces/shop/statefulsets/{name}"),
        json!({ "apiVersion": "apps/v1", "kind": "StatefulSet",
                "metadata": meta("shop", name, None, json!({})),
                "spec": { "replicas": 1, "selector": {}, "template": {}, "serviceName": name,
                          "updateStrategy": { "type": strategy } },
                "status": { "replicas": 1, "readyReplicas": 1 } }),
    )
}

fn budget(name: &str, app: &str, spec: Value, allowed: i32) -> (String, Value) {
    let mut spec = spec;
    spec["selector"] = json!({ "matchLabels": { "app": app } });
    (
        format!("/apis/policy/v1/namespaces/shop/poddisruptionbudgets/{name}"),
        json!({ "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                "metadata": meta("shop", name, None, json!({})), "spec": spec,
                "status": { "disruptionsAllowed": allowed, "currentHealthy": 2, "desiredHealthy": 2,
                            "expectedPods": 2 } }),
    )
}

/// One flagged and one unflagged workload per finding, and a pod EKS does not run on Fargate.
async fn cluster() -> FakeKube {
    let objects = vec![
        // A budget that allows no disruption, and one that allows one.
        pod("web-1a-x", "web", Some(("apps/v1", "ReplicaSet", "web-1a"))),
        replica_set("web-1a", "web"),
        deployment("web", 2, false),
        budget("web", "web", json!({ "minAvailable": 2 }), 0),
        pod("api-2b-x", "api", Some(("apps/v1", "ReplicaSet", "api-2b"))),
        replica_set("api-2b", "api"),
        deployment("api", 2, false),
        budget("api", "api", json!({ "maxUnavailable": 1 }), 1),
        // A paused Deployment (api above is the running one).
        pod(
            "batch-3c-x",
            "batch",
            Some(("apps/v1", "ReplicaSet", "batch-3c")),
        ),
        replica_set("batch-3c", "batch"),
        deployment("batch", 1, true),
        // An OnDelete StatefulSet and a rolling one.
        pod("db-0", "db", Some(("apps/v1", "StatefulSet", "db"))),
        stateful_set("db", "OnDelete"),
        pod(
            "cache-0",
            "cache",
            Some(("apps/v1", "StatefulSet", "cache")),
        ),
        stateful_set("cache", "RollingUpdate"),
        // A bare pod and a Job's pod.
        pod("debug", "debug", None),
        pod("report-x", "report", Some(("batch/v1", "Job", "report"))),
        // Not on Fargate: not listed, its namespace not read.
        (
            "/api/v1/namespaces/ec2/pods/node-pod".to_owned(),
            json!({ "apiVersion": "v1", "kind": "Pod",
                    "metadata": meta("ec2", "node-pod", None, json!({ "app": "x" })) }),
        ),
    ];
    let objects: Vec<(&str, Value)> = objects
        .iter()
        .map(|(p, o)| (p.as_str(), o.clone()))
        .collect();
    FakeKube::start(objects).await
}

fn client(fake: &FakeKube) -> kube::Client {
    let url = fake.url().parse().expect("the fake's URL");
    kube::Client::try_from(kube::Config::new(url)).expect("a client for the fake")
}

fn flagged(findings: &[Finding]) -> Vec<(&str, Risk)> {
    let mut v: Vec<(&str, Risk)> = findings
        .iter()
        .map(|f| (f.resource.as_str(), f.risk))
        .collect();
    v.sort();
    v
}

fn codes(resources: &[Resource]) -> Vec<(&str, Code)> {
    let mut v: Vec<(&str, Code)> = resources
        .iter()
        .map(|r| (r.resource.as_str(), r.code))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn the_reader_flags_one_workload_per_rule_and_leaves_its_neighbour_alone() {
    let fake = cluster().await;

    let (findings, resources) =
        preflight_cluster(&client(&fake), "prod", "111122223333", "eu-west-1")
            .await
            .expect("the preflight reads the fake cluster");

    assert_eq!(
        flagged(&findings),
        vec![
            ("deployment prod/shop/batch", Risk::PausedDeployment),
            ("deployment prod/shop/web", Risk::PdbAllowsNoDisruption),
            ("pod prod/shop/debug", Risk::BarePod),
            ("statefulset prod/shop/db", Risk::OnDeleteStatefulSet),
        ]
    );
    assert_eq!(
        codes(&resources),
        vec![
            ("deployment prod/shop/api", Code::WouldRestart),
            ("deployment prod/shop/batch", Code::RolloutBlocked),
            ("deployment prod/shop/web", Code::WouldRestart),
            ("pod prod/shop/debug", Code::NoOwnerToRestart),
            ("pod prod/shop/report-x", Code::NoOwnerToRestart),
            ("statefulset prod/shop/cache", Code::WouldRestart),
            ("statefulset prod/shop/db", Code::RolloutBlocked),
        ]
    );
    let web = findings
        .iter()
        .find(|f| f.risk == Risk::PdbAllowsNoDisruption)
        .expect("the web finding");
    assert!(
        web.why.contains("PodDisruptionBudget shop/web"),
        "{}",
        web.why
    );
    assert!(web.why.contains("spec.minAvailable 2 of 2"), "{}", web.why);
}

#[tokio::test]
async fn the_reader_makes_only_get_requests_and_follows_every_continue_page() {
    let fake = cluster().await;

    preflight_cluster_paged(&client(&fake), "prod", "111122223333", "eu-west-1", 2)
        .await
        .expect("the preflight reads the fake cluster");

    let seen = fake.seen();
    assert!(
        seen.iter().all(|s| s.method == "GET"),
        "{:?}",
        seen.iter()
            .map(|s| (&s.method, &s.path))
            .collect::<Vec<_>>()
    );
    let requests: Vec<(&str, String)> = seen
        .iter()
        .map(|s| {
            let token = s
                .query
                .split('&')
                .find_map(|p| p.strip_prefix("continue="))
                .unwrap_or("-");
            (s.path.as_str(), token.to_owned())
        })
        .collect();
    let page = |path: &'static str, token: &str| (path, token.to_owned());
    assert_eq!(
        requests,
        vec![
            // 7 Fargate pods, 2 a page: the node's pod is not one of them.
            page("/api/v1/pods", "-"),
            page("/api/v1/pods", "2"),
            page("/api/v1/pods", "4"),
            page("/api/v1/pods", "6"),
            // 3 ReplicaSets, 3 Deployments, 2 StatefulSets, 2 budgets; namespace ec2 not read.
            page("/apis/apps/v1/namespaces/shop/replicasets", "-"),
            page("/apis/apps/v1/namespaces/shop/replicasets", "2"),
            page("/apis/apps/v1/namespaces/shop/deployments", "-"),
            page("/apis/apps/v1/namespaces/shop/deployments", "2"),
            page("/apis/apps/v1/namespaces/shop/statefulsets", "-"),
            page("/apis/policy/v1/namespaces/shop/poddisruptionbudgets", "-"),
        ]
    );
    assert!(
        seen[0]
            .query
            .contains("labelSelector=eks.amazonaws.com%2Ffargate-profile")
            && seen[0].query.contains("limit=2"),
        "{}",
        seen[0].query
    );
}
