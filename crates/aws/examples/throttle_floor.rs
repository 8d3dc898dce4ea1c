//! Benchmark: N rolling services against the ECS throttling floor.
//!
//! ECS refills the "service modify" bucket (UpdateService) at 5 tokens/s with a burst of 50
//! (domain notes §4), so 1,000 services need at least (1000 − 50) / 5 = 190 s. This runs the
//! real engine and the real SDK client (standard retry, production config path) over HTTP
//! against a loopback ECS fake that enforces both token buckets and answers
//! `ThrottlingException` like ECS, and reports how far from the floor the run lands and whether
//! any service was lost.
//!
//! ```sh
//! cargo run --release -p remediator-aws --example throttle_floor            # 1000 services, time ÷10
//! SERVICES=1000 SCALE=1 cargo run --release -p remediator-aws --example throttle_floor   # real rates, ~190 s
//! UPDATE_SERVICE_RATE=off cargo run --release -p remediator-aws --example throttle_floor # SDK retries alone
//! LEDGER=off cargo run --release -p remediator-aws --example throttle_floor               # without the ledger
//! ```
//! `SCALE` multiplies every rate (buckets and pacing alike), dividing the floor by it. The fake
//! answers on loopback in well under a millisecond; real calls add latency, which concurrency hides.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use remediator_aws::remediator;
use remediator_core::ledger::MemoryLedger;
use remediator_core::parse_value;
use remediator_core::pipeline::{remediate_remembering, route, run, Invocation, Notice, Route};
use remediator_core::{Rate, Status};
use remediator_lambda::{load_sdk_config, Config};
use serde_json::{json, Value};

/// An ECS token bucket.
struct Bucket {
    tokens: f64,
    burst: f64,
    per_second: f64,
    last: Instant,
}

impl Bucket {
    fn new(burst: f64, per_second: f64) -> Self {
        Bucket {
            tokens: burst,
            burst,
            per_second,
            last: Instant::now(),
        }
    }
    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.per_second)
            .min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The fake's state: both buckets and what it answered.
struct FakeEcs {
    modify: Bucket,
    read: Bucket,
    updates_ok: usize,
    updates_throttled: usize,
    describes_ok: usize,
    describes_throttled: usize,
    max_services_per_describe: usize,
}

fn service(name: &str, deployment: &str) -> Value {
    json!({ "serviceName": name, "status": "ACTIVE",
            "deployments": [{ "id": deployment, "status": "PRIMARY", "createdAt": 1_600_000_000.0 }] })
}

/// Answers the ECS JSON protocol (`X-Amz-Target: AmazonEC2ContainerServiceV20141113.*`).
fn answer(fake: &Mutex<FakeEcs>, target: &str, body: &[u8]) -> (u16, Value) {
    let mut fake = fake.lock().unwrap_or_else(|p| p.into_inner());
    let input: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let throttled = json!({ "__type": "ThrottlingException", "message": "Rate exceeded" });
    match target.rsplit('.').next().unwrap_or_default() {
        "DescribeServices" => {
            if !fake.read.take() {
                fake.describes_throttled += 1;
                return (400, throttled);
            }
            fake.describes_ok += 1;
            let names: Vec<&str> = input["services"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            fake.max_services_per_describe = fake.max_services_per_describe.max(names.len());
            let services: Vec<Value> = names.iter().map(|n| service(n, "ecs-svc/old")).collect();
            (200, json!({ "services": services, "failures": [] }))
        }
        "UpdateService" => {
            if !fake.modify.take() {
                fake.updates_throttled += 1;
                return (400, throttled);
            }
            fake.updates_ok += 1;
            let name = input["service"].as_str().unwrap_or_default();
            (200, json!({ "service": service(name, "ecs-svc/new") }))
        }
        // Opt-out tags: no cluster carries any.
        "DescribeClusters" => (200, json!({ "clusters": [], "failures": [] })),
        other => (
            400,
            json!({ "__type": "InvalidParameterException", "message": format!("not faked: {other}") }),
        ),
    }
}

async fn serve(fake: Arc<Mutex<FakeEcs>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("addr: {e}"));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let fake = fake.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let fake = fake.clone();
                    async move {
                        let target = req
                            .headers()
                            .get("x-amz-target")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let (status, value) = answer(&fake, &target, &body);
                        let response = Response::builder()
                            .status(status)
                            .header("content-type", "application/x-amz-json-1.1")
                            .body(Full::new(Bytes::from(value.to_string())))
                            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())));
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

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
    let fake = Arc::new(Mutex::new(FakeEcs {
        modify: Bucket::new(50.0, 5.0 * scale),
        read: Bucket::new(100.0, 20.0 * scale),
        updates_ok: 0,
        updates_throttled: 0,
        describes_ok: 0,
        describes_throttled: 0,
        max_services_per_describe: 0,
    }));
    let endpoint = serve(fake.clone()).await;

    // The production config path: standard chain, endpoint from AWS_ENDPOINT_URL.
    std::env::set_var("AWS_ENDPOINT_URL", &endpoint);
    std::env::set_var("AWS_ACCESS_KEY_ID", "bench");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "bench");
    std::env::remove_var("AWS_PROFILE");
    let sdk = load_sdk_config(Some("us-east-1".into()), config.sdk_max_attempts).await;

    let mut settings = config.settings;
    settings.update_service_rate = settings.update_service_rate.map(|r| Rate {
        per_second: (f64::from(r.per_second) * scale) as u32,
        burst: r.burst,
    });
    settings.backoff.initial =
        Duration::from_secs_f64(settings.backoff.initial.as_secs_f64() / scale);
    settings.backoff.max = Duration::from_secs_f64(settings.backoff.max.as_secs_f64() / scale);
    let remediator = remediator(&sdk, settings.clone());
    let entities: Vec<String> = (0..n)
        .map(|i| format!("cluster-{}|svc-{i:05}", i % 7))
        .collect();
    let event = json!({
        "version": "0", "id": "bench", "detail-type": "AWS Health Event", "source": "aws.health",
        "account": "123456789012", "time": "2026-11-20T09:00:00Z", "region": "us-east-1",
        "resources": entities,
        "detail": { "eventArn": "arn:aws:health:us-east-1::event/ECS/AWS_ECS_TASK_PATCHING_RETIREMENT/bench",
                    "service": "ECS", "eventTypeCode": "AWS_ECS_TASK_PATCHING_RETIREMENT" }
    });

    let started = Instant::now();
    // A Lambda invocation lives at most 15 minutes.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(900);
    let ledger_ms = match std::env::var("LEDGER").as_deref() {
        Ok("off") => None,
        _ => Some(f64::from(env_num("LEDGER_LATENCY_MS", 5))),
    };
    let report = match ledger_ms {
        // The ledger in the path, as in production: reads, conditional claims (16 in flight)
        // and batched records, each call taking `ledger_ms` (DynamoDB's single-digit ms).
        Some(ms) => {
            let ledger = MemoryLedger::with_latency(Duration::from_secs_f64(ms / 1000.0 / scale));
            match route(&remediator, parse_value(event)) {
                Route::Remediate(notice) => {
                    let invocation = Invocation {
                        owner: "bench".into(),
                        now: chrono::Utc::now(),
                        lease_margin: chrono::Duration::minutes(1),
                        retention: chrono::Duration::days(90),
                        concurrency: 16,
                    };
                    let outcomes = remediate_remembering(
                        &remediator,
                        &ledger,
                        &notice,
                        Some(deadline),
                        &invocation,
                    )
                    .await;
                    notice.report(outcomes, false)
                }
                Route::Answered(report) => *report,
            }
        }
        None => run(&remediator, parse_value(event), Some(deadline)).await,
    };
    let elapsed = started.elapsed().as_secs_f64();

    let floor = (n.saturating_sub(50) as f64) / (5.0 * scale);
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
    println!("throttling floor         {:.1} s", floor * scale);
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
