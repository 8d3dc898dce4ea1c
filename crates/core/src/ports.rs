//! Narrow ports to the outside world. The planner and engine only see these types; the AWS SDK
//! implements them in `remediator-aws`, tests implement them with fakes.

use std::future::Future;

use chrono::{DateTime, Utc};

/// ECS deployment controller of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Controller {
    /// Rolling update and the ECS-native BLUE_GREEN / LINEAR / CANARY strategies
    /// (`deploymentController` absent or `ECS`).
    Ecs,
    CodeDeploy,
    External,
    Unknown(String),
}

/// A service deployment as far as remediation cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentInfo {
    pub id: String,
    pub created_at: Option<DateTime<Utc>>,
}

/// One service as `DescribeServices` showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceObservation {
    pub name: String,
    pub arn: Option<String>,
    /// `ACTIVE`, `DRAINING` or `INACTIVE`.
    pub status: String,
    pub controller: Controller,
    /// The deployment with `status == PRIMARY`.
    pub primary_deployment: Option<DeploymentInfo>,
}

/// The answer to one batched describe call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribedServices {
    pub services: Vec<ServiceObservation>,
    /// `(arn or name, reason)` pairs from the response's `failures[]`.
    pub failures: Vec<(String, String)>,
}

/// How an API failure should be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiErrorKind {
    /// The call was throttled even after the SDK's own retries: back off and try again.
    Throttled,
    /// A server-side or network fault: a later attempt can succeed.
    Transient,
    /// The resource (or its cluster) does not exist or is no longer active: final.
    NotFound,
    /// The request was refused for a reason retrying cannot fix (permissions, invalid
    /// parameters): final.
    Rejected,
}

/// An error from a port, classified once, at the edge.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation} failed ({kind:?}): {message}")]
pub struct ApiError {
    pub operation: &'static str,
    pub kind: ApiErrorKind,
    pub message: String,
}

impl ApiError {
    pub fn new(operation: &'static str, kind: ApiErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            operation,
            kind,
            message: message.into(),
        }
    }

    /// Whether waiting and trying again can help.
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, ApiErrorKind::Throttled | ApiErrorKind::Transient)
    }
}

/// The ECS calls the service remediation needs.
pub trait EcsServices: Send + Sync {
    /// Describes up to [`MAX_SERVICES_PER_DESCRIBE`] services of one cluster. A cluster that
    /// does not exist is reported as every service missing, not as an error.
    fn describe_services(
        &self,
        cluster: &str,
        services: &[String],
    ) -> impl Future<Output = Result<DescribedServices, ApiError>> + Send;

    /// `UpdateService(forceNewDeployment=true)`; returns the new PRIMARY deployment.
    fn force_new_deployment(
        &self,
        cluster: &str,
        service: &str,
    ) -> impl Future<Output = Result<Option<DeploymentInfo>, ApiError>> + Send;
}

/// `DescribeServices` accepts at most 10 services per call.
pub const MAX_SERVICES_PER_DESCRIBE: usize = 10;
