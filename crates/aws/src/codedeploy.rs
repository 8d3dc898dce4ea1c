//! The CodeDeploy port, implemented with `aws-sdk-codedeploy`. SDK types stop here.

use aws_sdk_codedeploy::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_codedeploy::types::{
    AppSpecContent, ComputePlatform, DeploymentInfo, DeploymentStatus, RevisionLocation,
    RevisionLocationType,
};
use chrono::{DateTime, Utc};
use remediator_core::ports::{
    ApiError, ApiErrorKind, CodeDeployApi, CodeDeployment, DeploymentGroupRef,
};

use remediator_sdk::{classify_with, has_code};

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
        // SDK paginators end on a missing or empty token, so a listing cannot loop for ever.
        let ids: Vec<String> = self
            .client
            .list_deployments()
            .application_name(&group.application)
            .deployment_group_name(&group.group)
            .set_include_only_statuses(Some(
                statuses
                    .iter()
                    .map(|s| DeploymentStatus::from(*s))
                    .collect(),
            ))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| classify_cd("ListDeployments", e))?;
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
        // Newest first; deployments without a time sort last.
        found.sort_by_key(|d| std::cmp::Reverse(d.created_at));
        Ok(found)
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
            .send()
            .await
            .map_err(|e| {
                if has_code(&e, &["DeploymentLimitExceededException"]) {
                    ApiError::new("CreateDeployment", ApiErrorKind::Busy, e.to_string())
                } else {
                    classify_cd("CreateDeployment", e)
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
