//! The stable names the remediator speaks in: outcome codes, actions and event codes. Reports,
//! logs, metric dimensions, notifications and the CLI table all use these strings; dashboards
//! and alarms depend on them, so a variant's string never changes. Each is explained in
//! `crates/core/outcomes.md` ([`crate::explain`]; a test keeps the two in step).

use serde::{Deserialize, Serialize};

/// The `source` of a follow-up check's envelope.
pub const CHECK_SOURCE: &str = "retirement-remediator";
/// The `detail-type` of a follow-up check's envelope.
pub const CHECK_DETAIL_TYPE: &str = "Retirement Follow-up Check";

/// Each name type: serde and strum agree on the snake_case strings, and `as_str`, `Display` and
/// comparison with a `&str` come with it.
macro_rules! stable_names {
    ($($(#[$meta:meta])* pub enum $name:ident { $($body:tt)* })*) => {$(
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            Serialize, Deserialize, strum::IntoStaticStr, strum::EnumIter,
        )]
        #[serde(rename_all = "snake_case")]
        #[strum(serialize_all = "snake_case")]
        pub enum $name { $($body)* }

        impl $name {
            /// The stable string (serde and logs use the same).
            pub fn as_str(self) -> &'static str {
                self.into()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }
    )*};
}

stable_names! {
/// What became of one resource, for machines (`reason` is for people).
pub enum Code {
    // ECS services, rolling (ECS controller).
    ForcedNewDeployment,
    WouldForceNewDeployment,
    /// The deployment configuration leaves no room to replace a task (100 % / 100 %).
    NoRoomToReplace,
    /// Observation shows the tasks already replaced after the notice.
    AlreadyReplaced,
    // ECS services, blue/green (CODE_DEPLOY controller).
    CodedeployDeploymentCreated,
    WouldCreateCodedeployDeployment,
    DeploymentInProgress,
    NoDeploymentGroup,
    CannotBuildAppspec,
    ExternalController,
    // Standalone tasks.
    Relaunched,
    WouldRelaunch,
    ReplacementPending,
    ReplacementFailed,
    OwnedByOrchestrator,
    // EKS pods.
    Restarted,
    WouldRestart,
    AlreadyRestarted,
    RolloutInProgress,
    /// The workload's settings keep a rolling restart from replacing the pod.
    RolloutBlocked,
    NoOwnerToRestart,
    TooLate,
    // Any resource.
    /// The ledger remembers acting on (or finding done) this resource for this notice.
    AlreadyHandled,
    /// Another invocation holds the resource's claim in the ledger.
    HandledElsewhere,
    /// The ledger could not be read or written: nothing is acted on without it.
    LedgerUnavailable,
    NotFound,
    /// An ECS Express Mode service (`resourceManagementType` `ECS`): ECS manages its
    /// deployments; not forced, the outcome says what to do.
    ExpressModeService,
    /// A task or pod already stopped, deleted or unknown.
    Gone,
    UnrecognizedEntity,
    /// In another account than the notice's (its ARN or `awsAccountId`), or the notice is for
    /// an account this deployment does not act in.
    OtherAccount,
    /// In another Region than the notice's, or the notice is for a Region this deployment does
    /// not act in.
    OtherRegion,
    /// `CONFIRM_NOTICES=health-api`: AWS Health does not know the event, gives it another
    /// type, or does not list the resource.
    Unconfirmed,
    /// The affected account is left out by `ACCOUNTS_INCLUDE` / `ACCOUNTS_EXCLUDE`.
    AccountExcluded,
    /// Central mode: the member account's role cannot be assumed (missing, or not trusting the
    /// function).
    MemberRoleUnavailable,
    OptedOut,
    NotOptedIn,
    Throttled,
    ApiError,
    TimeBudgetExhausted,
    Deferred,
    WouldDefer,
    // Follow-up checks: after acting, until the platform shows the resource replaced.
    /// The platform shows it replaced: the deployment completed with no older task left, the
    /// CodeDeploy deployment succeeded, the replacement runs and the original stopped, the
    /// rollout finished.
    Verified,
    /// Acted; the platform is still replacing it. A follow-up check looks again.
    Verifying,
    /// Acted; ECS paused the deployment at a lifecycle hook that waits for a person
    /// (`ContinueServiceDeployment`): pending, with the hook id, its expiry and the commands.
    AwaitingApproval,
    /// The deployment we started failed (circuit breaker) or was rolled back.
    RolloutFailed,
    /// The deployment made no progress for `ROLLOUT_TIMEOUT`.
    RolloutStalled,
    /// The CodeDeploy deployment we created failed or was stopped.
    CodedeployFailed,
    /// AWS's deadline passed before the replacement could be verified.
    UnverifiedByDeadline,
    /// The service runs no task (`desiredCount` 0): nothing to replace.
    NothingRunning,
    // EC2 container instances (ECS on EC2).
    /// Set to `DRAINING`: ECS moves its service tasks; its standalone tasks are relaunched.
    Drained,
    WouldDrain,
    /// Already `DRAINING` (an operator, ECS managed draining, or an earlier delivery).
    AlreadyDraining,
    /// The EC2 instance is not a container instance of any cluster.
    NotContainerInstance,
    /// Draining it would leave its service tasks nowhere to run.
    NoCapacityElsewhere,
    /// Back to `ACTIVE` after the maintenance, which the remediator had drained it for.
    Reactivated,
    WouldReactivate,
    /// Left `DRAINING` or `ACTIVE` as found: the remediator did not drain it.
    NotDrainedByRemediator,
}

/// The remediation a resource calls for.
pub enum Action {
    /// `UpdateService(forceNewDeployment=true)`.
    ForceNewDeployment,
    /// A CodeDeploy deployment of what the PRIMARY task set runs.
    CodedeployRedeploy,
    /// EXTERNAL controller: the operator replaces the task set.
    ReplaceTaskSet,
    /// RunTask a replacement, then StopTask the original.
    RelaunchTask,
    /// A one-time schedule at the next maintenance window.
    Defer,
    /// `UpdateContainerInstancesState` → `DRAINING`.
    DrainInstance,
    /// `UpdateContainerInstancesState` → `ACTIVE` after a reboot maintenance.
    ReactivateInstance,
}

/// Why a whole event was not handled (ignored or rejected).
pub enum EventCode {
    /// A Health event whose `statusCode` is `closed`.
    ClosedEvent,
    /// Another Health event type.
    OtherEventType,
    /// Neither AWS Health nor EKS.
    UnsupportedSource,
    /// A notice the other function handles.
    WrongFunction,
    /// The input itself is unusable.
    MalformedInput,
    /// The copy of a Health event delivered to a backup Region (`detail.backupEvent`).
    BackupEvent,
}

/// What `remediator preflight` finds a retirement would hurt today ([`crate::preflight`]).
pub enum Risk {
    // ECS services.
    /// The deployment configuration leaves no room to replace a task (the planner's
    /// `no_room_to_replace`): a forced deployment cannot start a replacement first.
    NoRoomToReplace,
    /// The only running task stops before its replacement starts (`desiredCount` 1 with
    /// `minimumHealthyPercent` 0, or any setting that drops below one running task).
    OutageAtRetirement,
    /// An EXTERNAL deployment controller: the remediator cannot replace its task sets.
    ExternalController,
    /// A CODE_DEPLOY service whose last revision's AppSpec cannot be read: its hooks would be
    /// dropped from the redeploy.
    AppspecUnreadable,
    /// No deployment circuit breaker: a replacement that cannot start keeps retrying.
    NoCircuitBreaker,
    // Standalone tasks.
    /// A standalone task nothing restarts: AWS's stop ends it for good unless relaunched.
    UnownedStandaloneTask,
    /// The function may not pass the task or execution role: a relaunch would fail.
    RoleNotPassable,
    // The account's retirement settings.
    /// `fargateTaskRetirementWaitPeriod` 0: AWS retires at once, with no notice to act on.
    RetirementWaitZero,
    /// Fargate event windows exist and running Fargate tasks fall in none of them.
    TasksOutsideEventWindows,
    /// A Fargate event window shorter than AWS's minimum.
    EventWindowTooShort,
    /// Close to the per-Region limit of event windows.
    EventWindowsNearLimit,
    /// `MAINTENANCE_WINDOWS` never opens before a typical deadline minus `DEADLINE_MARGIN`.
    MaintenanceWindowMissesDeadline,
    // EKS on Fargate.
    /// A PodDisruptionBudget that allows no disruption: what makes EKS send the event.
    PdbAllowsNoDisruption,
    /// A paused Deployment: a rollout restart waits until it is resumed.
    PausedDeployment,
    /// An `OnDelete` StatefulSet: a rollout restart replaces no pod.
    OnDeleteStatefulSet,
    /// A pod no controller owns: nothing recreates it after EKS deletes it.
    BarePod,
    // ECS on EC2.
    /// One ACTIVE container instance and no managed scaling: it is never drained.
    SingleInstanceCluster,
    // Central mode.
    /// A member account whose role could not be assumed or read: nothing in it was checked.
    MemberUnreadable,
}
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    #[test]
    fn serde_and_as_str_agree_on_every_name() {
        for code in Code::iter() {
            assert_eq!(
                serde_json::to_value(code).ok(),
                Some(serde_json::Value::from(code.as_str()))
            );
        }
        for action in Action::iter() {
            assert_eq!(
                serde_json::to_value(action).ok(),
                Some(serde_json::Value::from(action.as_str()))
            );
        }
        for code in EventCode::iter() {
            assert_eq!(
                serde_json::to_value(code).ok(),
                Some(serde_json::Value::from(code.as_str()))
            );
        }
        for risk in Risk::iter() {
            assert_eq!(
                serde_json::to_value(risk).ok(),
                Some(serde_json::Value::from(risk.as_str()))
            );
        }
    }

    #[test]
    fn the_names_dashboards_use_are_unchanged() {
        assert_eq!(
            Code::CodedeployDeploymentCreated,
            "codedeploy_deployment_created"
        );
        assert_eq!(Code::CannotBuildAppspec, "cannot_build_appspec");
        assert_eq!(Code::NoOwnerToRestart, "no_owner_to_restart");
        assert_eq!(Code::ApiError, "api_error");
        assert_eq!(Action::CodedeployRedeploy, "codedeploy_redeploy");
        assert_eq!(EventCode::MalformedInput, "malformed_input");
    }
}
