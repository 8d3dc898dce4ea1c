//! Central mode: one deployment remediates the notices of every account of the organization,
//! for either function (ECS notices, EKS pod notices).
//!
//! AWS Health's organizational view delivers member accounts' notices to the management or
//! delegated-administrator account (the event's `account` is the receiver, `detail.affectedAccount`
//! the affected one), and member accounts can forward their events to a central bus (the event
//! keeps the member's `account`). For a notice whose affected account is not the function's own,
//! [`Central`] assumes `MEMBER_ROLE_NAME` in the affected account (STS `AssumeRole` through the
//! SDK's own provider) and runs the very same remediation there, in the notice's Region, over
//! clients built with those credentials. The credentials are kept per (account, Region) and
//! renewed [`RENEW_BEFORE`] their expiry by the wall clock (Lambda's freezes stop the monotonic
//! one). Without `MEMBER_ROLE_NAME` such a notice fails `other_account`, saying how to enable
//! central mode. `ACCOUNTS_INCLUDE` / `ACCOUNTS_EXCLUDE` leave accounts out (`account_excluded`).

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
use remediator_core::pipeline::{Claim, Notice, Remediate};
use remediator_core::target::Target;
use remediator_core::{Parsed, Settings};
use tokio::sync::{Mutex, OnceCell};
use tokio::time::Instant;

/// Member credentials are renewed this long before they expire: longer than an invocation
/// (15 minutes) runs on them, with room for clock skew.
pub const RENEW_BEFORE: chrono::Duration = chrono::Duration::minutes(20);

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

/// Builds a function's remediation over clients made from an SDK config.
pub type Build<R> = Arc<dyn Fn(&SdkConfig, Settings) -> R + Send + Sync>;

/// A function's remediation `R` in the receiving account, and in member accounts in central
/// mode.
pub struct Central<R> {
    home: Arc<R>,
    base: SdkConfig,
    settings: Settings,
    accounts: Accounts,
    build: Build<R>,
    /// Per (account, Region): `R` over clients with the member role's credentials, and when
    /// those expire.
    members: Mutex<HashMap<(String, String), Member<R>>>,
    /// The wall clock; tests pass a fixed one.
    clock: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
    /// AWS Health, when notices are confirmed before acting (`CONFIRM_NOTICES=health-api`).
    health: Option<crate::health::SdkHealth>,
    /// Each account's notes (its retirement settings), read once per execution environment.
    notes: Mutex<HashMap<String, Vec<String>>>,
    /// The account the function runs in (STS `GetCallerIdentity`, asked once, when a notice
    /// first needs it): a forwarded event keeps the member's `account`, so the envelope cannot
    /// tell.
    own_account: OnceCell<String>,
}

struct Member<R> {
    remediator: Arc<R>,
    expires: Option<DateTime<Utc>>,
}

/// Where a notice is remediated.
enum Route<R> {
    /// By the function's own remediation.
    Home,
    /// By a member account's (or the own account's in another Region).
    Member(Arc<R>),
}

impl<R> Central<R> {
    /// `build` makes `R` from an SDK config: once now for the function's own account and Region,
    /// and again for each member account and Region a notice needs.
    pub fn new(
        base: &SdkConfig,
        settings: Settings,
        accounts: Accounts,
        build: impl Fn(&SdkConfig, Settings) -> R + Send + Sync + 'static,
    ) -> Self {
        Central {
            home: Arc::new(build(base, settings.clone())),
            base: base.clone(),
            settings,
            build: Arc::new(build),
            members: Mutex::new(HashMap::new()),
            clock: Arc::new(Utc::now),
            health: accounts
                .confirm_notices
                .then(|| crate::health::SdkHealth::new(base)),
            notes: Mutex::new(HashMap::new()),
            own_account: OnceCell::new(),
            accounts,
        }
    }

    /// The same, reading the wall clock from `clock` (tests).
    pub fn with_clock(mut self, clock: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The function's own account: STS `GetCallerIdentity`, asked until it answers and then
    /// kept. A failure is not kept: the caller fails closed (nothing whose account depends on
    /// it is acted on) and the next notice asks again.
    async fn own_account(&self) -> Result<&str, String> {
        self.own_account
            .get_or_try_init(|| caller_account(&self.base))
            .await
            .map(String::as_str)
    }

    /// `R` for `account` in `region` outside any notice (the preflight): the function's own
    /// clients for its own account (in `region`), the member role's for another, refused for an
    /// account the configuration leaves out or when central mode is off.
    pub async fn for_account(
        &self,
        account: &str,
        region: &str,
    ) -> Result<Arc<R>, (Code, String, bool)> {
        if let Some(why) = self.accounts.excludes(account) {
            return Err((Code::AccountExcluded, why, false));
        }
        let own = self
            .own_account()
            .await
            .map_err(|why| (Code::ApiError, why, true))?
            .to_owned();
        if account == own {
            return self.member(None, account, region, "preflight").await;
        }
        match self.accounts.member_role.clone() {
            Some(role) => self.member(Some(&role), account, region, "preflight").await,
            None => Err((
                Code::OtherAccount,
                format!("account {account} is not this account ({own}): set MEMBER_ROLE_NAME (central mode) to read it"),
                false,
            )),
        }
    }

    /// The function's own account (STS `GetCallerIdentity`).
    pub async fn home_account(&self) -> Result<String, String> {
        self.own_account().await.map(str::to_owned)
    }

    /// `R` for `account` in `region`, its credentials checked: a role that cannot be assumed is
    /// an outcome, not a failure of every call after it.
    ///
    /// `role_name` `None`: the function's own account in another Region (its own credentials).
    async fn member(
        &self,
        role_name: Option<&str>,
        account: &str,
        region: &str,
        session: &str,
    ) -> Result<Arc<R>, (Code, String, bool)> {
        let key = (account.to_owned(), region.to_owned());
        let now = (self.clock)();
        if let Some(found) = self.members.lock().await.get(&key) {
            if found.expires.is_none_or(|at| now < at - RENEW_BEFORE) {
                return Ok(found.remediator.clone());
            }
        }
        let (sdk, settings, expires) = match role_name {
            None => {
                let sdk = self
                    .base
                    .to_builder()
                    .region(Region::new(region.to_owned()))
                    .build();
                (sdk, self.settings.clone(), None)
            }
            Some(role_name) => {
                let role_arn = format!("arn:{}:iam::{account}:role/{role_name}", partition(region));
                let provider = AssumeRoleProvider::builder(&role_arn)
                    .session_name(session)
                    .region(Region::new(region.to_owned()))
                    .configure(&self.base)
                    .build()
                    .await;
                let credentials = provider.provide_credentials().await.map_err(|e| {
                    let text = format!("{e:?}");
                    let throttled =
                        text.contains("Throttl") || text.contains("RequestLimitExceeded");
                    let reason = if throttled {
                        format!("assuming {role_arn} was throttled: a later attempt tries again")
                    } else {
                        format!(
                            "cannot assume {role_arn} ({e}): deploy the member stack (infra/sam/member.yaml) in account {account}, trusting this function's role"
                        )
                    };
                    (Code::MemberRoleUnavailable, reason, throttled)
                })?;
                // The credentials themselves, kept with their expiry: one AssumeRole per account
                // for their lifetime, renewed (new clients) before they expire.
                let expires = credentials.expiry().map(DateTime::<Utc>::from);
                let sdk = self
                    .base
                    .to_builder()
                    .credentials_provider(SharedCredentialsProvider::new(credentials))
                    .region(Region::new(region.to_owned()))
                    .build();
                let mut settings = self.settings.clone();
                settings.account = Some(account.to_owned());
                (sdk, settings, expires)
            }
        };
        let remediator = Arc::new((self.build)(&sdk, settings));
        self.members.lock().await.insert(
            key,
            Member {
                remediator: remediator.clone(),
                expires,
            },
        );
        Ok(remediator)
    }
}

/// The account of `base`'s credentials: STS `GetCallerIdentity`.
pub async fn caller_account(base: &SdkConfig) -> Result<String, String> {
    let identity = aws_sdk_sts::Client::new(base)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| {
            format!(
                "STS GetCallerIdentity failed ({})",
                aws_smithy_types::error::display::DisplayErrorContext(&e)
            )
        })?;
    identity
        .account()
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| "STS GetCallerIdentity named no account".to_owned())
}

/// One outcome per target of `notice`, all alike.
fn every<N: Notice>(
    notice: &N,
    status: Status,
    code: Code,
    reason: &str,
    retryable: bool,
) -> Vec<Outcome> {
    notice
        .targets()
        .into_iter()
        .map(|t| Outcome {
            retryable,
            ..Outcome::new(t, status, code, reason.to_owned())
        })
        .collect()
}

/// An STS session name that identifies the notice (CloudTrail in the member account shows it):
/// the Health event's id, else the EventBridge event id.
fn session_name<N: Notice>(notice: &N) -> String {
    let id = notice
        .event_arn()
        .and_then(|arn| arn.rsplit('/').next())
        .or(notice.event_id())
        .unwrap_or("notice");
    format!(
        "retirement-{}",
        id.chars()
            .filter(|c| c.is_ascii_alphanumeric() || "=,.@-_".contains(*c))
            .take(50)
            .collect::<String>()
    )
}

/// `outcomes` in the order of the notice's targets (each target has exactly one).
fn in_order_of<N: Notice>(notice: &N, mut outcomes: Vec<Outcome>) -> Vec<Outcome> {
    let order: Vec<String> = notice.targets().iter().map(Target::identity).collect();
    outcomes.sort_by_key(|o| {
        let id = o.target.identity();
        order.iter().position(|t| *t == id).unwrap_or(usize::MAX)
    });
    outcomes
}

impl<R: Remediate> Central<R> {
    /// With confirmation on: the targets AWS Health confirms, and the outcomes of the rest
    /// (all of them when Health cannot be asked). `None`: confirmation is off, or the notice
    /// is not a Health event (EKS pod notices).
    async fn confirm(&self, notice: &R::Notice) -> Option<(Vec<Target>, Vec<Outcome>)> {
        let health = self.health.as_ref()?;
        let arn = notice.event_arn()?;
        let targets = notice.targets();
        // A member's event is asked through the organizational view; route() has read the
        // function's own account by now.
        let own = self.own_account().await.ok();
        let member = notice.affected_account().filter(|a| Some(*a) != own);
        match health.look_up(arn, member).await {
            Ok(lookup) => Some(remediator_core::confirm::split(
                &targets,
                &lookup,
                arn,
                notice.resource_region(),
                |service, code| notice.accepts_event_type(service, code),
            )),
            Err(error) => {
                tracing::warn!(arn, reason = %error.reason, "the notice could not be confirmed with AWS Health");
                Some(remediator_core::confirm::unasked(&targets, &error))
            }
        }
    }

    /// Where to run `notice`: at home, in a member account, or nowhere (the outcomes).
    async fn route(&self, notice: &R::Notice) -> Result<Route<R>, Vec<Outcome>> {
        let affected = notice.affected_account();
        let region = notice.resource_region();
        if let Some(why) = affected.and_then(|a| self.accounts.excludes(a)) {
            return Err(every(
                notice,
                Status::Skipped,
                Code::AccountExcluded,
                &why,
                false,
            ));
        }
        let Some(account) = affected.or(notice.receiving_account()) else {
            return Ok(Route::Home);
        };
        // Fail closed: a forwarded member notice keeps the member's `account`, so only the
        // function's own identity tells a member's resources from its own.
        let receiving = match self.own_account().await {
            Ok(own) => own,
            Err(why) => {
                tracing::warn!(error = %why, "own account unknown: nothing is acted on");
                return Err(every(
                    notice,
                    Status::Failed,
                    Code::ApiError,
                    &format!(
                        "{why}: without the function's own account, the resources of account {account} cannot be told from its own; nothing was acted on, a later attempt asks again"
                    ),
                    true,
                ));
            }
        };
        let failed = |(code, reason, retryable): (Code, String, bool)| {
            every(notice, Status::Failed, code, &reason, retryable)
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
                    .map_err(failed),
            };
        }
        let Some(role) = &self.accounts.member_role else {
            let why = format!(
                "resources are in account {account}, the notice was received in {receiving}: set MEMBER_ROLE_NAME (central mode) and deploy the member stack in {account}, or deploy the remediator there"
            );
            return Err(every(
                notice,
                Status::Failed,
                Code::OtherAccount,
                &why,
                false,
            ));
        };
        let region = region.or(base_region.as_deref()).unwrap_or("us-east-1");
        self.member(Some(role), account, region, &session_name(notice))
            .await
            .map(Route::Member)
            .map_err(failed)
    }
}

impl<R: Remediate> Remediate for Central<R> {
    type Notice = R::Notice;

    fn dry_run(&self) -> bool {
        self.settings.dry_run
    }

    fn deadline_margin(&self) -> std::time::Duration {
        self.settings.deadline_margin
    }

    fn claim(&self, parsed: Parsed) -> Claim<R::Notice> {
        self.home.claim(parsed)
    }

    async fn remediate(&self, notice: &R::Notice, deadline: Option<Instant>) -> Vec<Outcome> {
        let route = match self.route(notice).await {
            Ok(route) => route,
            Err(outcomes) => return outcomes,
        };
        let (confirmed, mut unconfirmed) = match self.confirm(notice).await {
            None => (notice.narrowed(notice.targets()), Vec::new()),
            Some((targets, outcomes)) => (notice.narrowed(targets), outcomes),
        };
        let mut outcomes = if confirmed.targets().is_empty() {
            Vec::new()
        } else {
            match route {
                Route::Home => self.home.remediate(&confirmed, deadline).await,
                Route::Member(member) => member.remediate(&confirmed.in_member(), deadline).await,
            }
        };
        outcomes.append(&mut unconfirmed);
        in_order_of(notice, outcomes)
    }

    /// The affected account's notes (its retirement settings), read once per account.
    async fn notes(&self, notice: &R::Notice) -> Vec<String> {
        let account = notice
            .affected_account()
            .unwrap_or("this account")
            .to_owned();
        if let Some(known) = self.notes.lock().await.get(&account) {
            return known.clone();
        }
        let notes = match self.route(notice).await {
            Ok(Route::Home) => self.home.notes(notice).await,
            Ok(Route::Member(member)) => member.notes(&notice.in_member()).await,
            Err(_) => return Vec::new(),
        };
        let notes: Vec<String> = notes
            .into_iter()
            .map(|n| format!("account {account}: {n}"))
            .collect();
        self.notes.lock().await.insert(account, notes.clone());
        notes
    }

    async fn earliest_retirement(&self, notice: &R::Notice) -> Option<(DateTime<Utc>, String)> {
        match self.route(notice).await {
            Ok(Route::Home) => self.home.earliest_retirement(notice).await,
            Ok(Route::Member(member)) => member.earliest_retirement(&notice.in_member()).await,
            Err(_) => None,
        }
    }

    async fn verify(
        &self,
        notice: &R::Notice,
        followed: &[Followed],
        now: DateTime<Utc>,
        deadline: Option<Instant>,
    ) -> Vec<Verdict> {
        match self.route(notice).await {
            Ok(Route::Home) => self.home.verify(notice, followed, now, deadline).await,
            Ok(Route::Member(member)) => {
                member
                    .verify(&notice.in_member(), followed, now, deadline)
                    .await
            }
            Err(outcomes) => {
                let why = outcomes
                    .first()
                    .map_or_else(String::new, |o| o.reason.clone());
                followed
                    .iter()
                    .map(|_| Verdict::Pending(why.clone()))
                    .collect()
            }
        }
    }
}
