//! Seeding: ECS, CodeDeploy and EC2 state through the SDK, as a user's account would have it.

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, Compatibility, ContainerDefinition, ContainerOverride,
    DeploymentController, DeploymentControllerType, DesiredStatus, KeyValuePair, LaunchType,
    NetworkConfiguration, NetworkMode, Tag, TaskField, TaskOverride,
};

use crate::{MotoServer, ACCOUNT, REGION};

mod blue_green;
pub use blue_green::{BlueGreenFixture, PREVIOUS_APPSPEC};

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

impl Seed {
    pub async fn new(moto: &MotoServer) -> Seed {
        let sdk = moto.sdk_config().await;
        Seed {
            ecs: aws_sdk_ecs::Client::new(&sdk),
            codedeploy: aws_sdk_codedeploy::Client::new(&sdk),
            network: Some(moto.network()),
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
        self.fargate_task_definition(family, vec![app_container(512)])
            .await
    }

    /// A Fargate task definition whose only health check is on a non-essential sidecar
    /// (`log-router`); the essential container `app` has none. ECS derives a task's health from
    /// its essential containers only, so such a task's `healthStatus` stays `UNKNOWN` (the test
    /// kit's moto models that). Returns the task definition ARN.
    pub async fn task_definition_with_sidecar_health_check(&self, family: &str) -> String {
        let sidecar = ContainerDefinition::builder()
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
            .build();
        self.fargate_task_definition(family, vec![app_container(384), sidecar])
            .await
    }

    /// Registers a Fargate task definition (awsvpc, 256 CPU, 512 MiB) of these containers.
    async fn fargate_task_definition(
        &self,
        family: &str,
        containers: Vec<ContainerDefinition>,
    ) -> String {
        let out = self
            .ecs
            .register_task_definition()
            .family(family)
            .requires_compatibilities(Compatibility::Fargate)
            .network_mode(NetworkMode::Awsvpc)
            .cpu("256")
            .memory("512")
            .set_container_definitions(Some(containers))
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

/// The essential container `app` (nginx) with `memory` MiB.
fn app_container(memory: i32) -> ContainerDefinition {
    ContainerDefinition::builder()
        .name("app")
        .image("public.ecr.aws/nginx/nginx:latest")
        .memory(memory)
        .essential(true)
        .build()
}
