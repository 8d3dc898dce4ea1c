//! `remediator`: the operator's entry to the same core the Lambda functions run.
//!
//! ```text
//! remediator plan  --event FILE [--json]   # dry run: what would be done
//! remediator apply --event FILE [--json]   # do it
//! remediator show  --report FILE           # render a JSON report (e.g. a Lambda response) as a table
//! ```
//! Exit status: 0 every resource reached a final outcome, 1 any failed, 2 the input is unusable.
//! AWS access uses the standard config chain: `AWS_PROFILE` for a real account,
//! `AWS_ENDPOINT_URL` for a local one. The Region is the event's, unless the event has none.
//! EKS pod events go to the cluster's API server (`EKS_ENDPOINT_URL` overrides the endpoint
//! DescribeCluster returns, for a local fake API server).
//! The report is the output; logs go to stderr at `warn` (backoff, SDK trouble) unless
//! `RUST_LOG` says otherwise.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use remediator_aws::remediator;
use remediator_core::pipeline::run;
use remediator_core::{parse_slice, Parsed, Report};
use remediator_kube::{EksConnector, PodRemediator};
use remediator_lambda::{load_sdk_config, Config};

#[derive(Parser)]
#[command(
    name = "remediator",
    version,
    about = "Act on Fargate retirement notices before AWS does"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show what would be done for an event, without any mutating call.
    Plan(EventArgs),
    /// Remediate every resource the event names.
    Apply(EventArgs),
    /// Render a JSON report (the Lambda's response) as a table.
    Show {
        /// Report file, or `-` for standard input.
        #[arg(long)]
        report: PathBuf,
    },
}

#[derive(clap::Args)]
struct EventArgs {
    /// EventBridge event JSON file, or `-` for standard input.
    #[arg(long)]
    event: PathBuf,
    /// Print the JSON report instead of a table.
    #[arg(long)]
    json: bool,
}

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
    let mut settings = config.settings;
    settings.dry_run = dry_run;
    let sdk = load_sdk_config(region, config.sdk_max_attempts).await;
    // The one choice the CLI makes that the Lambda functions make by their EventBridge rules.
    let report = match parsed {
        Ok(Parsed::PodTermination(_)) => {
            let connector = EksConnector::new(&sdk, config.eks_endpoint_url);
            run(&PodRemediator::new(connector, &settings), parsed, None).await
        }
        parsed => run(&remediator(&sdk, settings), parsed, None).await,
    };
    print_report(&report, args.json);
    exit_code(&report)
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
