//! The `remediator` binary against moto server, configured only through the standard AWS
//! environment variables, as an operator would run it.
// The futures nest the driver, the engine and the SDK calls deeply.
#![recursion_limit = "256"]

use std::path::PathBuf;
use std::process::{Command, Output};

use remediator_core::{Report, Status};
use remediator_testkit::notice::Notice;
use remediator_testkit::{fixture_at, fixture_path, MotoServer, Seed};
use serde_json::json;

fn remediator(moto: &MotoServer, args: &[&str]) -> Output {
    remediator_with(moto, args, &[])
}

/// The binary with `env` set on top of moto's.
fn remediator_with(moto: &MotoServer, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_remediator"));
    cmd.args(args)
        .env_remove("AWS_PROFILE")
        .env_remove("LEDGER_TABLE")
        .env("SDK_MAX_ATTEMPTS", "2");
    for (k, v) in moto.env() {
        cmd.env(k, v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run remediator")
}

fn json_report(out: &Output) -> Report {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not a report ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn write_event(name: &str, value: &serde_json::Value) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("remediator-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(value).expect("json")).expect("write event");
    path
}

#[tokio::test]
async fn apply_twice_forces_the_named_services_once_then_reports_already_replaced() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.rolling_services("prod", &["checkout", "payments"])
        .await;
    let before = seed.primary_deployment("prod", "checkout").await;
    let event = Notice::ecs()
        .naming(&["prod|checkout", "prod|payments", "prod|retired-last-week"])
        .build();
    let file = write_event("apply-twice.json", &event);
    let file = file.to_str().expect("utf-8 path");

    let first = remediator(&moto, &["apply", "--event", file, "--json"]);
    let after = seed.primary_deployment("prod", "checkout").await;
    let second = remediator(&moto, &["apply", "--event", file, "--json"]);

    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let first = json_report(&first);
    assert_eq!(first.summary.acted, 2, "{first:#?}");
    assert_ne!(before, after);
    let missing = first
        .outcomes
        .iter()
        .find(|o| o.target.to_string() == "service prod/retired-last-week")
        .expect("outcome for the missing service");
    assert_eq!(missing.code, "not_found");

    assert_eq!(second.status.code(), Some(0));
    let second = json_report(&second);
    assert_eq!(second.summary.acted, 0);
    assert_eq!(second.summary.already_done, 2, "{second:#?}");
    assert!(second
        .outcomes
        .iter()
        .filter(|o| o.status == Status::AlreadyDone)
        .all(|o| o.code == "already_replaced"));
    assert_eq!(
        seed.primary_deployment("prod", "checkout").await,
        after,
        "no second UpdateService"
    );
}

#[tokio::test]
async fn plan_prints_a_table_and_changes_nothing() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.rolling_services("prod", &["checkout"]).await;
    let before = seed.primary_deployment("prod", "checkout").await;
    let event = Notice::ecs().naming(&["prod|checkout"]).build();
    let file = write_event("plan.json", &event);

    let out = remediator(&moto, &["plan", "--event", file.to_str().expect("utf-8")]);

    assert_eq!(out.status.code(), Some(0));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("RESOURCE"), "{table}");
    assert!(
        table.contains("service prod/checkout  planned  would_force_new_deployment"),
        "{table}"
    );
    assert_eq!(seed.primary_deployment("prod", "checkout").await, before);
}

#[tokio::test]
async fn unusable_input_exits_2_and_says_why() {
    let moto = MotoServer::start();
    for (fixture, says) in [
        ("malformed-truncated.json", "not valid JSON"),
        (
            "malformed-not-an-eventbridge-event.json",
            "not an EventBridge event",
        ),
        ("malformed-health-bad-start-time.json", "detail.startTime"),
    ] {
        let path = fixture_path(fixture);
        let out = remediator(
            &moto,
            &["apply", "--event", path.to_str().expect("utf-8"), "--json"],
        );
        assert_eq!(out.status.code(), Some(2), "{fixture}");
        let report = json_report(&out);
        assert!(
            report.message.contains(says),
            "{fixture}: {}",
            report.message
        );
    }
    let out = remediator(&moto, &["apply", "--event", "/nonexistent/event.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

#[tokio::test]
async fn an_unrecognised_entity_is_a_failure_and_exits_1() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.rolling_services("prod", &["checkout"]).await;
    let file = write_event(
        "garbage.json",
        &fixture_at(
            "health-ecs-garbage-entities.json",
            remediator_testkit::clock::now(),
        ),
    );

    let out = remediator(
        &moto,
        &["apply", "--event", file.to_str().expect("utf-8"), "--json"],
    );

    assert_eq!(out.status.code(), Some(1));
    let report = json_report(&out);
    assert_eq!(
        report.summary.acted, 1,
        "the good service is still remediated"
    );
    assert_eq!(report.summary.failed, 3);
    assert!(report
        .outcomes
        .iter()
        .filter(|o| o.status == Status::Failed)
        .all(|o| o.code == "unrecognized_entity" && !o.retryable));
}

#[test]
fn show_renders_a_saved_report() {
    let report = r#"{"disposition":"ignored","event_id":"e-1","event_arn":null,"dry_run":false,
        "message":"nothing to do: the Health event is closed","code":"closed_event",
        "outcomes":[],"summary":{"acted":0,"already_done":0,"skipped":0,"failed":0,"planned":0,"retryable_failures":0}}"#;
    let path = write_event("report.json", &serde_json::from_str(report).expect("json"));

    let out = Command::new(env!("CARGO_BIN_EXE_remediator"))
        .args(["show", "--report", path.to_str().expect("utf-8")])
        .output()
        .expect("run");

    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("nothing to do: the Health event is closed")
    );
}

#[tokio::test]
async fn apply_twice_redeploys_a_blue_green_service_through_codedeploy_exactly_once() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.cluster("prod").await;
    let bg = seed.blue_green_service("prod", "shop").await;
    moto.set_codedeploy_status(&bg.previous_deployment, "Succeeded");
    let event = Notice::ecs()
        .resources(&["prod|shop"])
        .entities(&["prod | shop"])
        .build();
    let file = write_event("blue-green.json", &event);
    let file = file.to_str().expect("utf-8 path");

    let first = remediator(&moto, &["apply", "--event", file, "--json"]);
    let after_first = seed
        .codedeploy_deployments(&bg.application, &bg.group)
        .await;
    let second = remediator(&moto, &["apply", "--event", file, "--json"]);

    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let first = json_report(&first);
    let created = &first.outcomes[0];
    assert_eq!(created.code, "codedeploy_deployment_created", "{created:?}");
    assert_eq!(
        after_first.len(),
        2,
        "one new deployment besides the earlier release"
    );
    let new_id = created.deployment_after.clone().expect("new deployment id");
    let appspec: serde_json::Value =
        serde_json::from_str(&seed.appspec_of(&new_id).await).expect("JSON AppSpec");
    let props = &appspec["Resources"][0]["TargetService"]["Properties"];
    assert_eq!(props["TaskDefinition"], bg.task_definition.as_str());
    assert_eq!(
        props["LoadBalancerInfo"],
        json!({ "ContainerName": "app", "ContainerPort": 8080 })
    );
    assert_eq!(
        appspec["Hooks"],
        json!([
            { "BeforeInstall": "PreflightChecks" },
            { "AfterAllowTestTraffic": "arn:aws:lambda:us-east-1:123456789012:function:SmokeTests" }
        ])
    );

    assert_eq!(second.status.code(), Some(0));
    assert_eq!(json_report(&second).outcomes[0].code, "already_replaced");
    assert_eq!(
        seed.codedeploy_deployments(&bg.application, &bg.group)
            .await
            .len(),
        2,
        "the second run creates none"
    );
}

#[tokio::test]
async fn ledger_init_is_idempotent_and_status_shows_where_each_resource_of_a_notice_stands() {
    let moto = MotoServer::start();
    let seed = Seed::new(&moto).await;
    seed.rolling_services("prod", &["checkout", "payments"])
        .await;
    let ledger = [("LEDGER_TABLE", "retirement-ledger")];
    let event = Notice::ecs()
        .naming(&["prod|checkout", "prod|payments", "prod|retired-last-week"])
        .build();
    let file = write_event("ledger-status.json", &event);
    let file = file.to_str().expect("utf-8 path");

    let created = remediator_with(&moto, &["ledger", "init"], &ledger);
    let again = remediator_with(&moto, &["ledger", "init"], &ledger);
    let applied = remediator_with(&moto, &["apply", "--event", file, "--json"], &ledger);
    let arn = event["detail"]["eventArn"].as_str().expect("eventArn");
    // The function's second follow-up check of this notice, as it schedules it.
    let next = remediator_testkit::clock::now() + chrono::Duration::minutes(10);
    let at = next.format("%Y-%m-%dT%H:%M:%S").to_string();
    aws_sdk_scheduler::Client::new(&moto.sdk_config().await)
        .create_schedule()
        .name(remediator_core::follow::schedule_name(
            &format!("{arn}#123456789012"),
            "0a1b2c3d",
            2,
        ))
        .schedule_expression(format!("at({at})"))
        .flexible_time_window(
            aws_sdk_scheduler::types::FlexibleTimeWindow::builder()
                .mode(aws_sdk_scheduler::types::FlexibleTimeWindowMode::Off)
                .build()
                .expect("window"),
        )
        .target(
            aws_sdk_scheduler::types::Target::builder()
                .arn("arn:aws:lambda:us-east-1:123456789012:function:ecs-retirement")
                .role_arn("arn:aws:iam::123456789012:role/scheduler")
                .build()
                .expect("target"),
        )
        .send()
        .await
        .expect("CreateSchedule");
    let status = remediator_with(&moto, &["status", "--json"], &ledger);
    let detail = remediator_with(&moto, &["status", "--event", arn, "--json"], &ledger);
    let reapplied = remediator_with(&moto, &["apply", "--event", file, "--json"], &ledger);

    assert_eq!(
        created.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    assert!(String::from_utf8_lossy(&created.stdout).contains("created"));
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(String::from_utf8_lossy(&again.stdout).contains("exists"));
    assert_eq!(json_report(&applied).summary.acted, 2);
    let notices: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status JSON");
    assert_eq!(notices.as_array().map(Vec::len), Some(1), "{notices}");
    assert_eq!(notices[0]["notice"], json!(format!("{arn}#123456789012")));
    assert_eq!(notices[0]["account"], json!("123456789012"));
    assert_eq!(notices[0]["kind"], json!("ecs_retirement"));
    assert_eq!(
        notices[0]["next_check"],
        json!(format!("{at}Z")),
        "{notices}"
    );
    assert_eq!(notices[0]["counts"], json!({"acted": 2, "skipped": 1}));
    let one: serde_json::Value = serde_json::from_slice(&detail.stdout).expect("status JSON");
    let states: Vec<(String, String)> = one[0]["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| {
            (
                r["target"].as_str().unwrap_or_default().to_owned(),
                r["state"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        states,
        vec![
            ("service prod/checkout".to_owned(), "acted".to_owned()),
            ("service prod/payments".to_owned(), "acted".to_owned()),
            (
                "service prod/retired-last-week".to_owned(),
                "skipped".to_owned()
            ),
        ]
    );
    let codes: Vec<String> = json_report(&reapplied)
        .outcomes
        .iter()
        .map(|o| o.code.to_string())
        .collect();
    // Acted on once: a second apply looks at the deployments it started (moto keeps them
    // rolling out) and acts on nothing again.
    assert_eq!(codes, vec!["verifying", "verifying", "not_found"]);
}
