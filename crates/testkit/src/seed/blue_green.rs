//! Seeding a CODE_DEPLOY (blue/green) service: the service behind a load balancer, its
//! CodeDeploy application and deployment group, an earlier deployment with hooks, and the
//! PRIMARY task set that deployment created.

use aws_sdk_codedeploy::types::{
    AppSpecContent, ComputePlatform, DeploymentOption, DeploymentStyle, DeploymentType, EcsService,
    RevisionLocation, RevisionLocationType,
};
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, DeploymentController, DeploymentControllerType,
    LaunchType, LoadBalancer, NetworkConfiguration,
};

use super::{Network, Seed};
use crate::{ACCOUNT, REGION};

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

/// What a blue/green service's task sets run with.
struct Placement<'a> {
    cluster: &'a str,
    service: &'a str,
    task_definition: &'a str,
    network: NetworkConfiguration,
    load_balancer: LoadBalancer,
}

impl Seed {
    /// A CODE_DEPLOY service behind a load balancer (container `app`, port 8080), its
    /// CodeDeploy application and ECS deployment group, an earlier deployment whose revision is
    /// [`PREVIOUS_APPSPEC`], and the PRIMARY task set that deployment created.
    pub async fn blue_green_service(&self, cluster: &str, service: &str) -> BlueGreenFixture {
        let td = self.task_definition(&format!("{service}-td")).await;
        let net = self
            .network
            .clone()
            .unwrap_or_else(|| panic!("blue_green_service needs Seed::new(&moto)"));
        let placement = Placement {
            cluster,
            service,
            task_definition: &td,
            network: all_subnets(&net),
            load_balancer: LoadBalancer::builder()
                .target_group_arn(format!(
                    "arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/{service}-blue/0123456789abcdef"
                ))
                .container_name("app")
                .container_port(8080)
                .build(),
        };
        self.code_deploy_service(&placement).await;
        let (application, group) = self.deployment_group(cluster, service).await;
        let previous_deployment = self
            .appspec_deployment(&application, &group, PREVIOUS_APPSPEC)
            .await;
        let task_set_id = self
            .primary_task_set(&placement, &previous_deployment)
            .await;
        BlueGreenFixture {
            network: net,
            application,
            group,
            previous_deployment,
            task_definition: td,
            task_set_id,
        }
    }

    /// The ECS service, with the CODE_DEPLOY deployment controller.
    async fn code_deploy_service(&self, at: &Placement<'_>) {
        let (cluster, service) = (at.cluster, at.service);
        self.ecs
            .create_service()
            .cluster(cluster)
            .service_name(service)
            .task_definition(at.task_definition)
            .desired_count(2)
            .launch_type(LaunchType::Fargate)
            .load_balancers(at.load_balancer.clone())
            .network_configuration(at.network.clone())
            .deployment_controller(
                DeploymentController::builder()
                    .r#type(DeploymentControllerType::CodeDeploy)
                    .build()
                    .unwrap_or_else(|e| panic!("controller: {e}")),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("create service {cluster}/{service}: {e:?}"));
    }

    /// The CodeDeploy application (`{service}-app`) and its blue/green ECS deployment group
    /// (`{service}-dg`) naming the service.
    async fn deployment_group(&self, cluster: &str, service: &str) -> (String, String) {
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
        (application, group)
    }

    /// The task set `deployment` created, made PRIMARY; its id.
    async fn primary_task_set(&self, at: &Placement<'_>, deployment: &str) -> String {
        let (cluster, service) = (at.cluster, at.service);
        let out = self
            .ecs
            .create_task_set()
            .cluster(cluster)
            .service(service)
            .task_definition(at.task_definition)
            .external_id(deployment)
            .launch_type(LaunchType::Fargate)
            .platform_version("1.4.0")
            .network_configuration(at.network.clone())
            .load_balancers(at.load_balancer.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("create task set: {e:?}"));
        let task_set = out
            .task_set()
            .unwrap_or_else(|| panic!("no task set returned"));
        self.ecs
            .update_service_primary_task_set()
            .cluster(cluster)
            .service(service)
            .primary_task_set(task_set.task_set_arn().unwrap_or_default())
            .send()
            .await
            .unwrap_or_else(|e| panic!("primary task set: {e:?}"));
        task_set.id().unwrap_or_default().to_owned()
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
}

/// The awsvpc settings of a service spread over every subnet of the network.
fn all_subnets(net: &Network) -> NetworkConfiguration {
    NetworkConfiguration::builder()
        .awsvpc_configuration(
            AwsVpcConfiguration::builder()
                .set_subnets(Some(net.subnets.clone()))
                .security_groups(&net.security_group)
                .assign_public_ip(AssignPublicIp::Disabled)
                .build()
                .unwrap_or_else(|e| panic!("awsvpc: {e}")),
        )
        .build()
}
