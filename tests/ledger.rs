//! The ledger end to end: the real handler, the real DynamoDB adapter and the real ECS and
//! CodeDeploy clients, against moto. Health republishes a notice on every change (domain notes
//! §7); only the ledger can tell such an update from a new notice.
// The futures nest the driver, the engine and the SDK calls deeply.
#![recursion_limit = "256"]

use aws_sdk_ecs::types::DesiredStatus;
use chrono::{Duration, Utc};
use remediator_core::ledger::{ClaimRequest, Claimed, Ledger, State};
use remediator_core::{Code, Report, Status};
use remediator_lambda::ledger::DynamoLedger;
use remediator_lambda::{handle_with, HandlerError};
use remediator_testkit::events::{
    controls, invocation, invocation_as, ledger_table, remediator, said, settings, ECS_FUNCTION_ARN,
};
use remediator_testkit::notice::Notice;
use remediator_testkit::{BlueGreenFixture, MotoServer, Seed, StandaloneTask};

const TABLE: &str = "retirement-ledger";

/// The ledger table, created as `remediator ledger init` does.
async fn ledger(moto: &MotoServer) -> DynamoLedger {
    ledger_table(moto, TABLE).await
}

/// Two rolling services, a blue/green service whose earlier release finished, and a standalone
/// task, all in one account.
struct Account {
    seed: Seed,
    blue_green: BlueGreenFixture,
    task: StandaloneTask,
}

async fn account(moto: &MotoServer) -> Account {
    moto.pin_task_status();
    let seed = Seed::new(moto).await;
    seed.rolling_services("prod", &["checkout", "payments", "search"])
        .await;
    let blue_green = seed.blue_green_service("prod", "shop").await;
    moto.set_codedeploy_status(&blue_green.previous_deployment, "Succeeded");
    seed.cluster("jobs").await;
    let task = seed
        .standalone_task("jobs", "payments-worker", "ops-runbook")
        .await;
    Account {
        seed,
        blue_green,
        task,
    }
}

async fn deployments(seed: &Seed) -> Vec<Option<String>> {
    let mut ids = Vec::new();
    for s in ["checkout", "payments", "search"] {
        ids.push(seed.primary_deployment("prod", s).await);
    }
    ids
}

#[tokio::test]
async fn an_update_of_the_notice_acts_only_on_the_service_it_adds_and_repeats_no_call() {
    let moto = MotoServer::start();
    let a = account(&moto).await;
    ledger(&moto).await;
    let controls = controls(&moto, &[("LEDGER_TABLE", TABLE)]).await;
    let remediator = remediator(&moto, settings()).await;
    // Published after the services were seeded: their deployments are older than the notice.
    let published = remediator_testkit::clock::now();
    let first = Notice::ecs()
        .naming(&["prod|checkout", "prod|payments", "prod|shop", &a.task.arn])
        .published(published)
        .build();
    let acted = handle_with(
        &remediator,
        &controls,
        invocation(first),
        remediator_testkit::clock::now(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(acted.summary.acted, 4, "{acted:#?}");
    let after_first = deployments(&a.seed).await;

    // At startTime Health republishes the notice: status open, a later time, one more service.
    // Every deployment above is older than this `time`: observation alone would act again.
    let update = Notice::ecs()
        .naming(&[
            "prod|checkout",
            "prod|payments",
            "prod|shop",
            &a.task.arn,
            "prod|search",
        ])
        .published(published)
        .status("open")
        .updated(remediator_testkit::clock::now() + Duration::hours(1))
        .build();
    let report = handle_with(
        &remediator,
        &controls,
        invocation(update),
        remediator_testkit::clock::now(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    let task = format!("task jobs/{}", a.task.id);
    assert_eq!(
        said(&report),
        vec![
            (
                "service prod/checkout".into(),
                Status::Pending,
                Code::Verifying
            ),
            (
                "service prod/payments".into(),
                Status::Pending,
                Code::Verifying
            ),
            ("service prod/shop".into(), Status::Pending, Code::Verifying),
            (task, Status::AlreadyDone, Code::Verified),
            (
                "service prod/search".into(),
                Status::Acted,
                Code::ForcedNewDeployment
            ),
        ]
    );
    let now = deployments(&a.seed).await;
    assert_eq!(now[..2], after_first[..2], "no second UpdateService");
    assert_ne!(now[2], after_first[2], "the added service is forced");
    assert_eq!(
        a.seed
            .codedeploy_deployments(&a.blue_green.application, &a.blue_green.group)
            .await
            .len(),
        2,
        "no second CreateDeployment"
    );
    assert_eq!(
        a.seed.tasks("jobs", DesiredStatus::Running).await.len(),
        1,
        "no second RunTask"
    );
    // The update looked at the deployment the first delivery started (moto keeps it rolling).
    assert!(
        report.outcomes[0]
            .reason
            .contains(now[0].as_deref().unwrap_or("no deployment")),
        "{} / {:?}",
        report.outcomes[0].reason,
        now[0]
    );
}

#[tokio::test]
async fn a_closed_notice_acts_on_nothing() {
    let moto = MotoServer::start();
    let a = account(&moto).await;
    ledger(&moto).await;
    let controls = controls(&moto, &[("LEDGER_TABLE", TABLE)]).await;
    let remediator = remediator(&moto, settings()).await;
    let before = deployments(&a.seed).await;

    let closed = Notice::ecs()
        .naming(&["prod|checkout"])
        .status("closed")
        .build();
    let report = handle_with(
        &remediator,
        &controls,
        invocation(closed),
        remediator_testkit::clock::now(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    assert!(report.outcomes.is_empty(), "{report:#?}");
    assert_eq!(deployments(&a.seed).await, before);
}

#[tokio::test]
async fn two_deliveries_running_at_once_make_one_call_per_resource() {
    let moto = MotoServer::start();
    let a = account(&moto).await;
    ledger(&moto).await;
    // Both deliveries read the ledger before either claims: the race is forced, not hoped for.
    let proxy = remediator_testkit::fault_proxy::FaultProxy::start(moto.endpoint()).await;
    proxy.inject(
        "BatchGetItem",
        remediator_testkit::fault_proxy::Fault::Together,
        2,
    );
    let sdk = proxy.sdk_config(std::time::Duration::from_secs(30)).await;
    let controls = remediator_testkit::events::controls_over(&sdk, &[("LEDGER_TABLE", TABLE)]);
    let remediator = remediator_aws::remediator(&sdk, settings());
    let event = Notice::ecs()
        .naming(&["prod|checkout", "prod|payments", "prod|shop", &a.task.arn])
        .build();
    let before = deployments(&a.seed).await;

    let (one, two) = tokio::join!(
        handle_with(
            &remediator,
            &controls,
            invocation(event.clone()),
            remediator_testkit::clock::now()
        ),
        handle_with(
            &remediator,
            &controls,
            invocation(event),
            remediator_testkit::clock::now()
        ),
    );

    let reports: Vec<Report> = [one, two]
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let acted: Vec<String> = reports
        .iter()
        .flat_map(|r| &r.outcomes)
        .filter(|o| o.status == Status::Acted)
        .map(|o| o.target.to_string())
        .collect();
    let mut unique = acted.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(acted.len(), 4, "each resource acted on once: {reports:#?}");
    assert_eq!(unique.len(), 4, "{acted:?}");
    assert!(
        reports
            .iter()
            .flat_map(|r| &r.outcomes)
            .filter(|o| o.status != Status::Acted)
            .all(|o| o.code == Code::HandledElsewhere || o.code == Code::AlreadyHandled),
        "{reports:#?}"
    );
    // (Had one delivery read alone, the other's read would wait at the gate forever: the test
    // would hang, not pass.)
    let after = deployments(&a.seed).await;
    assert_ne!(after[0], before[0]);
    assert_eq!(
        a.seed
            .codedeploy_deployments(&a.blue_green.application, &a.blue_green.group)
            .await
            .len(),
        2,
        "one CodeDeploy deployment"
    );
    assert_eq!(
        a.seed.tasks("jobs", DesiredStatus::Running).await.len(),
        1,
        "one replacement task"
    );
}

#[tokio::test]
async fn a_claim_left_by_a_crashed_run_is_taken_over_after_its_lease() {
    let moto = MotoServer::start();
    let a = account(&moto).await;
    let table = ledger(&moto).await;
    let controls = controls(&moto, &[("LEDGER_TABLE", TABLE)]).await;
    let remediator = remediator(&moto, settings()).await;
    let t0 = remediator_testkit::clock::now();
    let event = Notice::ecs()
        .naming(&["prod|checkout"])
        .published(t0)
        .build();
    // The notice's ARN and the account its resources are in.
    let key = "arn:aws:health:us-east-1::event/ECS/AWS_ECS_TASK_PATCHING_RETIREMENT/AWS_ECS_TASK_PATCHING_RETIREMENT_6f1c2a3e#123456789012";
    // A run claimed the service with a 16-minute lease, then died.
    let crashed = ClaimRequest {
        notice: key.into(),
        resource: "service:prod/checkout".into(),
        target: "service prod/checkout".into(),
        owner: "crashed-request".into(),
        now: t0 + Duration::minutes(1),
        lease_until: t0 + Duration::minutes(17),
        notice_status: Some("upcoming".into()),
        deadline: None,
        expires_at: t0 + Duration::days(90),
    };
    assert_eq!(table.claim(&crashed).await.ok(), Some(Claimed::Won));
    let before = a.seed.primary_deployment("prod", "checkout").await;

    let during = handle_with(
        &remediator,
        &controls,
        invocation(event.clone()),
        t0 + Duration::minutes(10),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        said(&during),
        vec![(
            "service prod/checkout".into(),
            Status::Skipped,
            Code::HandledElsewhere
        )]
    );
    assert_eq!(a.seed.primary_deployment("prod", "checkout").await, before);

    let after = handle_with(
        &remediator,
        &controls,
        invocation(event),
        t0 + Duration::minutes(17) + Duration::seconds(30),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(
        said(&after),
        vec![(
            "service prod/checkout".into(),
            Status::Acted,
            Code::ForcedNewDeployment
        )]
    );
    assert_ne!(a.seed.primary_deployment("prod", "checkout").await, before);
    let entries = table.notice(key).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].state, State::Acted);
    assert_eq!(entries[0].attempts, 2, "the crashed claim and the takeover");
}

#[tokio::test]
async fn without_its_table_the_ledger_stops_every_mutating_call_and_names_the_table() {
    let moto = MotoServer::start();
    let a = account(&moto).await;
    let controls = controls(&moto, &[("LEDGER_TABLE", "no-such-table")]).await;
    let remediator = remediator(&moto, settings()).await;
    let before = deployments(&a.seed).await;
    let event = Notice::ecs()
        .naming(&["prod|checkout", "prod|shop", &a.task.arn])
        .build();

    let result = handle_with(
        &remediator,
        &controls,
        invocation(event.clone()),
        remediator_testkit::clock::now(),
    )
    .await;

    let Err(HandlerError::Retryable(message)) = result else {
        panic!("a missing ledger fails the invocation for Lambda to retry: {result:?}");
    };
    assert!(message.contains("3 failed (3 retryable)"), "{message}");
    assert_eq!(deployments(&a.seed).await, before);
    assert_eq!(
        a.seed
            .codedeploy_deployments(&a.blue_green.application, &a.blue_green.group)
            .await
            .len(),
        1
    );
    assert!(a
        .seed
        .tasks("jobs", DesiredStatus::Running)
        .await
        .iter()
        .all(|t| t.task_arn() == Some(a.task.arn.as_str())));
    // The reason says what to fix.
    let Ok(remediator_core::Parsed::Retirement(parsed)) = remediator_core::parse_value(event)
    else {
        panic!("a retirement notice");
    };
    let outcomes = controls
        .remediate(
            &remediator,
            &parsed,
            None,
            None,
            "test",
            remediator_testkit::clock::now(),
        )
        .await;
    assert!(outcomes.iter().all(|o| o.code == Code::LedgerUnavailable));
    assert!(
        outcomes[0].reason.contains("no-such-table") && outcomes[0].reason.contains("ledger init"),
        "{}",
        outcomes[0].reason
    );
}

#[tokio::test]
async fn lambdas_retry_of_a_crashed_invocation_takes_its_own_claim_back_at_once() {
    let moto = MotoServer::start();
    let a = account(&moto).await;
    let table = ledger(&moto).await;
    let controls = controls(&moto, &[("LEDGER_TABLE", TABLE)]).await;
    let remediator = remediator(&moto, settings()).await;
    let t0 = remediator_testkit::clock::now();
    let event = Notice::ecs()
        .naming(&["prod|checkout"])
        .published(t0)
        .build();
    // The first attempt of request `req-7` claimed the service, then timed out.
    let first_attempt = ClaimRequest {
        notice: "arn:aws:health:us-east-1::event/ECS/AWS_ECS_TASK_PATCHING_RETIREMENT/AWS_ECS_TASK_PATCHING_RETIREMENT_6f1c2a3e".into(),
        resource: "service:prod/checkout".into(),
        target: "service prod/checkout".into(),
        owner: "req-7".into(),
        now: t0,
        lease_until: t0 + Duration::minutes(16),
        notice_status: Some("upcoming".into()),
        deadline: None,
        expires_at: t0 + Duration::days(90),
    };
    assert_eq!(table.claim(&first_attempt).await.ok(), Some(Claimed::Won));
    let before = a.seed.primary_deployment("prod", "checkout").await;

    // Lambda retries about a minute later, under the same request id, while the lease runs.
    let retry = invocation_as(event, ECS_FUNCTION_ARN, "req-7");
    let report = handle_with(&remediator, &controls, retry, t0 + Duration::minutes(1))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(
        said(&report),
        vec![(
            "service prod/checkout".into(),
            Status::Acted,
            Code::ForcedNewDeployment
        )]
    );
    assert_ne!(a.seed.primary_deployment("prod", "checkout").await, before);
}

#[tokio::test]
async fn an_update_outside_the_windows_defers_only_what_it_adds() {
    let moto = MotoServer::start();
    let a = account(&moto).await;
    ledger(&moto).await;
    let remediator = remediator(&moto, settings()).await;
    let t0 = remediator_testkit::clock::now();
    let acting_now = controls(&moto, &[("LEDGER_TABLE", TABLE)]).await;
    let first = Notice::ecs()
        .naming(&["prod|checkout", "prod|payments"])
        .published(t0)
        .build();
    handle_with(&remediator, &acting_now, invocation(first), t0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let after_first = deployments(&a.seed).await;
    // The same deployment, with a window that opens in six hours.
    let hour = (t0 + Duration::hours(6)).format("%H").to_string();
    let windows = format!("Daily {hour}:00-{hour}:59 UTC");
    let with_windows = controls(
        &moto,
        &[
            ("LEDGER_TABLE", TABLE),
            ("MAINTENANCE_WINDOWS", windows.as_str()),
            (
                "SCHEDULE_ROLE_ARN",
                "arn:aws:iam::123456789012:role/retirement-scheduler",
            ),
        ],
    )
    .await;
    // Health's update a minute later: AWS still retires a week after the first publication.
    let update = Notice::ecs()
        .naming(&["prod|checkout", "prod|payments", "prod|search"])
        .published(t0)
        .updated(t0 + Duration::minutes(1))
        .build();

    let report = handle_with(
        &remediator,
        &with_windows,
        invocation(update),
        t0 + Duration::minutes(2),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(
        said(&report),
        vec![
            (
                "service prod/checkout".into(),
                Status::Pending,
                Code::Verifying
            ),
            (
                "service prod/payments".into(),
                Status::Pending,
                Code::Verifying
            ),
            (
                "service prod/search".into(),
                Status::Deferred,
                Code::Deferred
            ),
        ]
    );
    assert_eq!(deployments(&a.seed).await, after_first);
}

/// Every kind of item a claim can meet: none, each settled and unsettled state, and claims
/// held by another run (lease running, lease ended, no lease) or by this one.
fn items_a_claim_can_meet(
    now: chrono::DateTime<Utc>,
) -> Vec<Option<remediator_core::ledger::Entry>> {
    use remediator_core::ledger::{claim_entry, Entry};
    let request = |i: usize, owner: &str, lease: Duration| ClaimRequest {
        notice:
            "arn:aws:health:us-east-1::event/ECS/AWS_ECS_TASK_PATCHING_RETIREMENT/rule#123456789012"
                .into(),
        resource: format!("service:prod/s{i}"),
        target: format!("service prod/s{i}"),
        owner: owner.into(),
        now: now - Duration::minutes(20),
        lease_until: now + lease,
        notice_status: Some("upcoming".into()),
        deadline: None,
        expires_at: now + Duration::days(90),
    };
    let settled = |i: usize, state: State| Entry {
        state,
        lease_until: None,
        ..claim_entry(&request(i, "earlier-run", Duration::zero()), None)
    };
    vec![
        None,
        Some(settled(1, State::Acted)),
        Some(settled(2, State::Done)),
        Some(settled(3, State::Verified)),
        Some(settled(4, State::Unreplaced)),
        Some(settled(5, State::Skipped)),
        Some(settled(6, State::Failed)),
        Some(settled(7, State::Deferred)),
        Some(claim_entry(
            &request(8, "other-run", Duration::minutes(5)),
            None,
        )),
        Some(claim_entry(
            &request(9, "other-run", -Duration::minutes(1)),
            None,
        )),
        Some(settled(10, State::Claimed)),
        Some(claim_entry(
            &request(11, "this-run", Duration::minutes(5)),
            None,
        )),
    ]
}

#[tokio::test]
async fn the_claim_condition_dynamodb_applies_is_the_cores_claimable_rule_item_by_item() {
    use remediator_core::ledger::claimable;
    use remediator_testkit::fault_proxy::FaultProxy;
    let moto = MotoServer::start();
    ledger(&moto).await;
    let proxy = FaultProxy::start(moto.endpoint()).await;
    let table = DynamoLedger::new(
        aws_sdk_dynamodb::Client::new(&proxy.sdk_config(std::time::Duration::from_secs(5)).await),
        TABLE,
    );
    let now = remediator_testkit::clock::now();

    for (i, existing) in items_a_claim_can_meet(now).into_iter().enumerate() {
        if let Some(entry) = &existing {
            table
                .record(std::slice::from_ref(entry))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let request = ClaimRequest {
            notice: "arn:aws:health:us-east-1::event/ECS/AWS_ECS_TASK_PATCHING_RETIREMENT/rule#123456789012".into(),
            resource: format!("service:prod/s{i}"),
            target: format!("service prod/s{i}"),
            owner: "this-run".into(),
            now,
            lease_until: now + Duration::minutes(16),
            notice_status: Some("upcoming".into()),
            deadline: None,
            expires_at: now + Duration::days(90),
        };

        let claimed = table
            .claim(&request)
            .await
            .unwrap_or_else(|e| panic!("{e}"));

        let expected = claimable(existing.as_ref(), now, "this-run");
        match (&claimed, expected) {
            (Claimed::Won, true) => {}
            (Claimed::Lost(holder), false) => {
                assert_eq!(
                    Some(holder.state),
                    existing.as_ref().map(|e| e.state),
                    "item {i}"
                );
                assert_eq!(
                    holder.owner,
                    existing.as_ref().and_then(|e| e.owner.clone()),
                    "item {i}"
                );
            }
            _ => panic!(
                "item {i} ({existing:?}): DynamoDB said {claimed:?}, claimable says {expected}"
            ),
        }
    }
    assert_eq!(
        proxy.seen("GetItem"),
        0,
        "a refused claim brings the holder's item back with the refusal (ALL_OLD)"
    );
}

/// DynamoDB refuses the record of a forced deployment (every attempt of its PutItem answered
/// 500, through the fault proxy): the claim stays behind. The chain's next check finds its own
/// claim, takes it back, re-observes the service (the forced deployment is there), records it and
/// follows it to verified; an update of the notice after every lease acts on nothing again.
#[tokio::test]
async fn a_record_dynamodb_refused_is_made_by_the_chains_next_check_and_nothing_is_forced_twice() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.rolling_services("prod", &["checkout"]).await;
    ledger(&moto).await;
    let proxy = remediator_testkit::fault_proxy::FaultProxy::start(moto.endpoint()).await;
    let sdk = proxy.sdk_config(std::time::Duration::from_secs(30)).await;
    let controls = remediator_testkit::events::controls_over(
        &sdk,
        &[
            ("LEDGER_TABLE", TABLE),
            (
                "SCHEDULE_ROLE_ARN",
                remediator_testkit::checks::SCHEDULER_ROLE,
            ),
        ],
    );
    let remediator = remediator_aws::remediator(&sdk, settings());
    let event = Notice::ecs().naming(&["prod|checkout"]).build();
    // Claims are UpdateItem; the first PutItem is the record. The SDK tries it five times.
    proxy.inject(
        "PutItem",
        remediator_testkit::fault_proxy::Fault::ServerError,
        5,
    );

    let unrecorded = handle_with(
        &remediator,
        &controls,
        invocation(event.clone()),
        remediator_testkit::clock::now(),
    )
    .await
    .unwrap_or_else(|e| panic!("a check carries it, the invocation succeeds: {e}"));
    let forced = seed.primary_deployment("prod", "checkout").await;
    let recorded = remediator_testkit::checks::fire(&moto, &controls, &unrecorded).await;
    moto.set_rollout("prod", "checkout", "COMPLETED");
    let verified = remediator_testkit::checks::fire(&moto, &controls, &recorded).await;
    let later = verified
        .follow_up
        .as_ref()
        .map_or_else(remediator_testkit::clock::now, |f| f.at)
        + Duration::hours(6);
    let update = handle_with(&remediator, &controls, invocation(event), later)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    assert!(proxy.seen("PutItem") >= 5, "the record was refused");
    assert_eq!(
        said(&unrecorded),
        vec![(
            "service prod/checkout".into(),
            Status::Failed,
            Code::LedgerUnavailable
        )]
    );
    assert!(unrecorded.follow_up.is_some(), "{unrecorded:#?}");
    assert_eq!(
        said(&recorded),
        vec![(
            "service prod/checkout".into(),
            Status::AlreadyDone,
            Code::AlreadyReplaced
        )],
        "the chain takes its claim back and re-observes"
    );
    assert_eq!(
        said(&verified),
        vec![(
            "service prod/checkout".into(),
            Status::AlreadyDone,
            Code::Verified
        )]
    );
    assert_eq!(
        said(&update),
        vec![(
            "service prod/checkout".into(),
            Status::AlreadyDone,
            Code::Verified
        )],
        "memory answers the update: {update:#?}"
    );
    assert_eq!(proxy.forwarded("UpdateService"), 1, "forced once");
    assert_eq!(
        seed.primary_deployment("prod", "checkout").await,
        forced,
        "no second deployment"
    );
}
