//! Operator controls end to end against moto: maintenance windows deferring through EventBridge
//! Scheduler, and the SNS summary as an SQS subscriber receives it. The window decision runs on
//! a fixed clock; everything else is the real handler over real HTTP.
// The futures nest the driver, the engine and the SDK calls deeply.
#![recursion_limit = "256"]

use chrono::{DateTime, Duration, Timelike, Utc};
use remediator_core::testing::at;
use remediator_core::{Code, Status};
use remediator_lambda::{handle_with, HandlerError};
use remediator_testkit::events::{
    controls, invocation, invocation_of, remediator, said, settings, ECS_FUNCTION_ARN,
};
use remediator_testkit::notice::Notice;
use remediator_testkit::{MotoServer, Seed};
use serde_json::Value;

const SCHEDULER_ROLE: &str = "arn:aws:iam::123456789012:role/retirement-scheduler";

/// The notice of `prod|checkout` and `prod|payments`, published at `published`, AWS retiring
/// them from `retires`.
fn notice(published: DateTime<Utc>, retires: DateTime<Utc>) -> Notice {
    Notice::ecs().published(published).starting_at(retires)
}

async fn schedules(
    moto: &MotoServer,
) -> Vec<aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput> {
    let client = aws_sdk_scheduler::Client::new(&moto.sdk_config().await);
    let listed = client
        .list_schedules()
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListSchedules: {e:?}"));
    let mut out = Vec::new();
    for s in listed.schedules() {
        let name = s.name().unwrap_or_default();
        out.push(
            client
                .get_schedule()
                .name(name)
                .send()
                .await
                .unwrap_or_else(|e| panic!("GetSchedule {name}: {e:?}")),
        );
    }
    out
}

#[tokio::test]
async fn an_event_outside_the_windows_makes_one_schedule_at_the_next_window_with_the_original_event_and_a_redelivery_makes_none(
) {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.rolling_services("prod", &["checkout", "payments"])
        .await;
    let before = seed.primary_deployment("prod", "checkout").await;
    let controls = controls(
        &moto,
        &[
            (
                "MAINTENANCE_WINDOWS",
                "Sat,Sun 02:00-05:00 Asia/Tokyo; Sat 02:00-05:00 UTC",
            ),
            ("SCHEDULE_ROLE_ARN", SCHEDULER_ROLE),
        ],
    )
    .await;
    let remediator = remediator(&moto, settings()).await;
    // Wednesday noon UTC; AWS retires from the next Wednesday. Saturday 02:00 in Tokyo is
    // Friday 17:00 UTC, the earlier of the two windows.
    let now = at("2026-11-25T12:00:00Z");
    let event = notice(now - Duration::hours(1), at("2026-12-02T00:00:00Z")).build();

    let first = handle_with(&remediator, &controls, invocation(event.clone()), now)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let second = handle_with(&remediator, &controls, invocation(event.clone()), now)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    for report in [&first, &second] {
        assert_eq!(
            said(report),
            vec![
                (
                    "service prod/checkout".into(),
                    Status::Deferred,
                    Code::Deferred
                ),
                (
                    "service prod/payments".into(),
                    Status::Deferred,
                    Code::Deferred
                ),
            ]
        );
        assert!(report.outcomes[0]
            .reason
            .starts_with("deferred until 2026-11-27T17:00:00+00:00"));
    }
    assert!(
        second.outcomes[0].reason.contains("already existed"),
        "{}",
        second.outcomes[0].reason
    );
    let timing = first.timing.clone().unwrap_or_default();
    assert!(
        timing.contains("Sat,Sun 02:00-05:00 Asia/Tokyo"),
        "{timing}"
    );

    let made = schedules(&moto).await;
    assert_eq!(made.len(), 1, "exactly one schedule: {made:#?}");
    let schedule = &made[0];
    assert_eq!(
        schedule.schedule_expression(),
        Some("at(2026-11-27T17:00:00)")
    );
    assert_eq!(schedule.schedule_expression_timezone(), Some("UTC"));
    // Exactly at the window's start: a later run could fall past a short window's end.
    assert_eq!(
        schedule
            .flexible_time_window()
            .map(|w| w.mode().as_str().to_owned()),
        Some("OFF".to_owned())
    );
    let target = schedule.target().unwrap_or_else(|| panic!("no target"));
    assert_eq!(target.arn(), ECS_FUNCTION_ARN);
    assert_eq!(target.role_arn(), SCHEDULER_ROLE);
    let input: Value = serde_json::from_str(target.input().unwrap_or_default())
        .unwrap_or_else(|e| panic!("schedule input is not JSON: {e}"));
    assert_eq!(input, event, "the schedule carries the original event");
    // Nothing was touched in the meantime.
    assert_eq!(seed.primary_deployment("prod", "checkout").await, before);
}

#[tokio::test]
async fn an_event_whose_deadline_is_too_close_for_any_window_acts_at_once() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.rolling_services("prod", &["checkout", "payments"])
        .await;
    let before = seed.primary_deployment("prod", "checkout").await;
    // A daily one-hour window twelve hours away: now is outside it.
    let now = remediator_testkit::clock::now();
    let window = format!(
        "Daily {:02}:00-{:02}:00 UTC",
        (now.hour() + 12) % 24,
        (now.hour() + 13) % 24
    );
    let controls = controls(
        &moto,
        &[
            ("MAINTENANCE_WINDOWS", window.as_str()),
            ("SCHEDULE_ROLE_ARN", SCHEDULER_ROLE),
            ("DEADLINE_MARGIN", "24h"),
        ],
    )
    .await;
    let remediator = remediator(&moto, settings()).await;
    // Published now (after the services' deployments), retiring in six hours.
    let event = notice(now + Duration::seconds(1), now + Duration::hours(6)).build();

    let report = handle_with(&remediator, &controls, invocation(event), now)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(
        said(&report),
        vec![
            (
                "service prod/checkout".into(),
                Status::Acted,
                Code::ForcedNewDeployment
            ),
            (
                "service prod/payments".into(),
                Status::Acted,
                Code::ForcedNewDeployment
            ),
        ]
    );
    let timing = report.timing.clone().unwrap_or_default();
    assert!(
        timing.contains("less than the 24h margin away: acting now"),
        "{timing}"
    );
    assert_ne!(seed.primary_deployment("prod", "checkout").await, before);
    assert!(
        schedules(&moto).await.is_empty(),
        "no schedule when acting now"
    );
}

#[tokio::test]
async fn an_sqs_subscriber_of_the_topic_gets_one_chatbot_summary_per_handled_event() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.rolling_services("prod", &["checkout"]).await;
    let sdk = moto.sdk_config().await;
    let sns = aws_sdk_sns::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let topic = sns
        .create_topic()
        .name("retirements")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .topic_arn()
        .unwrap_or_default()
        .to_owned();
    let queue_url = sqs
        .create_queue()
        .queue_name("chat")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .queue_url()
        .unwrap_or_default()
        .to_owned();
    let queue_arn = "arn:aws:sqs:us-east-1:123456789012:chat";
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let controls = controls(&moto, &[("NOTIFICATION_TOPIC_ARN", topic.as_str())]).await;
    let remediator = remediator(&moto, settings()).await;

    let notice = notice(
        remediator_testkit::clock::now() + Duration::seconds(1),
        remediator_testkit::clock::now() + Duration::days(7),
    )
    .naming(&["prod|checkout", "prod|ghost"]);
    let event = notice.clone().build();
    handle_with(
        &remediator,
        &controls,
        invocation(event.clone()),
        remediator_testkit::clock::now(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    // A closed event is ignored: no message for it.
    let closed = notice.status("closed").build();
    handle_with(
        &remediator,
        &controls,
        invocation(closed),
        remediator_testkit::clock::now(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    let received = sqs
        .receive_message()
        .queue_url(&queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let messages = received.messages();
    assert_eq!(
        messages.len(),
        1,
        "one message per handled event: {messages:#?}"
    );
    let envelope: Value = serde_json::from_str(messages[0].body().unwrap_or_default())
        .unwrap_or_else(|e| panic!("SNS envelope: {e}"));
    let summary: Value = serde_json::from_str(envelope["Message"].as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("the default message is Chatbot JSON: {e}"));
    assert_eq!(summary["version"], "1.0");
    assert_eq!(summary["source"], "custom");
    assert_eq!(summary["content"]["textType"], "client-markdown");
    let title = summary["content"]["title"].as_str().unwrap_or_default();
    assert!(title.contains("1 remediated, 1 skipped"), "{title}");
    let description = summary["content"]["description"]
        .as_str()
        .unwrap_or_default();
    assert!(
        description.contains("`service prod/checkout` *acted* `forced_new_deployment`"),
        "{description}"
    );
    assert!(
        description.contains("`service prod/ghost` *skipped* `not_found`"),
        "{description}"
    );
    assert_eq!(
        envelope["Subject"].as_str().unwrap_or_default(),
        "Fargate retirement: 1 remediated, 1 skipped"
    );
}

#[tokio::test]
async fn an_eks_pod_notice_outside_the_windows_is_deferred_without_touching_the_cluster() {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    let controls = controls(
        &moto,
        &[
            ("MAINTENANCE_WINDOWS", "Sun 01:00-03:00 UTC"),
            ("SCHEDULE_ROLE_ARN", SCHEDULER_ROLE),
        ],
    )
    .await;
    // No cluster exists in moto: a connection attempt would end `gone`, not `deferred`.
    let connector = remediator_kube::EksConnector::new(&sdk, None);
    let event: Value = serde_json::from_slice(
        &std::fs::read(remediator_testkit::fixture_path(
            "eks-fargate-pod-scheduled-termination.json",
        ))
        .unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // Friday; EKS deletes the pod the next Wednesday 12:52Z; the window opens Sunday 01:00Z.
    let now = at("2021-06-25T00:00:00Z");
    let function = "arn:aws:lambda:us-east-1:123456789012:function:eks-fargate-pod";

    let pods = remediator_kube::PodRemediator::new(connector, &settings());

    let report = handle_with(
        &pods,
        &controls,
        invocation_of(event.clone(), function),
        now,
    )
    .await
    .unwrap_or_else(|e| panic!("a deferral is a success: {e}"));

    assert_eq!(
        said(&report),
        vec![(
            "pod my-cluster/default/my-deployment-5d8c9c5d4b-8jx7l".into(),
            Status::Deferred,
            Code::Deferred
        )]
    );
    let made = schedules(&moto).await;
    assert_eq!(made.len(), 1);
    assert_eq!(
        made[0].schedule_expression(),
        Some("at(2021-06-27T01:00:00)")
    );
    let target = made[0].target().unwrap_or_else(|| panic!("no target"));
    assert_eq!(target.arn(), function);
    let input: Value =
        serde_json::from_str(target.input().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(input, event);
}

#[tokio::test]
async fn a_schedule_that_cannot_be_made_fails_the_invocation_for_the_dead_letter_queue_and_touches_nothing(
) {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.rolling_services("prod", &["checkout", "payments"])
        .await;
    let before = seed.primary_deployment("prod", "checkout").await;
    let controls = controls(
        &moto,
        &[
            ("MAINTENANCE_WINDOWS", "Sat 02:00-05:00 UTC"),
            ("SCHEDULE_ROLE_ARN", SCHEDULER_ROLE),
            ("SCHEDULE_GROUP", "no-such-group"),
        ],
    )
    .await;
    let remediator = remediator(&moto, settings()).await;
    let now = at("2026-11-25T12:00:00Z");
    let event = notice(now - Duration::hours(1), at("2026-12-02T00:00:00Z")).build();

    let result = handle_with(&remediator, &controls, invocation(event), now).await;

    // The invocation fails, so Lambda retries it and then dead-letters it (alarmed).
    let Err(HandlerError::Retryable(message)) = result else {
        panic!("a refused schedule must fail the invocation: {result:?}");
    };
    assert!(message.contains("2 failed (2 retryable)"), "{message}");
    assert_eq!(seed.primary_deployment("prod", "checkout").await, before);
    assert!(schedules(&moto).await.is_empty());
}

/// EC2's answer to DescribeInstanceEventWindows: one window, open daily during `hours`
/// (a cron hour range), associated with cluster `prod` by its tag.
fn event_windows_answer(hours: &str) -> String {
    format!(
        r#"<DescribeInstanceEventWindowsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>6e3f2a1b-0000-4000-8000-000000000001</requestId>
  <instanceEventWindowSet>
    <item>
      <instanceEventWindowId>iew-0a1b2c3d4e5f60001</instanceEventWindowId>
      <name>fargate-patching</name>
      <cronExpression>* {hours} * * *</cronExpression>
      <associationTarget>
        <instanceIdSet/>
        <tagSet><item><key>aws:ecs:clusterArn</key><value>arn:aws:ecs:us-east-1:123456789012:cluster/prod</value></item></tagSet>
        <dedicatedHostIdSet/>
      </associationTarget>
      <state>active</state>
      <tagSet/>
    </item>
  </instanceEventWindowSet>
</DescribeInstanceEventWindowsResponse>"#
    )
}

#[tokio::test]
async fn with_aws_event_windows_enabled_the_deferral_waits_for_a_window_before_the_first_event_window_after_the_deadline(
) {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.rolling_services("prod", &["checkout", "payments"])
        .await;
    let before = seed.primary_deployment("prod", "checkout").await;
    seed.ecs
        .put_account_setting()
        .name(aws_sdk_ecs::types::SettingName::from("fargateEventWindows"))
        .value("enabled")
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutAccountSetting: {e:?}"));
    // A daily one-hour maintenance window twelve hours away. AWS's date is in 30 hours: with
    // the 24h margin no window fits before it, so without event windows the remediator acts
    // at once (the test above). But the cluster's event window opens only at hour now+40h
    // each day, after the date: AWS cannot retire before then, and the window fits.
    let now = remediator_testkit::clock::now();
    let window = format!(
        "Daily {:02}:00-{:02}:00 UTC",
        (now.hour() + 12) % 24,
        (now.hour() + 13) % 24
    );
    let opens = (now + Duration::hours(40)).hour();
    let proxy = remediator_testkit::fault_proxy::FaultProxy::start(moto.endpoint()).await;
    proxy.inject(
        "DescribeInstanceEventWindows",
        remediator_testkit::fault_proxy::Fault::Answer(event_windows_answer(&format!(
            "{opens}-{}",
            (opens + 1).min(23)
        ))),
        1,
    );
    let controls = controls(
        &moto,
        &[
            ("MAINTENANCE_WINDOWS", window.as_str()),
            ("SCHEDULE_ROLE_ARN", SCHEDULER_ROLE),
            ("DEADLINE_MARGIN", "24h"),
        ],
    )
    .await;
    let remediator = remediator_aws::remediator(
        &proxy.sdk_config(std::time::Duration::from_secs(10)).await,
        settings(),
    );
    let event = notice(now + Duration::seconds(1), now + Duration::hours(30)).build();

    let report = handle_with(&remediator, &controls, invocation(event), now)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(
        said(&report),
        vec![
            (
                "service prod/checkout".into(),
                Status::Deferred,
                Code::Deferred
            ),
            (
                "service prod/payments".into(),
                Status::Deferred,
                Code::Deferred
            ),
        ]
    );
    let timing = report.timing.clone().unwrap_or_default();
    assert!(
        timing.contains("fargateEventWindows is enabled") && timing.contains("fargate-patching"),
        "{timing}"
    );
    assert_eq!(proxy.seen("DescribeInstanceEventWindows"), 1);
    assert_eq!(seed.primary_deployment("prod", "checkout").await, before);
    assert_eq!(schedules(&moto).await.len(), 1);
}

#[tokio::test]
async fn with_aws_event_windows_a_remediation_after_the_notices_date_is_still_followed_up_until_the_later_deadline(
) {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.rolling_services("prod", &["checkout", "payments"])
        .await;
    seed.ecs
        .put_account_setting()
        .name(aws_sdk_ecs::types::SettingName::from("fargateEventWindows"))
        .value("enabled")
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutAccountSetting: {e:?}"));
    // AWS's date is in 30 hours, but the cluster's event window opens only at hour now+40h: the
    // daily maintenance window at now+32h (after the date) is where the remediator acts.
    let now = remediator_testkit::clock::now();
    let window = format!(
        "Daily {:02}:00-{:02}:00 UTC",
        (now + Duration::hours(32)).hour(),
        (now + Duration::hours(33)).hour()
    );
    let opens = (now + Duration::hours(40)).hour();
    remediator_testkit::events::ledger_table(&moto, "retirement-ledger").await;
    let proxy = remediator_testkit::fault_proxy::FaultProxy::start(moto.endpoint()).await;
    proxy.inject(
        "DescribeInstanceEventWindows",
        remediator_testkit::fault_proxy::Fault::Answer(event_windows_answer(&format!(
            "{opens}-{}",
            (opens + 1).min(23)
        ))),
        2,
    );
    let controls = controls(
        &moto,
        &[
            ("MAINTENANCE_WINDOWS", window.as_str()),
            ("SCHEDULE_ROLE_ARN", SCHEDULER_ROLE),
            ("DEADLINE_MARGIN", "1h"),
            ("LEDGER_TABLE", "retirement-ledger"),
        ],
    )
    .await;
    let remediator = remediator_aws::remediator(
        &proxy.sdk_config(std::time::Duration::from_secs(10)).await,
        settings(),
    );
    let starts = now + Duration::hours(30);
    let event = notice(now + Duration::seconds(1), starts).build();

    let deferred = handle_with(&remediator, &controls, invocation(event.clone()), now)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The schedule fires inside the window, two hours after the notice's date.
    let in_window = now + Duration::hours(32) + Duration::minutes(1);
    let in_window = in_window - Duration::seconds(i64::from(in_window.second()));
    let acted = handle_with(&remediator, &controls, invocation(event), in_window)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(deferred.outcomes[0].status, Status::Deferred);
    assert!(
        deferred.deadline.is_some_and(|d| d > starts),
        "the report's deadline is the event window's: {:?}",
        deferred.deadline
    );
    assert_eq!(
        acted.outcomes.iter().map(|o| o.status).collect::<Vec<_>>(),
        vec![Status::Acted, Status::Acted],
        "{:?}",
        acted.outcomes
    );
    assert!(
        acted.follow_up.is_some(),
        "a check follows what was done after the notice's date: {acted:?}"
    );
}
