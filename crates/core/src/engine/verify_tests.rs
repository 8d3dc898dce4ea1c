//! Follow-up verdicts on hand-built observations: no ports, no runtime.

use super::*;
use crate::ports::{
    BlueGreenSpec, Controller, DeploymentGroupRef, DeploymentState, Rollout, ServiceObservation,
};
use crate::target::{ServiceRef, TaskRef};
use crate::testing::at;

/// Ours: the deployment the remediator forced.
const OURS: &str = "ecs-svc/222";
/// What ran before it.
const OLD: &str = "ecs-svc/111";

fn acted_at() -> DateTime<Utc> {
    at("2026-11-25T10:00:00Z")
}

fn now() -> DateTime<Utc> {
    at("2026-11-25T10:20:00Z")
}

fn timeout() -> Duration {
    Duration::minutes(30)
}

fn forced() -> Followed {
    Followed {
        target: Target::Service(ServiceRef {
            cluster: "prod".into(),
            service: "web".into(),
        }),
        action: Some(Action::ForceNewDeployment),
        code: Some(Code::ForcedNewDeployment),
        before: Some(OLD.into()),
        after: Some(OURS.into()),
        acted_at: acted_at(),
        after_created_at: None,
        service: None,
    }
}

fn deployment(id: &str, status: &str, rollout_state: &str, running: i32) -> DeploymentState {
    DeploymentState {
        id: id.into(),
        status: status.into(),
        rollout_state: Some(rollout_state.into()),
        rollout_state_reason: None,
        running_count: running,
        desired_count: 2,
        failed_tasks: 0,
        created_at: Some(acted_at()),
        updated_at: Some(now() - Duration::minutes(2)),
    }
}

fn service(deployments: Vec<DeploymentState>) -> ServiceObservation {
    ServiceObservation {
        name: "web".into(),
        arn: Some("arn:aws:ecs:us-east-1:123456789012:service/prod/web".into()),
        status: "ACTIVE".into(),
        controller: Controller::Ecs,
        primary_deployment: None,
        blue_green: BlueGreenSpec::default(),
        tags: Vec::new(),
        rollout: Rollout {
            daemon: false,
            desired_count: Some(2),
            minimum_healthy_percent: Some(100),
            maximum_percent: Some(200),
        },
        deployments,
        lifecycle: Default::default(),
        express: false,
    }
}

fn rolled(service: &ServiceObservation) -> Verdict {
    rolling(&forced(), Some(service), now(), timeout())
}

fn verified(v: Verdict) -> String {
    match v {
        Verdict::Verified(reason) => reason,
        other => panic!("expected verified, got {other:?}"),
    }
}

fn pending(v: Verdict) -> String {
    match v {
        Verdict::Pending(reason) => reason,
        other => panic!("expected pending, got {other:?}"),
    }
}

fn failed(v: Verdict) -> (Code, String) {
    match v {
        Verdict::Failed(code, reason) => (code, reason),
        other => panic!("expected failed, got {other:?}"),
    }
}

// rolling

#[test]
fn our_deployment_completed_alone_is_verified() {
    let s = service(vec![deployment(OURS, "PRIMARY", "COMPLETED", 2)]);

    let reason = verified(rolled(&s));

    assert_eq!(
        reason,
        "deployment ecs-svc/222 completed: 2/2 tasks running, no task of an older deployment left"
    );
}

#[test]
fn our_deployment_completed_while_an_older_one_still_runs_tasks_is_pending_naming_it() {
    let s = service(vec![
        deployment(OURS, "PRIMARY", "COMPLETED", 2),
        deployment(OLD, "ACTIVE", "COMPLETED", 1),
    ]);

    let reason = pending(rolled(&s));

    assert!(reason.contains("ecs-svc/111 (1 running)"), "{reason}");
}

#[test]
fn an_older_deployment_with_no_task_left_does_not_hold_verification() {
    let s = service(vec![
        deployment(OURS, "PRIMARY", "COMPLETED", 2),
        deployment(OLD, "ACTIVE", "COMPLETED", 0),
    ]);

    verified(rolled(&s));
}

#[test]
fn our_deployment_failed_and_rolled_back_fails_naming_the_rollback_target() {
    let mut ours = deployment(OURS, "ACTIVE", "FAILED", 0);
    ours.rollout_state_reason =
        Some("ECS deployment circuit breaker: tasks failed to start".into());
    ours.failed_tasks = 3;
    let s = service(vec![
        deployment("ecs-svc/333", "PRIMARY", "IN_PROGRESS", 1),
        ours,
    ]);

    let (code, reason) = failed(rolled(&s));

    assert_eq!(code, Code::RolloutFailed);
    assert!(
        reason.contains("the circuit breaker rolled back to ecs-svc/333"),
        "{reason}"
    );
    assert!(
        reason.contains("ECS deployment circuit breaker: tasks failed to start"),
        "{reason}"
    );
    assert!(reason.contains("3 task(s) failed to start"), "{reason}");
}

#[test]
fn our_deployment_failed_while_still_primary_names_no_rollback() {
    let s = service(vec![deployment(OURS, "PRIMARY", "FAILED", 0)]);

    let (code, reason) = failed(rolled(&s));

    assert_eq!(code, Code::RolloutFailed);
    assert!(!reason.contains("rolled back"), "{reason}");
    assert!(reason.contains("no reason given"), "{reason}");
}

#[test]
fn our_deployment_in_progress_without_change_for_the_timeout_has_stalled() {
    let mut ours = deployment(OURS, "PRIMARY", "IN_PROGRESS", 1);
    ours.updated_at = Some(now() - Duration::hours(2));
    let s = service(vec![ours, deployment(OLD, "ACTIVE", "COMPLETED", 1)]);

    let (code, reason) = failed(rolled(&s));

    assert_eq!(code, Code::RolloutStalled);
    assert!(
        reason.contains("no progress since 2026-11-25T08:20:00+00:00"),
        "{reason}"
    );
}

#[test]
fn a_stall_is_declared_exactly_at_the_timeout() {
    let mut ours = deployment(OURS, "PRIMARY", "IN_PROGRESS", 1);
    ours.updated_at = Some(now() - timeout());
    let s = service(vec![ours]);

    assert_eq!(failed(rolled(&s)).0, Code::RolloutStalled);
}

#[test]
fn without_an_update_time_a_stall_counts_from_when_we_acted() {
    let mut ours = deployment(OURS, "PRIMARY", "IN_PROGRESS", 1);
    ours.updated_at = None;
    let s = service(vec![ours]);

    // Acted 20 minutes ago: within the timeout, then past it.
    pending(rolling(&forced(), Some(&s), now(), timeout()));
    let late = acted_at() + timeout() + Duration::seconds(1);
    assert_eq!(
        failed(rolling(&forced(), Some(&s), late, timeout())).0,
        Code::RolloutStalled
    );
}

#[test]
fn our_deployment_in_progress_recently_is_pending_with_its_counts() {
    let s = service(vec![
        deployment(OURS, "PRIMARY", "IN_PROGRESS", 1),
        deployment(OLD, "ACTIVE", "COMPLETED", 2),
    ]);

    let reason = pending(rolled(&s));

    assert!(reason.starts_with("deployment ecs-svc/222 "), "{reason}");
    assert!(reason.contains("1/2 running"), "{reason}");
    assert!(
        reason.contains("older: ecs-svc/111 (2 running)"),
        "{reason}"
    );
}

#[test]
fn our_deployment_gone_and_a_newer_one_completed_alone_is_verified_through_it() {
    let s = service(vec![deployment("ecs-svc/333", "PRIMARY", "COMPLETED", 2)]);

    let reason = verified(rolled(&s));

    assert!(
        reason.starts_with("deployment ecs-svc/333 (after ours, ecs-svc/222) completed"),
        "{reason}"
    );
}

#[test]
fn our_deployment_superseded_by_a_newer_primary_is_judged_by_the_newer_one() {
    let s = service(vec![
        deployment("ecs-svc/333", "PRIMARY", "IN_PROGRESS", 1),
        deployment(OURS, "ACTIVE", "COMPLETED", 1),
    ]);

    let reason = pending(rolled(&s));

    assert!(reason.contains("ecs-svc/333 (after ours"), "{reason}");
    assert!(reason.contains("ecs-svc/222 (1 running)"), "{reason}");
}

#[test]
fn a_newer_primary_that_failed_fails_the_check() {
    let s = service(vec![deployment("ecs-svc/333", "PRIMARY", "FAILED", 0)]);

    let (code, reason) = failed(rolled(&s));

    assert_eq!(code, Code::RolloutFailed);
    assert!(
        reason.starts_with("deployment ecs-svc/333 (after ours, ecs-svc/222) failed"),
        "{reason}"
    );
}

#[test]
fn no_primary_and_ours_missing_is_pending_until_ecs_lists_one() {
    let reason = pending(rolled(&service(Vec::new())));

    assert!(reason.contains("no PRIMARY deployment"), "{reason}");
}

#[test]
fn a_service_ecs_no_longer_knows_is_verified() {
    verified(rolling(&forced(), None, now(), timeout()));
}

#[test]
fn a_draining_service_is_verified() {
    let s = ServiceObservation {
        status: "DRAINING".into(),
        ..service(vec![deployment(OURS, "PRIMARY", "IN_PROGRESS", 1)])
    };

    let reason = verified(rolled(&s));

    assert!(reason.contains("DRAINING"), "{reason}");
}

#[test]
fn a_service_scaled_to_zero_is_verified() {
    let mut s = service(vec![deployment(OURS, "PRIMARY", "IN_PROGRESS", 0)]);
    s.rollout.desired_count = Some(0);

    let reason = verified(rolled(&s));

    assert!(reason.contains("desiredCount is 0"), "{reason}");
}

// codedeploy

fn redeployed() -> Followed {
    Followed {
        action: Some(Action::CodedeployRedeploy),
        code: Some(Code::CodedeployDeploymentCreated),
        before: None,
        after: Some("d-ABC123".into()),
        ..forced()
    }
}

fn code_deployment(status: &str, error: Option<&str>) -> CodeDeployment {
    CodeDeployment {
        id: "d-ABC123".into(),
        group: DeploymentGroupRef {
            application: "AppECS-prod-web".into(),
            group: "DgpECS-prod-web".into(),
        },
        status: status.into(),
        created_at: Some(acted_at()),
        appspec_content: None,
        revision_type: Some("AppSpecContent".into()),
        error: error.map(str::to_owned),
    }
}

#[test]
fn a_codedeploy_redeploy_is_recognized_by_its_action_or_its_deployment_id() {
    assert!(is_codedeploy(&redeployed()));
    assert!(is_codedeploy(&Followed {
        action: None,
        ..redeployed()
    }));
    assert!(!is_codedeploy(&forced()));
}

#[test]
fn a_succeeded_codedeploy_deployment_is_verified() {
    let reason = verified(codedeploy(
        &redeployed(),
        Some(&code_deployment("Succeeded", None)),
    ));

    assert_eq!(reason, "CodeDeploy deployment d-ABC123 succeeded");
}

#[test]
fn a_failed_codedeploy_deployment_fails_with_its_error() {
    let d = code_deployment(
        "Failed",
        Some("HEALTH_CONSTRAINTS: The overall deployment failed"),
    );

    let (code, reason) = failed(codedeploy(&redeployed(), Some(&d)));

    assert_eq!(code, Code::CodedeployFailed);
    assert!(
        reason.contains("d-ABC123 failed (HEALTH_CONSTRAINTS: The overall deployment failed)"),
        "{reason}"
    );
}

#[test]
fn a_stopped_codedeploy_deployment_fails() {
    let d = code_deployment("Stopped", None);

    let (code, reason) = failed(codedeploy(&redeployed(), Some(&d)));

    assert_eq!(code, Code::CodedeployFailed);
    assert!(
        reason.contains("stopped (no error information)"),
        "{reason}"
    );
}

#[test]
fn a_codedeploy_deployment_still_running_is_pending() {
    for status in ["Created", "Queued", "InProgress", "Baking", "Ready"] {
        let reason = pending(codedeploy(
            &redeployed(),
            Some(&code_deployment(status, None)),
        ));

        assert_eq!(
            reason,
            format!("CodeDeploy deployment d-ABC123 is {status}")
        );
    }
}

#[test]
fn a_codedeploy_deployment_no_longer_known_fails() {
    let (code, reason) = failed(codedeploy(&redeployed(), None));

    assert_eq!(code, Code::CodedeployFailed);
    assert!(
        reason.contains("no longer knows deployment d-ABC123"),
        "{reason}"
    );
}

// task

fn relaunched() -> Followed {
    Followed {
        target: Target::Task(TaskRef {
            cluster: Some("prod".into()),
            task_id: "0a1b2c".into(),
            arn: "arn:aws:ecs:us-east-1:123456789012:task/prod/0a1b2c".into(),
        }),
        action: Some(Action::RelaunchTask),
        code: Some(Code::Relaunched),
        before: Some("0a1b2c".into()),
        after: Some("9f8e7d".into()),
        acted_at: acted_at(),
        after_created_at: None,
        service: None,
    }
}

fn observed(id: &str, last_status: &str) -> TaskObservation<()> {
    TaskObservation {
        arn: format!("arn:aws:ecs:us-east-1:123456789012:task/prod/{id}"),
        id: id.into(),
        cluster: "prod".into(),
        last_status: last_status.into(),
        desired_status: if last_status == "STOPPED" {
            "STOPPED".into()
        } else {
            "RUNNING".into()
        },
        group: Some("family:batch".into()),
        started_by: None,
        task_definition: "arn:aws:ecs:us-east-1:123456789012:task-definition/batch:7".into(),
        tags: Vec::new(),
        health_status: Some("UNKNOWN".into()),
        has_health_checks: false,
        stopped_reason: None,
        stop_code: None,
        essential_exit_codes: Vec::new(),
        launch: (),
    }
}

#[test]
fn a_running_replacement_without_health_checks_and_a_stopped_original_is_verified() {
    let reason = verified(task(
        &relaunched(),
        Some(&observed("9f8e7d", "RUNNING")),
        Some(&observed("0a1b2c", "STOPPED")),
    ));

    assert_eq!(
        reason,
        "replacement task 9f8e7d is RUNNING; the original is stopped"
    );
}

#[test]
fn a_running_replacement_whose_original_is_no_longer_found_is_verified() {
    verified(task(
        &relaunched(),
        Some(&observed("9f8e7d", "RUNNING")),
        None,
    ));
}

#[test]
fn a_replacement_with_health_checks_not_yet_healthy_is_pending() {
    let replacement = TaskObservation {
        has_health_checks: true,
        ..observed("9f8e7d", "RUNNING")
    };

    let reason = pending(task(
        &relaunched(),
        Some(&replacement),
        Some(&observed("0a1b2c", "STOPPED")),
    ));

    assert!(reason.contains("health UNKNOWN"), "{reason}");
}

#[test]
fn a_healthy_replacement_with_health_checks_is_verified_as_healthy() {
    let replacement = TaskObservation {
        has_health_checks: true,
        health_status: Some("HEALTHY".into()),
        ..observed("9f8e7d", "RUNNING")
    };

    let reason = verified(task(
        &relaunched(),
        Some(&replacement),
        Some(&observed("0a1b2c", "STOPPED")),
    ));

    assert!(reason.contains("RUNNING and HEALTHY"), "{reason}");
}

#[test]
fn a_replacement_still_starting_is_pending() {
    let reason = pending(task(
        &relaunched(),
        Some(&observed("9f8e7d", "PROVISIONING")),
        Some(&observed("0a1b2c", "RUNNING")),
    ));

    assert!(reason.contains("is PROVISIONING"), "{reason}");
}

#[test]
fn a_stopped_replacement_fails_with_its_stopped_reason() {
    let replacement = TaskObservation {
        stopped_reason: Some("Essential container in task exited".into()),
        ..observed("9f8e7d", "STOPPED")
    };

    let (code, reason) = failed(task(
        &relaunched(),
        Some(&replacement),
        Some(&observed("0a1b2c", "STOPPED")),
    ));

    assert_eq!(code, Code::ReplacementFailed);
    // Since issue 25 the reason goes on with the stop code and exit codes ECS gave (none here).
    assert!(
        reason.contains("9f8e7d stopped (Essential container in task exited; stop code none"),
        "{reason}"
    );
}

/// A replacement ECS stopped with `stop_code` and these essential containers' exit codes.
fn ended(stop_code: &str, exit_codes: &[Option<i32>]) -> TaskObservation<()> {
    TaskObservation {
        stopped_reason: Some("Essential container in task exited".into()),
        stop_code: Some(stop_code.into()),
        essential_exit_codes: exit_codes.to_vec(),
        ..observed("9f8e7d", "STOPPED")
    }
}

/// The verdict on `replacement` beside an original that is `original`.
fn beside(replacement: &TaskObservation<()>, original: &str) -> Verdict {
    task(
        &relaunched(),
        Some(replacement),
        Some(&observed("0a1b2c", original)),
    )
}

/// Issue 25: a one-off job's replacement that ran to its end did the job (it used to fail).
#[test]
fn a_replacement_whose_essential_containers_all_exited_0_is_verified_as_a_finished_job() {
    let finished = ended("EssentialContainerExited", &[Some(0), Some(0)]);

    let reason = verified(beside(&finished, "STOPPED"));

    let says = "9f8e7d ran and exited 0 (a one-off job finished";
    assert!(reason.contains(says), "{reason}");
    assert!(reason.ends_with("the original is stopped"), "{reason}");
}

#[test]
fn a_finished_replacement_while_the_original_is_still_stopping_is_pending() {
    let finished = ended("EssentialContainerExited", &[Some(0)]);

    let reason = pending(beside(&finished, "DEPROVISIONING"));

    assert!(
        reason.ends_with("the original is still DEPROVISIONING"),
        "{reason}"
    );
}

#[test]
fn a_replacement_with_any_essential_exit_code_but_0_fails_naming_the_codes() {
    let crashed = ended("EssentialContainerExited", &[Some(0), Some(1)]);

    let (code, reason) = failed(beside(&crashed, "STOPPED"));

    let says = "stop code EssentialContainerExited, essential exit code(s) 0, 1";
    assert_eq!(
        (code, reason.contains(says)),
        (Code::ReplacementFailed, true),
        "{reason}"
    );
}

#[test]
fn a_replacement_that_failed_to_start_or_reported_no_exit_code_fails() {
    for (stop_code, exit_codes) in [
        ("TaskFailedToStart", &[None][..]),
        ("TaskFailedToStart", &[Some(0)][..]),
        ("EssentialContainerExited", &[None][..]),
        ("EssentialContainerExited", &[Some(0), None][..]),
        ("EssentialContainerExited", &[][..]),
        ("UserInitiated", &[Some(0)][..]),
    ] {
        let verdict = task(&relaunched(), Some(&ended(stop_code, exit_codes)), None);
        assert!(
            matches!(verdict, Verdict::Failed(Code::ReplacementFailed, _)),
            "{stop_code} {exit_codes:?}: {verdict:?}"
        );
    }
}

#[test]
fn a_running_replacement_already_told_to_stop_fails() {
    let replacement = TaskObservation {
        desired_status: "STOPPED".into(),
        ..observed("9f8e7d", "RUNNING")
    };

    assert_eq!(
        failed(task(&relaunched(), Some(&replacement), None)).0,
        Code::ReplacementFailed
    );
}

#[test]
fn a_replacement_no_longer_found_fails() {
    let (code, reason) = failed(task::<()>(
        &relaunched(),
        None,
        Some(&observed("0a1b2c", "RUNNING")),
    ));

    assert_eq!(code, Code::ReplacementFailed);
    assert!(reason.contains("9f8e7d is gone"), "{reason}");
}

#[test]
fn a_running_replacement_while_the_original_still_runs_is_pending() {
    let reason = pending(task(
        &relaunched(),
        Some(&observed("9f8e7d", "RUNNING")),
        Some(&observed("0a1b2c", "RUNNING")),
    ));

    assert!(reason.contains("the original is still RUNNING"), "{reason}");
}

#[test]
fn a_deployment_older_than_the_notice_running_the_service_again_is_not_a_replacement() {
    // The one found replacing the tasks (no `before` recorded) failed and left ECS's list;
    // ECS went back to a deployment from before the notice.
    let found = Followed {
        before: None,
        code: Some(Code::AlreadyReplaced),
        ..forced()
    };
    let mut back = deployment("ecs-svc/100", "PRIMARY", "COMPLETED", 2);
    back.created_at = Some(at("2026-11-20T08:00:00Z"));
    let s = service(vec![back]);

    let (code, reason) = failed(rolling(&found, Some(&s), now(), timeout()));

    assert_eq!(code, Code::RolloutFailed);
    assert!(reason.contains("ecs-svc/100"), "{reason}");
}

#[test]
fn a_deployment_created_after_ours_by_someone_else_replaces_the_tasks_when_it_completes() {
    // The team deployed after us; ECS dropped ours from its list once theirs took over.
    let mut theirs = deployment("ecs-svc/444", "PRIMARY", "COMPLETED", 2);
    theirs.created_at = Some(acted_at() + Duration::minutes(7));
    let s = service(vec![theirs]);

    let reason = verified(rolled(&s));

    assert!(
        reason.contains("ecs-svc/444 (after ours, ecs-svc/222)"),
        "{reason}"
    );
}

#[test]
fn a_primary_created_before_ours_that_is_not_the_one_we_replaced_is_ecs_going_back() {
    let mut earlier = deployment("ecs-svc/100", "PRIMARY", "COMPLETED", 2);
    earlier.created_at = Some(acted_at() - Duration::hours(3));
    let s = service(vec![earlier]);

    let (code, reason) = failed(rolled(&s));

    assert_eq!(code, Code::RolloutFailed);
    assert!(
        reason.contains("went back to deployment ecs-svc/100"),
        "{reason}"
    );
}

#[test]
fn ours_created_at_as_recorded_decides_when_ecs_no_longer_lists_ours() {
    // Recorded: ECS created ours at 09:59:58; a deployment from 09:59:59 is a later one.
    let f = Followed {
        after_created_at: Some(acted_at() - Duration::seconds(2)),
        ..forced()
    };
    let mut later = deployment("ecs-svc/445", "PRIMARY", "COMPLETED", 2);
    later.created_at = Some(acted_at() - Duration::seconds(1));
    let s = service(vec![later]);

    verified(rolling(&f, Some(&s), now(), timeout()));
}

#[test]
fn a_later_deployment_that_fails_after_ours_completed_does_not_fail_ours() {
    // Ours replaced the tasks; then the team shipped a release the circuit breaker stopped.
    let mut theirs = deployment("ecs-svc/555", "PRIMARY", "FAILED", 0);
    theirs.created_at = Some(acted_at() + Duration::minutes(15));
    let s = service(vec![theirs, deployment(OURS, "ACTIVE", "COMPLETED", 2)]);

    let reason = verified(rolled(&s));

    assert!(
        reason.contains("deployment ecs-svc/222 completed"),
        "{reason}"
    );
    assert!(
        reason.contains("a later deployment, ecs-svc/555, is failed"),
        "{reason}"
    );
}
