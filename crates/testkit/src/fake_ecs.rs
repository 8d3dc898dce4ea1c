//! A loopback ECS that throttles like ECS: both token buckets of domain notes §4 ("service
//! modify" for UpdateService, "describe" for DescribeServices), answering `ThrottlingException`
//! as ECS does, over the real JSON protocol so the real SDK client (and its retry) talks to it.
//!
//! It remembers each service's deployments: an `UpdateService(forceNewDeployment)` starts a new
//! PRIMARY deployment, and with `complete_rollouts` the rollout shows `COMPLETED` at once (the
//! benchmarks measure the remediation, not ECS). It counts the UpdateService calls per service,
//! so a run can show that none was forced twice.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use remediator_core::{Rate, Settings};
use serde_json::{json, Value};

/// An ECS token bucket.
#[derive(Debug)]
pub struct Bucket {
    tokens: f64,
    burst: f64,
    per_second: f64,
    last: Instant,
}

impl Bucket {
    pub fn new(burst: f64, per_second: f64) -> Self {
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

/// The fake's state: both buckets, each service's deployments, and what it answered.
#[derive(Debug)]
pub struct FakeEcs {
    pub modify: Bucket,
    pub read: Bucket,
    pub updates_ok: usize,
    pub updates_throttled: usize,
    pub describes_ok: usize,
    pub describes_throttled: usize,
    pub max_services_per_describe: usize,
    /// UpdateService calls that succeeded, per service.
    pub updates: HashMap<String, usize>,
    /// What `ListServices` lists (the preflight's account): `svc-0000`… in cluster `bench`.
    pub listed_services: usize,
    /// Every call answered, per operation (throttled ones included).
    pub calls: std::collections::BTreeMap<String, usize>,
    /// Calls of the "cluster resource read" bucket (DescribeTasks, ListTasks) and the listings
    /// throttled, per operation.
    pub throttled: std::collections::BTreeMap<String, usize>,
    pub resource_read: Bucket,
    /// When each UpdateService that succeeded arrived, in order.
    pub update_times: Vec<Instant>,
}

impl FakeEcs {
    /// ECS's buckets with every rate multiplied by `scale` (bursts unchanged).
    pub fn scaled(scale: f64) -> Self {
        FakeEcs {
            modify: Bucket::new(50.0, 5.0 * scale),
            read: Bucket::new(100.0, 20.0 * scale),
            updates_ok: 0,
            updates_throttled: 0,
            describes_ok: 0,
            describes_throttled: 0,
            max_services_per_describe: 0,
            updates: HashMap::new(),
            listed_services: 0,
            calls: Default::default(),
            throttled: Default::default(),
            resource_read: Bucket::new(100.0, 20.0 * scale),
            update_times: Vec::new(),
        }
    }

    /// The same, listing `n` services in cluster `bench` (a preflight's account).
    pub fn listing(scale: f64, n: usize) -> Self {
        FakeEcs {
            listed_services: n,
            ..FakeEcs::scaled(scale)
        }
    }

    /// `ListServices`: 100 a page at most (the API's limit), `nextToken` the next index.
    fn list_services(&mut self, input: &Value) -> (u16, Value) {
        if !self.read.take() {
            *self.throttled.entry("ListServices".into()).or_default() += 1;
            return throttled();
        }
        let start: usize = input["nextToken"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let page = input["maxResults"].as_u64().map_or(10, |m| m.min(100)) as usize;
        let end = (start + page).min(self.listed_services);
        let arns: Vec<String> = (start..end)
            .map(|i| format!("arn:aws:ecs:us-east-1:123456789012:service/bench/svc-{i:04}"))
            .collect();
        let mut out = json!({ "serviceArns": arns });
        if end < self.listed_services {
            out["nextToken"] = json!(end.to_string());
        }
        (200, out)
    }

    /// A call of the "cluster resource read" bucket that finds nothing (no task runs).
    fn resource_read(&mut self, operation: &str, empty: Value) -> (u16, Value) {
        if !self.resource_read.take() {
            *self.throttled.entry(operation.into()).or_default() += 1;
            return throttled();
        }
        (200, empty)
    }

    /// Services forced more than once.
    pub fn forced_twice(&self) -> Vec<&str> {
        self.updates
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(s, _)| s.as_str())
            .collect()
    }

    fn service(&self, name: &str) -> Value {
        let deployment = match self.updates.get(name) {
            // Completed at once, no older deployment left (see the module notes).
            Some(n) => json!({ "id": format!("ecs-svc/{name}-{n}"), "status": "PRIMARY",
                               "rolloutState": "COMPLETED", "desiredCount": 2, "runningCount": 2,
                               "createdAt": crate::clock::now().timestamp() as f64 }),
            None => json!({ "id": "ecs-svc/old", "status": "PRIMARY", "rolloutState": "COMPLETED",
                            "desiredCount": 2, "runningCount": 2, "createdAt": 1_600_000_000.0 }),
        };
        json!({ "serviceName": name, "status": "ACTIVE", "desiredCount": 2,
                "deployments": [deployment] })
    }

    /// Answers the ECS JSON protocol (`X-Amz-Target: AmazonEC2ContainerServiceV20141113.*`).
    fn answer_ecs(&mut self, target: &str, body: &[u8]) -> (u16, Value) {
        let input: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let operation = target.rsplit('.').next().unwrap_or_default();
        *self.calls.entry(operation.to_owned()).or_default() += 1;
        let throttled = json!({ "__type": "ThrottlingException", "message": "Rate exceeded" });
        match operation {
            "DescribeServices" => {
                if !self.read.take() {
                    self.describes_throttled += 1;
                    return (400, throttled);
                }
                self.describes_ok += 1;
                let names: Vec<&str> = input["services"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                self.max_services_per_describe = self.max_services_per_describe.max(names.len());
                let services: Vec<Value> = names.iter().map(|n| self.service(n)).collect();
                (200, json!({ "services": services, "failures": [] }))
            }
            "UpdateService" => {
                if !self.modify.take() {
                    self.updates_throttled += 1;
                    return (400, throttled);
                }
                self.updates_ok += 1;
                self.update_times.push(Instant::now());
                let name = input["service"].as_str().unwrap_or_default().to_owned();
                *self.updates.entry(name.clone()).or_default() += 1;
                (200, json!({ "service": self.service(&name) }))
            }
            // Opt-out tags: no cluster carries any.
            "DescribeClusters" => (200, json!({ "clusters": [], "failures": [] })),
            "ListClusters" => (
                200,
                json!({ "clusterArns": ["arn:aws:ecs:us-east-1:123456789012:cluster/bench"] }),
            ),
            "ListServices" => self.list_services(&input),
            "ListTasks" => self.resource_read("ListTasks", json!({ "taskArns": [] })),
            "DescribeTasks" => {
                self.resource_read("DescribeTasks", json!({ "tasks": [], "failures": [] }))
            }
            "ListContainerInstances" => (200, json!({ "containerInstanceArns": [] })),
            "ListAccountSettings" => (200, json!({ "settings": [] })),
            other => (
                400,
                json!({ "__type": "InvalidParameterException", "message": format!("not faked: {other}") }),
            ),
        }
    }
}

fn throttled() -> (u16, Value) {
    (
        400,
        json!({ "__type": "ThrottlingException", "message": "Rate exceeded" }),
    )
}

/// A fake that answers ECS requests: one account ([`FakeEcs`]) or many
/// ([`crate::fake_org::FakeOrg`], which tells them apart by the request's access key).
pub trait Answers: Send + 'static {
    /// The status and JSON body for the request of `target` signed with `access_key`.
    fn answer(&mut self, access_key: &str, target: &str, body: &[u8]) -> (u16, Value);
}

impl Answers for FakeEcs {
    fn answer(&mut self, _access_key: &str, target: &str, body: &[u8]) -> (u16, Value) {
        self.answer_ecs(target, body)
    }
}

/// The access key id a SigV4 request was signed with (`Credential=<key>/<date>/…`).
fn access_key(req: &Request<Incoming>) -> String {
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("Credential=").nth(1))
        .and_then(|v| v.split('/').next())
        .unwrap_or_default()
        .to_owned()
}

/// Serves `fake` on a loopback port; returns its endpoint URL.
pub async fn serve<F: Answers>(fake: Arc<Mutex<F>>) -> String {
    let (listener, addr) = crate::loopback().await;
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
                        let key = access_key(&req);
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let (status, value) = fake
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .answer(&key, &target, &body);
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

/// Starts `fake` and the SDK configuration that reaches it through the production path (the
/// standard chain, the endpoint from `AWS_ENDPOINT_URL`). It sets the process environment: for
/// a benchmark or a test binary of its own.
pub async fn start(fake: Arc<Mutex<FakeEcs>>, max_attempts: u32) -> aws_config::SdkConfig {
    let endpoint = serve(fake).await;
    std::env::set_var("AWS_ENDPOINT_URL", &endpoint);
    std::env::set_var("AWS_ACCESS_KEY_ID", "fake");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "fake");
    std::env::remove_var("AWS_PROFILE");
    remediator_lambda::load_sdk_config(Some("us-east-1".into()), max_attempts).await
}

/// `settings` on a clock `scale` times faster: both modify buckets' pacing ×`scale` (their
/// bursts as they are), backoff and the deadline margin ÷`scale`, like the fake's buckets.
pub fn scaled_settings(settings: Settings, scale: f64) -> Settings {
    let faster = |d: Duration| Duration::from_secs_f64(d.as_secs_f64() / scale);
    let quicker = |r: Rate| Rate {
        per_second: (f64::from(r.per_second) * scale) as u32,
        burst: r.burst,
    };
    Settings {
        update_service_rate: settings.update_service_rate.map(quicker),
        cluster_resource_rate: settings.cluster_resource_rate.map(quicker),
        backoff: remediator_core::Backoff {
            initial: faster(settings.backoff.initial),
            max: faster(settings.backoff.max),
            ..settings.backoff
        },
        deadline_margin: faster(settings.deadline_margin),
        ..settings
    }
}
