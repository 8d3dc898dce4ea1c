//! Central mode on moto with two accounts (moto keys resources by the account of the assumed
//! role's credentials): one deployment remediates a member account's notice there, through the
//! same engine, ledger and controls, and nothing of the same name in its own account.
// The futures nest the driver, the engine and the SDK calls deeply.
#![recursion_limit = "256"]

use aws_config::sts::AssumeRoleProvider;
use aws_config::SdkConfig;
use aws_credential_types::provider::SharedCredentialsProvider;
use remediator_core::accounts::Accounts;
use remediator_core::ledger::Ledger;
use remediator_core::{Code, Report, Status};
use remediator_lambda::handle_with;
use remediator_testkit::events::{controls_over, invocation, ledger_table, said, settings};
use remediator_testkit::fault_proxy::{Fault, FaultProxy};
use remediator_testkit::notice::Notice;
use remediator_testkit::{MotoServer, Seed};
use serde_json::Value;

const TABLE: &str = "retirement-ledger";
const HOME: &str = "123456789012";
const MEMBER: &str = "210987654321";
const ROLE: &str = "retirement-remediator-member";

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

/// `prod/web` in both accounts.
async fn two_accounts(moto: &MotoServer) -> (Seed, Seed) {
    let home = Seed::new(moto).await;
    home.rolling_services("prod", &["web"]).await;
    let member_sdk = in_account(&moto.sdk_config().await, MEMBER).await;
    let member = Seed {
        ecs: aws_sdk_ecs::Client::new(&member_sdk),
        codedeploy: aws_sdk_codedeploy::Client::new(&member_sdk),
        network: None,
    };
    member.rolling_services("prod", &["web"]).await;
    (home, member)
}

/// The notice of `prod/web` (AWS retiring it in a week).
fn web_notice() -> Notice {
    Notice::ecs().naming(&["prod|web"])
}

/// The organizational view's notice: received in the home account, about the member's service.
fn member_notice() -> Notice {
    web_notice()
        .account(HOME)
        .affected_account(MEMBER)
        .region("us-east-1")
}

async fn deliver(sdk: &SdkConfig, accounts: Accounts, event: Value) -> Report {
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
    .unwrap_or_else(|e| panic!("{e}"))
}

fn central_mode() -> Accounts {
    Accounts {
        member_role: Some(ROLE.into()),
        ..Accounts::default()
    }
}

#[tokio::test]
async fn a_member_accounts_notice_forces_its_service_there_and_nothing_of_the_same_name_at_home() {
    let moto = MotoServer::start();
    let (home, member) = two_accounts(&moto).await;
    let ledger = ledger_table(&moto, TABLE).await;
    let (home_before, member_before) = (
        home.primary_deployment("prod", "web").await,
        member.primary_deployment("prod", "web").await,
    );

    let report = deliver(
        &moto.sdk_config().await,
        central_mode(),
        member_notice().build(),
    )
    .await;

    assert_eq!(
        said(&report),
        vec![(
            "service prod/web".into(),
            Status::Acted,
            Code::ForcedNewDeployment
        )]
    );
    assert_ne!(
        member.primary_deployment("prod", "web").await,
        member_before
    );
    assert_eq!(home.primary_deployment("prod", "web").await, home_before);
    assert_eq!(
        (report.account.as_deref(), report.region.as_deref()),
        (Some(MEMBER), Some("us-east-1")),
        "the report names where the resources are"
    );
    let arn = report.event_arn.clone().unwrap_or_default();
    let recorded = ledger
        .notice(&format!("{arn}#{MEMBER}"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        recorded.len(),
        1,
        "the ledger keys the notice by the affected account"
    );
}

#[tokio::test]
async fn with_central_mode_off_a_member_accounts_notice_fails_saying_how_to_enable_it() {
    let moto = MotoServer::start();
    let (_, member) = two_accounts(&moto).await;
    ledger_table(&moto, TABLE).await;
    let before = member.primary_deployment("prod", "web").await;

    let report = deliver(
        &moto.sdk_config().await,
        Accounts::default(),
        member_notice().build(),
    )
    .await;

    let o = &report.outcomes[0];
    assert_eq!(
        (o.status, o.code, o.retryable),
        (Status::Failed, Code::OtherAccount, false)
    );
    assert!(o.reason.contains("MEMBER_ROLE_NAME"), "{}", o.reason);
    assert_eq!(member.primary_deployment("prod", "web").await, before);
}

#[tokio::test]
async fn an_excluded_account_is_skipped_with_the_reason() {
    let moto = MotoServer::start();
    let (_, member) = two_accounts(&moto).await;
    ledger_table(&moto, TABLE).await;
    let before = member.primary_deployment("prod", "web").await;
    let accounts = Accounts {
        exclude: vec![MEMBER.into()],
        ..central_mode()
    };

    let report = deliver(&moto.sdk_config().await, accounts, member_notice().build()).await;

    let o = &report.outcomes[0];
    assert_eq!((o.status, o.code), (Status::Skipped, Code::AccountExcluded));
    assert!(o.reason.contains(MEMBER), "{}", o.reason);
    assert_eq!(member.primary_deployment("prod", "web").await, before);
}

#[tokio::test]
async fn a_member_role_that_cannot_be_assumed_fails_naming_the_account_and_the_stack() {
    let moto = MotoServer::start();
    two_accounts(&moto).await;
    ledger_table(&moto, TABLE).await;
    let proxy = FaultProxy::start(moto.endpoint()).await;
    proxy.inject("AssumeRole", Fault::AccessDenied, 10);

    let report = deliver(
        &proxy.sdk_config(std::time::Duration::from_secs(5)).await,
        central_mode(),
        member_notice().build(),
    )
    .await;

    let o = &report.outcomes[0];
    assert_eq!(
        (o.status, o.code, o.retryable),
        (Status::Failed, Code::MemberRoleUnavailable, false),
        "{o:?}"
    );
    assert!(
        o.reason.contains(MEMBER) && o.reason.contains("member stack"),
        "{}",
        o.reason
    );
    assert!(proxy.seen("AssumeRole") > 0);
}

#[tokio::test]
async fn the_member_roles_credentials_are_reused_across_notices_of_the_account() {
    let moto = MotoServer::start();
    two_accounts(&moto).await;
    ledger_table(&moto, TABLE).await;
    let proxy = FaultProxy::start(moto.endpoint()).await;
    let sdk = proxy.sdk_config(std::time::Duration::from_secs(5)).await;
    let controls = controls_over(&sdk, &[("LEDGER_TABLE", TABLE)]);
    let central = remediator_aws::central(
        &sdk,
        settings(),
        central_mode(),
        std::sync::Arc::new(remediator_core::pacing::MemoryBudget::default()),
    );

    for n in 0..3 {
        let event = member_notice().arn_id(&format!("central-{n}")).build();
        handle_with(
            &central,
            &controls,
            invocation(event),
            remediator_testkit::clock::now(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    }

    assert_eq!(
        proxy.seen("AssumeRole"),
        1,
        "one AssumeRole for three notices"
    );
}

#[tokio::test]
async fn the_member_roles_credentials_are_renewed_before_they_expire_by_the_wall_clock() {
    let moto = MotoServer::start();
    two_accounts(&moto).await;
    ledger_table(&moto, TABLE).await;
    let proxy = FaultProxy::start(moto.endpoint()).await;
    let sdk = proxy.sdk_config(std::time::Duration::from_secs(5)).await;
    let controls = controls_over(&sdk, &[("LEDGER_TABLE", TABLE)]);
    // moto's AssumeRole credentials last an hour; the clock jumps as a frozen Lambda's would.
    let offset = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    let clock_offset = offset.clone();
    let central = remediator_aws::central(
        &sdk,
        settings(),
        central_mode(),
        std::sync::Arc::new(remediator_core::pacing::MemoryBudget::default()),
    )
    .with_clock(move || {
        remediator_testkit::clock::now()
            + chrono::Duration::minutes(clock_offset.load(std::sync::atomic::Ordering::SeqCst))
    });
    let deliver_once = |n: u32| invocation(member_notice().arn_id(&format!("renew-{n}")).build());

    handle_with(
        &central,
        &controls,
        deliver_once(0),
        remediator_testkit::clock::now(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    offset.store(30, std::sync::atomic::Ordering::SeqCst);
    handle_with(
        &central,
        &controls,
        deliver_once(1),
        remediator_testkit::clock::now(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(proxy.seen("AssumeRole"), 1, "still fresh after 30 minutes");
    offset.store(57, std::sync::atomic::Ordering::SeqCst);
    handle_with(
        &central,
        &controls,
        deliver_once(2),
        remediator_testkit::clock::now(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(
        proxy.seen("AssumeRole"),
        2,
        "renewed within twenty minutes of expiry"
    );
}

#[tokio::test]
async fn with_a_retirement_wait_period_of_0_the_report_says_aws_retires_at_once() {
    let moto = MotoServer::start();
    let (home, _) = two_accounts(&moto).await;
    ledger_table(&moto, TABLE).await;
    home.ecs
        .put_account_setting()
        .name(aws_sdk_ecs::types::SettingName::FargateTaskRetirementWaitPeriod)
        .value("0")
        .send()
        .await
        .expect("PutAccountSetting");
    // The notice of the home account's own service.
    let event = web_notice().account(HOME).build();

    let report = deliver(&moto.sdk_config().await, central_mode(), event).await;

    assert_eq!(report.summary.acted, 1, "{report:#?}");
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains(HOME) && n.contains("fargateTaskRetirementWaitPeriod is 0")),
        "{:?}",
        report.notes
    );
}

#[tokio::test]
async fn a_notice_forwarded_from_a_member_accounts_bus_is_remediated_in_that_account() {
    let moto = MotoServer::start();
    let (home, member) = two_accounts(&moto).await;
    ledger_table(&moto, TABLE).await;
    let (home_before, member_before) = (
        home.primary_deployment("prod", "web").await,
        member.primary_deployment("prod", "web").await,
    );
    // Forwarded, not aggregated: the event keeps the member's own `account`.
    let event = web_notice().account(MEMBER).build();

    let report = deliver(&moto.sdk_config().await, central_mode(), event).await;

    assert_eq!(
        said(&report),
        vec![(
            "service prod/web".into(),
            Status::Acted,
            Code::ForcedNewDeployment
        )]
    );
    assert_ne!(
        member.primary_deployment("prod", "web").await,
        member_before
    );
    assert_eq!(home.primary_deployment("prod", "web").await, home_before);
}

#[tokio::test]
async fn a_notice_of_its_own_account_from_another_region_is_remediated_in_that_region() {
    let moto = MotoServer::start();
    ledger_table(&moto, TABLE).await;
    let west_sdk = moto
        .sdk_config()
        .await
        .to_builder()
        .region(aws_config::Region::new("us-west-2"))
        .build();
    let west = Seed {
        ecs: aws_sdk_ecs::Client::new(&west_sdk),
        codedeploy: aws_sdk_codedeploy::Client::new(&west_sdk),
        network: None,
    };
    west.rolling_services("prod", &["web"]).await;
    let before = west.primary_deployment("prod", "web").await;
    // A Health event's ARN names its Region: `region` moves it too.
    let event = web_notice().account(HOME).region("us-west-2").build();

    let report = deliver(&moto.sdk_config().await, central_mode(), event).await;

    assert_eq!(
        said(&report),
        vec![(
            "service prod/web".into(),
            Status::Acted,
            Code::ForcedNewDeployment
        )]
    );
    assert_ne!(west.primary_deployment("prod", "web").await, before);
}
