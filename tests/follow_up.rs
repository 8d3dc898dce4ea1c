//! Follow-up checks end to end: the real handler, ledger, scheduler and ECS/CodeDeploy clients
//! against moto. A check is fired the way EventBridge Scheduler fires it: by invoking the
//! function with the schedule's input. The test kit models what moto does not: a forced
//! deployment leaves the previous deployment's tasks running until ECS moves the rollout on.
// The futures nest the driver, the engine and the SDK calls deeply.
#![recursion_limit = "256"]

use chrono::Duration;
use remediator_core::ledger::State;
use remediator_core::{Code, Report, Settings, Status};
use remediator_lambda::ledger::DynamoLedger;
use remediator_lambda::{handle_with, Controls};
use remediator_testkit::checks::{fire, ledger, notice, scheduled_input, state_of, with_checks};
use remediator_testkit::events::{invocation, remediator, said, settings, task_settings};
use remediator_testkit::notice::Notice;
use remediator_testkit::{MotoServer, Seed};

#[tokio::test]
async fn a_forced_deployment_is_verified_only_when_ecs_shows_it_completed_with_no_old_task_left() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.rolling_services("prod", &["web"]).await;
    let ledger = ledger(&moto).await;
    let controls = with_checks(&moto).await;
    let remediator = remediator(&moto, settings()).await;

    let acted = handle_with(
        &remediator,
        &controls,
        invocation(notice(&["prod|web"])),
        remediator_testkit::clock::now(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        said(&acted),
        vec![(
            "service prod/web".into(),
            Status::Acted,
            Code::ForcedNewDeployment
        )]
    );
    let first = acted.follow_up.clone().expect("a check follows the action");
    assert_eq!(first.check, 1);
    assert!(
        first.at - remediator_testkit::clock::now() > Duration::minutes(4),
        "the first check comes about five minutes later: {first:?}"
    );
    let forced = seed.primary_deployment("prod", "web").await;

    // The new deployment runs nothing yet; the old one still runs on the retiring host.
    let pending = fire(&moto, &controls, &acted).await;
    assert_eq!(
        said(&pending),
        vec![("service prod/web".into(), Status::Pending, Code::Verifying)]
    );
    assert!(pending.outcomes[0].reason.contains("older"), "{pending:#?}");
    let second = pending.follow_up.clone().expect("still followed");
    assert_eq!(second.check, 2);
    assert!(
        second.at - first.at >= Duration::minutes(9),
        "{second:?} after {first:?}"
    );
    assert_eq!(
        seed.primary_deployment("prod", "web").await,
        forced,
        "no second UpdateService"
    );

    moto.set_rollout("prod", "web", "COMPLETED");
    let verified = fire(&moto, &controls, &pending).await;
    assert_eq!(
        said(&verified),
        vec![(
            "service prod/web".into(),
            Status::AlreadyDone,
            Code::Verified
        )]
    );
    assert!(verified.follow_up.is_none(), "nothing left to follow");
    assert!(verified.is_final_check());
    assert_eq!(state_of(&ledger, &verified).await, vec![State::Verified]);
    assert_eq!(seed.primary_deployment("prod", "web").await, forced);
}

#[tokio::test]
async fn a_deployment_the_circuit_breaker_failed_ends_failed_with_its_reason_and_is_not_forced_again(
) {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.rolling_services("prod", &["web"]).await;
    let ledger = ledger(&moto).await;
    let controls = with_checks(&moto).await;
    let remediator = remediator(&moto, settings()).await;
    let acted = handle_with(
        &remediator,
        &controls,
        invocation(notice(&["prod|web"])),
        remediator_testkit::clock::now(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let forced = seed.primary_deployment("prod", "web").await;

    moto.set_rollout("prod", "web", "FAILED");
    let failed = fire(&moto, &controls, &acted).await;

    let o = &failed.outcomes[0];
    assert_eq!(
        (o.status, o.code, o.retryable),
        (Status::Failed, Code::RolloutFailed, false),
        "{o:?}"
    );
    assert!(o.reason.contains("force a new deployment"), "{}", o.reason);
    assert!(
        failed.follow_up.is_none(),
        "a final failure is not checked again"
    );
    assert_eq!(state_of(&ledger, &failed).await, vec![State::Unreplaced]);

    // An update of the notice reports the failure from memory and forces nothing.
    let again = handle_with(
        &remediator,
        &controls,
        invocation(notice(&["prod|web"])),
        remediator_testkit::clock::now(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        said(&again),
        vec![(
            "service prod/web".into(),
            Status::Failed,
            Code::RolloutFailed
        )]
    );
    assert_eq!(seed.primary_deployment("prod", "web").await, forced);
}

#[tokio::test]
async fn an_earlier_codedeploy_release_that_outlasts_lambdas_retries_is_carried_by_checks_until_the_redeploy_is_verified(
) {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.cluster("prod").await;
    // Left `Created`: CodeDeploy counts the earlier release as in progress.
    let fixture = seed.blue_green_service("prod", "shop").await;
    let ledger = ledger(&moto).await;
    let controls = with_checks(&moto).await;
    let remediator = remediator(&moto, settings()).await;

    // Delivered: the release blocks a new deployment. The invocation succeeds (nothing for
    // Lambda to retry into the dead-letter queue): a check carries the resource.
    let mut report = handle_with(
        &remediator,
        &controls,
        invocation(notice(&["prod|shop"])),
        remediator_testkit::clock::now(),
    )
    .await
    .unwrap_or_else(|e| panic!("nothing goes to the DLQ: {e}"));
    // Five checks span 5 + 10 + 20 + 40 + 60 minutes: far past Lambda's two retries.
    for check in 1..=5 {
        let o = &report.outcomes[0];
        assert_eq!(
            (o.status, o.code),
            (Status::Failed, Code::DeploymentInProgress),
            "{o:?}"
        );
        assert_eq!(report.follow_up.as_ref().map(|f| f.check), Some(check));
        report = fire(&moto, &controls, &report).await;
    }
    assert_eq!(
        seed.codedeploy_deployments(&fixture.application, &fixture.group)
            .await
            .len(),
        1,
        "nothing created while the release runs"
    );

    moto.set_codedeploy_status(&fixture.previous_deployment, "Succeeded");
    let acted = fire(&moto, &controls, &report).await;
    let o = &acted.outcomes[0];
    assert_eq!(
        (o.status, o.code),
        (Status::Acted, Code::CodedeployDeploymentCreated),
        "{o:?}"
    );
    let ours = o.deployment_after.clone().expect("the deployment created");

    let baking = fire(&moto, &controls, &acted).await;
    assert_eq!(said(&baking)[0].1, Status::Pending, "{baking:#?}");

    moto.set_codedeploy_status(&ours, "Succeeded");
    let verified = fire(&moto, &controls, &baking).await;
    assert_eq!(
        said(&verified),
        vec![(
            "service prod/shop".into(),
            Status::AlreadyDone,
            Code::Verified
        )]
    );
    assert!(verified.is_final_check());
    assert_eq!(state_of(&ledger, &verified).await, vec![State::Verified]);
    assert_eq!(
        seed.codedeploy_deployments(&fixture.application, &fixture.group)
            .await
            .len(),
        2,
        "one redeploy in all"
    );
}

#[tokio::test]
async fn a_codedeploy_redeploy_that_fails_ends_failed_and_is_not_retried() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.cluster("prod").await;
    let fixture = seed.blue_green_service("prod", "shop").await;
    moto.set_codedeploy_status(&fixture.previous_deployment, "Succeeded");
    ledger(&moto).await;
    let controls = with_checks(&moto).await;
    let remediator = remediator(&moto, settings()).await;
    let acted = handle_with(
        &remediator,
        &controls,
        invocation(notice(&["prod|shop"])),
        remediator_testkit::clock::now(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let ours = acted.outcomes[0]
        .deployment_after
        .clone()
        .expect("the deployment created");

    moto.set_codedeploy_status(&ours, "Stopped");
    let failed = fire(&moto, &controls, &acted).await;

    let o = &failed.outcomes[0];
    assert_eq!(
        (o.status, o.code, o.retryable),
        (Status::Failed, Code::CodedeployFailed, false),
        "{o:?}"
    );
    assert!(o.reason.contains(&ours), "{}", o.reason);
    assert!(failed.follow_up.is_none());
}

#[tokio::test]
async fn a_min_100_max_100_service_is_not_forced_and_its_outcome_says_why() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.rolling_services("prod", &["web"]).await;
    moto.set_deployment_configuration("prod", "web", 100, 100);
    ledger(&moto).await;
    let controls = with_checks(&moto).await;
    let remediator = remediator(&moto, settings()).await;
    let before = seed.primary_deployment("prod", "web").await;

    let report = handle_with(
        &remediator,
        &controls,
        invocation(notice(&["prod|web"])),
        remediator_testkit::clock::now(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    let o = &report.outcomes[0];
    assert_eq!(
        (o.status, o.code),
        (Status::Failed, Code::NoRoomToReplace),
        "{o:?}"
    );
    assert!(o.reason.contains("100"), "{}", o.reason);
    assert_eq!(seed.primary_deployment("prod", "web").await, before);
}

/// A standalone task in cluster `jobs`, with tasks pinned in their status.
async fn standalone(moto: &MotoServer) -> (Seed, remediator_testkit::StandaloneTask) {
    moto.pin_task_status();
    let seed = Seed::new(moto).await;
    seed.cluster("jobs").await;
    let task = seed
        .standalone_task("jobs", "payments-worker", "ops-runbook")
        .await;
    (seed, task)
}

/// A standalone task of `jobs` relaunched by a notice (its replacement runs, the original is
/// stopped), with what its first check needs.
struct Relaunched {
    moto: MotoServer,
    seed: Seed,
    ledger: DynamoLedger,
    controls: Controls,
    acted: Report,
    replacement: String,
}

async fn relaunched() -> Relaunched {
    let moto = MotoServer::start();
    let (seed, task) = standalone(&moto).await;
    let ledger = ledger(&moto).await;
    let controls = with_checks(&moto).await;
    let remediator = remediator(&moto, task_settings()).await;
    let acted = handle_with(
        &remediator,
        &controls,
        invocation(notice(&[&task.arn])),
        remediator_testkit::clock::now(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(said(&acted)[0].2, Code::Relaunched, "{acted:#?}");
    let replacement = acted.outcomes[0]
        .deployment_after
        .clone()
        .expect("the replacement task");
    Relaunched {
        moto,
        seed,
        ledger,
        controls,
        acted,
        replacement,
    }
}

impl Relaunched {
    /// The first check's report.
    async fn check(&self) -> Report {
        fire(&self.moto, &self.controls, &self.acted).await
    }

    /// The first check's report once the replacement's essential container has exited with
    /// `exit_code` by itself (a one-off job ending).
    async fn after_exit(&self, exit_code: i32) -> Report {
        self.moto.exit_task("jobs", &self.replacement, exit_code);
        self.check().await
    }
}

/// The first outcome: its status, code, retryable flag and reason.
fn told(report: &Report) -> (Status, Code, bool, &str) {
    let o = &report.outcomes[0];
    (o.status, o.code, o.retryable, o.reason.as_str())
}

#[tokio::test]
async fn a_relaunched_task_is_verified_when_its_replacement_runs_and_the_original_is_stopped() {
    let run = relaunched().await;

    let verified = run.check().await;

    let (status, code, _, reason) = told(&verified);
    assert_eq!(
        (status, code),
        (Status::AlreadyDone, Code::Verified),
        "{reason}"
    );
    assert!(reason.contains("the original is stopped"), "{reason}");
    assert!(verified.is_final_check());
    assert_eq!(
        state_of(&run.ledger, &verified).await,
        vec![State::Verified]
    );
    assert_eq!(
        run.seed
            .tasks("jobs", aws_sdk_ecs::types::DesiredStatus::Running)
            .await
            .len(),
        1,
        "one replacement, no second RunTask"
    );
}

#[tokio::test]
async fn a_replacement_that_stops_after_the_relaunch_ends_failed_naming_it() {
    let run = relaunched().await;

    run.seed
        .ecs
        .stop_task()
        .cluster("jobs")
        .task(&run.replacement)
        .reason("Essential container in task exited")
        .send()
        .await
        .expect("StopTask");
    let failed = run.check().await;

    let (status, code, retryable, reason) = told(&failed);
    assert_eq!(
        (status, code, retryable),
        (Status::Failed, Code::ReplacementFailed, false),
        "{reason}"
    );
    assert!(reason.contains(&run.replacement), "{reason}");
    assert!(failed.follow_up.is_none());
}

/// Issue 25: a one-off job's replacement that ran and exited 0 before a check looked did the
/// job; it used to be reported `replacement_failed`, a stop not told apart from a crash.
#[tokio::test]
async fn a_replacement_that_ran_and_exited_0_before_a_check_looked_is_verified_as_a_finished_job() {
    let run = relaunched().await;

    let checked = run.after_exit(0).await;

    let (status, code, _, reason) = told(&checked);
    let finished = format!(
        "{} ran and exited 0 (a one-off job finished",
        run.replacement
    );
    assert!(reason.contains(&finished), "{reason}");
    let done = (Status::AlreadyDone, Code::Verified, true);
    assert_eq!((status, code, checked.is_final_check()), done, "{reason}");
}

#[tokio::test]
async fn a_replacement_whose_job_exited_non_zero_ends_failed_naming_the_exit_code() {
    let run = relaunched().await;

    let checked = run.after_exit(2).await;

    let (status, code, retryable, reason) = told(&checked);
    let says = "stop code EssentialContainerExited, essential exit code(s) 2";
    assert!(reason.contains(says), "{reason}");
    let failed = (Status::Failed, Code::ReplacementFailed, false);
    assert_eq!((status, code, retryable), failed, "{reason}");
}

#[tokio::test]
async fn work_not_reached_before_the_invocation_deadline_continues_a_minute_later_and_the_invocation_succeeds(
) {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.rolling_services("prod", &["web", "api"]).await;
    ledger(&moto).await;
    let controls = with_checks(&moto).await;
    // A margin longer than the minute the invocation has: no call may start.
    let out_of_time = remediator(
        &moto,
        Settings {
            deadline_margin: std::time::Duration::from_secs(120),
            ..settings()
        },
    )
    .await;
    let before = seed.primary_deployment("prod", "web").await;
    let now = remediator_testkit::clock::now();

    let cut_short = handle_with(
        &out_of_time,
        &controls,
        invocation(notice(&["prod|web", "prod|api"])),
        now,
    )
    .await
    .unwrap_or_else(|e| panic!("nothing for Lambda to retry: {e}"));

    assert!(cut_short
        .outcomes
        .iter()
        .all(|o| o.code == Code::TimeBudgetExhausted));
    let continuation = cut_short.follow_up.clone().expect("a continuation");
    assert_eq!(continuation.check, 1);
    assert!(continuation.at - now <= Duration::minutes(1) + Duration::seconds(5));
    assert_eq!(seed.primary_deployment("prod", "web").await, before);

    let resumed = fire(&moto, &controls, &cut_short).await;
    assert_eq!(
        said(&resumed)
            .into_iter()
            .map(|(_, status, code)| (status, code))
            .collect::<Vec<_>>(),
        vec![(Status::Acted, Code::ForcedNewDeployment); 2]
    );
    assert_eq!(resumed.follow_up.as_ref().map(|f| f.check), Some(2));
}

#[tokio::test]
async fn an_update_that_adds_a_resource_starts_a_chain_of_checks_that_carries_it() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.rolling_services("prod", &["web", "api"]).await;
    ledger(&moto).await;
    let controls = with_checks(&moto).await;
    let remediator = remediator(&moto, settings()).await;
    let first = handle_with(
        &remediator,
        &controls,
        invocation(notice(&["prod|web"])),
        remediator_testkit::clock::now(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    let update = handle_with(
        &remediator,
        &controls,
        invocation(notice(&["prod|web", "prod|api"])),
        remediator_testkit::clock::now(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    let (a, b) = (
        first.follow_up.clone().expect("first chain"),
        update.follow_up.clone().expect("the update's chain"),
    );
    assert_ne!(
        a.schedule, b.schedule,
        "the update's check 1 is not the first one's"
    );
    let carried = fire(&moto, &controls, &update).await;
    assert_eq!(
        said(&carried)
            .into_iter()
            .map(|(t, status, _)| (t, status))
            .collect::<Vec<_>>(),
        vec![
            ("service prod/web".into(), Status::Pending),
            ("service prod/api".into(), Status::Pending),
        ],
        "the added service is followed too"
    );
}

#[tokio::test]
async fn a_forced_deployment_that_shows_no_progress_for_the_rollout_timeout_is_stalled() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.rolling_services("prod", &["web"]).await;
    ledger(&moto).await;
    let controls = with_checks(&moto).await;
    let remediator = remediator(&moto, settings()).await;
    let acted = handle_with(
        &remediator,
        &controls,
        invocation(notice(&["prod|web"])),
        remediator_testkit::clock::now(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let input = scheduled_input(&moto, &acted).await;

    // Checked 31 minutes on (the default ROLLOUT_TIMEOUT is 30): ECS never moved it on.
    let later = remediator_testkit::clock::now() + Duration::minutes(31);
    let stalled = handle_with(&remediator, &controls, invocation(input), later)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let o = &stalled.outcomes[0];
    assert_eq!(
        (o.status, o.code, o.retryable),
        (Status::Failed, Code::RolloutStalled, false),
        "{o:?}"
    );
    assert!(o.reason.contains("no progress"), "{}", o.reason);
}

#[tokio::test]
async fn a_service_scaled_to_zero_is_not_forced_nothing_runs_to_replace() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.rolling_services("prod", &["web"]).await;
    seed.ecs
        .update_service()
        .cluster("prod")
        .service("web")
        .desired_count(0)
        .send()
        .await
        .expect("scale to zero");
    ledger(&moto).await;
    let controls = with_checks(&moto).await;
    let remediator = remediator(&moto, settings()).await;
    let before = seed.primary_deployment("prod", "web").await;

    let report = handle_with(
        &remediator,
        &controls,
        invocation(notice(&["prod|web"])),
        remediator_testkit::clock::now(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(
        said(&report),
        vec![(
            "service prod/web".into(),
            Status::Skipped,
            Code::NothingRunning
        )]
    );
    assert!(report.follow_up.is_none());
    assert_eq!(seed.primary_deployment("prod", "web").await, before);
}

#[tokio::test]
async fn a_service_acted_on_an_hour_after_aws_began_is_followed_until_its_window_ends_then_verified(
) {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.rolling_services("prod", &["web"]).await;
    let ledger = ledger(&moto).await;
    let controls = with_checks(&moto).await;
    let remediator = remediator(&moto, settings()).await;
    // The `open` update arrives after startTime (wait period 0, or a late delivery): AWS
    // retires gradually until endTime, two days later.
    let now = remediator_testkit::clock::now();
    let event = Notice::ecs()
        .naming(&["prod|web"])
        .published(now)
        .starting_in(-Duration::hours(1))
        .ending_in(-Duration::hours(1) + Duration::days(2))
        .status("open")
        .build();

    let acted = handle_with(&remediator, &controls, invocation(event), now)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(
        said(&acted),
        vec![(
            "service prod/web".into(),
            Status::Acted,
            Code::ForcedNewDeployment
        )]
    );
    assert!(
        acted
            .timing
            .as_deref()
            .is_some_and(|t| t.contains("racing AWS")),
        "{:?}",
        acted.timing
    );
    let pending = fire(&moto, &controls, &acted).await;
    assert_eq!(
        said(&pending),
        vec![("service prod/web".into(), Status::Pending, Code::Verifying)],
        "inside AWS's window a rolling deployment is progress, not a missed deadline"
    );
    assert!(pending.follow_up.is_some(), "still followed");

    moto.set_rollout("prod", "web", "COMPLETED");
    let verified = fire(&moto, &controls, &pending).await;
    assert_eq!(
        said(&verified),
        vec![(
            "service prod/web".into(),
            Status::AlreadyDone,
            Code::Verified
        )]
    );
    assert_eq!(state_of(&ledger, &verified).await, vec![State::Verified]);
}
