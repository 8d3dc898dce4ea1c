//! `demo-account`: seeds a local AWS (moto) with the demo account and shows what changed.
//!
//! ```text
//! demo-account seed --event-in FIXTURE --event-out FILE --state FILE \
//!                   --subnets SUBNET,SUBNET --security-group SG
//! demo-account compare --state FILE
//! ```
//! `seed` creates the clusters and services named by `events-fixtures/health-ecs-demo-account.json`:
//! rolling services, one blue/green service with its CodeDeploy application, deployment group,
//! an earlier release (with lifecycle hooks) and the PRIMARY task set it made, and a standalone
//! task (which the stamped event names as well, since its id is only known now). It records each
//! service's current deployment in `--state`, prints the earlier release's id (for the caller to
//! mark finished, which no API can), and writes the fixture stamped with the current time (moto
//! creates the services just now; a real notice is published after they were deployed).
//! `compare` prints before/after deployment ids from the same account.
//! AWS access: the standard environment (`AWS_ENDPOINT_URL` points it at moto).

use std::process::ExitCode;

use remediator_testkit::{fixture_at, Network, Seed};
use serde::{Deserialize, Serialize};

/// Rolling services: (cluster, service).
const ROLLING: &[(&str, &str)] = &[
    ("prod", "checkout"),
    ("prod", "payments"),
    ("prod", "search"),
    ("staging", "web"),
];
/// The blue/green service.
const BLUE_GREEN: (&str, &str) = ("staging", "legacy-bluegreen");
/// Services the notice does not name, each with a deployment configuration the preflight flags:
/// (cluster, service, desiredCount, minimumHealthyPercent, maximumPercent).
const RISKY: &[(&str, &str, i32, i32, i32)] = &[
    // Its only task may stop before a replacement starts: an outage at each retirement.
    ("batch", "nightly-report", 1, 0, 100),
    // 100 % / 100 %: no room to start a replacement first, a forced deployment would stall.
    ("batch", "ledger-writer", 2, 100, 100),
];

/// What `seed` saw, for `compare`.
#[derive(Serialize, Deserialize)]
struct State {
    /// (cluster/service, PRIMARY ECS deployment id)
    rolling: Vec<(String, Option<String>)>,
    application: String,
    group: String,
    /// CodeDeploy deployments of the blue/green group at seeding time.
    codedeploy: Vec<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let sdk = remediator_sdk::load_sdk_config(None, 2).await;
    let mut seed = Seed {
        ecs: aws_sdk_ecs::Client::new(&sdk),
        codedeploy: aws_sdk_codedeploy::Client::new(&sdk),
        network: None,
    };
    let result = match (args.get(1).map(String::as_str), arg("--state")) {
        (Some("seed"), Some(state)) => {
            match (arg("--event-in"), arg("--event-out"), arg("--subnets"), arg("--security-group")) {
                (Some(event_in), Some(event_out), Some(subnets), Some(security_group)) => {
                    seed.network = Some(Network {
                        subnets: subnets.split(',').map(str::to_owned).collect(),
                        security_group,
                    });
                    run_seed(&seed, &event_in, &event_out, &state).await
                }
                _ => Err("usage: demo-account seed --event-in FIXTURE --event-out FILE --state FILE --subnets A,B --security-group SG".into()),
            }
        }
        (Some("compare"), Some(state)) => compare(&seed, &state).await,
        _ => Err("usage: demo-account seed … | compare --state FILE".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo-account: {e}");
            ExitCode::from(2)
        }
    }
}

/// The services of [`RISKY`], in their cluster.
async fn seed_risky(seed: &Seed, td: &str) -> Result<(), String> {
    use aws_sdk_ecs::types::{DeploymentCircuitBreaker, DeploymentConfiguration, LaunchType};
    seed.cluster("batch").await;
    for (cluster, name, desired, min, max) in RISKY {
        let breaker = DeploymentCircuitBreaker::builder()
            .enable(true)
            .rollback(true)
            .build();
        seed.ecs
            .create_service()
            .cluster(*cluster)
            .service_name(*name)
            .task_definition(td)
            .desired_count(*desired)
            .launch_type(LaunchType::Fargate)
            .deployment_configuration(
                DeploymentConfiguration::builder()
                    .minimum_healthy_percent(*min)
                    .maximum_percent(*max)
                    .deployment_circuit_breaker(breaker)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| format!("create service {cluster}/{name}: {e:?}"))?;
    }
    Ok(())
}

async fn run_seed(seed: &Seed, event_in: &str, event_out: &str, state: &str) -> Result<(), String> {
    for cluster in ["prod", "staging"] {
        seed.cluster(cluster).await;
    }
    let td = seed.task_definition("demo-web").await;
    for (cluster, name) in ROLLING {
        seed.service(cluster, name, &td, None).await;
    }
    seed_risky(seed, &td).await?;
    let bg = seed.blue_green_service(BLUE_GREEN.0, BLUE_GREEN.1).await;
    // A lone worker started by hand: AWS would stop it and start nothing in its place.
    let worker = seed
        .standalone_task("prod", "ledger-worker", "ops-runbook")
        .await;
    let saved = State {
        rolling: rolling_deployments(seed).await,
        codedeploy: seed
            .codedeploy_deployments(&bg.application, &bg.group)
            .await,
        application: bg.application,
        group: bg.group,
    };
    let state_json = serde_json::to_vec_pretty(&saved).map_err(|e| e.to_string())?;
    let mut event = fixture_at(event_in, remediator_testkit::clock::now());
    if let Some(entities) = event["detail"]["affectedEntities"].as_array_mut() {
        entities.push(serde_json::json!({ "entityValue": worker.arn }));
    }
    let event_json = serde_json::to_vec_pretty(&event).map_err(|e| e.to_string())?;
    std::fs::write(state, state_json)
        .and_then(|_| std::fs::write(event_out, event_json))
        .map_err(|e| format!("cannot write: {e}"))?;
    eprintln!(
        "seeded clusters prod, staging, batch: {} rolling services, {} the preflight flags, blue/green {}/{} (CodeDeploy {}/{}), standalone task {}; {event_out} is the fixture stamped now, naming that task too",
        ROLLING.len(),
        RISKY.len(),
        BLUE_GREEN.0,
        BLUE_GREEN.1,
        saved.application,
        saved.group,
        worker.id
    );
    // The earlier release, for the caller to mark finished.
    println!("{}", bg.previous_deployment);
    Ok(())
}

async fn compare(seed: &Seed, state: &str) -> Result<(), String> {
    let before: State = std::fs::read(state)
        .map_err(|e| e.to_string())
        .and_then(|raw| serde_json::from_slice(&raw).map_err(|e| e.to_string()))
        .map_err(|e| format!("cannot read {state}: {e}"))?;
    let after = rolling_deployments(seed).await;
    println!("{:<28} {:<38} {:<38} CHANGED", "SERVICE", "BEFORE", "AFTER");
    let show = |d: &Option<String>| d.clone().unwrap_or_else(|| "-".into());
    for ((name, b), (_, a)) in before.rolling.iter().zip(&after) {
        println!(
            "{name:<28} {:<38} {:<38} {}",
            show(b),
            show(a),
            if b != a { "yes" } else { "no" }
        );
    }
    let now = seed
        .codedeploy_deployments(&before.application, &before.group)
        .await;
    let new: Vec<&String> = now
        .iter()
        .filter(|d| !before.codedeploy.contains(d))
        .collect();
    println!(
        "{:<28} {:<38} {:<38} {}",
        format!("{}/{}", BLUE_GREEN.0, BLUE_GREEN.1),
        format!("codedeploy {}", before.codedeploy.join(",")),
        format!(
            "codedeploy +{}",
            new.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
        ),
        if new.is_empty() { "no" } else { "yes" }
    );
    for task in seed
        .tasks("prod", aws_sdk_ecs::types::DesiredStatus::Stopped)
        .await
    {
        println!(
            "{:<28} {:<38} {:<38} {}",
            "prod standalone task",
            format!(
                "{} STOPPED",
                task.task_arn()
                    .and_then(|a| a.rsplit('/').next())
                    .unwrap_or("?")
            ),
            "",
            task.stopped_reason().unwrap_or_default()
        );
    }
    for task in seed
        .tasks("prod", aws_sdk_ecs::types::DesiredStatus::Running)
        .await
    {
        let replaces = task
            .tags()
            .iter()
            .find(|t| t.key() == Some("retirement-remediator/replaces"))
            .and_then(|t| t.value())
            .unwrap_or("-");
        println!(
            "{:<28} {:<38} {:<38} replaces {replaces}",
            "prod standalone task",
            "",
            format!(
                "{} {}",
                task.task_arn()
                    .and_then(|a| a.rsplit('/').next())
                    .unwrap_or("?"),
                task.last_status().unwrap_or("?")
            ),
        );
    }
    Ok(())
}

async fn rolling_deployments(seed: &Seed) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for (cluster, name) in ROLLING {
        let id = seed.primary_deployment(cluster, name).await;
        out.push((format!("{cluster}/{name}"), id));
    }
    out
}
