//! EKS Fargate pods: the Kubernetes side of the remediator.
//!
//! - [`restart`]: follow the pod's owner chain and restart the workload like
//!   `kubectl rollout restart`, idempotently.
//! - [`token`]: the EKS bearer token (`k8s-aws-v1.` + a presigned STS `GetCallerIdentity` URL).
//!
//! - [`connect`]: DescribeCluster + token → a cached `kube::Client` per cluster.
//! - [`handler`]: one EKS event in, one report out (the `eks-fargate-pod` Lambda and the CLI).

pub mod connect;
pub mod handler;
pub mod restart;
pub mod token;

pub use connect::EksConnector;
pub use restart::PodRestarter;
