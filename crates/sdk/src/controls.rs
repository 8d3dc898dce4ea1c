//! The operator controls both functions run with: the core's [`remediator_core::run::Controls`]
//! over the AWS adapters (DynamoDB ledger, EventBridge Scheduler, SNS), built once per execution
//! environment from the settings the configuration reads.

use aws_config::SdkConfig;
use remediator_core::run::Parts;

use remediator_core::defer::Deferral;
use remediator_core::follow::CheckPolicy;
use remediator_core::metrics::DEFAULT_NAMESPACE;

use crate::ledger::DynamoLedger;
use crate::notify::SnsNotifier;
use crate::scheduler::ScheduleSettings;
use crate::scheduler::SdkScheduler;

pub use remediator_core::run::{Chain, FollowedReport};

/// Operator controls around the remediation: windows, notifications, metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlSettings {
    /// Maintenance windows and margin; `None`: act as soon as an event arrives.
    pub deferral: Option<Deferral>,
    /// How to make schedules (set whenever `deferral` is).
    pub schedule: Option<ScheduleSettings>,
    /// What schedules invoke; `None`: the function that was invoked.
    pub schedule_target_arn: Option<String>,
    pub notification_topic_arn: Option<String>,
    /// `None`: no metrics.
    pub metrics_namespace: Option<String>,
    /// The ledger; `None`: observation alone (an update of a notice cannot be told apart).
    pub ledger: Option<LedgerSettings>,
    /// Follow-up checks; `None`: none (no schedule role, or `FOLLOW_UP_CHECKS=off`).
    pub checks: Option<CheckPolicy>,
}

/// Where the ledger lives and how long it remembers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerSettings {
    pub table: String,
    /// Entries are kept this long after AWS's deadline (DynamoDB TTL).
    pub retention: chrono::Duration,
}

impl Default for ControlSettings {
    fn default() -> Self {
        ControlSettings {
            deferral: None,
            schedule: None,
            schedule_target_arn: None,
            notification_topic_arn: None,
            metrics_namespace: Some(DEFAULT_NAMESPACE.to_owned()),
            ledger: None,
            checks: None,
        }
    }
}

/// The controls over the AWS adapters.
pub type Controls = remediator_core::run::Controls<DynamoLedger, SdkScheduler, SnsNotifier>;

/// The controls `settings` ask for, each adapter over one client made from `sdk`.
pub fn build(
    sdk: &SdkConfig,
    settings: &ControlSettings,
    function: &str,
    dry_run: bool,
) -> Controls {
    Controls::with(Parts {
        scheduler: settings
            .schedule
            .as_ref()
            .map(|s| SdkScheduler::new(aws_sdk_scheduler::Client::new(sdk), s.clone())),
        deferral: settings.deferral.clone(),
        checks: settings.checks,
        schedule_target_arn: settings.schedule_target_arn.clone(),
        notifier: settings
            .notification_topic_arn
            .as_ref()
            .map(|topic| SnsNotifier::new(aws_sdk_sns::Client::new(sdk), topic)),
        ledger: settings.ledger.as_ref().map(|l| {
            (
                DynamoLedger::new(aws_sdk_dynamodb::Client::new(sdk), &l.table),
                l.retention,
            )
        }),
        metrics_namespace: settings.metrics_namespace.clone(),
        function: function.to_owned(),
        dry_run,
    })
}
