//! Standalone-task states moto cannot produce on demand (a replacement that stops before it
//! runs, one that never gets healthy, a throttled RunTask), injected with aws-smithy-mocks under
//! the real SDK clients and the engine.
// The futures nest the driver, the engine and the SDK calls deeply.
#![recursion_limit = "256"]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_ec2::operation::describe_network_interfaces::DescribeNetworkInterfacesOutput;
use aws_sdk_ec2::types::{GroupIdentifier, NetworkInterface};
use aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionOutput;
use aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput;
use aws_sdk_ecs::operation::list_tasks::ListTasksOutput;
use aws_sdk_ecs::operation::run_task::RunTaskOutput;
use aws_sdk_ecs::operation::stop_task::StopTaskOutput;
use aws_sdk_ecs::types::builders::TaskBuilder;
use aws_sdk_ecs::types::{
    Attachment, ContainerDefinition, HealthCheck, HealthStatus, KeyValuePair, LaunchType, Tag,
    Task, TaskDefinition,
};
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use remediator_aws::{SdkCodeDeploy, SdkEcs};
use remediator_core::pipeline::run;
use remediator_core::{parse_value, Backoff, Outcome, Remediator, Settings, Status};
use remediator_testkit::notice::Notice;

const CLUSTER: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/jobs";
const OLD: &str = "arn:aws:ecs:us-east-1:123456789012:task/jobs/0ld0ld0ld0ld0ld0ld0ld0ld0ld0ld00";
const NEW: &str = "arn:aws:ecs:us-east-1:123456789012:task/jobs/5ee5ee5ee5ee5ee5ee5ee5ee5ee5ee50";
const TD: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/worker:3";

fn task(arn: &str, status: &str, health: HealthStatus, stopped_reason: Option<&str>) -> Task {
    task_builder(arn, status, health, stopped_reason).build()
}

fn task_builder(
    arn: &str,
    status: &str,
    health: HealthStatus,
    stopped_reason: Option<&str>,
) -> TaskBuilder {
    Task::builder()
        .task_arn(arn)
        .cluster_arn(CLUSTER)
        .task_definition_arn(TD)
        .last_status(status)
        .desired_status(if status == "STOPPED" {
            "STOPPED"
        } else {
            "RUNNING"
        })
        .launch_type(LaunchType::Fargate)
        .health_status(health)
        .set_stopped_reason(stopped_reason.map(str::to_owned))
        .attachments(
            Attachment::builder()
                .r#type("ElasticNetworkInterface")
                .details(
                    KeyValuePair::builder()
                        .name("subnetId")
                        .value("subnet-1")
                        .build(),
                )
                .details(
                    KeyValuePair::builder()
                        .name("networkInterfaceId")
                        .value("eni-1")
                        .build(),
                )
                .build(),
        )
}

fn describe(arn: &'static str, answer: Task) -> Rule {
    mock!(aws_sdk_ecs::Client::describe_tasks)
        .match_requests(move |r| r.tasks().iter().any(|t| arn.ends_with(t.as_str())))
        .then_output(move || DescribeTasksOutput::builder().tasks(answer.clone()).build())
}

fn task_definition(health_checks: bool) -> Rule {
    mock!(aws_sdk_ecs::Client::describe_task_definition).then_output(move || {
        let mut container = ContainerDefinition::builder().name("app");
        if health_checks {
            container = container.health_check(
                HealthCheck::builder()
                    .command("CMD-SHELL")
                    .command("true")
                    .build()
                    .expect("hc"),
            );
        }
        DescribeTaskDefinitionOutput::builder()
            .task_definition(
                TaskDefinition::builder()
                    .container_definitions(container.build())
                    .build(),
            )
            .build()
    })
}

fn no_replacement_yet() -> Rule {
    mock!(aws_sdk_ecs::Client::list_tasks)
        .then_output(|| ListTasksOutput::builder().task_arns(OLD).build())
}

fn ec2() -> aws_sdk_ec2::Client {
    let eni = mock!(aws_sdk_ec2::Client::describe_network_interfaces).then_output(|| {
        DescribeNetworkInterfacesOutput::builder()
            .network_interfaces(
                NetworkInterface::builder()
                    .groups(GroupIdentifier::builder().group_id("sg-1").build())
                    .build(),
            )
            .build()
    });
    mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&eni])
}

/// A mocked ECS client; `DescribeClusters` (opt-out tags) answers "no tags".
fn ecs(rules: &[&Rule]) -> aws_sdk_ecs::Client {
    let clusters = no_cluster_tags();
    let rules: Vec<&Rule> = rules.iter().copied().chain([&clusters]).collect();
    mock_client!(aws_sdk_ecs, RuleMode::MatchAny, rules, |c| c.retry_config(
        aws_sdk_ecs::config::retry::RetryConfig::standard()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(1))
    ))
}

async fn outcome(ecs: aws_sdk_ecs::Client) -> Outcome {
    let none: [&Rule; 0] = [];
    let settings = Settings {
        backoff: Backoff {
            rounds: 1,
            initial: Duration::from_millis(1),
            max: Duration::from_millis(2),
        },
        task_poll: Duration::from_millis(10),
        replacement_wait: Duration::from_millis(300),
        ..Settings::default()
    };
    let event = Notice::ecs().naming(&[OLD]).build();
    let remediator = Remediator::new(
        SdkEcs::with_ec2(ecs, ec2()),
        SdkCodeDeploy::new(mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, none)),
        settings,
    );
    let report = run(&remediator, parse_value(event), None).await;
    assert_eq!(report.outcomes.len(), 1, "{report:#?}");
    report.outcomes[0].clone()
}

fn stop() -> Rule {
    mock!(aws_sdk_ecs::Client::stop_task).then_output(|| StopTaskOutput::builder().build())
}

#[tokio::test]
async fn a_replacement_that_stops_before_running_leaves_the_original_running_and_says_why() {
    let old = describe(
        OLD,
        task(OLD, "RUNNING", HealthStatus::from("UNKNOWN"), None),
    );
    let new = describe(
        NEW,
        task(
            NEW,
            "STOPPED",
            HealthStatus::from("UNKNOWN"),
            Some("CannotPullContainerError: pull access denied"),
        ),
    );
    let run = mock!(aws_sdk_ecs::Client::run_task).then_output(|| {
        RunTaskOutput::builder()
            .tasks(task(
                NEW,
                "PROVISIONING",
                HealthStatus::from("UNKNOWN"),
                None,
            ))
            .build()
    });
    let stop = stop();
    let (td, list) = (task_definition(false), no_replacement_yet());

    let o = outcome(ecs(&[&old, &new, &run, &stop, &td, &list])).await;

    assert_eq!(
        (o.status, o.code.as_str(), o.retryable),
        (Status::Failed, "replacement_failed", false),
        "{o:?}"
    );
    assert!(
        o.reason.contains("CannotPullContainerError"),
        "{}",
        o.reason
    );
    assert_eq!(stop.num_calls(), 0, "the original is not stopped");
    assert_eq!(run.num_calls(), 1);
}

#[tokio::test]
async fn a_replacement_that_never_gets_healthy_is_pending_and_retryable_with_the_original_kept() {
    let old = describe(OLD, task(OLD, "RUNNING", HealthStatus::Healthy, None));
    let new = describe(
        NEW,
        task(NEW, "RUNNING", HealthStatus::from("UNKNOWN"), None),
    );
    let run = mock!(aws_sdk_ecs::Client::run_task).then_output(|| {
        RunTaskOutput::builder()
            .tasks(task(NEW, "PENDING", HealthStatus::from("UNKNOWN"), None))
            .build()
    });
    let stop = stop();
    let (td, list) = (task_definition(true), no_replacement_yet());

    let o = outcome(ecs(&[&old, &new, &run, &stop, &td, &list])).await;

    assert_eq!(
        (o.status, o.code.as_str(), o.retryable),
        (Status::Failed, "replacement_pending", true),
        "{o:?}"
    );
    assert_eq!(stop.num_calls(), 0);
}

#[tokio::test]
async fn a_throttled_run_task_is_retried_and_the_original_stopped_once_the_replacement_runs() {
    let old = describe(
        OLD,
        task(OLD, "RUNNING", HealthStatus::from("UNKNOWN"), None),
    );
    let new = describe(
        NEW,
        task(NEW, "RUNNING", HealthStatus::from("UNKNOWN"), None),
    );
    let run = mock!(aws_sdk_ecs::Client::run_task)
        .sequence()
        .http_status(
            400,
            Some(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into()),
        )
        .output(|| {
            RunTaskOutput::builder()
                .tasks(task(NEW, "PENDING", HealthStatus::from("UNKNOWN"), None))
                .build()
        })
        .build();
    let stop = stop();
    let (td, list) = (task_definition(false), no_replacement_yet());

    let o = outcome(ecs(&[&old, &new, &run, &stop, &td, &list])).await;

    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Acted, "relaunched"),
        "{o:?}"
    );
    assert_eq!(run.num_calls(), 2);
    assert_eq!(stop.num_calls(), 1);
}

fn no_cluster_tags() -> Rule {
    mock!(aws_sdk_ecs::Client::describe_clusters).then_output(|| {
        aws_sdk_ecs::operation::describe_clusters::DescribeClustersOutput::builder().build()
    })
}

const MARKER: &str = "retirement-remediator/replaces";

/// The id of [`OLD`], the value a replacement's marker carries.
fn old_id() -> &'static str {
    OLD.rsplit('/').next().unwrap_or_default()
}

/// A task definition of the given containers: `(name, essential, health check)`.
fn task_definition_of(containers: &'static [(&'static str, Option<bool>, bool)]) -> Rule {
    mock!(aws_sdk_ecs::Client::describe_task_definition).then_output(move || {
        let mut td = TaskDefinition::builder();
        for (name, essential, checked) in containers {
            let mut c = ContainerDefinition::builder()
                .name(*name)
                .set_essential(*essential);
            if *checked {
                c = c.health_check(
                    HealthCheck::builder()
                        .command("CMD-SHELL")
                        .command("true")
                        .build()
                        .expect("hc"),
                );
            }
            td = td.container_definitions(c.build());
        }
        DescribeTaskDefinitionOutput::builder()
            .task_definition(td.build())
            .build()
    })
}

/// Relaunches [`OLD`] whose replacement runs with health `UNKNOWN` (as ECS reports a task whose
/// essential containers have no health check), under the given task definition.
async fn relaunch_with_unknown_health(td: Rule) -> (Outcome, usize) {
    let old = describe(
        OLD,
        task(OLD, "RUNNING", HealthStatus::from("UNKNOWN"), None),
    );
    let new = describe(
        NEW,
        task(NEW, "RUNNING", HealthStatus::from("UNKNOWN"), None),
    );
    let run = mock!(aws_sdk_ecs::Client::run_task).then_output(|| {
        RunTaskOutput::builder()
            .tasks(task(NEW, "PENDING", HealthStatus::from("UNKNOWN"), None))
            .build()
    });
    let stop = stop();
    let list = no_replacement_yet();
    let o = outcome(ecs(&[&old, &new, &run, &stop, &td, &list])).await;
    (o, stop.num_calls())
}

#[tokio::test]
async fn a_health_check_only_on_a_non_essential_sidecar_does_not_hold_the_relaunch() {
    let td = task_definition_of(&[
        ("app", Some(true), false),
        ("log-router", Some(false), true),
    ]);

    let (o, stops) = relaunch_with_unknown_health(td).await;

    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Acted, "relaunched"),
        "ECS computes health from essential containers only: this task stays UNKNOWN: {o:?}"
    );
    assert_eq!(stops, 1);
}

#[tokio::test]
async fn a_health_check_on_a_container_that_does_not_say_essential_is_waited_for() {
    // `essential` defaults to true when the task definition leaves it out.
    let td = task_definition_of(&[("app", None, true)]);

    let (o, stops) = relaunch_with_unknown_health(td).await;

    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Failed, "replacement_pending"),
        "{o:?}"
    );
    assert_eq!(stops, 0);
}

/// Relaunches [`OLD`] carrying `user` user tags (and `aws` tags of AWS's own); returns the
/// outcome, the tags and managed-tags flag RunTask was called with, and how many `ListTasks`
/// calls the search for an existing replacement made.
async fn relaunch_with_tags(user: usize, aws: usize) -> (Outcome, Vec<Tag>, Option<bool>, usize) {
    let mut original = task_builder(OLD, "RUNNING", HealthStatus::from("UNKNOWN"), None);
    for i in 0..user {
        original = original.tags(
            Tag::builder()
                .key(format!("user-{i:02}"))
                .value("v")
                .build(),
        );
    }
    for i in 0..aws {
        original = original.tags(
            Tag::builder()
                .key(format!("aws:ecs:managed-{i}"))
                .value("v")
                .build(),
        );
    }
    let old = describe(OLD, original.build());
    let new = describe(
        NEW,
        task(NEW, "RUNNING", HealthStatus::from("UNKNOWN"), None),
    );
    let sent = Arc::new(Mutex::new(None));
    let seen = Arc::clone(&sent);
    let run = mock!(aws_sdk_ecs::Client::run_task)
        .match_requests(move |r| {
            *seen.lock().unwrap() = Some((r.tags().to_vec(), r.enable_ecs_managed_tags()));
            true
        })
        .then_output(|| {
            RunTaskOutput::builder()
                .tasks(task(NEW, "PENDING", HealthStatus::from("UNKNOWN"), None))
                .build()
        });
    let stop = stop();
    let (td, list) = (task_definition(false), no_replacement_yet());

    let o = outcome(ecs(&[&old, &new, &run, &stop, &td, &list])).await;

    let (tags, managed) = sent.lock().unwrap().take().expect("RunTask was called");
    (o, tags, managed, list.num_calls())
}

fn has_marker(tags: &[Tag]) -> bool {
    tags.iter().any(|t| t.key() == Some(MARKER))
}

#[tokio::test]
async fn a_task_with_fifty_user_tags_is_relaunched_without_a_fifty_first() {
    let (o, tags, managed, lists) = relaunch_with_tags(50, 2).await;

    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Acted, "relaunched"),
        "{o:?}"
    );
    assert_eq!(tags.len(), 50, "RunTask rejects a 51st user tag: {tags:?}");
    assert!(!has_marker(&tags), "no room for the marker: {tags:?}");
    assert_eq!(
        managed,
        Some(true),
        "AWS's own tags come back as managed tags"
    );
    assert_eq!(
        lists, 0,
        "a replacement without the marker cannot be found by it: no search"
    );
    assert!(
        o.reason.contains("50"),
        "the outcome says why: {}",
        o.reason
    );
}

#[tokio::test]
async fn a_task_with_forty_nine_user_tags_still_gets_the_marker_and_aws_tags_do_not_count() {
    let (o, tags, _, _) = relaunch_with_tags(49, 3).await;

    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Acted, "relaunched"),
        "{o:?}"
    );
    assert_eq!(tags.len(), 50, "{tags:?}");
    assert!(
        tags.iter()
            .any(|t| t.key() == Some(MARKER) && t.value() == Some(old_id())),
        "{tags:?}"
    );
}

/// A cluster where `pages` pages of 100 RUNNING tasks answer `ListTasks`, [`OLD`] first; the
/// replacement [`NEW`] (tagged with the marker) is the last task of page `replacement_page`,
/// if any; every task was started with `started_by`. Returns the outcome, the number of `ListTasks` calls, of `DescribeTasks` calls that
/// looked through listed tasks, and the filters the listing used (`startedBy`, `family`).
async fn scan(
    pages: usize,
    replacement_page: Option<usize>,
    started_by: Option<&'static str>,
) -> (Outcome, usize, usize, Vec<(Option<String>, Option<String>)>) {
    let arn_at = move |page: usize, i: usize| -> String {
        if page == 0 && i == 0 {
            OLD.to_owned()
        } else if Some(page) == replacement_page && i == 99 {
            NEW.to_owned()
        } else {
            format!("arn:aws:ecs:us-east-1:123456789012:task/jobs/{page:04}{i:028}")
        }
    };
    let filters = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&filters);
    let list = mock!(aws_sdk_ecs::Client::list_tasks)
        .match_requests(move |r| {
            seen.lock().unwrap().push((
                r.started_by().map(str::to_owned),
                r.family().map(str::to_owned),
            ));
            true
        })
        .then_compute_output(move |r| {
            let page: usize = r
                .next_token()
                .and_then(|t| t.strip_prefix('p'))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            ListTasksOutput::builder()
                .set_task_arns(Some((0..100).map(|i| arn_at(page, i)).collect()))
                .set_next_token((page + 1 < pages).then(|| format!("p{}", page + 1)))
                .build()
        });
    // Tasks looked at in bulk: the search for a replacement.
    let many = mock!(aws_sdk_ecs::Client::describe_tasks)
        .match_requests(|r| r.tasks().len() > 1)
        .then_compute_output(move |r| {
            let tasks = r.tasks().iter().map(|arn| {
                let mut t = task_builder(arn, "RUNNING", HealthStatus::from("UNKNOWN"), None)
                    .set_started_by(started_by.map(str::to_owned));
                if arn == NEW {
                    t = t.tags(Tag::builder().key(MARKER).value(old_id()).build());
                }
                t.build()
            });
            DescribeTasksOutput::builder()
                .set_tasks(Some(tasks.collect()))
                .build()
        });
    let old = describe(
        OLD,
        task_builder(OLD, "RUNNING", HealthStatus::from("UNKNOWN"), None)
            .set_started_by(started_by.map(str::to_owned))
            .build(),
    );
    let new = describe(
        NEW,
        task(NEW, "RUNNING", HealthStatus::from("UNKNOWN"), None),
    );
    let run = mock!(aws_sdk_ecs::Client::run_task).then_output(|| {
        RunTaskOutput::builder()
            .tasks(task(NEW, "PENDING", HealthStatus::from("UNKNOWN"), None))
            .build()
    });
    let stop = stop();
    let td = task_definition(false);

    let o = outcome(ecs(&[&many, &old, &new, &run, &stop, &td, &list])).await;

    let filters = filters.lock().unwrap().clone();
    (o, list.num_calls(), many.num_calls(), filters)
}

#[tokio::test]
async fn the_search_for_a_replacement_stops_at_the_first_match_and_lists_by_started_by() {
    let (o, lists, describes, filters) = scan(10, Some(1), Some("ops")).await;

    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Acted, "relaunched"),
        "{o:?}"
    );
    assert_eq!(
        o.deployment_after.as_deref(),
        NEW.rsplit('/').next(),
        "the replacement found is kept"
    );
    assert_eq!(
        (lists, describes),
        (2, 2),
        "two pages of 100 looked at, not all ten"
    );
    assert_eq!(
        filters[0],
        (Some("ops".to_owned()), None),
        "tasks started by the same startedBy (ECS takes it as the only filter)"
    );
}

#[tokio::test]
async fn the_search_for_a_replacement_is_bounded_however_many_tasks_run() {
    let (o, lists, describes, _) = scan(10, None, Some("ops")).await;

    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Acted, "relaunched"),
        "{o:?}"
    );
    assert!(
        lists <= 3 && describes <= 3,
        "at most 300 tasks looked at, not 1,000: {lists} ListTasks, {describes} DescribeTasks"
    );
}

#[tokio::test]
async fn without_a_started_by_the_search_looks_at_running_tasks_of_the_family() {
    let (o, lists, describes, filters) = scan(10, Some(0), None).await;

    assert_eq!(
        (o.status, o.code.as_str(), o.deployment_after.as_deref()),
        (Status::Acted, "relaunched", NEW.rsplit('/').next()),
        "{o:?}"
    );
    assert_eq!((lists, describes), (1, 1));
    assert_eq!(filters[0], (None, Some("worker".to_owned())));
}
