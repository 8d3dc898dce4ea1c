use chrono::{TimeZone, Weekday};

use super::*;
use crate::outcome::Status;
use crate::target::{ServiceRef, TaskRef};

fn now() -> DateTime<Utc> {
    // A Wednesday; the rules take the clock as given.
    Utc.with_ymd_and_hms(2030, 1, 2, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

fn service(name: &str, desired: i32, min: i32, max: i32) -> ServiceSeen {
    ServiceSeen {
        cluster: "prod".into(),
        name: name.into(),
        rollout: Rollout {
            daemon: false,
            desired_count: Some(desired),
            minimum_healthy_percent: Some(min),
            maximum_percent: Some(max),
        },
        controller: Controller::Ecs,
        circuit_breaker: Some(true),
        fargate: true,
    }
}

fn scope() -> EcsScope {
    EcsScope {
        account: "111122223333".into(),
        region: "us-east-1".into(),
        ..EcsScope::default()
    }
}

fn planned(target: Target, code: Code, reason: &str) -> Outcome {
    Outcome::new(target, Status::Planned, code, reason.to_owned())
}

fn svc(name: &str) -> Target {
    Target::Service(ServiceRef {
        cluster: "prod".into(),
        service: name.into(),
    })
}

fn risks(findings: &[Finding]) -> Vec<(Risk, String)> {
    findings
        .iter()
        .map(|f| (f.risk, f.resource.clone()))
        .collect()
}

#[test]
fn a_single_task_that_may_stop_before_its_replacement_is_an_outage_and_one_kept_running_is_not() {
    let mut s = scope();
    s.services = vec![
        service("lonely", 1, 0, 200),
        service("kept", 1, 100, 200),
        service("half", 2, 50, 200),
    ];
    let (findings, _) = assess(&s, &[], &Rules::default(), now());
    assert_eq!(
        risks(&findings),
        vec![(Risk::OutageAtRetirement, "service prod/lonely".to_owned())]
    );
    assert!(
        findings[0].fix.contains("minimumHealthyPercent=100"),
        "{}",
        findings[0].fix
    );
}

#[test]
fn a_service_without_a_circuit_breaker_is_flagged_low_and_one_with_it_or_unknown_is_not() {
    let mut s = scope();
    let mut off = service("off", 2, 100, 200);
    off.circuit_breaker = Some(false);
    let mut unknown = service("unknown", 2, 100, 200);
    unknown.circuit_breaker = None;
    s.services = vec![off, unknown, service("on", 2, 100, 200)];
    let (findings, _) = assess(&s, &[], &Rules::default(), now());
    assert_eq!(
        risks(&findings),
        vec![(Risk::NoCircuitBreaker, "service prod/off".to_owned())]
    );
    assert_eq!(findings[0].severity, super::super::Severity::Low);
}

#[test]
fn the_planners_no_room_external_and_relaunch_answers_become_findings_and_a_forced_deployment_does_not(
) {
    let task = Target::Task(TaskRef {
        cluster: Some("prod".into()),
        task_id: "abc".into(),
        arn: "arn:aws:ecs:us-east-1:111122223333:task/prod/abc".into(),
    });
    let outcomes = vec![
        planned(svc("tight"), Code::NoRoomToReplace, "no room"),
        planned(svc("ext"), Code::ExternalController, "external"),
        planned(
            svc("fine"),
            Code::WouldForceNewDeployment,
            "dry run: would force",
        ),
        planned(task, Code::WouldRelaunch, "dry run: would relaunch"),
    ];
    let (findings, resources) = assess(&scope(), &outcomes, &Rules::default(), now());
    assert_eq!(
        risks(&findings),
        vec![
            (Risk::NoRoomToReplace, "service prod/tight".to_owned()),
            (Risk::ExternalController, "service prod/ext".to_owned()),
            (Risk::UnownedStandaloneTask, "task prod/abc".to_owned()),
        ]
    );
    assert_eq!(resources.len(), 4, "every planned resource is in the table");
    assert_eq!(resources[2].code, Code::WouldForceNewDeployment);
}

#[test]
fn a_codedeploy_redeploy_that_would_drop_its_hooks_is_flagged_and_one_that_keeps_them_is_not() {
    let outcomes = vec![
        planned(svc("lost"), Code::WouldCreateCodedeployDeployment, "dry run: would create; deployment d-1's AppSpec could not be read: no hooks carried over"),
        planned(svc("kept"), Code::WouldCreateCodedeployDeployment, "dry run: would create; 2 lifecycle hook(s) kept from deployment d-2"),
    ];
    let (findings, _) = assess(&scope(), &outcomes, &Rules::default(), now());
    assert_eq!(
        risks(&findings),
        vec![(Risk::AppspecUnreadable, "service prod/lost".to_owned())]
    );
}

#[test]
fn a_task_the_planner_would_relaunch_whose_role_is_not_passable_is_flagged_and_an_owned_one_is_not()
{
    let mut s = scope();
    let task = |id: &str, role: &str| TaskSeen {
        cluster: "prod".into(),
        id: id.into(),
        roles: vec![format!("arn:aws:iam::111122223333:role/{role}")],
        fargate: true,
    };
    s.tasks = vec![
        task("t1", "batch-job"),
        task("t2", "allowed"),
        task("t3", "ecs-tasks/worker"),
        task("t4", "step-functions-job"),
    ];
    let target = |id: &str| {
        Target::Task(TaskRef {
            cluster: Some("prod".into()),
            task_id: id.into(),
            arn: format!("arn:aws:ecs:us-east-1:111122223333:task/prod/{id}"),
        })
    };
    // t4 is its orchestrator's: never relaunched, its roles never passed.
    let mut planned: Vec<Outcome> = ["t1", "t2", "t3"]
        .iter()
        .map(|id| planned(target(id), Code::WouldRelaunch, "dry run"))
        .collect();
    planned.push(planned_skip(target("t4")));
    let rules = Rules {
        passable_roles: Some(vec!["allowed".into(), "ecs-tasks/*".into()]),
        ..Rules::default()
    };
    let (findings, _) = assess(&s, &planned, &rules, now());
    let roles: Vec<_> = risks(&findings)
        .into_iter()
        .filter(|(r, _)| *r == Risk::RoleNotPassable)
        .collect();
    assert_eq!(
        roles,
        vec![(Risk::RoleNotPassable, "task prod/t1".to_owned())]
    );
    let (unchecked, _) = assess(&s, &planned, &Rules::default(), now());
    assert!(
        unchecked.iter().all(|f| f.risk != Risk::RoleNotPassable),
        "without PASSABLE_TASK_ROLES nothing is guessed"
    );
}

#[test]
fn the_policy_simulator_s_answer_overrides_the_patterns_and_its_absence_is_said() {
    let mut s = scope();
    let role = |name: &str| format!("arn:aws:iam::111122223333:role/{name}");
    let task = |id: &str, name: &str| TaskSeen {
        cluster: "prod".into(),
        id: id.into(),
        roles: vec![role(name)],
        fargate: true,
    };
    // t1's role matches the patterns but a boundary denies it; t2's matches no pattern but the
    // function's policies allow it.
    s.tasks = vec![task("t1", "ecs-tasks/bounded"), task("t2", "legacy-job")];
    let target = |id: &str| {
        Target::Task(TaskRef {
            cluster: Some("prod".into()),
            task_id: id.into(),
            arn: format!("arn:aws:ecs:us-east-1:111122223333:task/prod/{id}"),
        })
    };
    let planned: Vec<Outcome> = ["t1", "t2"]
        .iter()
        .map(|id| planned(target(id), Code::WouldRelaunch, "dry run"))
        .collect();
    let rules = Rules {
        passable_roles: Some(vec!["ecs-tasks/*".into()]),
        ..Rules::default()
    };
    let principal = role("remediator-ecs");
    s.pass_simulation = PassSimulation::Answered {
        principal: principal.clone(),
        refused: [(role("ecs-tasks/bounded"), "explicitDeny".to_owned())].into(),
    };
    let (findings, _) = assess(&s, &planned, &rules, now());
    let refused = not_passable(&findings);
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert_eq!(refused[0].resource, "task prod/t1");
    assert!(refused[0].why.contains(&principal) && refused[0].why.contains("explicitDeny"));

    s.pass_simulation = PassSimulation::Unavailable("AccessDenied".into());
    let (findings, _) = assess(&s, &planned, &rules, now());
    let refused = not_passable(&findings);
    assert_eq!(refused.len(), 1, "the patterns decide: {refused:#?}");
    assert_eq!(refused[0].resource, "task prod/t2");
    assert!(
        refused[0].why.contains("could not be asked: AccessDenied"),
        "{}",
        refused[0].why
    );
}

fn not_passable(findings: &[Finding]) -> Vec<&Finding> {
    findings
        .iter()
        .filter(|f| f.risk == Risk::RoleNotPassable)
        .collect()
}

fn planned_skip(target: Target) -> Outcome {
    Outcome::new(
        target,
        Status::Skipped,
        Code::OwnedByOrchestrator,
        "Step Functions".to_owned(),
    )
}

#[test]
fn a_resource_the_planner_could_not_judge_is_reported_unreadable_not_counted_as_fine() {
    let refused = Outcome::failed(
        svc("web"),
        Code::ApiError,
        "DescribeServices: AccessDenied",
        false,
    );
    let (findings, _) = assess(&scope(), &[refused], &Rules::default(), now());
    assert_eq!(
        risks(&findings),
        vec![(Risk::MemberUnreadable, "service prod/web".to_owned())]
    );
    assert!(
        findings[0].why.contains("AccessDenied"),
        "{}",
        findings[0].why
    );
}

#[test]
fn a_cluster_with_one_active_instance_and_no_managed_scaling_is_flagged_and_one_with_scaling_is_not(
) {
    let mut s = scope();
    let cluster = |name: &str, n, scaling| ClusterSeen {
        name: name.into(),
        active_instances: n,
        managed_scaling: Some(scaling),
    };
    s.clusters = vec![
        cluster("alone", 1, false),
        cluster("scaled", 1, true),
        cluster("pair", 2, false),
    ];
    let (findings, _) = assess(&s, &[], &Rules::default(), now());
    assert_eq!(
        risks(&findings),
        vec![(Risk::SingleInstanceCluster, "cluster alone".to_owned())]
    );
}

#[test]
fn a_wait_period_of_zero_is_high_and_seven_days_is_nothing() {
    let mut s = scope();
    s.settings = vec![("fargateTaskRetirementWaitPeriod".into(), "0".into())];
    let (findings, _) = assess(&s, &[], &Rules::default(), now());
    assert_eq!(
        risks(&findings),
        vec![(Risk::RetirementWaitZero, "account settings".to_owned())]
    );
    s.settings = vec![("fargateTaskRetirementWaitPeriod".into(), "7".into())];
    assert!(assess(&s, &[], &Rules::default(), now()).0.is_empty());
}

fn window(
    name: &str,
    ranges: &[(Weekday, u32, Weekday, u32)],
    tags: &[(&str, &str)],
) -> EventWindow {
    EventWindow {
        name: name.into(),
        windows: Windows::ec2_time_ranges(ranges, name),
        tags: tags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

#[test]
fn with_event_windows_a_fargate_service_in_none_and_a_short_window_are_flagged_and_a_covered_one_is_not(
) {
    let mut s = scope();
    s.settings = vec![("fargateEventWindows".into(), "enabled".into())];
    s.services = vec![
        service("covered", 2, 100, 200),
        service("orphan", 2, 100, 200),
    ];
    s.services[1].cluster = "other".into();
    s.event_windows = EventWindowsSeen::Read(vec![
        window(
            "prod-nights",
            &[(Weekday::Sat, 0, Weekday::Sat, 6)],
            &[(
                "aws:ecs:clusterArn",
                "arn:aws:ecs:us-east-1:111122223333:cluster/prod",
            )],
        ),
        window(
            "tiny",
            &[(Weekday::Sun, 1, Weekday::Sun, 2)],
            &[(
                "aws:ecs:clusterArn",
                "arn:aws:ecs:us-east-1:111122223333:cluster/none",
            )],
        ),
    ]);
    let (findings, _) = assess(&s, &[], &Rules::default(), now());
    assert_eq!(
        risks(&findings),
        vec![
            (Risk::EventWindowTooShort, "event window tiny".to_owned()),
            (
                Risk::TasksOutsideEventWindows,
                "service other/orphan".to_owned()
            ),
        ]
    );
}

#[test]
fn near_the_regions_limit_of_event_windows_is_flagged() {
    let mut s = scope();
    s.settings = vec![("fargateEventWindows".into(), "enabled".into())];
    let all = window(
        "all",
        &[(Weekday::Sat, 0, Weekday::Sat, 6)],
        &[("aws:ecs:fargateTask", "true")],
    );
    s.event_windows = EventWindowsSeen::Read(vec![all; EVENT_WINDOWS_NEAR_LIMIT]);
    let (findings, _) = assess(&s, &[], &Rules::default(), now());
    assert_eq!(
        risks(&findings),
        vec![(Risk::EventWindowsNearLimit, "event windows".to_owned())]
    );
    s.event_windows = EventWindowsSeen::Read(vec![window(
        "all",
        &[(Weekday::Sat, 0, Weekday::Sat, 6)],
        &[("aws:ecs:fargateTask", "true")],
    )]);
    assert!(assess(&s, &[], &Rules::default(), now()).0.is_empty());
}

#[test]
fn maintenance_windows_that_never_open_before_a_typical_deadline_are_flagged_and_weekly_ones_are_not(
) {
    let s = scope();
    let rules = |w: &str| Rules {
        maintenance: w.parse().unwrap_or_default(),
        margin: Duration::days(6),
        ..Rules::default()
    };
    // 7 days to AWS's start minus a 6-day margin leaves one day: a Saturday window (now is a
    // Wednesday) never opens in it; a daily one does.
    let (findings, _) = assess(&s, &[], &rules("Sat 02:00-05:00 UTC"), now());
    assert_eq!(
        risks(&findings),
        vec![(
            Risk::MaintenanceWindowMissesDeadline,
            "maintenance windows".to_owned()
        )]
    );
    assert!(assess(&s, &[], &rules("Daily 02:00-05:00 UTC"), now())
        .0
        .is_empty());
}

#[test]
fn cluster_patterns_read_the_clusters_the_template_grants_and_no_other() {
    let rules = Rules {
        clusters: vec!["prod-*".into(), "jobs".into()],
        ..Rules::default()
    };
    assert!(reads_cluster(&rules, "prod-eu"));
    assert!(reads_cluster(&rules, "jobs"));
    assert!(!reads_cluster(&rules, "staging"));
    assert!(
        reads_cluster(&Rules::default(), "anything"),
        "no patterns: every cluster"
    );
}
