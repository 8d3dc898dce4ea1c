//! Benchmark: the preflight of an account of N services (default 1,000) against the loopback ECS
//! fake that throttles like ECS (service read bucket: DescribeServices and ListServices, 100
//! burst, 20 a second). It prints the calls per operation, the most services one DescribeServices
//! named, the calls throttled, the time, and the floor at the preflight's share of the bucket
//! (`READ_SHARE`, 50 burst, 10 a second): the service-read calls beyond that burst at that rate.
//!
//! ```text
//! cargo run --release -p remediator-testkit --example preflight_bench             # real rates
//! SERVICES=5000 cargo run --release -p remediator-testkit --example preflight_bench
//! ```
//! The preflight reads each cluster's services once (ListServices, 100 a page; DescribeServices,
//! 10 a call): the same observations answer the planner's dry run. It fails when a service was
//! described twice, a call was throttled, or a service was not planned.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use remediator_core::preflight::ecs::Rules;
use remediator_lambda::Config;
use remediator_testkit::fake_ecs::{start, FakeEcs};

fn env_num(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let n = env_num("SERVICES", 1000) as usize;
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let fake = Arc::new(Mutex::new(FakeEcs::listing(1.0, n)));
    let sdk = start(fake.clone(), config.sdk_max_attempts).await;
    let scope = remediator_aws::preflight::Scope::new(&sdk, config.settings.clone());
    let started = Instant::now();
    let result = scope
        .preflight(
            "123456789012",
            "us-east-1",
            &Rules::default(),
            chrono::Utc::now(),
            None,
        )
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    let (findings, resources) = match result {
        Ok(found) => found,
        Err(e) => {
            eprintln!("preflight failed: {e}");
            std::process::exit(1);
        }
    };
    let fake = fake.lock().unwrap_or_else(|p| p.into_inner());
    // The floor counts the reads the bucket let through: a throttled call took no token.
    let lists = fake.calls.get("ListServices").copied().unwrap_or(0);
    let reads = lists + fake.describes_ok;
    let (per_second, burst) = remediator_aws::preflight::READ_SHARE;
    let floor = (reads.saturating_sub(burst as usize) as f64) / per_second as f64;
    println!("services                 {n}");
    println!("resources planned        {}", resources.len());
    println!("findings                 {}", findings.len());
    println!("elapsed                  {elapsed:.1} s");
    println!("service-read floor       {floor:.1} s ({reads} ListServices + DescribeServices answered, at the share: burst {burst}, {per_second}/s)");
    println!(
        "DescribeServices         {} answered, at most {} services each, {} throttled (retried)",
        fake.describes_ok, fake.max_services_per_describe, fake.describes_throttled
    );
    for (op, count) in &fake.calls {
        let throttled = match op.as_str() {
            "DescribeServices" => fake.describes_throttled,
            _ => fake.throttled.get(op).copied().unwrap_or(0),
        };
        println!("  {op:<24} {count:>5} calls, {throttled} throttled");
    }
    let lost = n.saturating_sub(resources.len());
    let once = n.div_ceil(10);
    let throttled: usize = fake.describes_throttled + fake.throttled.values().sum::<usize>();
    if lost > 0 || fake.max_services_per_describe > 10 {
        eprintln!("FAILED: {lost} service(s) not planned, or a DescribeServices over 10");
        std::process::exit(1);
    }
    if fake.describes_ok > once || throttled > 0 {
        eprintln!(
            "FAILED: {} DescribeServices where one read is {once}, or {throttled} call(s) throttled",
            fake.describes_ok
        );
        std::process::exit(1);
    }
}
