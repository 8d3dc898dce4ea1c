//! `remediator apply` on the EKS sample event (shared/seeds/004, in
//! `events-fixtures/eks-fargate-pod-scheduled-termination.json`): DescribeCluster answered by moto,
//! the Kubernetes API by a local stateful fake reached through `EKS_ENDPOINT_URL`.
// The futures nest the driver, the engine and the SDK calls deeply.
#![recursion_limit = "256"]

use std::process::{Command, Output};

use chrono::Duration;
use remediator_core::{Report, Status};
use remediator_testkit::fake_kube::FakeKube;
use remediator_testkit::notice::Notice;
use remediator_testkit::MotoServer;
use serde_json::json;

const POD: &str = "/api/v1/namespaces/default/pods/my-deployment-5d8c9c5d4b-8jx7l";
const RS: &str = "/apis/apps/v1/namespaces/default/replicasets/my-deployment-5d8c9c5d4b";
const DEPLOYMENT: &str = "/apis/apps/v1/namespaces/default/deployments/my-deployment";

fn owned(name: &str, kind: &str, owner: &str) -> serde_json::Value {
    json!({ "name": name, "namespace": "default", "generation": 2,
            "ownerReferences": [{ "apiVersion": "apps/v1", "kind": kind, "name": owner, "uid": "u", "controller": true }] })
}

async fn fake_cluster() -> FakeKube {
    FakeKube::start(vec![
        (POD, json!({ "apiVersion": "v1", "kind": "Pod",
                      "metadata": owned("my-deployment-5d8c9c5d4b-8jx7l", "ReplicaSet", "my-deployment-5d8c9c5d4b") })),
        (RS, json!({ "apiVersion": "apps/v1", "kind": "ReplicaSet",
                     "metadata": owned("my-deployment-5d8c9c5d4b", "Deployment", "my-deployment"),
                     "spec": { "selector": {} } })),
        (DEPLOYMENT, json!({ "apiVersion": "apps/v1", "kind": "Deployment",
                             "metadata": { "name": "my-deployment", "namespace": "default", "generation": 2 },
                             "spec": { "replicas": 2, "selector": {}, "template": { "metadata": {} } },
                             "status": { "observedGeneration": 2, "replicas": 2, "updatedReplicas": 2 } })),
    ])
    .await
}

fn apply(moto: &MotoServer, kube: &FakeKube, event: &std::path::Path) -> Output {
    remediator(
        moto,
        kube,
        &["apply", "--event", event.to_str().expect("utf-8"), "--json"],
        &[],
    )
}

/// The binary with `args`, moto's environment, the fake API server, and `env` on top.
fn remediator(moto: &MotoServer, kube: &FakeKube, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_remediator"));
    cmd.args(args)
        .env_remove("AWS_PROFILE")
        .env_remove("LEDGER_TABLE")
        .env("EKS_ENDPOINT_URL", kube.url())
        .env("SDK_MAX_ATTEMPTS", "2");
    for (k, v) in moto.env() {
        cmd.env(k, v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run remediator")
}

/// The EKS sample published now, EKS deleting the pod in five days.
fn sample() -> Notice {
    Notice::eks_pod().terminating_in(Duration::days(5))
}

/// The EKS sample written to the file `name`.
fn sample_event(name: &str) -> std::path::PathBuf {
    write_event(name, sample())
}

/// `notice` written to the file `name`.
fn write_event(name: &str, notice: Notice) -> std::path::PathBuf {
    let event = notice.build();
    let dir = std::env::temp_dir().join(format!("remediator-eks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join(name);
    std::fs::write(&file, serde_json::to_vec(&event).expect("json")).expect("write");
    file
}

// Multi-threaded: the fake API server must keep serving while the test blocks on the CLI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_on_the_eks_sample_restarts_the_deployment_once() {
    let moto = MotoServer::start();
    moto.eks_cluster("my-cluster");
    let kube = fake_cluster().await;
    let file = sample_event("eks.json");

    let first = apply(&moto, &kube, &file);

    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let report: Report = serde_json::from_slice(&first.stdout).expect("report");
    let o = &report.outcomes[0];
    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Acted, "restarted"),
        "{o:?}"
    );
    let requests: Vec<(String, String)> = kube
        .seen()
        .into_iter()
        .map(|s| (s.method, s.path))
        .collect();
    assert_eq!(
        requests,
        vec![
            ("GET".to_owned(), POD.to_owned()),
            ("GET".to_owned(), RS.to_owned()),
            ("GET".to_owned(), DEPLOYMENT.to_owned()),
            // The namespace's opt-out / opt-in annotations.
            ("GET".to_owned(), "/api/v1/namespaces/default".to_owned()),
            ("PATCH".to_owned(), DEPLOYMENT.to_owned()),
        ]
    );
    let restarted = kube.object(DEPLOYMENT).expect("deployment");
    assert!(restarted["spec"]["template"]["metadata"]["annotations"]
        ["kubectl.kubernetes.io/restartedAt"]
        .is_string());

    let second = apply(&moto, &kube, &file);

    let report: Report = serde_json::from_slice(&second.stdout).expect("report");
    assert_eq!(report.outcomes[0].code, "already_restarted", "{report:?}");
    assert_eq!(
        kube.seen().iter().filter(|s| s.method == "PATCH").count(),
        1,
        "no second PATCH"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_ledger_a_second_delivery_of_a_pod_notice_only_reads_the_pod_and_the_restarted_workload(
) {
    let moto = MotoServer::start();
    moto.eks_cluster("my-cluster");
    let kube = fake_cluster().await;
    let ledger = [("LEDGER_TABLE", "retirement-ledger")];
    let init = remediator(&moto, &kube, &["ledger", "init"], &ledger);
    assert_eq!(
        init.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let file = sample_event("eks-ledger.json");
    let file = file.to_str().expect("utf-8");

    let first = remediator(&moto, &kube, &["apply", "--event", file, "--json"], &ledger);
    let calls_after_first = kube.seen().len();
    let second = remediator(&moto, &kube, &["apply", "--event", file, "--json"], &ledger);

    let first: Report = serde_json::from_slice(&first.stdout).expect("report");
    assert_eq!(first.outcomes[0].code, "restarted", "{first:?}");
    let second: Report = serde_json::from_slice(&second.stdout).expect("report");
    // The fake's Deployment shows no finished rollout: still being replaced.
    assert_eq!(
        (second.outcomes[0].status, second.outcomes[0].code.as_str()),
        (Status::Pending, "verifying"),
        "{second:?}"
    );
    let after: Vec<(String, String)> = kube.seen()[calls_after_first..]
        .iter()
        .map(|s| (s.method.clone(), s.path.clone()))
        .collect();
    assert_eq!(
        after,
        vec![
            ("GET".to_owned(), POD.to_owned()),
            ("GET".to_owned(), DEPLOYMENT.to_owned()),
        ],
        "the ledger names the restarted workload: the pod and the workload read, no owner chain, no second PATCH"
    );
}

/// The CLI's JSON report, or the test fails with what it printed.
fn report_of(out: &Output) -> Report {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

/// Central mode: the organization's second account, where the cluster is.
const MEMBER: &str = "210987654321";

/// The sample as a member account's bus forwards it: its `account` is the member's.
fn forwarded_from_member(name: &str) -> std::path::PathBuf {
    write_event(name, sample().account(MEMBER))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_central_mode_a_member_accounts_pod_notice_restarts_the_workload_through_the_members_cluster(
) {
    let moto = MotoServer::start();
    // The cluster exists only in the member account: DescribeCluster with the function's own
    // credentials would find nothing.
    moto.eks_cluster_in(MEMBER, "my-cluster");
    let kube = fake_cluster().await;
    let file = forwarded_from_member("eks-member.json");

    let out = remediator(
        &moto,
        &kube,
        &["apply", "--event", file.to_str().expect("utf-8"), "--json"],
        &[("MEMBER_ROLE_NAME", "retirement-remediator-member")],
    );

    let report = report_of(&out);
    let o = &report.outcomes[0];
    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Acted, "restarted"),
        "{o:?}"
    );
    assert_eq!(
        kube.seen().iter().filter(|s| s.method == "PATCH").count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_central_mode_off_a_member_accounts_pod_notice_fails_saying_how_to_enable_it() {
    let moto = MotoServer::start();
    moto.eks_cluster_in(MEMBER, "my-cluster");
    let kube = fake_cluster().await;
    let file = forwarded_from_member("eks-member-off.json");

    let out = apply(&moto, &kube, &file);

    let report = report_of(&out);
    let o = &report.outcomes[0];
    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Failed, "other_account"),
        "{o:?}"
    );
    assert!(
        o.reason.contains("MEMBER_ROLE_NAME") && o.reason.contains(MEMBER),
        "{}",
        o.reason
    );
    assert!(kube.seen().is_empty(), "the cluster is not touched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_notice_of_an_excluded_account_is_skipped_with_the_reason() {
    let moto = MotoServer::start();
    moto.eks_cluster_in(MEMBER, "my-cluster");
    let kube = fake_cluster().await;
    let file = forwarded_from_member("eks-member-excluded.json");

    let out = remediator(
        &moto,
        &kube,
        &["apply", "--event", file.to_str().expect("utf-8"), "--json"],
        &[
            ("MEMBER_ROLE_NAME", "retirement-remediator-member"),
            ("ACCOUNTS_EXCLUDE", MEMBER),
        ],
    );

    let report = report_of(&out);
    let o = &report.outcomes[0];
    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Skipped, "account_excluded"),
        "{o:?}"
    );
    assert!(kube.seen().is_empty(), "the cluster is not touched");
}
