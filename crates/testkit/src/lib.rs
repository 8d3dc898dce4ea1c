//! Test kit: a moto server on a free loopback port, SDK clients pointed at it, and seeding
//! helpers for clusters, task definitions and services; the notices tests deliver
//! ([`notice::Notice`], built from the fixtures); and fake Kubernetes APIs ([`fake_kube`]
//! keeps objects, [`scripted_kube`] asserts each request of a scenario).
//!
//! Each [`MotoServer`] is its own process with its own state, killed when dropped, so tests can
//! run in parallel. [`MotoServer::reset`] wipes state between scenarios that share one server.
//! The server runs in-process in a small Python helper (`moto_server.py`, moto's
//! `ThreadedMotoServer`) so tests can also set state no API reaches, such as a CodeDeploy
//! deployment's status. Python comes from `MOTO_PYTHON`, or the project venv `make venv` creates.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ecs::config::Credentials;
use chrono::{DateTime, Utc};

pub mod checks;
pub mod clock;
pub mod events;
pub mod fake_ecs;
pub mod fake_kube;
pub mod fake_kube_list;
pub mod fake_org;
pub mod fault_proxy;
pub mod invocations;
pub mod kube_objects;
pub mod notice;
pub mod scripted_kube;
mod seed;

pub use seed::{BlueGreenFixture, Network, Seed, StandaloneTask, PREVIOUS_APPSPEC};

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

/// A running moto server. Dropping it stops the process.
pub struct MotoServer {
    child: Child,
    endpoint: String,
    /// stdin/stdout of the helper, for control commands.
    control: Mutex<(ChildStdin, BufReader<ChildStdout>)>,
}

impl MotoServer {
    /// Starts moto on a free loopback port and waits until it answers. Panics with the reason
    /// when it cannot (this is a test helper).
    pub fn start() -> MotoServer {
        let python = venv_python();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("moto_server.py");
        let mut last_error = String::new();
        for _ in 0..3 {
            let port = free_port();
            let log = std::env::temp_dir().join(format!("moto-{port}.log"));
            let log_file = std::fs::File::create(&log).ok();
            let mut child = Command::new(&python)
                .arg(&script)
                .arg(port.to_string())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(log_file.map(Stdio::from).unwrap_or_else(Stdio::null))
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
            let endpoint = format!("http://127.0.0.1:{port}");
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(60) {
                if let Ok(Some(status)) = child.try_wait() {
                    last_error = format!("moto exited with {status} (log: {})", log.display());
                    break;
                }
                if ureq::get(&format!("{endpoint}/moto-api/")).call().is_ok() {
                    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take())
                    else {
                        panic!("moto helper has no stdin/stdout");
                    };
                    return MotoServer {
                        child,
                        endpoint,
                        control: Mutex::new((stdin, BufReader::new(stdout))),
                    };
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
            if last_error.is_empty() {
                last_error = format!("moto did not answer within 60 s (log: {})", log.display());
            }
        }
        panic!("moto server failed to start: {last_error}");
    }

    /// Sends one control command to the helper (see `moto_server.py`) and returns the words of
    /// its answer after `ok`; panics on failure.
    fn control(&self, command: &str) -> Vec<String> {
        let mut guard = self.control.lock().unwrap_or_else(|p| p.into_inner());
        let (stdin, stdout) = &mut *guard;
        writeln!(stdin, "{command}").unwrap_or_else(|e| panic!("moto control: {e}"));
        stdin
            .flush()
            .unwrap_or_else(|e| panic!("moto control: {e}"));
        let mut answer = String::new();
        loop {
            answer.clear();
            stdout
                .read_line(&mut answer)
                .unwrap_or_else(|e| panic!("moto control: {e}"));
            let mut words = answer.split_whitespace();
            match words.next() {
                Some("ready") => continue,
                Some("ok") => return words.map(str::to_owned).collect(),
                _ => panic!("moto control {command:?}: {}", answer.trim()),
            }
        }
    }

    /// Sets a CodeDeploy deployment's status (moto leaves every deployment `Created`).
    pub fn set_codedeploy_status(&self, deployment_id: &str, status: &str) {
        self.control(&format!(
            "codedeploy-status {ACCOUNT} {REGION} {deployment_id} {status}"
        ));
    }

    /// Sets a service's `minimumHealthyPercent` / `maximumPercent`, which moto's CreateService
    /// drops (DescribeServices then shows them as ECS would).
    pub fn set_deployment_configuration(&self, cluster: &str, service: &str, min: i32, max: i32) {
        self.control(&format!(
            "ecs-deployment-config {ACCOUNT} {REGION} {cluster} {service} {min} {max}"
        ));
    }

    /// The same in `account`, with the deployment circuit breaker on or off (rollback alike).
    pub fn set_deployment_configuration_in(
        &self,
        account: &str,
        cluster: &str,
        service: &str,
        (min, max): (i32, i32),
        circuit_breaker: bool,
    ) {
        let breaker = if circuit_breaker { "on" } else { "off" };
        self.control(&format!(
            "ecs-deployment-config {account} {REGION} {cluster} {service} {min} {max} {breaker}"
        ));
    }

    /// Moves a service's PRIMARY deployment on, as ECS would: `COMPLETED` (every task of it
    /// runs, the older deployments drained away), `FAILED` (the deployment circuit breaker), or
    /// `IN_PROGRESS`. A forced deployment in the test kit starts `IN_PROGRESS` with the previous
    /// deployment still `ACTIVE` and running, as in ECS.
    pub fn set_rollout(&self, cluster: &str, service: &str, state: &str) {
        self.control(&format!(
            "ecs-rollout {ACCOUNT} {REGION} {cluster} {service} {state}"
        ));
    }

    /// The task's essential container exits by itself with `exit_code`, as a one-off job does
    /// when it ends: ECS stops the task with stop code `EssentialContainerExited` and the
    /// container's exit code (moto's containers never exit).
    pub fn exit_task(&self, cluster: &str, task_id: &str, exit_code: i32) {
        self.control(&format!(
            "ecs-task-exit {ACCOUNT} {REGION} {cluster} {task_id} {exit_code}"
        ));
    }

    /// Gives a service an ECS-native strategy with `bake_minutes` of bake time and `pause_hooks`
    /// PAUSE lifecycle hooks (moto's CreateService drops `deploymentConfiguration`).
    pub fn set_strategy(
        &self,
        cluster: &str,
        service: &str,
        strategy: &str,
        bake_minutes: u32,
        pause_hooks: u32,
    ) {
        self.control(&format!(
            "ecs-strategy {ACCOUNT} {REGION} {cluster} {service} {strategy} {bake_minutes} {pause_hooks}"
        ));
    }

    /// Makes a service an ECS Express Mode service (`resourceManagementType` `ECS`).
    pub fn set_express(&self, cluster: &str, service: &str) {
        self.control(&format!(
            "ecs-express {ACCOUNT} {REGION} {cluster} {service}"
        ));
    }

    /// Moves the service's current service deployment (`DescribeServiceDeployments`) to
    /// `status` in `stage`, as ECS would.
    pub fn set_service_deployment(&self, cluster: &str, service: &str, status: &str, stage: &str) {
        self.control(&format!(
            "ecs-service-deployment {ACCOUNT} {REGION} {cluster} {service} {status} {stage}"
        ));
    }

    /// Pauses the service's current service deployment at a PAUSE hook in `hook_status`
    /// (`AWAITING_ACTION`, `TIMED_OUT`…), with timeout `action`, expiring `minutes` from now;
    /// returns the hook's id.
    pub fn set_pause_hook(
        &self,
        cluster: &str,
        service: &str,
        (status, stage): (&str, &str),
        (hook_status, action, minutes): (&str, &str, i64),
    ) -> String {
        self.control(&format!(
            "ecs-service-deployment {ACCOUNT} {REGION} {cluster} {service} {status} {stage} {hook_status} {action} {minutes}"
        ))
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("moto control gave no hook id"))
    }

    /// Removes a CodeDeploy deployment, as if it had aged out of CodeDeploy's history.
    pub fn forget_codedeploy_deployment(&self, deployment_id: &str) {
        self.control(&format!(
            "codedeploy-forget {ACCOUNT} {REGION} {deployment_id}"
        ));
    }

    /// Two default-VPC subnets and a security group that exist in moto's EC2 (ECS validates
    /// awsvpc settings against them).
    pub fn network(&self) -> Network {
        match self.control(&format!("network {REGION}")).as_slice() {
            [a, b, sg] => Network {
                subnets: vec![a.clone(), b.clone()],
                security_group: sg.clone(),
            },
            other => panic!("moto network: unexpected answer {other:?}"),
        }
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Environment variables that point the standard AWS config chain at this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", REGION.into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }

    /// Keeps every ECS task in the status it has: by default moto moves a task one step towards
    /// STOPPED each time it is described.
    pub fn pin_task_status(&self) {
        let body = serde_json::json!({
            "model_name": "ecs::task",
            "transition": { "progression": "manual", "times": 1_000_000 }
        });
        ureq::post(&format!(
            "{}/moto-api/state-manager/set-transition",
            self.endpoint
        ))
        .header("content-type", "application/json")
        .send(body.to_string())
        .unwrap_or_else(|e| panic!("moto set-transition failed: {e}"));
    }

    /// An EKS cluster named `name` (moto gives it a fake endpoint and CA data).
    pub fn eks_cluster(&self, name: &str) {
        self.control(&format!("eks-cluster {REGION} {name}"));
    }

    /// An EKS cluster named `name` in `account` (another account of a central deployment).
    pub fn eks_cluster_in(&self, account: &str, name: &str) {
        self.control(&format!("eks-cluster {REGION} {name} {account}"));
    }

    /// Wipes all state.
    pub fn reset(&self) {
        ureq::post(&format!("{}/moto-api/reset", self.endpoint))
            .send_empty()
            .unwrap_or_else(|e| panic!("moto reset failed: {e}"));
    }

    /// SDK config for this server: fixed test credentials, `us-east-1`, and few retries so an
    /// unimplemented call (HTTP 500 from moto) fails fast.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .endpoint_url(&self.endpoint)
            .retry_config(RetryConfig::standard().with_max_attempts(2))
            .load()
            .await
    }

    pub async fn ecs(&self) -> aws_sdk_ecs::Client {
        aws_sdk_ecs::Client::new(&self.sdk_config().await)
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free loopback port: {e}"))
}

/// A listener on a free loopback port, and its address: where the test kit's fakes serve.
pub(crate) async fn loopback() -> (tokio::net::TcpListener, std::net::SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind a loopback port: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("loopback address: {e}"));
    (listener, addr)
}

/// The Python that has moto: `MOTO_PYTHON`, or the project venv that `make venv` creates.
fn venv_python() -> PathBuf {
    if let Some(p) = std::env::var_os("MOTO_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = workspace_root().join(".venv/bin/python");
    if venv.exists() {
        return venv;
    }
    panic!(
        "{} not found: run `make venv` (or set MOTO_PYTHON to a python with moto[server])",
        venv.display()
    );
}

/// A request's or a response's body, read to its end (empty when reading fails).
async fn read_body<B: hyper::body::Body>(body: B) -> hyper::body::Bytes {
    use http_body_util::BodyExt;
    body.collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default()
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Path of a file in `events-fixtures/` (a path to an existing file is taken as it is).
pub fn fixture_path(name: &str) -> PathBuf {
    let as_given = PathBuf::from(name);
    if name.contains('/') && as_given.exists() {
        return as_given;
    }
    workspace_root().join("events-fixtures").join(name)
}

/// A fixture as JSON, exactly as it is on disk (its own dates: for parsing tests).
pub fn fixture_raw(name: &str) -> serde_json::Value {
    let path = fixture_path(name);
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&raw).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fixture as JSON, published at `time`: every date in it moved by the same offset
/// ([`clock::shift_event`]), so a notice a week ahead of its `time` stays a week ahead of
/// `time`. Services seeded in moto are created "now", so a replayed notice must be published
/// after them to be meaningful.
pub fn fixture_at(name: &str, time: DateTime<Utc>) -> serde_json::Value {
    let mut value = fixture_raw(name);
    clock::shift_event(&mut value, time);
    value
}

/// A fixture published now ([`clock::now`]).
pub fn fixture_now(name: &str) -> serde_json::Value {
    fixture_at(name, clock::now())
}
