//! The CodeDeploy port, implemented with `aws-sdk-codedeploy`. SDK types stop here.

use aws_sdk_codedeploy::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_codedeploy::types::{
    AppSpecContent, ComputePlatform, DeploymentInfo, DeploymentStatus, RevisionLocation,
    RevisionLocationType, TimeRange,
};
use chrono::{DateTime, Utc};
use remediator_core::ports::{
    ApiError, ApiErrorKind, CodeDeployApi, CodeDeployment, DeploymentGroupRef,
};

use remediator_sdk::{classify_with, has_code};

use crate::ecs::{classify_mutating, ThrottlingOnly};

/// CodeDeploy through the AWS SDK. Cheap to clone: the client is shared.
#[derive(Clone, Debug)]
pub struct SdkCodeDeploy {
    client: aws_sdk_codedeploy::Client,
}

impl SdkCodeDeploy {
    pub fn new(client: aws_sdk_codedeploy::Client) -> Self {
        SdkCodeDeploy { client }
    }
}

/// `BatchGetDeployments` takes at most 25 ids.
const MAX_DEPLOYMENTS_PER_BATCH: usize = 25;

/// How far back (days) the windows in which the newest deployment is looked for reach, each
/// window starting where the previous one ended; after the last one, everything older.
const NEWEST_WINDOWS_DAYS: [i64; 5] = [1, 7, 30, 90, 365];

impl SdkCodeDeploy {
    /// Ids of the group's deployments in `statuses`, created within `range` when one is given.
    async fn list_ids(
        &self,
        group: &DeploymentGroupRef,
        statuses: &[&str],
        range: Option<TimeRange>,
    ) -> Result<Vec<String>, ApiError> {
        // SDK paginators end on a missing or empty token, so a listing cannot loop for ever.
        self.client
            .list_deployments()
            .application_name(&group.application)
            .deployment_group_name(&group.group)
            .set_include_only_statuses(Some(
                statuses
                    .iter()
                    .map(|s| DeploymentStatus::from(*s))
                    .collect(),
            ))
            .set_create_time_range(range)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify_cd("ListDeployments", e))
    }

    /// The deployments `ids` names, newest first (those without a time last).
    async fn describe(&self, ids: &[String]) -> Result<Vec<CodeDeployment>, ApiError> {
        let mut found = Vec::new();
        for chunk in ids.chunks(MAX_DEPLOYMENTS_PER_BATCH) {
            let out = self
                .client
                .batch_get_deployments()
                .set_deployment_ids(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| classify_cd("BatchGetDeployments", e))?;
            found.extend(out.deployments_info().iter().filter_map(deployment));
        }
        found.sort_by_key(|d| std::cmp::Reverse(d.created_at));
        Ok(found)
    }
}

impl CodeDeployApi for SdkCodeDeploy {
    async fn get_deployment(&self, id: &str) -> Result<Option<CodeDeployment>, ApiError> {
        match self.client.get_deployment().deployment_id(id).send().await {
            Ok(out) => Ok(out.deployment_info().and_then(deployment)),
            Err(e)
                if has_code(
                    &e,
                    &[
                        "DeploymentDoesNotExistException",
                        "InvalidDeploymentIdException",
                    ],
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(classify_cd("GetDeployment", e)),
        }
    }

    async fn find_group(
        &self,
        cluster: &str,
        service: &str,
    ) -> Result<Option<DeploymentGroupRef>, ApiError> {
        let applications: Vec<String> = self
            .client
            .list_applications()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify_cd("ListApplications", e))?;
        for application in applications {
            let groups: Vec<String> = self
                .client
                .list_deployment_groups()
                .application_name(&application)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| classify_cd("ListDeploymentGroups", e))?;
            for group in groups {
                // BatchGetDeploymentGroups would save calls; GetDeploymentGroup is what every
                // CodeDeploy implementation (moto included) answers.
                let out = self
                    .client
                    .get_deployment_group()
                    .application_name(&application)
                    .deployment_group_name(&group)
                    .send()
                    .await
                    .map_err(|e| classify_cd("GetDeploymentGroup", e))?;
                let Some(info) = out.deployment_group_info() else {
                    continue;
                };
                if info
                    .compute_platform()
                    .is_some_and(|p| *p != ComputePlatform::Ecs)
                {
                    continue;
                }
                let names_it = info.ecs_services().iter().any(|s| {
                    s.service_name() == Some(service)
                        && s.cluster_name()
                            .is_some_and(|c| c == cluster || c.ends_with(&format!("/{cluster}")))
                });
                if names_it {
                    return Ok(Some(DeploymentGroupRef {
                        application: application.clone(),
                        group,
                    }));
                }
            }
        }
        Ok(None)
    }

    async fn deployments(
        &self,
        group: &DeploymentGroupRef,
        statuses: &[&str],
    ) -> Result<Vec<CodeDeployment>, ApiError> {
        let ids = self.list_ids(group, statuses, None).await?;
        self.describe(&ids).await
    }

    /// Searched in `createTimeRange` windows back from now ([`NEWEST_WINDOWS_DAYS`]): the
    /// first window that holds any deployment in `statuses` is the only one whose deployments
    /// are fetched, and its newest is the answer. So the cost is one `ListDeployments` per empty
    /// window (at most six) plus the deployments of one window (a day's, for a group that
    /// releases daily), not the group's whole history. CodeDeploy documents no order for
    /// `ListDeployments`, so the newest is picked by `createTime`, within the window.
    async fn newest_deployment(
        &self,
        group: &DeploymentGroupRef,
        statuses: &[&str],
    ) -> Result<Option<CodeDeployment>, ApiError> {
        let now = Utc::now();
        // The first window is open towards the future: a clock behind CodeDeploy's loses nothing.
        let mut end: Option<DateTime<Utc>> = None;
        for days in NEWEST_WINDOWS_DAYS.iter().map(Some).chain([None]) {
            let start = days.map(|&d| now - chrono::TimeDelta::days(d));
            let range = TimeRange::builder()
                .set_start(start.map(smithy_time))
                .set_end(end.map(smithy_time))
                .build();
            let ids = self.list_ids(group, statuses, Some(range)).await?;
            let newest = self.describe(&ids).await?.into_iter().next();
            if newest.is_some() {
                return Ok(newest);
            }
            match start {
                Some(start) => end = Some(start),
                None => break,
            }
        }
        Ok(None)
    }

    async fn create_deployment(
        &self,
        group: &DeploymentGroupRef,
        appspec_content: &str,
        sha256: &str,
        description: &str,
    ) -> Result<String, ApiError> {
        let revision = RevisionLocation::builder()
            .revision_type(RevisionLocationType::AppSpecContent)
            .app_spec_content(
                AppSpecContent::builder()
                    .content(appspec_content)
                    .sha256(sha256)
                    .build(),
            )
            .build();
        let out = self
            .client
            .create_deployment()
            .application_name(&group.application)
            .deployment_group_name(&group.group)
            .revision(revision)
            .description(description)
            // Only a throttled request is resent by the SDK: see `ThrottlingOnly`.
            .customize()
            .config_override(
                aws_sdk_codedeploy::config::Config::builder().retry_classifier(ThrottlingOnly),
            )
            .send()
            .await
            .map_err(|e| {
                if has_code(&e, &["DeploymentLimitExceededException"]) {
                    ApiError::new("CreateDeployment", ApiErrorKind::Busy, e.to_string())
                } else {
                    classify_mutating(e, |e| classify_cd("CreateDeployment", e))
                }
            })?;
        out.deployment_id().map(str::to_owned).ok_or_else(|| {
            ApiError::new(
                "CreateDeployment",
                ApiErrorKind::Transient,
                "CreateDeployment answered without a deployment id",
            )
        })
    }
}

fn smithy_time(t: DateTime<Utc>) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_secs_and_nanos(t.timestamp(), t.timestamp_subsec_nanos())
}

fn deployment(info: &DeploymentInfo) -> Option<CodeDeployment> {
    let revision = info.revision();
    Some(CodeDeployment {
        id: info.deployment_id()?.to_owned(),
        group: DeploymentGroupRef {
            application: info.application_name()?.to_owned(),
            group: info.deployment_group_name()?.to_owned(),
        },
        status: info
            .status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        created_at: info
            .create_time()
            .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos())),
        appspec_content: revision
            .and_then(|r| r.app_spec_content())
            .and_then(|c| c.content())
            .map(str::to_owned),
        revision_type: revision
            .and_then(|r| r.revision_type())
            .map(|t| t.as_str().to_owned()),
        error: info.error_information().map(|e| {
            format!(
                "{}: {}",
                e.code().map_or("-", |c| c.as_str()),
                e.message().unwrap_or("no message")
            )
        }),
    })
}

/// CodeDeploy's own names for "not found", on top of the common ones.
const CODEDEPLOY_NOT_FOUND: &[&str] = &[
    "ApplicationDoesNotExistException",
    "DeploymentGroupDoesNotExistException",
];

/// [`classify_with`] CodeDeploy's not-found names.
fn classify_cd<E, R>(operation: &'static str, error: SdkError<E, R>) -> ApiError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    classify_with(operation, error, CODEDEPLOY_NOT_FOUND)
}
