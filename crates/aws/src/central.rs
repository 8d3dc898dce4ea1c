//! Central mode for the ECS function: [`remediator_sdk::central::Central`] over the ECS
//! remediation, which builds an [`AwsRemediator`] per member account and Region.

use std::sync::Arc;

use aws_config::SdkConfig;
use remediator_core::accounts::Accounts;
use remediator_core::ports::SharedBudget;
use remediator_core::Settings;
use remediator_sdk::central::Central;

use crate::AwsRemediator;

/// The ECS remediation of the receiving account, and of member accounts in central mode.
pub type CentralRemediator = Central<AwsRemediator>;

/// The ECS function's remediation: its own account and Region, and the members'. Every one of
/// them paces its modify calls from `budget`, keyed by the account and Region it acts in.
pub fn central(
    base: &SdkConfig,
    settings: Settings,
    accounts: Accounts,
    budget: Arc<dyn SharedBudget>,
) -> CentralRemediator {
    Central::new(base, settings, accounts, move |sdk, settings| {
        crate::remediator(sdk, settings).with_budget(budget.clone())
    })
}
