//! EKS Fargate pods: the Kubernetes side of the remediator.
//!
//! - [`restart`]: follow the pod's owner chain and restart the workload like
//!   `kubectl rollout restart`, idempotently; [`rollout`]: an Argo Rollout's `spec.restartAt`.
//! - [`token`]: the EKS bearer token (`k8s-aws-v1.` + a presigned STS `GetCallerIdentity` URL).
//!
//! - [`connect`]: DescribeCluster + token → a cached `kube::Client` per cluster, renewed by the
//!   wall clock (Lambda's freezes stop the monotonic one) well before the token expires.
//! - [`pods`]: the function's [`remediator_core::Remediate`]: connect, then restart; a 401
//!   drops the client and retries once with a new token.

pub mod connect;
pub mod pods;
pub mod preflight;
pub mod restart;
pub mod rollout;
pub mod token;

pub use connect::EksConnector;
pub use pods::PodRemediator;
pub use restart::PodRestarter;

use aws_config::SdkConfig;
use remediator_core::accounts::Accounts;
use remediator_core::Settings;
use remediator_sdk::central::Central;

/// The EKS function's remediation in its own account and Region, and in member accounts in
/// central mode: a [`PodRemediator`] per (account, Region), its token signed with that
/// account's credentials (the member role needs an access entry in the member's clusters).
pub type CentralPods = Central<PodRemediator>;

/// [`CentralPods`] over `base`; `endpoint_url` is `EKS_ENDPOINT_URL` (local runs and tests).
pub fn central(
    base: &SdkConfig,
    settings: Settings,
    accounts: Accounts,
    endpoint_url: Option<String>,
) -> CentralPods {
    Central::new(base, settings, accounts, move |sdk, settings| {
        PodRemediator::new(EksConnector::new(sdk, endpoint_url.clone()), &settings)
    })
}
