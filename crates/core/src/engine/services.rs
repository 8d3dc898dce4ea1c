//! Forced deployments: a rolling (ECS-controlled) service is remediated by
//! `UpdateService(forceNewDeployment=true)`; ECS then replaces its tasks under the service's own
//! deployment settings, on patched hosts.
//!
//! Calls are paced to the ECS "service modify" token bucket (`paced`) on top of the backoff, so
//! a thousand services proceed at the throttling floor instead of in a storm of retries.

use tokio::time::Instant;

use super::budget::{failure_outcome, Budget};
use super::Remediator;
use crate::names::{Action, Code};
use crate::outcome::{Outcome, Status};
use crate::ports::{ApiErrorKind, CodeDeployApi, EcsServices, EcsTasks};
use crate::target::{ServiceRef, Target};

impl<E: EcsServices + EcsTasks, D: CodeDeployApi> Remediator<E, D> {
    /// `UpdateService(forceNewDeployment=true)`, paced, and what came of it.
    #[tracing::instrument(name = "service", skip_all, fields(cluster = %service.cluster, service = %service.service))]
    pub(super) async fn force_new_deployment(
        &self,
        service: ServiceRef,
        previous: Option<String>,
        deadline: Option<Instant>,
    ) -> Outcome {
        let target = Target::Service(service.clone());
        if self.settings.dry_run {
            return Outcome::new(
                target,
                Status::Planned,
                Code::WouldForceNewDeployment,
                "dry run: would call UpdateService(forceNewDeployment=true)",
            )
            .with_action(Action::ForceNewDeployment)
            .with_deployments(previous, None);
        }
        let result = self
            .with_backoff(deadline, || async {
                self.paced(deadline).await?;
                self.ecs
                    .force_new_deployment(&service.cluster, &service.service)
                    .await
                    .map_err(Budget::Api)
            })
            .await;
        match result {
            Ok(new_primary) => Outcome::new(
                target,
                Status::Acted,
                Code::ForcedNewDeployment,
                "new deployment forced: ECS replaces the tasks under the service's deployment settings",
            )
            .with_action(Action::ForceNewDeployment)
            .with_deployments(previous, new_primary.map(|d| d.id)),
            Err(Budget::Api(e)) if e.kind == ApiErrorKind::NotFound => Outcome::new(
                target,
                Status::Skipped,
                Code::NotFound,
                format!("service disappeared before it could be updated: {}", e.message),
            )
            .with_deployments(previous, None),
            // Not reached in time: no call was made, so no action is named.
            Err(e @ Budget::Exhausted) => {
                failure_outcome(&target, e).with_deployments(previous, None)
            }
            Err(e) => failure_outcome(&target, e)
                .with_action(Action::ForceNewDeployment)
                .with_deployments(previous, None),
        }
    }
}
