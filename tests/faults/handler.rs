//! The fault suite: the real ECS handler, ledger, scheduler and notifier against moto, through a
//! proxy that throttles, fails, answers late or never (`remediator_testkit::fault_proxy`). Each
//! test names the fault and what the remediator guarantees under it. The rest of the suite lives
//! beside the code it exercises and is listed in `tests/faults/README.md`.
// The futures nest the driver, the engine and the SDK calls deeply.
#![recursion_limit = "256"]

use std::time::Duration;

use remediator_core::{Backoff, Code, Report, Settings, Status};
use remediator_lambda::handle_with;
use remediator_testkit::events::{
    controls_over, invocation_lasting, ledger_table, said, ECS_FUNCTION_ARN,
};
use remediator_testkit::fault_proxy::{Fault, FaultProxy};
use remediator_testkit::notice::Notice;
use remediator_testkit::{MotoServer, Seed};

const TABLE: &str = "retirement-ledger";
const SCHEDULER_ROLE: &str = "arn:aws:iam::123456789012:role/retirement-scheduler";

/// Two rolling services, the ledger table and a notification topic on moto; a proxy in front.
struct Account {
    moto: MotoServer,
    seed: Seed,
    proxy: FaultProxy,
    topic: String,
}

async fn account() -> Account {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.rolling_services("prod", &["web", "api"]).await;
    ledger_table(&moto, TABLE).await;
    let topic = aws_sdk_sns::Client::new(&moto.sdk_config().await)
        .create_topic()
        .name("retirement-summaries")
        .send()
        .await
        .expect("CreateTopic")
        .topic_arn()
        .expect("topic ARN")
        .to_owned();
    let proxy = FaultProxy::start(moto.endpoint()).await;
    Account {
        moto,
        seed,
        proxy,
        topic,
    }
}

/// One delivery through the proxy: the function as deployed (ledger, checks, summary topic),
/// with `attempt_timeout` per SDK attempt and a minute to run.
async fn deliver(a: &Account, attempt_timeout: Duration) -> Result<Report, String> {
    deliver_lasting(a, attempt_timeout, Duration::from_secs(60)).await
}

async fn deliver_lasting(
    a: &Account,
    attempt_timeout: Duration,
    left: Duration,
) -> Result<Report, String> {
    let sdk = a.proxy.sdk_config(attempt_timeout).await;
    let controls = controls_over(
        &sdk,
        &[
            ("LEDGER_TABLE", TABLE),
            ("SCHEDULE_ROLE_ARN", SCHEDULER_ROLE),
            ("NOTIFICATION_TOPIC_ARN", &a.topic),
        ],
    );
    let remediator = remediator_aws::remediator(&sdk, production());
    static DELIVERIES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = DELIVERIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let event = invocation_lasting(
        Notice::ecs().naming(&["prod|web", "prod|api"]).build(),
        ECS_FUNCTION_ARN,
        &format!("fault-{n}"),
        left,
    );
    handle_with(
        &remediator,
        &controls,
        event,
        remediator_testkit::clock::now(),
    )
    .await
    .map_err(|e| e.to_string())
}

/// The production settings (the engine's six backoff rounds included), its waits shortened.
fn production() -> Settings {
    let defaults = Settings::default();
    Settings {
        backoff: Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            ..defaults.backoff
        },
        ..defaults
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_on_every_api_the_function_calls_is_absorbed_and_each_service_is_forced_once() {
    let a = account().await;
    let calls = [
        "BatchGetItem",     // the ledger's read
        "DescribeClusters", // opt-out tags
        "DescribeServices",
        "UpdateItem", // claims
        "UpdateService",
        "PutItem", // records
        "CreateSchedule",
        "Publish",
    ];
    for op in calls {
        a.proxy.inject(op, Fault::Throttle, 2);
    }

    let report = deliver(&a, Duration::from_secs(5))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(
        said(&report),
        vec![
            (
                "service prod/web".into(),
                Status::Acted,
                Code::ForcedNewDeployment
            ),
            (
                "service prod/api".into(),
                Status::Acted,
                Code::ForcedNewDeployment
            ),
        ]
    );
    for op in calls {
        assert!(
            a.proxy.seen(op) > a.proxy.forwarded(op) && a.proxy.forwarded(op) > 0,
            "{op}: throttled, then through ({} seen, {} forwarded)",
            a.proxy.seen(op),
            a.proxy.forwarded(op)
        );
    }
    assert_eq!(
        a.proxy.forwarded("UpdateService"),
        2,
        "one forced deployment per service"
    );
    assert!(
        report.follow_up.is_some(),
        "the check was scheduled despite throttling"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_server_errors_on_every_read_and_write_is_retried_and_nothing_is_lost() {
    let a = account().await;
    for op in [
        "BatchGetItem",
        "DescribeServices",
        "UpdateItem",
        "PutItem",
        "CreateSchedule",
        "Publish",
    ] {
        a.proxy.inject(op, Fault::ServerError, 2);
    }
    // A 500 the proxy answers without forwarding: UpdateService did not take effect.
    a.proxy.inject("UpdateService", Fault::ServerError, 1);

    let report = deliver(&a, Duration::from_secs(5))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(report.summary.acted, 2, "{report:#?}");
    assert_eq!(a.proxy.forwarded("UpdateService"), 2);
    assert_eq!(
        a.proxy.seen("UpdateService"),
        3,
        "the injected 500 was met, then sent again"
    );
    assert!(report.follow_up.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_deliveries_at_once_force_each_service_once() {
    let a = account().await;

    let (one, two, three) = tokio::join!(
        deliver(&a, Duration::from_secs(5)),
        deliver(&a, Duration::from_secs(5)),
        deliver(&a, Duration::from_secs(5)),
    );

    let reports: Vec<Report> = [one, two, three]
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let acted: usize = reports.iter().map(|r| r.summary.acted).sum();
    assert_eq!(acted, 2, "{reports:#?}");
    assert_eq!(a.proxy.forwarded("UpdateService"), 2);
    for r in &reports {
        assert_eq!(r.outcomes.len(), 2, "every delivery reports every service");
    }
    assert!(a.seed.primary_deployment("prod", "web").await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_summary_topic_that_never_answers_does_not_cost_the_report() {
    let a = account().await;
    a.proxy.inject("Publish", Fault::Hang, 10);

    let started = std::time::Instant::now();
    let report = deliver_lasting(&a, Duration::from_secs(30), Duration::from_secs(25))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(report.summary.acted, 2, "{report:#?}");
    assert_eq!(a.proxy.seen("Publish"), 1, "the summary was attempted");
    assert!(
        started.elapsed() < Duration::from_millis(24_800),
        "returned before the invocation's 25 s deadline: {:?}",
        started.elapsed()
    );
    drop(a.moto);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_service_answered_too_late_after_it_took_effect_is_looked_at_not_sent_again() {
    let a = account().await;
    // Applied by ECS (moto), answered after the SDK gave up on the attempt: ambiguous.
    a.proxy.inject(
        "UpdateService",
        Fault::LateAnswer(Duration::from_secs(3)),
        2,
    );

    let report = deliver(&a, Duration::from_secs(1))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(
        said(&report),
        vec![
            (
                "service prod/web".into(),
                Status::Acted,
                Code::ForcedNewDeployment
            ),
            (
                "service prod/api".into(),
                Status::Acted,
                Code::ForcedNewDeployment
            ),
        ]
    );
    assert_eq!(
        a.proxy.forwarded("UpdateService"),
        2,
        "one deployment per service: the lost answer was looked for, not sent again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_never_answers_is_cut_at_the_deadline_and_every_service_is_reported_in_time() {
    let a = account().await;
    a.proxy.inject("UpdateService", Fault::Hang, 10);

    let started = std::time::Instant::now();
    let report = deliver_lasting(&a, Duration::from_secs(60), Duration::from_secs(25))
        .await
        .unwrap_or_else(|e| panic!("a check carries them: {e}"));

    assert!(
        started.elapsed() < Duration::from_millis(24_800),
        "returned before the invocation's 25 s deadline: {:?}",
        started.elapsed()
    );
    assert_eq!(report.outcomes.len(), 2);
    assert!(
        a.proxy.seen("UpdateService") > 0,
        "the hanging call was made"
    );
    for o in &report.outcomes {
        assert!(o.status == Status::Failed && o.retryable, "{o:?}");
        assert!(
            o.reason.contains("may have"),
            "reported as ambiguous: {o:?}"
        );
    }
    assert!(report.follow_up.is_some(), "a check carries them");
}
