//! The instance planner on hand-built observations: no ports, no runtime.

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::testing::at;

const EVENT_ARN: &str = "arn:aws:health:us-east-1::event/EC2/AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED/AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED_abc";
const MARK: &str = "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED_abc";
const ARN: &str = "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/0a1b2c";

fn published() -> DateTime<Utc> {
    at("2026-11-20T09:00:00Z")
}

/// An open EC2 scheduled event of `kind` for `i-0abc`, AWS's window a week after publication.
fn notice(kind: Ec2Event) -> RetirementNotice {
    RetirementNotice {
        event_id: Some("e-1".into()),
        event_arn: EVENT_ARN.into(),
        account: Some("123456789012".into()),
        affected_account: None,
        region: Some("us-east-1".into()),
        published_at: published(),
        start_time: Some(published() + Duration::days(7)),
        end_time: Some(published() + Duration::days(7) + Duration::hours(2)),
        status: Some(EventStatus::Upcoming),
        communication_id: None,
        targets: vec![target()],
        ec2: Some(kind),
    }
}

fn closed(kind: Ec2Event) -> RetirementNotice {
    RetirementNotice {
        status: Some(EventStatus::Closed),
        ..notice(kind)
    }
}

fn instance() -> InstanceRef {
    InstanceRef {
        instance_id: "i-0abc".into(),
    }
}

fn target() -> Target {
    Target::Instance(instance())
}

/// A chainable container instance: `i-0abc` in cluster `prod`, ACTIVE, two tasks, unmarked.
#[derive(Clone)]
struct Ci(ContainerInstance);

impl Ci {
    fn active() -> Self {
        Ci(ContainerInstance {
            cluster: "prod".into(),
            arn: ARN.into(),
            ec2_instance_id: "i-0abc".into(),
            status: "ACTIVE".into(),
            running_tasks: 2,
            agent_connected: true,
            attributes: Vec::new(),
            tags: Vec::new(),
        })
    }
    /// DRAINING, marked for this notice.
    fn drained() -> Self {
        Ci::active().status("DRAINING").marked(MARK)
    }
    fn status(mut self, status: &str) -> Self {
        self.0.status = status.into();
        self
    }
    fn marked(mut self, value: &str) -> Self {
        self.0.attributes = vec![(DRAINED_ATTRIBUTE.into(), Some(value.into()))];
        self
    }
    fn running(mut self, tasks: i32) -> Self {
        self.0.running_tasks = tasks;
        self
    }
    fn disconnected(mut self) -> Self {
        self.0.agent_connected = false;
        self
    }
    fn arn(mut self, cluster: &str, arn: &str) -> Self {
        self.0.cluster = cluster.into();
        self.0.arn = arn.into();
        self
    }
}

fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The instance found, its marks read (none set).
fn marked(ci: Ci) -> InstanceSeen {
    InstanceSeen {
        marks: Some(Marks::default()),
        ..InstanceSeen::new(Some(ci.0))
    }
}

/// The instance found, unmarked, with this room for its tasks.
fn with_room(ci: Ci, room: Room) -> InstanceSeen {
    InstanceSeen {
        room: Some(room),
        ..marked(ci)
    }
}

fn settings() -> Settings {
    Settings::default()
}

fn dry_run() -> Settings {
    Settings {
        dry_run: true,
        ..Settings::default()
    }
}

fn plan(seen: &InstanceSeen, notice: &RetirementNotice, settings: &Settings) -> InstanceDecision {
    plan_instance(&instance(), seen, notice, settings)
}

fn outcome(decision: InstanceDecision) -> Outcome {
    match decision {
        InstanceDecision::Final(outcome) => outcome,
        other => panic!("expected a final outcome, got {other:?}"),
    }
}

// ---- The notice's handling ----

#[test]
fn an_instance_in_no_cluster_is_skipped_as_not_a_container_instance() {
    let seen = InstanceSeen::new(None);
    let o = outcome(plan(&seen, &notice(Ec2Event::Retirement), &settings()));
    assert_eq!(
        (o.status, o.code),
        (Status::Skipped, Code::NotContainerInstance)
    );
    assert!(
        o.reason.contains("i-0abc is not a container instance"),
        "{}",
        o.reason
    );
}

#[test]
fn an_open_notice_asks_for_the_operators_marks_before_anything_else() {
    let seen = InstanceSeen::new(Some(Ci::active().0));
    assert_eq!(
        plan(&seen, &notice(Ec2Event::Retirement), &settings()),
        InstanceDecision::Look(InstanceLook::Marks)
    );
}

#[test]
fn a_closed_notice_reactivates_what_the_remediator_drained_for_it_without_reading_marks() {
    let seen = InstanceSeen::new(Some(Ci::drained().0));
    assert_eq!(
        plan(&seen, &closed(Ec2Event::Reboot), &settings()),
        InstanceDecision::Reactivate(Ci::drained().0)
    );
}

#[test]
fn a_closed_notice_leaves_an_instance_drained_by_someone_else_as_it_is() {
    let seen = InstanceSeen::new(Some(Ci::active().status("DRAINING").0));
    let o = outcome(plan(&seen, &closed(Ec2Event::Reboot), &settings()));
    assert_eq!(
        (o.status, o.code, o.action),
        (
            Status::Skipped,
            Code::NotDrainedByRemediator,
            Some(Action::ReactivateInstance)
        )
    );
    assert!(o.reason.contains("left as it is"), "{}", o.reason);
}

#[test]
fn a_closed_notice_leaves_an_instance_drained_for_another_notice_as_it_is() {
    let seen = InstanceSeen::new(Some(Ci::drained().marked("another-notice").0));
    let o = outcome(plan(&seen, &closed(Ec2Event::Reboot), &settings()));
    assert_eq!(o.code, Code::NotDrainedByRemediator);
}

#[test]
fn a_closed_notice_of_an_active_instance_changes_nothing() {
    let seen = InstanceSeen::new(Some(Ci::active().0));
    let o = outcome(plan(&seen, &closed(Ec2Event::Reboot), &settings()));
    assert_eq!(
        (o.status, o.code),
        (Status::Skipped, Code::NotDrainedByRemediator)
    );
    assert!(o.reason.contains("is ACTIVE"), "{}", o.reason);
}

#[test]
fn a_closed_notice_in_a_dry_run_only_says_it_would_reactivate() {
    let seen = InstanceSeen::new(Some(Ci::drained().0));
    let o = outcome(plan(&seen, &closed(Ec2Event::Reboot), &dry_run()));
    assert_eq!((o.status, o.code), (Status::Planned, Code::WouldReactivate));
}

#[test]
fn an_instance_tagged_to_be_skipped_is_opted_out() {
    let seen = InstanceSeen {
        marks: Some(Marks {
            instance: tags(&[("retirement-remediator/skip", "true")]),
            cluster: Vec::new(),
        }),
        ..InstanceSeen::new(Some(Ci::active().0))
    };
    let o = outcome(plan(&seen, &notice(Ec2Event::Retirement), &settings()));
    assert_eq!((o.status, o.code), (Status::Skipped, Code::OptedOut));
    assert!(o.reason.contains("the resource"), "{}", o.reason);
}

#[test]
fn an_instance_in_a_cluster_tagged_to_be_skipped_is_opted_out() {
    let seen = InstanceSeen {
        marks: Some(Marks {
            instance: Vec::new(),
            cluster: tags(&[("retirement-remediator/skip", "true")]),
        }),
        ..InstanceSeen::new(Some(Ci::active().0))
    };
    let o = outcome(plan(&seen, &notice(Ec2Event::Retirement), &settings()));
    assert_eq!(o.code, Code::OptedOut);
    assert!(o.reason.contains("its cluster"), "{}", o.reason);
}

#[test]
fn in_opt_in_mode_an_instance_nobody_enabled_is_not_opted_in() {
    let opt_in = Settings {
        opt_in_only: true,
        ..Settings::default()
    };
    let o = outcome(plan(
        &marked(Ci::active()),
        &notice(Ec2Event::Retirement),
        &opt_in,
    ));
    assert_eq!((o.status, o.code), (Status::Skipped, Code::NotOptedIn));
}

#[test]
fn in_opt_in_mode_an_instance_enabled_by_its_tags_goes_on_to_ask_for_room() {
    let opt_in = Settings {
        opt_in_only: true,
        ..Settings::default()
    };
    let seen = InstanceSeen {
        marks: Some(Marks {
            instance: tags(&[("retirement-remediator/enabled", "true")]),
            cluster: Vec::new(),
        }),
        ..InstanceSeen::new(Some(Ci::active().0))
    };
    assert_eq!(
        plan(&seen, &notice(Ec2Event::Retirement), &opt_in),
        InstanceDecision::Look(InstanceLook::Room)
    );
}

#[test]
fn an_active_instance_asks_where_its_tasks_can_go() {
    assert_eq!(
        plan(
            &marked(Ci::active()),
            &notice(Ec2Event::Retirement),
            &settings()
        ),
        InstanceDecision::Look(InstanceLook::Room)
    );
}

#[test]
fn an_active_instance_with_another_active_instance_beside_it_is_drained() {
    let seen = with_room(Ci::active(), Room::OtherInstances);
    assert_eq!(
        plan(&seen, &notice(Ec2Event::Retirement), &settings()),
        InstanceDecision::Drain(Ci::active().0)
    );
}

#[test]
fn the_last_active_instance_is_drained_when_managed_scaling_adds_capacity() {
    let seen = with_room(Ci::active(), Room::ManagedScaling);
    assert_eq!(
        plan(&seen, &notice(Ec2Event::Stop), &settings()),
        InstanceDecision::Drain(Ci::active().0)
    );
}

#[test]
fn the_last_active_instance_with_tasks_and_nothing_to_scale_out_is_not_drained() {
    let seen = with_room(Ci::active(), Room::Nowhere);
    let o = outcome(plan(&seen, &notice(Ec2Event::Retirement), &settings()));
    assert_eq!(
        (o.status, o.code, o.action),
        (
            Status::Failed,
            Code::NoCapacityElsewhere,
            Some(Action::DrainInstance)
        )
    );
    assert!(!o.retryable, "redelivering the same notice would not help");
    assert!(
        o.reason.contains("its 2 task(s) would have nowhere to run"),
        "{}",
        o.reason
    );
}

#[test]
fn the_last_active_instance_running_nothing_is_drained_even_with_nowhere_to_go() {
    let seen = with_room(Ci::active().running(0), Room::Nowhere);
    assert_eq!(
        plan(&seen, &notice(Ec2Event::Retirement), &settings()),
        InstanceDecision::Drain(Ci::active().running(0).0)
    );
}

#[test]
fn a_dry_run_says_it_would_drain_and_drains_nothing() {
    let seen = with_room(Ci::active(), Room::OtherInstances);
    let o = outcome(plan(&seen, &notice(Ec2Event::Retirement), &dry_run()));
    assert_eq!(
        (o.status, o.code, o.action),
        (
            Status::Planned,
            Code::WouldDrain,
            Some(Action::DrainInstance)
        )
    );
}

#[test]
fn a_dry_run_still_says_when_the_last_active_instance_could_not_be_drained() {
    let seen = with_room(Ci::active(), Room::Nowhere);
    let o = outcome(plan(&seen, &notice(Ec2Event::Retirement), &dry_run()));
    assert_eq!(o.code, Code::NoCapacityElsewhere);
}

#[test]
fn an_instance_already_draining_for_this_notice_is_followed_as_acted() {
    let o = outcome(plan(
        &marked(Ci::drained()),
        &notice(Ec2Event::Retirement),
        &settings(),
    ));
    assert_eq!(
        (o.status, o.code, o.action),
        (
            Status::AlreadyDone,
            Code::AlreadyDraining,
            Some(Action::DrainInstance)
        )
    );
    assert_eq!(
        (
            o.deployment_before.as_deref(),
            o.deployment_after.as_deref()
        ),
        (Some("i-0abc"), Some(ARN)),
        "a check follows the container instance"
    );
}

#[test]
fn an_instance_drained_by_someone_else_is_left_as_it_is_and_not_followed() {
    let o = outcome(plan(
        &marked(Ci::active().status("DRAINING")),
        &notice(Ec2Event::Retirement),
        &settings(),
    ));
    assert_eq!(
        (o.status, o.code),
        (Status::AlreadyDone, Code::AlreadyDraining)
    );
    assert_eq!(o.action, None, "no action: nothing follows it up");
    assert!(o.reason.contains("not for this notice"), "{}", o.reason);
}

#[test]
fn an_instance_neither_active_nor_draining_has_nothing_to_drain() {
    let o = outcome(plan(
        &marked(Ci::active().status("DEREGISTERING")),
        &notice(Ec2Event::Retirement),
        &settings(),
    ));
    assert_eq!((o.status, o.code), (Status::Skipped, Code::Gone));
    assert!(o.reason.contains("is DEREGISTERING"), "{}", o.reason);
}

#[test]
fn another_active_instance_is_room_only_in_the_same_cluster_and_when_the_notice_does_not_drain_it()
{
    let other = "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/9z";
    let inventory = [
        Ci::active().0,
        Ci::active().arn("prod", other).0,
        Ci::active()
            .arn("batch", "arn:…:container-instance/batch/1")
            .0,
    ];
    assert!(others_active(&inventory, "prod", &[ARN]));
    assert!(!others_active(&inventory, "prod", &[ARN, other]));
    assert!(!others_active(
        &inventory,
        "batch",
        &["arn:…:container-instance/batch/1"]
    ));
    let draining = [
        Ci::active().0,
        Ci::active().arn("prod", other).status("DRAINING").0,
    ];
    assert!(
        !others_active(&draining, "prod", &[ARN]),
        "a DRAINING one is no room"
    );
}

#[test]
fn the_mark_is_the_notices_id_in_the_attribute_alphabet_and_at_most_128_characters() {
    assert_eq!(mark_value(&notice(Ec2Event::Retirement)), MARK);
    let long = RetirementNotice {
        event_arn: format!("arn:aws:health:::event/EC2/X/{}#?", "a".repeat(200)),
        ..notice(Ec2Event::Retirement)
    };
    assert_eq!(mark_value(&long), "a".repeat(128));
}

// ---- Follow-up checks ----

fn check(
    seen: &Checked,
    notice: &RetirementNotice,
    now: DateTime<Utc>,
    s: &Settings,
) -> InstanceCheck {
    check_instance(&target(), seen, notice, now, s)
}

/// Before AWS's window ends.
fn during() -> DateTime<Utc> {
    published() + Duration::days(1)
}

/// After AWS's window ended.
fn after() -> DateTime<Utc> {
    published() + Duration::days(8)
}

fn verdict(step: InstanceCheck) -> Verdict {
    match step {
        InstanceCheck::Done(verdict) => verdict,
        other => panic!("expected a verdict, got {other:?}"),
    }
}

fn pending(step: InstanceCheck) -> String {
    match verdict(step) {
        Verdict::Pending(reason) => reason,
        other => panic!("expected pending, got {other:?}"),
    }
}

fn verified(step: InstanceCheck) -> String {
    match verdict(step) {
        Verdict::Verified(reason) => reason,
        other => panic!("expected verified, got {other:?}"),
    }
}

/// A drained instance whose tasks were counted.
fn counted(ci: Ci, listed: usize, not_daemon: usize) -> Checked {
    Checked {
        tasks: Some(Ok(TasksOn { listed, not_daemon })),
        ..Checked::new(ci.0)
    }
}

/// A drained instance running only daemon tasks, its group read (`group`).
fn drained_in(group: Result<Option<String>, String>) -> Checked {
    Checked {
        group: Some(group),
        ..counted(Ci::drained().running(1), 1, 0)
    }
}

fn replacing() -> Settings {
    Settings {
        replace_drained_instances: true,
        ..Settings::default()
    }
}

#[test]
fn a_check_without_a_recorded_container_instance_fails_as_unrecognized() {
    for after in [
        None,
        Some("i-0abc"),
        Some("arn:aws:ecs:…:container-instance/no-id"),
    ] {
        assert!(
            matches!(
                recorded(after),
                Err(Verdict::Failed(Code::UnrecognizedEntity, _))
            ),
            "{after:?}"
        );
    }
    assert_eq!(recorded(Some(ARN)).ok(), Some((ARN, "prod")));
}

#[test]
fn an_instance_gone_from_its_cluster_is_verified_as_deregistered() {
    let all = [Ci::active()
        .arn("prod", "arn:…:container-instance/prod/other")
        .0];
    match listed("prod", ARN, Ok(&all)) {
        Err(Verdict::Verified(reason)) => assert!(reason.contains("deregistered"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let found = [Ci::drained().0];
    assert_eq!(listed("prod", ARN, Ok(&found)), Ok(&found[0]));
}

#[test]
fn a_cluster_whose_instances_cannot_be_listed_leaves_the_check_pending() {
    match listed("prod", ARN, Err("throttled".into())) {
        Err(Verdict::Pending(reason)) => assert!(reason.contains("(throttled)"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_drained_instance_asks_for_its_tasks() {
    let seen = Checked::new(Ci::drained().0);
    assert_eq!(
        check(&seen, &notice(Ec2Event::Retirement), during(), &settings()),
        InstanceCheck::Look(CheckLook::Tasks)
    );
}

#[test]
fn tasks_that_cannot_be_listed_leave_the_check_pending() {
    let seen = Checked {
        tasks: Some(Err("throttled".into())),
        ..Checked::new(Ci::drained().0)
    };
    let reason = pending(check(
        &seen,
        &notice(Ec2Event::Retirement),
        during(),
        &settings(),
    ));
    assert!(
        reason.contains("its tasks could not be listed (throttled)"),
        "{reason}"
    );
}

#[test]
fn an_instance_set_active_again_by_someone_else_is_verified() {
    let seen = Checked::new(Ci::drained().status("ACTIVE").0);
    let reason = verified(check(
        &seen,
        &notice(Ec2Event::Retirement),
        during(),
        &settings(),
    ));
    assert!(reason.contains("is ACTIVE again"), "{reason}");
}

#[test]
fn tasks_ecs_is_still_stopping_keep_the_check_pending() {
    let seen = counted(Ci::drained().running(3), 1, 0);
    let reason = pending(check(
        &seen,
        &notice(Ec2Event::Retirement),
        during(),
        &settings(),
    ));
    assert!(
        reason.contains("2 task(s) are still stopping on it (1 daemon task(s) stay)"),
        "{reason}"
    );
}

#[test]
fn tasks_other_than_daemon_tasks_are_relaunched_again() {
    let seen = counted(Ci::drained().running(3), 3, 2);
    assert_eq!(
        check(&seen, &notice(Ec2Event::Retirement), during(), &settings()),
        InstanceCheck::RelaunchStandalone { left: 2 }
    );
}

#[test]
fn without_replacement_a_drained_instance_is_verified_waiting_for_aws() {
    let seen = counted(Ci::drained().running(1), 1, 0);
    let reason = verified(check(
        &seen,
        &notice(Ec2Event::Retirement),
        during(),
        &settings(),
    ));
    assert!(reason.contains("waits for AWS at"), "{reason}");
    assert!(
        reason.contains("REPLACE_DRAINED_INSTANCES is off"),
        "{reason}"
    );
}

#[test]
fn with_replacement_a_drained_instance_asks_for_its_auto_scaling_group() {
    let seen = counted(Ci::drained().running(0), 0, 0);
    assert_eq!(
        check(&seen, &notice(Ec2Event::Retirement), during(), &replacing()),
        InstanceCheck::Look(CheckLook::AutoScalingGroup)
    );
}

#[test]
fn with_replacement_a_drained_instance_in_a_group_is_replaced_there() {
    let seen = drained_in(Ok(Some("ecs-hosts".into())));
    for kind in [Ec2Event::Retirement, Ec2Event::Stop] {
        assert_eq!(
            check(&seen, &notice(kind), during(), &replacing()),
            InstanceCheck::Replace {
                group: "ecs-hosts".into()
            }
        );
    }
}

#[test]
fn with_replacement_a_drained_instance_in_no_group_is_verified_waiting_for_aws() {
    let seen = drained_in(Ok(None));
    let reason = verified(check(
        &seen,
        &notice(Ec2Event::Stop),
        during(),
        &replacing(),
    ));
    assert!(
        reason.contains("i-0abc is in no Auto Scaling group, so it waits for AWS"),
        "{reason}"
    );
}

#[test]
fn with_replacement_a_group_that_cannot_be_read_leaves_the_check_pending() {
    let seen = drained_in(Err("throttled".into()));
    let reason = pending(check(
        &seen,
        &notice(Ec2Event::Retirement),
        during(),
        &replacing(),
    ));
    assert!(reason.contains("could not be read (throttled)"), "{reason}");
}

#[test]
fn a_reboots_instance_drained_before_the_window_ends_stays_drained() {
    let seen = counted(Ci::drained().running(0), 0, 0);
    let reason = pending(check(
        &seen,
        &notice(Ec2Event::Reboot),
        during(),
        &replacing(),
    ));
    assert!(
        reason.contains("drained ahead of the reboot maintenance (ending"),
        "{reason}"
    );
}

#[test]
fn after_the_window_a_reboot_check_asks_ec2_whether_the_reboot_is_still_pending() {
    let seen = Checked::new(Ci::drained().0);
    assert_eq!(
        check(&seen, &notice(Ec2Event::Reboot), after(), &settings()),
        InstanceCheck::Look(CheckLook::ScheduledEvents)
    );
}

#[test]
fn after_the_window_a_reboot_ec2_still_shows_keeps_the_instance_drained() {
    let seen = Checked {
        scheduled_events: Some(Ok(vec![("system-reboot".into(), Some(after()))])),
        ..Checked::new(Ci::drained().0)
    };
    let reason = pending(check(
        &seen,
        &notice(Ec2Event::Reboot),
        after(),
        &settings(),
    ));
    assert!(
        reason.contains("EC2 still shows a scheduled system-reboot from"),
        "{reason}"
    );
}

#[test]
fn after_the_window_scheduled_events_that_cannot_be_read_leave_the_check_pending() {
    let seen = Checked {
        scheduled_events: Some(Err("throttled".into())),
        ..Checked::new(Ci::drained().0)
    };
    let reason = pending(check(
        &seen,
        &notice(Ec2Event::Reboot),
        after(),
        &settings(),
    ));
    assert!(
        reason.contains("scheduled events could not be read (throttled)"),
        "{reason}"
    );
}

#[test]
fn after_the_maintenance_an_instance_whose_agent_is_not_back_is_not_reactivated_yet() {
    let seen = Checked::new(Ci::drained().disconnected().0);
    let reason = pending(check(
        &seen,
        &closed(Ec2Event::Reboot),
        after(),
        &settings(),
    ));
    assert!(
        reason.contains("waiting for the instance's ECS agent"),
        "{reason}"
    );
}

#[test]
fn after_the_window_with_no_reboot_left_the_instance_is_reactivated() {
    let seen = Checked {
        scheduled_events: Some(Ok(vec![("instance-stop".into(), None)])),
        ..Checked::new(Ci::drained().0)
    };
    assert_eq!(
        check(&seen, &notice(Ec2Event::Reboot), after(), &settings()),
        InstanceCheck::Reactivate
    );
}

#[test]
fn a_closed_reboot_notice_reactivates_without_asking_ec2() {
    let seen = Checked::new(Ci::drained().0);
    assert_eq!(
        check(&seen, &closed(Ec2Event::Reboot), during(), &settings()),
        InstanceCheck::Reactivate
    );
}

#[test]
fn after_the_maintenance_an_instance_someone_else_reactivated_is_verified_as_left_alone() {
    let seen = Checked::new(Ci::drained().status("ACTIVE").0);
    let reason = verified(check(
        &seen,
        &closed(Ec2Event::Reboot),
        after(),
        &settings(),
    ));
    assert!(reason.contains("is ACTIVE and carries no"), "{reason}");
}

#[test]
fn after_the_maintenance_a_dry_run_is_verified_with_what_it_would_do() {
    let seen = Checked::new(Ci::drained().0);
    let reason = verified(check(&seen, &closed(Ec2Event::Reboot), after(), &dry_run()));
    assert_eq!(reason, "would set it ACTIVE again");
}

fn task(group: Option<&str>, last_status: &str) -> TaskObservation<()> {
    TaskObservation {
        arn: "arn:aws:ecs:us-east-1:123456789012:task/prod/t".into(),
        id: "t".into(),
        cluster: "prod".into(),
        last_status: last_status.into(),
        desired_status: "RUNNING".into(),
        group: group.map(str::to_owned),
        started_by: None,
        task_definition: "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1".into(),
        tags: Vec::new(),
        health_status: None,
        has_health_checks: false,
        stopped_reason: None,
        launch: (),
    }
}

#[test]
fn daemon_tasks_and_stopped_tasks_are_not_counted_as_left_to_move() {
    let tasks = [
        task(Some("service:agent"), "RUNNING"),
        task(Some("service:agent"), "RUNNING"),
        task(Some("service:web"), "RUNNING"),
        task(Some("family:batch"), "RUNNING"),
        task(None, "STOPPED"),
    ];
    assert_eq!(services_of(&tasks), ["agent", "web"]);
    assert_eq!(not_daemon(&tasks, &["agent".to_owned()]), 2);
    assert_eq!(not_daemon(&tasks, &[]), 4);
}
