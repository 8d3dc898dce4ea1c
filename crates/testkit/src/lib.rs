//! Test kit: a moto server on a free loopback port, SDK clients pointed at it, and seeding
//! helpers for clusters, task definitions and services.
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
use aws_sdk_codedeploy::types::{
    AppSpecContent, ComputePlatform, DeploymentOption, DeploymentStyle, DeploymentType, EcsService,
    RevisionLocation, RevisionLocationType,
};
use aws_sdk_ecs::config::Credentials;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, Compatibility, ContainerDefinition, ContainerOverride,
    DeploymentController, DeploymentControllerType, DesiredStatus, KeyValuePair, LaunchType,
    LoadBalancer, NetworkConfiguration, NetworkMode, Tag, TaskField, TaskOverride,
};
use chrono::{DateTime, Utc};

pub mod checks;
pub mod clock;
pub mod events;
pub mod fake_ecs;
pub mod fake_kube;
pub mod fault_proxy;
pub mod invocations;

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

    /// Moves a service's PRIMARY deployment on, as ECS would: `COMPLETED` (every task of it
    /// runs, the older deployments drained away), `FAILED` (the deployment circuit breaker), or
    /// `IN_PROGRESS`. A forced deployment in the test kit starts `IN_PROGRESS` with the previous
    /// deployment still `ACTIVE` and running, as in ECS.
    pub fn set_rollout(&self, cluster: &str, service: &str, state: &str) {
        self.control(&format!(
            "ecs-rollout {ACCOUNT} {REGION} {cluster} {service} {state}"
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

/// Seeds ECS and CodeDeploy state through the SDK, as a user's account would have it.
pub struct Seed {
    pub ecs: aws_sdk_ecs::Client,
    pub codedeploy: aws_sdk_codedeploy::Client,
    /// Real subnets and security group of the account, when seeding moto.
    pub network: Option<Network>,
}

/// Subnets and a security group that exist in moto's EC2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub subnets: Vec<String>,
    pub security_group: String,
}

impl Network {
    /// The awsvpc settings a task of this network runs with (first subnet, no public IP).
    pub fn awsvpc(&self) -> NetworkConfiguration {
        NetworkConfiguration::builder()
            .awsvpc_configuration(
                AwsVpcConfiguration::builder()
                    .subnets(&self.subnets[0])
                    .security_groups(&self.security_group)
                    .assign_public_ip(AssignPublicIp::Disabled)
                    .build()
                    .unwrap_or_else(|e| panic!("awsvpc: {e}")),
            )
            .build()
    }
}

/// What [`Seed::standalone_task`] launched it with.
#[derive(Debug, Clone)]
pub struct StandaloneTask {
    pub arn: String,
    pub id: String,
    pub task_definition: String,
    pub network: Network,
}

/// A blue/green service as [`Seed::blue_green_service`] made it.
#[derive(Debug, Clone)]
pub struct BlueGreenFixture {
    pub network: Network,
    pub application: String,
    pub group: String,
    /// The earlier CodeDeploy deployment that created the PRIMARY task set.
    pub previous_deployment: String,
    pub task_definition: String,
    pub task_set_id: String,
}

/// The AppSpec of the earlier release, as a user would have written it (YAML, with hooks).
pub const PREVIOUS_APPSPEC: &str = "version: 0.0
Resources:
  - TargetService:
      Type: AWS::ECS::Service
      Properties:
        TaskDefinition: \"<TASK_DEFINITION>\"
        LoadBalancerInfo:
          ContainerName: \"app\"
          ContainerPort: 8080
Hooks:
  - BeforeInstall: \"PreflightChecks\"
  - AfterAllowTestTraffic: \"arn:aws:lambda:us-east-1:123456789012:function:SmokeTests\"
";

impl Seed {
    pub async fn new(moto: &MotoServer) -> Seed {
        let sdk = moto.sdk_config().await;
        Seed {
            ecs: aws_sdk_ecs::Client::new(&sdk),
            codedeploy: aws_sdk_codedeploy::Client::new(&sdk),
            network: Some(moto.network()),
        }
    }

    /// A CODE_DEPLOY service behind a load balancer (container `app`, port 8080), its
    /// CodeDeploy application and ECS deployment group, an earlier deployment whose revision is
    /// [`PREVIOUS_APPSPEC`], and the PRIMARY task set that deployment created.
    pub async fn blue_green_service(&self, cluster: &str, service: &str) -> BlueGreenFixture {
        let td = self.task_definition(&format!("{service}-td")).await;
        let net = self
            .network
            .clone()
            .unwrap_or_else(|| panic!("blue_green_service needs Seed::new(&moto)"));
        let network = NetworkConfiguration::builder()
            .awsvpc_configuration(
                AwsVpcConfiguration::builder()
                    .set_subnets(Some(net.subnets.clone()))
                    .security_groups(&net.security_group)
                    .assign_public_ip(AssignPublicIp::Disabled)
                    .build()
                    .unwrap_or_else(|e| panic!("awsvpc: {e}")),
            )
            .build();
        let lb = LoadBalancer::builder()
            .target_group_arn(format!(
                "arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/{service}-blue/0123456789abcdef"
            ))
            .container_name("app")
            .container_port(8080)
            .build();
        self.ecs
            .create_service()
            .cluster(cluster)
            .service_name(service)
            .task_definition(&td)
            .desired_count(2)
            .launch_type(LaunchType::Fargate)
            .load_balancers(lb.clone())
            .network_configuration(network.clone())
            .deployment_controller(
                DeploymentController::builder()
                    .r#type(DeploymentControllerType::CodeDeploy)
                    .build()
                    .unwrap_or_else(|e| panic!("controller: {e}")),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("create service {cluster}/{service}: {e:?}"));

        let application = format!("{service}-app");
        let group = format!("{service}-dg");
        self.codedeploy
            .create_application()
            .application_name(&application)
            .compute_platform(ComputePlatform::Ecs)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create application: {e:?}"));
        self.codedeploy
            .create_deployment_group()
            .application_name(&application)
            .deployment_group_name(&group)
            .service_role_arn(format!("arn:aws:iam::{ACCOUNT}:role/CodeDeployECS"))
            .deployment_config_name("CodeDeployDefault.ECSAllAtOnce")
            .deployment_style(
                DeploymentStyle::builder()
                    .deployment_type(DeploymentType::BlueGreen)
                    .deployment_option(DeploymentOption::WithTrafficControl)
                    .build(),
            )
            .ecs_services(
                EcsService::builder()
                    .service_name(service)
                    .cluster_name(cluster)
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("create deployment group: {e:?}"));
        let previous_deployment = self
            .appspec_deployment(&application, &group, PREVIOUS_APPSPEC)
            .await;

        let task_set = self
            .ecs
            .create_task_set()
            .cluster(cluster)
            .service(service)
            .task_definition(&td)
            .external_id(&previous_deployment)
            .launch_type(LaunchType::Fargate)
            .platform_version("1.4.0")
            .network_configuration(network)
            .load_balancers(lb)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create task set: {e:?}"));
        let task_set = task_set
            .task_set()
            .unwrap_or_else(|| panic!("no task set returned"));
        let task_set_arn = task_set.task_set_arn().unwrap_or_default().to_owned();
        let task_set_id = task_set.id().unwrap_or_default().to_owned();
        self.ecs
            .update_service_primary_task_set()
            .cluster(cluster)
            .service(service)
            .primary_task_set(&task_set_arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("primary task set: {e:?}"));
        BlueGreenFixture {
            network: net,
            application,
            group,
            previous_deployment,
            task_definition: td,
            task_set_id,
        }
    }

    /// A standalone FARGATE task in `cluster`, launched as a user would: awsvpc network,
    /// container overrides, group, startedBy and tags.
    pub async fn standalone_task(
        &self,
        cluster: &str,
        family: &str,
        started_by: &str,
    ) -> StandaloneTask {
        let td = self.task_definition(family).await;
        let net = self
            .network
            .clone()
            .unwrap_or_else(|| panic!("standalone_task needs Seed::new(&moto)"));
        let out = self
            .ecs
            .run_task()
            .cluster(cluster)
            .task_definition(&td)
            .launch_type(LaunchType::Fargate)
            .platform_version("1.4.0")
            .network_configuration(net.awsvpc())
            .overrides(
                TaskOverride::builder()
                    .container_overrides(
                        ContainerOverride::builder()
                            .name("app")
                            .command("worker")
                            .command("--queue=payments")
                            .environment(
                                KeyValuePair::builder()
                                    .name("MODE")
                                    .value("drain-safe")
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .group("workers")
            .started_by(started_by)
            .tags(Tag::builder().key("team").value("payments").build())
            .tags(Tag::builder().key("cost-center").value("cc-42").build())
            .send()
            .await
            .unwrap_or_else(|e| panic!("run task: {e:?}"));
        let task = out
            .tasks()
            .first()
            .unwrap_or_else(|| panic!("RunTask started nothing: {out:?}"));
        let arn = task.task_arn().unwrap_or_default().to_owned();
        StandaloneTask {
            id: arn.rsplit('/').next().unwrap_or_default().to_owned(),
            arn,
            task_definition: td,
            network: net,
        }
    }

    /// A task of `service` in `cluster`, as the service's scheduler starts one (ECS sets its
    /// `group` to `service:NAME`), of task definition `td`; returns its ARN.
    pub async fn service_task(&self, cluster: &str, service: &str, td: &str) -> String {
        let net = self
            .network
            .clone()
            .unwrap_or_else(|| panic!("service_task needs Seed::new(&moto)"));
        let out = self
            .ecs
            .run_task()
            .cluster(cluster)
            .task_definition(td)
            .launch_type(LaunchType::Fargate)
            .group(format!("service:{service}"))
            .started_by(format!("ecs-svc/{service}"))
            .network_configuration(net.awsvpc())
            .send()
            .await
            .unwrap_or_else(|e| panic!("run task: {e:?}"));
        out.tasks()
            .first()
            .and_then(|t| t.task_arn())
            .unwrap_or_else(|| panic!("RunTask started nothing: {out:?}"))
            .to_owned()
    }

    /// Tasks of a cluster with the given desired status, described with tags.
    pub async fn tasks(
        &self,
        cluster: &str,
        desired: DesiredStatus,
    ) -> Vec<aws_sdk_ecs::types::Task> {
        let arns = self
            .ecs
            .list_tasks()
            .cluster(cluster)
            .desired_status(desired)
            .send()
            .await
            .unwrap_or_else(|e| panic!("list tasks: {e:?}"))
            .task_arns()
            .to_vec();
        if arns.is_empty() {
            return Vec::new();
        }
        self.ecs
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(arns))
            .include(TaskField::Tags)
            .send()
            .await
            .unwrap_or_else(|e| panic!("describe tasks: {e:?}"))
            .tasks()
            .to_vec()
    }

    /// A CodeDeploy deployment with AppSpec content; returns its id.
    pub async fn appspec_deployment(
        &self,
        application: &str,
        group: &str,
        content: &str,
    ) -> String {
        let out = self
            .codedeploy
            .create_deployment()
            .application_name(application)
            .deployment_group_name(group)
            .revision(
                RevisionLocation::builder()
                    .revision_type(RevisionLocationType::AppSpecContent)
                    .app_spec_content(AppSpecContent::builder().content(content).build())
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("create deployment: {e:?}"));
        out.deployment_id().unwrap_or_default().to_owned()
    }

    /// Every deployment of a group, any status.
    pub async fn codedeploy_deployments(&self, application: &str, group: &str) -> Vec<String> {
        self.codedeploy
            .list_deployments()
            .application_name(application)
            .deployment_group_name(group)
            .send()
            .await
            .unwrap_or_else(|e| panic!("list deployments: {e:?}"))
            .deployments()
            .to_vec()
    }

    /// The AppSpec content of a deployment's revision.
    pub async fn appspec_of(&self, deployment_id: &str) -> String {
        self.codedeploy
            .get_deployment()
            .deployment_id(deployment_id)
            .send()
            .await
            .unwrap_or_else(|e| panic!("get deployment: {e:?}"))
            .deployment_info()
            .and_then(|d| d.revision())
            .and_then(|r| r.app_spec_content())
            .and_then(|c| c.content())
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn cluster(&self, name: &str) {
        self.ecs
            .create_cluster()
            .cluster_name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create cluster {name}: {e:?}"));
    }

    /// Registers the EC2 instance `instance_id` as a container instance of `cluster` (as the ECS
    /// agent does on boot); its ARN.
    pub async fn container_instance(&self, cluster: &str, instance_id: &str) -> String {
        let document = serde_json::json!({
            "instanceId": instance_id, "region": REGION, "availabilityZone": "us-east-1a",
            "instanceType": "m5.large", "accountId": ACCOUNT,
        });
        let out = self
            .ecs
            .register_container_instance()
            .cluster(cluster)
            .instance_identity_document(document.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("register container instance {instance_id}: {e:?}"));
        out.container_instance()
            .and_then(|c| c.container_instance_arn())
            .unwrap_or_default()
            .to_owned()
    }

    /// A container instance's status and whether it carries `attribute`.
    pub async fn container_instance_state(
        &self,
        cluster: &str,
        arn: &str,
        attribute: &str,
    ) -> (String, bool) {
        let out = self
            .ecs
            .describe_container_instances()
            .cluster(cluster)
            .container_instances(arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("describe container instance {arn}: {e:?}"));
        let ci = out
            .container_instances()
            .first()
            .unwrap_or_else(|| panic!("no container instance {arn}"));
        (
            ci.status().unwrap_or_default().to_owned(),
            ci.attributes().iter().any(|a| a.name() == attribute),
        )
    }

    /// Sets a container instance's status, as an operator would.
    pub async fn set_container_instance_state(&self, cluster: &str, arn: &str, status: &str) {
        self.ecs
            .update_container_instances_state()
            .cluster(cluster)
            .container_instances(arn)
            .status(aws_sdk_ecs::types::ContainerInstanceStatus::from(status))
            .send()
            .await
            .unwrap_or_else(|e| panic!("update container instance {arn}: {e:?}"));
    }

    /// A standalone task of `family` on the cluster's EC2 capacity (bridge network), started by
    /// `started_by`; its ARN and the container instance it landed on.
    pub async fn ec2_task(
        &self,
        cluster: &str,
        family: &str,
        started_by: &str,
    ) -> (String, String) {
        let td = self
            .ecs
            .register_task_definition()
            .family(family)
            .requires_compatibilities(Compatibility::Ec2)
            .network_mode(NetworkMode::Bridge)
            .container_definitions(
                ContainerDefinition::builder()
                    .name("app")
                    .image("public.ecr.aws/nginx/nginx:latest")
                    .memory(256)
                    .cpu(128)
                    .essential(true)
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("register task definition {family}: {e:?}"));
        let arn = td
            .task_definition()
            .and_then(|t| t.task_definition_arn())
            .unwrap_or_default()
            .to_owned();
        let out = self
            .ecs
            .run_task()
            .cluster(cluster)
            .task_definition(&arn)
            .launch_type(LaunchType::Ec2)
            .started_by(started_by)
            .send()
            .await
            .unwrap_or_else(|e| panic!("run task: {e:?}"));
        let task = out
            .tasks()
            .first()
            .unwrap_or_else(|| panic!("RunTask placed nothing: {out:?}"));
        (
            task.task_arn().unwrap_or_default().to_owned(),
            task.container_instance_arn().unwrap_or_default().to_owned(),
        )
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

    /// A Fargate task definition whose only health check is on a non-essential sidecar
    /// (`log-router`); the essential container `app` has none. ECS derives a task's health from
    /// its essential containers only, so such a task's `healthStatus` stays `UNKNOWN` (the test
    /// kit's moto models that). Returns the task definition ARN.
    pub async fn task_definition_with_sidecar_health_check(&self, family: &str) -> String {
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
                    .memory(384)
                    .essential(true)
                    .build(),
            )
            .container_definitions(
                ContainerDefinition::builder()
                    .name("log-router")
                    .image("public.ecr.aws/aws-observability/aws-for-fluent-bit:stable")
                    .memory(128)
                    .essential(false)
                    .health_check(
                        aws_sdk_ecs::types::HealthCheck::builder()
                            .command("CMD-SHELL")
                            .command("exit 0")
                            .build()
                            .unwrap_or_else(|e| panic!("health check: {e}")),
                    )
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
