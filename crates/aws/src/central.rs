//! Central mode for the ECS function: [`remediator_sdk::central::Central`] over the ECS
//! remediation, which builds an [`AwsRemediator`] per member account and Region.

use aws_config::SdkConfig;
use remediator_core::accounts::Accounts;
use remediator_core::Settings;
use remediator_sdk::central::Central;

use crate::AwsRemediator;

/// The ECS remediation of the receiving account, and of member accounts in central mode.
pub type CentralRemediator = Central<AwsRemediator>;

/// The ECS function's remediation: its own account and Region, and the members'.
pub fn central(base: &SdkConfig, settings: Settings, accounts: Accounts) -> CentralRemediator {
    Central::new(base, settings, accounts, crate::remediator)
}
