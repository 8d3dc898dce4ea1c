//! The pure planner: observation + notice time → action or final outcome.

use chrono::{DateTime, Duration, TimeZone, Utc};
use remediator_core::plan::{plan_service, ServiceDecision};
use remediator_core::ports::{Controller, DeploymentInfo, Rollout, ServiceObservation};
use remediator_core::{ServiceRef, Status};

fn published() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap()
}

fn web() -> ServiceRef {
    ServiceRef {
        cluster: "prod".into(),
        service: "web".into(),
    }
}

/// A chainable observation builder: an ACTIVE rolling service with a PRIMARY deployment
/// created a day before the notice.
struct Observed(ServiceObservation);

impl Observed {
    fn service() -> Self {
        Observed(ServiceObservation {
            name: "web".into(),
            arn: Some("arn:aws:ecs:us-east-1:123456789012:service/prod/web".into()),
            status: "ACTIVE".into(),
            controller: Controller::Ecs,
            primary_deployment: Some(DeploymentInfo {
                id: "ecs-svc/1".into(),
                created_at: Some(published() - Duration::days(1)),
            }),
            blue_green: Default::default(),
            tags: vec![],
            rollout: Default::default(),
            deployments: Vec::new(),
            lifecycle: Default::default(),
            express: false,
        })
    }
    fn rollout(mut self, desired: i32, min: i32, max: i32) -> Self {
        self.0.rollout = Rollout {
            daemon: false,
            desired_count: Some(desired),
            minimum_healthy_percent: Some(min),
            maximum_percent: Some(max),
        };
        self
    }
    fn status(mut self, s: &str) -> Self {
        self.0.status = s.into();
        self
    }
    fn controller(mut self, c: Controller) -> Self {
        self.0.controller = c;
        self
    }
    fn primary_created(mut self, at: Option<DateTime<Utc>>) -> Self {
        if let Some(d) = self.0.primary_deployment.as_mut() {
            d.created_at = at;
        }
        self
    }
    fn no_primary(mut self) -> Self {
        self.0.primary_deployment = None;
        self
    }
}

fn decide(observed: &Observed) -> ServiceDecision {
    plan_service(&web(), Some(&observed.0), None, published())
}

fn final_outcome(decision: ServiceDecision) -> (Status, String, bool) {
    match decision {
        ServiceDecision::Final(o) => (o.status, o.code.to_string(), o.retryable),
        other => panic!("expected a final outcome, got {other:?}"),
    }
}

#[test]
fn a_rolling_service_deployed_before_the_notice_gets_a_forced_deployment() {
    assert_eq!(
        decide(&Observed::service()),
        ServiceDecision::ForceNewDeployment {
            previous_deployment: Some("ecs-svc/1".into())
        }
    );
}

#[test]
fn a_service_whose_primary_deployment_is_newer_than_the_notice_is_already_replaced() {
    let observed = Observed::service().primary_created(Some(published() + Duration::minutes(5)));
    match decide(&observed) {
        ServiceDecision::Final(o) => {
            assert_eq!(
                (o.status, o.code.as_str()),
                (Status::AlreadyDone, "already_replaced")
            );
            assert_eq!(o.deployment_after.as_deref(), Some("ecs-svc/1"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_deployment_created_at_the_very_instant_of_the_notice_is_not_trusted_to_be_patched() {
    let observed = Observed::service().primary_created(Some(published()));
    assert!(matches!(
        decide(&observed),
        ServiceDecision::ForceNewDeployment { .. }
    ));
}

#[test]
fn a_service_without_deployment_evidence_is_acted_on() {
    assert!(matches!(
        decide(&Observed::service().primary_created(None)),
        ServiceDecision::ForceNewDeployment { .. }
    ));
    assert_eq!(
        decide(&Observed::service().no_primary()),
        ServiceDecision::ForceNewDeployment {
            previous_deployment: None
        }
    );
}

#[test]
fn a_missing_service_is_not_found_with_the_describe_reason() {
    match plan_service(&web(), None, Some("MISSING"), published()) {
        ServiceDecision::Final(o) => {
            assert_eq!((o.status, o.code.as_str()), (Status::Skipped, "not_found"));
            assert!(o.reason.contains("MISSING"), "{}", o.reason);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn inactive_and_draining_services_are_not_found() {
    for status in ["INACTIVE", "DRAINING"] {
        let (s, code, _) = final_outcome(decide(&Observed::service().status(status)));
        assert_eq!(
            (s, code.as_str()),
            (Status::Skipped, "not_found"),
            "{status}"
        );
    }
}

#[test]
fn a_codedeploy_service_is_redeployed_through_codedeploy() {
    assert!(matches!(
        decide(&Observed::service().controller(Controller::CodeDeploy)),
        ServiceDecision::CodeDeployRedeploy { .. }
    ));
}

#[test]
fn an_external_service_is_left_to_its_controller_with_the_steps_to_take() {
    match decide(&Observed::service().controller(Controller::External)) {
        ServiceDecision::Final(o) => {
            assert_eq!(
                (o.status, o.code.as_str()),
                (Status::Skipped, "external_controller")
            );
            assert!(
                o.reason
                    .contains("CreateTaskSet → UpdateServicePrimaryTaskSet → DeleteTaskSet"),
                "{}",
                o.reason
            );
            assert!(
                o.reason.contains("service/prod/web"),
                "names the service: {}",
                o.reason
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_unknown_controller_is_a_final_failure_not_a_guess() {
    let (s, _, retryable) = final_outcome(decide(
        &Observed::service().controller(Controller::Unknown("FUTURE".into())),
    ));
    assert_eq!((s, retryable), (Status::Failed, false));
}

mod codedeploy_history {
    use super::*;
    use remediator_core::plan::{check_codedeploy, CodeDeployCheck};
    use remediator_core::ports::{CodeDeployment, DeploymentGroupRef};

    fn deployment(id: &str, status: &str, created: DateTime<Utc>) -> CodeDeployment {
        CodeDeployment {
            id: id.into(),
            group: DeploymentGroupRef {
                application: "shop-app".into(),
                group: "shop-dg".into(),
            },
            status: status.into(),
            created_at: Some(created),
            appspec_content: None,
            revision_type: Some("AppSpecContent".into()),
            error: None,
        }
    }

    fn outcome(check: CodeDeployCheck) -> (Status, String, bool) {
        match check {
            CodeDeployCheck::Final(o) => (o.status, o.code.to_string(), o.retryable),
            CodeDeployCheck::Proceed => panic!("expected a final outcome"),
        }
    }

    #[test]
    fn an_old_finished_release_and_nothing_in_progress_means_redeploy() {
        let previous = deployment("d-1", "Succeeded", published() - Duration::days(3));
        assert_eq!(
            check_codedeploy(&web(), Some(&previous), &[], published()),
            CodeDeployCheck::Proceed
        );
    }

    #[test]
    fn a_deployment_in_progress_since_after_the_notice_already_replaces_the_tasks() {
        let ours = deployment("d-2", "InProgress", published() + Duration::minutes(1));
        let (s, code, _) = outcome(check_codedeploy(&web(), None, &[ours], published()));
        assert_eq!(
            (s, code.as_str()),
            (Status::AlreadyDone, "already_replaced")
        );
    }

    #[test]
    fn a_release_in_progress_since_before_the_notice_blocks_and_is_retryable() {
        let theirs = deployment("d-3", "Baking", published() - Duration::hours(1));
        assert_eq!(
            outcome(check_codedeploy(&web(), None, &[theirs], published())),
            (Status::Failed, "deployment_in_progress".into(), true)
        );
    }

    #[test]
    fn a_primary_task_set_deployed_after_the_notice_is_already_replaced() {
        let previous = deployment("d-4", "Succeeded", published() + Duration::hours(2));
        let (s, code, _) = outcome(check_codedeploy(&web(), Some(&previous), &[], published()));
        assert_eq!(
            (s, code.as_str()),
            (Status::AlreadyDone, "already_replaced")
        );
    }
}

mod standalone_tasks {
    use super::*;
    use remediator_core::plan::{plan_task, TaskDecision};
    use remediator_core::ports::TaskObservation;
    use remediator_core::{Target, TaskRef};

    fn target() -> Target {
        Target::Task(TaskRef {
            cluster: Some("jobs".into()),
            task_id: "abc".into(),
            arn: "arn:aws:ecs:us-east-1:123456789012:task/jobs/abc".into(),
        })
    }

    fn task() -> TaskObservation<()> {
        TaskObservation {
            arn: "arn:aws:ecs:us-east-1:123456789012:task/jobs/abc".into(),
            id: "abc".into(),
            cluster: "jobs".into(),
            last_status: "RUNNING".into(),
            desired_status: "RUNNING".into(),
            group: Some("family:worker".into()),
            started_by: Some("ops".into()),
            task_definition: "arn:aws:ecs:us-east-1:123456789012:task-definition/worker:3".into(),
            tags: vec![],
            health_status: None,
            has_health_checks: false,
            stopped_reason: None,
            stop_code: None,
            essential_exit_codes: Vec::new(),
            launch: (),
        }
    }

    fn code_of(decision: TaskDecision) -> String {
        match decision {
            TaskDecision::Final(o) => o.code.to_string(),
            other => panic!("expected a final outcome, got {other:?}"),
        }
    }

    #[test]
    fn a_running_task_started_by_hand_is_relaunched() {
        assert_eq!(plan_task(&target(), Some(&task())), TaskDecision::Relaunch);
    }

    #[test]
    fn a_stopped_or_missing_task_is_gone() {
        let stopping = TaskObservation {
            desired_status: "STOPPED".into(),
            ..task()
        };
        assert_eq!(code_of(plan_task(&target(), Some(&stopping))), "gone");
        assert_eq!(code_of(plan_task::<()>(&target(), None)), "gone");
    }

    #[test]
    fn a_task_of_a_service_is_handed_to_its_service() {
        let t = TaskObservation {
            group: Some("service:api".into()),
            ..task()
        };
        assert_eq!(
            plan_task(&target(), Some(&t)),
            TaskDecision::AsService(ServiceRef {
                cluster: "jobs".into(),
                service: "api".into()
            })
        );
    }

    #[test]
    fn orchestrated_tasks_are_left_to_their_orchestrator() {
        let cases = [
            TaskObservation {
                started_by: Some("AWS Step Functions".into()),
                ..task()
            },
            TaskObservation {
                cluster: "AWSBatch-ce-1234".into(),
                ..task()
            },
            TaskObservation {
                tags: vec![("aws:batch:job-queue".into(), "q".into())],
                ..task()
            },
            TaskObservation {
                started_by: Some("events-rule/nightly-report".into()),
                ..task()
            },
        ];
        for t in cases {
            assert_eq!(
                code_of(plan_task(&target(), Some(&t))),
                "owned_by_orchestrator",
                "{t:?}"
            );
        }
    }

    #[test]
    fn ownership_is_not_guessed_from_signals_no_source_documents() {
        // No document shows EventBridge Scheduler setting `aws:scheduler:*` tags (or any
        // `startedBy`) on the tasks it starts: such a task is relaunched like any other; an
        // operator who wants it left alone tags it `retirement-remediator/skip=true`.
        let t = TaskObservation {
            tags: vec![(
                "aws:scheduler:schedule-arn".into(),
                "arn:aws:scheduler:us-east-1:123456789012:schedule/default/nightly".into(),
            )],
            ..task()
        };
        assert_eq!(plan_task(&target(), Some(&t)), TaskDecision::Relaunch);
    }

    #[test]
    fn the_replaces_marker_fits_only_below_fifty_user_tags() {
        use remediator_core::plan::{replaces_marker_fits, MAX_USER_TAGS, REPLACES_TAG};

        let tags = |user: usize, aws: usize| -> Vec<(String, String)> {
            (0..user)
                .map(|i| (format!("user-{i}"), "v".to_owned()))
                .chain((0..aws).map(|i| (format!("aws:ecs:k{i}"), "v".to_owned())))
                .collect()
        };
        assert_eq!(MAX_USER_TAGS, 50);
        assert!(replaces_marker_fits(&tags(0, 0)));
        assert!(replaces_marker_fits(&tags(49, 5)), "aws: tags do not count");
        assert!(!replaces_marker_fits(&tags(50, 0)));
        assert!(!replaces_marker_fits(&tags(51, 0)));
        let mut with_marker = tags(49, 0);
        with_marker.push((REPLACES_TAG.to_owned(), "abc".to_owned()));
        assert!(
            replaces_marker_fits(&with_marker),
            "a marker already there is replaced, not added"
        );
    }
}

mod operator_consent {
    use remediator_core::plan::consent;
    use remediator_core::{ServiceRef, Target};

    fn target() -> Target {
        Target::Service(ServiceRef {
            cluster: "prod".into(),
            service: "web".into(),
        })
    }

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn untagged_resources_are_remediated_by_default() {
        assert_eq!(consent(&target(), &[], &[], false), None);
    }

    #[test]
    fn a_skip_tag_on_the_resource_or_its_cluster_opts_out_even_in_opt_in_mode() {
        let skip = tags(&[("retirement-remediator/skip", "TRUE")]);
        let enabled = tags(&[("retirement-remediator/enabled", "true")]);
        assert_eq!(
            consent(&target(), &skip, &[], false).map(|o| o.code.to_string()),
            Some("opted_out".into())
        );
        assert_eq!(
            consent(&target(), &enabled, &skip, true).map(|o| o.code.to_string()),
            Some("opted_out".into())
        );
    }

    #[test]
    fn a_skip_tag_set_to_anything_but_true_does_not_opt_out() {
        assert_eq!(
            consent(
                &target(),
                &tags(&[("retirement-remediator/skip", "false")]),
                &[],
                false
            ),
            None
        );
    }

    #[test]
    fn opt_in_mode_needs_the_enabled_tag_on_the_resource_or_its_cluster() {
        let enabled = tags(&[("retirement-remediator/enabled", "true")]);
        assert_eq!(
            consent(&target(), &[], &[], true).map(|o| o.code.to_string()),
            Some("not_opted_in".into())
        );
        assert_eq!(consent(&target(), &enabled, &[], true), None);
        assert_eq!(consent(&target(), &[], &enabled, true), None);
    }
}

/// The scope check: which notices the clients of one account and Region can act on.
mod scope {
    use super::published;
    use remediator_core::plan::out_of_scope;
    use remediator_core::{RetirementNotice, Target};

    /// A notice received in `account`, about resources in `affected` (organization view), in
    /// `region`.
    fn notice(
        account: Option<&str>,
        affected: Option<&str>,
        region: Option<&str>,
    ) -> RetirementNotice {
        RetirementNotice {
            event_id: Some("e-1".into()),
            event_arn: "arn:aws:health:us-east-1::event/ECS/AWS_ECS_TASK_PATCHING_RETIREMENT/1"
                .into(),
            account: account.map(Into::into),
            affected_account: affected.map(Into::into),
            region: region.map(Into::into),
            published_at: published(),
            start_time: None,
            end_time: None,
            status: None,
            communication_id: None,
            targets: vec![Target::Service(super::web())],
            ec2: None,
        }
    }

    fn code_of(found: Option<(remediator_core::Code, String)>) -> Option<&'static str> {
        found.map(|(code, _)| code.as_str())
    }

    #[test]
    fn a_member_account_event_received_in_the_management_account_is_out_of_scope() {
        let n = notice(
            Some("111111111111"),
            Some("222222222222"),
            Some("us-east-1"),
        );
        let found = out_of_scope(&n, Some("111111111111"), Some("us-east-1"));
        let (code, reason) = found
            .clone()
            .unwrap_or_else(|| panic!("out of scope expected"));
        assert_eq!(code, "other_account");
        assert!(reason.contains("account 222222222222"), "{reason}");
        assert!(reason.contains("received in 111111111111"), "{reason}");
        // Whatever the clients' account, even unknown.
        assert_eq!(code_of(out_of_scope(&n, None, None)), Some("other_account"));
    }

    #[test]
    fn resources_of_another_account_than_the_clients_are_out_of_scope() {
        let n = notice(Some("222222222222"), None, Some("us-east-1"));
        let (code, reason) = out_of_scope(&n, Some("111111111111"), Some("us-east-1"))
            .unwrap_or_else(|| panic!("out of scope expected"));
        assert_eq!(code, "other_account");
        assert!(
            reason.contains("this remediator acts in 111111111111"),
            "{reason}"
        );
        // The affected account counts when it agrees with the receiving one.
        let n = notice(
            Some("222222222222"),
            Some("222222222222"),
            Some("us-east-1"),
        );
        assert_eq!(
            code_of(out_of_scope(&n, Some("111111111111"), Some("us-east-1"))),
            Some("other_account")
        );
    }

    #[test]
    fn resources_in_another_region_are_out_of_scope() {
        let n = notice(Some("111111111111"), None, Some("eu-west-1"));
        let (code, reason) = out_of_scope(&n, Some("111111111111"), Some("us-east-1"))
            .unwrap_or_else(|| panic!("out of scope expected"));
        assert_eq!(code, "other_region");
        assert!(reason.contains("resources are in eu-west-1"), "{reason}");
        assert!(reason.contains("acts in us-east-1"), "{reason}");
    }

    #[test]
    fn the_same_account_and_region_is_in_scope() {
        let n = notice(
            Some("111111111111"),
            Some("111111111111"),
            Some("us-east-1"),
        );
        assert_eq!(
            out_of_scope(&n, Some("111111111111"), Some("us-east-1")),
            None
        );
        let n = notice(Some("111111111111"), None, Some("us-east-1"));
        assert_eq!(
            out_of_scope(&n, Some("111111111111"), Some("us-east-1")),
            None
        );
        // What the clients' account or Region is not known for is not checked.
        assert_eq!(out_of_scope(&n, None, None), None);
    }
}

#[test]
fn a_service_with_no_room_to_replace_a_task_is_not_forced_and_says_which_limit_to_change() {
    match decide(&Observed::service().rollout(3, 100, 100)) {
        ServiceDecision::Final(o) => {
            assert_eq!(
                (o.status, o.code.to_string(), o.retryable),
                (Status::Failed, "no_room_to_replace".to_owned(), false)
            );
            assert!(o.reason.contains("maximumPercent"), "{}", o.reason);
        }
        other => panic!("expected a final outcome, got {other:?}"),
    }
}

#[test]
fn room_to_start_or_stop_one_task_is_enough_to_force() {
    for (desired, min, max) in [(3, 100, 200), (3, 50, 100), (4, 75, 100), (1, 0, 100)] {
        assert!(
            matches!(
                decide(&Observed::service().rollout(desired, min, max)),
                ServiceDecision::ForceNewDeployment { .. }
            ),
            "{desired} {min} {max}"
        );
    }
}

#[test]
fn rounding_can_leave_no_room_even_below_100_percent() {
    // 2 tasks at 60 %..140 %: ECS keeps ceil(1.2) = 2 and may run floor(2.8) = 2: no room.
    assert!(!Rollout {
        daemon: false,
        desired_count: Some(2),
        minimum_healthy_percent: Some(60),
        maximum_percent: Some(140),
    }
    .has_room());
    // Nothing desired, or limits ECS did not report: nothing to judge.
    assert!(Observed::service()
        .rollout(0, 100, 100)
        .0
        .rollout
        .has_room());
    assert!(Rollout::default().has_room());
}

#[test]
fn a_service_already_replaced_is_not_judged_by_its_room() {
    let o = Observed::service()
        .rollout(3, 100, 100)
        .primary_created(Some(published() + Duration::minutes(5)));
    match decide(&o) {
        ServiceDecision::Final(o) => assert_eq!(o.code.to_string(), "already_replaced"),
        other => panic!("expected already_replaced, got {other:?}"),
    }
}
