//! A notice too large for one invocation: 5,000 services take ≈ 1,650 s at the default share of
//! ECS's UpdateService budget (3/s after a burst of 30), past Lambda's 15 minutes. The real
//! engine and the real SDK client run against the throttling ECS fake, time scaled ÷100 (every
//! rate ×100, every wait ÷100, the invocation's 900 s budget included), with the ledger in the
//! path. The first invocation
//! runs out of time; its continuation (scheduled a minute later) picks up what was not reached;
//! a check verifies. Nothing is forced twice and nothing is lost.
// The test's future nests the engine's passes, the ledger's memory and the SDK calls.
#![recursion_limit = "256"]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use remediator_core::follow::CheckPolicy;
use remediator_core::ledger::MemoryLedger;
use remediator_core::{Code, Settings, Status};
use remediator_testkit::fake_ecs::{scaled_settings, start, FakeEcs};
use remediator_testkit::invocations::until_final;
use remediator_testkit::notice::Notice;

const SERVICES: usize = 5000;
const SCALE: f64 = 100.0;

fn scaled(d: Duration) -> Duration {
    Duration::from_secs_f64(d.as_secs_f64() / SCALE)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_of_5000_services_finishes_through_continuations_with_none_forced_twice_and_none_lost(
) {
    let fake = Arc::new(Mutex::new(FakeEcs::scaled(SCALE)));
    // This test binary holds this one test, so the process environment is its own.
    let sdk = start(fake.clone(), 5).await;
    let settings = scaled_settings(Settings::default(), SCALE);
    let remediator = remediator_aws::remediator(&sdk, settings);
    let ledger = MemoryLedger::with_latency(scaled(Duration::from_millis(5)));
    let entities: Vec<String> = (0..SERVICES)
        .map(|i| format!("cluster-{}|svc-{i:05}", i % 7))
        .collect();
    // Published now, AWS retiring a week later (the year-ahead run caught a fixed `time`).
    let event = Notice::ecs().naming(&entities).arn_id("big").build();

    let runs = until_final(
        &remediator,
        &ledger,
        event,
        scaled(Duration::from_secs(900)),
        &CheckPolicy::default(),
        10,
    )
    .await;

    let fake = fake.lock().unwrap_or_else(|p| p.into_inner());
    let summary: Vec<String> = runs
        .iter()
        .map(|r| {
            format!(
                "check {:?} at {}: {} ({:?})",
                r.check, r.at, r.report.message, r.took
            )
        })
        .collect();
    assert!(
        runs.len() >= 3,
        "delivery, continuation, check: {summary:#?}"
    );
    for run in &runs {
        assert_eq!(
            run.report.outcomes.len(),
            SERVICES,
            "nothing lost: {summary:#?}"
        );
    }
    let first = &runs[0].report;
    let unreached = first
        .outcomes
        .iter()
        .filter(|o| o.code == Code::TimeBudgetExhausted)
        .count();
    assert!(
        unreached > 0,
        "one invocation cannot do it all: {summary:#?}"
    );
    assert_eq!(runs[1].check, Some(1));
    let gap = runs[1].at - runs[0].at;
    assert!(
        gap >= chrono::Duration::minutes(1) && gap < chrono::Duration::minutes(2),
        "the continuation comes a minute after the first invocation ends: {summary:#?}"
    );
    let acted: usize = runs.iter().map(|r| r.report.summary.acted).sum();
    assert_eq!(
        acted, SERVICES,
        "each service acted on once in all: {summary:#?}"
    );
    assert!(fake.forced_twice().is_empty(), "{:?}", fake.forced_twice());
    assert_eq!(fake.updates.len(), SERVICES);
    let last = &runs[runs.len() - 1].report;
    assert!(
        last.outcomes
            .iter()
            .all(|o| o.status == Status::AlreadyDone && o.code == Code::Verified),
        "{summary:#?}"
    );
    println!("{}", summary.join("\n"));
}
