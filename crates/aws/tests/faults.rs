//! Faults moto cannot produce (throttling, 5xx, access denied), injected with aws-smithy-mocks
//! under the real SDK client, its retry policy, and the engine.
// The futures nest the driver, the engine and the SDK calls deeply.
#![recursion_limit = "256"]

use std::time::Duration;

use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
use aws_sdk_ecs::operation::update_service::UpdateServiceOutput;
use aws_sdk_ecs::types::{Deployment, Service};
use aws_sdk_ecs::Client;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_types::DateTime;
use remediator_aws::{SdkCodeDeploy, SdkEcs};
use remediator_core::{parse_value, pipeline, Backoff, Remediator, Report, Settings, Status};
use remediator_lambda::{into_result, HandlerError};
use remediator_testkit::notice::Notice;

const THROTTLED: &str = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
const SERVER_ERROR: &str = r#"{"__type":"ServerException","message":"Service unavailable"}"#;

fn deployment(id: &str, created_secs: i64) -> Deployment {
    Deployment::builder()
        .id(id)
        .status("PRIMARY")
        .created_at(DateTime::from_secs(created_secs))
        .build()
}

fn service_output(deployment_id: &str) -> Service {
    Service::builder()
        .service_name("web")
        .service_arn("arn:aws:ecs:us-east-1:123456789012:service/prod/web")
        .status("ACTIVE")
        .desired_count(2)
        .deployments(deployment(deployment_id, 1_600_000_000))
        .build()
}

fn describe_ok() -> Rule {
    mock!(Client::describe_services).then_output(|| {
        DescribeServicesOutput::builder()
            .services(service_output("ecs-svc/old"))
            .build()
    })
}

fn update_ok() -> UpdateServiceOutput {
    UpdateServiceOutput::builder()
        .service(service_output("ecs-svc/new"))
        .build()
}

/// A mocked ECS client; `DescribeClusters` (opt-out tags) answers "no tags".
fn client(rules: &[&Rule], sdk_attempts: u32) -> Client {
    let clusters = no_cluster_tags();
    let rules: Vec<&Rule> = rules.iter().copied().chain([&clusters]).collect();
    mock_client!(aws_sdk_ecs, RuleMode::MatchAny, rules, |c| c.retry_config(
        aws_sdk_ecs::config::retry::RetryConfig::standard()
            .with_max_attempts(sdk_attempts)
            .with_initial_backoff(Duration::from_millis(1))
            .with_max_backoff(Duration::from_millis(5))
    ))
}

fn settings(backoff_rounds: u32) -> Settings {
    Settings {
        backoff: Backoff {
            rounds: backoff_rounds,
            initial: Duration::from_millis(1),
            max: Duration::from_millis(5),
        },
        update_service_rate: None,
        ..Settings::default()
    }
}

/// A notice of `prod/web` published now, AWS retiring it a week later.
fn event() -> serde_json::Value {
    Notice::ecs().naming(&["prod|web"]).build()
}

/// A CodeDeploy client that must not be called: every test here is about a rolling service.
fn no_codedeploy() -> SdkCodeDeploy {
    let none: [&Rule; 0] = [];
    SdkCodeDeploy::new(mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, none))
}

async fn run(client: Client, settings: Settings) -> Report {
    let remediator = Remediator::new(SdkEcs::new(client), no_codedeploy(), settings);
    pipeline::run(&remediator, parse_value(event()), None).await
}

#[tokio::test]
async fn a_throttled_update_service_is_retried_by_the_sdk_and_ends_acted() {
    let update = mock!(Client::update_service)
        .sequence()
        .http_status(400, Some(THROTTLED.into()))
        .times(2)
        .output(update_ok)
        .build();
    let describe = describe_ok();

    let report = run(client(&[&describe, &update], 3), settings(0)).await;

    let o = &report.outcomes[0];
    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Acted, "forced_new_deployment"),
        "{o:?}"
    );
    assert_eq!(o.deployment_before.as_deref(), Some("ecs-svc/old"));
    assert_eq!(o.deployment_after.as_deref(), Some("ecs-svc/new"));
    assert_eq!(
        update.num_calls(),
        3,
        "two throttled attempts, then success"
    );
}

#[tokio::test]
async fn when_the_sdk_gives_up_on_throttling_the_engine_backs_off_and_finishes() {
    let update = mock!(Client::update_service)
        .sequence()
        .http_status(400, Some(THROTTLED.into()))
        .times(4)
        .output(update_ok)
        .build();
    let describe = describe_ok();

    // The SDK makes one attempt per call; the engine's backoff rounds carry the work through.
    let report = run(client(&[&describe, &update], 1), settings(5)).await;

    assert_eq!(
        report.outcomes[0].status,
        Status::Acted,
        "{:?}",
        report.outcomes[0]
    );
    assert_eq!(update.num_calls(), 5);
}

#[tokio::test]
async fn throttling_that_never_ends_is_a_retryable_failure_that_fails_the_invocation() {
    let update = mock!(Client::update_service)
        .sequence()
        .http_status(400, Some(THROTTLED.into()))
        .repeatedly()
        .build();
    let describe = describe_ok();

    let report = run(client(&[&describe, &update], 2), settings(2)).await;

    let o = &report.outcomes[0];
    assert_eq!(
        (o.status, o.code.as_str(), o.retryable),
        (Status::Failed, "throttled", true),
        "{o:?}"
    );
    assert_eq!(
        update.num_calls(),
        6,
        "2 SDK attempts x (1 + 2 backoff rounds)"
    );
    assert!(matches!(
        into_result(report),
        Err(HandlerError::Retryable(_))
    ));
}

#[tokio::test]
async fn a_server_error_on_describe_is_retried_and_the_service_is_still_remediated() {
    let describe = mock!(Client::describe_services)
        .sequence()
        .http_status(500, Some(SERVER_ERROR.into()))
        .output(|| {
            DescribeServicesOutput::builder()
                .services(service_output("ecs-svc/old"))
                .build()
        })
        .build();
    let update = mock!(Client::update_service).then_output(update_ok);

    let report = run(client(&[&describe, &update], 2), settings(0)).await;

    assert_eq!(report.outcomes[0].status, Status::Acted);
    assert_eq!(describe.num_calls(), 2);
    assert_eq!(update.num_calls(), 1);
}

#[tokio::test]
async fn access_denied_is_a_final_failure_without_retries() {
    let update = mock!(Client::update_service)
        .sequence()
        .http_status(
            400,
            Some(
                r#"{"__type":"AccessDeniedException","message":"not authorized to perform ecs:UpdateService"}"#
                    .into(),
            ),
        )
        .repeatedly()
        .build();
    let describe = describe_ok();

    let report = run(client(&[&describe, &update], 3), settings(3)).await;

    let o = &report.outcomes[0];
    assert_eq!((o.status, o.retryable), (Status::Failed, false), "{o:?}");
    assert!(o.reason.contains("not authorized"), "{}", o.reason);
    assert_eq!(update.num_calls(), 1);
    assert!(
        into_result(report).is_ok(),
        "a final failure is reported, not retried by Lambda"
    );
}

#[tokio::test]
async fn a_deadline_too_close_leaves_work_as_retryable_instead_of_starting_it() {
    let update = mock!(Client::update_service).then_output(update_ok);
    let describe = describe_ok();
    let remediator = Remediator::new(
        SdkEcs::new(client(&[&describe, &update], 1)),
        no_codedeploy(),
        settings(0),
    );
    // Less time left than the 10 s margin: nothing may start.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);

    let report = pipeline::run(&remediator, parse_value(event()), Some(deadline)).await;

    let o = &report.outcomes[0];
    assert_eq!(
        (o.status, o.code.as_str(), o.retryable),
        (Status::Failed, "time_budget_exhausted", true),
        "{o:?}"
    );
    assert_eq!(describe.num_calls() + update.num_calls(), 0);
}

fn no_cluster_tags() -> Rule {
    mock!(aws_sdk_ecs::Client::describe_clusters).then_output(|| {
        aws_sdk_ecs::operation::describe_clusters::DescribeClustersOutput::builder().build()
    })
}

// Ambiguous failures of UpdateService: a 5xx (or a timeout) does not say whether the forced
// deployment was made. Calling again would make a second, back-to-back deployment; the engine
// looks at the service again first.

/// `DescribeServices` that shows `ecs-svc/old` as PRIMARY, then `after` from the second call on.
fn describe_then(after: &'static str) -> Rule {
    mock!(Client::describe_services)
        .sequence()
        .output(|| {
            DescribeServicesOutput::builder()
                .services(service_output("ecs-svc/old"))
                .build()
        })
        .output(move || {
            DescribeServicesOutput::builder()
                .services(service_output(after))
                .build()
        })
        .repeatedly()
        .build()
}

/// `UpdateService` that fails with a 500 once, then succeeds (a retry would make a deployment).
fn update_500_then_ok() -> Rule {
    mock!(Client::update_service)
        .sequence()
        .http_status(500, Some(SERVER_ERROR.into()))
        .output(update_ok)
        .repeatedly()
        .build()
}

#[tokio::test]
async fn a_server_error_after_update_service_took_effect_is_not_sent_again_by_the_sdk() {
    let update = update_500_then_ok();
    let describe = describe_then("ecs-svc/new");

    // The SDK may make 3 attempts and the engine none of its own: only the SDK could resend.
    let report = run(client(&[&describe, &update], 3), settings(0)).await;

    let o = &report.outcomes[0];
    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Acted, "forced_new_deployment"),
        "{o:?}"
    );
    assert_eq!(o.deployment_before.as_deref(), Some("ecs-svc/old"));
    assert_eq!(o.deployment_after.as_deref(), Some("ecs-svc/new"));
    assert!(o.reason.contains("DescribeServices"), "{}", o.reason);
    assert_eq!(
        update.num_calls(),
        1,
        "one UpdateService: the first took effect"
    );
    assert_eq!(describe.num_calls(), 2, "observed, then looked at again");
}

#[tokio::test]
async fn a_server_error_after_update_service_took_effect_is_not_sent_again_by_the_engine() {
    let update = update_500_then_ok();
    let describe = describe_then("ecs-svc/new");

    // One SDK attempt per call: the engine's backoff rounds are what could resend.
    let report = run(client(&[&describe, &update], 1), settings(3)).await;

    let o = &report.outcomes[0];
    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Acted, "forced_new_deployment"),
        "{o:?}"
    );
    assert_eq!(o.deployment_after.as_deref(), Some("ecs-svc/new"));
    assert_eq!(
        update.num_calls(),
        1,
        "one UpdateService: the first took effect"
    );
}

#[tokio::test]
async fn a_server_error_that_changed_nothing_is_sent_again_after_looking() {
    let update = update_500_then_ok();
    // The PRIMARY deployment is still the one the decision saw: the call did not take effect.
    let describe = describe_then("ecs-svc/old");

    let report = run(client(&[&describe, &update], 3), settings(2)).await;

    let o = &report.outcomes[0];
    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Acted, "forced_new_deployment"),
        "{o:?}"
    );
    assert_eq!(o.deployment_after.as_deref(), Some("ecs-svc/new"));
    assert_eq!(update.num_calls(), 2);
    assert_eq!(
        describe.num_calls(),
        2,
        "looked again before the second call"
    );
}

#[tokio::test]
async fn when_the_service_cannot_be_looked_at_again_update_service_is_not_repeated() {
    let update = update_500_then_ok();
    let describe = mock!(Client::describe_services)
        .sequence()
        .output(|| {
            DescribeServicesOutput::builder()
                .services(service_output("ecs-svc/old"))
                .build()
        })
        .http_status(500, Some(SERVER_ERROR.into()))
        .repeatedly()
        .build();

    let report = run(client(&[&describe, &update], 2), settings(2)).await;

    let o = &report.outcomes[0];
    assert_eq!(
        (o.status, o.code.as_str(), o.retryable),
        (Status::Failed, "api_error", true),
        "{o:?}"
    );
    assert_eq!(
        update.num_calls(),
        1,
        "unknown whether it took effect: a later attempt re-observes instead"
    );
    assert!(o.reason.contains("may have taken effect"), "{}", o.reason);
}

#[tokio::test]
async fn a_503_with_an_unknown_error_code_on_update_service_is_ambiguous_too() {
    // An error code the classifier does not know as transient: still a 5xx, still ambiguous.
    let update = mock!(Client::update_service)
        .sequence()
        .http_status(
            503,
            Some(r#"{"__type":"ServiceUnavailableException","message":"Try again"}"#.into()),
        )
        .output(update_ok)
        .repeatedly()
        .build();
    let describe = describe_then("ecs-svc/new");

    let report = run(client(&[&describe, &update], 1), settings(2)).await;

    let o = &report.outcomes[0];
    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Acted, "forced_new_deployment"),
        "{o:?}"
    );
    assert_eq!(o.deployment_after.as_deref(), Some("ecs-svc/new"));
    assert_eq!(update.num_calls(), 1);
}

const ACCESS_DENIED: &str =
    r#"{"__type":"AccessDeniedException","message":"not authorized on cluster/dev"}"#;

#[tokio::test]
async fn a_cluster_outside_the_functions_scope_costs_only_its_own_services() {
    // IAM refuses a DescribeClusters that names a cluster outside EcsClusterNames as a whole.
    let together = mock!(Client::describe_clusters)
        .match_requests(|r| r.clusters().len() > 1)
        .then_http_response(|| {
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(400).expect("status"),
                aws_smithy_types::body::SdkBody::from(ACCESS_DENIED),
            )
        });
    let dev = mock!(Client::describe_clusters)
        .match_requests(|r| r.clusters() == ["dev".to_owned()])
        .then_http_response(|| {
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(400).expect("status"),
                aws_smithy_types::body::SdkBody::from(ACCESS_DENIED),
            )
        });
    let prod = mock!(Client::describe_clusters)
        .match_requests(|r| r.clusters() == ["prod".to_owned()])
        .then_output(|| {
            aws_sdk_ecs::operation::describe_clusters::DescribeClustersOutput::builder().build()
        });
    let describe = describe_ok();
    let update = mock!(Client::update_service).then_output(update_ok);
    let client = mock_client!(
        aws_sdk_ecs,
        RuleMode::MatchAny,
        [&together, &dev, &prod, &describe, &update],
        |c| c
            .retry_config(aws_sdk_ecs::config::retry::RetryConfig::standard().with_max_attempts(1))
    );
    let two_clusters = Notice::ecs().naming(&["prod|web", "dev|api"]).build();
    let remediator = Remediator::new(SdkEcs::new(client), no_codedeploy(), settings(0));

    let report = pipeline::run(&remediator, parse_value(two_clusters), None).await;

    let web = report
        .outcomes
        .iter()
        .find(|o| o.target.to_string() == "service prod/web")
        .expect("web");
    assert_eq!(
        (web.status, web.code.as_str()),
        (Status::Acted, "forced_new_deployment"),
        "{report:#?}"
    );
    assert_eq!(together.num_calls(), 1);
    assert_eq!(
        (prod.num_calls(), dev.num_calls()),
        (1, 1),
        "asked per cluster"
    );
}
