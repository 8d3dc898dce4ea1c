//! The `eks-fargate-pod` function's remediation: reach the pod's cluster, restart its owner.
//! The Lambda shell and the CLI run it through the one pipeline (`remediator_core::pipeline`).

use chrono::{DateTime, Utc};
use remediator_core::follow::{Followed, Verdict};
use remediator_core::outcome::{Outcome, Status};
use remediator_core::pipeline::{claim_pod, pod_target, Claim, Remediate};
use remediator_core::pod::parse_workload_ref;
use remediator_core::Code;
use remediator_core::{Parsed, PodNotice, Settings};
use tokio::time::Instant;

use crate::connect::{ConnectError, EksConnector};
use crate::restart::PodRestarter;

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
        let outcome = match self.connector.client(&notice.cluster).await {
            Ok(client) => {
                PodRestarter::new(client)
                    .opt_in_only(self.opt_in_only)
                    .remediate(notice, Utc::now(), self.dry_run)
                    .await
            }
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
            let verdict = match self.connector.client(&notice.cluster).await {
                Ok(client) => PodRestarter::new(client).check(notice, kind, name).await,
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
