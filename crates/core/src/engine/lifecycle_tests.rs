//! Verdicts through ECS's deployment lifecycle, on hand-built observations.

use super::*;
use crate::names::Action;
use crate::ports::{DeploymentState, HookView, Lifecycle, Rollout};
use crate::target::{ServiceRef, Target};
use crate::testing::at;

const ARN: &str = "arn:aws:ecs:us-east-1:123456789012:service-deployment/prod/web/Ab12Cd34";

fn acted_at() -> DateTime<Utc> {
    at("2026-11-25T10:00:00Z")
}

/// Two ROLLOUT_TIMEOUTs after acting, with no change of `updatedAt` since.
fn now() -> DateTime<Utc> {
    acted_at() + Duration::minutes(61)
}

fn timeout() -> Duration {
    Duration::minutes(30)
}

/// AWS begins in three days and is done two days later.
fn window() -> Window {
    Window {
        start: Some(acted_at() + Duration::days(3)),
        end: Some(acted_at() + Duration::days(5)),
    }
}

fn forced() -> Followed {
    Followed {
        target: Target::Service(ServiceRef {
            cluster: "prod".into(),
            service: "web".into(),
        }),
        action: Some(Action::ForceNewDeployment),
        code: Some(Code::ForcedNewDeployment),
        before: Some("ecs-svc/111".into()),
        after: Some("ecs-svc/222".into()),
        acted_at: acted_at(),
        after_created_at: Some(acted_at()),
        service: None,
    }
}

/// A BLUE_GREEN service baking for an hour, our deployment unchanged since we acted.
fn baking_service() -> ServiceObservation {
    ServiceObservation {
        name: "web".into(),
        arn: None,
        status: "ACTIVE".into(),
        controller: crate::ports::Controller::Ecs,
        primary_deployment: None,
        blue_green: Default::default(),
        tags: Vec::new(),
        rollout: Rollout {
            desired_count: Some(2),
            ..Default::default()
        },
        deployments: vec![DeploymentState {
            id: "ecs-svc/222".into(),
            status: "PRIMARY".into(),
            rollout_state: Some("IN_PROGRESS".into()),
            running_count: 2,
            desired_count: 2,
            created_at: Some(acted_at()),
            updated_at: Some(acted_at()),
            ..Default::default()
        }],
        lifecycle: Lifecycle {
            strategy: Some("BLUE_GREEN".into()),
            bake: Duration::minutes(60),
            final_bake: Duration::minutes(60),
            hooks: 0,
            current_deployment: Some(ARN.into()),
        },
        express: false,
    }
}

fn view(status: &str, stage: &str) -> ServiceDeploymentView {
    ServiceDeploymentView {
        arn: ARN.into(),
        status: status.into(),
        lifecycle_stage: Some(stage.into()),
        created_at: Some(acted_at()),
        updated_at: Some(acted_at() + Duration::minutes(3)),
        ..Default::default()
    }
}

fn pause(status: &str, expires_in: Duration, action: &str) -> HookView {
    HookView {
        id: "ecs-pause-e7tK9G".into(),
        target_type: Some("PAUSE".into()),
        status: status.into(),
        expires_at: Some(now() + expires_in),
        timeout_action: Some(action.into()),
    }
}

fn judge(
    service: &ServiceObservation,
    seen: Result<Option<&ServiceDeploymentView>, String>,
) -> Verdict {
    let rolled = rolling(&forced(), Some(service), now(), timeout());
    through_lifecycle(rolled, &forced(), service, seen, now(), timeout(), window())
}

#[test]
fn the_same_unchanged_deployment_reads_as_stalled_without_the_lifecycle() {
    let rolled = rolling(&forced(), Some(&baking_service()), now(), timeout());

    assert!(
        matches!(rolled, Verdict::Failed(Code::RolloutStalled, _)),
        "{rolled:?}"
    );
}

#[test]
fn a_deployment_in_its_bake_time_is_pending_with_when_the_bake_ends() {
    let s = baking_service();
    let v = judge(&s, Ok(Some(&view("IN_PROGRESS", "BAKE_TIME"))));

    let Verdict::Pending(reason) = v else {
        panic!("expected pending, got {v:?}")
    };
    assert!(reason.contains("baking (60 min configured"), "{reason}");
    assert!(!reason.contains("at risk"), "{reason}");
}

#[test]
fn a_bake_that_ends_after_aws_window_is_pending_and_said_at_risk() {
    let s = ServiceObservation {
        lifecycle: Lifecycle {
            bake: Duration::days(3),
            final_bake: Duration::days(3),
            ..baking_service().lifecycle
        },
        ..baking_service()
    };
    let v = judge(&s, Ok(Some(&view("IN_PROGRESS", "BAKE_TIME"))));

    let Verdict::Pending(reason) = v else {
        panic!("expected pending, got {v:?}")
    };
    assert!(reason.contains("at risk: the bake lasts past"), "{reason}");
}

#[test]
fn a_pause_hook_awaiting_action_names_the_hook_its_expiry_and_the_commands() {
    let mut d = view("IN_PROGRESS", "POST_SCALE_UP");
    d.hooks = vec![pause("AWAITING_ACTION", Duration::hours(20), "ROLLBACK")];

    let v = judge(&baking_service(), Ok(Some(&d)));

    let Verdict::Awaiting { hook, reason } = v else {
        panic!("expected awaiting, got {v:?}")
    };
    assert_eq!(hook, "ecs-pause-e7tK9G");
    assert!(
        reason.contains(
            "until 2026-11-26T07:01:00+00:00 (then ECS takes its timeout action, ROLLBACK)"
        ),
        "{reason}"
    );
    assert!(
        reason.contains(&format!(
            "aws ecs continue-service-deployment --service-deployment-arn {ARN} --hook-id ecs-pause-e7tK9G --action CONTINUE"
        )),
        "{reason}"
    );
    assert!(!reason.contains("at risk"), "{reason}");
}

#[test]
fn a_hook_that_may_wait_past_aws_window_is_said_at_risk() {
    let mut d = view("IN_PROGRESS", "POST_SCALE_UP");
    d.hooks = vec![pause("AWAITING_ACTION", Duration::days(13), "CONTINUE")];

    let Verdict::Awaiting { reason, .. } = judge(&baking_service(), Ok(Some(&d))) else {
        panic!("expected awaiting")
    };

    assert!(reason.contains("at risk"), "{reason}");
}

#[test]
fn a_hook_that_timed_out_with_rollback_is_a_failed_rollout() {
    let mut d = view("ROLLBACK_IN_PROGRESS", "POST_SCALE_UP");
    d.hooks = vec![pause("TIMED_OUT", -Duration::minutes(1), "ROLLBACK")];

    let v = judge(&baking_service(), Ok(Some(&d)));

    let Verdict::Failed(code, reason) = v else {
        panic!("expected failed, got {v:?}")
    };
    assert_eq!(code, Code::RolloutFailed);
    assert!(
        reason.contains("lifecycle hook ecs-pause-e7tK9G timed_out"),
        "{reason}"
    );
}

#[test]
fn a_service_deployment_that_cannot_be_read_leaves_the_verdict_pending_never_final() {
    let v = judge(
        &baking_service(),
        Err("DescribeServiceDeployments failed (Transient): 500".into()),
    );

    let Verdict::Pending(reason) = v else {
        panic!("expected pending, got {v:?}")
    };
    assert!(reason.contains("not judged stalled"), "{reason}");
}

#[test]
fn a_service_deployment_unchanged_for_the_timeout_plus_its_bake_has_stalled() {
    let mut d = view("IN_PROGRESS", "SCALE_UP");
    d.updated_at = Some(now() - Duration::minutes(91));

    let v = judge(&baking_service(), Ok(Some(&d)));

    assert!(
        matches!(v, Verdict::Failed(Code::RolloutStalled, _)),
        "{v:?}"
    );
}

#[test]
fn a_service_deployment_older_than_ours_says_nothing_of_ours() {
    let mut d = view("IN_PROGRESS", "BAKE_TIME");
    d.created_at = Some(acted_at() - Duration::days(1));

    let Verdict::Pending(reason) = judge(&baking_service(), Ok(Some(&d))) else {
        panic!("expected pending")
    };
    assert!(reason.contains("predates ours"), "{reason}");
}
