//! Follow-up checks end to end: the handler with the ledger and checks on, as the templates
//! deploy it, and a check fired the way EventBridge Scheduler fires it (the schedule's input,
//! at the schedule's time).

use chrono::{DateTime, Utc};
use remediator_core::ledger::{Ledger, State};
use remediator_core::Report;
use remediator_lambda::ledger::DynamoLedger;
use remediator_lambda::{handle_with, Controls};
use serde_json::Value;

use crate::events::{controls, invocation, ledger_table, remediator, settings};
use crate::notice::Notice;
use crate::{MotoServer, ACCOUNT};

pub const TABLE: &str = "retirement-ledger";
pub const SERVICES: &str = "health-ecs-services-pipe.json";
pub const SCHEDULER_ROLE: &str = "arn:aws:iam::123456789012:role/retirement-scheduler";

/// The ledger table on moto.
pub async fn ledger(moto: &MotoServer) -> DynamoLedger {
    ledger_table(moto, TABLE).await
}

/// Ledger and follow-up checks on, as the templates deploy the function.
pub async fn with_checks(moto: &MotoServer) -> Controls {
    controls(
        moto,
        &[
            ("LEDGER_TABLE", TABLE),
            ("SCHEDULE_ROLE_ARN", SCHEDULER_ROLE),
        ],
    )
    .await
}

/// The ECS notice naming `entities`, published now, AWS retiring them a week later.
pub fn notice(entities: &[&str]) -> Value {
    Notice::fixture(SERVICES).naming(entities).build()
}

/// Delivers `event` at `now` through the ECS function with checks on.
pub async fn deliver(
    moto: &MotoServer,
    controls: &Controls,
    event: Value,
    now: DateTime<Utc>,
) -> Report {
    let remediator = remediator(moto, settings()).await;
    handle_with(&remediator, controls, invocation(event), now)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The input of the schedule the report says carries the next check.
pub async fn scheduled_input(moto: &MotoServer, report: &Report) -> Value {
    let follow_up = report
        .follow_up
        .as_ref()
        .unwrap_or_else(|| panic!("no follow-up check scheduled: {report:#?}"));
    let client = aws_sdk_scheduler::Client::new(&moto.sdk_config().await);
    let schedule = client
        .get_schedule()
        .name(&follow_up.schedule)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetSchedule {}: {e:?}", follow_up.schedule));
    // Checks fire within `CHECK_SPREAD_MINUTES` of their time (0: exactly).
    let window = schedule.flexible_time_window();
    assert_eq!(
        window.map(|w| (w.mode().as_str().to_owned(), w.maximum_window_in_minutes())),
        Some(match remediator_core::defer::CHECK_SPREAD_MINUTES {
            0 => ("OFF".to_owned(), None),
            m => ("FLEXIBLE".to_owned(), Some(i32::from(m))),
        }),
        "the check's flexible time window"
    );
    let input = schedule
        .target()
        .and_then(|t| t.input())
        .unwrap_or_else(|| panic!("schedule {} has no input", follow_up.schedule));
    serde_json::from_str(input).unwrap_or_else(|e| panic!("schedule input: {e}"))
}

/// Fires the check the report scheduled, at its time, as Scheduler would.
pub async fn fire(moto: &MotoServer, controls: &Controls, report: &Report) -> Report {
    let at = report
        .follow_up
        .as_ref()
        .map_or_else(crate::clock::now, |f| f.at);
    fire_at(moto, controls, report, at).await
}

/// Fires the check the report scheduled, at `at`.
pub async fn fire_at(
    moto: &MotoServer,
    controls: &Controls,
    report: &Report,
    at: DateTime<Utc>,
) -> Report {
    let input = scheduled_input(moto, report).await;
    let remediator = remediator(moto, settings()).await;
    handle_with(&remediator, controls, invocation(input), at)
        .await
        .unwrap_or_else(|e| panic!("a check never fails the invocation here: {e}"))
}

/// The ledger states of the report's notice.
pub async fn state_of(ledger: &DynamoLedger, report: &Report) -> Vec<State> {
    // The ledger keys a notice by its ARN and the account its resources are in.
    let key = format!("{}#{ACCOUNT}", report.event_arn.clone().unwrap_or_default());
    ledger
        .notice(&key)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        // The notice's final-summary marker is not a resource.
        .filter(|e| !e.is_marker())
        .map(|e| e.state)
        .collect()
}
