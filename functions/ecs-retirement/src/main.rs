//! Lambda for `AWS_ECS_TASK_PATCHING_RETIREMENT` Health events. Wiring only: the work is in
//! `remediator-core` (parse, plan, act) and `remediator-aws` (SDK adapters, handler).
// The handler's future nests the engine's passes, the SDK calls and the runtime's layers.
#![recursion_limit = "256"]

use lambda_runtime::{run, service_fn, tracing, Error, LambdaEvent};
use remediator_aws::controls::Controls;
use remediator_aws::{lambda::handle_with, load_sdk_config, remediator, Config};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = Config::from_env()?;
    // Clients are built once per execution environment and reused by every invocation.
    let sdk = load_sdk_config(None, config.sdk_max_attempts).await;
    let controls = Controls::new(
        &sdk,
        &config.controls,
        "ecs-retirement",
        config.settings.dry_run,
    );
    let remediator = remediator(&sdk, config.settings);
    run(service_fn(|event: LambdaEvent<Value>| {
        handle_with(&remediator, &controls, event, chrono::Utc::now())
    }))
    .await
}
