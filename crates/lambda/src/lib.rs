//! The Lambda shell both functions share: configuration from the environment, and a
//! translator from Lambda's event to the core's driver ([`remediator_core::run`]), which runs
//! every stage of an event in order.
//!
//! A function is this shell plus a [`remediator_core::Remediate`] (the ECS engine, the pod
//! restarter): `functions/*/src/main.rs` call [`serve`] with one and nothing else.

pub mod config;
pub mod handler;
pub mod preflight;

/// The AWS adapters the functions run with (they live in `remediator-sdk`, beside the others).
pub use remediator_sdk::{budget, controls, ledger, notify, scheduler};

use aws_config::SdkConfig;
use lambda_runtime::{service_fn, LambdaEvent};
use remediator_core::Remediate;
use serde_json::Value;

pub use config::{Config, ConfigError};
pub use controls::Controls;
pub use handler::{handle, handle_with, into_result, HandlerError};
pub use remediator_sdk::load_sdk_config;

/// The account's shared API budget ([`remediator_core::ports::SharedBudget`]): in the ledger
/// table when there is one, so that every execution environment (any reserved concurrency)
/// spends the same share; without a ledger, this environment's own. `clock`: whose clock reads
/// the table's buckets (Lambda's is kept by AWS, a laptop's is not).
pub fn shared_budget(
    sdk: &SdkConfig,
    config: &Config,
    clock: remediator_sdk::budget::Clock,
) -> std::sync::Arc<dyn remediator_core::ports::SharedBudget> {
    match &config.controls.ledger {
        Some(ledger) => std::sync::Arc::new(
            remediator_sdk::budget::DynamoBudget::new(
                aws_sdk_dynamodb::Client::new(sdk),
                &ledger.table,
            )
            .on(clock),
        ),
        None => std::sync::Arc::new(remediator_core::pacing::MemoryBudget::default()),
    }
}

/// Starts a Lambda function from a plain `main`: the CA bundle preferred while the process is
/// still single-threaded ([`prefer_ca_bundle`]), then the Tokio runtime `#[tokio::main]` would
/// build, running [`serve`].
pub fn start<R, B>(function: &'static str, build: B) -> Result<(), lambda_runtime::Error>
where
    R: Remediate,
    B: FnOnce(&SdkConfig, &Config) -> R,
{
    run_blocking(serve(function, build))
}

/// [`start`] for the ECS function: also answers the scheduled preflight ([`preflight`]) with
/// `preflight`, the checks it runs.
pub fn start_with_preflight<R, B, F, Fut>(
    function: &'static str,
    build: B,
    preflight: F,
) -> Result<(), lambda_runtime::Error>
where
    R: Remediate,
    B: FnOnce(&SdkConfig, &Config) -> R,
    F: Fn(SdkConfig, Config, remediator_core::preflight::Scopes) -> Fut,
    Fut: std::future::Future<Output = remediator_core::preflight::Preflight>,
{
    run_blocking(serve_inner(function, build, Some(&preflight)))
}

fn run_blocking(
    serving: impl std::future::Future<Output = Result<(), lambda_runtime::Error>>,
) -> Result<(), lambda_runtime::Error> {
    prefer_ca_bundle();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serving)
}

/// TLS reads the system's CA bundle alone. Without `SSL_CERT_FILE` or `SSL_CERT_DIR`, the root
/// certificates are loaded from the bundle *and* every file of the certificate directory, the
/// same certificates again (Debian's `/etc/ssl/certs`, Amazon Linux's `/etc/pki/tls/certs`):
/// twice the reading and parsing at every cold start, for nothing. When the operator set neither,
/// this points `SSL_CERT_FILE` at the bundle the system has (what `openssl-probe` finds); an
/// explicit setting is left alone. Call it before any thread starts (the environment is
/// process-wide).
pub fn prefer_ca_bundle() {
    if openssl_probe::has_ssl_cert_env_vars() {
        return;
    }
    if let Some(bundle) = openssl_probe::probe().cert_file {
        std::env::set_var("SSL_CERT_FILE", bundle);
    }
}

/// Runs a Lambda function: tracing (JSON when Lambda asks for it), configuration from the
/// environment, SDK clients and the remediator built once per execution environment, then the
/// runtime loop. `function` names the function in metrics (`ecs-retirement`, `eks-fargate-pod`).
pub async fn serve<R, B>(function: &'static str, build: B) -> Result<(), lambda_runtime::Error>
where
    R: Remediate,
    B: FnOnce(&SdkConfig, &Config) -> R,
{
    type NoPreflight = fn(
        SdkConfig,
        Config,
        remediator_core::preflight::Scopes,
    ) -> std::future::Ready<remediator_core::preflight::Preflight>;
    serve_inner(function, build, None::<&NoPreflight>).await
}

async fn serve_inner<R, B, F, Fut>(
    function: &'static str,
    build: B,
    preflight: Option<&F>,
) -> Result<(), lambda_runtime::Error>
where
    R: Remediate,
    B: FnOnce(&SdkConfig, &Config) -> R,
    F: Fn(SdkConfig, Config, remediator_core::preflight::Scopes) -> Fut,
    Fut: std::future::Future<Output = remediator_core::preflight::Preflight>,
{
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let sdk = load_sdk_config(None, config.sdk_max_attempts).await;
    let controls = controls::build(&sdk, &config.controls, function, config.settings.dry_run);
    let remediator = build(&sdk, &config);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async {
        if let Some(preflight) = preflight.filter(|_| preflight::requested(&event.payload)) {
            let (now, deadline) = (
                chrono::Utc::now(),
                handler::deadline_instant(event.context.deadline),
            );
            return Ok(
                preflight::scheduled(preflight, &sdk, &config, function, now, deadline).await,
            );
        }
        let report = handle_with(&remediator, &controls, event, chrono::Utc::now()).await?;
        serde_json::to_value(report)
            .map_err(|e| HandlerError::Retryable(format!("the report could not be encoded: {e}")))
    }))
    .await
}
