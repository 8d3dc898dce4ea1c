//! Pure decisions: notice + observed state → what to do. No I/O here.

use chrono::{DateTime, Utc};

use crate::names::{Action, Code};
use crate::notice::RetirementNotice;
use crate::outcome::{Outcome, Status};
use crate::ports::{BlueGreenSpec, CodeDeployment, Controller, DeploymentInfo, ServiceObservation};
use crate::target::{ServiceRef, Target};

/// What to do with one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceDecision {
    /// `UpdateService(forceNewDeployment=true)`.
    ForceNewDeployment { previous_deployment: Option<String> },
    /// A CodeDeploy deployment of what the PRIMARY task set runs (blue/green).
    CodeDeployRedeploy { spec: Box<BlueGreenSpec> },
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
    let observed = match nothing_to_replace(&target, observed, missing_reason) {
        Ok(observed) => observed,
        Err(outcome) => return ServiceDecision::Final(*outcome),
    };
    if let Some(decision) = by_controller(&target, observed) {
        return decision;
    }
    let primary = observed.primary_deployment.as_ref();
    if let Some(outcome) = primary.and_then(|d| replaced_after(&target, d, published_at)) {
        return ServiceDecision::Final(outcome);
    }
    if let Some(outcome) = no_room(&target, observed) {
        return ServiceDecision::Final(outcome);
    }
    ServiceDecision::ForceNewDeployment {
        previous_deployment: primary.map(|d| d.id.clone()),
    }
}

/// The service as observed, or the outcome when it has nothing to replace (missing, not
/// ACTIVE, no task desired) or is not for the remediator to force (Express Mode).
fn nothing_to_replace<'a>(
    target: &Target,
    observed: Option<&'a ServiceObservation>,
    missing_reason: Option<&str>,
) -> Result<&'a ServiceObservation, Box<Outcome>> {
    let target = target.clone();
    let Some(observed) = observed else {
        return Err(Box::new(Outcome::new(
            target,
            Status::Skipped,
            Code::NotFound,
            format!(
                "service not found ({}): nothing left to retire",
                missing_reason.unwrap_or("not returned by DescribeServices")
            ),
        )));
    };
    if observed.status != "ACTIVE" {
        return Err(Box::new(Outcome::new(
            target,
            Status::Skipped,
            Code::NotFound,
            format!("service is {}: nothing left to retire", observed.status),
        )));
    }
    if observed.rollout.desired_count == Some(0) {
        // Tasks started later land on patched hosts: AWS does not place new tasks on a host it
        // is retiring.
        return Err(Box::new(Outcome::new(
            target,
            Status::Skipped,
            Code::NothingRunning,
            "desiredCount is 0: no task runs, nothing to replace",
        )));
    }
    if observed.express {
        return Err(Box::new(express_mode(target, observed)));
    }
    Ok(observed)
}

/// What the service's deployment controller decides: `None` for ECS's own (forced by the
/// remediator), a CodeDeploy redeploy, or a final outcome for the others.
fn by_controller(target: &Target, observed: &ServiceObservation) -> Option<ServiceDecision> {
    let target = target.clone();
    match &observed.controller {
        Controller::Ecs => None,
        Controller::CodeDeploy => Some(ServiceDecision::CodeDeployRedeploy {
            spec: Box::new(observed.blue_green.clone()),
        }),
        Controller::External => {
            let service_name = observed.arn.as_deref().unwrap_or(&observed.name);
            Some(ServiceDecision::Final(
                Outcome::new(
                    target,
                    Status::Skipped,
                    Code::ExternalController,
                    format!(
                        "external controller: its tasks are yours to replace. Replace the task set of {service_name} \
                         with the same task definition (CreateTaskSet → UpdateServicePrimaryTaskSet → \
                         DeleteTaskSet) before the retirement date"
                    ),
                )
                .with_action(Action::ReplaceTaskSet),
            ))
        }
        Controller::Unknown(other) => Some(ServiceDecision::Final(Outcome::failed(
            target,
            Code::ApiError,
            format!("unknown deployment controller {other:?}: not acting on it"),
            false,
        ))),
    }
}

/// A PRIMARY deployment created after the notice already runs its tasks on patched hosts.
fn replaced_after(
    target: &Target,
    deployment: &DeploymentInfo,
    published_at: DateTime<Utc>,
) -> Option<Outcome> {
    let created_at = deployment.created_at.filter(|at| *at > published_at)?;
    Some(
        Outcome::new(
            target.clone(),
            Status::AlreadyDone,
            Code::AlreadyReplaced,
            format!(
                "PRIMARY deployment {} was created at {} after the notice ({}): tasks already replaced",
                deployment.id,
                created_at.to_rfc3339(),
                published_at.to_rfc3339()
            ),
        )
        .with_action(Action::ForceNewDeployment)
        .with_deployments(None, Some(deployment.id.clone()))
        .with_created_at(Some(created_at)),
    )
}

/// A rollout that leaves ECS no room to start a new task or stop an old one would stall.
fn no_room(target: &Target, observed: &ServiceObservation) -> Option<Outcome> {
    if observed.rollout.has_room() {
        return None;
    }
    let r = observed.rollout;
    Some(
        Outcome::failed(
            target.clone(),
            Code::NoRoomToReplace,
            format!(
                "not forced: minimumHealthyPercent {} and maximumPercent {} of {} desired task(s) leave ECS no room to start a new task or stop an old one, so a forced deployment would stall with the old tasks on the retiring host; raise maximumPercent (e.g. 200) or lower minimumHealthyPercent, then deliver the notice again",
                r.minimum_healthy_percent.unwrap_or_default(),
                r.maximum_percent.unwrap_or_default(),
                r.desired_count.unwrap_or_default()
            ),
            false,
        )
        .with_action(Action::ForceNewDeployment),
    )
}

/// An ECS Express Mode service is not forced. Express Mode deploys through
/// `UpdateExpressGatewayService`, which makes a new service revision from the settings it is
/// given and has no force option (API reference, 2026); AWS's page on updating resources outside
/// Express Mode says standard API calls may affect Express Mode's ability to manage the
/// service. Which one AWS means for a redeploy of the same revision is not documented, so the
/// remediator does not guess: it says what it saw and what the operator can do. Sources:
/// docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateExpressGatewayService.html,
/// …/developerguide/express-service-update-full.html (canary, 3-minute bakes, alarm rollback),
/// …/developerguide/express-service-advanced-customization.html.
fn express_mode(target: Target, observed: &ServiceObservation) -> Outcome {
    let arn = observed.arn.as_deref().unwrap_or(&observed.name);
    Outcome::new(
        target,
        Status::Skipped,
        Code::ExpressModeService,
        format!(
            "ECS Express Mode service {arn} (resourceManagementType ECS): Express Mode owns its deployments, so it was not forced. \
             AWS replaces its tasks itself when it retires the host (the service starts new tasks); to move it first, \
             update it through Express Mode (UpdateExpressGatewayService or the console), which deploys a new revision by canary"
        ),
    )
}

/// What CodeDeploy's own history says about a blue/green service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeDeployCheck {
    /// Nothing newer than the notice and nothing in the way: create the deployment.
    Proceed,
    Final(Box<Outcome>),
}

/// Decides from the deployment that made the PRIMARY task set (`previous`) and the group's
/// deployments still in progress whether a new deployment is needed and possible.
pub fn check_codedeploy(
    service: &ServiceRef,
    previous: Option<&CodeDeployment>,
    in_progress: &[CodeDeployment],
    published_at: DateTime<Utc>,
) -> CodeDeployCheck {
    let target = Target::Service(service.clone());
    let after_notice = |d: &CodeDeployment| d.created_at.is_some_and(|t| t > published_at);
    // One created after the notice replaces the tasks: in progress, or the PRIMARY's own.
    let replaced = |id: &str, reason: String| {
        CodeDeployCheck::Final(Box::new(
            Outcome::new(
                target.clone(),
                Status::AlreadyDone,
                Code::AlreadyReplaced,
                reason,
            )
            .with_action(Action::CodedeployRedeploy)
            .with_deployments(None, Some(id.to_owned())),
        ))
    };
    if let Some(newer) = in_progress.iter().find(|d| after_notice(d)) {
        return replaced(
            &newer.id,
            format!(
                "CodeDeploy deployment {} ({}) was created after the notice: it replaces the tasks",
                newer.id, newer.status
            ),
        );
    }
    if let Some(busy) = in_progress.first() {
        return CodeDeployCheck::Final(Box::new(
            Outcome::failed(
                target,
                Code::DeploymentInProgress,
                format!(
                    "CodeDeploy deployment {} of {}/{} is {} since before the notice; one deployment per group \
                     at a time: a later attempt redeploys",
                    busy.id, busy.group.application, busy.group.group, busy.status
                ),
                true,
            )
            .with_action(Action::CodedeployRedeploy),
        ));
    }
    if let Some(previous) = previous.filter(|d| after_notice(d)) {
        return replaced(
            &previous.id,
            format!(
                "the PRIMARY task set comes from CodeDeploy deployment {}, created after the notice",
                previous.id
            ),
        );
    }
    CodeDeployCheck::Proceed
}

/// The tag a replacement carries, naming the id of the task it replaces. It is how a retry or
/// a redelivered notice finds the replacement instead of starting a second one, when there is
/// room for it (see [`replaces_marker_fits`]).
pub const REPLACES_TAG: &str = "retirement-remediator/replaces";

/// User tags an ECS resource can hold; `RunTask` rejects more. Keys starting with `aws:` are
/// AWS's own and do not count (domain notes §7).
pub const MAX_USER_TAGS: usize = 50;

/// Whether a replacement of a task with these tags can carry [`REPLACES_TAG`] as well: the
/// user tags copied from the task (not `aws:` ones, not a marker of its own) number fewer than
/// [`MAX_USER_TAGS`]. When not, the replacement is launched without the marker: a relaunch is
/// never refused for it, and `RunTask`'s client token (derived from the task, valid 24 hours)
/// is what keeps a retry from starting a second replacement.
pub fn replaces_marker_fits(tags: &[(String, String)]) -> bool {
    let user = tags
        .iter()
        .filter(|(k, _)| !k.starts_with("aws:") && k != REPLACES_TAG)
        .count();
    user < MAX_USER_TAGS
}

/// What to do with one standalone task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskDecision {
    /// Relaunch it with the same parameters, then stop it.
    Relaunch,
    /// It belongs to a service: remediate the service.
    AsService(ServiceRef),
    Final(Outcome),
}

/// Who else launches standalone tasks and would run them again on its own. Only signals a
/// source documents count, each named next to its rule; a task matching one is left to its owner.
///
/// Not recognised, for want of a documented signal: EventBridge Scheduler's ECS `RunTask`
/// target (its documentation covers the target's parameters, not a `startedBy` or tag it puts on
/// the task) and any other launcher. Such tasks are relaunched; an operator who wants one left
/// alone tags it (or its cluster) [`SKIP_TAG`]`=true`.
fn owner_of<L>(task: &crate::ports::TaskObservation<L>) -> Option<&'static str> {
    let started_by = task.started_by.as_deref().unwrap_or_default();
    // Step Functions' ECS integration (`arn:aws:states:::ecs:runTask`) starts tasks with
    // `startedBy: "AWS Step Functions"`. Source: the Step Functions developer guide, "Run Amazon
    // ECS or Fargate tasks with Step Functions" (the RunTask sample output). The state machine
    // handles task failure and retries.
    if started_by == "AWS Step Functions" {
        return Some("AWS Step Functions");
    }
    // AWS Batch runs Fargate jobs in the ECS cluster it creates and manages for each compute
    // environment (source: the Batch API reference, `ComputeEnvironmentDetail.ecsClusterArn`),
    // named `AWSBatch-<compute environment>-<uuid>`, and tags jobs' resources with `aws:batch:*`
    // keys. Batch's job retry strategy owns reruns.
    if task.cluster.starts_with("AWSBatch-")
        || task.tags.iter().any(|(k, _)| k.starts_with("aws:batch:"))
    {
        return Some("AWS Batch");
    }
    // EventBridge rules with an ECS target start tasks with `startedBy: "events-rule/<rule>"`
    // (source: the value EventBridge passes to RunTask for a rule's ECS target, as the EventBridge
    // and ECS scheduled-task documentation shows it). A scheduled job runs again at its next
    // schedule, and a relaunch would run this one twice.
    if started_by.starts_with("events-rule/") {
        return Some("an EventBridge rule");
    }
    None
}

/// Decides for one task, given what `DescribeTasks` returned for it (`None`: missing).
pub fn plan_task<L>(
    target: &Target,
    observed: Option<&crate::ports::TaskObservation<L>>,
) -> TaskDecision {
    let Some(task) = observed else {
        return TaskDecision::Final(Outcome::new(
            target.clone(),
            Status::Skipped,
            Code::Gone,
            "task not found: already gone, nothing to relaunch",
        ));
    };
    if task.last_status == "STOPPED" || task.desired_status == "STOPPED" {
        return TaskDecision::Final(Outcome::new(
            target.clone(),
            Status::Skipped,
            Code::Gone,
            format!(
                "task is {} (desired {}): already gone, nothing to relaunch",
                task.last_status, task.desired_status
            ),
        ));
    }
    if let Some(service) = task
        .group
        .as_deref()
        .and_then(|g| g.strip_prefix("service:"))
    {
        return TaskDecision::AsService(ServiceRef {
            cluster: task.cluster.clone(),
            service: service.to_owned(),
        });
    }
    if let Some(owner) = owner_of(task) {
        return TaskDecision::Final(
            Outcome::new(
                target.clone(),
                Status::Skipped,
                Code::OwnedByOrchestrator,
                format!("task was started by {owner}, which runs it again on its own terms: not relaunched behind its back"),
            )
            .with_action(Action::RelaunchTask),
        );
    }
    TaskDecision::Relaunch
}

/// Tag (ECS) or annotation (Kubernetes) that excludes a resource, or everything in its cluster
/// or namespace, when set to `true`.
pub const SKIP_TAG: &str = "retirement-remediator/skip";
/// Tag or annotation that, in opt-in mode, includes a resource or everything in its cluster or
/// namespace.
pub const ENABLED_TAG: &str = "retirement-remediator/enabled";

/// Where the operator's marks live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marking {
    /// ECS tags on a service or task and on its cluster.
    EcsTags,
    /// Kubernetes annotations on a workload and on its namespace.
    KubeAnnotations,
}

impl Marking {
    fn words(self) -> (&'static str, &'static str) {
        match self {
            Marking::EcsTags => ("tagged", "cluster"),
            Marking::KubeAnnotations => ("annotated", "namespace"),
        }
    }
}

fn tagged_true(tags: &[(String, String)], key: &str) -> bool {
    tags.iter()
        .any(|(k, v)| k == key && v.trim().eq_ignore_ascii_case("true"))
}

/// Whether the operator lets the remediator act on a resource, from its own tags and its
/// cluster's. `None`: go ahead; `Some(outcome)`: leave it alone, with the reason.
pub fn consent(
    target: &Target,
    resource_tags: &[(String, String)],
    cluster_tags: &[(String, String)],
    opt_in_only: bool,
) -> Option<Outcome> {
    consent_by(
        target,
        resource_tags,
        cluster_tags,
        opt_in_only,
        Marking::EcsTags,
    )
}

/// [`consent`] for any kind of marks: the resource's own and its parent's (cluster, namespace).
pub fn consent_by(
    target: &Target,
    own: &[(String, String)],
    parent: &[(String, String)],
    opt_in_only: bool,
    marking: Marking,
) -> Option<Outcome> {
    let (verb, parent_kind) = marking.words();
    if tagged_true(own, SKIP_TAG) || tagged_true(parent, SKIP_TAG) {
        let on = if tagged_true(own, SKIP_TAG) {
            "the resource".to_owned()
        } else {
            format!("its {parent_kind}")
        };
        return Some(Outcome::new(
            target.clone(),
            Status::Skipped,
            Code::OptedOut,
            format!("opted out: {on} is {verb} {SKIP_TAG}=true"),
        ));
    }
    if opt_in_only && !tagged_true(own, ENABLED_TAG) && !tagged_true(parent, ENABLED_TAG) {
        return Some(Outcome::new(
            target.clone(),
            Status::Skipped,
            Code::NotOptedIn,
            format!(
                "opt-in mode: neither the resource nor its {parent_kind} is {verb} {ENABLED_TAG}=true"
            ),
        ));
    }
    None
}

/// The outcome of a resource the notice names in another account or Region than its own
/// ([`Target::Elsewhere`]): skipped, acted on nowhere, both places named. Central mode does
/// not route it to its own account either: only that account's own notice (which Health sends
/// it) speaks for its resources.
pub fn elsewhere(e: &crate::target::Elsewhere) -> Outcome {
    let place = |account: &Option<String>, region: &Option<String>| {
        format!(
            "account {} in {}",
            account.as_deref().unwrap_or("(unnamed)"),
            region.as_deref().unwrap_or("(unnamed Region)")
        )
    };
    let (code, what) = if e.other_account() {
        (Code::OtherAccount, "another account")
    } else {
        (Code::OtherRegion, "another Region")
    };
    Outcome::new(
        Target::Elsewhere(Box::new(e.clone())),
        Status::Skipped,
        code,
        format!(
            "{} is in {} ({}), but the notice is for {}: acted on in neither; that resource's own notice (Health sends one to its account and Region) is the one acted on",
            e.resource,
            what,
            place(&e.account, &e.region),
            place(&e.notice_account, &e.notice_region),
        ),
    )
}

/// Whether a notice's resources can be reached by clients acting in `account` and `region`
/// (each `None` when unknown: not checked). `None`: in scope; `Some((code, reason))`: every
/// target is skipped with that code and reason.
///
/// Resources of another account or Region cannot be reached with these clients.
pub fn out_of_scope(
    notice: &RetirementNotice,
    account: Option<&str>,
    region: Option<&str>,
) -> Option<(Code, String)> {
    // Organization view: Health aggregates events of member accounts into this one.
    if let (Some(affected), Some(receiving)) = (&notice.affected_account, &notice.account) {
        if affected != receiving {
            return Some((
                Code::OtherAccount,
                format!("resources are in account {affected}, the event was received in {receiving}: deploy the remediator in {affected}"),
            ));
        }
    }
    if let (Some(affected), Some(ours)) = (
        notice
            .affected_account
            .as_deref()
            .or(notice.account.as_deref()),
        account,
    ) {
        if affected != ours {
            return Some((
                Code::OtherAccount,
                format!("resources are in account {affected}; this remediator acts in {ours}: deploy it in that account"),
            ));
        }
    }
    if let (Some(theirs), Some(ours)) = (notice.region.as_deref(), region) {
        if theirs != ours {
            return Some((
                Code::OtherRegion,
                format!("resources are in {theirs}; this remediator acts in {ours}: deploy it in that Region"),
            ));
        }
    }
    None
}
