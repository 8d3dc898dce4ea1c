//! `remediator`: the operator's entry to the same core the Lambda functions run.
//!
//! ```text
//! remediator plan  --event FILE [--json]   # dry run: what would be done
//! remediator apply --event FILE [--json]   # do it
//! remediator show  --report FILE           # render a JSON report (e.g. a Lambda response) as a table
//! remediator status [--event ARN] [--json]  # where every notice in the ledger stands
//! remediator status --html FILE             # the same as one self-contained HTML page
//! remediator ledger init                    # create the ledger table (LEDGER_TABLE)
//! remediator preflight [--json | --html FILE] [--region R]  # before any notice: what a retirement would hurt
//! remediator explain CODE                   # what a code means and what to do next
//! ```
//! The options, examples and environment of each: [`remediator_cli::args`], `commands.md`.
//! With `LEDGER_TABLE` set, `plan` and `apply` go through the ledger as the functions do: a
//! resource already handled for the notice is not acted on again.
//! Exit status: 0 every resource reached a final outcome, 1 any failed, 2 the input is unusable.
//! AWS access uses the standard config chain: `AWS_PROFILE` for a real account,
//! `AWS_ENDPOINT_URL` for a local one. The Region is the event's, unless the event has none.
//! EKS pod events go to the cluster's API server (`EKS_ENDPOINT_URL` overrides the endpoint
//! DescribeCluster returns, for a local fake API server).
//! The report is the output; logs go to stderr at `warn` (backoff, SDK trouble) unless
//! `RUST_LOG` says otherwise.
// The futures nest the driver, the engine and the SDK calls deeply.
#![recursion_limit = "256"]

mod preflight;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use aws_config::SdkConfig;
use chrono::Utc;
use clap::Parser;
use remediator_cli::args::{Cli, Command, EventArgs, LedgerCommand};
use remediator_cli::pages::status_page;
use remediator_core::ledger::{render, summarize, Ledger, NoticeSummary};
use remediator_core::pipeline::{route, Notice, Remediate, Route};
use remediator_core::run::{self, Controls, Delivery};
use remediator_core::{parse_slice, ParseError, Parsed, Report};
use remediator_lambda::ledger::DynamoLedger;
use remediator_lambda::scheduler::next_check;
use remediator_lambda::{load_sdk_config, Config};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Plan(args) => run_event(args, true).await,
        Command::Apply(args) => run_event(args, false).await,
        Command::Show { report } => show(&report),
        Command::Status { event, json, html } => {
            let output = match html {
                Some(file) => Output::Html(file),
                None if json => Output::Json,
                None => Output::Table,
            };
            status(event.as_deref(), output).await
        }
        Command::Preflight(args) => {
            preflight::run(preflight::Args {
                json: args.json,
                html: args.html.as_deref(),
                regions: &args.regions,
                eks_clusters: &args.eks_clusters,
            })
            .await
        }
        Command::Explain(args) => explain(args.code.as_deref(), args.all),
        Command::Ledger {
            command: LedgerCommand::Init,
        } => ledger_init().await,
    };
    ExitCode::from(code)
}

async fn run_event(args: EventArgs, dry_run: bool) -> u8 {
    let raw = match read_input(&args.event) {
        Ok(raw) => raw,
        Err(e) => {
            eprintln!("remediator: cannot read {}: {e}", args.event.display());
            return 2;
        }
    };
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("remediator: {e}");
            return 2;
        }
    };
    let parsed = parse_slice(&raw);
    let region = parsed
        .as_ref()
        .ok()
        .and_then(|p| p.region())
        .map(str::to_owned);
    let mut settings = config.settings.clone();
    settings.dry_run = dry_run;
    let sdk = load_sdk_config(region, config.sdk_max_attempts).await;
    let ledger = ledger(&sdk, &config);
    if ledger.is_none() {
        eprintln!(
            "remediator: LEDGER_TABLE is not set: observation alone cannot tell an update of a notice from a new one"
        );
    }
    // The one choice the CLI makes that the Lambda functions make by their EventBridge rules.
    let report = match parsed {
        Ok(Parsed::PodTermination(_)) => {
            let pods = remediator_kube::central(
                &sdk,
                settings,
                config.accounts.clone(),
                config.eks_endpoint_url,
            );
            remediate(&pods, &raw, parsed, ledger.as_ref()).await
        }
        parsed => {
            // The ledger table's shared budget: a run from a laptop spends the same share as
            // the functions working on the account at the same time.
            let budget = remediator_lambda::shared_budget(
                &sdk,
                &config,
                remediator_sdk::budget::Clock::Unchecked,
            );
            let ecs = remediator_aws::central(&sdk, settings, config.accounts.clone(), budget);
            remediate(&ecs, &raw, parsed, ledger.as_ref()).await
        }
    };
    print_report(&report, args.json);
    exit_code(&report)
}

/// The path the functions take, the core's driver, with the ledger when `LEDGER_TABLE` names
/// one and without the maintenance-window gate, checks or notifications: the CLI acts now.
async fn remediate<R: Remediate>(
    remediator: &R,
    raw: &[u8],
    parsed: Result<Parsed, ParseError>,
    ledger: Option<&(DynamoLedger, chrono::Duration)>,
) -> Report {
    // Input that is not JSON at all is answered as the driver would answer it: rejected.
    let payload = match serde_json::from_slice(raw) {
        Ok(payload) => payload,
        Err(_) => return route_answer(remediator, parsed),
    };
    let controls = Controls::ledger_only(
        ledger.map(|(ledger, retention)| (ledger, *retention)),
        "cli",
        remediator.dry_run(),
    );
    // The claims' lease follows the deadline, as a Lambda invocation's does, so a run never
    // acts past its claims.
    let delivery = Delivery {
        payload,
        deadline: tokio::time::Instant::now() + CLAIMED_RUN,
        invoked_arn: String::new(),
        request_id: format!("cli-{}-{}", std::process::id(), Utc::now().timestamp()),
    };
    run::report_of(run::handle(remediator, &controls, delivery, Utc::now()).await)
}

/// The report `route` answers unparsable input with.
fn route_answer<R: Remediate>(remediator: &R, parsed: Result<Parsed, ParseError>) -> Report {
    match route(remediator, parsed) {
        Route::Answered(report) => *report,
        Route::Remediate(notice) => notice.report(Vec::new(), remediator.dry_run()),
    }
}

/// How long a run may work (a Lambda invocation's at most); what it does not reach ends
/// retryable, and `apply` again picks it up.
const CLAIMED_RUN: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// The ledger `LEDGER_TABLE` names, with its retention.
fn ledger(sdk: &SdkConfig, config: &Config) -> Option<(DynamoLedger, chrono::Duration)> {
    config.controls.ledger.as_ref().map(|l| {
        (
            DynamoLedger::new(aws_sdk_dynamodb::Client::new(sdk), &l.table),
            l.retention,
        )
    })
}

/// The ledger from the environment, or the exit status that says why not.
async fn ledger_from_env() -> Result<DynamoLedger, u8> {
    let config = Config::from_env().map_err(|e| {
        eprintln!("remediator: {e}");
        2
    })?;
    let sdk = load_sdk_config(None, config.sdk_max_attempts).await;
    ledger(&sdk, &config).map(|(l, _)| l).ok_or_else(|| {
        eprintln!("remediator: set LEDGER_TABLE to the ledger table's name");
        2
    })
}

/// How `remediator status` shows the notices.
enum Output {
    Table,
    Json,
    /// The status page, written to this file.
    Html(PathBuf),
}

async fn status(event: Option<&str>, output: Output) -> u8 {
    let ledger = match ledger_from_env().await {
        Ok(l) => l,
        Err(code) => return code,
    };
    let entries = match event {
        // The exact key is one Query; an ARN whose entries carry the affected account
        // (`ARN#account`, organization view) needs a Scan.
        Some(arn) => match ledger.notice(arn).await {
            Ok(found) if !found.is_empty() => Ok(found),
            Ok(_) => ledger.all().await.map(|all| {
                all.into_iter()
                    .filter(|e| e.notice.starts_with(&format!("{arn}#")))
                    .collect::<Vec<_>>()
            }),
            Err(e) => Err(e),
        },
        None => ledger.all().await,
    };
    let mut notices = match entries {
        // The page draws every resource on its notice's timeline.
        Ok(entries) => summarize(
            entries,
            event.is_some() || matches!(output, Output::Html(_)),
        ),
        Err(e) => {
            eprintln!("remediator: {e}; {}", e.fix);
            return 1;
        }
    };
    // The next follow-up check of each notice lives in its schedule.
    let group = std::env::var("SCHEDULE_GROUP")
        .ok()
        .filter(|g| !g.trim().is_empty())
        .unwrap_or_else(|| "default".to_owned());
    let scheduler = aws_sdk_scheduler::Client::new(&load_sdk_config(None, 3).await);
    for n in &mut notices {
        match next_check(&scheduler, group.trim(), &n.notice).await {
            Ok(at) => n.next_check = at,
            Err(e) => {
                eprintln!("remediator: next check of {} not known: {e}", n.notice);
                break;
            }
        }
    }
    if let Err(e) = show_status(&notices, &output) {
        eprintln!("remediator: {e}");
        return 1;
    }
    if event.is_some() && notices.is_empty() {
        eprintln!(
            "remediator: the ledger holds nothing for {}",
            event.unwrap_or_default()
        );
        return 1;
    }
    0
}

/// Prints the notices as `output` says, or writes the page.
fn show_status(notices: &[NoticeSummary], output: &Output) -> Result<(), String> {
    match output {
        Output::Table => print!("{}", render(notices)),
        Output::Json => {
            let json = serde_json::to_string_pretty(notices)
                .map_err(|e| format!("cannot encode the status: {e}"))?;
            println!("{json}");
        }
        Output::Html(file) => {
            let page = status_page(notices, Utc::now()).map_err(|e| e.to_string())?;
            std::fs::write(file, page)
                .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
            println!("wrote {}", file.display());
        }
    }
    Ok(())
}

async fn ledger_init() -> u8 {
    let ledger = match ledger_from_env().await {
        Ok(l) => l,
        Err(code) => return code,
    };
    match ledger.create_table().await {
        Ok(true) => {
            println!("created ledger table {} (on-demand, encrypted, point-in-time recovery, TTL on expires)", ledger.table());
            0
        }
        Ok(false) => {
            println!(
                "ledger table {} exists; TTL and point-in-time recovery checked",
                ledger.table()
            );
            0
        }
        Err(e) => {
            eprintln!("remediator: {e}; {}", e.fix);
            1
        }
    }
}

/// `remediator explain`: the reference entries of a code, or the whole reference.
fn explain(code: Option<&str>, all: bool) -> u8 {
    use remediator_core::explain;
    if all {
        print!("{}", explain::REFERENCE);
        return 0;
    }
    let code = code.unwrap_or_default();
    let found = explain::explain(code);
    if found.is_empty() {
        // A set: an outcome and a risk can share a name.
        let asked = code.trim().to_ascii_lowercase();
        let near: std::collections::BTreeSet<&str> = explain::every_name()
            .into_iter()
            .map(|(_, n)| n)
            .filter(|n| !asked.is_empty() && (n.contains(asked.as_str()) || asked.contains(n)))
            .collect();
        let near: Vec<&str> = near.into_iter().collect();
        eprintln!(
            "remediator: no outcome, action, event or risk code {code:?}{}; `remediator explain --all` lists them",
            if near.is_empty() { String::new() } else { format!(" (did you mean {}?)", near.join(", ")) }
        );
        return 2;
    }
    for (i, entry) in found.iter().enumerate() {
        if i > 0 {
            println!();
        }
        println!("{} ({})\n{}", entry.name, entry.kind, entry.text);
    }
    0
}

fn show(path: &Path) -> u8 {
    let report: Result<Report, String> = read_input(path)
        .map_err(|e| e.to_string())
        .and_then(|raw| serde_json::from_slice(&raw).map_err(|e| e.to_string()));
    match report {
        Ok(report) => {
            print_report(&report, false);
            exit_code(&report)
        }
        Err(e) => {
            eprintln!("remediator: {} is not a report: {e}", path.display());
            2
        }
    }
}

fn print_report(report: &Report, json: bool) {
    if json {
        match serde_json::to_string_pretty(report) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("remediator: cannot encode the report: {e}"),
        }
    } else {
        print!("{}", report.render_table());
    }
}

fn exit_code(report: &Report) -> u8 {
    u8::try_from(report.exit_code()).unwrap_or(1)
}

fn read_input(path: &Path) -> std::io::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf)?;
        Ok(buf)
    } else {
        std::fs::read(path)
    }
}
