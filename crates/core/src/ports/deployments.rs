//! ECS deployment lifecycles as follow-up checks see them: the waits a service's configuration
//! takes on purpose, and its service deployments (`DescribeServiceDeployments`).

use chrono::{DateTime, Utc};

/// What a service's `deploymentConfiguration` says of the time a deployment takes on purpose,
/// and the service deployment ECS is running (`currentServiceDeployment`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lifecycle {
    /// `ROLLING`, `BLUE_GREEN`, `LINEAR` or `CANARY`; `None` when ECS does not say (rolling).
    pub strategy: Option<String>,
    /// The waits the strategy takes: `bakeTimeInMinutes`, plus the canary's bake, or every
    /// linear step's bake.
    pub bake: chrono::Duration,
    /// The last of them: `bakeTimeInMinutes`, after all traffic has moved.
    pub final_bake: chrono::Duration,
    /// Lifecycle hooks configured (`AWS_LAMBDA` or `PAUSE`).
    pub hooks: usize,
    /// The ARN of the service deployment ECS is running or ran last.
    pub current_deployment: Option<String>,
}

impl Lifecycle {
    /// Whether a deployment may wait on purpose (bake time, hooks): then only the service
    /// deployment's own state says whether it stalled.
    pub fn waits(&self) -> bool {
        self.bake > chrono::Duration::zero() || self.hooks > 0
    }
}

/// A service deployment (`DescribeServiceDeployments`): its status, its lifecycle stage and
/// its hooks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceDeploymentView {
    pub arn: String,
    /// `PENDING`, `IN_PROGRESS`, `SUCCESSFUL`, `STOPPED`, `STOP_REQUESTED`,
    /// `ROLLBACK_REQUESTED`, `ROLLBACK_IN_PROGRESS`, `ROLLBACK_SUCCESSFUL`, `ROLLBACK_FAILED`.
    pub status: String,
    pub status_reason: Option<String>,
    /// `SCALE_UP`, `BAKE_TIME`, `CLEAN_UP`, … (ECS-native strategies and hooks).
    pub lifecycle_stage: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub hooks: Vec<HookView>,
}

/// One lifecycle hook of a service deployment (`lifecycleHookDetails`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookView {
    /// What `ContinueServiceDeployment` takes.
    pub id: String,
    /// `PAUSE` or `AWS_LAMBDA`.
    pub target_type: Option<String>,
    /// `AWAITING_ACTION`, `IN_PROGRESS`, `SUCCEEDED`, `FAILED`, `TIMED_OUT`.
    pub status: String,
    pub expires_at: Option<DateTime<Utc>>,
    /// `CONTINUE` or `ROLLBACK`: what ECS does at `expires_at`.
    pub timeout_action: Option<String>,
}

/// `DescribeServiceDeployments` accepts at most 20 ARNs per call.
pub const MAX_SERVICE_DEPLOYMENTS_PER_DESCRIBE: usize = 20;
