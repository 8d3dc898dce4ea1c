//! AWS side of the remediator: SDK adapters for the core's ports, configuration from the
//! environment, and the Lambda handler. Production code here never knows whether it talks to
//! AWS or to a local endpoint: `AWS_ENDPOINT_URL` is honoured by the SDK's standard config chain.

pub mod codedeploy;
pub mod config;
pub mod controls;
pub mod ecs;
pub mod lambda;
pub mod notify;
pub mod scheduler;
pub mod tasks;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use remediator_core::{Remediator, Settings};

pub use codedeploy::SdkCodeDeploy;
pub use config::{Config, ConfigError};
pub use ecs::SdkEcs;

/// The production remediator.
pub type AwsRemediator = Remediator<SdkEcs, SdkCodeDeploy>;

/// Loads the standard AWS config chain (env, profile, container/instance credentials,
/// `AWS_ENDPOINT_URL`) with this project's retry and timeout policy. Credentials resolve lazily,
/// so this makes no network call.
pub async fn load_sdk_config(region: Option<String>, max_attempts: u32) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(max_attempts)
                .with_max_backoff(Duration::from_secs(20)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(30))
                .build(),
        );
    if let Some(region) = region {
        loader = loader.region(Region::new(region));
    }
    loader.load().await
}

/// Builds the remediator over SDK clients made once from `sdk`.
pub fn remediator(sdk: &SdkConfig, mut settings: Settings) -> AwsRemediator {
    settings.region = sdk.region().map(ToString::to_string);
    Remediator::new(
        SdkEcs::with_ec2(aws_sdk_ecs::Client::new(sdk), aws_sdk_ec2::Client::new(sdk)),
        SdkCodeDeploy::new(aws_sdk_codedeploy::Client::new(sdk)),
        settings,
    )
}
