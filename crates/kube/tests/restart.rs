//! The pod-owner restart against a fake Kubernetes API that asserts each request of a scenario
//! in order (the kube-rs controller-rs `tower-test` pattern) and fails on any request it did not
//! expect, or when an expected one never comes.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use http::{Method, Request, Response};
use kube::client::Body;
use kube::Client;
use remediator_core::testing::{at, pod_notice};
use remediator_core::{PodNotice, Status};
use remediator_kube::PodRestarter;
use serde_json::{json, Value};
use tower_test::mock::{self, Handle};

/// One expected request and the fake's answer.
struct Expect {
    method: Method,
    path: &'static str,
    status: u16,
    answer: Value,
}

fn get(path: &'static str, answer: Value) -> Expect {
    Expect {
        method: Method::GET,
        path,
        status: 200,
        answer,
    }
}

fn missing(path: &'static str) -> Expect {
    Expect {
        method: Method::GET,
        path,
        status: 404,
        answer: json!({ "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404 }),
    }
}

fn forbidden(path: &'static str) -> Expect {
    Expect {
        method: Method::GET,
        path,
        status: 403,
        answer: json!({ "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403,
                        "message": "namespaces \"shop\" is forbidden" }),
    }
}

fn patch(path: &'static str) -> Expect {
    Expect {
        method: Method::PATCH,
        path,
        status: 200,
        answer: json!({}),
    }
}

/// Serves the scenario; returns the bodies of the PATCH requests it saw.
async fn serve(
    mut handle: Handle<Request<Body>, Response<Body>>,
    scenario: Vec<Expect>,
) -> Vec<(String, Value)> {
    let mut patches = Vec::new();
    for expect in scenario {
        let (request, send) = tokio::time::timeout(Duration::from_secs(5), handle.next_request())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "expected {} {} but no request came",
                    expect.method, expect.path
                )
            })
            .expect("client dropped");
        assert_eq!(request.method(), expect.method, "{}", request.uri());
        assert_eq!(request.uri().path(), expect.path);
        if expect.method == Method::PATCH {
            let query = request.uri().query().unwrap_or_default().to_owned();
            let body = request.into_body().collect_bytes().await.expect("body");
            patches.push((query, serde_json::from_slice(&body).expect("JSON patch")));
        }
        let response = Response::builder()
            .status(expect.status)
            .header("content-type", "application/json")
            .body(Body::from(
                serde_json::to_vec(&expect.answer).expect("json"),
            ))
            .expect("response");
        send.send_response(response);
    }
    if let Ok(Some((request, _))) =
        tokio::time::timeout(Duration::from_millis(200), handle.next_request()).await
    {
        panic!("unexpected request {} {}", request.method(), request.uri());
    }
    patches
}

fn published() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap()
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 10, 5, 0).unwrap()
}

fn notice() -> PodNotice {
    pod_notice(published(), at("2026-11-30T12:00:00Z"))
}

fn meta(name: &str, owner: Option<(&str, &str)>) -> Value {
    let mut m = json!({ "name": name, "namespace": "shop", "generation": 4 });
    if let Some((kind, owner_name)) = owner {
        m["ownerReferences"] = json!([{ "apiVersion": "apps/v1", "kind": kind, "name": owner_name,
                                        "uid": "u-1", "controller": true }]);
    }
    m
}

fn pod(owner: Option<(&str, &str)>) -> Value {
    json!({ "apiVersion": "v1", "kind": "Pod", "metadata": meta("web-5d8c9c5d4b-8jx7l", owner) })
}

fn replica_set() -> Value {
    json!({ "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta("web-5d8c9c5d4b", Some(("Deployment", "web"))),
            "spec": { "selector": {} } })
}

fn deployment(restarted_at: Option<&str>, updated_replicas: i32) -> Value {
    let mut template = json!({ "metadata": {} });
    if let Some(at) = restarted_at {
        template["metadata"]["annotations"] = json!({ "kubectl.kubernetes.io/restartedAt": at });
    }
    json!({ "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("web", None),
            "spec": { "replicas": 3, "selector": {}, "template": template },
            "status": { "observedGeneration": 4, "replicas": 3, "updatedReplicas": updated_replicas } })
}

fn namespace(annotations: &[(&str, &str)]) -> Value {
    let annotations: serde_json::Map<String, Value> = annotations
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": "shop", "annotations": annotations } })
}

async fn run(
    scenario: Vec<Expect>,
    notice: PodNotice,
    dry_run: bool,
) -> (remediator_core::Outcome, Vec<(String, Value)>) {
    run_with(scenario, notice, dry_run, false).await
}

async fn run_with(
    scenario: Vec<Expect>,
    notice: PodNotice,
    dry_run: bool,
    opt_in_only: bool,
) -> (remediator_core::Outcome, Vec<(String, Value)>) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let fake = tokio::spawn(serve(handle, scenario));
    let outcome = PodRestarter::new(Client::new(service, "default"))
        .opt_in_only(opt_in_only)
        .remediate(&notice, now(), dry_run)
        .await;
    (outcome, fake.await.expect("fake API server"))
}

const POD: &str = "/api/v1/namespaces/shop/pods/web-5d8c9c5d4b-8jx7l";
const RS: &str = "/apis/apps/v1/namespaces/shop/replicasets/web-5d8c9c5d4b";
const DEPLOYMENT: &str = "/apis/apps/v1/namespaces/shop/deployments/web";
const NAMESPACE: &str = "/api/v1/namespaces/shop";

#[tokio::test]
async fn a_deployment_pod_restarts_its_deployment_with_one_patch_of_the_annotation() {
    let (o, patches) = run(
        vec![
            get(POD, pod(Some(("ReplicaSet", "web-5d8c9c5d4b")))),
            get(RS, replica_set()),
            get(DEPLOYMENT, deployment(None, 3)),
            get(NAMESPACE, namespace(&[])),
            patch(DEPLOYMENT),
        ],
        notice(),
        false,
    )
    .await;

    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Acted, "restarted"),
        "{o:?}"
    );
    assert_eq!(o.target.to_string(), "pod prod/shop/web-5d8c9c5d4b-8jx7l");
    assert_eq!(patches.len(), 1);
    let (query, body) = &patches[0];
    assert!(
        query.contains("fieldManager=retirement-remediator"),
        "{query}"
    );
    assert_eq!(
        body,
        &json!({ "spec": { "template": { "metadata": { "annotations": {
            "kubectl.kubernetes.io/restartedAt": "2026-11-25T10:05:00Z" } } } } })
    );
}

#[tokio::test]
async fn a_second_delivery_finds_the_restart_and_sends_no_patch() {
    let (o, patches) = run(
        vec![
            get(POD, pod(Some(("ReplicaSet", "web-5d8c9c5d4b")))),
            get(RS, replica_set()),
            get(DEPLOYMENT, deployment(Some("2026-11-25T10:01:00Z"), 3)),
        ],
        notice(),
        false,
    )
    .await;

    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::AlreadyDone, "already_restarted"),
        "{o:?}"
    );
    assert!(patches.is_empty());
}

#[tokio::test]
async fn a_restart_from_before_the_event_does_not_count() {
    let (o, patches) = run(
        vec![
            get(POD, pod(Some(("ReplicaSet", "web-5d8c9c5d4b")))),
            get(RS, replica_set()),
            get(DEPLOYMENT, deployment(Some("2026-11-20T08:00:00Z"), 3)),
            get(NAMESPACE, namespace(&[])),
            patch(DEPLOYMENT),
        ],
        notice(),
        false,
    )
    .await;

    assert_eq!(o.code, "restarted");
    assert_eq!(patches.len(), 1);
}

#[tokio::test]
async fn a_deployment_mid_rollout_is_not_restarted_again() {
    let (o, patches) = run(
        vec![
            get(POD, pod(Some(("ReplicaSet", "web-5d8c9c5d4b")))),
            get(RS, replica_set()),
            get(DEPLOYMENT, deployment(None, 1)),
        ],
        notice(),
        false,
    )
    .await;

    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::AlreadyDone, "rollout_in_progress"),
        "{o:?}"
    );
    assert!(patches.is_empty());
}

#[tokio::test]
async fn a_statefulset_pod_restarts_its_statefulset() {
    const STS: &str = "/apis/apps/v1/namespaces/shop/statefulsets/db";
    let sts = json!({ "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta("db", None),
                      "spec": { "selector": {}, "serviceName": "db", "template": { "metadata": {} } },
                      "status": { "replicas": 3, "currentRevision": "db-1", "updateRevision": "db-1" } });
    let (o, patches) = run(
        vec![
            get(POD, pod(Some(("StatefulSet", "db")))),
            get(STS, sts),
            get(NAMESPACE, namespace(&[])),
            patch(STS),
        ],
        notice(),
        false,
    )
    .await;

    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Acted, "restarted"),
        "{o:?}"
    );
    assert!(o.reason.contains("StatefulSet shop/db"), "{}", o.reason);
    assert_eq!(patches.len(), 1);
}

#[tokio::test]
async fn a_bare_pod_has_nothing_to_restart_and_the_outcome_points_at_the_budget() {
    let (o, patches) = run(vec![get(POD, pod(None))], notice(), false).await;

    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Skipped, "no_owner_to_restart"),
        "{o:?}"
    );
    assert!(o.reason.contains("PodDisruptionBudget"), "{}", o.reason);
    assert!(patches.is_empty());
}

#[tokio::test]
async fn a_job_pod_has_nothing_to_restart() {
    let (o, _) = run(
        vec![get(POD, pod(Some(("Job", "nightly-report"))))],
        notice(),
        false,
    )
    .await;

    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Skipped, "no_owner_to_restart"),
        "{o:?}"
    );
    assert!(o.reason.contains("Job nightly-report"), "{}", o.reason);
}

#[tokio::test]
async fn a_pod_already_gone_is_reported_gone() {
    let (o, _) = run(vec![missing(POD)], notice(), false).await;

    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Skipped, "gone"),
        "{o:?}"
    );
}

#[tokio::test]
async fn an_event_past_its_termination_time_is_too_late_and_touches_nothing() {
    let mut late = notice();
    late.scheduled_termination = Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap();

    let (o, _) = run(vec![], late, false).await;

    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Skipped, "too_late"),
        "{o:?}"
    );
}

#[tokio::test]
async fn a_dry_run_reads_the_chain_and_patches_nothing() {
    let (o, patches) = run(
        vec![
            get(POD, pod(Some(("ReplicaSet", "web-5d8c9c5d4b")))),
            get(RS, replica_set()),
            get(DEPLOYMENT, deployment(None, 3)),
            get(NAMESPACE, namespace(&[])),
        ],
        notice(),
        true,
    )
    .await;

    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Planned, "would_restart"),
        "{o:?}"
    );
    assert!(patches.is_empty());
}

fn annotated(mut workload: Value, key: &str, value: &str) -> Value {
    workload["metadata"]["annotations"] = json!({ key: value });
    workload
}

#[tokio::test]
async fn a_workload_annotated_skip_is_not_restarted() {
    let (o, patches) = run(
        vec![
            get(POD, pod(Some(("ReplicaSet", "web-5d8c9c5d4b")))),
            get(RS, replica_set()),
            get(
                DEPLOYMENT,
                annotated(deployment(None, 3), "retirement-remediator/skip", "true"),
            ),
            get(NAMESPACE, namespace(&[])),
        ],
        notice(),
        false,
    )
    .await;

    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Skipped, "opted_out"),
        "{o:?}"
    );
    assert!(o.reason.contains("Deployment shop/web: opted out: the resource is annotated retirement-remediator/skip=true"), "{}", o.reason);
    assert!(patches.is_empty());
}

#[tokio::test]
async fn a_namespace_annotated_skip_opts_out_every_workload_in_it() {
    let (o, patches) = run(
        vec![
            get(POD, pod(Some(("ReplicaSet", "web-5d8c9c5d4b")))),
            get(RS, replica_set()),
            get(DEPLOYMENT, deployment(None, 3)),
            get(
                NAMESPACE,
                namespace(&[("retirement-remediator/skip", "true")]),
            ),
        ],
        notice(),
        false,
    )
    .await;

    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Skipped, "opted_out"),
        "{o:?}"
    );
    assert!(
        o.reason.contains("its namespace is annotated"),
        "{}",
        o.reason
    );
    assert!(patches.is_empty());
}

#[tokio::test]
async fn opt_in_mode_leaves_unannotated_workloads_alone_and_restarts_enabled_namespaces() {
    let (o, patches) = run_with(
        vec![
            get(POD, pod(Some(("ReplicaSet", "web-5d8c9c5d4b")))),
            get(RS, replica_set()),
            get(DEPLOYMENT, deployment(None, 3)),
            get(NAMESPACE, namespace(&[])),
        ],
        notice(),
        false,
        true,
    )
    .await;
    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Skipped, "not_opted_in"),
        "{o:?}"
    );
    assert!(patches.is_empty());

    let (o, patches) = run_with(
        vec![
            get(POD, pod(Some(("ReplicaSet", "web-5d8c9c5d4b")))),
            get(RS, replica_set()),
            get(DEPLOYMENT, deployment(None, 3)),
            get(
                NAMESPACE,
                namespace(&[("retirement-remediator/enabled", "true")]),
            ),
            patch(DEPLOYMENT),
        ],
        notice(),
        false,
        true,
    )
    .await;
    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Acted, "restarted"),
        "{o:?}"
    );
    assert_eq!(patches.len(), 1);
}

#[tokio::test]
async fn a_namespace_it_may_not_read_stops_the_restart_and_names_the_rbac_fix() {
    let (o, patches) = run(
        vec![
            get(POD, pod(Some(("ReplicaSet", "web-5d8c9c5d4b")))),
            get(RS, replica_set()),
            get(DEPLOYMENT, deployment(None, 3)),
            forbidden(NAMESPACE),
        ],
        notice(),
        false,
    )
    .await;

    assert_eq!(
        (o.status, o.code.as_str(), o.retryable),
        (Status::Failed, "api_error", false),
        "{o:?}"
    );
    assert!(
        o.reason.contains("infra/kubernetes/rbac.yaml"),
        "{}",
        o.reason
    );
    assert!(patches.is_empty());
}

#[tokio::test]
async fn a_paused_deployment_is_not_restarted_and_the_outcome_says_to_resume_it() {
    let mut paused = deployment(None, 1);
    paused["spec"]["paused"] = json!(true);
    let (o, patches) = run(
        vec![
            get(POD, pod(Some(("ReplicaSet", "web-5d8c9c5d4b")))),
            get(RS, replica_set()),
            get(DEPLOYMENT, paused),
            get(NAMESPACE, namespace(&[])),
        ],
        notice(),
        false,
    )
    .await;

    assert_eq!(
        (o.status, o.code.as_str(), o.retryable),
        (Status::Failed, "rollout_blocked", false),
        "{o:?}"
    );
    assert!(o.reason.contains("rollout resume"), "{}", o.reason);
    assert!(patches.is_empty());
}

#[tokio::test]
async fn a_deployment_past_its_progress_deadline_is_a_failure_not_a_rollout_in_progress() {
    let mut stuck = deployment(None, 1);
    stuck["status"]["conditions"] = json!([{ "type": "Progressing", "status": "False",
                                             "reason": "ProgressDeadlineExceeded" }]);
    let (o, patches) = run(
        vec![
            get(POD, pod(Some(("ReplicaSet", "web-5d8c9c5d4b")))),
            get(RS, replica_set()),
            get(DEPLOYMENT, stuck),
            get(NAMESPACE, namespace(&[])),
        ],
        notice(),
        false,
    )
    .await;

    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Failed, "rollout_blocked"),
        "{o:?}"
    );
    assert!(
        o.reason.contains("ProgressDeadlineExceeded"),
        "{}",
        o.reason
    );
    assert!(patches.is_empty());
}

#[tokio::test]
async fn a_statefulset_partition_above_the_pods_ordinal_is_not_restarted() {
    const DB_POD: &str = "/api/v1/namespaces/shop/pods/db-0";
    const STS: &str = "/apis/apps/v1/namespaces/shop/statefulsets/db";
    let pod = json!({ "apiVersion": "v1", "kind": "Pod", "metadata": meta("db-0", Some(("StatefulSet", "db"))) });
    let sts = json!({ "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta("db", None),
                      "spec": { "selector": {}, "serviceName": "db", "template": { "metadata": {} },
                                "updateStrategy": { "type": "RollingUpdate", "rollingUpdate": { "partition": 2 } } },
                      "status": { "replicas": 3, "currentRevision": "db-1", "updateRevision": "db-1" } });
    let mut db_notice = notice();
    db_notice.pod = "db-0".into();
    let (o, patches) = run(
        vec![
            get(DB_POD, pod),
            get(STS, sts),
            get(NAMESPACE, namespace(&[])),
        ],
        db_notice,
        false,
    )
    .await;

    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Failed, "rollout_blocked"),
        "{o:?}"
    );
    assert!(o.reason.contains("partition 2"), "{}", o.reason);
    assert!(patches.is_empty());
}
