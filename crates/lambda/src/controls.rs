//! The operator controls both functions run with: the core's [`remediator_core::run::Controls`]
//! over the AWS adapters (DynamoDB ledger, EventBridge Scheduler, SNS), built once per execution
//! environment from the configuration.

use aws_config::SdkConfig;
use remediator_core::run::Parts;

use crate::config::ControlSettings;
use crate::ledger::DynamoLedger;
use crate::notify::SnsNotifier;
use crate::scheduler::SdkScheduler;

pub use remediator_core::run::{Chain, FollowedReport};

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
