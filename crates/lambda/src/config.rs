//! Settings from the environment, shared by the Lambda functions and the CLI.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `DRY_RUN` | `false` | compute and report the plan, make no mutating call |
//! | `OPT_IN_ONLY` | `false` | act only on resources or clusters tagged `retirement-remediator/enabled=true` |
//! | `REPLACE_DRAINED_INSTANCES` | `false` | ECS on EC2: once a container instance AWS retires or stops is drained, terminate it in its Auto Scaling group (desired capacity kept) so a patched one replaces it |
//! | `MAX_CONCURRENCY` | `8` | API calls in flight at once |
//! | `UPDATE_SERVICE_RATE` | `3/30` | client-side pacing of UpdateService, `PER_SECOND/BURST`: the share of the account's 5/50 bucket this function takes (the rest stays with auto scaling and pipelines); `PER_SECOND` at most 1000, `BURST` at most 60 × `PER_SECOND`; `off` to disable |
//! | `CLUSTER_RESOURCE_RATE` | `12/60` | the same for RunTask, StopTask and UpdateContainerInstancesState: the share of the account's "cluster resource modify" bucket (100 burst, 40/s; RunTask on Fargate 20/s); `off` to disable |
//! | `SDK_MAX_ATTEMPTS` | `5` | attempts per call by the SDK's standard retry (throttling included) |
//! | `BACKOFF_ROUNDS` | `6` | extra backoff rounds when a call still ends throttled (1 s doubling to 20 s) |
//! | `DEADLINE_MARGIN_SECS` | `10` | stop starting calls this long before the Lambda deadline |
//! | `MAINTENANCE_WINDOWS` | none | `DAYS HH:MM-HH:MM ZONE; …`: act only inside these windows (see `remediator_core::window`) |
//! | `DEADLINE_MARGIN` | `24h` | with windows: the last window start must be this long before AWS's retirement time; with checks: waiting resources are retried until then |
//! | `SCHEDULE_ROLE_ARN` | none | role EventBridge Scheduler assumes to re-invoke the function: deferrals (required with windows) and follow-up checks |
//! | `SCHEDULE_TARGET_ARN` | the invoked function | what one-time schedules invoke |
//! | `SCHEDULE_GROUP` | `default` | the schedule group |
//! | `SCHEDULE_DLQ_ARN` | none | SQS queue for schedule invocations that could not be delivered |
//! | `FOLLOW_UP_CHECKS` | `on` (with `SCHEDULE_ROLE_ARN`) | `off`: no follow-up checks; waiting resources then rely on Lambda's two retries |
//! | `FOLLOW_UP_FIRST` | `5m` | the first check after acting; each next one waits twice as long |
//! | `FOLLOW_UP_MAX` | `60m` | the longest wait between two checks |
//! | `ROLLOUT_TIMEOUT` | `30m` | a deployment we started that shows no progress (`updatedAt`) this long fails `rollout_stalled` |
//! | `NOTIFICATION_TOPIC_ARN` | none | SNS topic for one summary per handled event (Chatbot JSON + plain-text e-mail) |
//! | `METRICS_NAMESPACE` | `RetirementRemediator` | CloudWatch EMF namespace; `off` to emit no metrics |
//! | `LEDGER_TABLE` | none | DynamoDB table remembering what was done per notice and resource (see `remediator_core::ledger`) |
//! | `LEDGER_RETENTION` | `90d` | how long ledger entries are kept after AWS's deadline |
//! | `MEMBER_ROLE_NAME` | none | central mode: the role assumed in a member account for a notice of that account (off: such a notice fails `other_account`) |
//! | `PASSABLE_TASK_ROLES` | none | what follows `role/` in the ARNs of the roles the function may pass, comma-separated, wildcards `*` `?` (the template's `PassableTaskRoles`; `none`: no role): the preflight flags standalone tasks with other roles (`role_not_passable`) |
//! | `ECS_CLUSTER_NAMES` | every cluster | the template's `EcsClusterNames`: the clusters the preflight reads (wildcards `*`, `?`) |
//! | `ACCOUNTS_INCLUDE` / `ACCOUNTS_EXCLUDE` | none | comma-separated account ids the remediator acts in only / never (`account_excluded`) |
//! | `FUNCTION_ROLE_ARN` | none | the ECS function's role (the templates set it): the preflight asks IAM's policy simulator whether it may pass standalone tasks' roles (`role_not_passable`), else it matches `PASSABLE_TASK_ROLES` |
//! | `ORGANIZATION_ACCOUNTS` | `off` | `on` (central mode): the preflight reads every `ACTIVE` account of the organization (Organizations `ListAccounts`; the management account or a delegated administrator), narrowed by the two above |
//! | `CONFIRM_NOTICES` | `off` | `health-api`: before acting, ask AWS Health that the event exists, has the notice's type and lists each resource (`unconfirmed` otherwise; recommended for central mode; needs a Business or Enterprise support plan) |
//! | `EKS_ENDPOINT_URL` | the endpoint DescribeCluster returns | the CLI only (`remediator apply` on EKS pods): the Kubernetes API server to use instead (a local fake; plain `http://` only here). The Lambda function ignores it |

use std::time::Duration;

use std::borrow::Cow;

use remediator_core::defer::{Deferral, DEFAULT_MARGIN};
use remediator_core::follow::CheckPolicy;
use remediator_core::window::{parse_duration, Windows};
use remediator_core::{Rate, Settings};

pub use remediator_sdk::controls::{ControlSettings, LedgerSettings};
use remediator_sdk::scheduler::ScheduleSettings;

/// A setting that could not be read. Reported at start-up, before any event is handled.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}={value:?} is invalid: {expected}")]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
    pub expected: Cow<'static, str>,
}

/// Everything configurable, read once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub settings: Settings,
    pub sdk_max_attempts: u32,
    pub controls: ControlSettings,
    /// `EKS_ENDPOINT_URL`: the Kubernetes API server to reach instead of the cluster's own.
    pub eks_endpoint_url: Option<String>,
    /// Central mode and account filters.
    pub accounts: remediator_core::accounts::Accounts,
    /// `PASSABLE_TASK_ROLES`: the role names the function may pass (the template's
    /// `PassableTaskRoles`, `none` for no role), for the preflight's check of standalone tasks;
    /// `None` (unset): not checked.
    pub passable_task_roles: Option<Vec<String>>,
    /// `ECS_CLUSTER_NAMES`: the clusters the function may act in (the template's
    /// `EcsClusterNames`); the preflight reads these only. Empty or `*`: every cluster.
    pub ecs_cluster_names: Vec<String>,
    /// `ORGANIZATION_ACCOUNTS=on`: the preflight reads every active account of the organization
    /// (Organizations `ListAccounts`), narrowed by `ACCOUNTS_INCLUDE` / `ACCOUNTS_EXCLUDE`.
    pub organization_accounts: bool,
    /// `FUNCTION_ROLE_ARN`: the ECS function's role (the templates set it), whose PassRole the
    /// preflight asks IAM's policy simulator about; unset: the patterns alone.
    pub function_role_arn: Option<String>,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut settings = Settings::default();
        let get = |name: &'static str| {
            lookup(name)
                .filter(|v| !v.trim().is_empty())
                .map(|v| (name, v))
        };

        if let Some((name, v)) = get("DRY_RUN") {
            settings.dry_run = parse_bool(name, &v)?;
        }
        if let Some((name, v)) = get("REPLACE_DRAINED_INSTANCES") {
            settings.replace_drained_instances = parse_bool(name, &v)?;
        }
        if let Some((name, v)) = get("OPT_IN_ONLY") {
            settings.opt_in_only = parse_bool(name, &v)?;
        }
        if let Some((name, v)) = get("MAX_CONCURRENCY") {
            settings.concurrency =
                parse_num(name, &v, 1..=256, "a whole number from 1 to 256")? as usize;
        }
        if let Some((name, v)) = get("UPDATE_SERVICE_RATE") {
            settings.update_service_rate = parse_rate(name, &v)?;
        }
        if let Some((name, v)) = get("CLUSTER_RESOURCE_RATE") {
            settings.cluster_resource_rate = parse_rate(name, &v)?;
        }
        if let Some((name, v)) = get("BACKOFF_ROUNDS") {
            settings.backoff.rounds = parse_num(name, &v, 0..=50, "a whole number from 0 to 50")?;
        }
        if let Some((name, v)) = get("ROLLOUT_TIMEOUT") {
            settings.rollout_timeout = minutes(name, &v, 1, 7 * 24 * 60)?;
        }
        if let Some((name, v)) = get("DEADLINE_MARGIN_SECS") {
            settings.deadline_margin =
                Duration::from_secs(parse_num(name, &v, 0..=600, "seconds from 0 to 600")?.into());
        }
        let sdk_max_attempts = match get("SDK_MAX_ATTEMPTS") {
            Some((name, v)) => parse_num(name, &v, 1..=20, "a whole number from 1 to 20")?,
            None => 5,
        };
        let controls = controls(&get)?;
        let accounts = accounts(&get)?;
        let organization_accounts = organization_accounts(&get, &accounts)?;
        Ok(Config {
            settings,
            sdk_max_attempts,
            controls,
            eks_endpoint_url: get("EKS_ENDPOINT_URL").map(|(_, url)| url.trim().to_owned()),
            accounts,
            passable_task_roles: get("PASSABLE_TASK_ROLES").map(|(name, v)| {
                let roles = list(Some((name, v)));
                roles.into_iter().filter(|r| r != "none").collect()
            }),
            ecs_cluster_names: list(get("ECS_CLUSTER_NAMES")),
            organization_accounts,
            function_role_arn: match get("FUNCTION_ROLE_ARN") {
                Some((name, v)) => Some(role_arn(name, v)?),
                None => None,
            },
        })
    }
}

/// A comma-separated list, blanks dropped.
fn list(value: Option<(&'static str, String)>) -> Vec<String> {
    value
        .map(|(_, v)| {
            v.split(',')
                .map(|r| r.trim().to_owned())
                .filter(|r| !r.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

fn controls(
    get: &impl Fn(&'static str) -> Option<(&'static str, String)>,
) -> Result<ControlSettings, ConfigError> {
    let mut c = ControlSettings::default();
    let margin = match get("DEADLINE_MARGIN") {
        Some((name, v)) => parse_duration(&v)
            .ok()
            .filter(|d| *d >= chrono::Duration::zero() && *d <= chrono::Duration::days(14))
            .ok_or(ConfigError {
                name,
                value: v.clone(),
                expected: "a duration from 0s to 14d, like 24h, 12h, 90m".into(),
            })?,
        None => DEFAULT_MARGIN,
    };
    let schedule = get("SCHEDULE_ROLE_ARN").map(|(_, role_arn)| ScheduleSettings {
        role_arn: role_arn.trim().to_owned(),
        group: get("SCHEDULE_GROUP")
            .map(|(_, g)| g.trim().to_owned())
            .unwrap_or_else(|| "default".to_owned()),
        dead_letter_arn: get("SCHEDULE_DLQ_ARN").map(|(_, a)| a.trim().to_owned()),
    });
    if let Some((name, v)) = get("MAINTENANCE_WINDOWS") {
        let windows: Windows = v
            .parse()
            .map_err(|e: remediator_core::window::WindowError| ConfigError {
                name,
                value: v.clone(),
                expected: e.to_string().into(),
            })?;
        if !windows.is_empty() {
            if schedule.is_none() {
                return Err(ConfigError {
                    name,
                    value: v,
                    expected: "SCHEDULE_ROLE_ARN as well: deferring to a window needs a role EventBridge Scheduler can invoke the function with".into(),
                });
            }
            c.deferral = Some(Deferral { windows, margin });
        }
    }
    let checks_on = match get("FOLLOW_UP_CHECKS") {
        Some((name, v)) => match v.trim().to_ascii_lowercase().as_str() {
            "off" => false,
            "on" => true,
            _ => parse_bool(name, &v)?,
        },
        None => true,
    };
    if schedule.is_some() && checks_on {
        let mut policy = CheckPolicy {
            act_margin: margin,
            ..CheckPolicy::default()
        };
        if let Some((name, v)) = get("FOLLOW_UP_FIRST") {
            policy.first = minutes(name, &v, 1, 24 * 60)?;
        }
        if let Some((name, v)) = get("FOLLOW_UP_MAX") {
            policy.cap = minutes(name, &v, 1, 24 * 60)?;
        }
        policy.cap = policy.cap.max(policy.first);
        c.checks = Some(policy);
    }
    if schedule.is_some() {
        c.schedule_target_arn = get("SCHEDULE_TARGET_ARN").map(|(_, a)| a.trim().to_owned());
    }
    c.schedule = schedule;
    c.notification_topic_arn = get("NOTIFICATION_TOPIC_ARN").map(|(_, a)| a.trim().to_owned());
    let retention = match get("LEDGER_RETENTION") {
        Some((name, v)) => parse_duration(&v)
            .ok()
            .filter(|d| *d >= chrono::Duration::days(1) && *d <= chrono::Duration::days(3650))
            .ok_or(ConfigError {
                name,
                value: v.clone(),
                expected: "a duration from 1d to 3650d, like 30d or 90d".into(),
            })?,
        None => remediator_core::ledger::default_retention(),
    };
    c.ledger = get("LEDGER_TABLE").map(|(_, table)| LedgerSettings {
        table: table.trim().to_owned(),
        retention,
    });
    if let Some((_, v)) = get("METRICS_NAMESPACE") {
        c.metrics_namespace = if v.trim().eq_ignore_ascii_case("off") {
            None
        } else {
            Some(v.trim().to_owned())
        };
    }
    Ok(c)
}

/// A duration of `low` to `high` minutes, written like `5m`, `1h`.
fn minutes(
    name: &'static str,
    v: &str,
    low: i64,
    high: i64,
) -> Result<chrono::Duration, ConfigError> {
    parse_duration(v)
        .ok()
        .filter(|d| *d >= chrono::Duration::minutes(low) && *d <= chrono::Duration::minutes(high))
        .ok_or(ConfigError {
            name,
            value: v.to_owned(),
            expected: format!("a duration from {low}m to {high}m, like 5m or 1h").into(),
        })
}

/// `MEMBER_ROLE_NAME`, `ACCOUNTS_INCLUDE`, `ACCOUNTS_EXCLUDE`.
fn accounts(
    get: &impl Fn(&'static str) -> Option<(&'static str, String)>,
) -> Result<remediator_core::accounts::Accounts, ConfigError> {
    let ids = |name: &'static str| -> Result<Vec<String>, ConfigError> {
        let Some((name, v)) = get(name) else {
            return Ok(Vec::new());
        };
        v.split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| {
                if a.len() == 12 && a.chars().all(|c| c.is_ascii_digit()) {
                    Ok(a.to_owned())
                } else {
                    Err(ConfigError {
                        name,
                        value: v.clone(),
                        expected: "comma-separated 12-digit account ids".into(),
                    })
                }
            })
            .collect()
    };
    let confirm_notices = match get("CONFIRM_NOTICES") {
        None => false,
        Some((name, v)) => match v.trim() {
            "off" => false,
            "health-api" => true,
            _ => {
                return Err(ConfigError {
                    name,
                    value: v,
                    expected: "off or health-api".into(),
                })
            }
        },
    };
    Ok(remediator_core::accounts::Accounts {
        member_role: get("MEMBER_ROLE_NAME").map(|(_, r)| r.trim().to_owned()),
        include: ids("ACCOUNTS_INCLUDE")?,
        exclude: ids("ACCOUNTS_EXCLUDE")?,
        confirm_notices,
    })
}

/// An IAM role's ARN, `arn:PARTITION:iam::ACCOUNT:role/PATH/NAME`.
fn role_arn(name: &'static str, v: String) -> Result<String, ConfigError> {
    let v = v.trim().to_owned();
    let parts: Vec<&str> = v.splitn(6, ':').collect();
    let ok = matches!(parts.as_slice(), ["arn", partition, "iam", "", account, rest]
        if !partition.is_empty()
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && rest.strip_prefix("role/").is_some_and(|n| !n.is_empty()));
    if ok {
        Ok(v)
    } else {
        Err(ConfigError {
            name,
            value: v,
            expected: "an IAM role ARN, arn:aws:iam::123456789012:role/NAME".into(),
        })
    }
}

/// `ORGANIZATION_ACCOUNTS`: `on` or `off` (the default); `on` needs central mode, the member
/// accounts being read through `MEMBER_ROLE_NAME`.
fn organization_accounts(
    get: &impl Fn(&'static str) -> Option<(&'static str, String)>,
    accounts: &remediator_core::accounts::Accounts,
) -> Result<bool, ConfigError> {
    let Some((name, v)) = get("ORGANIZATION_ACCOUNTS") else {
        return Ok(false);
    };
    match v.trim() {
        "off" => Ok(false),
        "on" if accounts.member_role.is_some() => Ok(true),
        "on" => Err(ConfigError {
            name,
            value: v,
            expected: "MEMBER_ROLE_NAME as well: the organization's accounts are read through the member role".into(),
        }),
        _ => Err(ConfigError {
            name,
            value: v,
            expected: "on or off".into(),
        }),
    }
}

fn parse_bool(name: &'static str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(ConfigError {
            name,
            value: v.to_owned(),
            expected: "true or false".into(),
        }),
    }
}

fn parse_num(
    name: &'static str,
    v: &str,
    range: std::ops::RangeInclusive<u32>,
    expected: &'static str,
) -> Result<u32, ConfigError> {
    v.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or(ConfigError {
            name,
            value: v.to_owned(),
            expected: expected.into(),
        })
}

fn parse_rate(name: &'static str, v: &str) -> Result<Option<Rate>, ConfigError> {
    let err = || ConfigError {
        name,
        value: v.to_owned(),
        expected: "PER_SECOND/BURST (e.g. 5/50) or off".into(),
    };
    if v.trim().eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let (per_second, burst) = v.trim().split_once('/').ok_or_else(err)?;
    let per_second: u32 = per_second.trim().parse().map_err(|_| err())?;
    let burst: u32 = burst.trim().parse().map_err(|_| err())?;
    if per_second == 0 || burst == 0 {
        return Err(err());
    }
    // A bucket fuller than MAX_HORIZON would look, to the shared budget, like a wrong clock's.
    let horizon = remediator_core::pacing::MAX_HORIZON.as_secs();
    let fastest = remediator_core::pacing::MAX_PER_SECOND;
    if u64::from(burst) > horizon * u64::from(per_second) || per_second > fastest {
        return Err(ConfigError {
            name,
            value: v.to_owned(),
            expected: format!(
                "PER_SECOND/BURST with PER_SECOND at most {fastest} and BURST at most {horizon} × PER_SECOND (a bucket of at most {horizon} s of calls)"
            )
            .into(),
        });
    }
    Ok(Some(Rate { per_second, burst }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn no_environment_gives_the_documented_defaults() {
        let c = config(&[]).expect("defaults");
        assert!(!c.settings.dry_run);
        assert_eq!(c.settings.concurrency, 8);
        assert_eq!(
            c.settings.update_service_rate,
            Some(Rate {
                per_second: 3,
                burst: 30
            }),
            "a share of the account's 5/50 UpdateService bucket, not all of it"
        );
        assert_eq!(c.sdk_max_attempts, 5);
    }

    #[test]
    fn the_function_role_must_be_a_role_arn() {
        let arn = "arn:aws:iam::123456789012:role/service-role/remediator-ecs";
        let c = config(&[("FUNCTION_ROLE_ARN", arn)]).expect("a role ARN");
        assert_eq!(c.function_role_arn.as_deref(), Some(arn));
        for bad in [
            "remediator-ecs",
            "arn:aws:iam::123:role/x",
            "arn:aws:iam::123456789012:user/x",
        ] {
            assert!(config(&[("FUNCTION_ROLE_ARN", bad)]).is_err(), "{bad}");
        }
    }

    #[test]
    fn organization_accounts_need_central_mode_and_are_off_unless_asked() {
        assert!(!config(&[]).expect("defaults").organization_accounts);
        let on = config(&[
            ("ORGANIZATION_ACCOUNTS", "on"),
            ("MEMBER_ROLE_NAME", "member"),
        ]);
        assert!(on.expect("central mode").organization_accounts);
        let alone = config(&[("ORGANIZATION_ACCOUNTS", "on")]).expect_err("no member role");
        assert!(alone.to_string().contains("MEMBER_ROLE_NAME"), "{alone}");
        let typo = config(&[("ORGANIZATION_ACCOUNTS", "yes"), ("MEMBER_ROLE_NAME", "m")]);
        assert!(typo.is_err(), "only on or off");
    }

    #[test]
    fn every_setting_is_read() {
        let c = config(&[
            ("DRY_RUN", "true"),
            ("MAX_CONCURRENCY", "3"),
            ("UPDATE_SERVICE_RATE", "2/10"),
            ("CLUSTER_RESOURCE_RATE", "4/8"),
            ("BACKOFF_ROUNDS", "0"),
            ("DEADLINE_MARGIN_SECS", "30"),
            ("SDK_MAX_ATTEMPTS", "2"),
        ])
        .expect("valid");
        assert!(c.settings.dry_run);
        assert_eq!(c.settings.concurrency, 3);
        assert_eq!(
            c.settings.update_service_rate,
            Some(Rate {
                per_second: 2,
                burst: 10
            })
        );
        assert_eq!(
            c.settings.cluster_resource_rate,
            Some(Rate {
                per_second: 4,
                burst: 8
            })
        );
        assert_eq!(c.settings.backoff.rounds, 0);
        assert_eq!(c.settings.deadline_margin, Duration::from_secs(30));
        assert_eq!(c.sdk_max_attempts, 2);
    }

    #[test]
    fn maintenance_windows_need_a_schedule_role_and_read_the_margin() {
        let e = config(&[("MAINTENANCE_WINDOWS", "Sat 02:00-05:00 UTC")]).expect_err("no role");
        assert!(e.to_string().contains("SCHEDULE_ROLE_ARN"), "{e}");
        let c = config(&[
            (
                "MAINTENANCE_WINDOWS",
                "Sat 02:00-05:00 UTC; Wed 22:00-23:30 Europe/Paris",
            ),
            ("DEADLINE_MARGIN", "12h"),
            (
                "SCHEDULE_ROLE_ARN",
                "arn:aws:iam::123456789012:role/scheduler",
            ),
            ("SCHEDULE_GROUP", "retirement-remediator"),
        ])
        .expect("valid");
        let deferral = c.controls.deferral.expect("windows");
        assert_eq!(deferral.margin, chrono::Duration::hours(12));
        assert_eq!(
            deferral.windows.to_string(),
            "Sat 02:00-05:00 UTC; Wed 22:00-23:30 Europe/Paris"
        );
        let schedule = c.controls.schedule.expect("schedule settings");
        assert_eq!(schedule.group, "retirement-remediator");
        assert_eq!(c.controls.schedule_target_arn, None);
    }

    #[test]
    fn without_windows_nothing_is_deferred_and_metrics_are_on() {
        let c = config(&[]).expect("defaults");
        assert_eq!(c.controls.deferral, None);
        assert_eq!(
            c.controls.metrics_namespace.as_deref(),
            Some("RetirementRemediator")
        );
        let off = config(&[("METRICS_NAMESPACE", "off")]).expect("off");
        assert_eq!(off.controls.metrics_namespace, None);
    }

    #[test]
    fn a_bad_window_names_the_variable_and_the_entry() {
        let e = config(&[
            (
                "MAINTENANCE_WINDOWS",
                "Sat 02:00-05:00 UTC; Funday 01:00-02:00 UTC",
            ),
            ("SCHEDULE_ROLE_ARN", "arn:role"),
        ])
        .expect_err("bad day");
        assert_eq!(e.name, "MAINTENANCE_WINDOWS");
        assert!(e.to_string().contains("Funday"), "{e}");
        assert!(config(&[("DEADLINE_MARGIN", "forever")]).is_err());
    }

    #[test]
    fn the_ledger_is_read_with_its_retention() {
        assert_eq!(config(&[]).expect("defaults").controls.ledger, None);
        let c = config(&[
            ("LEDGER_TABLE", "remediator-ledger"),
            ("LEDGER_RETENTION", "30d"),
        ])
        .expect("valid");
        assert_eq!(
            c.controls.ledger,
            Some(LedgerSettings {
                table: "remediator-ledger".into(),
                retention: chrono::Duration::days(30),
            })
        );
        let default = config(&[("LEDGER_TABLE", "t")]).expect("valid");
        assert_eq!(
            default.controls.ledger.map(|l| l.retention),
            Some(chrono::Duration::days(90))
        );
        let e =
            config(&[("LEDGER_TABLE", "t"), ("LEDGER_RETENTION", "1h")]).expect_err("too short");
        assert_eq!(e.name, "LEDGER_RETENTION");
    }

    #[test]
    fn pacing_can_be_switched_off() {
        assert_eq!(
            config(&[("UPDATE_SERVICE_RATE", "off")])
                .expect("off")
                .settings
                .update_service_rate,
            None
        );
        assert_eq!(
            config(&[("CLUSTER_RESOURCE_RATE", "off")])
                .expect("off")
                .settings
                .cluster_resource_rate,
            None
        );
    }

    #[test]
    fn a_bad_value_is_an_error_that_names_the_variable() {
        for (k, v) in [
            ("DRY_RUN", "maybe"),
            ("MAX_CONCURRENCY", "0"),
            ("MAX_CONCURRENCY", "lots"),
            ("UPDATE_SERVICE_RATE", "5"),
            ("UPDATE_SERVICE_RATE", "0/5"),
            ("CLUSTER_RESOURCE_RATE", "12"),
            ("UPDATE_SERVICE_RATE", "1/61"),
            ("CLUSTER_RESOURCE_RATE", "1001/1001"),
            ("SDK_MAX_ATTEMPTS", "99"),
        ] {
            let e = config(&[(k, v)]).expect_err(v);
            assert_eq!(e.name, k);
            assert!(e.to_string().contains(v), "{e}");
        }
    }
}
