//! Central mode: one deployment remediates notices of every account of the organization.
//!
//! AWS Health's organizational view delivers member accounts' notices to the management or
//! delegated-administrator account (the event's `account` is the receiver, `detail.affectedAccount`
//! the affected one), and member accounts can forward their events to a central bus. For a notice
//! whose affected account is not the receiving one, the function assumes `MEMBER_ROLE_NAME` in the
//! affected account (STS `AssumeRole` through the SDK's own provider, whose credentials the SDK
//! caches and refreshes before expiry by the wall clock) and runs the very same engine there, in
//! the notice's Region. Without `MEMBER_ROLE_NAME` such a notice fails with the way to enable it.
//! `ACCOUNTS_INCLUDE` / `ACCOUNTS_EXCLUDE` leave accounts out (`account_excluded`).

use std::collections::HashMap;
use std::sync::Arc;

use aws_config::sts::AssumeRoleProvider;
use aws_config::{Region, SdkConfig};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use chrono::{DateTime, Utc};
use remediator_core::accounts::Accounts;
use remediator_core::follow::{Followed, Verdict};
use remediator_core::names::Code;
use remediator_core::outcome::{Outcome, Status};
use remediator_core::pipeline::{claim_retirement, Claim, Remediate};
use remediator_core::{Parsed, RetirementNotice, Settings};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::AwsRemediator;

/// The partition of a Region (`cn-north-1` → `aws-cn`).
fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The ECS remediation of the receiving account, and of member accounts in central mode.
pub struct CentralRemediator {
    home: AwsRemediator,
    base: SdkConfig,
    settings: Settings,
    accounts: Accounts,
    /// Per (account, Region): a remediator over clients with the member role's credentials,
    /// and when those expire.
    members: Mutex<HashMap<(String, String), Member>>,
    /// The wall clock (Lambda's freezes stop the monotonic one); tests pass a fixed one.
    clock: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
    /// Each account's retirement settings, read once per execution environment.
    notes: Mutex<HashMap<String, Vec<String>>>,
    /// The account the function runs in (STS `GetCallerIdentity`, asked once, when a notice
    /// first needs it): a forwarded event keeps the member's `account`, so the envelope cannot
    /// tell.
    own_account: tokio::sync::OnceCell<Option<String>>,
}

struct Member {
    remediator: Arc<AwsRemediator>,
    expires: Option<DateTime<Utc>>,
}

/// Member credentials are renewed this long before they expire.
const RENEW_BEFORE: chrono::Duration = chrono::Duration::minutes(5);

impl CentralRemediator {
    pub fn new(base: &SdkConfig, settings: Settings, accounts: Accounts) -> Self {
        CentralRemediator {
            home: crate::remediator(base, settings.clone()),
            base: base.clone(),
            settings,
            accounts,
            members: Mutex::new(HashMap::new()),
            clock: Arc::new(Utc::now),
            notes: Mutex::new(HashMap::new()),
            own_account: tokio::sync::OnceCell::new(),
        }
    }

    /// The function's own account, once known.
    async fn own_account(&self) -> Option<&str> {
        self.own_account
            .get_or_init(|| async {
                match aws_sdk_sts::Client::new(&self.base)
                    .get_caller_identity()
                    .send()
                    .await
                {
                    Ok(identity) => identity.account().map(str::to_owned),
                    Err(e) => {
                        tracing::warn!(error = %aws_smithy_types::error::display::DisplayErrorContext(&e), "own account unknown: the notice's receiving account stands for it");
                        None
                    }
                }
            })
            .await
            .as_deref()
    }

    /// The same, reading the wall clock from `clock` (tests).
    pub fn with_clock(mut self, clock: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Where the notice's resources live: the affected account and the notice's Region.
    fn affected(notice: &RetirementNotice) -> (Option<&str>, Option<&str>) {
        (
            notice
                .affected_account
                .as_deref()
                .or(notice.account.as_deref()),
            notice.region.as_deref(),
        )
    }

    /// The member remediator for `account` in `region`, its credentials checked: a role that
    /// cannot be assumed is an outcome, not a failure of every call after it.
    ///
    /// `role_name` `None`: the function's own account in another Region (its own credentials).
    async fn member(
        &self,
        role_name: Option<&str>,
        account: &str,
        region: &str,
        session: &str,
    ) -> Result<Arc<AwsRemediator>, (Code, String, bool)> {
        let key = (account.to_owned(), region.to_owned());
        let now = (self.clock)();
        if let Some(found) = self.members.lock().await.get(&key) {
            if found.expires.is_none_or(|at| now < at - RENEW_BEFORE) {
                return Ok(found.remediator.clone());
            }
        }
        let Some(role_name) = role_name else {
            let sdk = self
                .base
                .to_builder()
                .region(Region::new(region.to_owned()))
                .build();
            let remediator = Arc::new(crate::remediator(&sdk, self.settings.clone()));
            self.members.lock().await.insert(
                key,
                Member {
                    remediator: remediator.clone(),
                    expires: None,
                },
            );
            return Ok(remediator);
        };
        let role_arn = format!("arn:{}:iam::{account}:role/{role_name}", partition(region));
        let provider = AssumeRoleProvider::builder(&role_arn)
            .session_name(session)
            .region(Region::new(region.to_owned()))
            .configure(&self.base)
            .build()
            .await;
        let credentials = match provider.provide_credentials().await {
            Ok(credentials) => credentials,
            Err(e) => {
                let text = format!("{e:?}");
                let throttled = text.contains("Throttl") || text.contains("RequestLimitExceeded");
                let reason = if throttled {
                    format!("assuming {role_arn} was throttled: a later attempt tries again")
                } else {
                    format!(
                    "cannot assume {role_arn} ({e}): deploy the member stack (infra/sam/member.yaml) in account {account}, trusting this function's role"
                )
                };
                return Err((Code::MemberRoleUnavailable, reason, throttled));
            }
        };
        // The credentials themselves, kept with their expiry: one AssumeRole per account for
        // their lifetime, renewed (a new remediator) before they expire.
        let expires = credentials.expiry().map(DateTime::<Utc>::from);
        let sdk = self
            .base
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .region(Region::new(region.to_owned()))
            .build();
        let mut settings = self.settings.clone();
        settings.account = Some(account.to_owned());
        let remediator = Arc::new(crate::remediator(&sdk, settings));
        self.members.lock().await.insert(
            key,
            Member {
                remediator: remediator.clone(),
                expires,
            },
        );
        Ok(remediator)
    }

    fn every(
        notice: &RetirementNotice,
        status: Status,
        code: Code,
        reason: &str,
        retryable: bool,
    ) -> Vec<Outcome> {
        notice
            .targets
            .iter()
            .map(|t| Outcome {
                retryable,
                ..Outcome::new(t.clone(), status, code, reason.to_owned())
            })
            .collect()
    }

    /// Where to run `notice`: at home, in a member account, or nowhere (the outcomes).
    async fn route(&self, notice: &RetirementNotice) -> Result<Route, Vec<Outcome>> {
        let (affected, region) = Self::affected(notice);
        if let Some(why) = affected.and_then(|a| self.accounts.excludes(a)) {
            return Err(Self::every(
                notice,
                Status::Skipped,
                Code::AccountExcluded,
                &why,
                false,
            ));
        }
        let receiving = self.own_account().await.or(notice.account.as_deref());
        let (Some(account), Some(receiving)) = (affected, receiving) else {
            return Ok(Route::Home);
        };
        let base_region = self.base.region().map(|r| r.as_ref().to_owned());
        if account == receiving {
            // A notice of this account from another Region (forwarded): its clients there.
            return match region.filter(|r| Some(*r) != base_region.as_deref()) {
                None => Ok(Route::Home),
                Some(region) => self
                    .member(None, account, region, "home")
                    .await
                    .map(Route::Member)
                    .map_err(|(code, reason, retryable)| {
                        Self::every(notice, Status::Failed, code, &reason, retryable)
                    }),
            };
        }
        let Some(role) = &self.accounts.member_role else {
            let why = format!(
                "resources are in account {account}, the notice was received in {receiving}: set MEMBER_ROLE_NAME (central mode) and deploy the member stack in {account}, or deploy the remediator there"
            );
            return Err(Self::every(
                notice,
                Status::Failed,
                Code::OtherAccount,
                &why,
                false,
            ));
        };
        let region = region.unwrap_or("us-east-1");
        let session = format!(
            "retirement-{}",
            notice
                .event_arn
                .rsplit('/')
                .next()
                .unwrap_or("notice")
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || "=,.@-_".contains(*c))
                .take(50)
                .collect::<String>()
        );
        match self.member(Some(role), account, region, &session).await {
            Ok(remediator) => Ok(Route::Member(remediator)),
            Err((code, reason, retryable)) => Err(Self::every(
                notice,
                Status::Failed,
                code,
                &reason,
                retryable,
            )),
        }
    }

    /// The notice as the member account sees it: received where its resources are.
    fn in_member(notice: &RetirementNotice) -> RetirementNotice {
        RetirementNotice {
            account: notice.affected_account.clone().or(notice.account.clone()),
            ..notice.clone()
        }
    }
}

enum Route {
    Home,
    Member(Arc<AwsRemediator>),
}

impl Remediate for CentralRemediator {
    type Notice = RetirementNotice;

    fn dry_run(&self) -> bool {
        self.settings.dry_run
    }

    fn claim(&self, parsed: Parsed) -> Claim<RetirementNotice> {
        claim_retirement(parsed)
    }

    async fn remediate(
        &self,
        notice: &RetirementNotice,
        deadline: Option<Instant>,
    ) -> Vec<Outcome> {
        match self.route(notice).await {
            Ok(Route::Home) => self.home.remediate(notice, deadline).await,
            Ok(Route::Member(member)) => member.remediate(&Self::in_member(notice), deadline).await,
            Err(outcomes) => outcomes,
        }
    }

    /// The affected account's ECS retirement settings, read once per account.
    async fn notes(&self, notice: &RetirementNotice) -> Vec<String> {
        let account = Self::affected(notice)
            .0
            .unwrap_or("this account")
            .to_owned();
        if let Some(known) = self.notes.lock().await.get(&account) {
            return known.clone();
        }
        let notes = match self.route(notice).await {
            Ok(Route::Home) => self.home.account_notes().await,
            Ok(Route::Member(member)) => member.account_notes().await,
            Err(_) => return Vec::new(),
        };
        let notes: Vec<String> = notes
            .into_iter()
            .map(|n| format!("account {account}: {n}"))
            .collect();
        self.notes.lock().await.insert(account, notes.clone());
        notes
    }

    async fn verify(
        &self,
        notice: &RetirementNotice,
        followed: &[Followed],
        now: DateTime<Utc>,
        deadline: Option<Instant>,
    ) -> Vec<Verdict> {
        match self.route(notice).await {
            Ok(Route::Home) => self.home.verify(notice, followed, now, deadline).await,
            Ok(Route::Member(member)) => {
                member
                    .verify(&Self::in_member(notice), followed, now, deadline)
                    .await
            }
            Err(outcomes) => followed
                .iter()
                .map(|_| {
                    Verdict::Pending(
                        outcomes
                            .first()
                            .map_or_else(String::new, |o| o.reason.clone()),
                    )
                })
                .collect(),
        }
    }
}
