//! Test kit: a moto server on a free loopback port, SDK clients pointed at it, and seeding
//! helpers for clusters, task definitions and services.
//!
//! Each [`MotoServer`] is its own process with its own state, killed when dropped, so tests can
//! run in parallel. [`MotoServer::reset`] wipes state between scenarios that share one server.
//! The server binary comes from `MOTO_SERVER`, or the project venv `.venv/bin/moto_server`
//! that `make venv` creates.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ecs::config::Credentials;
use aws_sdk_ecs::types::{
    Compatibility, ContainerDefinition, DeploymentController, DeploymentControllerType, LaunchType,
    NetworkMode,
};
use chrono::{DateTime, SecondsFormat, Utc};

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

/// A running moto server. Dropping it stops the process.
pub struct MotoServer {
    child: Child,
    endpoint: String,
}

impl MotoServer {
    /// Starts moto on a free loopback port and waits until it answers. Panics with the reason
    /// when it cannot (this is a test helper).
    pub fn start() -> MotoServer {
        let bin = moto_binary();
        let mut last_error = String::new();
        for _ in 0..3 {
            let port = free_port();
            let log = std::env::temp_dir().join(format!("moto-{port}.log"));
            let log_file = std::fs::File::create(&log).ok();
            let mut child = Command::new(&bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log_file.map(Stdio::from).unwrap_or_else(Stdio::null))
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            let endpoint = format!("http://127.0.0.1:{port}");
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(60) {
                if let Ok(Some(status)) = child.try_wait() {
                    last_error = format!("moto exited with {status} (log: {})", log.display());
                    break;
                }
                if ureq::get(&format!("{endpoint}/moto-api/")).call().is_ok() {
                    return MotoServer { child, endpoint };
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

fn moto_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let root = workspace_root();
    let venv = root.join(".venv/bin/moto_server");
    if venv.exists() {
        return venv;
    }
    panic!(
        "moto_server not found at {}: run `make venv` (or set MOTO_SERVER)",
        venv.display()
    );
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

/// A fixture as JSON, with its `time` replaced by `time` (services seeded in moto are created
/// "now", so a replayed notice must be published after them to be meaningful).
pub fn fixture_at(name: &str, time: DateTime<Utc>) -> serde_json::Value {
    let path = fixture_path(name);
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut value: serde_json::Value =
        serde_json::from_slice(&raw).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    value["time"] = serde_json::Value::String(time.to_rfc3339_opts(SecondsFormat::Millis, true));
    value
}

/// Seeds ECS state through the SDK, as a user's account would have it.
pub struct Seed {
    pub ecs: aws_sdk_ecs::Client,
}

impl Seed {
    pub async fn new(moto: &MotoServer) -> Seed {
        Seed {
            ecs: moto.ecs().await,
        }
    }

    pub async fn cluster(&self, name: &str) {
        self.ecs
            .create_cluster()
            .cluster_name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create cluster {name}: {e:?}"));
    }

    /// A Fargate task definition (container-level memory, as moto's RunTask needs).
    pub async fn task_definition(&self, family: &str) -> String {
        let out = self
            .ecs
            .register_task_definition()
            .family(family)
            .requires_compatibilities(Compatibility::Fargate)
            .network_mode(NetworkMode::Awsvpc)
            .cpu("256")
            .memory("512")
            .container_definitions(
                ContainerDefinition::builder()
                    .name("app")
                    .image("public.ecr.aws/nginx/nginx:latest")
                    .memory(512)
                    .essential(true)
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("register task definition {family}: {e:?}"));
        out.task_definition()
            .and_then(|t| t.task_definition_arn())
            .unwrap_or_default()
            .to_owned()
    }

    /// A Fargate service with the given deployment controller (`None`: the default, ECS).
    pub async fn service(
        &self,
        cluster: &str,
        name: &str,
        task_definition: &str,
        controller: Option<DeploymentControllerType>,
    ) {
        let mut req = self
            .ecs
            .create_service()
            .cluster(cluster)
            .service_name(name)
            .task_definition(task_definition)
            .desired_count(2)
            .launch_type(LaunchType::Fargate);
        if let Some(c) = controller {
            req = req.deployment_controller(
                DeploymentController::builder()
                    .r#type(c)
                    .build()
                    .unwrap_or_else(|e| panic!("controller: {e}")),
            );
        }
        req.send()
            .await
            .unwrap_or_else(|e| panic!("create service {cluster}/{name}: {e:?}"));
    }

    /// A cluster with rolling (controller ECS) services of one task definition; returns the
    /// task definition ARN.
    pub async fn rolling_services(&self, cluster: &str, names: &[&str]) -> String {
        self.cluster(cluster).await;
        let td = self.task_definition("web").await;
        for name in names {
            self.service(cluster, name, &td, None).await;
        }
        td
    }

    /// The id of the service's PRIMARY deployment, if any.
    pub async fn primary_deployment(&self, cluster: &str, name: &str) -> Option<String> {
        let out = self
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("describe {cluster}/{name}: {e:?}"));
        out.services()
            .first()?
            .deployments()
            .iter()
            .find(|d| d.status() == Some("PRIMARY"))
            .and_then(|d| d.id())
            .map(str::to_owned)
    }
}
