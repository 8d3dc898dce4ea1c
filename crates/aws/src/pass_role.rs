//! IAM's policy simulator on `iam:PassRole`: may the role that would relaunch a standalone task
//! pass that task's roles to ECS? (`SimulatePrincipalPolicy`.)
//!
//! What the IAM API reference says and how it shapes this (read 2026-12):
//! - `PolicySourceArn` is a user, group or role: the simulation includes every policy attached
//!   to it (and its permissions boundary); the function's role is given as `FUNCTION_ROLE_ARN`;
//! - each action is evaluated for each resource (`ResourceArns`), one `EvaluationResult` per
//!   pair with `EvalDecision` `allowed`, `explicitDeny` or `implicitDeny`; results are paged
//!   (`Marker`, `IsTruncated`): the SDK's paginator reads them all;
//! - a context key the policies test and the request does not give evaluates as missing: the
//!   templates grant PassRole on the condition `iam:PassedToService`, so the simulation gives
//!   `ecs-tasks.amazonaws.com` as RunTask would.
//!
//! The simulator is read only (`iam:SimulatePrincipalPolicy` on the function's own role).

use std::collections::BTreeMap;

use aws_sdk_iam::types::{ContextEntry, ContextKeyTypeEnum, PolicyEvaluationDecisionType};
use remediator_core::preflight::ecs::PassSimulation;

/// Roles per call: small enough that one answer is a page or two.
const ROLES_PER_CALL: usize = 50;

/// What the simulator answers for `principal` passing each of `roles` to ECS tasks;
/// [`PassSimulation::Unavailable`] when it cannot be asked (refused, throttled past retries).
pub async fn simulate(
    iam: &aws_sdk_iam::Client,
    principal: &str,
    roles: &[String],
) -> PassSimulation {
    let passed_to = ContextEntry::builder()
        .context_key_name("iam:PassedToService")
        .context_key_type(ContextKeyTypeEnum::String)
        .context_key_values("ecs-tasks.amazonaws.com")
        .build();
    let mut refused = BTreeMap::new();
    for chunk in roles.chunks(ROLES_PER_CALL) {
        let results: Result<Vec<_>, _> = iam
            .simulate_principal_policy()
            .policy_source_arn(principal)
            .action_names("iam:PassRole")
            .set_resource_arns(Some(chunk.to_vec()))
            .context_entries(passed_to.clone())
            .into_paginator()
            .items()
            .send()
            .collect()
            .await;
        let results = match results {
            Ok(r) => r,
            Err(e) => {
                return PassSimulation::Unavailable(format!(
                    "SimulatePrincipalPolicy: {}",
                    remediator_sdk::classify("SimulatePrincipalPolicy", e)
                ))
            }
        };
        for result in results {
            let decision = result.eval_decision();
            if *decision == PolicyEvaluationDecisionType::Allowed {
                continue;
            }
            if let Some(role) = result.eval_resource_name() {
                refused.insert(role.to_owned(), decision.as_str().to_owned());
            }
        }
    }
    PassSimulation::Answered {
        principal: principal.to_owned(),
        refused,
    }
}
