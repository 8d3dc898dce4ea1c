//! The AWS SDK edge shared by every adapter (ECS, CodeDeploy, EC2, EKS, Scheduler, SNS):
//! one way to load the SDK config and one way to read an SDK error. Production code never knows
//! whether it talks to AWS or to a local endpoint: `AWS_ENDPOINT_URL` is honoured by the SDK's
//! standard config chain.

pub mod budget;
pub mod central;
pub mod controls;
pub mod error;
pub mod health;
pub mod http;
pub mod ledger;
pub mod notify;
pub mod organization;
pub mod scheduler;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

pub use error::{classify, classify_with, has_code};

/// Loads the standard AWS config chain (env, profile, container/instance credentials,
/// `AWS_ENDPOINT_URL`) with this project's retry and timeout policy. Credentials resolve lazily,
/// so this makes no network call.
pub async fn load_sdk_config(region: Option<String>, max_attempts: u32) -> SdkConfig {
    let mut loader = with_policy(
        aws_config::defaults(BehaviorVersion::latest()),
        max_attempts,
        ATTEMPT_TIMEOUT,
    );
    if let Some(region) = region {
        loader = loader.region(Region::new(region));
    }
    loader.http_client(http::shared_https_client()).load().await
}

/// How long one attempt of a call may take before the SDK gives up on it (and retries).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// This project's retry and timeout policy on a config loader: the SDK's standard retry mode
/// (`max_attempts`, backoff up to 20 s), a 5 s connect timeout and `attempt_timeout` per
/// attempt. Fault tests apply it with a shorter attempt timeout.
pub fn with_policy(
    loader: aws_config::ConfigLoader,
    max_attempts: u32,
    attempt_timeout: Duration,
) -> aws_config::ConfigLoader {
    loader
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(max_attempts)
                .with_max_backoff(Duration::from_secs(20)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(attempt_timeout)
                .build(),
        )
}
