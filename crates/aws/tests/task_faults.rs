//! Standalone-task states moto cannot produce on demand (a replacement that stops before it
//! runs, one that never gets healthy, a throttled RunTask), injected with aws-smithy-mocks under
//! the real SDK clients and the engine.

use std::time::Duration;

use aws_sdk_ec2::operation::describe_network_interfaces::DescribeNetworkInterfacesOutput;
use aws_sdk_ec2::types::{GroupIdentifier, NetworkInterface};
use aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionOutput;
use aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput;
use aws_sdk_ecs::operation::list_tasks::ListTasksOutput;
use aws_sdk_ecs::operation::run_task::RunTaskOutput;
use aws_sdk_ecs::operation::stop_task::StopTaskOutput;
use aws_sdk_ecs::types::{
    Attachment, ContainerDefinition, HealthCheck, HealthStatus, KeyValuePair, LaunchType, Task,
    TaskDefinition,
};
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use remediator_aws::{SdkCodeDeploy, SdkEcs};
use remediator_core::pipeline::run;
use remediator_core::{parse_value, Backoff, Outcome, Remediator, Settings, Status};
use serde_json::json;

const CLUSTER: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/jobs";
const OLD: &str = "arn:aws:ecs:us-east-1:123456789012:task/jobs/0ld0ld0ld0ld0ld0ld0ld0ld0ld0ld00";
const NEW: &str = "arn:aws:ecs:us-east-1:123456789012:task/jobs/5ee5ee5ee5ee5ee5ee5ee5ee5ee5ee50";
const TD: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/worker:3";

fn task(arn: &str, status: &str, health: HealthStatus, stopped_reason: Option<&str>) -> Task {
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
        .build()
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
    let event = json!({
        "source": "aws.health", "detail-type": "AWS Health Event", "time": "2026-11-20T09:00:00Z",
        "resources": [OLD],
        "detail": { "eventArn": "arn:aws:health:us-east-1::event/ECS/AWS_ECS_TASK_PATCHING_RETIREMENT/x",
                    "service": "ECS", "eventTypeCode": "AWS_ECS_TASK_PATCHING_RETIREMENT" }
    });
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
