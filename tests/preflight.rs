//! The preflight against moto: each finding with a resource beside it that must not be flagged,
//! read only (nothing forced), and central mode across two member accounts.
// The futures nest the driver, the engine and the SDK calls deeply.
#![recursion_limit = "256"]

use aws_config::sts::AssumeRoleProvider;
use aws_config::SdkConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_ecs::types::{DeploymentController, DeploymentControllerType, LaunchType, SettingName};
use chrono::Utc;
use remediator_core::accounts::Accounts;
use remediator_core::names::{Code, Risk};
use remediator_core::preflight::ecs::Rules;
use remediator_core::preflight::{Preflight, Scopes};
use remediator_testkit::events::settings;
use remediator_testkit::fault_proxy::{Fault, FaultProxy};
use remediator_testkit::{MotoServer, Seed};

const HOME: &str = "123456789012";
const REGION: &str = "us-east-1";
const ROLE: &str = "retirement-remediator-member";

async fn preflight(
    moto: &MotoServer,
    accounts: Accounts,
    members: &[&str],
    rules: &Rules,
) -> Preflight {
    preflight_through(&moto.sdk_config().await, accounts, members, rules).await
}

/// [`preflight`] over `sdk` (moto behind the fault proxy).
async fn preflight_through(
    sdk: &SdkConfig,
    accounts: Accounts,
    members: &[&str],
    rules: &Rules,
) -> Preflight {
    let scopes = Scopes {
        members: members.iter().map(|m| (*m).to_owned()).collect(),
        organization: false,
        regions: vec![REGION.to_owned()],
        rules: rules.clone(),
        now: Utc::now(),
        read_by: None,
    };
    remediator_aws::preflight::run(sdk, settings(), accounts, &scopes).await
}

/// [`preflight_through`] the fault proxy: the home account alone, the default rules.
async fn home_preflight_via(proxy: &FaultProxy) -> Preflight {
    let sdk = proxy.sdk_config(std::time::Duration::from_secs(10)).await;
    preflight_through(&sdk, Accounts::default(), &[], &Rules::default()).await
}

/// The findings as (risk, resource), in the report's order.
fn flagged(p: &Preflight) -> Vec<(Risk, String)> {
    p.findings
        .iter()
        .map(|f| (f.risk, f.resource.clone()))
        .collect()
}

fn has(p: &Preflight, risk: Risk, resource: &str) -> bool {
    p.findings
        .iter()
        .any(|f| f.risk == risk && f.resource == resource)
}

fn flags_none_of(p: &Preflight, resource: &str) -> bool {
    !p.findings.iter().any(|f| f.resource == resource)
}

/// A Fargate service in `account` with this deployment configuration (set through the test
/// kit: moto's CreateService drops it).
#[allow(clippy::too_many_arguments)]
async fn service(
    moto: &MotoServer,
    seed: &Seed,
    account: &str,
    name: &str,
    td: &str,
    desired: i32,
    percents: (i32, i32),
    breaker: bool,
) {
    seed.ecs
        .create_service()
        .cluster("prod")
        .service_name(name)
        .task_definition(td)
        .desired_count(desired)
        .launch_type(LaunchType::Fargate)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create service {name}: {e:?}"));
    moto.set_deployment_configuration_in(account, "prod", name, percents, breaker);
}

#[tokio::test]
async fn each_risky_service_is_flagged_beside_one_with_room_and_nothing_is_forced() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.cluster("prod").await;
    let td = seed.task_definition("web").await;
    service(&moto, &seed, HOME, "web", &td, 2, (100, 200), true).await;
    service(&moto, &seed, HOME, "lonely", &td, 1, (0, 100), true).await;
    service(&moto, &seed, HOME, "tight", &td, 2, (100, 100), true).await;
    service(&moto, &seed, HOME, "nobreaker", &td, 2, (100, 200), false).await;
    seed.ecs
        .create_service()
        .cluster("prod")
        .service_name("ext")
        .desired_count(1)
        .deployment_controller(
            DeploymentController::builder()
                .r#type(DeploymentControllerType::External)
                .build()
                .unwrap_or_else(|e| panic!("{e}")),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("create external service: {e:?}"));
    let before = seed.primary_deployment("prod", "web").await;

    let p = preflight(&moto, Accounts::default(), &[], &Rules::default()).await;

    assert!(
        has(&p, Risk::OutageAtRetirement, "service prod/lonely"),
        "{:#?}",
        flagged(&p)
    );
    assert!(
        has(&p, Risk::NoRoomToReplace, "service prod/tight"),
        "{:#?}",
        flagged(&p)
    );
    assert!(
        has(&p, Risk::NoCircuitBreaker, "service prod/nobreaker"),
        "{:#?}",
        flagged(&p)
    );
    assert!(
        has(&p, Risk::ExternalController, "service prod/ext"),
        "{:#?}",
        flagged(&p)
    );
    assert!(flags_none_of(&p, "service prod/web"), "{:#?}", flagged(&p));
    let web = p
        .resources
        .iter()
        .find(|r| r.resource == "service prod/web");
    assert_eq!(
        web.map(|r| r.code),
        Some(Code::WouldForceNewDeployment),
        "{:#?}",
        p.resources
    );
    assert_eq!(p.exit_code(), 1, "high findings");
    assert_eq!(
        seed.primary_deployment("prod", "web").await,
        before,
        "read only: nothing forced"
    );
}

#[tokio::test]
async fn an_unowned_standalone_task_and_one_whose_role_is_not_passable_are_flagged_and_a_scheduled_one_is_not(
) {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.cluster("jobs").await;
    let mine = seed.standalone_task("jobs", "worker", "ops-console").await;
    let scheduled = seed
        .standalone_task("jobs", "nightly", "events-rule/nightly")
        .await;
    let rules = Rules {
        passable_roles: Some(vec!["someone-else".into()]),
        ..Rules::default()
    };

    let p = preflight(&moto, Accounts::default(), &[], &rules).await;

    let label = |t: &remediator_testkit::StandaloneTask| format!("task jobs/{}", t.id);
    assert!(
        has(&p, Risk::UnownedStandaloneTask, &label(&mine)),
        "{:#?}",
        flagged(&p)
    );
    assert!(
        !has(&p, Risk::UnownedStandaloneTask, &label(&scheduled)),
        "{:#?}",
        flagged(&p)
    );
    let owned = p.resources.iter().find(|r| r.resource == label(&scheduled));
    assert_eq!(
        owned.map(|r| r.code),
        Some(Code::OwnedByOrchestrator),
        "{:#?}",
        p.resources
    );
    // The seed's task definitions carry no roles: nothing to pass, nothing flagged.
    assert!(
        p.findings.iter().all(|f| f.risk != Risk::RoleNotPassable),
        "{:#?}",
        flagged(&p)
    );
}

#[tokio::test]
async fn a_retirement_wait_of_zero_is_flagged_and_the_default_is_not() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    let default = preflight(&moto, Accounts::default(), &[], &Rules::default()).await;
    seed.ecs
        .put_account_setting()
        .name(SettingName::FargateTaskRetirementWaitPeriod)
        .value("0")
        .send()
        .await
        .unwrap_or_else(|e| panic!("put account setting: {e:?}"));

    let zero = preflight(&moto, Accounts::default(), &[], &Rules::default()).await;

    assert!(
        !has(&default, Risk::RetirementWaitZero, "account settings"),
        "{:#?}",
        flagged(&default)
    );
    assert!(
        has(&zero, Risk::RetirementWaitZero, "account settings"),
        "{:#?}",
        flagged(&zero)
    );
}

#[tokio::test]
async fn a_cluster_that_cannot_be_read_is_its_own_finding_and_the_other_clusters_are_still_judged()
{
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    let td = seed.task_definition("web").await;
    for cluster in ["prod", "dev"] {
        seed.cluster(cluster).await;
        seed.ecs
            .create_service()
            .cluster(cluster)
            .service_name("lonely")
            .task_definition(&td)
            .desired_count(1)
            .launch_type(LaunchType::Fargate)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create service in {cluster}: {e:?}"));
        moto.set_deployment_configuration_in(HOME, cluster, "lonely", (0, 100), true);
    }
    let proxy = FaultProxy::start(moto.endpoint()).await;
    // IAM refuses the first cluster's listing (a policy scoped to some clusters only).
    proxy.inject("ListServices", Fault::AccessDenied, 1);

    let p = home_preflight_via(&proxy).await;

    let unreadable: Vec<&str> = p
        .findings
        .iter()
        .filter(|f| f.risk == Risk::MemberUnreadable)
        .map(|f| f.resource.as_str())
        .collect();
    assert_eq!(unreadable.len(), 1, "{:#?}", flagged(&p));
    let other = if unreadable[0] == "cluster prod" {
        "dev"
    } else {
        "prod"
    };
    assert!(
        has(
            &p,
            Risk::OutageAtRetirement,
            &format!("service {other}/lonely")
        ),
        "{:#?}",
        flagged(&p)
    );
    assert_eq!(p.exit_code(), 1);
}

#[tokio::test]
async fn a_scope_left_unread_when_the_invocation_runs_out_of_time_is_a_finding_not_a_gap() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.cluster("prod").await;
    let td = seed.task_definition("web").await;
    service(&moto, &seed, HOME, "lonely", &td, 1, (0, 100), true).await;
    let scopes = Scopes {
        members: Vec::new(),
        organization: false,
        regions: vec![REGION.to_owned()],
        rules: Rules::default(),
        now: Utc::now(),
        read_by: Some(tokio::time::Instant::now()),
    };

    let p = remediator_aws::preflight::run(
        &moto.sdk_config().await,
        settings(),
        Accounts::default(),
        &scopes,
    )
    .await;

    assert_eq!(
        flagged(&p),
        vec![(Risk::MemberUnreadable, format!("account {HOME}"))]
    );
    assert!(
        p.findings[0].why.contains("ran out of time"),
        "{}",
        p.findings[0].why
    );
    assert_eq!(p.exit_code(), 1, "an unread scope is not a clean bill");
}

#[tokio::test]
async fn a_cluster_with_one_active_instance_is_flagged_and_one_with_two_is_not() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.cluster("alone").await;
    seed.cluster("pair").await;
    for cluster in ["alone", "pair", "pair"] {
        host(&moto, &seed, cluster).await;
    }

    let p = preflight(&moto, Accounts::default(), &[], &Rules::default()).await;

    assert!(
        has(&p, Risk::SingleInstanceCluster, "cluster alone"),
        "{:#?}",
        flagged(&p)
    );
    assert!(flags_none_of(&p, "cluster pair"), "{:#?}", flagged(&p));
    let planned: Vec<Code> = p
        .resources
        .iter()
        .filter(|r| r.resource.starts_with("instance"))
        .map(|r| r.code)
        .collect();
    assert_eq!(
        planned.len(),
        3,
        "each container instance planned: {:#?}",
        p.resources
    );
}

/// An EC2 instance (moto registers only instances that exist), registered as a container
/// instance of `cluster`.
async fn host(moto: &MotoServer, seed: &Seed, cluster: &str) {
    let ec2 = aws_sdk_ec2::Client::new(&moto.sdk_config().await);
    let out = ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .instance_type(aws_sdk_ec2::types::InstanceType::M5Large)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap_or_else(|e| panic!("run instances: {e:?}"));
    let id = out
        .instances()
        .first()
        .and_then(|i| i.instance_id())
        .unwrap_or_default()
        .to_owned();
    seed.container_instance(cluster, &id).await;
}

/// Credentials of `account`, as a member role there gives them.
async fn in_account(base: &SdkConfig, account: &str) -> SdkConfig {
    let provider = AssumeRoleProvider::builder(format!("arn:aws:iam::{account}:role/{ROLE}"))
        .session_name("seed")
        .configure(base)
        .build()
        .await;
    base.to_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build()
}

/// A seed of `account`'s resources, through the member role there.
async fn member_seed(moto: &MotoServer, account: &str) -> Seed {
    let sdk = in_account(&moto.sdk_config().await, account).await;
    Seed {
        ecs: aws_sdk_ecs::Client::new(&sdk),
        codedeploy: aws_sdk_codedeploy::Client::new(&sdk),
        network: None,
    }
}

#[tokio::test]
async fn central_mode_reads_each_member_account_through_its_role_and_leaves_an_excluded_one_out() {
    let moto = MotoServer::start();
    let (a, b) = ("111111111111", "222222222222");
    for (account, desired_min) in [(a, 0), (b, 100)] {
        let member = member_seed(&moto, account).await;
        member.cluster("prod").await;
        let td = member.task_definition("web").await;
        service(
            &moto,
            &member,
            account,
            "web",
            &td,
            1,
            (desired_min, 200),
            true,
        )
        .await;
    }
    let accounts = Accounts {
        member_role: Some(ROLE.to_owned()),
        include: vec![HOME.to_owned(), a.to_owned(), b.to_owned()],
        ..Accounts::default()
    };

    let p = preflight(&moto, accounts, &[a, b, "333333333333"], &Rules::default()).await;

    let in_a: Vec<_> = p
        .findings
        .iter()
        .filter(|f| f.account == a)
        .map(|f| (f.risk, f.resource.clone()))
        .collect();
    assert_eq!(
        in_a,
        vec![(Risk::OutageAtRetirement, "service prod/web".to_owned())],
        "{:#?}",
        flagged(&p)
    );
    assert!(
        p.findings
            .iter()
            .all(|f| f.account != b || f.risk == Risk::NoCircuitBreaker),
        "{:#?}",
        flagged(&p)
    );
    assert!(
        p.resources
            .iter()
            .any(|r| r.account == b && r.code == Code::WouldForceNewDeployment),
        "{:#?}",
        p.resources
    );
    // Left out by ACCOUNTS_INCLUDE on purpose: neither read nor reported as unreadable.
    assert!(
        p.findings.iter().all(|f| f.account != "333333333333"),
        "{:#?}",
        flagged(&p)
    );
    assert_eq!(p.summary.scopes, 3, "home and the two members included");
}

/// A member account created in moto's organization, with a cluster `prod` and one service
/// `web` of `desired` tasks at `min`% (an outage at each retirement when 1 at 0%).
async fn organization_member(moto: &MotoServer, name: &str, min: i32) -> String {
    let org = aws_sdk_organizations::Client::new(&moto.sdk_config().await);
    let created = org
        .create_account()
        .account_name(name)
        .email(format!("{name}@example.com"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("create account: {e:?}"));
    let id = created
        .create_account_status()
        .and_then(|s| s.account_id())
        .unwrap_or_default()
        .to_owned();
    let member = member_seed(moto, &id).await;
    member.cluster("prod").await;
    let td = member.task_definition("web").await;
    service(moto, &member, &id, "web", &td, 1, (min, 200), true).await;
    id
}

/// [`preflight`] with the organization's accounts as members (`ORGANIZATION_ACCOUNTS=on`).
async fn organization_preflight(sdk: &SdkConfig, accounts: Accounts) -> Preflight {
    let scopes = Scopes {
        members: Vec::new(),
        organization: true,
        regions: vec![REGION.to_owned()],
        rules: Rules::default(),
        now: Utc::now(),
        read_by: None,
    };
    remediator_aws::preflight::run(sdk, settings(), accounts, &scopes).await
}

#[tokio::test]
async fn with_organization_accounts_on_every_active_account_is_read_and_closed_or_excluded_ones_are_not(
) {
    let moto = MotoServer::start();
    let org = aws_sdk_organizations::Client::new(&moto.sdk_config().await);
    org.create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create organization: {e:?}"));
    let risky = organization_member(&moto, "risky", 0).await;
    let fine = organization_member(&moto, "fine", 100).await;
    let excluded = organization_member(&moto, "excluded", 0).await;
    let closed = organization_member(&moto, "closed", 0).await;
    org.close_account()
        .account_id(&closed)
        .send()
        .await
        .unwrap_or_else(|e| panic!("close account: {e:?}"));
    let accounts = Accounts {
        member_role: Some(ROLE.to_owned()),
        exclude: vec![excluded.clone()],
        ..Accounts::default()
    };

    let p = organization_preflight(&moto.sdk_config().await, accounts).await;

    let outages: Vec<_> = p
        .findings
        .iter()
        .filter(|f| f.risk == Risk::OutageAtRetirement)
        .map(|f| f.account.clone())
        .collect();
    assert_eq!(outages, vec![risky.clone()], "{:#?}", flagged(&p));
    assert!(
        p.resources
            .iter()
            .any(|r| r.account == fine && r.code == Code::WouldForceNewDeployment),
        "the fine member was read: {:#?}",
        p.resources
    );
    let left_out = |account: &String| account == &excluded || account == &closed;
    assert!(
        !p.findings.iter().any(|f| left_out(&f.account))
            && !p.resources.iter().any(|r| left_out(&r.account)),
        "neither the excluded nor the closed account is read or reported: {:#?}",
        flagged(&p)
    );
    assert_eq!(
        p.summary.scopes, 3,
        "the management account (listed and home, read once) and the two active members"
    );
}

#[tokio::test]
async fn organization_accounts_that_cannot_be_listed_are_a_finding_and_the_home_account_is_still_read(
) {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.cluster("prod").await;
    let td = seed.task_definition("web").await;
    service(&moto, &seed, HOME, "lonely", &td, 1, (0, 100), true).await;
    let accounts = Accounts {
        member_role: Some(ROLE.to_owned()),
        ..Accounts::default()
    };

    // AWS refuses ListAccounts to an account that is neither the management account nor a
    // delegated administrator (moto lists whatever it holds): the fault proxy refuses it.
    let proxy = FaultProxy::start(moto.endpoint()).await;
    proxy.inject("ListAccounts", Fault::AccessDenied, 1);
    let p = organization_preflight(
        &proxy.sdk_config(std::time::Duration::from_secs(10)).await,
        accounts,
    )
    .await;

    assert!(
        has(&p, Risk::MemberUnreadable, "organization"),
        "{:#?}",
        flagged(&p)
    );
    assert!(
        has(&p, Risk::OutageAtRetirement, "service prod/lonely"),
        "{:#?}",
        flagged(&p)
    );
    assert_eq!(p.exit_code(), 1);
}

#[tokio::test]
async fn each_service_is_described_once_for_the_rules_and_the_planner_alike() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    let td = seed.task_definition("web").await;
    seed.cluster("prod").await;
    let services: Vec<String> = (0..25).map(|i| format!("svc-{i:02}")).collect();
    for name in &services {
        seed.ecs
            .create_service()
            .cluster("prod")
            .service_name(name)
            .task_definition(&td)
            .desired_count(2)
            .launch_type(LaunchType::Fargate)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create service {name}: {e:?}"));
    }
    let proxy = FaultProxy::start(moto.endpoint()).await;

    let p = home_preflight_via(&proxy).await;

    for name in &services {
        let resource = format!("service prod/{name}");
        assert!(
            p.resources.iter().any(|r| r.resource == resource),
            "{resource} not planned: {:#?}",
            p.resources
        );
    }
    // 25 services, 10 a call: 3 calls read them all, and the planner's dry run reads none again.
    assert_eq!(proxy.forwarded("DescribeServices"), 3);
    assert_eq!(proxy.forwarded("UpdateService"), 0);
}
