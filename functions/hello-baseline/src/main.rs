//! The cold-start baseline: the smallest `lambda_runtime` function there is, built with the same
//! release profile as the real ones. `make bench-init` starts it and `ecs-retirement`
//! alternately against the same fake Runtime API and prints the ratio of their init times.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
