//! Lambda for `EKS Fargate Pod Scheduled Termination` events. Wiring only: the work is in
//! `remediator-kube` (connect, owner chain, restart) and `remediator-core` (parsing, reports).
#![recursion_limit = "256"]

use chrono::Utc;
use lambda_runtime::{run, service_fn, tracing, Error, LambdaEvent};
use remediator_aws::controls::Controls;
use remediator_aws::lambda::into_result;
use remediator_aws::{load_sdk_config, Config};
use remediator_kube::handler::handle_with;
use remediator_kube::EksConnector;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let sdk = load_sdk_config(None, config.sdk_max_attempts).await;
    // Kubernetes clients are made per cluster on first use and cached across invocations.
    let connector = EksConnector::new(&sdk, std::env::var("EKS_ENDPOINT_URL").ok());
    let settings = config.settings;
    let controls = Controls::new(&sdk, &config.controls, "eks-fargate-pod", settings.dry_run);
    run(service_fn(|event: LambdaEvent<Value>| {
        let (connector, controls, settings) = (&connector, &controls, &settings);
        async move {
            let report = handle_with(
                connector,
                controls,
                event.payload,
                &event.context.invoked_function_arn,
                Utc::now(),
                settings,
            )
            .await;
            into_result(report)
        }
    }))
    .await
}
