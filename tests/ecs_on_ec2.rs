//! ECS on EC2 end to end against moto: EC2 scheduled events (retirement, reboot maintenance)
//! drain the container instances they name, through the real handler, ledger and SDK clients.
//! moto ignores `ListContainerInstances`' filter expression; nothing here relies on it.
// The futures nest the driver, the engine and the SDK calls deeply.
#![recursion_limit = "256"]

use aws_sdk_ecs::types::DesiredStatus;
use chrono::Duration;
use remediator_core::{Code, Outcome, Report, Settings, Status};
use remediator_lambda::handle_with;
use remediator_testkit::events::{controls, invocation, ledger_table, said, task_settings};
use remediator_testkit::notice::Notice;
use remediator_testkit::{MotoServer, Seed};
use serde_json::Value;

const TABLE: &str = "retirement-ledger";
const MARK: &str = "retirement-remediator/drained";

/// An EC2 instance (moto registers only instances that exist), registered as a container
/// instance of `cluster`: its instance id and container instance ARN.
async fn host(moto: &MotoServer, seed: &Seed, cluster: &str) -> (String, String) {
    let ec2 = aws_sdk_ec2::Client::new(&moto.sdk_config().await);
    let out = ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .instance_type(aws_sdk_ec2::types::InstanceType::M5Large)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap_or_else(|e| panic!("run instances: {e:?}"));
    let id = out.instances()[0]
        .instance_id()
        .unwrap_or_default()
        .to_owned();
    let arn = seed.container_instance(cluster, &id).await;
    (id, arn)
}

/// Delivers `event` to the ECS function with the ledger (and `env`) over moto.
async fn deliver(
    moto: &MotoServer,
    settings: Settings,
    env: &[(&str, &str)],
    event: Value,
) -> Report {
    let mut with_ledger = vec![("LEDGER_TABLE", TABLE)];
    with_ledger.extend_from_slice(env);
    let controls = controls(moto, &with_ledger).await;
    let remediator = remediator_testkit::events::remediator(moto, settings).await;
    handle_with(
        &remediator,
        &controls,
        invocation(event),
        remediator_testkit::clock::now(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

async fn started(moto: &MotoServer) -> Seed {
    moto.pin_task_status();
    let seed = Seed::new(moto).await;
    seed.cluster("ec2").await;
    ledger_table(moto, TABLE).await;
    seed
}

#[tokio::test]
async fn a_retirement_notice_drains_the_container_instance_once_and_skips_an_instance_that_is_none()
{
    let moto = MotoServer::start();
    let seed = started(&moto).await;
    let (id, retired) = host(&moto, &seed, "ec2").await;
    let (_, spare) = host(&moto, &seed, "ec2").await;
    let notice = Notice::ec2("instance-retirement").naming(&[id.as_str(), "i-0fffffffffffffff0"]);
    let event = notice.clone().build();

    let first = deliver(&moto, task_settings(), &[], event.clone()).await;

    assert_eq!(
        said(&first),
        vec![
            (format!("instance {id}"), Status::Acted, Code::Drained),
            (
                "instance i-0fffffffffffffff0".into(),
                Status::Skipped,
                Code::NotContainerInstance
            ),
        ]
    );
    assert_eq!(
        seed.container_instance_state("ec2", &retired, MARK).await,
        ("DRAINING".to_owned(), true)
    );
    assert_eq!(
        seed.container_instance_state("ec2", &spare, MARK).await,
        ("ACTIVE".to_owned(), false)
    );

    // A redelivery, then an update of the notice: the drained instance is only looked at.
    let again = deliver(&moto, task_settings(), &[], event.clone()).await;
    let update = notice
        .status("open")
        .updated(remediator_testkit::clock::now())
        .build();
    let updated = deliver(&moto, task_settings(), &[], update).await;

    for report in [&again, &updated] {
        let o = &report.outcomes[0];
        assert_eq!(
            (o.status, o.code),
            (Status::AlreadyDone, Code::Verified),
            "{o:?}"
        );
        assert!(o.reason.contains("waits for AWS"), "{}", o.reason);
    }
    assert_eq!(
        seed.container_instance_state("ec2", &spare, MARK).await,
        ("ACTIVE".to_owned(), false),
        "nothing else was drained"
    );
}

#[tokio::test]
async fn a_standalone_task_on_the_drained_instance_is_relaunched_elsewhere_and_the_original_stopped(
) {
    let moto = MotoServer::start();
    let seed = started(&moto).await;
    let (id, retired) = host(&moto, &seed, "ec2").await;
    // Placed on the only instance there is; the spare registers after.
    let (original, placed_on) = seed.ec2_task("ec2", "nightly-report", "ops-runbook").await;
    assert_eq!(placed_on, retired);
    let (_, spare) = host(&moto, &seed, "ec2").await;
    let event = Notice::ec2("instance-retirement").naming(&[id]).build();

    let report = deliver(&moto, task_settings(), &[], event).await;

    let o = &report.outcomes[0];
    assert_eq!((o.status, o.code), (Status::Acted, Code::Drained), "{o:?}");
    assert!(o.reason.contains("relaunched elsewhere"), "{}", o.reason);
    let running = seed.tasks("ec2", DesiredStatus::Running).await;
    assert_eq!(running.len(), 1, "only the replacement runs: {running:?}");
    assert_ne!(running[0].task_arn(), Some(original.as_str()));
    assert_eq!(running[0].container_instance_arn(), Some(spare.as_str()));
    let stopped = seed.tasks("ec2", DesiredStatus::Stopped).await;
    assert!(
        stopped
            .iter()
            .any(|t| t.task_arn() == Some(original.as_str())),
        "the original is stopped"
    );
}

/// The only container instance of cluster `ec2` (no capacity provider), running `tasks`
/// standalone tasks, named by `fixture`: the outcome, once the test has seen it left `ACTIVE`
/// and unmarked with a final `no_capacity_elsewhere`.
async fn the_only_instance(fixture: &str, tasks: usize) -> Outcome {
    let moto = MotoServer::start();
    let seed = started(&moto).await;
    let (id, only) = host(&moto, &seed, "ec2").await;
    for _ in 0..tasks {
        seed.ec2_task("ec2", "api", "ops-runbook").await;
    }
    let event = Notice::fixture(fixture).naming(&[id]).build();

    let report = deliver(&moto, task_settings(), &[], event).await;

    let o = report.outcomes[0].clone();
    let failed = (Status::Failed, Code::NoCapacityElsewhere, false);
    assert_eq!((o.status, o.code, o.retryable), failed, "{o:?}");
    let state = seed.container_instance_state("ec2", &only, MARK).await;
    assert_eq!(state, ("ACTIVE".to_owned(), false), "left ACTIVE, unmarked");
    o
}

#[tokio::test]
async fn the_last_active_instance_of_a_cluster_without_managed_scaling_is_not_drained() {
    let o = the_only_instance("health-ec2-persistent-retirement.json", 1).await;

    let says = "last ACTIVE container instance of cluster ec2";
    assert!(
        o.reason.contains(says) && o.reason.contains("managed scaling"),
        "{}",
        o.reason
    );
}

/// Issue 25: idle is no exception. A scheduled RunTask job or a service scaling from 0 would
/// have nowhere to run from the drain (a day before AWS's date) on.
#[tokio::test]
async fn the_last_active_instance_running_nothing_is_left_active_and_the_reason_says_what_capacity_to_add(
) {
    let o = the_only_instance("health-ec2-instance-stop.json", 0).await;

    for part in [
        "register another container instance",
        "capacity provider with managed scaling",
        "AWS stops the instance",
    ] {
        assert!(o.reason.contains(part), "{} does not say {part}", o.reason);
    }
}

/// An Auto Scaling group of one instance (moto launches it); its instance id.
async fn group_of_one(moto: &MotoServer) -> String {
    let sdk = moto.sdk_config().await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let autoscaling = aws_sdk_autoscaling::Client::new(&sdk);
    ec2.create_launch_template()
        .launch_template_name("ecs-hosts")
        .launch_template_data(
            aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                .image_id("ami-12c6146b")
                .instance_type(aws_sdk_ec2::types::InstanceType::M5Large)
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("launch template: {e:?}"));
    autoscaling
        .create_auto_scaling_group()
        .auto_scaling_group_name("ecs-hosts")
        .launch_template(
            aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
                .launch_template_name("ecs-hosts")
                .build(),
        )
        .min_size(1)
        .max_size(3)
        .desired_capacity(1)
        .availability_zones("us-east-1a")
        .send()
        .await
        .unwrap_or_else(|e| panic!("auto scaling group: {e:?}"));
    group_instances(moto).await.1[0].clone()
}

/// The group's desired capacity and its instances.
async fn group_instances(moto: &MotoServer) -> (i32, Vec<String>) {
    let autoscaling = aws_sdk_autoscaling::Client::new(&moto.sdk_config().await);
    let out = autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names("ecs-hosts")
        .send()
        .await
        .unwrap_or_else(|e| panic!("describe group: {e:?}"));
    let group = &out.auto_scaling_groups()[0];
    (
        group.desired_capacity().unwrap_or_default(),
        group
            .instances()
            .iter()
            .filter_map(|i| i.instance_id().map(str::to_owned))
            .collect(),
    )
}

#[tokio::test]
async fn with_replacement_on_a_drained_instance_is_terminated_in_its_group_keeping_the_desired_capacity(
) {
    let moto = MotoServer::start();
    let seed = started(&moto).await;
    let group_host = group_of_one(&moto).await;
    seed.container_instance("ec2", &group_host).await;
    host(&moto, &seed, "ec2").await;
    let event = Notice::ec2("instance-retirement")
        .naming(&[group_host.as_str()])
        .build();
    let replace = Settings {
        replace_drained_instances: true,
        ..task_settings()
    };

    let drained = deliver(&moto, replace.clone(), &[], event.clone()).await;
    // The next look (a follow-up check or a redelivery) finds it drained and replaces it.
    let checked = deliver(&moto, replace, &[], event).await;

    assert_eq!(drained.outcomes[0].code, Code::Drained);
    let o = &checked.outcomes[0];
    assert_eq!(
        (o.status, o.code),
        (Status::AlreadyDone, Code::Verified),
        "{o:?}"
    );
    assert!(
        o.reason
            .contains("terminated in Auto Scaling group ecs-hosts"),
        "{}",
        o.reason
    );
    let (desired, instances) = group_instances(&moto).await;
    assert_eq!(desired, 1, "the desired capacity is kept");
    assert!(
        !instances.contains(&group_host),
        "{group_host} left the group: {instances:?}"
    );
    assert_eq!(instances.len(), 1, "the group launched a replacement");
}

#[tokio::test]
async fn with_replacement_off_a_drained_instance_waits_for_aws_and_nothing_is_terminated() {
    let moto = MotoServer::start();
    let seed = started(&moto).await;
    let group_host = group_of_one(&moto).await;
    seed.container_instance("ec2", &group_host).await;
    host(&moto, &seed, "ec2").await;
    let event = Notice::ec2("instance-stop")
        .naming(&[group_host.as_str()])
        .build();

    deliver(&moto, task_settings(), &[], event.clone()).await;
    let checked = deliver(&moto, task_settings(), &[], event).await;

    let o = &checked.outcomes[0];
    assert_eq!(
        (o.status, o.code),
        (Status::AlreadyDone, Code::Verified),
        "{o:?}"
    );
    assert!(o.reason.contains("waits for AWS"), "{}", o.reason);
    assert_eq!(group_instances(&moto).await, (1, vec![group_host]));
}

#[tokio::test]
async fn a_reboot_notice_drains_and_its_closed_update_reactivates_only_what_the_remediator_drained()
{
    let moto = MotoServer::start();
    let seed = started(&moto).await;
    let (ours_id, ours) = host(&moto, &seed, "ec2").await;
    let (operators_id, operators) = host(&moto, &seed, "ec2").await;
    host(&moto, &seed, "ec2").await;
    seed.set_container_instance_state("ec2", &operators, "DRAINING")
        .await;
    let both = [ours_id.as_str(), operators_id.as_str()];
    let notice = Notice::ec2("instance-reboot").naming(&both).build();
    let closed = Notice::ec2("instance-reboot-closed").naming(&both).build();

    let drained = deliver(&moto, task_settings(), &[], notice).await;

    assert_eq!(
        said(&drained),
        vec![
            (format!("instance {ours_id}"), Status::Acted, Code::Drained),
            (
                format!("instance {operators_id}"),
                Status::AlreadyDone,
                Code::AlreadyDraining
            ),
        ]
    );
    assert_eq!(
        seed.container_instance_state("ec2", &ours, MARK).await,
        ("DRAINING".to_owned(), true)
    );

    let over = deliver(&moto, task_settings(), &[], closed).await;

    assert_eq!(
        over.outcomes
            .iter()
            .map(|o| (o.status, o.code))
            .collect::<Vec<_>>(),
        vec![
            (Status::AlreadyDone, Code::Verified),
            (Status::AlreadyDone, Code::AlreadyHandled)
        ],
        "{:?}",
        over.outcomes
    );
    assert!(
        over.outcomes[0].reason.contains("ACTIVE again"),
        "{}",
        over.outcomes[0].reason
    );
    assert!(
        over.outcomes[1].reason.contains("already_draining"),
        "the operator's drain was never followed: {}",
        over.outcomes[1].reason
    );
    assert_eq!(
        seed.container_instance_state("ec2", &ours, MARK).await,
        ("ACTIVE".to_owned(), false),
        "reactivated and unmarked"
    );
    assert_eq!(
        seed.container_instance_state("ec2", &operators, MARK).await,
        ("DRAINING".to_owned(), false),
        "the operator's drain is left alone"
    );
}

#[tokio::test]
async fn a_closed_reboot_notice_of_an_instance_never_drained_changes_nothing() {
    let moto = MotoServer::start();
    let seed = started(&moto).await;
    let (id, operators) = host(&moto, &seed, "ec2").await;
    seed.set_container_instance_state("ec2", &operators, "DRAINING")
        .await;
    let closed = Notice::ec2("instance-reboot-closed").naming(&[id]).build();

    let report = deliver(&moto, task_settings(), &[], closed).await;

    let o = &report.outcomes[0];
    assert_eq!(
        (o.status, o.code),
        (Status::Skipped, Code::NotDrainedByRemediator),
        "{o:?}"
    );
    assert_eq!(
        seed.container_instance_state("ec2", &operators, MARK).await,
        ("DRAINING".to_owned(), false)
    );
}

#[tokio::test]
async fn a_notice_days_ahead_is_held_until_the_deadline_margin_and_an_hour_before_awss_date_and_drains_nothing_yet(
) {
    let moto = MotoServer::start();
    let seed = started(&moto).await;
    let (id, arn) = host(&moto, &seed, "ec2").await;
    host(&moto, &seed, "ec2").await;
    // The reboot window starts a week from now.
    let event = Notice::ec2("instance-reboot")
        .naming(&[id.as_str()])
        .starting_in(Duration::days(7))
        .build();
    let env = [(
        "SCHEDULE_ROLE_ARN",
        "arn:aws:iam::123456789012:role/retirement-scheduler",
    )];

    let report = deliver(&moto, task_settings(), &env, event).await;

    let o = &report.outcomes[0];
    assert_eq!(
        (o.status, o.code),
        (Status::Deferred, Code::Deferred),
        "{o:?}"
    );
    let timing = report.timing.clone().unwrap_or_default();
    assert!(timing.contains("drained 25h before AWS's date"), "{timing}");
    assert_eq!(
        seed.container_instance_state("ec2", &arn, MARK).await,
        ("ACTIVE".to_owned(), false),
        "nothing drained a week ahead"
    );
    let schedules = aws_sdk_scheduler::Client::new(&moto.sdk_config().await)
        .list_schedules()
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(schedules.schedules().len(), 1);
}

#[tokio::test]
async fn a_closed_reboot_notice_does_not_undo_a_drain_made_for_a_retirement_of_the_same_instance() {
    let moto = MotoServer::start();
    let seed = started(&moto).await;
    let (id, arn) = host(&moto, &seed, "ec2").await;
    host(&moto, &seed, "ec2").await;
    let retirement = Notice::ec2("instance-retirement")
        .naming(&[id.as_str()])
        .build();
    let reboot_over = Notice::ec2("instance-reboot-closed")
        .naming(&[id.as_str()])
        .build();

    let drained = deliver(&moto, task_settings(), &[], retirement).await;
    let over = deliver(&moto, task_settings(), &[], reboot_over).await;

    assert_eq!(drained.outcomes[0].code, Code::Drained);
    let o = &over.outcomes[0];
    assert_eq!(
        (o.status, o.code),
        (Status::Skipped, Code::NotDrainedByRemediator),
        "{o:?}"
    );
    assert_eq!(
        seed.container_instance_state("ec2", &arn, MARK).await,
        ("DRAINING".to_owned(), true),
        "still drained for the retirement"
    );
}

#[tokio::test]
async fn an_instance_tagged_to_be_skipped_is_left_alone_and_the_outcome_says_so() {
    let moto = MotoServer::start();
    let seed = started(&moto).await;
    let ec2 = aws_sdk_ec2::Client::new(&moto.sdk_config().await);
    let out = ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .min_count(1)
        .max_count(1)
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Instance)
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key("retirement-remediator/skip")
                        .value("true")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("run instances: {e:?}"));
    let id = out.instances()[0]
        .instance_id()
        .unwrap_or_default()
        .to_owned();
    let arn = seed.container_instance("ec2", &id).await;
    host(&moto, &seed, "ec2").await;
    let event = Notice::ec2("instance-retirement")
        .naming(&[id.as_str()])
        .build();

    let report = deliver(&moto, task_settings(), &[], event).await;

    let o = &report.outcomes[0];
    assert_eq!(
        (o.status, o.code),
        (Status::Skipped, Code::OptedOut),
        "{o:?}"
    );
    assert_eq!(
        seed.container_instance_state("ec2", &arn, MARK).await,
        ("ACTIVE".to_owned(), false)
    );
}

#[tokio::test]
async fn the_last_active_instance_is_drained_when_a_capacity_provider_scales_the_cluster_out() {
    let moto = MotoServer::start();
    let seed = started(&moto).await;
    let group = group_of_one(&moto).await;
    let (id, only) = host(&moto, &seed, "ec2").await;
    seed.ec2_task("ec2", "api", "ops-runbook").await;
    seed.ecs
        .create_capacity_provider()
        .name("ecs-hosts")
        .auto_scaling_group_provider(
            aws_sdk_ecs::types::AutoScalingGroupProvider::builder()
                .auto_scaling_group_arn(format!(
                    "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:00000000-0000-0000-0000-000000000000:autoScalingGroupName/ecs-hosts-{group}"
                ))
                .managed_scaling(
                    aws_sdk_ecs::types::ManagedScaling::builder()
                        .status(aws_sdk_ecs::types::ManagedScalingStatus::Enabled)
                        .target_capacity(100)
                        .build(),
                )
                .build()
                .unwrap_or_else(|e| panic!("{e}")),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("create capacity provider: {e:?}"));
    seed.ecs
        .put_cluster_capacity_providers()
        .cluster("ec2")
        .capacity_providers("ecs-hosts")
        .set_default_capacity_provider_strategy(Some(Vec::new()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put cluster capacity providers: {e:?}"));
    let event = Notice::ec2("persistent-retirement")
        .naming(&[id.as_str()])
        .build();

    let report = deliver(&moto, task_settings(), &[], event).await;

    let o = &report.outcomes[0];
    assert_eq!((o.status, o.code), (Status::Acted, Code::Drained), "{o:?}");
    assert_eq!(
        seed.container_instance_state("ec2", &only, MARK).await,
        ("DRAINING".to_owned(), true)
    );
}

/// EC2's answer to DescribeInstanceStatus: `instance` with a scheduled `system-reboot` that has
/// not happened yet (moto shows no scheduled events).
fn pending_reboot(instance: &str) -> String {
    format!(
        r#"<DescribeInstanceStatusResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>6e3f2a1b-0000-4000-8000-000000000002</requestId>
  <instanceStatusSet>
    <item>
      <instanceId>{instance}</instanceId>
      <availabilityZone>us-east-1a</availabilityZone>
      <eventsSet>
        <item>
          <instanceEventId>instance-event-0a1b2c3d4e5f60001</instanceEventId>
          <code>system-reboot</code>
          <description>scheduled reboot</description>
          <notBefore>2026-12-10T09:00:00.000Z</notBefore>
          <notAfter>2026-12-10T11:00:00.000Z</notAfter>
        </item>
      </eventsSet>
      <instanceState><code>16</code><name>running</name></instanceState>
      <systemStatus><status>ok</status></systemStatus>
      <instanceStatus><status>ok</status></instanceStatus>
    </item>
  </instanceStatusSet>
</DescribeInstanceStatusResponse>"#
    )
}

#[tokio::test]
async fn after_the_window_a_drained_instance_is_reactivated_only_once_ec2_shows_no_pending_reboot()
{
    let moto = MotoServer::start();
    let seed = started(&moto).await;
    let (id, arn) = host(&moto, &seed, "ec2").await;
    host(&moto, &seed, "ec2").await;
    // The window is one to two hours from now; the checks below run an hour after it.
    let now = remediator_testkit::clock::now();
    let event = Notice::ec2("instance-reboot")
        .naming(&[id.as_str()])
        .published(now)
        .starting_in(Duration::hours(1))
        .ending_in(Duration::hours(2))
        .build();
    let proxy = remediator_testkit::fault_proxy::FaultProxy::start(moto.endpoint()).await;
    let remediator = remediator_aws::remediator(
        &proxy.sdk_config(std::time::Duration::from_secs(10)).await,
        task_settings(),
    );
    let controls = controls(&moto, &[("LEDGER_TABLE", TABLE)]).await;
    let at = |t| handle_with(&remediator, &controls, invocation(event.clone()), t);

    let drained = at(now).await.unwrap_or_else(|e| panic!("{e}"));
    // The maintenance was rescheduled: EC2 still shows the reboot to come.
    proxy.inject(
        "DescribeInstanceStatus",
        remediator_testkit::fault_proxy::Fault::Answer(pending_reboot(&id)),
        1,
    );
    let later = now + chrono::Duration::hours(3);
    let still = at(later).await.unwrap_or_else(|e| panic!("{e}"));
    let state_then = seed.container_instance_state("ec2", &arn, MARK).await;
    let over = at(later).await.unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(drained.outcomes[0].code, Code::Drained);
    let o = &still.outcomes[0];
    assert_eq!(
        (o.status, o.code),
        (Status::Pending, Code::Verifying),
        "{o:?}"
    );
    assert!(
        o.reason.contains("still shows a scheduled system-reboot"),
        "{}",
        o.reason
    );
    assert_eq!(state_then, ("DRAINING".to_owned(), true));
    let o = &over.outcomes[0];
    assert_eq!(
        (o.status, o.code),
        (Status::AlreadyDone, Code::Verified),
        "{o:?}"
    );
    assert_eq!(
        seed.container_instance_state("ec2", &arn, MARK).await,
        ("ACTIVE".to_owned(), false)
    );
}
