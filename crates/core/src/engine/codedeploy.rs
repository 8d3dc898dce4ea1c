//! CodeDeploy redeploys: a blue/green (CodeDeploy-controlled) service cannot be forced through
//! ECS, so a CodeDeploy deployment re-deploys what its PRIMARY task set runs, keeping the
//! lifecycle hooks of the revision that deployed it.
//!
//! One deployment per group: the group's in-progress deployments are looked at before one is
//! created, and `DeploymentLimitExceeded` (`Busy`) ends as a retryable "deployment in progress".
//!
//! `CreateDeployment` has no idempotency token: a call that failed with a 5xx, a timeout or a
//! lost connection may have created the deployment all the same. Such a failure is followed by a
//! look at the group's deployments in progress (`created_by_us`) before any further call; one
//! created since just before the call from the same AppSpec content is the lost answer, and it
//! is reported as created (not as a deployment in progress, which a resent call would meet).
//!
//! The hooks fallback (no deployment named by the PRIMARY task set) asks for the group's newest
//! successful deployment only (`newest_deployment`), which the SDK adapter looks for in
//! `createTimeRange` windows back from now instead of reading the group's whole history.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::budget::{failure_outcome, Applied, Budget, CLOCK_SKEW};
use super::Remediator;
use crate::appspec;
use crate::names::{Action, Code};
use crate::notice::RetirementNotice;
use crate::outcome::{Outcome, Status};
use crate::plan::{check_codedeploy, CodeDeployCheck};
use crate::ports::{
    ApiErrorKind, BlueGreenSpec, CodeDeployApi, CodeDeployment, DeploymentGroupRef, EcsServices,
    EcsTasks, IN_PROGRESS_STATUSES,
};
use crate::target::{ServiceRef, Target};

/// A failed call names the redeploy; not reached in time (or not paced) names no action.
fn redeploy_failed(service: &ServiceRef, e: Budget) -> Outcome {
    let target = Target::Service(service.clone());
    match e {
        Budget::Exhausted | Budget::Store(_) => failure_outcome(&target, e),
        Budget::Api(_) => failure_outcome(&target, e).with_action(Action::CodedeployRedeploy),
    }
}

/// The deployment group to redeploy in, and the deployment that created the PRIMARY task set
/// (with its id) when there is one.
struct Source {
    external_id: Option<String>,
    previous: Option<CodeDeployment>,
    group: DeploymentGroupRef,
}

impl<E: EcsServices + EcsTasks, D: CodeDeployApi> Remediator<E, D> {
    /// A CodeDeploy deployment that re-deploys what the PRIMARY task set runs, with the hooks
    /// of the revision that deployed it.
    #[tracing::instrument(name = "service", skip_all, fields(cluster = %service.cluster, service = %service.service))]
    pub(super) async fn codedeploy_redeploy(
        &self,
        service: &ServiceRef,
        spec: &BlueGreenSpec,
        notice: &RetirementNotice,
        deadline: Option<Instant>,
    ) -> Outcome {
        let target = Target::Service(service.clone());
        // 1–2. The group and revision, from the PRIMARY task set's deployment or the group.
        let Source {
            external_id,
            previous,
            group,
        } = match self.redeploy_source(service, spec, deadline).await {
            Ok(source) => source,
            Err(outcome) => return *outcome,
        };
        // 3. One deployment per group: look before creating.
        let in_progress = match self
            .with_backoff(deadline, || {
                self.codedeploy.deployments(&group, &IN_PROGRESS_STATUSES)
            })
            .await
        {
            Ok(list) => list,
            Err(e) => return redeploy_failed(service, e),
        };
        if let CodeDeployCheck::Final(outcome) = check_codedeploy(
            service,
            previous.as_ref(),
            &in_progress,
            notice.published_at,
        ) {
            let after = outcome.deployment_after.clone();
            return outcome.with_deployments(external_id.clone(), after);
        }
        // 4. The hooks to keep: the PRIMARY task set's revision, else the group's last success.
        let (hooks, hooks_note) = match self.hooks_source(&group, previous, deadline).await {
            Ok(found) => found,
            Err(e) => return redeploy_failed(service, e),
        };
        let content = match appspec::build(spec, hooks).map(|a| a.to_content()) {
            Ok(Ok(content)) => content,
            Ok(Err(e)) => return cannot_build(target, e.to_string()),
            Err(e) => return cannot_build(target, e.to_string()),
        };
        let where_to = format!("{}/{}", group.application, group.group);
        if self.settings.dry_run {
            return Outcome::new(
                target,
                Status::Planned,
                Code::WouldCreateCodedeployDeployment,
                format!(
                    "dry run: would create a CodeDeploy deployment in {where_to}; {hooks_note}"
                ),
            )
            .with_action(Action::CodedeployRedeploy)
            .with_deployments(external_id, None);
        }
        let created = self
            .create_redeployment(&group, &content, notice, deadline)
            .await;
        let mut outcome = created_outcome(service, created, &where_to, &hooks_note);
        outcome.deployment_before = external_id;
        outcome
    }

    /// Steps 1 and 2: the deployment that created the PRIMARY task set names the group and the
    /// revision; without one, the group whose ecsServices names this service.
    async fn redeploy_source(
        &self,
        service: &ServiceRef,
        spec: &BlueGreenSpec,
        deadline: Option<Instant>,
    ) -> Result<Source, Box<Outcome>> {
        let external_id = spec
            .primary_task_set
            .as_ref()
            .and_then(|t| t.external_id.clone());
        let previous = match &external_id {
            Some(id) => self
                .with_backoff(deadline, || self.codedeploy.get_deployment(id))
                .await
                .map_err(|e| Box::new(redeploy_failed(service, e)))?,
            None => None,
        };
        let group =
            match &previous {
                Some(d) => d.group.clone(),
                None => self
                    .with_backoff(deadline, || {
                        self.codedeploy
                            .find_group(&service.cluster, &service.service)
                    })
                    .await
                    .map_err(|e| Box::new(redeploy_failed(service, e)))?
                    .ok_or_else(|| {
                        Box::new(Outcome::failed(
                        Target::Service(service.clone()),
                        Code::NoDeploymentGroup,
                        "no CodeDeploy ECS deployment group names this service: nothing can \
                         redeploy it; create a deployment of the same task definition by hand",
                        false,
                    )
                    .with_action(Action::CodedeployRedeploy))
                    })?,
            };
        Ok(Source {
            external_id,
            previous,
            group,
        })
    }

    /// `CreateDeployment`, once: an ambiguous failure is followed by a look for the deployment
    /// the lost call made ([`Self::created_by_us`]).
    async fn create_redeployment(
        &self,
        group: &DeploymentGroupRef,
        content: &str,
        notice: &RetirementNotice,
        deadline: Option<Instant>,
    ) -> Result<Applied<String>, Budget> {
        let description = format!(
            "Redeploy of the running task definition ahead of a Fargate retirement ({})",
            notice.event_arn
        );
        let sha256 = appspec::sha256_hex(content);
        let started = Utc::now();
        self.mutate(
            deadline,
            || {
                self.codedeploy
                    .create_deployment(group, content, &sha256, &description)
            },
            || self.created_by_us(group, &sha256, started, deadline),
        )
        .await
    }

    /// After an ambiguous `CreateDeployment` failure: the id of the group's deployment in
    /// progress that the lost call made, i.e. one created since just before the first call
    /// (`started`, less the clock skew) whose AppSpec content has our SHA-256. (The description
    /// naming the notice would do as well, but the port does not carry it; the content is what
    /// the call sent, and one group runs one deployment at a time.) `Ok(None)`: none such.
    async fn created_by_us(
        &self,
        group: &DeploymentGroupRef,
        sha256: &str,
        started: DateTime<Utc>,
        deadline: Option<Instant>,
    ) -> Result<Option<String>, Budget> {
        let since = started - CLOCK_SKEW;
        let in_progress = self
            .with_backoff(deadline, || {
                self.codedeploy.deployments(group, &IN_PROGRESS_STATUSES)
            })
            .await?;
        Ok(in_progress
            .into_iter()
            .find(|d| {
                d.created_at.is_some_and(|t| t >= since)
                    && d.appspec_content
                        .as_deref()
                        .is_some_and(|c| appspec::sha256_hex(c) == sha256)
            })
            .map(|d| d.id))
    }

    /// The lifecycle hooks to carry over, and a note saying where they came from.
    async fn hooks_source(
        &self,
        group: &DeploymentGroupRef,
        previous: Option<CodeDeployment>,
        deadline: Option<Instant>,
    ) -> Result<(Vec<BTreeMap<String, String>>, String), Budget> {
        let source = match previous {
            Some(d) => Some(d),
            None => {
                self.with_backoff(deadline, || {
                    self.codedeploy.newest_deployment(group, &["Succeeded"])
                })
                .await?
            }
        };
        Ok(match source {
            Some(d) => match d.appspec_content.as_deref().map(appspec::hooks_of) {
                Some(Some(hooks)) => {
                    let note = format!("{} lifecycle hook(s) kept from deployment {}", hooks.len(), d.id);
                    (hooks, note)
                }
                Some(None) => (Vec::new(), format!("deployment {}'s AppSpec could not be read: no hooks carried over", d.id)),
                None => (
                    Vec::new(),
                    format!(
                        "deployment {}'s revision is {}, not AppSpec content: no hooks carried over",
                        d.id,
                        d.revision_type.as_deref().unwrap_or("unknown")
                    ),
                ),
            },
            None => (Vec::new(), "no earlier deployment found: no hooks carried over".to_owned()),
        })
    }
}

fn cannot_build(target: Target, why: String) -> Outcome {
    Outcome::failed(target, Code::CannotBuildAppspec, why, false)
        .with_action(Action::CodedeployRedeploy)
}

/// What `CreateDeployment` came to: created (answered, or seen after an ambiguous failure), the
/// group busy (retryable), or failed. The deployment before ours is added by the caller.
fn created_outcome(
    service: &ServiceRef,
    created: Result<Applied<String>, Budget>,
    where_to: &str,
    hooks_note: &str,
) -> Outcome {
    let target = Target::Service(service.clone());
    match created {
        Ok(Applied::Answered(id)) => Outcome::new(
            target,
            Status::Acted,
            Code::CodedeployDeploymentCreated,
            format!("CodeDeploy deployment {id} created in {where_to}; {hooks_note}"),
        )
        .with_action(Action::CodedeployRedeploy)
        .with_deployments(None, Some(id)),
        Ok(Applied::Observed { value: id, error }) => Outcome::new(
            target,
            Status::Acted,
            Code::CodedeployDeploymentCreated,
            format!(
                "CodeDeploy deployment {id} created in {where_to}: CreateDeployment failed without \
                 saying whether it did ({error}), and the group's deployments then showed {id} with \
                 this AppSpec, so it was not called again; {hooks_note}"
            ),
        )
        .with_action(Action::CodedeployRedeploy)
        .with_deployments(None, Some(id)),
        Err(Budget::Api(e)) if e.kind == ApiErrorKind::Busy => Outcome::failed(
            target,
            Code::DeploymentInProgress,
            format!("{where_to} already has a deployment in progress: a later attempt redeploys ({})", e.message),
            true,
        )
        .with_action(Action::CodedeployRedeploy),
        Err(e) => {
            let ambiguous = matches!(&e, Budget::Api(e) if e.kind == ApiErrorKind::Transient);
            let mut outcome = redeploy_failed(service, e);
            if ambiguous {
                outcome.reason.push_str(
                    "; the deployment may have been created: the next attempt lists the group's \
                     deployments before creating one",
                );
            }
            outcome
        }
    }
}
