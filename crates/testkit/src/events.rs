//! Events, invocations and runs as the end-to-end tests need them: one definition each, so a
//! test reads as what it does, not how it builds its input.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lambda_runtime::{Context, LambdaEvent};
use remediator_core::{parse_value, pipeline, Backoff, Code, Outcome, Report, Settings, Status};
use serde_json::Value;

use crate::MotoServer;

/// The ARN tests invoke the ECS function as (a deferral's default schedule target).
pub const ECS_FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:ecs-retirement";

/// Production settings without the engine's own backoff rounds, so faults surface at once.
pub fn settings() -> Settings {
    Settings {
        backoff: Backoff {
            rounds: 0,
            ..Settings::default().backoff
        },
        ..Settings::default()
    }
}

/// [`settings`] that look at a starting replacement task every 50 ms, for 5 s at most.
pub fn task_settings() -> Settings {
    Settings {
        task_poll: Duration::from_millis(50),
        replacement_wait: Duration::from_secs(5),
        ..settings()
    }
}

/// A Lambda invocation of the ECS function with `payload` and a minute left.
pub fn invocation(payload: Value) -> LambdaEvent<Value> {
    invocation_of(payload, ECS_FUNCTION_ARN)
}

/// A Lambda invocation of `function_arn` with `payload` and a minute left, with a request id of
/// its own (as every delivery gets; only Lambda's retries of one invocation share an id).
pub fn invocation_of(payload: Value, function_arn: &str) -> LambdaEvent<Value> {
    static DELIVERIES: AtomicUsize = AtomicUsize::new(0);
    let n = DELIVERIES.fetch_add(1, Ordering::Relaxed);
    invocation_as(payload, function_arn, &format!("test-request-{n}"))
}

/// A Lambda invocation under `request_id` (a retry of an earlier invocation keeps its id).
pub fn invocation_as(payload: Value, function_arn: &str, request_id: &str) -> LambdaEvent<Value> {
    invocation_lasting(payload, function_arn, request_id, Duration::from_secs(60))
}

/// A Lambda invocation under `request_id` with `left` until its deadline.
pub fn invocation_lasting(
    payload: Value,
    function_arn: &str,
    request_id: &str,
    left: Duration,
) -> LambdaEvent<Value> {
    let mut context = Context::default();
    context.request_id = request_id.into();
    context.invoked_function_arn = function_arn.into();
    context.deadline = (crate::clock::now().timestamp_millis() + left.as_millis() as i64) as u64;
    LambdaEvent::new(payload, context)
}

/// The ECS remediator over moto's endpoint.
pub async fn remediator(moto: &MotoServer, settings: Settings) -> remediator_aws::AwsRemediator {
    remediator_aws::remediator(&moto.sdk_config().await, settings)
}

/// The report the ECS pipeline makes of `event` against moto (whether or not Lambda would see
/// it as an error).
pub async fn run(moto: &MotoServer, settings: Settings, event: Value) -> Report {
    pipeline::run(&remediator(moto, settings).await, parse_value(event), None).await
}

/// Operator controls (and the ledger) over moto, from the same environment variables the
/// function reads.
pub async fn controls(moto: &MotoServer, env: &[(&str, &str)]) -> remediator_lambda::Controls {
    controls_over(&moto.sdk_config().await, env)
}

/// Operator controls over any SDK configuration (a fault proxy's), from the environment `env`.
pub fn controls_over(
    sdk: &aws_config::SdkConfig,
    env: &[(&str, &str)],
) -> remediator_lambda::Controls {
    let config = remediator_lambda::Config::from_lookup(|k| {
        env.iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| v.to_string())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    remediator_lambda::controls::build(sdk, &config.controls, "ecs-retirement", false)
}

/// The report's one outcome.
pub fn only(report: &Report) -> &Outcome {
    assert_eq!(report.outcomes.len(), 1, "{report:#?}");
    &report.outcomes[0]
}

/// What the report said of each resource: (resource, status, code), in the report's order.
pub fn said(report: &Report) -> Vec<(String, Status, Code)> {
    report
        .outcomes
        .iter()
        .map(|o| (o.target.to_string(), o.status, o.code))
        .collect()
}

/// The outcome about `resource` (as the report names it).
pub fn outcome_of<'a>(report: &'a Report, resource: &str) -> &'a Outcome {
    report
        .outcomes
        .iter()
        .find(|o| o.target.to_string() == resource)
        .unwrap_or_else(|| panic!("no outcome for {resource} in {report:#?}"))
}

/// The ledger table `table` on moto, created as `remediator ledger init` does.
pub async fn ledger_table(
    moto: &MotoServer,
    table: &str,
) -> remediator_lambda::ledger::DynamoLedger {
    let ledger = remediator_lambda::ledger::DynamoLedger::new(
        aws_sdk_dynamodb::Client::new(&moto.sdk_config().await),
        table,
    );
    ledger
        .create_table()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    ledger
}
