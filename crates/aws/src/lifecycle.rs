//! ECS deployment lifecycles through the SDK: what a service's `deploymentConfiguration` says of
//! the waits a deployment takes on purpose (bake time, lifecycle hooks), and the service
//! deployment ECS is running (`DescribeServiceDeployments`: status, lifecycle stage, hooks).
//!
//! Read from the ECS API reference (2026): `DeploymentConfiguration.bakeTimeInMinutes`,
//! `canaryConfiguration.canaryBakeTimeInMinutes`, `linearConfiguration.stepBakeTimeInMinutes`
//! and `stepPercent`, `lifecycleHooks`; `ServiceDeployment.status`, `lifecycleStage`,
//! `lifecycleHookDetails` (`hookId`, `targetType`, `status`, `expiresAt`, `timeoutAction`).
//! A PAUSE hook waits in `AWAITING_ACTION` until `ContinueServiceDeployment(hookId, action)`.
//! Sources: docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ServiceDeployment.html,
//! …/API_ContinueServiceDeployment.html, …/developerguide/continue-service-deployment.html
//! ("the pause hook must be in AWAITING_ACTION status; the deployment must be IN_PROGRESS"),
//! and `resourceManagementType` (`ECS`: an Express Mode service) in …/API_Service.html.

use aws_sdk_ecs::types::{DeploymentStrategy, Service, ServiceDeployment};
use chrono::{DateTime, Duration, Utc};
use remediator_core::ports::{ApiError, HookView, Lifecycle, ServiceDeploymentView};
use remediator_sdk::classify;

/// The lifecycle `DescribeServices` shows for one service. Absent fields take the defaults the
/// API reference gives (CanaryConfiguration: `canaryBakeTimeInMinutes` 10; LinearConfiguration:
/// `stepPercent` 10.0, `stepBakeTimeInMinutes` 6, "not applied after reaching 100 percent
/// traffic", so `ceil(100 / stepPercent) - 1` step bakes).
pub(crate) fn lifecycle(service: &Service) -> Lifecycle {
    let config = service.deployment_configuration();
    let minutes =
        |m: Option<i32>, default: i32| Duration::minutes(i64::from(m.unwrap_or(default).max(0)));
    let strategy = config.and_then(|c| c.strategy());
    let final_bake = minutes(config.and_then(|c| c.bake_time_in_minutes()), 0);
    let steps = match strategy {
        Some(DeploymentStrategy::Canary) => minutes(
            config
                .and_then(|c| c.canary_configuration())
                .and_then(|c| c.canary_bake_time_in_minutes()),
            10,
        ),
        Some(DeploymentStrategy::Linear) => {
            let linear = config.and_then(|c| c.linear_configuration());
            let step = minutes(linear.and_then(|c| c.step_bake_time_in_minutes()), 6);
            let percent = linear.and_then(|c| c.step_percent()).unwrap_or(10.0);
            // stepPercent is 3.0 to 100.0: 0 to 33 baked steps.
            let baked = if percent > 0.0 {
                ((100.0 / percent).ceil() as i32 - 1).clamp(0, 100)
            } else {
                0
            };
            step * baked
        }
        _ => Duration::zero(),
    };
    Lifecycle {
        strategy: strategy.map(|s| s.as_str().to_owned()),
        bake: final_bake + steps,
        final_bake,
        hooks: config.map_or(0, |c| c.lifecycle_hooks().len()),
        current_deployment: service.current_service_deployment().map(str::to_owned),
    }
}

/// Whether ECS manages the service through Express Mode (`resourceManagementType` `ECS`).
pub(crate) fn express(service: &Service) -> bool {
    service
        .resource_management_type()
        .is_some_and(|t| t.as_str() == "ECS")
}

/// `DescribeServiceDeployments` of up to 20 ARNs.
pub(crate) async fn describe(
    client: &aws_sdk_ecs::Client,
    arns: &[String],
) -> Result<Vec<ServiceDeploymentView>, ApiError> {
    if arns.is_empty() {
        return Ok(Vec::new());
    }
    let out = client
        .describe_service_deployments()
        .set_service_deployment_arns(Some(arns.to_vec()))
        .send()
        .await
        .map_err(|e| classify("DescribeServiceDeployments", e))?;
    Ok(out.service_deployments().iter().filter_map(view).collect())
}

fn view(d: &ServiceDeployment) -> Option<ServiceDeploymentView> {
    Some(ServiceDeploymentView {
        arn: d.service_deployment_arn()?.to_owned(),
        status: d
            .status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        status_reason: d.status_reason().map(str::to_owned),
        lifecycle_stage: d.lifecycle_stage().map(|s| s.as_str().to_owned()),
        created_at: d.created_at().and_then(to_chrono),
        updated_at: d.updated_at().and_then(to_chrono),
        hooks: d
            .lifecycle_hook_details()
            .iter()
            .filter_map(|h| {
                Some(HookView {
                    id: h.hook_id()?.to_owned(),
                    target_type: h.target_type().map(|t| t.as_str().to_owned()),
                    status: h
                        .status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    expires_at: h.expires_at().and_then(to_chrono),
                    timeout_action: h.timeout_action().map(|a| a.as_str().to_owned()),
                })
            })
            .collect(),
    })
}

fn to_chrono(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}
