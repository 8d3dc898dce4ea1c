//! Lambda for `EKS Fargate Pod Scheduled Termination` events. Wiring only: the shell is
//! `remediator-lambda`, the work `remediator-kube`'s owner restart over per-cluster clients,
//! in this account or (central mode) a member's.
// The handler's future nests the connection, the Kubernetes calls and the runtime's layers.
#![recursion_limit = "256"]

fn main() -> Result<(), lambda_runtime::Error> {
    remediator_lambda::start("eks-fargate-pod", |sdk, config| {
        if config.eks_endpoint_url.is_some() {
            lambda_runtime::tracing::warn!("EKS_ENDPOINT_URL is ignored by the function: its bearer tokens go only to the endpoint EKS DescribeCluster returns (the CLI honours it for local fakes)");
        }
        // No endpoint override in production: a token signed for a cluster must never be sent
        // wherever an environment variable points.
        remediator_kube::central(sdk, config.settings.clone(), config.accounts.clone(), None)
    })
}
