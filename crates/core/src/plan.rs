//! Pure decisions: notice + observed state → what to do. No I/O here.

use chrono::{DateTime, Utc};

use crate::outcome::{code, Outcome, Status};
use crate::ports::{Controller, ServiceObservation};
use crate::target::{ServiceRef, Target};

/// Action names, shared by outcomes, logs and metrics.
pub const FORCE_NEW_DEPLOYMENT: &str = "force_new_deployment";

/// What to do with one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceDecision {
    /// `UpdateService(forceNewDeployment=true)`.
    ForceNewDeployment { previous_deployment: Option<String> },
    /// Nothing to call: the outcome is already known.
    Final(Outcome),
}

/// Decides for one service, given what `DescribeServices` returned for it (`None`: missing).
///
/// `published_at` is when the notice was published: a PRIMARY deployment created after it
/// already runs its tasks on patched hosts, so a redelivered or repeated notice needs no action.
pub fn plan_service(
    service: &ServiceRef,
    observed: Option<&ServiceObservation>,
    missing_reason: Option<&str>,
    published_at: DateTime<Utc>,
) -> ServiceDecision {
    let target = Target::Service(service.clone());
    let Some(observed) = observed else {
        return ServiceDecision::Final(Outcome::new(
            target,
            Status::Skipped,
            code::NOT_FOUND,
            format!(
                "service not found ({}): nothing left to retire",
                missing_reason.unwrap_or("not returned by DescribeServices")
            ),
        ));
    };
    if observed.status != "ACTIVE" {
        return ServiceDecision::Final(Outcome::new(
            target,
            Status::Skipped,
            code::NOT_FOUND,
            format!("service is {}: nothing left to retire", observed.status),
        ));
    }
    match &observed.controller {
        Controller::Ecs => {}
        Controller::CodeDeploy => {
            return ServiceDecision::Final(
                Outcome::new(
                    target,
                    Status::Skipped,
                    code::NOT_BUILT_YET,
                    "CODE_DEPLOY (blue/green) services: remediation through a CodeDeploy \
                     deployment is not built yet; redeploy the same task definition before the \
                     retirement date",
                )
                .with_action("codedeploy_redeploy"),
            )
        }
        Controller::External => {
            return ServiceDecision::Final(
                Outcome::new(
                    target,
                    Status::Skipped,
                    code::NOT_BUILT_YET,
                    "EXTERNAL controller services: task set replacement is not built yet; \
                     replace the task set with the same task definition before the retirement date",
                )
                .with_action("replace_task_set"),
            )
        }
        Controller::Unknown(other) => {
            return ServiceDecision::Final(Outcome::failed(
                target,
                code::API_ERROR,
                format!("unknown deployment controller {other:?}: not acting on it"),
                false,
            ))
        }
    }
    let primary = observed.primary_deployment.as_ref();
    if let Some(deployment) = primary {
        if let Some(created_at) = deployment.created_at {
            if created_at > published_at {
                return ServiceDecision::Final(
                    Outcome::new(
                        target,
                        Status::AlreadyDone,
                        code::ALREADY_REPLACED,
                        format!(
                            "PRIMARY deployment {} was created at {} after the notice ({}): tasks already replaced",
                            deployment.id,
                            created_at.to_rfc3339(),
                            published_at.to_rfc3339()
                        ),
                    )
                    .with_action(FORCE_NEW_DEPLOYMENT)
                    .with_deployments(None, Some(deployment.id.clone())),
                );
            }
        }
    }
    ServiceDecision::ForceNewDeployment {
        previous_deployment: primary.map(|d| d.id.clone()),
    }
}
