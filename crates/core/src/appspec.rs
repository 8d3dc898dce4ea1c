//! The CodeDeploy AppSpec for an ECS blue/green redeploy, generated with serde.
//!
//! The document re-deploys exactly what runs now (AWS CodeDeploy AppSpec reference, "AppSpec
//! 'resources' section for Amazon ECS deployments" and "'hooks' section for an Amazon ECS
//! deployment"):
//!
//! ```json
//! { "version": 0.0,
//!   "Resources": [{ "TargetService": { "Type": "AWS::ECS::Service", "Properties": {
//!       "TaskDefinition": "arn:aws:ecs:…:task-definition/web:42",
//!       "LoadBalancerInfo": { "ContainerName": "web", "ContainerPort": 8080 },
//!       "PlatformVersion": "1.4.0",
//!       "NetworkConfiguration": { "AwsvpcConfiguration": {
//!           "Subnets": ["subnet-1"], "SecurityGroups": ["sg-1"], "AssignPublicIp": "DISABLED" } },
//!       "CapacityProviderStrategy": [{ "CapacityProvider": "FARGATE", "Weight": 1, "Base": 0 }] } } }],
//!   "Hooks": [{ "BeforeAllowTraffic": "ValidateBeforeTraffic" }] }
//! ```
//!
//! JSON is valid AppSpec content (CodeDeploy accepts YAML or JSON), and previous revisions are
//! read as YAML, which covers both.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ports::{AwsVpc, BlueGreenSpec, CapacityProviderItem};

/// A whole AppSpec document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppSpec {
    /// Always `0.0`.
    pub version: f64,
    #[serde(rename = "Resources")]
    pub resources: Vec<Resource>,
    #[serde(rename = "Hooks", default, skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    #[serde(rename = "TargetService")]
    pub target_service: TargetService,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetService {
    /// Always `AWS::ECS::Service`.
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Properties")]
    pub properties: Properties,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Properties {
    pub task_definition: String,
    pub load_balancer_info: LoadBalancerInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<NetworkConfiguration>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capacity_provider_strategy: Vec<CapacityProvider>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoadBalancerInfo {
    pub container_name: String,
    pub container_port: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkConfiguration {
    pub awsvpc_configuration: AwsvpcConfiguration,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AwsvpcConfiguration {
    pub subnets: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assign_public_ip: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CapacityProvider {
    pub capacity_provider: String,
    #[serde(default)]
    pub weight: i32,
    #[serde(default)]
    pub base: i32,
}

/// Why no AppSpec can be built from what the service shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppSpecError {
    #[error("the service has no PRIMARY task set, so the running task definition is unknown")]
    NoPrimaryTaskSet,
    #[error(
        "the service has no load balancer container name/port for CodeDeploy to shift traffic to"
    )]
    NoLoadBalancer,
}

/// The AppSpec that re-deploys what the PRIMARY task set runs, with `hooks` carried over.
pub fn build(
    spec: &BlueGreenSpec,
    hooks: Vec<BTreeMap<String, String>>,
) -> Result<AppSpec, AppSpecError> {
    let task_set = spec
        .primary_task_set
        .as_ref()
        .ok_or(AppSpecError::NoPrimaryTaskSet)?;
    let lb = spec
        .load_balancers
        .iter()
        .find_map(|lb| Some((lb.container_name.clone()?, lb.container_port?)))
        .ok_or(AppSpecError::NoLoadBalancer)?;
    let network = task_set.network.as_ref().or(spec.network.as_ref());
    let strategy = if task_set.capacity_provider_strategy.is_empty() {
        &spec.capacity_provider_strategy
    } else {
        &task_set.capacity_provider_strategy
    };
    Ok(AppSpec {
        version: 0.0,
        resources: vec![Resource {
            target_service: TargetService {
                kind: "AWS::ECS::Service".into(),
                properties: Properties {
                    task_definition: task_set.task_definition.clone(),
                    load_balancer_info: LoadBalancerInfo {
                        container_name: lb.0,
                        container_port: lb.1,
                    },
                    platform_version: task_set
                        .platform_version
                        .clone()
                        .or_else(|| spec.platform_version.clone()),
                    network_configuration: network.map(awsvpc),
                    capacity_provider_strategy: strategy.iter().map(capacity_provider).collect(),
                },
            },
        }],
        hooks,
    })
}

fn awsvpc(n: &AwsVpc) -> NetworkConfiguration {
    NetworkConfiguration {
        awsvpc_configuration: AwsvpcConfiguration {
            subnets: n.subnets.clone(),
            security_groups: n.security_groups.clone(),
            assign_public_ip: n.assign_public_ip.clone(),
        },
    }
}

fn capacity_provider(c: &CapacityProviderItem) -> CapacityProvider {
    CapacityProvider {
        capacity_provider: c.provider.clone(),
        weight: c.weight,
        base: c.base,
    }
}

impl AppSpec {
    /// The content to send, as JSON.
    pub fn to_content(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }
}

/// Lower-case hex SHA-256 of the content, as `CreateDeployment`'s `appSpecContent.sha256`.
pub fn sha256_hex(content: &str) -> String {
    Sha256::digest(content.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The `Hooks` of a previous revision's AppSpec content (YAML or JSON). `None` when the content
/// is not a readable AppSpec; an AppSpec without hooks gives `Some(vec![])`.
pub fn hooks_of(content: &str) -> Option<Vec<BTreeMap<String, String>>> {
    #[derive(Deserialize)]
    struct OnlyHooks {
        #[serde(rename = "Hooks", default)]
        hooks: Option<Vec<BTreeMap<String, String>>>,
        #[serde(rename = "Resources")]
        _resources: serde_norway::Value,
    }
    serde_norway::from_str::<OnlyHooks>(content)
        .ok()
        .map(|d| d.hooks.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{LoadBalancerTarget, TaskSetInfo};

    fn spec() -> BlueGreenSpec {
        BlueGreenSpec {
            primary_task_set: Some(TaskSetInfo {
                id: "ecs-svc/1".into(),
                external_id: Some("d-PREVIOUS".into()),
                task_definition: "arn:aws:ecs:us-east-1:123456789012:task-definition/web:42".into(),
                platform_version: Some("1.4.0".into()),
                network: Some(AwsVpc {
                    subnets: vec!["subnet-a".into(), "subnet-b".into()],
                    security_groups: vec!["sg-1".into()],
                    assign_public_ip: Some("DISABLED".into()),
                }),
                capacity_provider_strategy: vec![CapacityProviderItem {
                    provider: "FARGATE_SPOT".into(),
                    weight: 3,
                    base: 1,
                }],
            }),
            load_balancers: vec![LoadBalancerTarget {
                container_name: Some("web".into()),
                container_port: Some(8080),
            }],
            platform_version: Some("LATEST".into()),
            network: None,
            capacity_provider_strategy: vec![],
        }
    }

    fn hook(event: &str, function: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(event.to_owned(), function.to_owned())])
    }

    #[test]
    fn the_generated_appspec_parses_back_as_yaml_with_every_field() {
        let hooks = vec![
            hook("BeforeInstall", "PreFlight"),
            hook("AfterAllowTestTraffic", "Smoke"),
        ];
        let content = build(&spec(), hooks.clone())
            .expect("spec")
            .to_content()
            .expect("json");

        let parsed: AppSpec = serde_norway::from_str(&content).expect("valid YAML");
        let json: serde_json::Value = serde_json::from_str(&content).expect("valid JSON");

        assert_eq!(json["version"], serde_json::json!(0.0));
        assert_eq!(parsed.hooks, hooks);
        let p = &parsed.resources[0].target_service.properties;
        assert_eq!(parsed.resources[0].target_service.kind, "AWS::ECS::Service");
        assert_eq!(
            p.task_definition,
            "arn:aws:ecs:us-east-1:123456789012:task-definition/web:42"
        );
        assert_eq!(
            p.load_balancer_info,
            LoadBalancerInfo {
                container_name: "web".into(),
                container_port: 8080
            }
        );
        assert_eq!(
            p.platform_version.as_deref(),
            Some("1.4.0"),
            "the task set's platform version wins"
        );
        let vpc = &p
            .network_configuration
            .as_ref()
            .expect("network")
            .awsvpc_configuration;
        assert_eq!(vpc.subnets, vec!["subnet-a", "subnet-b"]);
        assert_eq!(vpc.security_groups, vec!["sg-1"]);
        assert_eq!(vpc.assign_public_ip.as_deref(), Some("DISABLED"));
        assert_eq!(
            p.capacity_provider_strategy,
            vec![CapacityProvider {
                capacity_provider: "FARGATE_SPOT".into(),
                weight: 3,
                base: 1
            }]
        );
        assert_eq!(
            json["Resources"][0]["TargetService"]["Properties"]["NetworkConfiguration"]
                ["AwsvpcConfiguration"]["AssignPublicIp"],
            "DISABLED"
        );
    }

    #[test]
    fn optional_sections_are_left_out_rather_than_sent_empty() {
        let mut s = spec();
        if let Some(ts) = s.primary_task_set.as_mut() {
            ts.network = None;
            ts.platform_version = None;
            ts.capacity_provider_strategy.clear();
        }
        s.platform_version = None;
        let content = build(&s, vec![]).expect("spec").to_content().expect("json");
        let json: serde_json::Value = serde_json::from_str(&content).expect("json");
        let props = &json["Resources"][0]["TargetService"]["Properties"];
        for absent in [
            "NetworkConfiguration",
            "PlatformVersion",
            "CapacityProviderStrategy",
        ] {
            assert!(props.get(absent).is_none(), "{absent} in {props}");
        }
        assert!(json.get("Hooks").is_none());
    }

    #[test]
    fn without_a_primary_task_set_or_load_balancer_no_appspec_is_built() {
        let mut s = spec();
        s.load_balancers.clear();
        assert_eq!(build(&s, vec![]), Err(AppSpecError::NoLoadBalancer));
        s.primary_task_set = None;
        assert_eq!(build(&s, vec![]), Err(AppSpecError::NoPrimaryTaskSet));
    }

    #[test]
    fn hooks_are_read_from_yaml_and_json_revisions() {
        let yaml = "version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties:\n        TaskDefinition: x\n        LoadBalancerInfo:\n          ContainerName: web\n          ContainerPort: 80\nHooks:\n  - BeforeInstall: \"LambdaBefore\"\n  - AfterAllowTraffic: arn:aws:lambda:us-east-1:123456789012:function:After\n";
        assert_eq!(
            hooks_of(yaml),
            Some(vec![
                hook("BeforeInstall", "LambdaBefore"),
                hook(
                    "AfterAllowTraffic",
                    "arn:aws:lambda:us-east-1:123456789012:function:After"
                )
            ])
        );
        let json = r#"{"version":0.0,"Resources":[{"TargetService":{"Type":"AWS::ECS::Service"}}],"Hooks":[{"BeforeAllowTraffic":"Check"}]}"#;
        assert_eq!(
            hooks_of(json),
            Some(vec![hook("BeforeAllowTraffic", "Check")])
        );
        assert_eq!(hooks_of(r#"{"version":0.0,"Resources":[]}"#), Some(vec![]));
        assert_eq!(hooks_of("not: [an appspec"), None);
    }

    #[test]
    fn the_sha256_is_lower_case_hex_of_the_content() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
