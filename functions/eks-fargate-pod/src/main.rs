//! Lambda for `EKS Fargate Pod Scheduled Termination` events. Wiring only: the shell is
//! `remediator-lambda`, the work `remediator-kube`'s owner restart over per-cluster clients,
//! in this account or (central mode) a member's.
// The handler's future nests the connection, the Kubernetes calls and the runtime's layers.
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    remediator_lambda::serve("eks-fargate-pod", |sdk, config| {
        remediator_kube::central(
            sdk,
            config.settings.clone(),
            config.accounts.clone(),
            config.eks_endpoint_url.clone(),
        )
    })
    .await
}
