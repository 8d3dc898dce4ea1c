//! EventBridge Scheduler adapter: one-time schedules that re-run a deferred event.

use aws_sdk_scheduler::types::{
    ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode,
    RetryPolicy, Target,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use remediator_core::defer::{ScheduleRequest, Scheduled, Scheduler};
use remediator_core::ports::{ApiError, ApiErrorKind};

use crate::classify;

/// How schedules are made: who invokes the target, in which group, where failures go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleSettings {
    /// Role EventBridge Scheduler assumes to invoke the function (`SCHEDULE_ROLE_ARN`).
    pub role_arn: String,
    /// Schedule group (`SCHEDULE_GROUP`, default `default`).
    pub group: String,
    /// Where Scheduler sends an invocation it could not deliver (`SCHEDULE_DLQ_ARN`).
    pub dead_letter_arn: Option<String>,
}

/// Creates one-time `at(...)` schedules in UTC that delete themselves after firing.
#[derive(Debug, Clone)]
pub struct SdkScheduler {
    client: aws_sdk_scheduler::Client,
    settings: ScheduleSettings,
}

impl SdkScheduler {
    pub fn new(client: aws_sdk_scheduler::Client, settings: ScheduleSettings) -> Self {
        SdkScheduler { client, settings }
    }
}

/// The idempotency token of a schedule request: a digest of its name, time and input (Scheduler
/// takes up to 64 characters).
fn client_token(request: &ScheduleRequest) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(request.name.as_bytes())
        .chain_update(request.at.to_rfc3339().as_bytes())
        .chain_update(request.input.as_bytes())
        .finalize();
    digest.iter().take(24).map(|b| format!("{b:02x}")).collect()
}

fn invalid(e: impl std::fmt::Display) -> ApiError {
    ApiError::new("CreateSchedule", ApiErrorKind::Rejected, e.to_string())
}

/// Scheduler's flexible time window: invoked within `minutes` after the scheduled time
/// (`FLEXIBLE`, 1–1440 minutes), or exactly then (`OFF`, 0).
fn flexible_window(minutes: u16) -> Result<FlexibleTimeWindow, ApiError> {
    let window = match minutes {
        0 => FlexibleTimeWindow::builder().mode(FlexibleTimeWindowMode::Off),
        m => FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Flexible)
            .maximum_window_in_minutes(i32::from(m.min(1440))),
    };
    window.build().map_err(invalid)
}

impl Scheduler for SdkScheduler {
    async fn schedule_once(&self, request: &ScheduleRequest) -> Result<Scheduled, ApiError> {
        let target = Target::builder()
            .arn(&request.target_arn)
            .role_arn(&self.settings.role_arn)
            .input(&request.input)
            // Scheduler retries delivery itself; after that the event goes to the DLQ.
            .retry_policy(
                RetryPolicy::builder()
                    .maximum_retry_attempts(10)
                    .maximum_event_age_in_seconds(6 * 3600)
                    .build(),
            )
            .set_dead_letter_config(
                self.settings
                    .dead_letter_arn
                    .as_ref()
                    .map(|arn| DeadLetterConfig::builder().arn(arn).build()),
            )
            .build()
            .map_err(invalid)?;
        let window = flexible_window(request.spread_minutes)?;
        let result = self
            .client
            .create_schedule()
            .name(&request.name)
            .group_name(&self.settings.group)
            .schedule_expression(format!("at({})", request.at.format("%Y-%m-%dT%H:%M:%S")))
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window)
            .target(target)
            .action_after_completion(ActionAfterCompletion::Delete)
            .description(request.description.chars().take(512).collect::<String>())
            // A retried request carries the same token and makes no second schedule; a new
            // request under a name Scheduler deleted after firing gets a token of its own.
            .client_token(client_token(request))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Scheduled::Created),
            Err(e) if e.code() == Some("ConflictException") => Ok(Scheduled::AlreadyExists),
            Err(e) => Err(classify("CreateSchedule", e)),
        }
    }
}

/// When the latest follow-up check scheduled for the notice `notice_key` runs, if one is: the
/// schedules named `check-<digest>-<n>` in `group` (see `remediator_core::follow`), read back
/// from their `at(...)` expressions.
pub async fn next_check(
    client: &aws_sdk_scheduler::Client,
    group: &str,
    notice_key: &str,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    let prefix = remediator_core::follow::schedule_prefix(notice_key);
    let listed = client
        .list_schedules()
        .group_name(group)
        .name_prefix(&prefix)
        .send()
        .await
        .map_err(|e| classify("ListSchedules", e))?;
    let mut latest = None;
    for summary in listed.schedules() {
        let Some(name) = summary.name() else { continue };
        let schedule = client
            .get_schedule()
            .group_name(group)
            .name(name)
            .send()
            .await
            .map_err(|e| classify("GetSchedule", e))?;
        let at = schedule
            .schedule_expression()
            .and_then(|x| x.strip_prefix("at(")?.strip_suffix(')').map(str::to_owned))
            .and_then(|t| chrono::NaiveDateTime::parse_from_str(&t, "%Y-%m-%dT%H:%M:%S").ok())
            .map(|t| t.and_utc());
        latest = latest.max(at);
    }
    Ok(latest)
}
