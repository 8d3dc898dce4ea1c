//! The instance planner on hand-built observations: no ports, no runtime.

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::testing::at;
use Ec2Event::{Reboot, Retirement, Stop};

const EVENT_ARN: &str = "arn:aws:health:us-east-1::event/EC2/AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED/AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED_abc";
const MARK: &str = "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED_abc";
const ARN: &str = "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/0a1b2c";
const SKIP: (&str, &str) = ("retirement-remediator/skip", "true");

fn published() -> DateTime<Utc> {
    at("2026-11-20T09:00:00Z")
}

fn instance() -> InstanceRef {
    InstanceRef {
        instance_id: "i-0abc".into(),
    }
}

/// What the planners are given besides the observation, chainable: an open EC2 scheduled
/// event for `i-0abc` (AWS's window a week after publication, two hours long), a moment a day
/// after publication, the default settings.
struct Given {
    notice: RetirementNotice,
    now: DateTime<Utc>,
    settings: Settings,
}

impl Given {
    fn a(kind: Ec2Event) -> Self {
        let start = published() + Duration::days(7);
        Given {
            notice: RetirementNotice {
                event_id: Some("e-1".into()),
                event_arn: EVENT_ARN.into(),
                account: Some("123456789012".into()),
                affected_account: None,
                region: Some("us-east-1".into()),
                published_at: published(),
                start_time: Some(start),
                end_time: Some(start + Duration::hours(2)),
                status: Some(EventStatus::Upcoming),
                communication_id: None,
                targets: vec![Target::Instance(instance())],
                ec2: Some(kind),
            },
            now: published() + Duration::days(1),
            settings: Settings::default(),
        }
    }
    fn closed(mut self) -> Self {
        self.notice.status = Some(EventStatus::Closed);
        self
    }
    fn after_the_window(mut self) -> Self {
        self.now = published() + Duration::days(8);
        self
    }
    fn dry_run(mut self) -> Self {
        self.settings.dry_run = true;
        self
    }
    fn opt_in(mut self) -> Self {
        self.settings.opt_in_only = true;
        self
    }
    fn replacing(mut self) -> Self {
        self.settings.replace_drained_instances = true;
        self
    }
    fn plan(&self, seen: &InstanceSeen) -> InstanceDecision {
        plan_instance(&instance(), seen, &self.notice, &self.settings)
    }
    /// The final outcome [`Given::plan`] decides.
    fn outcome(&self, seen: &InstanceSeen) -> Outcome {
        match self.plan(seen) {
            InstanceDecision::Final(outcome) => outcome,
            other => panic!("expected a final outcome, got {other:?}"),
        }
    }
    fn check(&self, seen: &Checked) -> InstanceCheck {
        let target = Target::Instance(instance());
        check_instance(&target, seen, &self.notice, self.now, &self.settings)
    }
    /// The reason of the pending verdict [`Given::check`] comes to.
    fn pending(&self, seen: &Checked) -> String {
        match self.check(seen) {
            InstanceCheck::Done(Verdict::Pending(reason)) => reason,
            other => panic!("expected pending, got {other:?}"),
        }
    }
    /// The reason of the verified verdict [`Given::check`] comes to.
    fn verified(&self, seen: &Checked) -> String {
        match self.check(seen) {
            InstanceCheck::Done(Verdict::Verified(reason)) => reason,
            other => panic!("expected verified, got {other:?}"),
        }
    }
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

    // What the notice's planner has seen of it.

    /// Only found in the inventory.
    fn found(self) -> InstanceSeen {
        InstanceSeen::new(Some(self.0))
    }
    /// Found, with these marks on it (`own`) and on its cluster.
    fn with_marks(self, own: &[(&str, &str)], cluster: &[(&str, &str)]) -> InstanceSeen {
        let pairs =
            |p: &[(&str, &str)]| p.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        InstanceSeen {
            marks: Some(Marks {
                instance: pairs(own),
                cluster: pairs(cluster),
            }),
            ..self.found()
        }
    }
    /// Found, no marks on it.
    fn unmarked(self) -> InstanceSeen {
        self.with_marks(&[], &[])
    }
    /// Found, no marks on it, and this room for its tasks.
    fn with_room(self, room: Room) -> InstanceSeen {
        InstanceSeen {
            room: Some(room),
            ..self.unmarked()
        }
    }

    // What a check has seen of it.

    /// Only listed in its cluster.
    fn listed(self) -> Checked {
        Checked::new(self.0)
    }
    /// Listed, its tasks counted.
    fn counted(self, listed: usize, not_daemon: usize) -> Checked {
        Checked {
            tasks: Some(Ok(TasksOn { listed, not_daemon })),
            ..self.listed()
        }
    }
}

/// A drained instance running only a daemon task, its Auto Scaling group read (`group`).
fn drained_in(group: Result<Option<String>, String>) -> Checked {
    Checked {
        group: Some(group),
        ..Ci::drained().running(1).counted(1, 0)
    }
}

/// Listed, with this answer to its scheduled events.
fn with_events(events: Result<Vec<InstanceEvent>, String>) -> Checked {
    Checked {
        scheduled_events: Some(events),
        ..Ci::drained().listed()
    }
}

/// Asserts that `reason` says `part`.
#[track_caller]
fn says(reason: &str, part: &str) {
    assert!(reason.contains(part), "{reason:?} does not say {part:?}");
}

fn said(o: &Outcome) -> (Status, Code, Option<Action>) {
    (o.status, o.code, o.action)
}

// ---- The notice's handling ----

#[test]
fn an_instance_in_no_cluster_is_skipped_as_not_a_container_instance() {
    let o = Given::a(Retirement).outcome(&InstanceSeen::new(None));
    assert_eq!(
        said(&o),
        (Status::Skipped, Code::NotContainerInstance, None)
    );
    says(&o.reason, "i-0abc is not a container instance");
}

#[test]
fn an_open_notice_asks_for_the_operators_marks_before_anything_else() {
    let step = Given::a(Retirement).plan(&Ci::active().found());
    assert_eq!(step, InstanceDecision::Look(InstanceLook::Marks));
}

#[test]
fn a_closed_notice_reactivates_what_the_remediator_drained_for_it_without_reading_marks() {
    let step = Given::a(Reboot).closed().plan(&Ci::drained().found());
    assert_eq!(step, InstanceDecision::Reactivate(Ci::drained().0));
}

#[test]
fn a_closed_notice_leaves_an_instance_drained_by_someone_else_as_it_is() {
    let o = Given::a(Reboot)
        .closed()
        .outcome(&Ci::active().status("DRAINING").found());
    let skipped = (Status::Skipped, Code::NotDrainedByRemediator);
    assert_eq!(
        said(&o),
        (skipped.0, skipped.1, Some(Action::ReactivateInstance))
    );
    says(&o.reason, "left as it is");
}

#[test]
fn a_closed_notice_leaves_an_instance_drained_for_another_notice_as_it_is() {
    let o = Given::a(Reboot)
        .closed()
        .outcome(&Ci::drained().marked("other").found());
    assert_eq!(o.code, Code::NotDrainedByRemediator);
}

#[test]
fn a_closed_notice_of_an_active_instance_changes_nothing() {
    let o = Given::a(Reboot).closed().outcome(&Ci::active().found());
    assert_eq!(o.code, Code::NotDrainedByRemediator);
    says(&o.reason, "is ACTIVE");
}

#[test]
fn a_closed_notice_in_a_dry_run_only_says_it_would_reactivate() {
    let o = Given::a(Reboot)
        .closed()
        .dry_run()
        .outcome(&Ci::drained().found());
    assert_eq!((o.status, o.code), (Status::Planned, Code::WouldReactivate));
}

#[test]
fn an_instance_tagged_to_be_skipped_is_opted_out() {
    let o = Given::a(Retirement).outcome(&Ci::active().with_marks(&[SKIP], &[]));
    assert_eq!((o.status, o.code), (Status::Skipped, Code::OptedOut));
    says(&o.reason, "the resource");
}

#[test]
fn an_instance_in_a_cluster_tagged_to_be_skipped_is_opted_out() {
    let o = Given::a(Retirement).outcome(&Ci::active().with_marks(&[], &[SKIP]));
    assert_eq!(o.code, Code::OptedOut);
    says(&o.reason, "its cluster");
}

#[test]
fn in_opt_in_mode_an_instance_nobody_enabled_is_not_opted_in() {
    let o = Given::a(Retirement)
        .opt_in()
        .outcome(&Ci::active().unmarked());
    assert_eq!((o.status, o.code), (Status::Skipped, Code::NotOptedIn));
}

#[test]
fn in_opt_in_mode_an_instance_enabled_by_its_tags_goes_on_to_ask_for_room() {
    let enabled = [("retirement-remediator/enabled", "true")];
    let step = Given::a(Retirement)
        .opt_in()
        .plan(&Ci::active().with_marks(&enabled, &[]));
    assert_eq!(step, InstanceDecision::Look(InstanceLook::Room));
}

#[test]
fn an_active_instance_asks_where_its_tasks_can_go() {
    let step = Given::a(Retirement).plan(&Ci::active().unmarked());
    assert_eq!(step, InstanceDecision::Look(InstanceLook::Room));
}

#[test]
fn an_active_instance_with_another_active_instance_beside_it_is_drained() {
    let step = Given::a(Retirement).plan(&Ci::active().with_room(Room::OtherInstances));
    assert_eq!(step, InstanceDecision::Drain(Ci::active().0));
}

#[test]
fn the_last_active_instance_is_drained_when_managed_scaling_adds_capacity() {
    let step = Given::a(Stop).plan(&Ci::active().with_room(Room::ManagedScaling));
    assert_eq!(step, InstanceDecision::Drain(Ci::active().0));
}

#[test]
fn the_last_active_instance_with_tasks_and_nothing_to_scale_out_is_not_drained() {
    let o = Given::a(Retirement).outcome(&Ci::active().with_room(Room::Nowhere));
    let failed = (Status::Failed, Code::NoCapacityElsewhere);
    assert_eq!(said(&o), (failed.0, failed.1, Some(Action::DrainInstance)));
    assert!(!o.retryable, "redelivering the same notice would not help");
    says(&o.reason, "its 2 task(s) would have nowhere to run");
}

/// Changed with issue 25: an idle last instance used to be drained. A drain is held until a
/// day before AWS's date, and from then on a scheduled RunTask job or a service scaling from 0
/// would have nowhere to run; issue 16 asked for the last ACTIVE instance never to be drained.
#[test]
fn the_last_active_instance_running_nothing_is_not_drained_either_and_the_reason_says_what_to_add()
{
    let o = Given::a(Retirement).outcome(&Ci::active().running(0).with_room(Room::Nowhere));
    let failed = (Status::Failed, Code::NoCapacityElsewhere);
    assert_eq!(said(&o), (failed.0, failed.1, Some(Action::DrainInstance)));
    assert!(!o.retryable);
    says(
        &o.reason,
        "a scheduled RunTask job or a service scaling from 0",
    );
    says(&o.reason, "register another container instance");
    says(
        &o.reason,
        "Auto Scaling group capacity provider with managed scaling",
    );
    says(
        &o.reason,
        "AWS retires the instance at 2026-11-27T09:00:00+00:00",
    );
}

#[test]
fn the_reason_of_a_last_instance_left_active_says_what_aws_does_at_its_date_for_each_kind() {
    let nowhere = Ci::active().with_room(Room::Nowhere);
    says(
        &Given::a(Stop).outcome(&nowhere).reason,
        "AWS stops the instance at 2026-11-27T09:00:00+00:00",
    );
    says(
        &Given::a(Reboot).outcome(&nowhere).reason,
        "AWS reboots the instance at 2026-11-27T09:00:00+00:00",
    );
}

#[test]
fn a_dry_run_says_it_would_drain_and_drains_nothing() {
    let o = Given::a(Retirement)
        .dry_run()
        .outcome(&Ci::active().with_room(Room::OtherInstances));
    let planned = (Status::Planned, Code::WouldDrain);
    assert_eq!(
        said(&o),
        (planned.0, planned.1, Some(Action::DrainInstance))
    );
}

#[test]
fn a_dry_run_still_says_when_the_last_active_instance_could_not_be_drained() {
    let o = Given::a(Retirement)
        .dry_run()
        .outcome(&Ci::active().with_room(Room::Nowhere));
    assert_eq!(o.code, Code::NoCapacityElsewhere);
}

#[test]
fn an_instance_already_draining_for_this_notice_is_followed_as_acted() {
    let o = Given::a(Retirement).outcome(&Ci::drained().unmarked());
    let done = (Status::AlreadyDone, Code::AlreadyDraining);
    assert_eq!(said(&o), (done.0, done.1, Some(Action::DrainInstance)));
    let followed = (
        o.deployment_before.as_deref(),
        o.deployment_after.as_deref(),
    );
    assert_eq!(
        followed,
        (Some("i-0abc"), Some(ARN)),
        "a check follows the container instance"
    );
}

#[test]
fn an_instance_drained_by_someone_else_is_left_as_it_is_and_not_followed() {
    let o = Given::a(Retirement).outcome(&Ci::active().status("DRAINING").unmarked());
    assert_eq!(
        said(&o),
        (Status::AlreadyDone, Code::AlreadyDraining, None),
        "nothing follows it up"
    );
    says(&o.reason, "not for this notice");
}

#[test]
fn an_instance_neither_active_nor_draining_has_nothing_to_drain() {
    let o = Given::a(Retirement).outcome(&Ci::active().status("DEREGISTERING").unmarked());
    assert_eq!((o.status, o.code), (Status::Skipped, Code::Gone));
    says(&o.reason, "is DEREGISTERING");
}

#[test]
fn another_active_instance_is_room_only_in_the_same_cluster_and_when_the_notice_does_not_drain_it()
{
    let other = "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/9z";
    let batch = "arn:aws:ecs:us-east-1:123456789012:container-instance/batch/1";
    let inventory = [
        Ci::active().0,
        Ci::active().arn("prod", other).0,
        Ci::active().arn("batch", batch).0,
    ];
    assert!(others_active(&inventory, "prod", &[ARN]));
    assert!(!others_active(&inventory, "prod", &[ARN, other]));
    assert!(!others_active(&inventory, "batch", &[batch]));
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
    let mut notice = Given::a(Retirement).notice;
    assert_eq!(mark_value(&notice), MARK);
    notice.event_arn = format!("arn:aws:health:::event/EC2/X/{}#?", "a".repeat(200));
    assert_eq!(mark_value(&notice), "a".repeat(128));
}

// ---- Follow-up checks ----

#[test]
fn a_check_without_a_recorded_container_instance_fails_as_unrecognized() {
    for after in [
        None,
        Some("i-0abc"),
        Some("arn:aws:ecs:…:container-instance/no-id"),
    ] {
        let failed = matches!(
            recorded(after),
            Err(Verdict::Failed(Code::UnrecognizedEntity, _))
        );
        assert!(failed, "{after:?}");
    }
    assert_eq!(recorded(Some(ARN)).ok(), Some((ARN, "prod")));
}

#[test]
fn an_instance_gone_from_its_cluster_is_verified_as_deregistered() {
    let all = [Ci::active()
        .arn("prod", "arn:…:container-instance/prod/other")
        .0];
    match listed("prod", ARN, Ok(&all)) {
        Err(Verdict::Verified(reason)) => says(&reason, "deregistered"),
        other => panic!("{other:?}"),
    }
    let found = [Ci::drained().0];
    assert_eq!(listed("prod", ARN, Ok(&found)), Ok(&found[0]));
}

#[test]
fn a_cluster_whose_instances_cannot_be_listed_leaves_the_check_pending() {
    match listed("prod", ARN, Err("throttled".into())) {
        Err(Verdict::Pending(reason)) => says(&reason, "(throttled)"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_drained_instance_asks_for_its_tasks() {
    let step = Given::a(Retirement).check(&Ci::drained().listed());
    assert_eq!(step, InstanceCheck::Look(CheckLook::Tasks));
}

#[test]
fn tasks_that_cannot_be_listed_leave_the_check_pending() {
    let seen = Checked {
        tasks: Some(Err("throttled".into())),
        ..Ci::drained().listed()
    };
    let reason = Given::a(Retirement).pending(&seen);
    says(&reason, "its tasks could not be listed (throttled)");
}

#[test]
fn an_instance_set_active_again_by_someone_else_is_verified() {
    let reason = Given::a(Retirement).verified(&Ci::drained().status("ACTIVE").listed());
    says(&reason, "is ACTIVE again");
}

#[test]
fn tasks_ecs_is_still_stopping_keep_the_check_pending() {
    let reason = Given::a(Retirement).pending(&Ci::drained().running(3).counted(1, 0));
    says(
        &reason,
        "2 task(s) are still stopping on it (1 daemon task(s) stay)",
    );
}

#[test]
fn tasks_other_than_daemon_tasks_are_relaunched_again() {
    let step = Given::a(Retirement).check(&Ci::drained().running(3).counted(3, 2));
    assert_eq!(step, InstanceCheck::RelaunchStandalone { left: 2 });
}

#[test]
fn without_replacement_a_drained_instance_is_verified_waiting_for_aws() {
    let reason = Given::a(Retirement).verified(&Ci::drained().running(1).counted(1, 0));
    says(&reason, "waits for AWS at");
    says(&reason, "REPLACE_DRAINED_INSTANCES is off");
}

#[test]
fn with_replacement_a_drained_instance_asks_for_its_auto_scaling_group() {
    let step = Given::a(Retirement)
        .replacing()
        .check(&Ci::drained().running(0).counted(0, 0));
    assert_eq!(step, InstanceCheck::Look(CheckLook::AutoScalingGroup));
}

#[test]
fn with_replacement_a_drained_instance_in_a_group_is_replaced_there() {
    let seen = drained_in(Ok(Some("ecs-hosts".into())));
    for kind in [Retirement, Stop] {
        let group = "ecs-hosts".to_owned();
        assert_eq!(
            Given::a(kind).replacing().check(&seen),
            InstanceCheck::Replace { group }
        );
    }
}

#[test]
fn with_replacement_a_drained_instance_in_no_group_is_verified_waiting_for_aws() {
    let reason = Given::a(Stop).replacing().verified(&drained_in(Ok(None)));
    says(
        &reason,
        "i-0abc is in no Auto Scaling group, so it waits for AWS",
    );
}

#[test]
fn with_replacement_a_group_that_cannot_be_read_leaves_the_check_pending() {
    let reason = Given::a(Retirement)
        .replacing()
        .pending(&drained_in(Err("throttled".into())));
    says(&reason, "could not be read (throttled)");
}

#[test]
fn a_reboots_instance_drained_before_the_window_ends_stays_drained_even_with_replacement() {
    let reason = Given::a(Reboot)
        .replacing()
        .pending(&Ci::drained().running(0).counted(0, 0));
    says(&reason, "drained ahead of the reboot maintenance (ending");
}

#[test]
fn after_the_window_a_reboot_check_asks_ec2_whether_the_reboot_is_still_pending() {
    let step = Given::a(Reboot)
        .after_the_window()
        .check(&Ci::drained().listed());
    assert_eq!(step, InstanceCheck::Look(CheckLook::ScheduledEvents));
}

#[test]
fn after_the_window_a_reboot_ec2_still_shows_keeps_the_instance_drained() {
    let events = vec![("system-reboot".to_owned(), Some(published()))];
    let reason = Given::a(Reboot)
        .after_the_window()
        .pending(&with_events(Ok(events)));
    says(&reason, "EC2 still shows a scheduled system-reboot from");
}

#[test]
fn after_the_window_scheduled_events_that_cannot_be_read_leave_the_check_pending() {
    let reason = Given::a(Reboot)
        .after_the_window()
        .pending(&with_events(Err("throttled".into())));
    says(&reason, "scheduled events could not be read (throttled)");
}

#[test]
fn after_the_maintenance_an_instance_whose_agent_is_not_back_is_not_reactivated_yet() {
    let reason = Given::a(Reboot)
        .closed()
        .pending(&Ci::drained().disconnected().listed());
    says(&reason, "waiting for the instance's ECS agent");
}

#[test]
fn after_the_window_with_no_reboot_left_the_instance_is_reactivated() {
    let events = vec![("instance-stop".to_owned(), None)];
    let step = Given::a(Reboot)
        .after_the_window()
        .check(&with_events(Ok(events)));
    assert_eq!(step, InstanceCheck::Reactivate);
}

#[test]
fn a_closed_reboot_notice_reactivates_without_asking_ec2() {
    let step = Given::a(Reboot).closed().check(&Ci::drained().listed());
    assert_eq!(step, InstanceCheck::Reactivate);
}

#[test]
fn after_the_maintenance_an_instance_someone_else_reactivated_is_verified_as_left_alone() {
    let reason = Given::a(Reboot)
        .closed()
        .verified(&Ci::drained().status("ACTIVE").listed());
    says(&reason, "is ACTIVE and carries no");
}

#[test]
fn after_the_maintenance_a_dry_run_is_verified_with_what_it_would_do() {
    let reason = Given::a(Reboot)
        .closed()
        .dry_run()
        .verified(&Ci::drained().listed());
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
        stop_code: None,
        essential_exit_codes: Vec::new(),
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
