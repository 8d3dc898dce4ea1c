//! The pod-owner restart against the test kit's [`ScriptedKube`], which asserts each request
//! of a scenario in order (the kube-rs controller-rs `tower-test` pattern) and, once the
//! restart has finished, fails on any request it did not expect or an expected one that never
//! came.

use chrono::{DateTime, TimeZone, Utc};
use remediator_core::testing::{at, pod_notice};
use remediator_core::{Outcome, PodNotice, Status};
use remediator_kube::PodRestarter;
use remediator_testkit::fake_kube::Seen;
use remediator_testkit::kube_objects::{
    annotated, deployment, meta, namespace, pod, pod_path, replica_set, rollout,
    rollout_replica_set, web_pod, DEPLOYMENT, NAMESPACE, POD, REPLICA_SET as RS, ROLLOUT,
    STATEFUL_SET as STS,
};
use remediator_testkit::scripted_kube::{Expect, ScriptedKube};
use serde_json::{json, Value};

fn published() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap()
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 10, 5, 0).unwrap()
}

fn notice() -> PodNotice {
    pod_notice(published(), at("2026-11-30T12:00:00Z"))
}

/// The PATCH requests of a scenario.
type Patches = Vec<Seen>;

async fn run(scenario: Vec<Expect>, notice: PodNotice, dry_run: bool) -> (Outcome, Patches) {
    run_with(scenario, notice, dry_run, false).await
}

/// Runs the restart to completion against the scenario; the fake then asserts that every
/// request of it came, in order, and no other one.
async fn run_with(
    scenario: Vec<Expect>,
    notice: PodNotice,
    dry_run: bool,
    opt_in_only: bool,
) -> (Outcome, Patches) {
    let (client, mut fake) = ScriptedKube::client();
    let restarter = PodRestarter::new(client).opt_in_only(opt_in_only);
    let outcome = fake
        .run(scenario, restarter.remediate(&notice, now(), dry_run))
        .await;
    (outcome, fake.patches().into_iter().cloned().collect())
}

#[tokio::test]
async fn a_deployment_pod_restarts_its_deployment_with_one_patch_of_the_annotation() {
    let (o, patches) = run(
        vec![
            Expect::get(POD, web_pod()),
            Expect::get(RS, replica_set()),
            Expect::get(DEPLOYMENT, deployment(None, 3)),
            Expect::get(NAMESPACE, namespace(&[])),
            Expect::patch(DEPLOYMENT),
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
    let Seen { query, body, .. } = &patches[0];
    assert!(
        query.contains("fieldManager=retirement-remediator"),
        "{query}"
    );
    assert_eq!(
        body.as_ref().expect("a JSON merge patch"),
        &json!({ "spec": { "template": { "metadata": { "annotations": {
            "kubectl.kubernetes.io/restartedAt": "2026-11-25T10:05:00Z" } } } } })
    );
}

#[tokio::test]
async fn a_second_delivery_finds_the_restart_and_sends_no_patch() {
    let (o, patches) = run(
        vec![
            Expect::get(POD, web_pod()),
            Expect::get(RS, replica_set()),
            Expect::get(DEPLOYMENT, deployment(Some("2026-11-25T10:01:00Z"), 3)),
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
            Expect::get(POD, web_pod()),
            Expect::get(RS, replica_set()),
            Expect::get(DEPLOYMENT, deployment(Some("2026-11-20T08:00:00Z"), 3)),
            Expect::get(NAMESPACE, namespace(&[])),
            Expect::patch(DEPLOYMENT),
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
            Expect::get(POD, web_pod()),
            Expect::get(RS, replica_set()),
            Expect::get(DEPLOYMENT, deployment(None, 1)),
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
    let sts = json!({ "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta("db", 4, None),
                      "spec": { "selector": {}, "serviceName": "db", "template": { "metadata": {} } },
                      "status": { "replicas": 3, "currentRevision": "db-1", "updateRevision": "db-1" } });
    let (o, patches) = run(
        vec![
            Expect::get(
                POD,
                pod("web-5d8c9c5d4b-8jx7l", Some(("StatefulSet", "db"))),
            ),
            Expect::get(STS, sts),
            Expect::get(NAMESPACE, namespace(&[])),
            Expect::patch(STS),
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
    let (o, patches) = run(
        vec![Expect::get(POD, pod("web-5d8c9c5d4b-8jx7l", None))],
        notice(),
        false,
    )
    .await;

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
        vec![Expect::get(
            POD,
            pod("web-5d8c9c5d4b-8jx7l", Some(("Job", "nightly-report"))),
        )],
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
    let (o, _) = run(vec![Expect::missing(POD)], notice(), false).await;

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
            Expect::get(POD, web_pod()),
            Expect::get(RS, replica_set()),
            Expect::get(DEPLOYMENT, deployment(None, 3)),
            Expect::get(NAMESPACE, namespace(&[])),
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

#[tokio::test]
async fn a_workload_annotated_skip_is_not_restarted() {
    let (o, patches) = run(
        vec![
            Expect::get(POD, web_pod()),
            Expect::get(RS, replica_set()),
            Expect::get(
                DEPLOYMENT,
                annotated(deployment(None, 3), "retirement-remediator/skip", "true"),
            ),
            Expect::get(NAMESPACE, namespace(&[])),
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
            Expect::get(POD, web_pod()),
            Expect::get(RS, replica_set()),
            Expect::get(DEPLOYMENT, deployment(None, 3)),
            Expect::get(
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
            Expect::get(POD, web_pod()),
            Expect::get(RS, replica_set()),
            Expect::get(DEPLOYMENT, deployment(None, 3)),
            Expect::get(NAMESPACE, namespace(&[])),
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
            Expect::get(POD, web_pod()),
            Expect::get(RS, replica_set()),
            Expect::get(DEPLOYMENT, deployment(None, 3)),
            Expect::get(
                NAMESPACE,
                namespace(&[("retirement-remediator/enabled", "true")]),
            ),
            Expect::patch(DEPLOYMENT),
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
            Expect::get(POD, web_pod()),
            Expect::get(RS, replica_set()),
            Expect::get(DEPLOYMENT, deployment(None, 3)),
            Expect::forbidden(NAMESPACE),
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
            Expect::get(POD, web_pod()),
            Expect::get(RS, replica_set()),
            Expect::get(DEPLOYMENT, paused),
            Expect::get(NAMESPACE, namespace(&[])),
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
            Expect::get(POD, web_pod()),
            Expect::get(RS, replica_set()),
            Expect::get(DEPLOYMENT, stuck),
            Expect::get(NAMESPACE, namespace(&[])),
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
    let pod = pod("db-0", Some(("StatefulSet", "db")));
    let sts = json!({ "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta("db", 4, None),
                      "spec": { "selector": {}, "serviceName": "db", "template": { "metadata": {} },
                                "updateStrategy": { "type": "RollingUpdate", "rollingUpdate": { "partition": 2 } } },
                      "status": { "replicas": 3, "currentRevision": "db-1", "updateRevision": "db-1" } });
    let mut db_notice = notice();
    db_notice.pod = "db-0".into();
    let (o, patches) = run(
        vec![
            Expect::get(&pod_path("db-0"), pod),
            Expect::get(STS, sts),
            Expect::get(NAMESPACE, namespace(&[])),
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

/// The pod, its ReplicaSet (controlled by Argo's Rollout `web`), the Rollout answering `rollout`,
/// then the requests `then`.
async fn through_rollout(rollout: Value, then: Vec<Expect>) -> (Outcome, Patches) {
    let mut scenario = vec![
        Expect::get(POD, web_pod()),
        Expect::get(RS, rollout_replica_set("argoproj.io/v1alpha1")),
        Expect::get(ROLLOUT, rollout),
    ];
    scenario.extend(then);
    run(scenario, notice(), false).await
}

/// The namespace read, unmarked, and the Rollout's PATCH.
fn read_namespace_then_patch() -> Vec<Expect> {
    vec![
        Expect::get(NAMESPACE, namespace(&[])),
        Expect::patch(ROLLOUT),
    ]
}

fn status_and_code(o: &Outcome) -> (Status, &str) {
    (o.status, o.code.as_str())
}

#[tokio::test]
async fn an_argo_rollout_pod_restarts_its_rollout_with_one_merge_patch_of_restart_at() {
    let (o, patches) = through_rollout(rollout("Healthy"), read_namespace_then_patch()).await;

    assert_eq!(status_and_code(&o), (Status::Acted, "restarted"), "{o:?}");
    let reason = &o.reason;
    assert!(
        reason.contains("Rollout shop/web restarted (restartAt 2026-11-25T10:05:00Z)"),
        "{reason}"
    );
    assert_eq!(o.deployment_after.as_deref(), Some("Rollout/web"));
    let [Seen { query, body, .. }] = patches.as_slice() else {
        panic!("one PATCH, got {patches:?}");
    };
    assert!(
        query.contains("fieldManager=retirement-remediator"),
        "{query}"
    );
    assert_eq!(
        body,
        &Some(json!({ "spec": { "restartAt": "2026-11-25T10:05:00Z" } }))
    );
}

#[tokio::test]
async fn a_paused_argo_rollout_is_restarted_since_argo_restarts_pods_even_mid_update() {
    let mut paused = rollout("Paused");
    paused["status"]["updatedReplicas"] = json!(1);
    paused["status"]["pauseConditions"] =
        json!([{ "reason": "CanaryPauseStep", "startTime": "2026-11-24T08:00:00Z" }]);

    let (o, patches) = through_rollout(paused, read_namespace_then_patch()).await;

    assert_eq!(o.code, "restarted", "{o:?}");
    assert_eq!(patches.len(), 1);
}

#[tokio::test]
async fn an_argo_rollout_restarted_after_the_event_is_not_patched_again() {
    let mut restarted = rollout("Progressing");
    restarted["spec"]["restartAt"] = json!("2026-11-25T10:01:00Z");

    let (o, patches) = through_rollout(restarted, vec![]).await;

    assert_eq!(
        status_and_code(&o),
        (Status::AlreadyDone, "already_restarted")
    );
    assert!(patches.is_empty());
}

#[tokio::test]
async fn an_argo_rollout_annotated_skip_is_not_restarted() {
    let skip = annotated(rollout("Healthy"), "retirement-remediator/skip", "true");

    let (o, patches) = through_rollout(skip, vec![Expect::get(NAMESPACE, namespace(&[]))]).await;

    assert_eq!(status_and_code(&o), (Status::Skipped, "opted_out"));
    assert!(patches.is_empty());
}

#[tokio::test]
async fn an_aborted_argo_rollout_is_not_restarted_and_the_outcome_says_how_to_retry_it() {
    let mut aborted = rollout("Degraded");
    aborted["status"]["abort"] = json!(true);
    aborted["status"]["message"] = json!("RolloutAborted: Rollout aborted update to revision 2");

    let (o, patches) = through_rollout(aborted, vec![Expect::get(NAMESPACE, namespace(&[]))]).await;

    assert_eq!(status_and_code(&o), (Status::Failed, "rollout_blocked"));
    let reason = &o.reason;
    assert!(
        reason.contains("kubectl argo rollouts retry rollout web"),
        "{reason}"
    );
    assert!(patches.is_empty());
}

#[tokio::test]
async fn a_rollout_of_another_api_group_is_not_read_and_is_named_in_the_outcome() {
    let scenario = vec![
        Expect::get(POD, web_pod()),
        Expect::get(RS, rollout_replica_set("example.com/v1")),
    ];

    let (o, patches) = run(scenario, notice(), false).await;

    assert_eq!(
        status_and_code(&o),
        (Status::Skipped, "no_owner_to_restart")
    );
    let reason = &o.reason;
    assert!(reason.contains("Rollout web (example.com/v1)"), "{reason}");
    assert!(patches.is_empty());
}
