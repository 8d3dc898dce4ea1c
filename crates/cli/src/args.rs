//! The command line as clap reads it: every subcommand and option, with the examples, exit
//! codes and environment each `--help` shows. `crates/cli/commands.md` is generated from this
//! (`clap-markdown`) and a test keeps the two equal.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

const ENV_AWS: &str =
    "    AWS_PROFILE, AWS_REGION   a real account and its Region (the standard config chain)
    AWS_ENDPOINT_URL          a local AWS instead (moto: `make moto`)
    RUST_LOG                  log level on stderr (default warn)";

const EXIT_RUN: &str = "Exit status:

    0  every resource reached a final outcome
    1  any resource failed (its reason says why; `remediator explain CODE` says what to do)
    2  the input is unusable (a file that cannot be read, a bad setting)";

#[derive(Parser)]
#[command(
    name = "remediator",
    version,
    about = "Act on Fargate retirement notices before AWS does",
    long_about = "Act on Fargate retirement notices before AWS does.\n\n\
        The same core the Lambda functions run: `plan` and `apply` a notice (AWS Health's \
        AWS_ECS_TASK_PATCHING_RETIREMENT, EKS's Fargate Pod Scheduled Termination, an EC2 \
        scheduled event), `status` of every notice in the ledger, `preflight` before any \
        notice, `explain` any code a report shows.",
    after_help = "Examples:

    remediator plan --event events-fixtures/health-ecs-services-pipe.json
    remediator explain rollout_stalled
    LEDGER_TABLE=retirement-ledger remediator status

Exit status: 0 success, 1 a resource failed or a finding is high, 2 unusable input.
Every subcommand's --help lists the environment it reads."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Show what would be done for an event, without any mutating call.
    #[command(after_help = format!("Examples:

    remediator plan --event events-fixtures/health-ecs-services-pipe.json
    remediator plan --event notice.json --json > plan.json
    aws sqs receive-message ... | jq -r '.Messages[0].Body' | remediator plan --event -

{EXIT_RUN}

Environment:

    LEDGER_TABLE              answer what the ledger remembers for the notice (read only)
    MEMBER_ROLE_NAME          central mode: plan a member account's notice through its role
    ACCOUNTS_INCLUDE, ACCOUNTS_EXCLUDE, OPT_IN_ONLY, CONFIRM_NOTICES   what may be acted on
    ROLLOUT_TIMEOUT           when a deployment the ledger follows counts as stalled
    MAX_CONCURRENCY, SDK_MAX_ATTEMPTS, BACKOFF_ROUNDS   as the functions read them
    EKS_ENDPOINT_URL          a pod notice's API server instead of DescribeCluster's
    Every setting of the functions is read and checked (a bad value exits 2).
{ENV_AWS}"))]
    Plan(EventArgs),
    /// Remediate every resource the event names, now (maintenance windows and DRY_RUN do not
    /// apply).
    #[command(after_help = format!("Examples:

    remediator apply --event notice.json
    LEDGER_TABLE=retirement-ledger remediator apply --event notice.json --json

With LEDGER_TABLE the run claims each resource as the functions do: what another run or the
function already handled is not acted on again; what this run does not reach in 15 minutes
ends retryable and the next `apply` picks it up.

{EXIT_RUN}

Environment:

    LEDGER_TABLE              the ledger (recommended: without it an update of a notice cannot
                              be told from a new one)
    MEMBER_ROLE_NAME          central mode: act in a member account through its role
    ACCOUNTS_INCLUDE, ACCOUNTS_EXCLUDE, OPT_IN_ONLY, CONFIRM_NOTICES, UPDATE_SERVICE_RATE,
    CLUSTER_RESOURCE_RATE, MAX_CONCURRENCY, SDK_MAX_ATTEMPTS, BACKOFF_ROUNDS,
    DEADLINE_MARGIN_SECS      as the functions read them
    ROLLOUT_TIMEOUT           when a deployment the ledger follows counts as stalled
    REPLACE_DRAINED_INSTANCES true: a drained instance AWS retires is terminated in its group
    LEDGER_RETENTION          how long what it records is kept
    Every setting of the functions is read and checked (a bad value exits 2).
    EKS_ENDPOINT_URL          a pod notice's API server instead of DescribeCluster's
{ENV_AWS}"))]
    Apply(EventArgs),
    /// Render a JSON report (the Lambda's response, `--json` output) as a table.
    #[command(after_help = format!("Examples:

    remediator show --report response.json
    aws lambda invoke --function-name ecs-retirement --payload file://notice.json /dev/stdout | remediator show --report -

{EXIT_RUN}"))]
    Show {
        /// Report file, or `-` for standard input. Example: `--report response.json`.
        #[arg(long, value_name = "FILE")]
        report: PathBuf,
    },
    /// Where every notice in the ledger stands, or every resource of one.
    #[command(after_help = format!("Examples:

    remediator status
    remediator status --event arn:aws:health:us-east-1::event/ECS/AWS_ECS_TASK_PATCHING_RETIREMENT/EXAMPLE
    remediator status --json | jq '.[] | select(.counts.unreplaced > 0) | .notice'
    remediator status --html status.html

Exit status:

    0  the ledger was read
    1  it could not be read, or holds nothing for --event
    2  LEDGER_TABLE is not set, or a setting is unusable

Environment:

    LEDGER_TABLE              the ledger table (required)
    SCHEDULE_GROUP            where the next follow-up check of each notice is read (default: default)
{ENV_AWS}"))]
    Status {
        /// The notice's event ARN (or its ledger key, `ARN#account`, `eks:EVENT_ID`).
        /// Example: `--event arn:aws:health:us-east-1::event/ECS/AWS_ECS_TASK_PATCHING_RETIREMENT/EXAMPLE`.
        #[arg(long, value_name = "ARN")]
        event: Option<String>,
        /// Print JSON instead of a table. Example: `--json | jq .`.
        #[arg(long)]
        json: bool,
        /// Write the status as one self-contained HTML page (every notice with its resources,
        /// AWS's window drawn as a timeline) to FILE instead of printing it.
        /// Example: `--html status.html`.
        #[arg(long, value_name = "FILE", conflicts_with = "json")]
        html: Option<PathBuf>,
    },
    /// Before any notice: what a retirement would hurt today, read only.
    #[command(after_help = format!("Examples:

    remediator preflight
    remediator preflight --region us-east-1 --region eu-west-1 --json
    remediator preflight --eks-cluster prod --html preflight.html
    MEMBER_ROLE_NAME=retirement-remediator-member ACCOUNTS_INCLUDE=111122223333,444455556666 remediator preflight

Exit status:

    0  no finding of severity high
    1  a finding of severity high (or a scope that could not be read)
    2  unusable input (no Region, a bad setting)

Environment:

    MEMBER_ROLE_NAME          central mode: read member accounts through this role
    ACCOUNTS_INCLUDE, ACCOUNTS_EXCLUDE   the member accounts to read / leave out
    ORGANIZATION_ACCOUNTS     on: every ACTIVE account Organizations lists (needs MEMBER_ROLE_NAME)
    ECS_CLUSTER_NAMES         the clusters the function may act in
    PASSABLE_TASK_ROLES       the roles a relaunch may pass (role_not_passable)
    FUNCTION_ROLE_ARN         whose PassRole IAM's policy simulator is asked about
    MAINTENANCE_WINDOWS, DEADLINE_MARGIN   checked against a typical deadline (windows need
                              SCHEDULE_ROLE_ARN, as the functions do)
    OPT_IN_ONLY               the dry-run plan leaves untagged resources out
    EKS_ENDPOINT_URL          the --eks-cluster API server instead of DescribeCluster's
{ENV_AWS}"))]
    Preflight(PreflightArgs),
    /// What an outcome, action, event or risk code means, whether anything was done, and what
    /// to do next.
    #[command(after_help = "Examples:

    remediator explain rollout_stalled
    remediator explain no_room_to_replace     # an outcome and a preflight risk: both entries
    remediator explain --all                  # the whole reference (crates/core/outcomes.md)

Exit status:

    0  the code is known
    2  no such code (the message lists the kinds of codes there are)")]
    Explain(ExplainArgs),
    /// The ledger table itself.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
}

#[derive(Subcommand)]
pub enum LedgerCommand {
    /// Create LEDGER_TABLE as the templates define it (idempotent).
    #[command(after_help = format!("Examples:

    LEDGER_TABLE=retirement-ledger remediator ledger init

Exit status:

    0  created, or it exists (TTL and point-in-time recovery checked)
    1  DynamoDB refused (the message says what to fix)
    2  LEDGER_TABLE is not set

Environment:

    LEDGER_TABLE              the table to create (required)
{ENV_AWS}"))]
    Init,
}

#[derive(clap::Args)]
pub struct EventArgs {
    /// EventBridge event JSON file, or `-` for standard input.
    /// Example: `--event events-fixtures/health-ecs-services-pipe.json`.
    #[arg(long, value_name = "FILE")]
    pub event: PathBuf,
    /// Print the JSON report instead of a table. Example: `--json > report.json`.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct PreflightArgs {
    /// Print JSON (`findings`, `resources`, `summary`) instead of a table.
    /// Example: `--json | jq '.findings[] | select(.severity == "high")'`.
    #[arg(long)]
    pub json: bool,
    /// Write the preflight as one self-contained HTML page (findings by account and Region,
    /// the fix for each) to FILE instead of printing it. Example: `--html preflight.html`.
    #[arg(long, value_name = "FILE", conflicts_with = "json")]
    pub html: Option<PathBuf>,
    /// A Region to read (repeat for several); default: the configured Region.
    /// Example: `--region us-east-1 --region eu-west-1`.
    #[arg(long = "region", value_name = "REGION")]
    pub regions: Vec<String>,
    /// An EKS cluster whose Fargate workloads to read as well (repeat for several), in the
    /// function's own account and the first Region; its API server is DescribeCluster's (or
    /// `EKS_ENDPOINT_URL`), reached with the caller's credentials as the EKS function is.
    /// Example: `--eks-cluster prod`.
    #[arg(long = "eks-cluster", value_name = "NAME")]
    pub eks_clusters: Vec<String>,
}

#[derive(clap::Args)]
pub struct ExplainArgs {
    /// The code, as a report, log line, metric or finding shows it. Example: `rollout_stalled`.
    #[arg(value_name = "CODE", required_unless_present = "all")]
    pub code: Option<String>,
    /// Print the whole reference instead. Example: `--all | less`.
    #[arg(long, conflicts_with = "code")]
    pub all: bool,
}
