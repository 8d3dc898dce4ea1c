//! Follow-up checks on a restarted workload (`PodRestarter::check`) against the test kit's
//! [`ScriptedKube`], which asserts each request in order (the kube-rs controller-rs
//! `tower-test` pattern) and, once the check has finished, fails on any request it did not
//! expect (a retry included) or an expected one that never came.
//!
//! A check is a GET of the pod the notice names (is it gone, or replaced under the same name?)
//! and a GET of the workload, whose status decides the verdict.

use remediator_core::follow::Verdict;
use remediator_core::names::Code;
use remediator_core::testing::{at, pod_notice};
use remediator_core::PodNotice;
use remediator_kube::restart::WorkloadKind;
use remediator_kube::PodRestarter;
use remediator_testkit::kube_objects::{
    meta, pod_path, rollout, DAEMON_SET as DAEMONSET, DEPLOYMENT, ROLLOUT, STATEFUL_SET as STS,
};
use remediator_testkit::scripted_kube::{Expect, ScriptedKube};
use serde_json::{json, Value};

fn notice() -> PodNotice {
    pod_notice(at("2026-11-25T10:00:00Z"), at("2026-11-30T12:00:00Z"))
}

/// The notice for StatefulSet `db`'s pod `db-<ordinal>`.
fn db_notice(ordinal: u32) -> PodNotice {
    let mut notice = notice();
    notice.pod = format!("db-{ordinal}");
    notice
}

/// A check where the pod the notice names is gone (404), then the workload `answers`.
async fn check(answers: Vec<Expect>, notice: PodNotice, kind: WorkloadKind, name: &str) -> Verdict {
    let mut all = vec![Expect::missing(&pod_path(&notice.pod))];
    all.extend(answers);
    check_all(all, notice, kind, name).await
}

/// Runs the check to completion against `answers`; the fake then asserts that every one of
/// them was asked for, in order, and nothing else.
async fn check_all(
    answers: Vec<Expect>,
    notice: PodNotice,
    kind: WorkloadKind,
    name: &str,
) -> Verdict {
    let (client, mut fake) = ScriptedKube::client();
    fake.run(
        answers,
        PodRestarter::new(client).check(&notice, kind, name),
    )
    .await
}

/// Deployment `web`: 3 replicas wanted, the restart's generation 5 observed, and `status` as
/// given (`updated` / `ready` / `available` / `replicas`).
fn deployment(updated: i32, ready: i32, available: i32, replicas: i32) -> Value {
    json!({ "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("web", 5, None),
            "spec": { "replicas": 3, "selector": {},
                      "template": { "metadata": { "annotations": {
                          "kubectl.kubernetes.io/restartedAt": "2026-11-25T10:05:00Z" } } } },
            "status": { "observedGeneration": 5, "replicas": replicas, "updatedReplicas": updated,
                        "readyReplicas": ready, "availableReplicas": available } })
}

/// StatefulSet `db`: 3 replicas wanted, generation 5 observed, revisions and counts as given.
fn stateful_set(current: &str, update: &str, updated: i32, ready: i32) -> Value {
    json!({ "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta("db", 5, None),
            "spec": { "replicas": 3, "selector": {}, "serviceName": "db", "template": { "metadata": {} } },
            "status": { "observedGeneration": 5, "replicas": 3, "currentRevision": current,
                        "updateRevision": update, "updatedReplicas": updated,
                        "currentReplicas": updated, "readyReplicas": ready,
                        "availableReplicas": ready } })
}

fn expect_verified(verdict: &Verdict) -> &str {
    match verdict {
        Verdict::Verified(reason) => reason,
        other => panic!("expected Verified, got {other:?}"),
    }
}

fn expect_pending(verdict: &Verdict) -> &str {
    match verdict {
        Verdict::Pending(reason) => reason,
        other => panic!("expected Pending, got {other:?}"),
    }
}

fn expect_blocked(verdict: &Verdict) -> &str {
    match verdict {
        Verdict::Failed(Code::RolloutBlocked, reason) => reason,
        other => panic!("expected Failed(RolloutBlocked), got {other:?}"),
    }
}

#[tokio::test]
async fn a_deployment_whose_rollout_completed_is_verified() {
    let v = check(
        vec![Expect::get(DEPLOYMENT, deployment(3, 3, 3, 3))],
        notice(),
        WorkloadKind::Deployment,
        "web",
    )
    .await;

    let reason = expect_verified(&v);
    assert!(reason.contains("Deployment shop/web"), "{reason}");
    assert!(reason.contains("finished its rollout"), "{reason}");
}

#[tokio::test]
async fn a_deployment_still_rolling_out_is_pending() {
    let v = check(
        vec![Expect::get(DEPLOYMENT, deployment(1, 3, 3, 4))],
        notice(),
        WorkloadKind::Deployment,
        "web",
    )
    .await;

    let reason = expect_pending(&v);
    assert!(reason.contains("Deployment shop/web"), "{reason}");
    assert!(reason.contains("still rolling out"), "{reason}");
}

#[tokio::test]
async fn a_deployment_with_every_replica_updated_but_an_old_one_still_terminating_is_pending() {
    let v = check(
        vec![Expect::get(DEPLOYMENT, deployment(3, 3, 3, 4))],
        notice(),
        WorkloadKind::Deployment,
        "web",
    )
    .await;

    expect_pending(&v);
}

#[tokio::test]
async fn a_deployment_whose_restart_the_controller_has_not_observed_yet_is_pending() {
    let mut unobserved = deployment(3, 3, 3, 3);
    unobserved["status"]["observedGeneration"] = json!(4);
    let v = check(
        vec![Expect::get(DEPLOYMENT, unobserved)],
        notice(),
        WorkloadKind::Deployment,
        "web",
    )
    .await;

    expect_pending(&v);
}

#[tokio::test]
async fn a_paused_deployment_fails_as_rollout_blocked_and_says_it_is_paused() {
    let mut paused = deployment(0, 3, 3, 3);
    paused["spec"]["paused"] = json!(true);
    let v = check(
        vec![Expect::get(DEPLOYMENT, paused)],
        notice(),
        WorkloadKind::Deployment,
        "web",
    )
    .await;

    let reason = expect_blocked(&v);
    assert!(reason.contains("paused"), "{reason}");
    assert!(reason.contains("Deployment shop/web"), "{reason}");
    assert!(reason.contains("2026-11-30T12:00:00"), "{reason}");
}

#[tokio::test]
async fn a_deployment_past_its_progress_deadline_fails_as_rollout_blocked() {
    let mut stuck = deployment(1, 2, 2, 4);
    stuck["status"]["conditions"] = json!([{ "type": "Progressing", "status": "False",
                                             "reason": "ProgressDeadlineExceeded" }]);
    let v = check(
        vec![Expect::get(DEPLOYMENT, stuck)],
        notice(),
        WorkloadKind::Deployment,
        "web",
    )
    .await;

    let reason = expect_blocked(&v);
    assert!(reason.contains("ProgressDeadlineExceeded"), "{reason}");
}

#[tokio::test]
async fn a_statefulset_with_the_on_delete_strategy_fails_as_rollout_blocked() {
    let mut on_delete = stateful_set("db-1", "db-2", 0, 3);
    on_delete["spec"]["updateStrategy"] = json!({ "type": "OnDelete" });
    let v = check(
        vec![Expect::get(STS, on_delete)],
        db_notice(0),
        WorkloadKind::StatefulSet,
        "db",
    )
    .await;

    let reason = expect_blocked(&v);
    assert!(reason.contains("OnDelete"), "{reason}");
    assert!(reason.contains("StatefulSet shop/db"), "{reason}");
}

#[tokio::test]
async fn a_statefulset_partition_above_the_pods_ordinal_fails_as_rollout_blocked() {
    let mut partitioned = stateful_set("db-1", "db-2", 1, 3);
    partitioned["spec"]["updateStrategy"] =
        json!({ "type": "RollingUpdate", "rollingUpdate": { "partition": 2 } });
    let v = check(
        vec![Expect::get(STS, partitioned)],
        db_notice(1),
        WorkloadKind::StatefulSet,
        "db",
    )
    .await;

    let reason = expect_blocked(&v);
    assert!(reason.contains("partition 2"), "{reason}");
}

#[tokio::test]
async fn a_statefulset_on_its_update_revision_with_every_replica_ready_is_verified() {
    let v = check(
        vec![Expect::get(STS, stateful_set("db-2", "db-2", 3, 3))],
        db_notice(0),
        WorkloadKind::StatefulSet,
        "db",
    )
    .await;

    let reason = expect_verified(&v);
    assert!(reason.contains("StatefulSet shop/db"), "{reason}");
}

#[tokio::test]
async fn a_statefulset_still_moving_to_its_update_revision_is_pending() {
    let v = check(
        vec![Expect::get(STS, stateful_set("db-1", "db-2", 2, 3))],
        db_notice(0),
        WorkloadKind::StatefulSet,
        "db",
    )
    .await;

    expect_pending(&v);
}

#[tokio::test]
async fn a_daemonset_with_every_scheduled_pod_updated_and_available_is_verified() {
    let ds = json!({ "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": meta("agent", 5, None),
                     "spec": { "selector": {}, "template": { "metadata": {} } },
                     "status": { "observedGeneration": 5, "currentNumberScheduled": 4,
                                 "desiredNumberScheduled": 4, "numberMisscheduled": 0,
                                 "numberReady": 4, "updatedNumberScheduled": 4,
                                 "numberAvailable": 4 } });
    let v = check(
        vec![Expect::get(DAEMONSET, ds)],
        notice(),
        WorkloadKind::DaemonSet,
        "agent",
    )
    .await;

    let reason = expect_verified(&v);
    assert!(reason.contains("DaemonSet shop/agent"), "{reason}");
}

#[tokio::test]
async fn a_workload_that_is_gone_is_verified() {
    let v = check(
        vec![Expect::missing(DEPLOYMENT)],
        notice(),
        WorkloadKind::Deployment,
        "web",
    )
    .await;

    let reason = expect_verified(&v);
    assert!(reason.contains("is gone"), "{reason}");
}

#[tokio::test]
async fn a_server_error_leaves_the_check_pending_after_a_single_request() {
    // `Client::new` adds no retry layer (and kube's default one retries only 429, 503 and
    // 504): the fake answers one request and fails the test on a second.
    let v = check(
        vec![Expect::failure(STS, 500, "InternalError")],
        db_notice(0),
        WorkloadKind::StatefulSet,
        "db",
    )
    .await;

    let reason = expect_pending(&v);
    assert!(
        reason.contains("could not read StatefulSet shop/db"),
        "{reason}"
    );
    assert!(reason.contains("the next check looks again"), "{reason}");
}

#[tokio::test]
async fn a_statefulset_whose_partitioned_rollout_reached_every_pod_from_the_partition_up_is_verified(
) {
    // Partition 1 of 3: the controller updates db-1 and db-2 only, and keeps currentRevision
    // on the old revision for good. `kubectl rollout status` calls this "partitioned roll out
    // complete" once updatedReplicas >= replicas - partition.
    let mut partitioned = stateful_set("db-1", "db-2", 2, 3);
    partitioned["spec"]["updateStrategy"] =
        json!({ "type": "RollingUpdate", "rollingUpdate": { "partition": 1 } });
    let v = check(
        vec![Expect::get(STS, partitioned)],
        db_notice(2),
        WorkloadKind::StatefulSet,
        "db",
    )
    .await;

    expect_verified(&v);
}

#[tokio::test]
async fn a_finished_rollout_that_left_the_named_pod_running_is_not_verified() {
    let notice = notice();
    // The pod EKS named, created before the notice, still there after the rollout.
    let pod = json!({ "apiVersion": "v1", "kind": "Pod",
                      "metadata": { "name": notice.pod, "namespace": notice.namespace,
                                    "creationTimestamp": "2026-11-20T08:00:00Z" } });
    let v = check_all(
        vec![
            Expect::get(&pod_path(&notice.pod), pod),
            Expect::get(DEPLOYMENT, deployment(3, 3, 3, 3)),
        ],
        notice,
        WorkloadKind::Deployment,
        "web",
    )
    .await;

    match v {
        Verdict::Pending(reason) => assert!(reason.contains("still runs"), "{reason}"),
        other => panic!("expected pending, got {other:?}"),
    }
}

#[tokio::test]
async fn a_statefulset_pod_recreated_under_its_name_after_the_notice_counts_as_replaced() {
    let notice = db_notice(0);
    let pod = json!({ "apiVersion": "v1", "kind": "Pod",
                      "metadata": { "name": "db-0", "namespace": notice.namespace,
                                    "creationTimestamp": "2026-11-25T10:07:00Z" } });
    let v = check_all(
        vec![
            Expect::get(&pod_path(&notice.pod), pod),
            Expect::get(STS, stateful_set("db-2", "db-2", 3, 3)),
        ],
        notice,
        WorkloadKind::StatefulSet,
        "db",
    )
    .await;

    assert!(matches!(v, Verdict::Verified(_)), "{v:?}");
}

/// Argo Rollout `web` in `phase` after our restart at 10:05 (generation 5, observed), its
/// controller done restarting at `restarted` (not yet, with `None`).
fn restarted_rollout(phase: &str, restarted: Option<&str>) -> Value {
    let mut r = rollout(phase);
    r["metadata"]["generation"] = json!(5);
    r["status"]["observedGeneration"] = json!("5");
    r["spec"]["restartAt"] = json!("2026-11-25T10:05:00Z");
    if let Some(at) = restarted {
        r["status"]["restartedAt"] = json!(at);
    }
    r
}

async fn check_rollout(answer: Value) -> Verdict {
    check(
        vec![Expect::get(ROLLOUT, answer)],
        notice(),
        WorkloadKind::Rollout,
        "web",
    )
    .await
}

#[tokio::test]
async fn a_healthy_argo_rollout_done_restarting_after_our_restart_at_is_verified() {
    let v = check_rollout(restarted_rollout("Healthy", Some("2026-11-25T10:05:00Z"))).await;

    let reason = expect_verified(&v);
    assert!(reason.contains("Rollout shop/web"), "{reason}");
}

#[tokio::test]
async fn a_healthy_argo_rollout_whose_controller_has_not_finished_the_restart_is_pending() {
    let v = check_rollout(restarted_rollout("Healthy", Some("2026-11-20T08:00:00Z"))).await;

    expect_pending(&v);
}

#[tokio::test]
async fn an_argo_rollout_whose_restart_the_controller_has_not_observed_yet_is_pending() {
    let mut unobserved = restarted_rollout("Healthy", Some("2026-11-25T10:05:00Z"));
    unobserved["status"]["observedGeneration"] = json!("4");

    expect_pending(&check_rollout(unobserved).await);
}

#[tokio::test]
async fn an_argo_rollout_still_progressing_or_paused_is_pending() {
    for phase in ["Progressing", "Paused"] {
        let mut r = restarted_rollout(phase, None);
        r["status"]["availableReplicas"] = json!(2);

        expect_pending(&check_rollout(r).await);
    }
}

#[tokio::test]
async fn a_degraded_argo_rollout_fails_as_rollout_blocked() {
    let mut degraded = restarted_rollout("Degraded", None);
    degraded["status"]["message"] =
        json!("ProgressDeadlineExceeded: ReplicaSet web-5d8c9c5d4b has timed out progressing.");

    let v = check_rollout(degraded).await;

    let reason = expect_blocked(&v);
    assert!(reason.contains("Rollout shop/web"), "{reason}");
    assert!(reason.contains("ProgressDeadlineExceeded"), "{reason}");
    assert!(reason.contains("2026-11-30T12:00:00"), "{reason}");
}
