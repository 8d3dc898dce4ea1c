//! ECS side of the remediator: AWS SDK adapters (ECS, CodeDeploy, EC2) for the core's ports.
//! SDK types stop here; the engine in `remediator-core` never sees one.

pub mod central;
pub mod codedeploy;
pub mod ecs;
pub mod instances;
mod lifecycle;
pub mod pass_role;
pub mod preflight;
pub mod tasks;

use aws_config::SdkConfig;
use remediator_core::{Remediator, Settings};

pub use central::{central, CentralRemediator};
pub use codedeploy::SdkCodeDeploy;
pub use ecs::SdkEcs;

/// The production ECS remediator.
pub type AwsRemediator = Remediator<SdkEcs, SdkCodeDeploy>;

/// Builds the ECS remediator over SDK clients made once from `sdk`.
pub fn remediator(sdk: &SdkConfig, settings: Settings) -> AwsRemediator {
    let ecs = SdkEcs::with_ec2(aws_sdk_ecs::Client::new(sdk), aws_sdk_ec2::Client::new(sdk));
    remediator_over(ecs, sdk, settings)
}

/// The same over `ecs` (the preflight's, whose pre-read services answer the planner).
pub(crate) fn remediator_over(
    ecs: SdkEcs,
    sdk: &SdkConfig,
    mut settings: Settings,
) -> AwsRemediator {
    settings.region = sdk.region().map(ToString::to_string);
    Remediator::new(
        ecs.with_autoscaling(aws_sdk_autoscaling::Client::new(sdk)),
        SdkCodeDeploy::new(aws_sdk_codedeploy::Client::new(sdk)),
        settings,
    )
}
