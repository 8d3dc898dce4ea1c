//! `demo-account`: seeds a local AWS (moto) with the demo account and shows what changed.
//!
//! ```text
//! demo-account seed --event-in FIXTURE --event-out FILE --state FILE
//! demo-account compare --state FILE
//! ```
//! `seed` creates the clusters and services named by `events-fixtures/health-ecs-demo-account.json`,
//! records each service's PRIMARY deployment id in `--state`, and writes the fixture stamped with
//! the current time (moto creates the services just now; a real notice is published after they
//! were deployed). `compare` prints before/after deployment ids from the same account.
//! AWS access: the standard environment (`AWS_ENDPOINT_URL` points it at moto).

use std::process::ExitCode;

use aws_sdk_ecs::types::DeploymentControllerType;
use chrono::Utc;
use remediator_testkit::{fixture_at, Seed};

/// (cluster, service, controller)
const SERVICES: &[(&str, &str, Option<DeploymentControllerType>)] = &[
    ("prod", "checkout", None),
    ("prod", "payments", None),
    ("prod", "search", None),
    ("staging", "web", Some(DeploymentControllerType::Ecs)),
    (
        "staging",
        "legacy-bluegreen",
        Some(DeploymentControllerType::CodeDeploy),
    ),
];

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let sdk = remediator_aws::load_sdk_config(None, 2).await;
    let seed = Seed {
        ecs: aws_sdk_ecs::Client::new(&sdk),
        codedeploy: aws_sdk_codedeploy::Client::new(&sdk),
        network: None,
    };
    match (args.get(1).map(String::as_str), arg("--state")) {
        (Some("seed"), Some(state)) => {
            let (Some(event_in), Some(event_out)) = (arg("--event-in"), arg("--event-out")) else {
                eprintln!(
                    "usage: demo-account seed --event-in FIXTURE --event-out FILE --state FILE"
                );
                return ExitCode::from(2);
            };
            for cluster in ["prod", "staging"] {
                seed.cluster(cluster).await;
            }
            let td = seed.task_definition("demo-web").await;
            for (cluster, name, controller) in SERVICES {
                seed.service(cluster, name, &td, controller.clone()).await;
            }
            let ids = deployments(&seed).await;
            let state_json = serde_json::to_vec_pretty(&ids).unwrap_or_default();
            let event = fixture_at(&event_in, Utc::now());
            let event_json = serde_json::to_vec_pretty(&event).unwrap_or_default();
            if let Err(e) = std::fs::write(&state, state_json)
                .and_then(|_| std::fs::write(&event_out, event_json))
            {
                eprintln!("demo-account: cannot write: {e}");
                return ExitCode::from(1);
            }
            println!("seeded clusters prod, staging with {} services; {event_out} is {event_in} stamped now", SERVICES.len());
            ExitCode::SUCCESS
        }
        (Some("compare"), Some(state)) => {
            let before: Vec<(String, String, Option<String>)> = match std::fs::read(&state)
                .map_err(|e| e.to_string())
                .and_then(|raw| serde_json::from_slice(&raw).map_err(|e| e.to_string()))
            {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("demo-account: cannot read {state}: {e}");
                    return ExitCode::from(1);
                }
            };
            let after = deployments(&seed).await;
            println!(
                "{:<26} {:<36} {:<36} CHANGED",
                "SERVICE", "DEPLOYMENT BEFORE", "DEPLOYMENT AFTER"
            );
            for ((cluster, name, b), (_, _, a)) in before.iter().zip(&after) {
                let show = |d: &Option<String>| d.clone().unwrap_or_else(|| "-".into());
                println!(
                    "{:<26} {:<36} {:<36} {}",
                    format!("{cluster}/{name}"),
                    show(b),
                    show(a),
                    if b != a { "yes" } else { "no" }
                );
            }
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: demo-account seed --event-in FIXTURE --event-out FILE --state FILE | compare --state FILE");
            ExitCode::from(2)
        }
    }
}

async fn deployments(seed: &Seed) -> Vec<(String, String, Option<String>)> {
    let mut out = Vec::new();
    for (cluster, name, _) in SERVICES {
        let id = seed.primary_deployment(cluster, name).await;
        out.push(((*cluster).to_owned(), (*name).to_owned(), id));
    }
    out
}
