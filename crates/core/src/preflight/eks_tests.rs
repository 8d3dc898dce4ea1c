//! The EKS readiness rules on hand-built readings: each flagged workload beside one that is not.

use super::*;

const ACCOUNT: &str = "111122223333";
const REGION: &str = "eu-west-1";

fn pod(name: &str, owner: PodOwner) -> FargatePod {
    FargatePod {
        namespace: "shop".into(),
        name: name.into(),
        owner,
    }
}

fn owned(kind: WorkloadKind, name: &str) -> PodOwner {
    PodOwner::Workload(kind, name.into())
}

fn deployment(name: &str, replicas: i32, paused: bool) -> Deployment {
    Deployment {
        namespace: "shop".into(),
        name: name.into(),
        replicas,
        ready_replicas: replicas,
        paused,
    }
}

fn stateful_set(name: &str, on_delete: bool, partition: i32) -> StatefulSet {
    StatefulSet {
        namespace: "shop".into(),
        name: name.into(),
        replicas: 3,
        ready_replicas: 3,
        on_delete,
        partition,
    }
}

fn budget(name: &str, selects: &[&str], allowed: i32) -> Budget {
    Budget {
        namespace: "shop".into(),
        name: name.into(),
        selects: selects.iter().map(|s| s.to_string()).collect(),
        disruptions_allowed: Some(allowed),
        min_available: None,
        max_unavailable: Some(Amount::Count(1)),
    }
}

fn cluster() -> Cluster {
    Cluster {
        name: "prod".into(),
        ..Cluster::default()
    }
}

fn run(c: &Cluster) -> (Vec<Finding>, Vec<Resource>) {
    assess(c, ACCOUNT, REGION)
}

/// `(resource, risk)` of each finding.
fn flagged(findings: &[Finding]) -> Vec<(String, Risk)> {
    findings
        .iter()
        .map(|f| (f.resource.clone(), f.risk))
        .collect()
}

fn row<'a>(resources: &'a [Resource], resource: &str) -> &'a Resource {
    resources
        .iter()
        .find(|r| r.resource == resource)
        .unwrap_or_else(|| panic!("no row for {resource} in {resources:?}"))
}

#[test]
fn a_budget_that_allows_no_disruption_of_a_healthy_deployment_is_flagged_and_one_that_allows_one_is_not(
) {
    let mut c = cluster();
    c.pods = vec![
        pod("web-1", owned(WorkloadKind::Deployment, "web")),
        pod("api-1", owned(WorkloadKind::Deployment, "api")),
    ];
    c.deployments = vec![deployment("web", 2, false), deployment("api", 2, false)];
    c.budgets = vec![budget("web", &["web-1"], 0), budget("api", &["api-1"], 1)];
    c.budgets[0].max_unavailable = None;

    let (findings, resources) = run(&c);

    assert_eq!(
        flagged(&findings),
        vec![(
            "deployment prod/shop/web".to_owned(),
            Risk::PdbAllowsNoDisruption
        )]
    );
    let f = &findings[0];
    assert!(
        f.why.contains("status.disruptionsAllowed 0 with 2 of 2"),
        "{}",
        f.why
    );
    assert!(f.fix.contains("kubectl patch pdb web -n shop"), "{}", f.fix);
    assert!(f.fix.contains("\"maxUnavailable\":1"), "{}", f.fix);
    assert!(
        f.fix
            .contains("kubectl scale deployment/web -n shop --replicas=3"),
        "{}",
        f.fix
    );
    assert_eq!((f.account.as_str(), f.region.as_str()), (ACCOUNT, REGION));
    // The budget does not stop a rolling restart: both would be restarted.
    assert_eq!(
        row(&resources, "deployment prod/shop/web").code,
        Code::WouldRestart
    );
    assert_eq!(
        row(&resources, "deployment prod/shop/api").code,
        Code::WouldRestart
    );
}

#[test]
fn a_budget_whose_spec_leaves_no_disruption_is_flagged_even_before_its_status_is_written() {
    let mut c = cluster();
    c.pods = vec![
        pod("a-1", owned(WorkloadKind::Deployment, "a")),
        pod("b-1", owned(WorkloadKind::Deployment, "b")),
        pod("c-1", owned(WorkloadKind::Deployment, "c")),
        pod("d-1", owned(WorkloadKind::Deployment, "d")),
    ];
    c.deployments = ["a", "b", "c", "d"]
        .iter()
        .map(|n| deployment(n, 3, false))
        .collect();
    let spec = |name: &str, min: Option<Amount>, max: Option<Amount>| Budget {
        disruptions_allowed: None,
        min_available: min,
        max_unavailable: max,
        ..budget(name, &[&format!("{name}-1")], 0)
    };
    c.budgets = vec![
        spec("a", Some(Amount::Count(3)), None),
        spec("b", None, Some(Amount::Percent(0))),
        // 2 of 3, and 10 % of 3 rounds up to 1: one disruption each.
        spec("c", Some(Amount::Count(2)), None),
        spec("d", None, Some(Amount::Percent(10))),
    ];

    let (findings, _) = run(&c);

    assert_eq!(
        flagged(&findings),
        vec![
            (
                "deployment prod/shop/a".to_owned(),
                Risk::PdbAllowsNoDisruption
            ),
            (
                "deployment prod/shop/b".to_owned(),
                Risk::PdbAllowsNoDisruption
            ),
        ]
    );
    assert!(
        findings[0]
            .why
            .contains("spec.minAvailable 3 of 3 replicas"),
        "{}",
        findings[0].why
    );
    assert!(
        findings[1].why.contains("spec.maxUnavailable 0%"),
        "{}",
        findings[1].why
    );
}

#[test]
fn a_budget_at_zero_because_the_workload_is_unhealthy_is_not_flagged() {
    let mut c = cluster();
    c.pods = vec![pod("web-1", owned(WorkloadKind::Deployment, "web"))];
    c.deployments = vec![Deployment {
        ready_replicas: 1,
        ..deployment("web", 2, false)
    }];
    c.budgets = vec![budget("web", &["web-1"], 0)];

    assert_eq!(flagged(&run(&c).0), vec![]);
}

#[test]
fn a_pod_that_two_budgets_select_is_flagged_and_one_with_a_single_budget_is_not() {
    let mut c = cluster();
    c.pods = vec![
        pod("web-1", owned(WorkloadKind::Deployment, "web")),
        pod("api-1", owned(WorkloadKind::Deployment, "api")),
    ];
    c.deployments = vec![deployment("web", 2, false), deployment("api", 2, false)];
    c.budgets = vec![
        budget("web", &["web-1"], 1),
        budget("everything", &["web-1"], 1),
        budget("api", &["api-1"], 1),
    ];

    let (findings, _) = run(&c);

    assert_eq!(
        flagged(&findings),
        vec![(
            "deployment prod/shop/web".to_owned(),
            Risk::PdbAllowsNoDisruption
        )]
    );
    assert!(
        findings[0].why.contains("web, everything"),
        "{}",
        findings[0].why
    );
}

#[test]
fn a_paused_deployment_is_flagged_and_blocked_and_a_running_one_would_be_restarted() {
    let mut c = cluster();
    c.pods = vec![
        pod("web-1", owned(WorkloadKind::Deployment, "web")),
        pod("api-1", owned(WorkloadKind::Deployment, "api")),
    ];
    c.deployments = vec![deployment("web", 2, true), deployment("api", 2, false)];

    let (findings, resources) = run(&c);

    assert_eq!(
        flagged(&findings),
        vec![(
            "deployment prod/shop/web".to_owned(),
            Risk::PausedDeployment
        )]
    );
    assert_eq!(
        findings[0].fix,
        "kubectl rollout resume deployment/web -n shop"
    );
    assert!(
        findings[0].why.contains("spec.paused"),
        "{}",
        findings[0].why
    );
    assert_eq!(
        row(&resources, "deployment prod/shop/web").code,
        Code::RolloutBlocked
    );
    let api = row(&resources, "deployment prod/shop/api");
    assert_eq!((api.code, api.action), (Code::WouldRestart, None));
    assert!(api.reason.contains("restartedAt"), "{}", api.reason);
}

#[test]
fn an_on_delete_stateful_set_is_flagged_and_a_rolling_one_is_not() {
    let mut c = cluster();
    c.pods = vec![
        pod("db-0", owned(WorkloadKind::StatefulSet, "db")),
        pod("cache-0", owned(WorkloadKind::StatefulSet, "cache")),
    ];
    c.stateful_sets = vec![stateful_set("db", true, 0), stateful_set("cache", false, 0)];

    let (findings, resources) = run(&c);

    assert_eq!(
        flagged(&findings),
        vec![(
            "statefulset prod/shop/db".to_owned(),
            Risk::OnDeleteStatefulSet
        )]
    );
    assert!(findings[0].why.contains("OnDelete"), "{}", findings[0].why);
    assert!(
        findings[0].fix.starts_with("kubectl patch statefulset db -n shop --type merge -p '{\"spec\":{\"updateStrategy\":{\"type\":\"RollingUpdate\"}}}'"),
        "{}",
        findings[0].fix
    );
    assert_eq!(
        row(&resources, "statefulset prod/shop/db").code,
        Code::RolloutBlocked
    );
    assert_eq!(
        row(&resources, "statefulset prod/shop/cache").code,
        Code::WouldRestart
    );
}

#[test]
fn a_partition_above_a_pods_ordinal_is_flagged_and_one_at_or_below_every_ordinal_is_not() {
    let mut c = cluster();
    c.pods = vec![
        pod("db-0", owned(WorkloadKind::StatefulSet, "db")),
        pod("db-1", owned(WorkloadKind::StatefulSet, "db")),
        pod("db-2", owned(WorkloadKind::StatefulSet, "db")),
        pod("cache-2", owned(WorkloadKind::StatefulSet, "cache")),
    ];
    c.stateful_sets = vec![
        stateful_set("db", false, 2),
        stateful_set("cache", false, 2),
    ];

    let (findings, resources) = run(&c);

    assert_eq!(
        flagged(&findings),
        vec![(
            "statefulset prod/shop/db".to_owned(),
            Risk::OnDeleteStatefulSet
        )]
    );
    assert!(
        findings[0]
            .why
            .contains("partition is 2 and pods db-0, db-1"),
        "{}",
        findings[0].why
    );
    assert!(
        findings[0].fix.contains("\"partition\":0"),
        "{}",
        findings[0].fix
    );
    assert_eq!(
        row(&resources, "statefulset prod/shop/cache").code,
        Code::WouldRestart
    );
}

#[test]
fn a_bare_pod_is_flagged_and_a_job_pod_is_not_but_neither_has_an_owner_to_restart() {
    let mut c = cluster();
    c.pods = vec![
        pod("debug", PodOwner::None),
        pod(
            "report-x7",
            PodOwner::Other {
                kind: "Job".into(),
                name: "report".into(),
            },
        ),
    ];

    let (findings, resources) = run(&c);

    assert_eq!(
        flagged(&findings),
        vec![("pod prod/shop/debug".to_owned(), Risk::BarePod)]
    );
    assert_eq!(findings[0].severity, crate::preflight::Severity::High);
    assert!(
        findings[0]
            .fix
            .contains("kubectl create deployment debug -n shop"),
        "{}",
        findings[0].fix
    );
    assert_eq!(
        row(&resources, "pod prod/shop/debug").code,
        Code::NoOwnerToRestart
    );
    let job = row(&resources, "pod prod/shop/report-x7");
    assert_eq!(job.code, Code::NoOwnerToRestart);
    assert!(job.reason.contains("Job report"), "{}", job.reason);
}

#[test]
fn several_pods_of_one_workload_make_one_row_and_a_rollout_would_be_restarted_through_restart_at() {
    let mut c = cluster();
    c.pods = vec![
        pod("web-1", owned(WorkloadKind::Deployment, "web")),
        pod("web-2", owned(WorkloadKind::Deployment, "web")),
        pod("canary-1", owned(WorkloadKind::Rollout, "canary")),
    ];
    c.deployments = vec![deployment("web", 2, false)];

    let (findings, resources) = run(&c);

    assert!(findings.is_empty(), "{findings:?}");
    assert_eq!(resources.len(), 2, "{resources:?}");
    assert!(row(&resources, "deployment prod/shop/web")
        .reason
        .contains("2 Fargate pod(s)"));
    let rollout = row(&resources, "rollout prod/shop/canary");
    assert_eq!(rollout.code, Code::WouldRestart);
    assert!(rollout.reason.contains("restartAt"), "{}", rollout.reason);
}

#[test]
fn a_workload_the_listing_did_not_return_is_reported_not_found_without_a_finding() {
    let mut c = cluster();
    c.pods = vec![pod("web-1", owned(WorkloadKind::Deployment, "web"))];

    let (findings, resources) = run(&c);

    assert!(findings.is_empty(), "{findings:?}");
    assert_eq!(
        row(&resources, "deployment prod/shop/web").code,
        Code::NotFound
    );
}
