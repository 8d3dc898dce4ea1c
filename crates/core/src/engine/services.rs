//! Forced deployments: a rolling (ECS-controlled) service is remediated by
//! `UpdateService(forceNewDeployment=true)`; ECS then replaces its tasks under the service's own
//! deployment settings, on patched hosts.
//!
//! Calls are paced to the account's share of the ECS "service modify" token bucket (`paced`,
//! from the budget every environment acting in the account shares) on top of the backoff, so a
//! thousand services proceed at the throttling floor instead of in a storm of retries.
//!
//! `UpdateService` has no idempotency token: a call that failed with a 5xx, a timeout or a lost
//! connection may have forced a deployment all the same. Such a failure is followed by a
//! `DescribeServices` (`new_primary`) before any further call; a PRIMARY deployment other than
//! the one the decision saw is the lost answer, and the call is not made again.

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::budget::{failure_outcome, Applied, Budget, CLOCK_SKEW};
use super::Remediator;
use crate::names::{Action, Code};
use crate::outcome::{Outcome, Status};
use crate::ports::{ApiErrorKind, BudgetKey, CodeDeployApi, DeploymentInfo, EcsServices, EcsTasks};
use crate::target::{ServiceRef, Target};

impl<E: EcsServices + EcsTasks, D: CodeDeployApi> Remediator<E, D> {
    /// `UpdateService(forceNewDeployment=true)`, paced, and what came of it.
    #[tracing::instrument(name = "service", skip_all, fields(cluster = %service.cluster, service = %service.service))]
    pub(super) async fn force_new_deployment(
        &self,
        service: ServiceRef,
        previous: Option<String>,
        key: &BudgetKey,
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
        let started = Utc::now();
        let result = self
            .mutate(
                deadline,
                || async {
                    self.paced(key, deadline).await?;
                    self.ecs
                        .force_new_deployment(&service.cluster, &service.service)
                        .await
                        .map_err(Budget::Api)
                },
                || async {
                    self.new_primary(&service, previous.as_deref(), started, deadline)
                        .await
                        .map(|found| found.map(Some))
                },
            )
            .await;
        match result {
            Ok(Applied::Answered(new_primary)) => Outcome::new(
                target,
                Status::Acted,
                Code::ForcedNewDeployment,
                "new deployment forced: ECS replaces the tasks under the service's deployment settings",
            )
            .with_action(Action::ForceNewDeployment)
            .with_created_at(new_primary.as_ref().and_then(|d| d.created_at))
            .with_deployments(previous, new_primary.map(|d| d.id)),
            Ok(Applied::Observed { value, error }) => {
                let created_at = value.as_ref().and_then(|d| d.created_at);
                let id = value.map(|d| d.id);
                Outcome::new(
                    target,
                    Status::Acted,
                    Code::ForcedNewDeployment,
                    format!(
                        "new deployment forced: UpdateService failed without saying whether it took effect \
                         ({error}); DescribeServices then showed the new PRIMARY deployment {}, so it was \
                         not called again. ECS replaces the tasks under the service's deployment settings",
                        id.as_deref().unwrap_or("?")
                    ),
                )
                .with_action(Action::ForceNewDeployment)
                .with_created_at(created_at)
                .with_deployments(previous, id)
            }
            Err(Budget::Api(e)) if e.kind == ApiErrorKind::NotFound => Outcome::new(
                target,
                Status::Skipped,
                Code::NotFound,
                format!("service disappeared before it could be updated: {}", e.message),
            )
            .with_deployments(previous, None),
            // Not reached in time, or no token to make it: no call was made, so no action is
            // named.
            Err(e @ (Budget::Exhausted | Budget::Store(_))) => {
                failure_outcome(&target, e).with_deployments(previous, None)
            }
            Err(e) => {
                let ambiguous = matches!(&e, Budget::Api(e) if e.kind == ApiErrorKind::Transient);
                let mut outcome = failure_outcome(&target, e)
                    .with_action(Action::ForceNewDeployment)
                    .with_deployments(previous, None);
                if ambiguous {
                    outcome.reason.push_str(
                        "; it may have taken effect: the next attempt describes the service before \
                         forcing anything",
                    );
                }
                outcome
            }
        }
    }

    /// After an ambiguous `UpdateService` failure: the service's PRIMARY deployment, if it is
    /// not the one the decision saw (`previous`), i.e. the deployment the lost call made. With no
    /// `previous` to compare with, a PRIMARY deployment created since just before the first call
    /// (`started`, less the clock skew) counts as new. `Ok(None)`: nothing new (or the service
    /// is no longer described: calling again says so). `Err`: the service could not be described.
    async fn new_primary(
        &self,
        service: &ServiceRef,
        previous: Option<&str>,
        started: DateTime<Utc>,
        deadline: Option<Instant>,
    ) -> Result<Option<DeploymentInfo>, Budget> {
        let names = [service.service.clone()];
        let described = self
            .with_backoff(deadline, || {
                self.ecs.describe_services(&service.cluster, &names)
            })
            .await?;
        let since = started - CLOCK_SKEW;
        Ok(described
            .services
            .into_iter()
            .find(|o| o.name == service.service)
            .and_then(|o| o.primary_deployment)
            .filter(|d| match previous {
                Some(previous) => d.id != previous,
                None => d.created_at.is_some_and(|t| t >= since),
            }))
    }
}
