//! The trust boundary on moto with two and three accounts: a notice acts only where it points.
//! A resource whose own ARN names another account or Region is acted on nowhere and reported
//! with both places; a function that cannot learn its own account acts nowhere (retryable).
// The futures nest the driver, the engine and the SDK calls deeply.
#![recursion_limit = "256"]

use aws_config::sts::AssumeRoleProvider;
use aws_config::SdkConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use remediator_core::accounts::Accounts;
use remediator_core::{Code, Report, Status};
use remediator_lambda::handle_with;
use remediator_testkit::events::{controls_over, invocation, ledger_table, said, settings};
use remediator_testkit::fault_proxy::{Fault, FaultProxy};
use remediator_testkit::notice::Notice;
use remediator_testkit::{MotoServer, Seed};
use serde_json::{json, Value};

const TABLE: &str = "retirement-ledger";
const HOME: &str = "123456789012";
const MEMBER: &str = "210987654321";
const THIRD: &str = "333333333333";
const ROLE: &str = "retirement-remediator-member";

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

/// `payments/api` in each of `accounts` (the first is the home account's, credentials as given).
async fn same_service_in(moto: &MotoServer, accounts: &[&str]) -> Vec<Seed> {
    let base = moto.sdk_config().await;
    let mut seeds = Vec::new();
    for account in accounts {
        let sdk = if *account == HOME {
            base.clone()
        } else {
            in_account(&base, account).await
        };
        let seed = Seed {
            ecs: aws_sdk_ecs::Client::new(&sdk),
            codedeploy: aws_sdk_codedeploy::Client::new(&sdk),
            network: None,
        };
        seed.rolling_services("payments", &["api"]).await;
        seeds.push(seed);
    }
    seeds
}

fn central_mode() -> Accounts {
    Accounts {
        member_role: Some(ROLE.into()),
        ..Accounts::default()
    }
}

async fn deliver(sdk: &SdkConfig, accounts: Accounts, event: Value) -> Result<Report, String> {
    let controls = controls_over(sdk, &[("LEDGER_TABLE", TABLE)]);
    let central = remediator_aws::central(
        sdk,
        settings(),
        accounts,
        std::sync::Arc::new(remediator_core::pacing::MemoryBudget::default()),
    );
    handle_with(
        &central,
        &controls,
        invocation(event),
        remediator_testkit::clock::now(),
    )
    .await
    .map_err(|e| e.to_string())
}

async fn primaries(seeds: &[Seed]) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for seed in seeds {
        out.push(seed.primary_deployment("payments", "api").await);
    }
    out
}

#[tokio::test]
async fn a_service_arn_of_another_account_leaves_the_same_named_service_here_untouched() {
    let moto = MotoServer::start();
    let seeds = same_service_in(&moto, &[HOME, MEMBER]).await;
    ledger_table(&moto, TABLE).await;
    let before = primaries(&seeds).await;
    let arn = format!("arn:aws:ecs:us-east-1:{MEMBER}:service/payments/api");

    let report = deliver(
        &moto.sdk_config().await,
        Accounts::default(),
        Notice::ecs().naming(&[&arn]).build(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(primaries(&seeds).await, before, "forced in neither account");
    let o = &report.outcomes[0];
    assert_eq!(
        (o.status, o.code),
        (Status::Skipped, Code::OtherAccount),
        "{o:?}"
    );
    assert!(
        o.reason.contains(MEMBER) && o.reason.contains(HOME),
        "both accounts named: {}",
        o.reason
    );
    assert!(o.target.to_string().contains(MEMBER), "{}", o.target);
}

#[tokio::test]
async fn a_third_accounts_arn_inside_a_members_notice_acts_nowhere_and_names_both_accounts() {
    let moto = MotoServer::start();
    let seeds = same_service_in(&moto, &[HOME, MEMBER, THIRD]).await;
    ledger_table(&moto, TABLE).await;
    let before = primaries(&seeds).await;
    let arn = format!("arn:aws:ecs:us-east-1:{THIRD}:service/payments/api");
    let event = Notice::ecs()
        .naming(&[&arn])
        .account(HOME)
        .affected_account(MEMBER)
        .build();

    let report = deliver(&moto.sdk_config().await, central_mode(), event)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(
        primaries(&seeds).await,
        before,
        "forced in none of the three"
    );
    let o = &report.outcomes[0];
    assert_eq!(
        (o.status, o.code),
        (Status::Skipped, Code::OtherAccount),
        "{o:?}"
    );
    assert!(
        o.reason.contains(THIRD) && o.reason.contains(MEMBER),
        "{}",
        o.reason
    );
}

#[tokio::test]
async fn a_members_own_service_arn_in_its_notice_is_forced_there_only() {
    let moto = MotoServer::start();
    let seeds = same_service_in(&moto, &[HOME, MEMBER]).await;
    ledger_table(&moto, TABLE).await;
    let before = primaries(&seeds).await;
    let arn = format!("arn:aws:ecs:us-east-1:{MEMBER}:service/payments/api");
    let event = Notice::ecs()
        .naming(&[&arn])
        .account(HOME)
        .affected_account(MEMBER)
        .build();

    let report = deliver(&moto.sdk_config().await, central_mode(), event)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let after = primaries(&seeds).await;
    assert_eq!(after[0], before[0], "home untouched");
    assert_ne!(after[1], before[1], "the member's service forced");
    assert_eq!(report.outcomes[0].code, Code::ForcedNewDeployment);
}

#[tokio::test]
async fn a_task_arn_of_another_region_is_reported_other_region_never_gone() {
    let moto = MotoServer::start();
    ledger_table(&moto, TABLE).await;
    let task = format!("arn:aws:ecs:eu-west-1:{HOME}:task/prod/0123456789abcdef0123456789abcdef");

    let report = deliver(
        &moto.sdk_config().await,
        Accounts::default(),
        Notice::ecs().naming(&[&task]).build(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    let o = &report.outcomes[0];
    assert_eq!(
        (o.status, o.code),
        (Status::Skipped, Code::OtherRegion),
        "{o:?}"
    );
    assert!(
        o.reason.contains("eu-west-1") && o.reason.contains("us-east-1"),
        "{}",
        o.reason
    );
}

#[tokio::test]
async fn without_its_own_account_a_forwarded_member_notice_acts_nowhere_until_sts_answers() {
    let moto = MotoServer::start();
    let seeds = same_service_in(&moto, &[HOME, MEMBER]).await;
    ledger_table(&moto, TABLE).await;
    let before = primaries(&seeds).await;
    let proxy = FaultProxy::start(moto.endpoint()).await;
    proxy.inject("GetCallerIdentity", Fault::ServerError, 100);
    let sdk = proxy.sdk_config(std::time::Duration::from_secs(5)).await;
    let controls = controls_over(&sdk, &[("LEDGER_TABLE", TABLE)]);
    let central = remediator_aws::central(
        &sdk,
        settings(),
        central_mode(),
        std::sync::Arc::new(remediator_core::pacing::MemoryBudget::default()),
    );
    // Forwarded from the member's bus: the member's `account`, no affectedAccount.
    let event = Notice::ecs()
        .naming(&["payments|api"])
        .account(MEMBER)
        .build();

    let first = handle_with(
        &central,
        &controls,
        invocation(event.clone()),
        remediator_testkit::clock::now(),
    )
    .await;

    assert!(first.is_err(), "a retryable failure fails the invocation");
    assert_eq!(primaries(&seeds).await, before, "nothing forced anywhere");
    let asked = proxy.seen("GetCallerIdentity");
    assert!(asked >= 1);

    proxy.clear("GetCallerIdentity");
    let second = handle_with(
        &central,
        &controls,
        invocation(event),
        remediator_testkit::clock::now(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    assert!(
        proxy.seen("GetCallerIdentity") > asked,
        "asked again, not kept as unknown"
    );
    let after = primaries(&seeds).await;
    assert_eq!(
        after[0], before[0],
        "the central account's same-named service untouched"
    );
    assert_ne!(after[1], before[1], "forced in the member account");
    assert_eq!(second.outcomes[0].code, Code::ForcedNewDeployment);
}

// CONFIRM_NOTICES=health-api: moto has no AWS Health API, so the fault proxy answers it as the
// Health API reference documents (DescribeEventDetails: successfulSet / failedSet;
// DescribeAffectedEntities: entities with entityValue).

fn confirming() -> Accounts {
    Accounts {
        confirm_notices: true,
        ..Accounts::default()
    }
}

fn health_knows(proxy: &FaultProxy, arn: &str, code: &str, entities: &[&str]) {
    let details = json!({ "successfulSet": [{ "event": {
        "arn": arn, "service": code.split('_').nth(1).unwrap_or("ECS"), "eventTypeCode": code,
        "eventTypeCategory": "scheduledChange", "region": "us-east-1", "statusCode": "upcoming" } }],
        "failedSet": [] });
    let listed = json!({ "entities": entities.iter().map(|e| json!({
        "entityArn": format!("arn:aws:health:us-east-1:{HOME}:entity/x"), "eventArn": arn,
        "entityValue": e, "awsAccountId": HOME })).collect::<Vec<_>>() });
    proxy.inject(
        "DescribeEventDetails",
        Fault::Answer(details.to_string()),
        10,
    );
    proxy.inject(
        "DescribeAffectedEntities",
        Fault::Answer(listed.to_string()),
        10,
    );
}

fn arn_of(event: &Value) -> String {
    event["detail"]["eventArn"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_notice_health_does_not_know_acts_nowhere() {
    let moto = MotoServer::start();
    let seeds = same_service_in(&moto, &[HOME]).await;
    ledger_table(&moto, TABLE).await;
    let before = primaries(&seeds).await;
    let proxy = FaultProxy::start(moto.endpoint()).await;
    let event = Notice::ecs().naming(&["payments|api"]).build();
    let unknown = json!({ "successfulSet": [], "failedSet": [{ "eventArn": arn_of(&event),
        "errorName": "NotFoundException", "errorMessage": "no such event" }] });
    proxy.inject(
        "DescribeEventDetails",
        Fault::Answer(unknown.to_string()),
        10,
    );

    let report = deliver(
        &proxy.sdk_config(std::time::Duration::from_secs(5)).await,
        confirming(),
        event,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(primaries(&seeds).await, before);
    let o = &report.outcomes[0];
    assert_eq!(
        (o.status, o.code, o.retryable),
        (Status::Failed, Code::Unconfirmed, false),
        "{o:?}"
    );
    assert!(o.reason.contains("NotFoundException"), "{}", o.reason);
    assert_eq!(proxy.seen("UpdateService"), 0);
}

#[tokio::test]
async fn a_resource_health_does_not_list_is_not_acted_on_and_a_listed_one_is() {
    let moto = MotoServer::start();
    let home = Seed::new(&moto).await;
    home.rolling_services("payments", &["api", "web"]).await;
    ledger_table(&moto, TABLE).await;
    let (api, web) = (
        home.primary_deployment("payments", "api").await,
        home.primary_deployment("payments", "web").await,
    );
    let proxy = FaultProxy::start(moto.endpoint()).await;
    let event = Notice::ecs()
        .naming(&["payments|api", "payments|web"])
        .build();
    health_knows(
        &proxy,
        &arn_of(&event),
        "AWS_ECS_TASK_PATCHING_RETIREMENT",
        &["payments/api"],
    );

    let report = deliver(
        &proxy.sdk_config(std::time::Duration::from_secs(5)).await,
        confirming(),
        event,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    assert_ne!(
        home.primary_deployment("payments", "api").await,
        api,
        "listed: forced"
    );
    assert_eq!(
        home.primary_deployment("payments", "web").await,
        web,
        "not listed: untouched"
    );
    assert_eq!(
        said(&report),
        vec![
            (
                "service payments/api".to_owned(),
                Status::Acted,
                Code::ForcedNewDeployment
            ),
            (
                "service payments/web".to_owned(),
                Status::Failed,
                Code::Unconfirmed
            ),
        ],
        "in the notice's order"
    );
}

#[tokio::test]
async fn a_confirmed_notice_acts_as_before() {
    let moto = MotoServer::start();
    let seeds = same_service_in(&moto, &[HOME]).await;
    ledger_table(&moto, TABLE).await;
    let before = primaries(&seeds).await;
    let proxy = FaultProxy::start(moto.endpoint()).await;
    let event = Notice::ecs().naming(&["payments|api"]).build();
    health_knows(
        &proxy,
        &arn_of(&event),
        "AWS_ECS_TASK_PATCHING_RETIREMENT",
        &["payments|api"],
    );

    let report = deliver(
        &proxy.sdk_config(std::time::Duration::from_secs(5)).await,
        confirming(),
        event,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    assert_ne!(primaries(&seeds).await, before);
    assert_eq!(report.outcomes[0].code, Code::ForcedNewDeployment);
    assert!(proxy.seen("DescribeEventDetails") >= 1 && proxy.seen("DescribeAffectedEntities") >= 1);
}

#[tokio::test]
async fn without_a_support_plan_confirmation_says_so_and_acts_nowhere() {
    let moto = MotoServer::start();
    let seeds = same_service_in(&moto, &[HOME]).await;
    ledger_table(&moto, TABLE).await;
    let before = primaries(&seeds).await;
    let proxy = FaultProxy::start(moto.endpoint()).await;
    proxy.inject(
        "DescribeEventDetails",
        Fault::Refuse("SubscriptionRequiredException".into()),
        10,
    );

    let report = deliver(
        &proxy.sdk_config(std::time::Duration::from_secs(5)).await,
        confirming(),
        Notice::ecs().naming(&["payments|api"]).build(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(primaries(&seeds).await, before);
    let o = &report.outcomes[0];
    assert_eq!((o.code, o.retryable), (Code::Unconfirmed, false), "{o:?}");
    assert!(
        o.reason.contains("support plan") || o.reason.contains("Support plan"),
        "{}",
        o.reason
    );
}
