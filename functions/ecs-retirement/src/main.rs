//! Lambda for `AWS_ECS_TASK_PATCHING_RETIREMENT` Health events. Wiring only: the shell is
//! `remediator-lambda`, the work `remediator-core`'s engine over `remediator-aws`'s SDK adapters.
// The handler's future nests the engine's passes, the SDK calls and the runtime's layers.
#![recursion_limit = "256"]

fn main() -> Result<(), lambda_runtime::Error> {
    remediator_lambda::start_with_preflight(
        "ecs-retirement",
        |sdk, config| {
            remediator_aws::central(
                sdk,
                config.settings.clone(),
                config.accounts.clone(),
                remediator_lambda::shared_budget(
                    sdk,
                    config,
                    remediator_lambda::budget::Clock::Synchronised,
                ),
            )
        },
        |sdk, config, scopes| async move {
            remediator_aws::preflight::run(
                &sdk,
                config.settings.clone(),
                config.accounts.clone(),
                &scopes,
            )
            .await
        },
    )
}
