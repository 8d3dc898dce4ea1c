//! CodeDeploy states moto cannot produce (a deployment limit, a release in progress, throttling),
//! injected with aws-smithy-mocks under the real SDK clients and the engine.

use std::time::Duration;

use aws_sdk_codedeploy::operation::batch_get_deployments::BatchGetDeploymentsOutput;
use aws_sdk_codedeploy::operation::create_deployment::CreateDeploymentOutput;
use aws_sdk_codedeploy::operation::get_deployment::GetDeploymentOutput;
use aws_sdk_codedeploy::operation::list_deployments::ListDeploymentsOutput;
use aws_sdk_codedeploy::types::{
    AppSpecContent, DeploymentInfo, DeploymentStatus, RevisionLocation, RevisionLocationType,
};
use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
use aws_sdk_ecs::types::{
    DeploymentController, DeploymentControllerType, LoadBalancer, Service, TaskSet,
};
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_types::DateTime;
use remediator_aws::{SdkCodeDeploy, SdkEcs};
use remediator_core::pipeline::run;
use remediator_core::{parse_value, Backoff, Outcome, Remediator, Settings, Status};
use serde_json::json;

const PREVIOUS: &str = "d-PREVIOUS";

fn ecs() -> aws_sdk_ecs::Client {
    let describe = mock!(aws_sdk_ecs::Client::describe_services).then_output(|| {
        DescribeServicesOutput::builder()
            .services(
                Service::builder()
                    .service_name("shop")
                    .status("ACTIVE")
                    .desired_count(2)
                    .deployment_controller(
                        DeploymentController::builder()
                            .r#type(DeploymentControllerType::CodeDeploy)
                            .build()
                            .expect("controller"),
                    )
                    .load_balancers(
                        LoadBalancer::builder()
                            .container_name("app")
                            .container_port(8080)
                            .build(),
                    )
                    .task_sets(
                        TaskSet::builder()
                            .id("ecs-svc/1")
                            .status("PRIMARY")
                            .external_id(PREVIOUS)
                            .task_definition(
                                "arn:aws:ecs:us-east-1:123456789012:task-definition/shop:7",
                            )
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let clusters = mock!(aws_sdk_ecs::Client::describe_clusters).then_output(|| {
        aws_sdk_ecs::operation::describe_clusters::DescribeClustersOutput::builder().build()
    });
    mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&describe, &clusters])
}

fn deployment(id: &str, status: DeploymentStatus) -> DeploymentInfo {
    DeploymentInfo::builder()
        .deployment_id(id)
        .application_name("shop-app")
        .deployment_group_name("shop-dg")
        .status(status)
        .create_time(DateTime::from_secs(1_600_000_000))
        .revision(
            RevisionLocation::builder()
                .revision_type(RevisionLocationType::AppSpecContent)
                .app_spec_content(
                    AppSpecContent::builder()
                        .content("version: 0.0\nResources: []\nHooks:\n  - BeforeInstall: Check\n")
                        .build(),
                )
                .build(),
        )
        .build()
}

fn get_previous() -> Rule {
    mock!(aws_sdk_codedeploy::Client::get_deployment).then_output(|| {
        GetDeploymentOutput::builder()
            .deployment_info(deployment(PREVIOUS, DeploymentStatus::Succeeded))
            .build()
    })
}

fn codedeploy(rules: &[&Rule]) -> aws_sdk_codedeploy::Client {
    mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, rules, |c| c
        .retry_config(
            aws_sdk_codedeploy::config::retry::RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(1))
        ))
}

async fn outcome(codedeploy: aws_sdk_codedeploy::Client) -> Outcome {
    let settings = Settings {
        backoff: Backoff {
            rounds: 2,
            initial: Duration::from_millis(1),
            max: Duration::from_millis(2),
        },
        ..Settings::default()
    };
    let event = json!({
        "source": "aws.health", "detail-type": "AWS Health Event", "time": "2026-11-20T09:00:00Z",
        "resources": ["prod|shop"],
        "detail": { "eventArn": "arn:aws:health:us-east-1::event/ECS/AWS_ECS_TASK_PATCHING_RETIREMENT/x",
                    "service": "ECS", "eventTypeCode": "AWS_ECS_TASK_PATCHING_RETIREMENT" }
    });
    let remediator = Remediator::new(SdkEcs::new(ecs()), SdkCodeDeploy::new(codedeploy), settings);
    let report = run(&remediator, parse_value(event), None).await;
    assert_eq!(report.outcomes.len(), 1, "{report:#?}");
    report.outcomes[0].clone()
}

#[tokio::test]
async fn a_deployment_limit_is_a_retryable_outcome_without_a_second_create_deployment() {
    let get = get_previous();
    let list = mock!(aws_sdk_codedeploy::Client::list_deployments)
        .then_output(|| ListDeploymentsOutput::builder().build());
    let create = mock!(aws_sdk_codedeploy::Client::create_deployment)
        .sequence()
        .http_status(
            400,
            Some(r#"{"__type":"DeploymentLimitExceededException","message":"The deployment group already has an active deployment"}"#.into()),
        )
        .repeatedly()
        .build();

    let o = outcome(codedeploy(&[&get, &list, &create])).await;

    assert_eq!(
        (o.status, o.code.as_str(), o.retryable),
        (Status::Failed, "deployment_in_progress", true),
        "{o:?}"
    );
    assert_eq!(create.num_calls(), 1, "a busy group is not hammered");
}

#[tokio::test]
async fn a_release_in_progress_since_before_the_notice_is_retryable_and_nothing_is_created() {
    let get = get_previous();
    let list = mock!(aws_sdk_codedeploy::Client::list_deployments).then_output(|| {
        ListDeploymentsOutput::builder()
            .deployments("d-BUSY")
            .build()
    });
    let batch = mock!(aws_sdk_codedeploy::Client::batch_get_deployments).then_output(|| {
        BatchGetDeploymentsOutput::builder()
            .deployments_info(deployment("d-BUSY", DeploymentStatus::InProgress))
            .build()
    });
    let create = mock!(aws_sdk_codedeploy::Client::create_deployment).then_output(|| {
        CreateDeploymentOutput::builder()
            .deployment_id("d-NEW")
            .build()
    });

    let o = outcome(codedeploy(&[&get, &list, &batch, &create])).await;

    assert_eq!(
        (o.status, o.code.as_str(), o.retryable),
        (Status::Failed, "deployment_in_progress", true),
        "{o:?}"
    );
    assert!(o.reason.contains("d-BUSY"), "{}", o.reason);
    assert_eq!(create.num_calls(), 0);
}

#[tokio::test]
async fn a_throttled_create_deployment_is_retried_and_creates_one_deployment() {
    let get = get_previous();
    let list = mock!(aws_sdk_codedeploy::Client::list_deployments)
        .then_output(|| ListDeploymentsOutput::builder().build());
    let create = mock!(aws_sdk_codedeploy::Client::create_deployment)
        .sequence()
        .http_status(
            400,
            Some(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into()),
        )
        .output(|| {
            CreateDeploymentOutput::builder()
                .deployment_id("d-NEW")
                .build()
        })
        .build();

    let o = outcome(codedeploy(&[&get, &list, &create])).await;

    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Acted, "codedeploy_deployment_created"),
        "{o:?}"
    );
    assert_eq!(o.deployment_before.as_deref(), Some(PREVIOUS));
    assert_eq!(o.deployment_after.as_deref(), Some("d-NEW"));
    assert!(
        o.reason.contains("1 lifecycle hook(s) kept"),
        "{}",
        o.reason
    );
    assert_eq!(create.num_calls(), 2);
}
