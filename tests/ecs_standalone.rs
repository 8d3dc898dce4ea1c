//! End to end: standalone tasks relaunched with the same launch parameters, through the real
//! handler and SDK clients, against moto server (tasks pinned in their status).
// The futures nest the driver, the engine and the SDK calls deeply.
#![recursion_limit = "256"]

use aws_sdk_ecs::types::{DesiredStatus, Task};
use remediator_core::{Report, Settings, Status};
use remediator_testkit::events::{only, task_settings};
use remediator_testkit::notice::Notice;
use remediator_testkit::{MotoServer, Seed};
use serde_json::Value;

/// A notice naming standalone tasks by ARN.
const TASKS: &str = "health-ecs-standalone-task.json";

/// The report of `event`, with replacements looked at every 50 ms.
async fn run(moto: &MotoServer, event: Value) -> Report {
    remediator_testkit::events::run(moto, task_settings(), event).await
}

fn tags(task: &Task) -> Vec<(String, String)> {
    let mut t: Vec<(String, String)> = task
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_owned(),
                t.value().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    t.sort();
    t
}

async fn started(moto: &MotoServer) -> Seed {
    moto.pin_task_status();
    let seed = Seed::new(moto).await;
    seed.cluster("jobs").await;
    seed
}

#[tokio::test]
async fn a_standalone_task_is_relaunched_with_the_same_parameters_then_stopped_and_only_once() {
    let moto = MotoServer::start();
    let seed = started(&moto).await;
    let original = seed
        .standalone_task("jobs", "payments-worker", "ops-runbook")
        .await;
    let event = Notice::fixture(TASKS)
        .naming(std::slice::from_ref(&original.arn))
        .build();

    let first = run(&moto, event.clone()).await;

    let o = only(&first);
    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Acted, "relaunched"),
        "{o:?}"
    );
    let running = seed.tasks("jobs", DesiredStatus::Running).await;
    assert_eq!(running.len(), 1, "exactly one task runs: the replacement");
    let new = &running[0];
    assert_ne!(new.task_arn(), Some(original.arn.as_str()));
    assert_eq!(
        o.deployment_after.as_deref(),
        new.task_arn().and_then(|a| a.rsplit('/').next())
    );
    assert_eq!(new.last_status(), Some("RUNNING"));
    assert_eq!(
        new.task_definition_arn(),
        Some(original.task_definition.as_str())
    );
    assert_eq!(new.group(), Some("workers"));
    assert_eq!(new.started_by(), Some("ops-runbook"));
    assert_eq!(new.platform_version(), Some("1.4.0"));
    let subnet = new
        .attachments()
        .iter()
        .flat_map(|a| a.details())
        .find(|d| d.name() == Some("subnetId"))
        .and_then(|d| d.value());
    assert_eq!(subnet, Some(original.network.subnets[0].as_str()));
    let overrides = new.overrides().expect("overrides");
    let container = &overrides.container_overrides()[0];
    assert_eq!(container.name(), Some("app"));
    assert_eq!(container.command(), ["worker", "--queue=payments"]);
    assert_eq!(container.environment()[0].name(), Some("MODE"));
    assert_eq!(container.environment()[0].value(), Some("drain-safe"));
    assert_eq!(
        tags(new),
        vec![
            ("cost-center".into(), "cc-42".into()),
            ("retirement-remediator/replaces".into(), original.id.clone()),
            ("team".into(), "payments".into()),
        ]
    );
    let stopped = seed.tasks("jobs", DesiredStatus::Stopped).await;
    let old = stopped
        .iter()
        .find(|t| t.task_arn() == Some(original.arn.as_str()))
        .expect("the original is stopped");
    let reason = old.stopped_reason().unwrap_or_default();
    assert!(reason.contains("ahead of a Fargate retirement"), "{reason}");

    let second = run(&moto, event).await;

    let o = only(&second);
    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::AlreadyDone, "already_replaced"),
        "{o:?}"
    );
    assert_eq!(
        seed.tasks("jobs", DesiredStatus::Running).await.len(),
        1,
        "nothing new started"
    );
}

#[tokio::test]
async fn a_retry_after_the_replacement_started_finishes_the_job_without_a_second_replacement() {
    let moto = MotoServer::start();
    let seed = started(&moto).await;
    let original = seed
        .standalone_task("jobs", "payments-worker", "ops-runbook")
        .await;
    // A replacement from an earlier attempt that stopped before retiring the original: launched,
    // as every replacement is, with the original's startedBy and the marker.
    let earlier = seed
        .ecs
        .run_task()
        .cluster("jobs")
        .task_definition(&original.task_definition)
        .launch_type(aws_sdk_ecs::types::LaunchType::Fargate)
        .started_by("ops-runbook")
        .network_configuration(
            aws_sdk_ecs::types::NetworkConfiguration::builder()
                .awsvpc_configuration(
                    aws_sdk_ecs::types::AwsVpcConfiguration::builder()
                        .subnets(&original.network.subnets[0])
                        .security_groups(&original.network.security_group)
                        .build()
                        .expect("awsvpc"),
                )
                .build(),
        )
        .tags(
            aws_sdk_ecs::types::Tag::builder()
                .key("retirement-remediator/replaces")
                .value(&original.id)
                .build(),
        )
        .send()
        .await
        .expect("earlier replacement");
    let earlier_arn = earlier.tasks()[0].task_arn().unwrap_or_default().to_owned();

    let report = run(
        &moto,
        Notice::fixture(TASKS)
            .naming(std::slice::from_ref(&original.arn))
            .build(),
    )
    .await;

    let o = only(&report);
    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Acted, "relaunched"),
        "{o:?}"
    );
    let running = seed.tasks("jobs", DesiredStatus::Running).await;
    assert_eq!(running.len(), 1, "{running:?}");
    assert_eq!(
        running[0].task_arn(),
        Some(earlier_arn.as_str()),
        "the earlier replacement is kept"
    );
}

#[tokio::test]
async fn tasks_owned_by_step_functions_or_batch_are_not_relaunched() {
    let moto = MotoServer::start();
    let seed = started(&moto).await;
    let by_sfn = seed
        .standalone_task("jobs", "etl", "AWS Step Functions")
        .await;
    seed.cluster("AWSBatch-nightly-ce-0f1e2d3c").await;
    let by_batch = seed
        .standalone_task("AWSBatch-nightly-ce-0f1e2d3c", "nightly", "batch-job-7")
        .await;

    let report = run(
        &moto,
        Notice::fixture(TASKS)
            .naming(&[by_sfn.arn.clone(), by_batch.arn.clone()])
            .build(),
    )
    .await;

    assert_eq!(report.outcomes.len(), 2, "{report:#?}");
    for (o, owner) in report
        .outcomes
        .iter()
        .zip(["AWS Step Functions", "AWS Batch"])
    {
        assert_eq!(
            (o.status, o.code.as_str()),
            (Status::Skipped, "owned_by_orchestrator"),
            "{o:?}"
        );
        assert!(o.reason.contains(owner), "{}", o.reason);
    }
    assert_eq!(
        seed.tasks("jobs", DesiredStatus::Running).await.len(),
        1,
        "nothing started"
    );
}

#[tokio::test]
async fn a_task_of_a_service_is_remediated_as_its_service_and_a_gone_task_is_reported() {
    let moto = MotoServer::start();
    let seed = started(&moto).await;
    seed.rolling_services("jobs", &["api"]).await;
    let before = seed.primary_deployment("jobs", "api").await;
    let service_task = seed
        .standalone_task("jobs", "api-task", "ecs-svc/123")
        .await;
    // Make it look like the service's task: ECS sets `group` to `service:NAME`.
    let grouped = seed
        .ecs
        .run_task()
        .cluster("jobs")
        .task_definition(&service_task.task_definition)
        .launch_type(aws_sdk_ecs::types::LaunchType::Fargate)
        .group("service:api")
        .network_configuration(
            aws_sdk_ecs::types::NetworkConfiguration::builder()
                .awsvpc_configuration(
                    aws_sdk_ecs::types::AwsVpcConfiguration::builder()
                        .subnets(&service_task.network.subnets[0])
                        .security_groups(&service_task.network.security_group)
                        .build()
                        .expect("awsvpc"),
                )
                .build(),
        )
        .count(2)
        .send()
        .await
        .expect("service-like tasks");
    let grouped: Vec<String> = grouped
        .tasks()
        .iter()
        .map(|t| t.task_arn().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(grouped.len(), 2);
    let gone =
        "arn:aws:ecs:us-east-1:123456789012:task/jobs/00000000000000000000000000000000".to_owned();

    let report = run(
        &moto,
        Notice::fixture(TASKS)
            .naming(&[grouped[0].clone(), gone, grouped[1].clone()])
            .build(),
    )
    .await;

    // Two tasks of one service that the notice does not name: one deployment, shared.
    let second_task = &report.outcomes[2];
    assert_eq!(second_task.code, "forced_new_deployment", "{second_task:?}");
    assert!(
        second_task
            .reason
            .starts_with("task belongs to service jobs/api"),
        "{}",
        second_task.reason
    );
    assert_eq!(
        second_task.deployment_after,
        report.outcomes[0].deployment_after
    );

    let as_service = &report.outcomes[0];
    assert_eq!(
        (as_service.status, as_service.code.as_str()),
        (Status::Acted, "forced_new_deployment"),
        "{as_service:?}"
    );
    assert!(
        as_service.reason.contains("service jobs/api"),
        "{}",
        as_service.reason
    );
    assert_ne!(seed.primary_deployment("jobs", "api").await, before);
    assert_eq!(
        (report.outcomes[1].status, report.outcomes[1].code.as_str()),
        (Status::Skipped, "gone")
    );
}

#[tokio::test]
async fn a_task_named_by_the_short_arn_is_found_in_its_cluster_and_a_dry_run_starts_nothing() {
    let moto = MotoServer::start();
    let seed = started(&moto).await;
    seed.cluster("other").await;
    let original = seed
        .standalone_task("jobs", "payments-worker", "ops-runbook")
        .await;
    let short = format!("arn:aws:ecs:us-east-1:123456789012:task/{}", original.id);
    let dry_run = Settings {
        dry_run: true,
        ..task_settings()
    };

    let report = remediator_testkit::events::run(
        &moto,
        dry_run,
        Notice::fixture(TASKS).naming(&[short]).build(),
    )
    .await;

    let o = only(&report);
    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Planned, "would_relaunch"),
        "{o:?}"
    );
    assert_eq!(seed.tasks("jobs", DesiredStatus::Running).await.len(), 1);
}

/// Runs a standalone FARGATE task of `task_definition` in `cluster`, with `tags`, as a user would;
/// returns its ARN.
async fn run_original(
    seed: &Seed,
    cluster: &str,
    task_definition: &str,
    tags: &[(String, String)],
) -> String {
    let network = seed.network.clone().expect("network");
    let out = seed
        .ecs
        .run_task()
        .cluster(cluster)
        .task_definition(task_definition)
        .launch_type(aws_sdk_ecs::types::LaunchType::Fargate)
        .network_configuration(
            aws_sdk_ecs::types::NetworkConfiguration::builder()
                .awsvpc_configuration(
                    aws_sdk_ecs::types::AwsVpcConfiguration::builder()
                        .subnets(&network.subnets[0])
                        .security_groups(&network.security_group)
                        .build()
                        .expect("awsvpc"),
                )
                .build(),
        )
        .started_by("ops-runbook")
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| aws_sdk_ecs::types::Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .send()
        .await
        .expect("run the original task");
    out.tasks()[0].task_arn().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_task_whose_only_health_check_is_on_a_sidecar_is_relaunched_without_waiting_for_health() {
    let moto = MotoServer::start();
    let seed = started(&moto).await;
    let td = seed
        .task_definition_with_sidecar_health_check("ingest")
        .await;
    let original = run_original(&seed, "jobs", &td, &[]).await;

    let report = run(
        &moto,
        Notice::fixture(TASKS)
            .naming(std::slice::from_ref(&original))
            .build(),
    )
    .await;

    let o = only(&report);
    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Acted, "relaunched"),
        "ECS leaves such a task's health UNKNOWN: waiting for HEALTHY would never end: {o:?}"
    );
    let running = seed.tasks("jobs", DesiredStatus::Running).await;
    assert_eq!(running.len(), 1, "only the replacement runs: {running:?}");
    assert_ne!(running[0].task_arn(), Some(original.as_str()));
    assert_eq!(
        running[0].health_status().map(|h| h.as_str()),
        Some("UNKNOWN"),
        "the test kit models ECS's health of a sidecar-only check"
    );
    assert!(
        seed.tasks("jobs", DesiredStatus::Stopped)
            .await
            .iter()
            .any(|t| t.task_arn() == Some(original.as_str())),
        "the original is stopped"
    );
}

#[tokio::test]
async fn a_task_with_fifty_tags_is_relaunched_without_the_marker_and_only_once() {
    let moto = MotoServer::start();
    let seed = started(&moto).await;
    let td = seed.task_definition("tagged-worker").await;
    let fifty: Vec<(String, String)> = (0..50)
        .map(|i| (format!("tag-{i:02}"), format!("value-{i}")))
        .collect();
    let original = run_original(&seed, "jobs", &td, &fifty).await;
    let event = Notice::fixture(TASKS)
        .naming(std::slice::from_ref(&original))
        .build();

    let first = run(&moto, event.clone()).await;

    let o = only(&first);
    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Acted, "relaunched"),
        "ECS rejects a 51st tag: the marker must not cost the relaunch: {o:?}"
    );
    let running = seed.tasks("jobs", DesiredStatus::Running).await;
    assert_eq!(running.len(), 1, "{running:?}");
    let mut expected = fifty.clone();
    expected.sort();
    assert_eq!(
        tags(&running[0]),
        expected,
        "the user's 50 tags, and no 51st"
    );

    let second = run(&moto, event).await;

    let o = only(&second);
    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::AlreadyDone, "already_replaced"),
        "{o:?}"
    );
    assert_eq!(seed.tasks("jobs", DesiredStatus::Running).await.len(), 1);
}
