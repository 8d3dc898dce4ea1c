//! EKS Fargate pods: the Kubernetes side of the remediator.
//!
//! - [`restart`]: follow the pod's owner chain and restart the workload like
//!   `kubectl rollout restart`, idempotently.
//! - [`token`]: the EKS bearer token (`k8s-aws-v1.` + a presigned STS `GetCallerIdentity` URL).
//!
//! Not wired into a Lambda or the CLI yet (see the README).

pub mod restart;
pub mod token;

pub use restart::PodRestarter;
