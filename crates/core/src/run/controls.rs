//! Operator controls around each event, over the ports: the maintenance-window gate and holds
//! before acting (a [`Scheduler`]), the ledger's memory around the remediation (a [`Ledger`]),
//! the next follow-up check (the same scheduler), and metrics and the notification after (a
//! [`Notifier`]). Each is optional; the Lambda functions build them from their configuration
//! with the AWS SDK adapters, tests with in-memory ones.

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::time::Instant;

use crate::defer::{
    gate, hold, Deferral, Gate, GatedEvent, MemoryScheduler, ScheduleRequest, Scheduled, Scheduler,
};
use crate::follow::{self, check_event, schedule_name, CheckPolicy, FollowUp, Next};
use crate::ledger::{self, Ledger};
use crate::pipeline::{remediate_remembering, remembered, Invocation, Notice, Recalled, Remediate};
use crate::ports::{NoNotifier, Notifier};
use crate::{metrics, notify, Disposition, Outcome, Report};

/// Claims outlive the invocation deadline by this much: a crashed run's claims free up soon after.
const LEASE_MARGIN: chrono::Duration = chrono::Duration::minutes(1);
/// Ledger calls (claims) in flight at once: enough that a thousand claims take about a second.
const LEDGER_CONCURRENCY: usize = 16;

/// Which chain of checks a notice's report continues: the event as delivered (what a check
/// delivers again), the notice's ledger key, the scope of the resources it names
/// ([`follow::scope`]) and AWS's deadline.
#[derive(Debug, Clone, Copy)]
pub struct Chain<'a> {
    pub raw: &'a Value,
    pub key: &'a str,
    pub scope: &'a str,
    pub deadline: Option<DateTime<Utc>>,
    /// When the invocation judged what it saw (its start).
    pub judged_at: DateTime<Utc>,
    /// The invocation's own deadline: scheduling the check must be done by then.
    pub by: Instant,
    /// Who owns the chain's claims: the request id of the delivery that started it.
    pub owner: &'a str,
}

/// A report, and why the follow-up check it needs could not be scheduled (if so).
#[derive(Debug, Clone)]
pub struct FollowedReport {
    pub report: Report,
    pub unscheduled: Option<String>,
}

impl FollowedReport {
    pub fn new(report: Report) -> Self {
        FollowedReport {
            report,
            unscheduled: None,
        }
    }
}

/// Built once per execution environment, like the adapters it holds.
#[derive(Debug, Clone)]
pub struct Controls<L, S, N> {
    deferral: Option<(Deferral, S)>,
    /// Follow-up checks and continuations, through the same schedules.
    checks: Option<(CheckPolicy, S)>,
    schedule_target_arn: Option<String>,
    notifier: Option<N>,
    ledger: Option<(L, chrono::Duration)>,
    metrics_namespace: Option<String>,
    /// Stable logical name for metric dimensions (`ecs-retirement`, `eks-fargate-pod`).
    function: String,
    dry_run: bool,
}

/// What [`Controls`] are made of; each part is optional.
#[derive(Debug, Clone)]
pub struct Parts<L, S, N> {
    /// The schedules deferrals, holds, checks and continuations are made through.
    pub scheduler: Option<S>,
    pub deferral: Option<Deferral>,
    pub checks: Option<CheckPolicy>,
    /// What a schedule invokes (default: the ARN the function was invoked as).
    pub schedule_target_arn: Option<String>,
    pub notifier: Option<N>,
    /// The ledger and how long its entries are kept past AWS's deadline.
    pub ledger: Option<(L, chrono::Duration)>,
    pub metrics_namespace: Option<String>,
    pub function: String,
    pub dry_run: bool,
}

impl<L, S: Clone, N> Controls<L, S, N> {
    pub fn with(parts: Parts<L, S, N>) -> Self {
        let deferral = parts.deferral.zip(parts.scheduler.clone());
        Controls {
            deferral,
            checks: parts.checks.zip(parts.scheduler),
            schedule_target_arn: parts.schedule_target_arn,
            notifier: parts.notifier,
            ledger: parts.ledger,
            metrics_namespace: parts.metrics_namespace,
            function: parts.function,
            dry_run: parts.dry_run,
        }
    }

    /// No windows, no notifications, no metrics: the remediation alone.
    pub fn none() -> Self {
        Controls {
            deferral: None,
            checks: None,
            schedule_target_arn: None,
            notifier: None,
            ledger: None,
            metrics_namespace: None,
            function: String::new(),
            dry_run: false,
        }
    }
}

impl<L> Controls<L, MemoryScheduler, NoNotifier> {
    /// The ledger alone (when there is one): no windows, holds, checks, notifications or
    /// metrics. What the CLI and the benchmarks run: they act now and report themselves.
    pub fn ledger_only(
        ledger: Option<(L, chrono::Duration)>,
        function: &str,
        dry_run: bool,
    ) -> Self {
        Controls {
            ledger,
            function: function.to_owned(),
            dry_run,
            ..Controls::none()
        }
    }
}

impl<L: Ledger, S: Scheduler, N: Notifier> Controls<L, S, N> {
    /// Holds the event until `at` (a notice that must not be acted on earlier): one schedule
    /// re-runs it then. `None` when no schedule can be made (no `SCHEDULE_ROLE_ARN`): the
    /// caller acts now and says so.
    pub async fn hold(
        &self,
        event: GatedEvent<'_>,
        (at, why): (DateTime<Utc>, String),
        invoked_arn: &str,
    ) -> Option<Gate> {
        let scheduler = self
            .deferral
            .as_ref()
            .map(|(_, s)| s)
            .or(self.checks.as_ref().map(|(_, s)| s))?;
        let target_arn = self.schedule_target_arn.as_deref().unwrap_or(invoked_arn);
        let description = format!(
            "Re-runs retirement event {} at {}",
            event.event_id.unwrap_or("-"),
            at.to_rfc3339()
        );
        let verdict = hold(
            scheduler,
            &event,
            at,
            why,
            description,
            target_arn,
            self.dry_run,
        )
        .await;
        if let Gate::Held(_, why) = &verdict {
            tracing::info!(timing = %why, "not acting now");
        }
        Some(verdict)
    }

    /// `DEADLINE_MARGIN`: how long before AWS's deadline the remediator wants to be done.
    pub fn margin(&self) -> chrono::Duration {
        self.deferral
            .as_ref()
            .map(|(d, _)| d.margin)
            .or(self.checks.as_ref().map(|(p, _)| p.act_margin))
            .unwrap_or(crate::defer::DEFAULT_MARGIN)
    }

    /// Whether maintenance windows may defer notices.
    pub fn defers(&self) -> bool {
        self.deferral.is_some()
    }

    /// `None` without maintenance windows; otherwise whether to act now (and why) or the
    /// outcomes of deferring. `invoked_arn` is the default schedule target: this function.
    pub async fn gate(
        &self,
        event: GatedEvent<'_>,
        invoked_arn: &str,
        now: DateTime<Utc>,
    ) -> Option<Gate> {
        let (deferral, scheduler) = self.deferral.as_ref()?;
        let target_arn = self.schedule_target_arn.as_deref().unwrap_or(invoked_arn);
        let verdict = gate(scheduler, deferral, event, target_arn, now, self.dry_run).await;
        match &verdict {
            Gate::Proceed(why) => tracing::info!(timing = %why, "acting now"),
            Gate::Held(_, why) => tracing::info!(timing = %why, "not acting now"),
        }
        Some(verdict)
    }

    /// The ledger, when `LEDGER_TABLE` names one.
    pub fn ledger(&self) -> Option<&L> {
        self.ledger.as_ref().map(|(ledger, _)| ledger)
    }

    /// Remediates `notice` through `remediator`, with the ledger's memory around it when there is
    /// a ledger. `owner` names this invocation on its claims; `now` is the wall clock.
    pub async fn remediate<R: Remediate>(
        &self,
        remediator: &R,
        notice: &R::Notice,
        deadline: Option<Instant>,
        finish_by: Option<Instant>,
        owner: &str,
        now: DateTime<Utc>,
    ) -> Vec<Outcome> {
        match &self.ledger {
            Some((ledger, retention)) => {
                let invocation = Invocation {
                    owner: owner.to_owned(),
                    now,
                    lease_margin: LEASE_MARGIN,
                    retention: *retention,
                    concurrency: LEDGER_CONCURRENCY,
                    finish_by,
                };
                Box::pin(remediate_remembering(
                    remediator,
                    ledger,
                    notice,
                    deadline,
                    &invocation,
                ))
                .await
            }
            None => remediator.remediate(notice, deadline).await,
        }
    }

    /// Past AWS's deadline nothing is retried; with follow-up checks, waiting resources are not
    /// waited for past the deadline minus `DEADLINE_MARGIN` either ([`follow::stop_waiting`]).
    ///
    /// `follow_until` is the end of AWS's window (what is followed is final after it); waiting
    /// (a release in progress, throttling) stops `DEADLINE_MARGIN` before AWS *starts*
    /// (`starts`), so a person is alarmed while there is still time to act by hand.
    pub fn close_waiting(
        &self,
        outcomes: Vec<Outcome>,
        now: DateTime<Utc>,
        follow_until: Option<DateTime<Utc>>,
        starts: Option<DateTime<Utc>>,
    ) -> Vec<Outcome> {
        let outcomes = follow::close_past_deadline(outcomes, now, follow_until);
        match &self.checks {
            Some((policy, _)) => follow::stop_waiting(outcomes, now, starts, policy),
            None => outcomes,
        }
    }

    /// What the ledger already says of each target (all `None` without a ledger): see
    /// [`crate::pipeline::remembered`].
    pub async fn remembered<T: Notice>(
        &self,
        notice: &T,
        owner: &str,
        now: DateTime<Utc>,
    ) -> Vec<Recalled> {
        match &self.ledger {
            Some((ledger, _)) => remembered(ledger, notice, now, owner).await,
            None => vec![Recalled::Open; notice.targets().len()],
        }
    }

    /// Schedules the notice's next follow-up check when its outcomes need one (pending,
    /// retryable, or not reached: see [`follow::next`]) and says so in the report. `raw` is the
    /// original event, `key` the notice's ledger key, `deadline` AWS's.
    pub async fn follow_up(
        &self,
        mut report: Report,
        chain: &Chain<'_>,
        invoked_arn: &str,
        now: DateTime<Utc>,
    ) -> FollowedReport {
        let Chain {
            raw,
            key,
            scope,
            deadline,
            judged_at,
            by,
            owner,
        } = *chain;
        let Some((policy, scheduler)) = &self.checks else {
            return FollowedReport::new(report);
        };
        if self.dry_run || report.disposition != Disposition::Handled {
            return FollowedReport::new(report);
        }
        let remembers = self.ledger.is_some();
        let next = follow::last_look(
            &report.outcomes,
            report.check,
            judged_at,
            now,
            deadline,
            policy,
            remembers,
        )
        .unwrap_or_else(|| {
            follow::next(
                &report.outcomes,
                report.check,
                now,
                deadline,
                policy,
                remembers,
            )
        });
        let Next::Check { check, at, why } = next else {
            return FollowedReport::new(report);
        };
        let name = schedule_name(key, scope, check);
        let request = ScheduleRequest {
            name: name.clone(),
            at,
            target_arn: self
                .schedule_target_arn
                .as_deref()
                .unwrap_or(invoked_arn)
                .to_owned(),
            input: check_event(raw, check, owner).to_string(),
            description: format!("Follow-up check {check} of retirement notice {key}: {why}"),
            spread_minutes: crate::defer::CHECK_SPREAD_MINUTES,
        };
        let left = by.saturating_duration_since(Instant::now());
        let scheduled = match tokio::time::timeout(left, scheduler.schedule_once(&request)).await {
            Ok(result) => result,
            Err(_) => Err(crate::ports::ApiError::new(
                "CreateSchedule",
                crate::ports::ApiErrorKind::Transient,
                "not answered before the invocation deadline",
            )),
        };
        match scheduled {
            Ok(found) => {
                tracing::info!(
                    schedule = %name,
                    check,
                    at = %at.to_rfc3339(),
                    existed = found == Scheduled::AlreadyExists,
                    why = %why,
                    "follow-up check scheduled"
                );
                report.follow_up = Some(FollowUp {
                    check,
                    at,
                    schedule: name,
                    why,
                });
                FollowedReport::new(report)
            }
            Err(e) => {
                tracing::error!(schedule = %name, error = %e, "follow-up check not scheduled");
                FollowedReport {
                    report,
                    unscheduled: Some(format!(
                        "follow-up check {check} could not be scheduled ({e}): fix the schedule role, group or permissions"
                    )),
                }
            }
        }
    }

    /// At the end of a chain of checks, whether its report is the notice's last word (see
    /// [`crate::ledger::SUMMARY_MARKER`]): when another chain still follows a resource, or
    /// already claimed the summary, the report says so and stays quiet. Without a ledger (or
    /// one that cannot answer) the report stands as the last word: a summary twice is better
    /// than none.
    pub async fn last_word(
        &self,
        mut report: Report,
        key: &str,
        request_id: &str,
        now: DateTime<Utc>,
    ) -> Report {
        let Some((ledger, retention)) = &self.ledger else {
            return report;
        };
        if self.dry_run || !report.ends_chain() {
            return report;
        }
        let mine: Vec<String> = report
            .outcomes
            .iter()
            .map(|o| o.target.identity())
            .collect();
        let entries = match ledger.notice(key).await {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(error = %e, "the notice's entries could not be read: the final summary is sent");
                return report;
            }
        };
        if let Some(open) = ledger::open_elsewhere(&entries, &mine, now) {
            report.final_elsewhere = Some(format!(
                "{} is still followed by another check of this notice: that chain sends the final summary",
                open.target
            ));
            return report;
        }
        let expires = entries
            .iter()
            .map(|e| e.expires_at)
            .max()
            .unwrap_or(now + *retention);
        match ledger
            .claim(&ledger::marker_claim(key, request_id, now, expires))
            .await
        {
            Ok(ledger::Claimed::Lost(by)) => {
                report.final_elsewhere = Some(format!(
                    "the final summary was sent at {} by invocation {}",
                    by.updated_at.to_rfc3339(),
                    by.owner.as_deref().unwrap_or("unknown")
                ));
            }
            Ok(ledger::Claimed::Won) => {}
            Err(e) => {
                tracing::warn!(error = %e, "the final summary's marker could not be claimed: it is sent")
            }
        }
        report
    }

    /// After an event: EMF metric lines on stdout, then the SNS summary. A notification that
    /// cannot be sent is logged, not retried: the remediation itself is done and re-running it
    /// to resend a message would only repeat the work.
    pub async fn finish(&self, report: &Report, now: DateTime<Utc>) {
        if let Some(namespace) = &self.metrics_namespace {
            metrics::emit(&metrics::documents(report, namespace, &self.function, now));
        }
        let Some(notifier) = self
            .notifier
            .as_ref()
            .filter(|_| notify::worth_sending(report))
        else {
            return;
        };
        {
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
