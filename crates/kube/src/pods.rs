//! The `eks-fargate-pod` function's remediation: reach the pod's cluster, restart its owner.
//! The Lambda shell and the CLI run it through the one pipeline (`remediator_core::pipeline`).
//!
//! A 401 from the API server means the cached client's token was refused (it outlived its
//! 15 minutes, the credentials that signed it expired, or access was revoked): the client is
//! dropped and the operation runs once more on a freshly signed token. A second 401 fails the
//! restart as retryable (a follow-up check tries again) with a reason naming the role's access
//! entry: a fresh token refused usually means the role has no access to the cluster, but the
//! authenticator also answers 401 when its own STS call fails, which passes.

use chrono::{DateTime, Utc};
use remediator_core::follow::{Followed, Verdict};
use remediator_core::outcome::{Outcome, Status};
use remediator_core::pipeline::{claim_pod, pod_target, Claim, Remediate};
use remediator_core::pod::{self, parse_workload_ref};
use remediator_core::Code;
use remediator_core::{Parsed, PodNotice, Settings};
use tokio::time::Instant;

use crate::connect::{ConnectError, EksConnector};
use crate::restart::{PodRestarter, Unauthorized};

/// What an operator should check when even a freshly signed token is refused.
const ACCESS_HINT: &str = "a freshly signed token was refused too: check that the function's role has an EKS access entry (or aws-auth mapping) for the cluster, and that the token is signed in the cluster's Region and partition";

/// Restarts the owners of the pods EKS notices name, through cached per-cluster clients.
pub struct PodRemediator {
    connector: EksConnector,
    dry_run: bool,
    opt_in_only: bool,
}

impl PodRemediator {
    pub fn new(connector: EksConnector, settings: &Settings) -> Self {
        PodRemediator {
            connector,
            dry_run: settings.dry_run,
            opt_in_only: settings.opt_in_only,
        }
    }

    /// Runs `op` with a client for `cluster`. On a 401 the cached client is dropped and `op`
    /// runs once more on a client with a new token; its answer (a second 401 included) is
    /// final.
    async fn on_cluster<T>(
        &self,
        cluster: &str,
        op: impl AsyncFn(kube::Client) -> Result<T, Unauthorized>,
    ) -> Result<Result<T, Unauthorized>, ConnectError> {
        let client = self.connector.client(cluster).await?;
        match op(client).await {
            Err(refused) => {
                tracing::warn!(
                    cluster,
                    error = %refused,
                    "token refused; reconnecting with a new token and trying once more"
                );
                self.connector.invalidate(cluster);
                let client = self.connector.client(cluster).await?;
                Ok(op(client).await)
            }
            done => Ok(done),
        }
    }
}

impl Remediate for PodRemediator {
    type Notice = PodNotice;

    fn dry_run(&self) -> bool {
        self.dry_run
    }

    fn claim(&self, parsed: Parsed) -> Claim<PodNotice> {
        claim_pod(parsed)
    }

    /// One outcome: the pod's. A restart is one PATCH, well inside any invocation deadline.
    #[tracing::instrument(name = "pod", skip_all, fields(cluster = %notice.cluster, namespace = %notice.namespace, pod = %notice.pod))]
    async fn remediate(&self, notice: &PodNotice, _deadline: Option<Instant>) -> Vec<Outcome> {
        let restart = async |client| {
            PodRestarter::new(client)
                .opt_in_only(self.opt_in_only)
                .try_remediate(notice, self.connector.now(), self.dry_run)
                .await
        };
        let outcome = match self.on_cluster(&notice.cluster, restart).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(refused)) => pod::api_error(notice, format!("{refused}; {ACCESS_HINT}"), true),
            Err(e) => connect_failure(notice, &e),
        };
        vec![outcome]
    }

    /// Looks at the workload each followed pod's remediation recorded (`Deployment/web`).
    async fn verify(
        &self,
        notice: &PodNotice,
        followed: &[Followed],
        _now: DateTime<Utc>,
        _deadline: Option<Instant>,
    ) -> Vec<Verdict> {
        let mut verdicts = Vec::with_capacity(followed.len());
        for f in followed {
            let Some((kind, name)) = f.after.as_deref().and_then(parse_workload_ref) else {
                verdicts.push(Verdict::Failed(
                    Code::UnrecognizedEntity,
                    "no workload recorded to check the pod's replacement by".into(),
                ));
                continue;
            };
            let check = async |client| {
                PodRestarter::new(client)
                    .try_check(notice, kind, name)
                    .await
            };
            let verdict = match self.on_cluster(&notice.cluster, check).await {
                Ok(Ok(verdict)) => verdict,
                Ok(Err(refused)) => Verdict::Pending(format!(
                    "{refused}; {ACCESS_HINT}; the next check looks again"
                )),
                Err(ConnectError::ClusterNotFound(_)) => Verdict::Verified(format!(
                    "cluster {} is gone: no pod of it is left to retire",
                    notice.cluster
                )),
                Err(e) => Verdict::Pending(format!(
                    "could not reach cluster {} ({e}); the next check looks again",
                    notice.cluster
                )),
            };
            verdicts.push(verdict);
        }
        verdicts
    }
}

fn connect_failure(notice: &PodNotice, e: &ConnectError) -> Outcome {
    let target = pod_target(notice);
    match e {
        ConnectError::ClusterNotFound(_) => {
            Outcome::new(target, Status::Skipped, Code::Gone, e.to_string())
        }
        _ => Outcome::failed(target, Code::ApiError, e.to_string(), e.is_retryable()),
    }
}
