//! `remediator preflight`: the account (and, in central mode, the member accounts of
//! `ACCOUNTS_INCLUDE`) read once, the remediator's planner in a dry run, the readiness rules.
//!
//! Reads the same configuration as the ECS function's scheduled preflight
//! ([`remediator_lambda::preflight::scope`]): `MEMBER_ROLE_NAME`, `ACCOUNTS_INCLUDE`,
//! `ACCOUNTS_EXCLUDE`, `MAINTENANCE_WINDOWS`, `DEADLINE_MARGIN`, `ECS_CLUSTER_NAMES`,
//! `PREFLIGHT_REGIONS` and `PASSABLE_TASK_ROLES` (the template's `PassableTaskRoles`, to check
//! standalone tasks' roles); `--region` overrides the Regions.

use chrono::Utc;
use remediator_core::preflight::Preflight;
use remediator_lambda::{load_sdk_config, preflight, Config};

pub async fn run(json: bool, regions: &[String]) -> u8 {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("remediator: {e}");
            return 2;
        }
    };
    let sdk = load_sdk_config(regions.first().cloned(), config.sdk_max_attempts).await;
    let (members, mut scoped, rules) =
        preflight::scope(&config, sdk.region().map(ToString::to_string));
    if !regions.is_empty() {
        scoped = regions.to_vec();
    }
    if scoped.is_empty() {
        eprintln!("remediator: no Region: set AWS_REGION or pass --region");
        return 2;
    }
    let report = remediator_aws::preflight::run(
        &sdk,
        config.settings.clone(),
        config.accounts.clone(),
        &members,
        &scoped,
        &rules,
        Utc::now(),
    )
    .await;
    print(&report, json);
    u8::try_from(report.exit_code()).unwrap_or(1)
}

fn print(report: &Preflight, json: bool) {
    if json {
        match serde_json::to_string_pretty(report) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("remediator: cannot encode the preflight: {e}"),
        }
        return;
    }
    print!("{}", table(report));
}

/// The findings for a terminal: one line each, then the counts.
pub fn table(report: &Preflight) -> String {
    let mut out = String::new();
    for f in &report.findings {
        out.push_str(&format!(
            "{:<6} {:<34} {} {} {}\n       why: {}\n       fix: {}\n",
            f.severity.as_str(),
            f.risk.as_str(),
            f.account,
            f.region,
            f.resource,
            f.why,
            f.fix
        ));
    }
    let s = &report.summary;
    out.push_str(&format!(
        "{} finding(s) in {} scope(s), {} resource(s) planned: {}\n",
        s.findings,
        s.scopes,
        s.resources,
        s.by_severity
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    out
}
