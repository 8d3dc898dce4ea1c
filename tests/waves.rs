//! A slow ledger costs speed, never progress. 300 services behind a ledger that takes 50 ms a
//! call (moto's DynamoDB behind the fault proxy, which delays every request), in 30-second invocations (time scaled ÷2: ECS's rates ×2, the ledger's latency and
//! the invocation's budget ÷2; the driver keeps its real 5-s finishing reserve). Claims go in waves: the first invocation acts on services
//! within its first wave's claims, each continuation picks up what no wave reached, and all 300
//! are forced, none twice, no invocation failing.
// The test's future nests the engine's passes, the ledger's memory and the SDK calls.
#![recursion_limit = "256"]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use remediator_core::follow::CheckPolicy;
use remediator_core::ledger::MemoryLedger;
use remediator_core::{Settings, Status};
use remediator_testkit::fake_ecs::{scaled_settings, start, FakeEcs};
use remediator_testkit::fault_proxy::FaultProxy;
use remediator_testkit::invocations::{until_final, Ran};
use remediator_testkit::notice::Notice;
use remediator_testkit::MotoServer;

const SERVICES: usize = 300;
const SCALE: f64 = 2.0;

/// The fake's `start` points the process's SDK environment at it: the two tests of this binary
/// run one after the other.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn scaled(d: Duration) -> Duration {
    Duration::from_secs_f64(d.as_secs_f64() / SCALE)
}

/// The notice: 300 services over three clusters, AWS retiring a week after it is published.
fn notice() -> serde_json::Value {
    let entities: Vec<String> = (0..SERVICES)
        .map(|i| format!("cluster-{}|svc-{i:03}", i % 3))
        .collect();
    Notice::ecs().naming(&entities).arn_id("waves").build()
}

/// The real DynamoDB ledger on moto behind the fault proxy, which delays each of its calls by
/// `latency` (scaled); moto and the proxy live as long as the returned guard.
async fn slow_dynamodb(
    latency: Duration,
) -> (
    (MotoServer, FaultProxy),
    remediator_lambda::ledger::DynamoLedger,
) {
    let moto = MotoServer::start();
    remediator_testkit::events::ledger_table(&moto, "retirement-ledger").await;
    let proxy = FaultProxy::start(moto.endpoint()).await;
    proxy.delay_every(scaled(latency));
    let ledger = remediator_lambda::ledger::DynamoLedger::new(
        aws_sdk_dynamodb::Client::new(&proxy.sdk_config(Duration::from_secs(30)).await),
        "retirement-ledger",
    );
    ((moto, proxy), ledger)
}

/// The notice through the real engine over the throttling ECS fake with `ledger`, in 30-s
/// invocations, at most `invocations` of them; the runs and what the fake saw.
async fn run_notice<L: remediator_core::ledger::Ledger>(
    ledger: L,
    invocations: usize,
) -> (Vec<Ran>, Arc<Mutex<FakeEcs>>) {
    let _alone = ONE_AT_A_TIME.lock().await;
    let fake = Arc::new(Mutex::new(FakeEcs::scaled(SCALE)));
    let sdk = start(fake.clone(), 5).await;
    let remediator = remediator_aws::remediator(&sdk, scaled_settings(Settings::default(), SCALE));
    let runs = until_final(
        &remediator,
        &ledger,
        notice(),
        scaled(Duration::from_secs(30)),
        &CheckPolicy::default(),
        invocations,
    )
    .await;
    (runs, fake)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_ledger_of_50_ms_a_call_the_first_invocation_forces_services_and_continuations_finish_all_300_once(
) {
    let (_dynamodb, ledger) = slow_dynamodb(Duration::from_millis(50)).await;
    let (runs, fake) = run_notice(ledger, 30).await;
    let fake = fake.lock().unwrap_or_else(|p| p.into_inner());
    let summary: Vec<String> = runs
        .iter()
        .map(|r| {
            // What failures there were, by code, with one reason each.
            let mut failures = std::collections::BTreeMap::new();
            for o in r
                .report
                .outcomes
                .iter()
                .filter(|o| o.status == Status::Failed)
            {
                failures
                    .entry(o.code.as_str())
                    .or_insert((0, o.reason.as_str()))
                    .0 += 1;
            }
            format!(
                "check {:?}: {} acted, {} ({:?}){} {failures:?}",
                r.check,
                r.report.summary.acted,
                r.report.message,
                r.took,
                r.failed
                    .as_deref()
                    .map(|f| format!(" FAILED {f}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    assert!(
        runs[0].report.summary.acted > 0,
        "the first invocation forces services: {summary:#?}"
    );
    assert!(
        runs.len() > 2,
        "one invocation cannot do it all, so continuations did: {summary:#?}"
    );
    let working: Vec<&Ran> = runs
        .iter()
        .filter(|r| {
            r.report
                .outcomes
                .iter()
                .any(|o| o.status != Status::AlreadyDone)
        })
        .collect();
    // Checks of what was forced get half an invocation while work is left, so each acts (before
    // they were bounded, 2 or 3 of 15 to 19 spent their whole budget checking, on 2 cores).
    let idle: Vec<usize> = working
        .iter()
        .enumerate()
        .filter(|(_, r)| r.report.summary.acted == 0)
        .map(|(i, _)| i)
        .collect();
    assert!(
        idle.is_empty(),
        "every invocation with work left makes progress (idle: {idle:?}): {summary:#?}"
    );
    assert!(
        runs.iter().all(|r| r.failed.is_none()),
        "no invocation fails: {summary:#?}"
    );
    let acted: usize = runs.iter().map(|r| r.report.summary.acted).sum();
    assert_eq!(
        acted, SERVICES,
        "each service acted on once in all: {summary:#?}"
    );
    assert!(fake.forced_twice().is_empty(), "{:?}", fake.forced_twice());
    assert_eq!(fake.updates.len(), SERVICES);
    println!("{}", summary.join("\n"));
}

/// Claiming every resource before acting would spend the whole invocation on claims here: 300
/// claims of 2 s each, 16 in flight, take about 37 s of a 30-s invocation (all ÷2). In waves the
/// first ten are claimed in one round trip and forced at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_ledger_too_slow_to_claim_everything_in_time_the_first_invocation_still_forces_services(
) {
    // Claims of seconds each: the ledger in memory (moto's own time on a busy machine would come
    // on top of the modelled latency and blur what is measured).
    let ledger = MemoryLedger::with_latency(scaled(Duration::from_secs(2)));
    let (runs, fake) = run_notice(ledger, 1).await;

    let first = &runs[0];
    assert!(
        first.report.summary.acted >= 10,
        "the first wave is forced: {}",
        first.report.message
    );
    assert!(first.failed.is_none(), "{:?}", first.failed);
    let fake = fake.lock().unwrap_or_else(|p| p.into_inner());
    assert!(fake.forced_twice().is_empty(), "{:?}", fake.forced_twice());
    assert_eq!(fake.updates.len(), first.report.summary.acted);
}
