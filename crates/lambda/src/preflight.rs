//! The scheduled preflight (template parameter `PreflightSchedule`): EventBridge Scheduler
//! invokes the ECS function with [`PAYLOAD`]; the function reads its account (and in central
//! mode the members of `ACCOUNTS_INCLUDE` or, with `ORGANIZATION_ACCOUNTS=on`, of the
//! organization), sends one summary to the notification topic and
//! writes EMF metrics of the findings by risk. Read only; the answer is the summary's counts.

use std::future::Future;

use aws_config::SdkConfig;
use chrono::{DateTime, Utc};
use remediator_core::preflight::ecs::Rules;
use remediator_core::preflight::{report, Preflight, Scopes};
use serde_json::{json, Value};

use crate::notify::SnsNotifier;
use crate::Config;

/// What the schedule sends: `{"retirement-remediator": "preflight"}`.
pub const PAYLOAD_KEY: &str = "retirement-remediator";
pub const PAYLOAD_VALUE: &str = "preflight";

/// Whether `payload` is the preflight schedule's (and not a notice).
pub fn requested(payload: &Value) -> bool {
    payload.get(PAYLOAD_KEY).and_then(Value::as_str) == Some(PAYLOAD_VALUE)
}

/// What the preflight reads, from the function's configuration: the member accounts (central
/// mode: `ACCOUNTS_INCLUDE`, and the organization's with `ORGANIZATION_ACCOUNTS=on`), the Region (`region`, the function's) and the rules; no deadline.
pub fn scope(config: &Config, region: Option<String>, now: DateTime<Utc>) -> Scopes {
    let members = match config.accounts.member_role {
        Some(_) => config.accounts.include.clone(),
        None => Vec::new(),
    };
    let (maintenance, margin) = match &config.controls.deferral {
        Some(d) => (d.windows.clone(), d.margin),
        None => Default::default(),
    };
    let rules = Rules {
        passable_roles: config.passable_task_roles.clone(),
        function_role: config.function_role_arn.clone(),
        clusters: config.ecs_cluster_names.clone(),
        maintenance,
        margin,
    };
    Scopes {
        members,
        organization: config.organization_accounts && config.accounts.member_role.is_some(),
        regions: region.into_iter().collect(),
        rules,
        now,
        read_by: None,
    }
}

/// Time kept back from the invocation's deadline to send the summary and the metrics.
pub const REPORT_RESERVE: std::time::Duration = std::time::Duration::from_secs(15);

/// Runs `preflight` on the function's scopes, reading until [`REPORT_RESERVE`] before
/// `deadline`, then tells people and metrics: one SNS message when a topic is set (a
/// failure to send is logged and said in the answer, the findings are still in the metrics).
pub async fn scheduled<F, Fut>(
    preflight: &F,
    sdk: &SdkConfig,
    config: &Config,
    function: &str,
    now: DateTime<Utc>,
    deadline: tokio::time::Instant,
) -> Value
where
    F: Fn(SdkConfig, Config, Scopes) -> Fut,
    Fut: Future<Output = Preflight>,
{
    let mut scopes = scope(config, sdk.region().map(ToString::to_string), now);
    scopes.read_by = Some(deadline.checked_sub(REPORT_RESERVE).unwrap_or(deadline));
    let p = preflight(sdk.clone(), config.clone(), scopes).await;
    if let Some(namespace) = &config.controls.metrics_namespace {
        remediator_core::metrics::emit(&report::metrics(&p, namespace, function, now));
    }
    let sent = match &config.controls.notification_topic_arn {
        None => Value::Null,
        Some(topic) => {
            let sns = SnsNotifier::new(aws_sdk_sns::Client::new(sdk), topic);
            match sns.publish_preflight(&p).await {
                Ok(id) => json!(id),
                Err(e) => {
                    tracing::warn!(error = %e, "the preflight summary could not be sent");
                    json!(format!("not sent: {e}"))
                }
            }
        }
    };
    json!({
        "preflight": p.summary,
        "exit_code": p.exit_code(),
        "message_id": sent,
    })
}
