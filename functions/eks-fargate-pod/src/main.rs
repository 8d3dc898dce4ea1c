//! Lambda for `EKS Fargate Pod Scheduled Termination` events. Wiring only: the shell is
//! `remediator-lambda`, the work `remediator-kube`'s owner restart over per-cluster clients.
// The handler's future nests the connection, the Kubernetes calls and the runtime's layers.
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    remediator_lambda::serve("eks-fargate-pod", |sdk, config| {
        let connector = remediator_kube::EksConnector::new(sdk, config.eks_endpoint_url.clone());
        remediator_kube::PodRemediator::new(connector, &config.settings)
    })
    .await
}
