//! CodeDeploy states moto cannot produce (a deployment limit, a release in progress, throttling),
//! injected with aws-smithy-mocks under the real SDK clients and the engine.
// The futures nest the driver, the engine and the SDK calls deeply.
#![recursion_limit = "256"]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_codedeploy::operation::batch_get_deployments::BatchGetDeploymentsOutput;
use aws_sdk_codedeploy::operation::create_deployment::CreateDeploymentOutput;
use aws_sdk_codedeploy::operation::get_deployment::GetDeploymentOutput;
use aws_sdk_codedeploy::operation::get_deployment_group::GetDeploymentGroupOutput;
use aws_sdk_codedeploy::operation::list_applications::ListApplicationsOutput;
use aws_sdk_codedeploy::operation::list_deployment_groups::ListDeploymentGroupsOutput;
use aws_sdk_codedeploy::operation::list_deployments::ListDeploymentsOutput;
use aws_sdk_codedeploy::types::{
    AppSpecContent, ComputePlatform, DeploymentGroupInfo, DeploymentInfo, DeploymentStatus,
    EcsService, RevisionLocation, RevisionLocationType,
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
use remediator_testkit::notice::Notice;

const PREVIOUS: &str = "d-PREVIOUS";

fn ecs() -> aws_sdk_ecs::Client {
    ecs_with(Some(PREVIOUS))
}

/// A blue/green service whose PRIMARY task set was made by `external_id` (`None`: unknown).
fn ecs_with(external_id: Option<&'static str>) -> aws_sdk_ecs::Client {
    let describe = mock!(aws_sdk_ecs::Client::describe_services).then_output(move || {
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
                            .set_external_id(external_id.map(str::to_owned))
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
    codedeploy_attempts(rules, 3)
}

fn codedeploy_attempts(rules: &[&Rule], sdk_attempts: u32) -> aws_sdk_codedeploy::Client {
    mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, rules, |c| c
        .retry_config(
            aws_sdk_codedeploy::config::retry::RetryConfig::standard()
                .with_max_attempts(sdk_attempts)
                .with_initial_backoff(Duration::from_millis(1))
        ))
}

async fn outcome(codedeploy: aws_sdk_codedeploy::Client) -> Outcome {
    outcome_with(ecs(), codedeploy).await
}

async fn outcome_with(ecs: aws_sdk_ecs::Client, codedeploy: aws_sdk_codedeploy::Client) -> Outcome {
    let settings = Settings {
        backoff: Backoff {
            rounds: 2,
            initial: Duration::from_millis(1),
            max: Duration::from_millis(2),
        },
        ..Settings::default()
    };
    // Published before the deployments the mocks create "now" (they say whole seconds).
    let event = Notice::ecs()
        .naming(&["prod|shop"])
        .published(remediator_testkit::clock::now() - chrono::Duration::minutes(1))
        .build();
    let remediator = Remediator::new(SdkEcs::new(ecs), SdkCodeDeploy::new(codedeploy), settings);
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

// Ambiguous failures of CreateDeployment: a 5xx (or a timeout) does not say whether the
// deployment was created. Creating again would start a second one, or end as
// `deployment_in_progress` for a service that is being redeployed; the engine lists the group's
// deployments first.

const SERVER_ERROR: &str = r#"{"__type":"InternalFailure","message":"Internal failure"}"#;
const LIMIT_EXCEEDED: &str = r#"{"__type":"DeploymentLimitExceededException","message":"The deployment group already has an active deployment"}"#;

/// The AppSpec content the last `CreateDeployment` sent.
type Sent = Arc<Mutex<Option<String>>>;

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// `CreateDeployment` that records what it was sent and answers with `responses`.
fn create_recording(sent: &Sent, first_fails_with: &'static str, then: CreateThen) -> Rule {
    let sent = sent.clone();
    let builder = mock!(aws_sdk_codedeploy::Client::create_deployment)
        .match_requests(move |input| {
            *sent.lock().unwrap() = input
                .revision()
                .and_then(|r| r.app_spec_content())
                .and_then(|c| c.content())
                .map(str::to_owned);
            true
        })
        .sequence()
        .http_status(500, Some(first_fails_with.into()));
    match then {
        CreateThen::Created => builder
            .output(|| {
                CreateDeploymentOutput::builder()
                    .deployment_id("d-SECOND")
                    .build()
            })
            .repeatedly()
            .build(),
        CreateThen::LimitExceeded => builder
            .http_status(400, Some(LIMIT_EXCEEDED.into()))
            .repeatedly()
            .build(),
    }
}

enum CreateThen {
    Created,
    LimitExceeded,
}

/// `ListDeployments` (in progress): nothing before the create, `d-NEW` after it.
fn list_in_progress_then_new() -> Rule {
    mock!(aws_sdk_codedeploy::Client::list_deployments)
        .sequence()
        .output(|| ListDeploymentsOutput::builder().build())
        .output(|| {
            ListDeploymentsOutput::builder()
                .deployments("d-NEW")
                .build()
        })
        .repeatedly()
        .build()
}

/// `BatchGetDeployments`: `d-NEW`, created just now from what `CreateDeployment` was sent.
fn batch_new(sent: &Sent) -> Rule {
    let sent = sent.clone();
    mock!(aws_sdk_codedeploy::Client::batch_get_deployments).then_compute_output(move |input| {
        let content = sent.lock().unwrap().clone().unwrap_or_default();
        let infos = input.deployment_ids().iter().map(|id| {
            DeploymentInfo::builder()
                .deployment_id(id)
                .application_name("shop-app")
                .deployment_group_name("shop-dg")
                .status(DeploymentStatus::Created)
                .create_time(DateTime::from_secs(now_secs()))
                .revision(
                    RevisionLocation::builder()
                        .revision_type(RevisionLocationType::AppSpecContent)
                        .app_spec_content(AppSpecContent::builder().content(&content).build())
                        .build(),
                )
                .build()
        });
        BatchGetDeploymentsOutput::builder()
            .set_deployments_info(Some(infos.collect()))
            .build()
    })
}

#[tokio::test]
async fn a_server_error_after_create_deployment_took_effect_is_not_sent_again_by_the_sdk() {
    let sent = Sent::default();
    let get = get_previous();
    let list = list_in_progress_then_new();
    let batch = batch_new(&sent);
    let create = create_recording(&sent, SERVER_ERROR, CreateThen::Created);

    // The SDK may make 3 attempts: only the SDK could resend.
    let o = outcome(codedeploy(&[&get, &list, &batch, &create])).await;

    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Acted, "codedeploy_deployment_created"),
        "{o:?}"
    );
    assert_eq!(o.deployment_before.as_deref(), Some(PREVIOUS));
    assert_eq!(o.deployment_after.as_deref(), Some("d-NEW"));
    assert_eq!(
        create.num_calls(),
        1,
        "one CreateDeployment: the first took effect"
    );
}

#[tokio::test]
async fn a_create_deployment_that_took_effect_is_not_reported_as_a_deployment_in_progress() {
    let sent = Sent::default();
    let get = get_previous();
    let list = list_in_progress_then_new();
    let batch = batch_new(&sent);
    // Sent again, CreateDeployment meets the deployment its first call made.
    let create = create_recording(&sent, SERVER_ERROR, CreateThen::LimitExceeded);

    // One SDK attempt per call: the engine's backoff rounds are what could resend.
    let o = outcome(codedeploy_attempts(&[&get, &list, &batch, &create], 1)).await;

    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Acted, "codedeploy_deployment_created"),
        "{o:?}"
    );
    assert_eq!(o.deployment_after.as_deref(), Some("d-NEW"));
    assert_eq!(create.num_calls(), 1);
}

#[tokio::test]
async fn a_deployment_limit_after_an_ambiguous_create_deployment_is_checked_against_the_group() {
    let sent = Sent::default();
    let get = get_previous();
    // The group's listing shows the new deployment only on the third look (eventual consistency):
    // before the create, after the 500, after the resent call is refused.
    let list = mock!(aws_sdk_codedeploy::Client::list_deployments)
        .sequence()
        .output(|| ListDeploymentsOutput::builder().build())
        .times(2)
        .output(|| {
            ListDeploymentsOutput::builder()
                .deployments("d-NEW")
                .build()
        })
        .repeatedly()
        .build();
    let batch = batch_new(&sent);
    let create = create_recording(&sent, SERVER_ERROR, CreateThen::LimitExceeded);

    let o = outcome(codedeploy_attempts(&[&get, &list, &batch, &create], 1)).await;

    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Acted, "codedeploy_deployment_created"),
        "the deployment in the way is the one the first call made: {o:?}"
    );
    assert_eq!(o.deployment_after.as_deref(), Some("d-NEW"));
    assert_eq!(
        create.num_calls(),
        2,
        "the resent call was refused, nothing was created twice"
    );
    assert_eq!(list.num_calls(), 3);
}

#[tokio::test]
async fn a_server_error_that_created_nothing_is_sent_again_after_looking() {
    let sent = Sent::default();
    let get = get_previous();
    let list = mock!(aws_sdk_codedeploy::Client::list_deployments)
        .then_output(|| ListDeploymentsOutput::builder().build());
    let create = create_recording(&sent, SERVER_ERROR, CreateThen::Created);

    let o = outcome(codedeploy(&[&get, &list, &create])).await;

    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Acted, "codedeploy_deployment_created"),
        "{o:?}"
    );
    assert_eq!(o.deployment_after.as_deref(), Some("d-SECOND"));
    assert_eq!(create.num_calls(), 2);
    assert_eq!(list.num_calls(), 2, "looked again before the second call");
}

// The hooks fallback (no deployment named by the PRIMARY task set) takes the hooks of the group's
// newest successful deployment. It must not read the group's whole history to find it.

/// How many successful deployments the group has had (one a day, the newest 2 days ago).
const HISTORY: i64 = 450;
const DAY: i64 = 86_400;

fn history_id(n: i64) -> String {
    format!("d-{n:04}")
}

/// `ListDeployments` of the group's successful deployments as CodeDeploy answers it: only those
/// in `createTimeRange`, 100 per page, in no useful order (oldest first here).
fn list_history(now: i64) -> Rule {
    mock!(aws_sdk_codedeploy::Client::list_deployments)
        .match_requests(|input| {
            input
                .include_only_statuses()
                .contains(&DeploymentStatus::Succeeded)
        })
        .then_compute_output(move |input| {
            let range = input.create_time_range();
            let start = range.and_then(|r| r.start()).map(|t| t.secs());
            let end = range.and_then(|r| r.end()).map(|t| t.secs());
            let ids: Vec<String> = (0..HISTORY)
                .rev()
                .filter(|n| {
                    let created = now - (2 + n) * DAY;
                    start.is_none_or(|s| created >= s) && end.is_none_or(|e| created <= e)
                })
                .map(history_id)
                .collect();
            let from: usize = input.next_token().map_or(0, |t| t.parse().unwrap());
            let page: Vec<String> = ids.iter().skip(from).take(100).cloned().collect();
            let next = (from + 100 < ids.len()).then(|| (from + 100).to_string());
            ListDeploymentsOutput::builder()
                .set_deployments(Some(page))
                .set_next_token(next)
                .build()
        })
}

fn batch_history(now: i64) -> Rule {
    mock!(aws_sdk_codedeploy::Client::batch_get_deployments).then_compute_output(move |input| {
        let infos = input.deployment_ids().iter().map(|id| {
            let n: i64 = id[2..].parse().unwrap();
            let hook = if n == 0 { "Newest" } else { "Older" };
            DeploymentInfo::builder()
                .deployment_id(id)
                .application_name("shop-app")
                .deployment_group_name("shop-dg")
                .status(DeploymentStatus::Succeeded)
                .create_time(DateTime::from_secs(now - (2 + n) * DAY))
                .revision(
                    RevisionLocation::builder()
                        .revision_type(RevisionLocationType::AppSpecContent)
                        .app_spec_content(
                            AppSpecContent::builder()
                                .content(format!(
                                    "version: 0.0\nResources: []\nHooks:\n  - BeforeInstall: {hook}\n"
                                ))
                                .build(),
                        )
                        .build(),
                )
                .build()
        });
        BatchGetDeploymentsOutput::builder()
            .set_deployments_info(Some(infos.collect()))
            .build()
    })
}

#[tokio::test]
async fn the_hooks_fallback_reads_recent_deployments_only() {
    let now = now_secs();
    let applications = mock!(aws_sdk_codedeploy::Client::list_applications).then_output(|| {
        ListApplicationsOutput::builder()
            .applications("shop-app")
            .build()
    });
    let groups = mock!(aws_sdk_codedeploy::Client::list_deployment_groups).then_output(|| {
        ListDeploymentGroupsOutput::builder()
            .deployment_groups("shop-dg")
            .build()
    });
    let group = mock!(aws_sdk_codedeploy::Client::get_deployment_group).then_output(|| {
        GetDeploymentGroupOutput::builder()
            .deployment_group_info(
                DeploymentGroupInfo::builder()
                    .application_name("shop-app")
                    .deployment_group_name("shop-dg")
                    .compute_platform(ComputePlatform::Ecs)
                    .ecs_services(
                        EcsService::builder()
                            .service_name("shop")
                            .cluster_name("prod")
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let in_progress = mock!(aws_sdk_codedeploy::Client::list_deployments)
        .match_requests(|input| {
            input
                .include_only_statuses()
                .contains(&DeploymentStatus::InProgress)
        })
        .then_output(|| ListDeploymentsOutput::builder().build());
    let succeeded = list_history(now);
    let batch = batch_history(now);
    let sent = Sent::default();
    let sent_in = sent.clone();
    let create = mock!(aws_sdk_codedeploy::Client::create_deployment)
        .match_requests(move |input| {
            *sent_in.lock().unwrap() = input
                .revision()
                .and_then(|r| r.app_spec_content())
                .and_then(|c| c.content())
                .map(str::to_owned);
            true
        })
        .then_output(|| {
            CreateDeploymentOutput::builder()
                .deployment_id("d-NEW")
                .build()
        });
    let rules = [
        &applications,
        &groups,
        &group,
        &in_progress,
        &succeeded,
        &batch,
        &create,
    ];

    let o = outcome_with(ecs_with(None), codedeploy(&rules)).await;

    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Acted, "codedeploy_deployment_created"),
        "{o:?}"
    );
    assert!(
        o.reason
            .contains(&format!("kept from deployment {}", history_id(0))),
        "{}",
        o.reason
    );
    let sent = sent.lock().unwrap().clone().unwrap_or_default();
    assert!(sent.contains("Newest"), "{sent}");
    // The last day holds nothing, the last week the newest few: two listings, one batch.
    assert_eq!(
        succeeded.num_calls(),
        2,
        "ListDeployments (Succeeded) calls"
    );
    assert_eq!(batch.num_calls(), 1, "BatchGetDeployments calls");
}
