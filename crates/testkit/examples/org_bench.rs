//! Benchmark: an organization's retirement wave, many accounts at the function's concurrency.
//!
//! Each of `ACCOUNTS` member accounts gets one notice naming `SERVICES` rolling services, all
//! delivered at once. Lambda runs at most `CONCURRENCY` of them at a time (the reserved
//! concurrency, `FunctionConcurrency`), the rest waiting in its asynchronous queue: here
//! `CONCURRENCY` workers, each an execution environment with its own budget client kept across
//! the notices it runs, take the notices in turn. Every account's ECS is a throttling fake with
//! ECS's buckets ([`FakeOrg`], told apart by the signing credentials); the shared budget is the
//! DynamoDB one in the ledger table on moto (`BUDGET=memory`: one in-process budget, the same
//! rule, for a run without moto); the ledger is in memory at DynamoDB's 5 ms a call.
//!
//! The floor: an account's notice needs `(SERVICES − burst) / rate` at the configured share, the
//! accounts' buckets are independent, so the wave needs `ceil(ACCOUNTS / CONCURRENCY)` of those.
//! The run fails (exit 1) when a service is not acted on, forced twice, throttled by ECS, or an
//! account's UpdateService calls, read back as a token bucket, exceed its share.
//!
//! ```sh
//! cargo run --release -p remediator-testkit --example org_bench                 # 200 × 50, concurrency 10, time ÷2
//! ACCOUNTS=50 SERVICES=100 CONCURRENCY=5 SCALE=2 cargo run --release -p remediator-testkit --example org_bench
//! BUDGET=memory cargo run --release -p remediator-testkit --example org_bench   # no moto
//! ```
// The futures nest the driver, the engine and the SDK calls deeply.
#![recursion_limit = "256"]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use remediator_core::ledger::MemoryLedger;
use remediator_core::pacing::MemoryBudget;
use remediator_core::ports::SharedBudget;
use remediator_core::{Report, Settings, Status};
use remediator_lambda::budget::DynamoBudget;
use remediator_testkit::events::ledger_table;
use remediator_testkit::fake_ecs::scaled_settings;
use remediator_testkit::fake_org::{in_account, notice, over_share, FakeOrg, Timed};
use remediator_testkit::invocations::once;
use remediator_testkit::MotoServer;

const TABLE: &str = "retirement-ledger";

fn env_num(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One notice: the account and its services (`cluster-<n>|svc-<i>`).
type Work = (String, Vec<String>);

/// What one environment ran: the notices' reports, and its DynamoDB budget client (if any).
type Ran = (Vec<Report>, Option<Arc<DynamoBudget>>);

struct Wave {
    queue: Mutex<VecDeque<Work>>,
    base: aws_config::SdkConfig,
    endpoint: String,
    settings: Settings,
    ledger: MemoryLedger,
}

impl Wave {
    fn next(&self) -> Option<Work> {
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
    }

    /// One execution environment: notices one at a time until the queue is empty.
    async fn environment(&self, budget: Arc<dyn SharedBudget>) -> Vec<Report> {
        let mut reports = Vec::new();
        while let Some((account, entities)) = self.next() {
            let sdk = in_account(&self.base, &self.endpoint, &account);
            let settings = Settings {
                account: Some(account.clone()),
                ..self.settings.clone()
            };
            let remediator = remediator_aws::remediator(&sdk, settings).with_budget(budget.clone());
            let event = notice(&account, &format!("{account}-wave"), &entities);
            reports.push(once(&remediator, Some(&self.ledger), event).await);
        }
        reports
    }
}

#[tokio::main]
async fn main() {
    let accounts = env_num("ACCOUNTS", 200) as usize;
    let services = env_num("SERVICES", 50) as usize;
    let concurrency = env_num("CONCURRENCY", 10).max(1) as usize;
    // ÷2 by default: moto's DynamoDB answers one call at a time, a few ms each; at ÷10 the
    // 300 budget writes a second of ten accounts at once would time moto, not the wave.
    let scale = f64::from(env_num("SCALE", 2).max(1));
    let on_moto = std::env::var("BUDGET").as_deref() != Ok("memory");
    let settings = scaled_settings(Settings::default(), scale);
    let Some(rate) = settings.update_service_rate else {
        eprintln!("the benchmark measures the configured share: pacing must be on");
        std::process::exit(2);
    };

    let moto = on_moto.then(MotoServer::start);
    let dynamo = match &moto {
        Some(moto) => {
            ledger_table(moto, TABLE).await;
            Some(aws_sdk_dynamodb::Client::new(&moto.sdk_config().await))
        }
        None => None,
    };
    let base = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .build();
    let org = Arc::new(Mutex::new(FakeOrg::scaled(scale)));
    let endpoint = remediator_testkit::fake_ecs::serve(org.clone()).await;
    let ids: Vec<String> = (0..accounts)
        .map(|a| format!("{:012}", 100_000_000_000 + a))
        .collect();
    let entities: Vec<String> = (0..services)
        .map(|i| format!("cluster-{}|svc-{i:04}", i % 3))
        .collect();
    let wave = Wave {
        queue: Mutex::new(ids.iter().map(|a| (a.clone(), entities.clone())).collect()),
        base,
        endpoint,
        settings,
        ledger: MemoryLedger::with_latency(Duration::from_secs_f64(0.005 / scale)),
    };

    let slowest = Arc::new(Mutex::new(Duration::ZERO));
    let shared_memory: Arc<dyn SharedBudget> = Arc::new(MemoryBudget::default());
    let started = Instant::now();
    // The environments as futures of one task (the engine's futures are not `Send` across
    // the spawn's lifetimes); the fake and moto answer on threads of their own.
    let workers = (0..concurrency).map(|_| {
        let dynamo_budget = dynamo
            .as_ref()
            .map(|c| Arc::new(DynamoBudget::new(c.clone(), TABLE)));
        let inner: Arc<dyn SharedBudget> = match &dynamo_budget {
            Some(b) => b.clone(),
            None => shared_memory.clone(),
        };
        let budget: Arc<dyn SharedBudget> = Arc::new(Timed::new(inner, slowest.clone()));
        let wave = &wave;
        async move { (wave.environment(budget).await, dynamo_budget) }
    });
    let ran: Vec<Ran> = futures::future::join_all(workers).await;
    let elapsed = started.elapsed().as_secs_f64();
    let lag = *slowest.lock().unwrap_or_else(|p| p.into_inner());
    let reports: Vec<&Report> = ran.iter().flat_map(|(r, _)| r.iter()).collect();
    let writes = ran
        .iter()
        .filter_map(|(_, b)| b.as_ref().map(|b| b.writes()))
        .fold((0, 0), |(a, r), (a2, r2)| (a + a2, r + r2));

    let per_second = f64::from(rate.per_second);
    let burst = f64::from(rate.burst);
    let one = (services as f64 - burst).max(0.0) / per_second;
    let rounds = accounts.div_ceil(concurrency);
    let floor = rounds as f64 * one;
    let mut failures = Vec::new();
    let acted = reports
        .iter()
        .flat_map(|r| r.outcomes.iter())
        .filter(|o| o.status == Status::Acted)
        .count();
    let others: Vec<String> = reports
        .iter()
        .flat_map(|r| r.outcomes.iter())
        .filter(|o| o.status != Status::Acted)
        .take(5)
        .map(|o| format!("{} {} {}", o.target, o.code, o.reason))
        .collect();
    if acted != accounts * services {
        failures.push(format!(
            "{acted} of {} services acted on; e.g. {others:?}",
            accounts * services
        ));
    }
    let mut org = org.lock().unwrap_or_else(|p| p.into_inner());
    let (mut fewest, mut most, mut throttled, mut twice, mut over) = (usize::MAX, 0, 0, 0, 0);
    let mut worst = 0.0f64;
    let tolerance = 1.0 + per_second * lag.as_secs_f64();
    for id in &ids {
        let fake = org.account(id);
        fewest = fewest.min(fake.updates_ok);
        most = most.max(fake.updates_ok);
        throttled += fake.updates_throttled;
        twice += fake.forced_twice().len();
        if let Some((_, _, excess)) = over_share(&fake.update_times, per_second, burst, tolerance) {
            over += 1;
            worst = worst.max(excess);
        }
    }
    if twice > 0 {
        failures.push(format!("{twice} services forced twice"));
    }
    if throttled > 0 {
        failures.push(format!("{throttled} UpdateService calls throttled by ECS"));
    }
    if over > 0 {
        failures.push(format!(
            "{over} accounts over their share (worst {worst:.1} calls over)"
        ));
    }

    println!("accounts                 {accounts} × {services} services, one notice each");
    println!(
        "concurrency              {concurrency} environments, each with its own budget client"
    );
    println!(
        "budget store             {}",
        if on_moto {
            "DynamoDB (moto), the ledger table"
        } else {
            "in process, shared (BUDGET=memory)"
        }
    );
    println!("time scale               ÷{scale} (times below scaled back to real ECS rates)");
    println!(
        "share                    {}/s, burst {} of each account's 5/s, 50",
        rate.per_second as f64 / scale,
        rate.burst
    );
    println!(
        "floor                    {rounds} rounds × {:.1} s (one account) = {:.1} s",
        one * scale,
        floor * scale
    );
    println!("elapsed                  {:.1} s", elapsed * scale);
    println!(
        "over the floor           {:+.1} %",
        (elapsed / floor - 1.0) * 100.0
    );
    println!("acted                    {acted}");
    println!("UpdateService per account {fewest}..{most}");
    println!("UpdateService throttled  {throttled}");
    println!("forced twice             {twice}");
    println!(
        "accounts over the share  {over} (token bucket from the call times, tolerance {tolerance:.1})"
    );
    println!("budget's slowest answer  {lag:?} (real time)");
    if on_moto {
        println!(
            "budget writes            {} accepted, {} refused ({:.2} per UpdateService)",
            writes.0,
            writes.1,
            (writes.0 + writes.1) as f64 / (acted.max(1)) as f64
        );
    }
    if !failures.is_empty() {
        for f in &failures {
            println!("FAILED: {f}");
        }
        std::process::exit(1);
    }
}
