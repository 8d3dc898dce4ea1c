//! IAM's policy simulator, which moto does not implement, under the real SDK client
//! (aws-smithy-mocks): what it is asked, how its answer is read, and a refusal.

use std::sync::{Arc, Mutex};

use aws_sdk_iam::operation::simulate_principal_policy::{
    SimulatePrincipalPolicyError, SimulatePrincipalPolicyInput, SimulatePrincipalPolicyOutput,
};
use aws_sdk_iam::types::{EvaluationResult, PolicyEvaluationDecisionType};
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use aws_smithy_types::error::ErrorMetadata;
use remediator_aws::pass_role::simulate;
use remediator_core::preflight::ecs::PassSimulation;

const PRINCIPAL: &str = "arn:aws:iam::111122223333:role/remediator-ecs";

fn role(name: &str) -> String {
    format!("arn:aws:iam::111122223333:role/{name}")
}

fn result(resource: &str, decision: PolicyEvaluationDecisionType) -> EvaluationResult {
    EvaluationResult::builder()
        .eval_action_name("iam:PassRole")
        .eval_resource_name(resource)
        .eval_decision(decision)
        .build()
        .unwrap_or_else(|e| panic!("evaluation result: {e}"))
}

#[tokio::test]
async fn the_simulator_is_asked_for_passrole_to_ecs_tasks_and_each_refused_role_is_named() {
    let asked: Arc<Mutex<Vec<SimulatePrincipalPolicyInput>>> = Arc::default();
    let seen = asked.clone();
    let rule = mock!(aws_sdk_iam::Client::simulate_principal_policy)
        .match_requests(move |input| {
            seen.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(input.clone());
            true
        })
        .then_output(|| {
            SimulatePrincipalPolicyOutput::builder()
                .evaluation_results(result(
                    &role("web-task"),
                    PolicyEvaluationDecisionType::Allowed,
                ))
                .evaluation_results(result(
                    &role("bounded"),
                    PolicyEvaluationDecisionType::ExplicitDeny,
                ))
                .evaluation_results(result(
                    &role("unlisted"),
                    PolicyEvaluationDecisionType::ImplicitDeny,
                ))
                .is_truncated(false)
                .build()
        });
    let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&rule]);
    let roles = vec![role("bounded"), role("unlisted"), role("web-task")];

    let answer = simulate(&iam, PRINCIPAL, &roles).await;

    let PassSimulation::Answered { principal, refused } = answer else {
        panic!("answered: {answer:?}");
    };
    assert_eq!(principal, PRINCIPAL);
    assert_eq!(
        refused.into_iter().collect::<Vec<_>>(),
        vec![
            (role("bounded"), "explicitDeny".to_owned()),
            (role("unlisted"), "implicitDeny".to_owned()),
        ]
    );
    let asked = asked.lock().unwrap_or_else(|p| p.into_inner());
    assert_eq!(asked.len(), 1, "one call for three roles");
    let input = &asked[0];
    assert_eq!(input.policy_source_arn(), Some(PRINCIPAL));
    assert_eq!(input.action_names(), ["iam:PassRole".to_owned()]);
    assert_eq!(input.resource_arns(), roles.as_slice());
    let context = input.context_entries();
    assert_eq!(context.len(), 1);
    assert_eq!(context[0].context_key_name(), Some("iam:PassedToService"));
    assert_eq!(
        context[0].context_key_values(),
        ["ecs-tasks.amazonaws.com".to_owned()]
    );
}

#[tokio::test]
async fn a_refused_simulator_is_unavailable_and_names_why() {
    let rule = mock!(aws_sdk_iam::Client::simulate_principal_policy).then_error(|| {
        SimulatePrincipalPolicyError::generic(
            ErrorMetadata::builder()
                .code("AccessDenied")
                .message("not authorized to perform: iam:SimulatePrincipalPolicy")
                .build(),
        )
    });
    let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&rule]);

    let answer = simulate(&iam, PRINCIPAL, &[role("web-task")]).await;

    match answer {
        PassSimulation::Unavailable(why) => assert!(why.contains("AccessDenied"), "{why}"),
        other => panic!("unavailable: {other:?}"),
    }
}
