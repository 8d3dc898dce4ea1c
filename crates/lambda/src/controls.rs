//! Operator controls around each event: the maintenance-window gate before acting, and the
//! metrics and notification after. Shared by both Lambda functions.

use aws_config::SdkConfig;
use chrono::{DateTime, Utc};
use remediator_core::defer::{gate, Deferral, Gate, GatedEvent};
use remediator_core::{metrics, Report, Target};
use serde_json::Value;

use crate::config::ControlSettings;
use crate::notify::SnsNotifier;
use crate::scheduler::SdkScheduler;

/// Built once per execution environment, like the SDK clients it holds.
#[derive(Debug, Clone)]
pub struct Controls {
    deferral: Option<(Deferral, SdkScheduler)>,
    schedule_target_arn: Option<String>,
    notifier: Option<SnsNotifier>,
    metrics_namespace: Option<String>,
    /// Stable logical name for metric dimensions (`ecs-retirement`, `eks-fargate-pod`).
    function: String,
    dry_run: bool,
}

impl Controls {
    pub fn new(sdk: &SdkConfig, settings: &ControlSettings, function: &str, dry_run: bool) -> Self {
        let deferral = match (&settings.deferral, &settings.schedule) {
            (Some(d), Some(s)) => Some((
                d.clone(),
                SdkScheduler::new(aws_sdk_scheduler::Client::new(sdk), s.clone()),
            )),
            _ => None,
        };
        Controls {
            deferral,
            schedule_target_arn: settings.schedule_target_arn.clone(),
            notifier: settings
                .notification_topic_arn
                .as_ref()
                .map(|topic| SnsNotifier::new(aws_sdk_sns::Client::new(sdk), topic)),
            metrics_namespace: settings.metrics_namespace.clone(),
            function: function.to_owned(),
            dry_run,
        }
    }

    /// No windows, no notifications, no metrics: the remediation alone.
    pub fn none() -> Self {
        Controls {
            deferral: None,
            schedule_target_arn: None,
            notifier: None,
            metrics_namespace: None,
            function: String::new(),
            dry_run: false,
        }
    }

    /// `None` without maintenance windows; otherwise whether to act now (and why) or the
    /// outcomes of deferring. `invoked_arn` is the default schedule target: this function.
    pub async fn gate(
        &self,
        raw: &Value,
        event_id: Option<&str>,
        deadline: Option<DateTime<Utc>>,
        targets: Vec<Target>,
        invoked_arn: &str,
        now: DateTime<Utc>,
    ) -> Option<Gate> {
        let (deferral, scheduler) = self.deferral.as_ref()?;
        let target_arn = self.schedule_target_arn.as_deref().unwrap_or(invoked_arn);
        let event = GatedEvent {
            raw,
            event_id,
            deadline,
            targets,
        };
        let verdict = gate(scheduler, deferral, event, target_arn, now, self.dry_run).await;
        match &verdict {
            Gate::Proceed(why) => tracing::info!(timing = %why, "acting now"),
            Gate::Held(_, why) => tracing::info!(timing = %why, "not acting now"),
        }
        Some(verdict)
    }

    /// After an event: EMF metric lines on stdout, then the SNS summary. A notification that
    /// cannot be sent is logged, not retried: the remediation itself is done and re-running it
    /// to resend a message would only repeat the work.
    pub async fn finish(&self, report: &Report, now: DateTime<Utc>) {
        if let Some(namespace) = &self.metrics_namespace {
            metrics::emit(&metrics::documents(report, namespace, &self.function, now));
        }
        if let Some(notifier) = &self.notifier {
            match notifier.publish(report).await {
                Ok(Some(id)) => tracing::info!(message_id = %id, "summary published"),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(error = %e, retryable = e.is_retryable(), "summary not published")
                }
            }
        }
    }
}
