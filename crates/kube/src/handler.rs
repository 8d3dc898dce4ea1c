//! One EKS event in, one report out: shared by the `eks-fargate-pod` Lambda and the CLI.

use chrono::{DateTime, Utc};
use remediator_aws::controls::Controls;
use remediator_core::defer::Gate;
use remediator_core::outcome::{Outcome, Report, Status};
use remediator_core::{parse_value, ParseError, Parsed, PodNotice, PodRef, Settings, Target};
use serde_json::Value;

use crate::connect::{ConnectError, EksConnector};
use crate::restart::{code, PodRestarter};

/// Remediates the pod a notice names: connect to its cluster, restart its owner.
pub async fn remediate_pod(
    connector: &EksConnector,
    notice: &PodNotice,
    dry_run: bool,
    opt_in_only: bool,
) -> Report {
    let outcome = match connector.client(&notice.cluster).await {
        Ok(client) => {
            PodRestarter::new(client)
                .opt_in_only(opt_in_only)
                .remediate(notice, Utc::now(), dry_run)
                .await
        }
        Err(e) => connect_failure(notice, &e),
    };
    Report::for_pod(notice, outcome, dry_run)
}

/// The Lambda path: maintenance-window gate, restart, metrics and notification. `now` is the
/// wall clock; `invoked_arn` the function (default target of a deferral schedule).
pub async fn handle_with(
    connector: &EksConnector,
    controls: &Controls,
    raw: Value,
    invoked_arn: &str,
    now: DateTime<Utc>,
    settings: &Settings,
) -> Report {
    let (dry_run, opt_in_only) = (settings.dry_run, settings.opt_in_only);
    let report = match parse_value(raw.clone()) {
        Ok(Parsed::PodTermination(notice)) => {
            let verdict = controls
                .gate(
                    &raw,
                    notice.event_id.as_deref(),
                    Some(notice.scheduled_termination),
                    vec![pod_target(&notice)],
                    invoked_arn,
                    now,
                )
                .await;
            match verdict {
                Some(Gate::Held(mut outcomes, why)) => match outcomes.pop() {
                    Some(outcome) => {
                        Report::for_pod(&notice, outcome, dry_run).with_timing(Some(why))
                    }
                    None => remediate_pod(connector, &notice, dry_run, opt_in_only).await,
                },
                Some(Gate::Proceed(why)) => remediate_pod(connector, &notice, dry_run, opt_in_only)
                    .await
                    .with_timing(Some(why)),
                None => remediate_pod(connector, &notice, dry_run, opt_in_only).await,
            }
        }
        parsed => handle_parsed(connector, parsed, settings).await,
    };
    report.log();
    controls.finish(&report, Utc::now()).await;
    report
}

/// Handles a raw event meant for the EKS path.
pub async fn handle_value(connector: &EksConnector, input: Value, settings: &Settings) -> Report {
    handle_parsed(connector, parse_value(input), settings).await
}

/// [`handle_value`] for an event parsed already.
pub async fn handle_parsed(
    connector: &EksConnector,
    parsed: Result<Parsed, ParseError>,
    settings: &Settings,
) -> Report {
    let (dry_run, opt_in_only) = (settings.dry_run, settings.opt_in_only);
    match parsed {
        Err(error) => Report::rejected(&error, dry_run),
        Ok(Parsed::Ignored(ignored)) => Report::ignored(&ignored, dry_run),
        Ok(Parsed::PodTermination(notice)) => {
            remediate_pod(connector, &notice, dry_run, opt_in_only).await
        }
        Ok(Parsed::Retirement(notice)) => Report::ignored(
            &remediator_core::notice::Ignored {
                event_id: notice.event_id.clone(),
                event_arn: Some(notice.event_arn.clone()),
                source: remediator_core::notice::HEALTH_SOURCE.into(),
                detail_type: remediator_core::notice::HEALTH_DETAIL_TYPE.into(),
                code: "wrong_function",
                reason: "an ECS retirement notice: the ecs-retirement function handles it".into(),
            },
            dry_run,
        ),
    }
}

/// The target a pod notice names.
pub fn pod_target(notice: &PodNotice) -> Target {
    Target::Pod(PodRef {
        cluster: notice.cluster.clone(),
        namespace: notice.namespace.clone(),
        name: notice.pod.clone(),
    })
}

fn connect_failure(notice: &PodNotice, e: &ConnectError) -> Outcome {
    let target = pod_target(notice);
    match e {
        ConnectError::ClusterNotFound(_) => {
            Outcome::new(target, Status::Skipped, code::GONE, e.to_string())
        }
        _ => Outcome::failed(target, code::API_ERROR, e.to_string(), e.is_retryable()),
    }
}
