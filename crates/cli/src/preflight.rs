//! `remediator preflight`: the account (and, in central mode, the member accounts of
//! `ACCOUNTS_INCLUDE`) read once, the remediator's planner in a dry run, the readiness rules.
//!
//! Reads the same configuration as the ECS function's scheduled preflight
//! ([`remediator_lambda::preflight::scope`]): `MEMBER_ROLE_NAME`, `ACCOUNTS_INCLUDE`,
//! `ACCOUNTS_EXCLUDE`, `MAINTENANCE_WINDOWS`, `DEADLINE_MARGIN`, `ECS_CLUSTER_NAMES` and
//! `PASSABLE_TASK_ROLES` (the template's `PassableTaskRoles`, to check
//! standalone tasks' roles); `--region` overrides the Regions.

use std::path::Path;

use chrono::Utc;
use remediator_core::names::Risk;
use remediator_core::preflight::{Finding, Preflight};
use remediator_lambda::{load_sdk_config, preflight, Config};

/// What the command line asked for.
pub struct Args<'a> {
    pub json: bool,
    pub html: Option<&'a Path>,
    pub regions: &'a [String],
    pub eks_clusters: &'a [String],
}

pub async fn run(args: Args<'_>) -> u8 {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("remediator: {e}");
            return 2;
        }
    };
    let sdk = load_sdk_config(args.regions.first().cloned(), config.sdk_max_attempts).await;
    let mut scopes = preflight::scope(&config, sdk.region().map(ToString::to_string), Utc::now());
    if !args.regions.is_empty() {
        scopes.regions = args.regions.to_vec();
    }
    let Some(first_region) = scopes.regions.first().cloned() else {
        eprintln!("remediator: no Region: set AWS_REGION or pass --region");
        return 2;
    };
    let ecs = remediator_aws::preflight::run(
        &sdk,
        config.settings.clone(),
        config.accounts.clone(),
        &scopes,
    )
    .await;
    let report = if args.eks_clusters.is_empty() {
        ecs
    } else {
        with_eks(ecs, &sdk, &config, args.eks_clusters, &first_region).await
    };
    match args.html {
        Some(file) => {
            let written = remediator_cli::pages::preflight_page(&report, Utc::now())
                .map_err(|e| e.to_string())
                .and_then(|page| std::fs::write(file, page).map_err(|e| e.to_string()));
            match written {
                Ok(()) => println!("wrote {}", file.display()),
                Err(e) => {
                    eprintln!("remediator: cannot write {}: {e}", file.display());
                    return 1;
                }
            }
        }
        None => print(&report, args.json),
    }
    u8::try_from(report.exit_code()).unwrap_or(1)
}

/// The ECS preflight with the EKS clusters' findings and rows added; a cluster that cannot be
/// read is a `member_unreadable` finding naming it (nothing in it was checked).
async fn with_eks(
    ecs: Preflight,
    sdk: &aws_config::SdkConfig,
    config: &Config,
    clusters: &[String],
    region: &str,
) -> Preflight {
    let account = remediator_sdk::central::caller_account(sdk)
        .await
        .unwrap_or_else(|_| "unknown".to_owned());
    let connector = remediator_kube::EksConnector::new(sdk, config.eks_endpoint_url.clone());
    let (mut findings, mut resources) = (ecs.findings, ecs.resources);
    for cluster in clusters {
        match remediator_kube::preflight::preflight(&connector, std::slice::from_ref(cluster), &account, region).await {
            Ok((f, r)) => {
                findings.extend(f);
                resources.extend(r);
            }
            Err(e) => findings.push(Finding::new(
                &account,
                region,
                format!("eks cluster {cluster}"),
                Risk::MemberUnreadable,
                e.to_string(),
                "give the caller an access entry in the cluster with the remediator's RBAC (infra/kubernetes/rbac.yaml: list on pods, replicasets, deployments, statefulsets, poddisruptionbudgets)",
            )),
        }
    }
    Preflight::new(findings, resources, ecs.summary.scopes + clusters.len())
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
