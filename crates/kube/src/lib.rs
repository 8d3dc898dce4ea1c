//! EKS Fargate pods: the Kubernetes side of the remediator.
//!
//! - [`restart`]: follow the pod's owner chain and restart the workload like
//!   `kubectl rollout restart`, idempotently.
//! - [`token`]: the EKS bearer token (`k8s-aws-v1.` + a presigned STS `GetCallerIdentity` URL).
//!
//! - [`connect`]: DescribeCluster + token → a cached `kube::Client` per cluster, renewed by the
//!   wall clock (Lambda's freezes stop the monotonic one) well before the token expires.
//! - [`pods`]: the function's [`remediator_core::Remediate`]: connect, then restart; a 401
//!   drops the client and retries once with a new token.

pub mod connect;
pub mod pods;
pub mod restart;
pub mod token;

pub use connect::EksConnector;
pub use pods::PodRemediator;
pub use restart::PodRestarter;
