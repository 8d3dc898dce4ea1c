//! Verdicts you can trust: a final failure only when the platform really failed (issue 23).
//! The real handler, ledger, scheduler and ECS client against moto; the test kit models what
//! moto lacks (a forced deployment's rollout, service deployments with their lifecycle stage and
//! hooks, ECS-native strategies, Express Mode), and the fault proxy an ECS that cannot say.
// The futures nest the driver, the engine and the SDK calls deeply.
#![recursion_limit = "256"]

use chrono::Duration;
use remediator_core::ledger::State;
use remediator_core::{notify, Code, Status};
use remediator_lambda::handle_with;
use remediator_testkit::checks::{
    deliver, fire, fire_at, ledger, notice, state_of, with_checks, SCHEDULER_ROLE, TABLE,
};
use remediator_testkit::clock;
use remediator_testkit::events::{controls_over, invocation, said, settings};
use remediator_testkit::fault_proxy::{Fault, FaultProxy};
use remediator_testkit::notice::Notice;
use remediator_testkit::{MotoServer, Seed};

#[tokio::test]
async fn service_tasks_named_by_their_arn_are_followed_as_their_service_and_verified_with_it() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    let td = seed.rolling_services("prod", &["web"]).await;
    let a = seed.service_task("prod", "web", &td).await;
    let b = seed.service_task("prod", "web", &td).await;
    let ledger = ledger(&moto).await;
    let controls = with_checks(&moto).await;
    let task = |arn: &str| format!("task prod/{}", arn.rsplit('/').next().unwrap_or_default());

    let acted = deliver(&moto, &controls, notice(&[&a, &b]), clock::now()).await;
    assert_eq!(
        said(&acted),
        vec![
            (task(&a), Status::Acted, Code::ForcedNewDeployment),
            (task(&b), Status::Acted, Code::ForcedNewDeployment),
        ],
        "one forced deployment of their service answers for both"
    );
    let forced = seed.primary_deployment("prod", "web").await;

    let pending = fire(&moto, &controls, &acted).await;
    assert_eq!(
        said(&pending),
        vec![
            (task(&a), Status::Pending, Code::Verifying),
            (task(&b), Status::Pending, Code::Verifying),
        ],
        "followed as the service, not looked up as relaunched tasks: {pending:#?}"
    );
    assert!(
        pending.outcomes[0]
            .reason
            .starts_with("task of service prod/web, followed as it: "),
        "{}",
        pending.outcomes[0].reason
    );

    moto.set_rollout("prod", "web", "COMPLETED");
    let verified = fire(&moto, &controls, &pending).await;
    assert_eq!(
        said(&verified),
        vec![
            (task(&a), Status::AlreadyDone, Code::Verified),
            (task(&b), Status::AlreadyDone, Code::Verified),
        ]
    );
    assert_eq!(
        state_of(&ledger, &verified).await,
        vec![State::Verified, State::Verified]
    );
    assert_eq!(
        seed.primary_deployment("prod", "web").await,
        forced,
        "forced once"
    );
}

#[tokio::test]
async fn the_teams_later_deployment_then_healths_update_of_the_notice_is_not_a_rollback() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.rolling_services("prod", &["web"]).await;
    ledger(&moto).await;
    let controls = with_checks(&moto).await;
    let now = clock::now();
    let web = Notice::ecs().naming(&["prod|web"]).published(now);

    let acted = deliver(&moto, &controls, web.clone().build(), now).await;
    assert_eq!(acted.outcomes[0].code, Code::ForcedNewDeployment);
    // The team ships a release after us; ECS completes theirs and drops ours from its list.
    seed.ecs
        .update_service()
        .cluster("prod")
        .service("web")
        .force_new_deployment(true)
        .send()
        .await
        .expect("the team's deployment");
    moto.set_rollout("prod", "web", "COMPLETED");
    // Then Health updates the notice: a later `time`, the same event.
    let later = now + Duration::minutes(20);
    let update = web.updated(later).build();

    let report = deliver(&moto, &controls, update, later).await;

    assert_eq!(
        said(&report),
        vec![(
            "service prod/web".into(),
            Status::AlreadyDone,
            Code::Verified
        )],
        "a deployment created after ours replaces the tasks too: {report:#?}"
    );
    assert!(
        report.outcomes[0].reason.contains("after ours"),
        "{}",
        report.outcomes[0].reason
    );
}

#[tokio::test]
async fn a_sixty_minute_bake_is_pending_while_a_rolling_service_unchanged_as_long_has_stalled() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.rolling_services("prod", &["web", "api"]).await;
    moto.set_strategy("prod", "web", "BLUE_GREEN", 60, 0);
    ledger(&moto).await;
    let controls = with_checks(&moto).await;
    let now = clock::now();

    let acted = deliver(&moto, &controls, notice(&["prod|web", "prod|api"]), now).await;
    assert!(
        acted
            .outcomes
            .iter()
            .all(|o| o.code == Code::ForcedNewDeployment),
        "{acted:#?}"
    );
    // ECS shifted web's traffic and bakes; neither deployment's updatedAt moves.
    moto.set_service_deployment("prod", "web", "IN_PROGRESS", "BAKE_TIME");

    // Twice ROLLOUT_TIMEOUT (30 min) later, and a minute.
    let checked = fire_at(&moto, &controls, &acted, now + Duration::minutes(61)).await;

    assert_eq!(
        said(&checked),
        vec![
            ("service prod/web".into(), Status::Pending, Code::Verifying),
            (
                "service prod/api".into(),
                Status::Failed,
                Code::RolloutStalled
            ),
        ],
        "{checked:#?}"
    );
    assert!(
        checked.outcomes[0]
            .reason
            .contains("baking (60 min configured"),
        "{}",
        checked.outcomes[0].reason
    );
}

#[tokio::test]
async fn a_pause_hook_awaiting_a_person_is_awaiting_approval_told_once_then_its_rollback_fails() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.rolling_services("prod", &["web"]).await;
    moto.set_strategy("prod", "web", "ROLLING", 0, 1);
    ledger(&moto).await;
    let controls = with_checks(&moto).await;

    let acted = deliver(&moto, &controls, notice(&["prod|web"]), clock::now()).await;
    let hook = moto.set_pause_hook(
        "prod",
        "web",
        ("IN_PROGRESS", "POST_SCALE_UP"),
        ("AWAITING_ACTION", "ROLLBACK", 600),
    );

    let waiting = fire(&moto, &controls, &acted).await;
    let o = &waiting.outcomes[0];
    assert_eq!(
        (o.status, o.code),
        (Status::Pending, Code::AwaitingApproval),
        "{o:?}"
    );
    assert!(
        o.reason
            .contains(&format!("--hook-id {hook} --action CONTINUE")),
        "{}",
        o.reason
    );
    assert!(
        o.reason
            .contains("then ECS takes its timeout action, ROLLBACK"),
        "{}",
        o.reason
    );
    assert!(notify::worth_sending(&waiting), "a person is told");
    assert!(waiting.follow_up.is_some(), "still followed");

    let still = fire(&moto, &controls, &waiting).await;
    assert_eq!(still.outcomes[0].code, Code::AwaitingApproval);
    assert!(
        !notify::worth_sending(&still),
        "told once, not at every check"
    );

    // Nobody acted: the hook times out and ECS rolls back.
    moto.set_pause_hook(
        "prod",
        "web",
        ("ROLLBACK_IN_PROGRESS", "POST_SCALE_UP"),
        ("TIMED_OUT", "ROLLBACK", -1),
    );
    let rolled_back = fire(&moto, &controls, &still).await;
    let o = &rolled_back.outcomes[0];
    assert_eq!(
        (o.status, o.code),
        (Status::Failed, Code::RolloutFailed),
        "{o:?}"
    );
    assert!(
        o.reason
            .contains(&format!("lifecycle hook {hook} timed_out")),
        "{}",
        o.reason
    );
}

#[tokio::test]
async fn an_express_mode_service_is_reported_with_what_to_do_and_not_forced() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.rolling_services("prod", &["web"]).await;
    moto.set_express("prod", "web");
    ledger(&moto).await;
    let controls = with_checks(&moto).await;
    let before = seed.primary_deployment("prod", "web").await;

    let report = deliver(&moto, &controls, notice(&["prod|web"]), clock::now()).await;

    assert_eq!(
        said(&report),
        vec![(
            "service prod/web".into(),
            Status::Skipped,
            Code::ExpressModeService
        )]
    );
    assert!(report.outcomes[0]
        .reason
        .contains("UpdateExpressGatewayService"));
    assert_eq!(seed.primary_deployment("prod", "web").await, before);
}

#[tokio::test]
async fn a_bake_whose_service_deployment_ecs_cannot_describe_stays_pending_never_final() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.rolling_services("prod", &["web"]).await;
    moto.set_strategy("prod", "web", "BLUE_GREEN", 60, 0);
    ledger(&moto).await;
    let controls = with_checks(&moto).await;
    let now = clock::now();
    let acted = deliver(&moto, &controls, notice(&["prod|web"]), now).await;
    let proxy = FaultProxy::start(moto.endpoint()).await;
    proxy.inject("DescribeServiceDeployments", Fault::ServerError, 100);
    let sdk = proxy.sdk_config(std::time::Duration::from_secs(5)).await;
    let through_proxy = controls_over(
        &sdk,
        &[
            ("LEDGER_TABLE", TABLE),
            ("SCHEDULE_ROLE_ARN", SCHEDULER_ROLE),
        ],
    );
    let remediator = remediator_aws::remediator(&sdk, settings());
    let input = remediator_testkit::checks::scheduled_input(&moto, &acted).await;

    let checked = handle_with(
        &remediator,
        &through_proxy,
        invocation(input),
        now + Duration::minutes(61),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    let o = &checked.outcomes[0];
    assert_eq!(
        (o.status, o.code),
        (Status::Pending, Code::Verifying),
        "{o:?}"
    );
    assert!(o.reason.contains("not judged stalled"), "{}", o.reason);
    assert!(proxy.seen("DescribeServiceDeployments") > 0);
}
