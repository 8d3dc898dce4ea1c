//! The EKS Fargate pod notice: `EKS Fargate Pod Scheduled Termination` → [`PodNotice`].

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::{non_empty, Parsed};
use crate::bounds;
use crate::parse_error::{shaped, ParseError};

/// An `EKS Fargate Pod Scheduled Termination` event (EKS user guide, "Fargate OS patching"):
///
/// ```json
/// { "source": "aws.eks", "detail-type": "EKS Fargate Pod Scheduled Termination",
///   "time": "2021-06-22T12:52:49Z", "resources": ["default/my-deployment-5d8c9c5d4b"],
///   "detail": { "clusterName": "my-cluster", "fargateProfileName": "my-fargate-profile",
///               "podName": "my-deployment-5d8c9c5d4b-8jx7l", "podNamespace": "default",
///               "evictErrorMessage": "Cannot evict pod as it would violate the pod's disruption budget",
///               "scheduledTerminationTime": "2021-06-30T12:52:44.832Z[UTC]" } }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PodNotice {
    pub event_id: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    /// When EKS published the event.
    pub published_at: DateTime<Utc>,
    pub cluster: String,
    pub fargate_profile: Option<String>,
    pub namespace: String,
    pub pod: String,
    /// Why the eviction failed (usually a PodDisruptionBudget).
    pub evict_error: Option<String>,
    /// When EKS deletes the pod regardless.
    pub scheduled_termination: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EksDetail {
    cluster_name: Option<String>,
    fargate_profile_name: Option<String>,
    pod_name: Option<String>,
    pod_namespace: Option<String>,
    evict_error_message: Option<String>,
    scheduled_termination_time: Option<String>,
}

pub(super) fn parse_eks(event: EventBridgeEvent<Value>) -> Result<Parsed, ParseError> {
    let detail: EksDetail = shaped(event.detail, "detail").map_err(ParseError::EksDetail)?;
    let required = |v: Option<String>, field: &'static str| {
        non_empty(v).ok_or(ParseError::MissingField(field))
    };
    let raw_time = required(
        detail.scheduled_termination_time,
        "detail.scheduledTerminationTime",
    )?;
    let scheduled_termination = termination_time(&raw_time)?;
    let published_at = event.time.ok_or(ParseError::MissingField("time"))?;
    bounds::span(
        "detail.scheduledTerminationTime",
        scheduled_termination,
        published_at,
    )?;
    Ok(Parsed::PodTermination(PodNotice {
        event_id: event.id,
        account: non_empty(event.account),
        region: non_empty(event.region),
        published_at,
        cluster: required(detail.cluster_name, "detail.clusterName")?,
        fargate_profile: non_empty(detail.fargate_profile_name),
        namespace: required(detail.pod_namespace, "detail.podNamespace")?,
        pod: required(detail.pod_name, "detail.podName")?,
        evict_error: non_empty(detail.evict_error_message),
        scheduled_termination,
    }))
}

/// `2021-06-30T12:52:44.832Z[UTC]`: RFC 3339 with a zone suffix in brackets.
fn termination_time(raw: &str) -> Result<DateTime<Utc>, ParseError> {
    let without_zone = raw.split_once('[').map_or(raw, |(t, _)| t).trim();
    DateTime::parse_from_rfc3339(without_zone)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ParseError::BadTime {
            field: "detail.scheduledTerminationTime",
            value: raw.to_owned(),
        })
}
