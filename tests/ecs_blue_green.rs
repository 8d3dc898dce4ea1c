//! End to end: CODE_DEPLOY (blue/green) and EXTERNAL services, through the real handler and the
//! real SDK clients, against moto server.
// The futures nest the driver, the engine and the SDK calls deeply.
#![recursion_limit = "256"]

use std::collections::BTreeMap;

use remediator_core::appspec::AppSpec;
use remediator_core::{parse_value, pipeline, Settings, Status};
use remediator_lambda::handle;
use remediator_testkit::events::{invocation, only, remediator, run, settings};
use remediator_testkit::notice::Notice;
use remediator_testkit::{BlueGreenFixture, MotoServer, Seed};

/// A blue/green service whose earlier release has finished (moto leaves deployments `Created`).
async fn finished_blue_green(moto: &MotoServer, seed: &Seed) -> BlueGreenFixture {
    seed.ecs
        .create_cluster()
        .cluster_name("prod")
        .send()
        .await
        .expect("cluster");
    let fixture = seed.blue_green_service("prod", "shop").await;
    moto.set_codedeploy_status(&fixture.previous_deployment, "Succeeded");
    fixture
}

fn hook(event: &str, function: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(event.to_owned(), function.to_owned())])
}

#[tokio::test]
async fn a_blue_green_service_gets_one_codedeploy_deployment_of_what_runs_with_the_same_hooks() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    let fixture = finished_blue_green(&moto, &seed).await;
    let event = Notice::ecs().naming(&["prod|shop"]).build();

    let first = run(&moto, settings(), event.clone()).await;

    let o = only(&first);
    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Acted, "codedeploy_deployment_created"),
        "{o:?}"
    );
    assert_eq!(
        o.deployment_before.as_deref(),
        Some(fixture.previous_deployment.as_str())
    );
    let all = seed
        .codedeploy_deployments(&fixture.application, &fixture.group)
        .await;
    assert_eq!(all.len(), 2, "exactly one new deployment: {all:?}");
    let new_id = o.deployment_after.clone().expect("new deployment id");
    assert!(all.contains(&new_id));
    let spec: AppSpec = serde_norway::from_str(&seed.appspec_of(&new_id).await).expect("AppSpec");
    let props = &spec.resources[0].target_service.properties;
    assert_eq!(props.task_definition, fixture.task_definition);
    assert_eq!(props.load_balancer_info.container_name, "app");
    assert_eq!(props.load_balancer_info.container_port, 8080);
    assert_eq!(props.platform_version.as_deref(), Some("1.4.0"));
    let vpc = &props
        .network_configuration
        .as_ref()
        .expect("network")
        .awsvpc_configuration;
    assert_eq!(vpc.subnets, fixture.network.subnets);
    assert_eq!(
        vpc.security_groups,
        vec![fixture.network.security_group.clone()]
    );
    assert_eq!(vpc.assign_public_ip.as_deref(), Some("DISABLED"));
    assert_eq!(
        spec.hooks,
        vec![
            hook("BeforeInstall", "PreflightChecks"),
            hook(
                "AfterAllowTestTraffic",
                "arn:aws:lambda:us-east-1:123456789012:function:SmokeTests"
            ),
        ]
    );

    // The same notice delivered again while CodeDeploy works on the first deployment.
    let second = run(&moto, settings(), event).await;

    let o = only(&second);
    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::AlreadyDone, "already_replaced"),
        "{o:?}"
    );
    assert_eq!(
        seed.codedeploy_deployments(&fixture.application, &fixture.group)
            .await
            .len(),
        2,
        "the second run creates no deployment"
    );
}

#[tokio::test]
async fn when_the_task_sets_deployment_is_gone_the_group_is_found_by_its_ecs_services() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    let fixture = finished_blue_green(&moto, &seed).await;
    // A later successful release of the same group carries the hooks to keep.
    let later = seed
        .appspec_deployment(
            &fixture.application,
            &fixture.group,
            remediator_testkit::PREVIOUS_APPSPEC,
        )
        .await;
    moto.set_codedeploy_status(&later, "Succeeded");
    moto.forget_codedeploy_deployment(&fixture.previous_deployment);

    let report = run(
        &moto,
        settings(),
        Notice::ecs().naming(&["prod|shop"]).build(),
    )
    .await;

    let o = only(&report);
    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Acted, "codedeploy_deployment_created"),
        "{o:?}"
    );
    assert!(o.reason.contains("shop-app/shop-dg"), "{}", o.reason);
    assert!(
        o.reason
            .contains(&format!("2 lifecycle hook(s) kept from deployment {later}")),
        "{}",
        o.reason
    );
}

#[tokio::test]
async fn an_earlier_release_still_in_progress_makes_a_retryable_outcome_and_no_deployment() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.ecs
        .create_cluster()
        .cluster_name("prod")
        .send()
        .await
        .expect("cluster");
    // Left `Created`: CodeDeploy counts it as in progress.
    let fixture = seed.blue_green_service("prod", "shop").await;

    let remediator = remediator(&moto, settings()).await;
    let result = handle(
        &remediator,
        invocation(Notice::ecs().naming(&["prod|shop"]).build()),
    )
    .await;

    assert!(
        result.is_err(),
        "a retryable outcome fails the invocation so Lambda retries"
    );
    let event = Notice::ecs().naming(&["prod|shop"]).build();
    let report = pipeline::run(&remediator, parse_value(event), None).await;
    let o = only(&report);
    assert_eq!(
        (o.status, o.code.as_str(), o.retryable),
        (Status::Failed, "deployment_in_progress", true),
        "{o:?}"
    );
    assert_eq!(
        seed.codedeploy_deployments(&fixture.application, &fixture.group)
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn a_dry_run_names_the_group_and_creates_nothing() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    let fixture = finished_blue_green(&moto, &seed).await;

    let report = run(
        &moto,
        Settings {
            dry_run: true,
            ..settings()
        },
        Notice::ecs().naming(&["prod|shop"]).build(),
    )
    .await;

    let o = only(&report);
    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Planned, "would_create_codedeploy_deployment")
    );
    assert!(o.reason.contains("shop-app/shop-dg"), "{}", o.reason);
    assert_eq!(
        seed.codedeploy_deployments(&fixture.application, &fixture.group)
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn a_blue_green_service_no_deployment_group_names_is_a_final_failure() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.rolling_services("prod", &[]).await;
    let td = seed.task_definition("orphan").await;
    seed.service(
        "prod",
        "orphan",
        &td,
        Some(aws_sdk_ecs::types::DeploymentControllerType::CodeDeploy),
    )
    .await;

    let report = run(
        &moto,
        settings(),
        Notice::ecs().naming(&["prod|orphan"]).build(),
    )
    .await;

    let o = only(&report);
    assert_eq!(
        (o.status, o.code.as_str(), o.retryable),
        (Status::Failed, "no_deployment_group", false)
    );
}

#[tokio::test]
async fn an_external_service_is_explained_and_left_alone() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.rolling_services("prod", &[]).await;
    let td = seed.task_definition("ext").await;
    seed.service(
        "prod",
        "ext",
        &td,
        Some(aws_sdk_ecs::types::DeploymentControllerType::External),
    )
    .await;

    let report = run(
        &moto,
        settings(),
        Notice::ecs().naming(&["prod|ext"]).build(),
    )
    .await;

    let o = only(&report);
    assert_eq!(
        (o.status, o.code.as_str()),
        (Status::Skipped, "external_controller")
    );
    assert!(o
        .reason
        .contains("CreateTaskSet → UpdateServicePrimaryTaskSet → DeleteTaskSet"));
    assert!(o.reason.contains("prod/ext"), "{}", o.reason);
}
