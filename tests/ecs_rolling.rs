//! End to end: retirement notices replayed through the real handler, over real HTTP, against
//! moto server. Each test gets its own moto process.
// The futures nest the driver, the engine and the SDK calls deeply.
#![recursion_limit = "256"]

use aws_sdk_ecs::types::DeploymentControllerType;
use remediator_core::{Disposition, Settings, Status};
use remediator_lambda::{handle, HandlerError};
use remediator_testkit::events::{invocation, outcome_of, remediator, settings};
use remediator_testkit::notice::Notice;
use remediator_testkit::{fixture_at, fixture_path, MotoServer, Seed};
use serde_json::Value;

#[tokio::test]
async fn a_notice_forces_exactly_the_named_rolling_services_once_and_a_redelivery_changes_nothing()
{
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.rolling_services("prod", &["checkout", "payments", "search"])
        .await;
    let before = deployment_ids(&seed, &["checkout", "payments", "search"]).await;
    let event = Notice::ecs()
        .naming(&[
            "prod|checkout",
            "prod | payments",
            "prod|ghost",
            "nowhere|api",
        ])
        .build();
    let remediator = remediator(&moto, settings()).await;

    let first = handle(&remediator, invocation(event.clone()))
        .await
        .expect("first run succeeds");

    assert_eq!(first.disposition, Disposition::Handled);
    assert_eq!(first.outcomes.len(), 4, "{first:#?}");
    let after = deployment_ids(&seed, &["checkout", "payments", "search"]).await;
    for (i, name) in ["checkout", "payments"].iter().enumerate() {
        let o = outcome_of(&first, &format!("service prod/{name}"));
        assert_eq!(o.status, Status::Acted, "{o:?}");
        assert_eq!(o.code, "forced_new_deployment");
        assert_ne!(before[i], after[i], "{name}: deployment id must change");
        assert_eq!(o.deployment_before, before[i]);
        assert_eq!(o.deployment_after, after[i]);
    }
    assert_eq!(before[2], after[2], "an unnamed service is not touched");
    assert_eq!(outcome_of(&first, "service prod/ghost").code, "not_found");
    assert_eq!(
        outcome_of(&first, "service prod/ghost").status,
        Status::Skipped
    );
    assert_eq!(outcome_of(&first, "service nowhere/api").code, "not_found");

    let second = handle(&remediator, invocation(event))
        .await
        .expect("second run succeeds");

    let again = deployment_ids(&seed, &["checkout", "payments", "search"]).await;
    assert_eq!(
        after, again,
        "the redelivery must make no UpdateService call"
    );
    for name in ["checkout", "payments"] {
        let o = outcome_of(&second, &format!("service prod/{name}"));
        assert_eq!(
            (o.status, o.code.as_str()),
            (Status::AlreadyDone, "already_replaced"),
            "{o:?}"
        );
    }
    assert_eq!(second.summary.acted, 0);
}

async fn deployment_ids(seed: &Seed, names: &[&str]) -> Vec<Option<String>> {
    let mut ids = Vec::new();
    for n in names {
        ids.push(seed.primary_deployment("prod", n).await);
    }
    ids
}

#[tokio::test]
async fn a_dry_run_plans_the_deployment_without_making_it() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.rolling_services("prod", &["checkout"]).await;
    let before = seed.primary_deployment("prod", "checkout").await;
    let remediator = remediator(
        &moto,
        Settings {
            dry_run: true,
            ..settings()
        },
    )
    .await;

    let report = handle(
        &remediator,
        invocation(Notice::ecs().naming(&["prod|checkout"]).build()),
    )
    .await
    .expect("dry run succeeds");

    let o = outcome_of(&report, "service prod/checkout");
    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Planned, "would_force_new_deployment")
    );
    assert!(report.dry_run);
    assert_eq!(seed.primary_deployment("prod", "checkout").await, before);
}

#[tokio::test]
async fn each_controller_gets_its_own_remediation_and_a_task_that_is_gone_is_reported() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.cluster("prod").await;
    let td = seed.task_definition("web").await;
    seed.service(
        "prod",
        "external",
        &td,
        Some(DeploymentControllerType::External),
    )
    .await;
    seed.service("prod", "rolling", &td, Some(DeploymentControllerType::Ecs))
        .await;
    let event = Notice::ecs()
        .resources(&["prod|external", "prod|rolling"])
        .entities(&[
            "arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef0123456789abcdef",
        ])
        .build();
    let remediator = remediator(&moto, settings()).await;

    let report = handle(&remediator, invocation(event))
        .await
        .expect("handled");

    assert_eq!(report.outcomes.len(), 3, "{report:#?}");
    let task = outcome_of(&report, "task prod/0123456789abcdef0123456789abcdef");
    assert_eq!((task.status, task.code.as_str()), (Status::Skipped, "gone"));
    assert!(task.reason.contains("gone"), "{}", task.reason);
    let external = outcome_of(&report, "service prod/external");
    assert_eq!(
        (external.status, external.code.as_str()),
        (Status::Skipped, "external_controller")
    );
    assert_eq!(
        outcome_of(&report, "service prod/rolling").status,
        Status::Acted
    );
}

#[tokio::test]
async fn more_than_ten_services_in_a_cluster_are_described_in_batches_and_all_acted_on() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    let names: Vec<String> = (0..23).map(|i| format!("svc-{i:02}")).collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    seed.rolling_services("big", &name_refs).await;
    let entities: Vec<String> = names.iter().map(|n| format!("big|{n}")).collect();
    let refs: Vec<&str> = entities.iter().map(String::as_str).collect();
    let remediator = remediator(&moto, settings()).await;

    let report = handle(&remediator, invocation(Notice::ecs().naming(&refs).build()))
        .await
        .expect("handled");

    assert_eq!(report.summary.acted, 23, "{}", report.render_table());
    assert_eq!(report.outcomes.len(), 23);
    // Order of the report follows the notice.
    let order: Vec<String> = report
        .outcomes
        .iter()
        .map(|o| o.target.to_string())
        .collect();
    let expected: Vec<String> = names.iter().map(|n| format!("service big/{n}")).collect();
    assert_eq!(order, expected);
}

#[tokio::test]
async fn unusable_input_is_rejected_as_an_error_lambda_can_dead_letter() {
    let moto = MotoServer::start();
    let remediator = remediator(&moto, settings()).await;
    let raw =
        std::fs::read(fixture_path("malformed-health-missing-event-arn.json")).expect("fixture");
    let payload: Value = serde_json::from_slice(&raw).expect("json");

    let err = handle(&remediator, invocation(payload))
        .await
        .expect_err("rejected");

    match err {
        HandlerError::Rejected(message) => {
            assert!(message.contains("detail.eventArn"), "{message}")
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn a_closed_event_is_answered_with_nothing_to_do() {
    let moto = MotoServer::start();
    let remediator = remediator(&moto, settings()).await;

    let report = handle(
        &remediator,
        invocation(fixture_at(
            "health-ecs-closed.json",
            remediator_testkit::clock::now(),
        )),
    )
    .await
    .expect("ignored is a success");

    assert_eq!(report.disposition, Disposition::Ignored);
    assert_eq!(report.code.map(|c| c.as_str()), Some("closed_event"));
    assert!(report.outcomes.is_empty());
}

#[tokio::test]
async fn a_reset_moto_server_has_forgotten_the_seeded_account() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.rolling_services("prod", &["checkout"]).await;
    let remediator = remediator(&moto, settings()).await;

    moto.reset();
    let report = handle(
        &remediator,
        invocation(Notice::ecs().naming(&["prod|checkout"]).build()),
    )
    .await
    .expect("handled");

    assert_eq!(
        outcome_of(&report, "service prod/checkout").code,
        "not_found"
    );
}

async fn tag(seed: &Seed, arn: &str, key: &str, value: &str) {
    seed.ecs
        .tag_resource()
        .resource_arn(arn)
        .tags(
            aws_sdk_ecs::types::Tag::builder()
                .key(key)
                .value(value)
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("tag {arn}: {e:?}"));
}

fn service_arn(cluster: &str, service: &str) -> String {
    format!("arn:aws:ecs:us-east-1:123456789012:service/{cluster}/{service}")
}

#[tokio::test]
async fn an_opted_out_service_or_cluster_is_not_touched() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.rolling_services("prod", &["checkout", "payments"])
        .await;
    seed.rolling_services("legacy", &["batch"]).await;
    tag(
        &seed,
        &service_arn("prod", "checkout"),
        "retirement-remediator/skip",
        "true",
    )
    .await;
    tag(
        &seed,
        "arn:aws:ecs:us-east-1:123456789012:cluster/legacy",
        "retirement-remediator/skip",
        "true",
    )
    .await;
    let before = seed.primary_deployment("prod", "checkout").await;
    let remediator = remediator(&moto, settings()).await;

    let report = handle(
        &remediator,
        invocation(
            Notice::ecs()
                .naming(&["prod|checkout", "prod|payments", "legacy|batch"])
                .build(),
        ),
    )
    .await
    .expect("handled");

    let checkout = outcome_of(&report, "service prod/checkout");
    assert_eq!(
        (checkout.status, checkout.code.as_str()),
        (Status::Skipped, "opted_out"),
        "{checkout:?}"
    );
    assert!(
        checkout.reason.contains("the resource is tagged"),
        "{}",
        checkout.reason
    );
    let batch = outcome_of(&report, "service legacy/batch");
    assert_eq!(batch.code, "opted_out");
    assert!(batch.reason.contains("its cluster"), "{}", batch.reason);
    assert_eq!(
        outcome_of(&report, "service prod/payments").status,
        Status::Acted
    );
    assert_eq!(
        seed.primary_deployment("prod", "checkout").await,
        before,
        "no UpdateService"
    );
}

#[tokio::test]
async fn opt_in_mode_acts_only_on_tagged_services_or_clusters() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.rolling_services("prod", &["checkout", "payments"])
        .await;
    seed.rolling_services("enrolled", &["web"]).await;
    tag(
        &seed,
        &service_arn("prod", "payments"),
        "retirement-remediator/enabled",
        "true",
    )
    .await;
    tag(
        &seed,
        "arn:aws:ecs:us-east-1:123456789012:cluster/enrolled",
        "retirement-remediator/enabled",
        "true",
    )
    .await;
    let before = seed.primary_deployment("prod", "checkout").await;
    let remediator = remediator(
        &moto,
        Settings {
            opt_in_only: true,
            ..settings()
        },
    )
    .await;

    let report = handle(
        &remediator,
        invocation(
            Notice::ecs()
                .naming(&["prod|checkout", "prod|payments", "enrolled|web"])
                .build(),
        ),
    )
    .await
    .expect("handled");

    assert_eq!(
        outcome_of(&report, "service prod/checkout").code,
        "not_opted_in"
    );
    assert_eq!(
        outcome_of(&report, "service prod/payments").status,
        Status::Acted
    );
    assert_eq!(
        outcome_of(&report, "service enrolled/web").status,
        Status::Acted
    );
    assert_eq!(seed.primary_deployment("prod", "checkout").await, before);
}

#[tokio::test]
async fn a_service_whose_deployment_configuration_leaves_no_room_is_not_forced_into_a_stall() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.rolling_services("prod", &["locked", "roomy"]).await;
    // Both run two tasks (the test kit's services are created with desiredCount 2).
    moto.set_deployment_configuration("prod", "locked", 100, 100);
    moto.set_deployment_configuration("prod", "roomy", 100, 200);
    let before = seed.primary_deployment("prod", "locked").await;
    let remediator = remediator(&moto, settings()).await;

    let report = handle(
        &remediator,
        invocation(Notice::ecs().naming(&["prod|locked", "prod|roomy"]).build()),
    )
    .await
    .unwrap_or_else(|e| panic!("a final failure is no retry: {e}"));

    let locked = outcome_of(&report, "service prod/locked");
    assert_eq!(
        (locked.status, locked.code.as_str(), locked.retryable),
        (Status::Failed, "no_room_to_replace", false)
    );
    assert!(
        locked.reason.contains("maximumPercent 100"),
        "{}",
        locked.reason
    );
    assert_eq!(seed.primary_deployment("prod", "locked").await, before);
    assert_eq!(
        outcome_of(&report, "service prod/roomy").code.as_str(),
        "forced_new_deployment"
    );
}
