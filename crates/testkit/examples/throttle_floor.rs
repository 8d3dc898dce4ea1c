//! Benchmark: N rolling services against the ECS throttling floor.
//!
//! ECS refills the account's "service modify" bucket (UpdateService) at 5 tokens/s with a burst
//! of 50 (domain notes §4), so 1,000 services need at least (1000 − 50) / 5 = 190 s with all of
//! it. The remediator takes a configured share (`UPDATE_SERVICE_RATE`, default 3/30, leaving the
//! rest to auto scaling and pipelines): the floor at that share is (1000 − 30) / 3 ≈ 323 s, and
//! that is what the run is measured against (with `off`, the account's floor). This runs the
//! real engine and the real SDK client (standard retry, production config path) over HTTP
//! against a loopback ECS fake that enforces both token buckets and answers
//! `ThrottlingException` like ECS, and reports how far from the floor the run lands and whether
//! any service was lost.
//!
//! ```sh
//! cargo run --release -p remediator-testkit --example throttle_floor            # 1000 services, time ÷10
//! SERVICES=1000 SCALE=1 cargo run --release -p remediator-testkit --example throttle_floor   # real rates, ~323 s
//! UPDATE_SERVICE_RATE=off cargo run --release -p remediator-testkit --example throttle_floor # SDK retries alone
//! LEDGER=off cargo run --release -p remediator-testkit --example throttle_floor               # without the ledger
//! SCALE=2 INVOCATION_SECONDS=30 LEDGER_LATENCY_MS=50 cargo run --release -p remediator-testkit --example throttle_floor
//!     # a slow ledger, 30-s invocations: continuations carry the rest (make bench-slow-ledger);
//!     # SCALE at most 2 here: the 5 s kept to finish each invocation is real time, not scaled
//! ```
//! With `INVOCATION_SECONDS` the notice runs as Lambda and Scheduler run it (the test kit's
//! `invocations::until_final`): each invocation claims, acts and records in waves within its
//! budget and schedules a continuation for what it did not reach; the run reports how many
//! invocations it took, how many forced nothing, and whether any service was forced twice.
//! `SCALE` multiplies every rate (buckets and pacing alike), dividing the floor by it. The fake
//! answers on loopback in well under a millisecond; real calls add latency, which concurrency hides.
// The futures nest the driver, the engine and the SDK calls deeply.
#![recursion_limit = "256"]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use remediator_aws::remediator;
use remediator_core::follow::CheckPolicy;
use remediator_core::ledger::MemoryLedger;
use remediator_core::run;
use remediator_core::{Outcome, Report, Status};
use remediator_lambda::Config;
use remediator_testkit::fake_ecs::{scaled_settings, start, FakeEcs};
use remediator_testkit::fake_org::notice;
use remediator_testkit::invocations::{once, until_final, Ran};

fn env_num(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let n = env_num("SERVICES", 1000) as usize;
    let scale = f64::from(env_num("SCALE", 10).max(1));
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let fake = Arc::new(Mutex::new(FakeEcs::scaled(scale)));
    let sdk = start(fake.clone(), config.sdk_max_attempts).await;
    let settings = scaled_settings(config.settings, scale);
    let remediator = remediator(&sdk, settings.clone());
    let entities: Vec<String> = (0..n)
        .map(|i| format!("cluster-{}|svc-{i:05}", i % 7))
        .collect();
    let event = notice("123456789012", "bench", &entities);

    let started = Instant::now();
    let ledger_ms = match std::env::var("LEDGER").as_deref() {
        Ok("off") => None,
        _ => Some(f64::from(env_num("LEDGER_LATENCY_MS", 5))),
    };
    // The ledger in the path, as in production: reads, conditional claims (16 in flight) and
    // batched records, each call taking `ledger_ms` (DynamoDB's single-digit ms).
    let ledger = ledger_ms
        .map(|ms| MemoryLedger::with_latency(Duration::from_secs_f64(ms / 1000.0 / scale)));
    let invocation = std::env::var("INVOCATION_SECONDS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok());
    let (report, runs) = match (invocation, &ledger) {
        (Some(seconds), Some(ledger)) => {
            let budget = Duration::from_secs_f64(seconds / scale);
            // The finishing reserve is real time, not scaled: a scaled invocation must outlast it.
            if budget <= run::FINISH_RESERVE * 2 {
                eprintln!(
                    "INVOCATION_SECONDS={seconds} at SCALE={scale} leaves {budget:?} per invocation, \
                     not more than twice the {:?} kept to finish (unscaled): lower SCALE",
                    run::FINISH_RESERVE
                );
                std::process::exit(2);
            }
            continued(&remediator, ledger, event, budget).await
        }
        _ => (once(&remediator, ledger.as_ref(), event).await, Vec::new()),
    };
    let elapsed = started.elapsed().as_secs_f64();

    // The floor at the configured share (scaled like the pacing), or the account's without one.
    let (share_burst, share_rate) = match settings.update_service_rate {
        Some(r) => (
            f64::from(r.burst.min(50)),
            f64::from(r.per_second).min(5.0 * scale),
        ),
        None => (50.0, 5.0 * scale),
    };
    let floor = ((n as f64) - share_burst).max(0.0) / share_rate;
    let account_floor = (n.saturating_sub(50) as f64) / (5.0 * scale);
    let fake = fake.lock().unwrap_or_else(|p| p.into_inner());
    let lost = n - report.outcomes.len();
    let acted = report
        .outcomes
        .iter()
        .filter(|o| o.status == Status::Acted)
        .count();
    println!("services                 {n}");
    println!("time scale               ÷{scale} (floor and elapsed below are scaled back to real ECS rates)");
    println!(
        "pacing                   {:?}",
        settings.update_service_rate
    );
    println!("concurrency              {}", settings.concurrency);
    match ledger_ms {
        Some(ms) => {
            println!("ledger                   in memory, {ms} ms per call, 16 claims in flight")
        }
        None => println!("ledger                   off (LEDGER=off)"),
    }
    if let Some(seconds) = invocation {
        print_invocations(&runs, seconds);
    }
    println!(
        "floor at the share       {:.1} s (the whole account bucket: {:.1} s)",
        floor * scale,
        account_floor * scale
    );
    println!("elapsed                  {:.1} s", elapsed * scale);
    println!(
        "over the floor           {:+.1} %",
        (elapsed / floor - 1.0) * 100.0
    );
    println!("acted                    {acted}");
    println!("other outcomes           {}", report.outcomes.len() - acted);
    println!("lost (no outcome)        {lost}");
    println!("UpdateService ok         {}", fake.updates_ok);
    println!("UpdateService throttled  {}", fake.updates_throttled);
    println!(
        "DescribeServices ok      {} (at most {} services each)",
        fake.describes_ok, fake.max_services_per_describe
    );
    println!("DescribeServices throttled {}", fake.describes_throttled);
    println!("forced twice             {}", fake.forced_twice().len());
    if let Some(ledger) = &ledger {
        use remediator_core::ledger::LedgerCounts;
        let c = &ledger.counts;
        println!(
            "ledger items             {} read in {} batches, {} claimed, {} recorded, {} followed",
            LedgerCounts::get(&c.items_read),
            LedgerCounts::get(&c.read_calls),
            LedgerCounts::get(&c.claims),
            LedgerCounts::get(&c.records),
            LedgerCounts::get(&c.follows)
        );
    }
    if acted != n {
        for o in report
            .outcomes
            .iter()
            .filter(|o| o.status != Status::Acted)
            .take(5)
        {
            println!("  e.g. {} {} {}", o.target, o.code, o.reason);
        }
    }
}

/// The notice in invocations of `budget`, each continuation run at once; the outcomes of the
/// acting (the last word of each service: its first acted outcome, else its last) and the runs.
async fn continued(
    remediator: &remediator_aws::AwsRemediator,
    ledger: &MemoryLedger,
    event: serde_json::Value,
    budget: Duration,
) -> (Report, Vec<Ran>) {
    // Continuations only: a check five minutes later would verify, which the fake cannot.
    let policy = CheckPolicy::default();
    let runs = until_final(remediator, ledger, event, budget, &policy, 200).await;
    let Some(mut report) = runs.last().map(|r| r.report.clone()) else {
        eprintln!("no invocation ran");
        std::process::exit(1);
    };
    let mut acted: Vec<Outcome> = runs
        .iter()
        .flat_map(|r| r.report.outcomes.iter())
        .filter(|o| o.status == Status::Acted)
        .cloned()
        .collect();
    acted.sort_by_key(|o| o.target.to_string());
    acted.dedup_by_key(|o| o.target.to_string());
    let seen: std::collections::HashSet<String> =
        acted.iter().map(|o| o.target.to_string()).collect();
    let rest: Vec<Outcome> = report
        .outcomes
        .iter()
        .filter(|o| !seen.contains(&o.target.to_string()))
        .cloned()
        .collect();
    acted.extend(rest);
    report.outcomes = acted;
    (report, runs)
}

fn print_invocations(runs: &[Ran], seconds: f64) {
    let idle = runs
        .iter()
        .filter(|r| {
            r.report.summary.acted == 0
                && r.report
                    .outcomes
                    .iter()
                    .any(|o| o.status != Status::AlreadyDone)
        })
        .count();
    let failed = runs.iter().filter(|r| r.failed.is_some()).count();
    let per: Vec<String> = runs
        .iter()
        .map(|r| r.report.summary.acted.to_string())
        .collect();
    println!(
        "invocations              {} of {seconds} s each (forced per invocation: {})",
        runs.len(),
        per.join(" ")
    );
    println!("invocations forcing none {idle} (with work left)");
    println!("invocations failed       {failed}");
}
