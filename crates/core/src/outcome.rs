//! Outcomes and the per-event report.
//!
//! Every affected resource ends with exactly one [`Outcome`]. The `status` says where it landed,
//! `code` is a stable machine-readable name (logs, metrics and notifications reuse it), and
//! `reason` is for people.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::names::{Action, Code, EventCode};
use crate::notice::{Ignored, ParseError, PodNotice, RetirementNotice};
use crate::target::Target;

/// Where a resource landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// A mutating call was made and succeeded.
    Acted,
    /// Observation showed the work was already done (e.g. a deployment newer than the notice).
    AlreadyDone,
    /// Deliberately not acted on, with the reason (gone, owned by another scheduler, other account…).
    Skipped,
    /// Could not be remediated; `retryable` says whether a later attempt can succeed.
    Failed,
    /// Dry run: this is what would be done.
    Planned,
    /// Outside the maintenance windows: a one-time schedule re-runs the event at the next
    /// window start, before AWS's deadline.
    Deferred,
    /// Acted on (by this or an earlier invocation); the platform has not finished replacing it.
    /// A follow-up check looks again until it is verified, fails, or AWS's deadline passes.
    Pending,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Acted => "acted",
            Status::AlreadyDone => "already_done",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
            Status::Planned => "planned",
            Status::Deferred => "deferred",
            Status::Pending => "pending",
        }
    }
}

/// The single final word on one affected resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub target: Target,
    pub status: Status,
    pub code: Code,
    /// The remediation this resource calls for (`force_new_deployment`, …), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    pub reason: String,
    #[serde(default)]
    pub retryable: bool,
    /// PRIMARY deployment id before the action (services).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_before: Option<String>,
    /// PRIMARY deployment id after the action, or the one that already replaced the tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_after: Option<String>,
    /// When ECS created `deployment_after` (a forced deployment): a PRIMARY deployment created
    /// before it is one ECS went back to; one created after it, anyone's, replaces the tasks too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_created_at: Option<chrono::DateTime<chrono::Utc>>,
    /// A task named by its ARN that belongs to a service: the service it was remediated and is
    /// followed as (one resource with it for the checks and the verdict).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<crate::target::ServiceRef>,
    /// Answered from the ledger's memory (settled earlier for this notice): no news, so it is
    /// neither counted in the metrics again nor a reason to notify.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub remembered: bool,
    /// People were already told of this (`awaiting_approval`: the same hook waits as at the last
    /// check): a fresh observation, but no reason to notify again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub told: bool,
}

impl Outcome {
    pub fn new(target: Target, status: Status, code: Code, reason: impl Into<String>) -> Self {
        Outcome {
            target,
            status,
            code,
            action: None,
            reason: reason.into(),
            retryable: false,
            deployment_before: None,
            deployment_after: None,
            deployment_created_at: None,
            service: None,
            remembered: false,
            told: false,
        }
    }

    pub fn failed(target: Target, code: Code, reason: impl Into<String>, retryable: bool) -> Self {
        Outcome {
            retryable,
            ..Outcome::new(target, Status::Failed, code, reason)
        }
    }

    /// The same outcome, about `target`.
    pub fn retarget(mut self, target: Target) -> Self {
        self.target = target;
        self
    }

    /// The same outcome, its reason prefixed with `what` (`Deployment shop/web: …`).
    pub fn with_reason_prefix(mut self, what: &str) -> Self {
        self.reason = format!("{what}: {}", self.reason);
        self
    }

    pub fn with_action(mut self, action: Action) -> Self {
        self.action = Some(action);
        self
    }

    pub fn with_created_at(mut self, at: Option<chrono::DateTime<chrono::Utc>>) -> Self {
        self.deployment_created_at = at;
        self
    }

    pub fn with_deployments(mut self, before: Option<String>, after: Option<String>) -> Self {
        self.deployment_before = before;
        self.deployment_after = after;
        self
    }
}

/// A scheduled follow-up check of a notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUp {
    /// The check's number (1 for the first after a delivery).
    pub check: u32,
    pub at: DateTime<Utc>,
    /// The EventBridge Scheduler schedule's name.
    pub schedule: String,
    /// Why another check is needed.
    pub why: String,
}

/// What happened to the event as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// A retirement notice: see the outcomes.
    Handled,
    /// Well-formed but needs nothing (closed, other event type, other source).
    Ignored,
    /// The input itself is unusable (malformed JSON, missing fields).
    Rejected,
}

/// Counts per status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub acted: usize,
    pub already_done: usize,
    pub skipped: usize,
    pub failed: usize,
    pub planned: usize,
    #[serde(default)]
    pub deferred: usize,
    /// Acted on, not yet replaced: followed by checks.
    #[serde(default)]
    pub pending: usize,
    /// Of `already_done`: the platform shows them replaced (code `verified`).
    #[serde(default)]
    pub verified: usize,
    pub retryable_failures: usize,
}

/// The handler's answer for one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub disposition: Disposition,
    pub event_id: Option<String>,
    pub event_arn: Option<String>,
    pub dry_run: bool,
    /// One line saying what happened to the event.
    pub message: String,
    /// Stable code for ignored/rejected events (`closed_event`, `malformed_input`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<EventCode>,
    pub outcomes: Vec<Outcome>,
    pub summary: Summary,
    /// When the notice was published (handled events): the start of time-to-remediate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<DateTime<Utc>>,
    /// When AWS retires the resources, if the notice says (ECS `startTime`, EKS termination).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<DateTime<Utc>>,
    /// Why the event was acted on now or deferred (maintenance windows), when windows are set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing: Option<String>,
    /// Which follow-up check of the notice this invocation is (`None`: a delivery from AWS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<u32>,
    /// The next check of the notice, when one is scheduled: it carries pending and retryable
    /// resources instead of Lambda's retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_up: Option<FollowUp>,
    /// What the affected account's settings say (its ECS retirement settings).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The account the resources are in (central mode: a member's), when the notice says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The Region the resources are in, when the notice says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Why this check, though its chain ends here, is not the notice's last word: another chain
    /// of checks still follows a resource, or already sent the final summary
    /// ([`crate::ledger::SUMMARY_MARKER`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_elsewhere: Option<String>,
}

impl Report {
    /// The one base: a disposition and its message, everything else empty. Each kind of report
    /// below says only what it adds.
    fn base(disposition: Disposition, message: String, dry_run: bool) -> Self {
        Report {
            disposition,
            event_id: None,
            event_arn: None,
            dry_run,
            message,
            code: None,
            outcomes: Vec::new(),
            summary: Summary::default(),
            published_at: None,
            deadline: None,
            timing: None,
            check: None,
            follow_up: None,
            notes: Vec::new(),
            account: None,
            region: None,
            final_elsewhere: None,
        }
    }

    /// A report naming `outcomes`, counted.
    fn with_outcomes(mut self, outcomes: Vec<Outcome>) -> Self {
        self.summary = summarize(&outcomes);
        self.outcomes = outcomes;
        self
    }

    pub fn handled(notice: &RetirementNotice, outcomes: Vec<Outcome>, dry_run: bool) -> Self {
        let summary = summarize(&outcomes);
        let message = format!(
            "{} affected resource(s): {} acted, {} pending, {} already done ({} verified), {} planned, {} deferred, {} skipped, {} failed ({} retryable)",
            outcomes.len(),
            summary.acted,
            summary.pending,
            summary.already_done,
            summary.verified,
            summary.planned,
            summary.deferred,
            summary.skipped,
            summary.failed,
            summary.retryable_failures
        );
        Report {
            event_id: notice.event_id.clone(),
            event_arn: Some(notice.event_arn.clone()),
            published_at: Some(notice.published_at),
            deadline: notice.start_time,
            account: notice
                .affected_account
                .clone()
                .or_else(|| notice.account.clone()),
            region: notice.region.clone(),
            ..Self::base(Disposition::Handled, message, dry_run).with_outcomes(outcomes)
        }
    }

    /// The report for one EKS pod notice (one target: the pod).
    pub fn for_pod(notice: &PodNotice, outcomes: Vec<Outcome>, dry_run: bool) -> Self {
        let said = outcomes
            .iter()
            .map(|o| format!("{} {}", o.status.as_str(), o.code))
            .collect::<Vec<_>>()
            .join(", ");
        let message = format!(
            "EKS pod {}/{}/{} (deleted by EKS at {}): {said}",
            notice.cluster,
            notice.namespace,
            notice.pod,
            notice.scheduled_termination.to_rfc3339(),
        );
        Report {
            event_id: notice.event_id.clone(),
            published_at: Some(notice.published_at),
            deadline: Some(notice.scheduled_termination),
            account: notice.account.clone(),
            region: notice.region.clone(),
            ..Self::base(Disposition::Handled, message, dry_run).with_outcomes(outcomes)
        }
    }

    pub fn ignored(ignored: &Ignored, dry_run: bool) -> Self {
        Report {
            event_id: ignored.event_id.clone(),
            event_arn: ignored.event_arn.clone(),
            code: Some(ignored.code),
            ..Self::base(
                Disposition::Ignored,
                format!("nothing to do: {}", ignored.reason),
                dry_run,
            )
        }
    }

    pub fn rejected(error: &ParseError, dry_run: bool) -> Self {
        Report {
            code: Some(EventCode::MalformedInput),
            ..Self::base(
                Disposition::Rejected,
                format!("input rejected: {error}"),
                dry_run,
            )
        }
    }

    /// The same report, saying why it acted now or waits (maintenance windows).
    pub fn with_timing(mut self, timing: Option<String>) -> Self {
        self.timing = timing;
        self
    }

    /// The report of follow-up check number `check` (`None`: a delivery from AWS).
    pub fn with_check(mut self, check: Option<u32>) -> Self {
        self.check = check;
        self
    }

    /// Whether this is a check's report and no further check follows: the end of its chain.
    pub fn ends_chain(&self) -> bool {
        // A deferral's own schedule runs the deferred resources later: not the end yet.
        self.check.is_some() && self.follow_up.is_none() && self.summary.deferred == 0
    }

    /// Whether this report is the notice's last word: its chain ends, and no other chain of
    /// checks still follows the notice or has sent its final summary.
    pub fn is_final_check(&self) -> bool {
        self.ends_chain() && self.final_elsewhere.is_none()
    }

    /// True when a later attempt could still change an outcome.
    pub fn has_retryable_failure(&self) -> bool {
        self.summary.retryable_failures > 0
    }

    /// CLI exit status: 0 all final, 1 any failure, 2 unusable input.
    pub fn exit_code(&self) -> i32 {
        match self.disposition {
            Disposition::Rejected => 2,
            _ if self.summary.failed > 0 => 1,
            _ => 0,
        }
    }

    /// Emits one structured log line per resource, and one for the event.
    pub fn log(&self) {
        let event_arn = self.event_arn.as_deref().unwrap_or("-");
        let account = self.account.as_deref().unwrap_or("-");
        let region = self.region.as_deref().unwrap_or("-");
        for o in &self.outcomes {
            let resource = o.target.to_string();
            macro_rules! line {
                ($level:ident) => {
                    tracing::$level!(
                        event_arn,
                        account,
                        region,
                        resource = %resource,
                        status = o.status.as_str(),
                        code = %o.code,
                        action = o.action.map_or("-", Action::as_str),
                        retryable = o.retryable,
                        deployment_before = o.deployment_before.as_deref().unwrap_or("-"),
                        deployment_after = o.deployment_after.as_deref().unwrap_or("-"),
                        dry_run = self.dry_run,
                        "{}",
                        o.reason
                    )
                };
            }
            match o.status {
                Status::Failed => line!(error),
                Status::Skipped => line!(warn),
                _ => line!(info),
            }
        }
        match self.disposition {
            Disposition::Rejected => {
                tracing::error!(
                    code = EventCode::MalformedInput.as_str(),
                    "{}",
                    self.message
                )
            }
            Disposition::Ignored => tracing::info!(
                event_arn,
                code = self.code.map_or("-", EventCode::as_str),
                "{}",
                self.message
            ),
            Disposition::Handled => tracing::info!(
                event_arn,
                dry_run = self.dry_run,
                timing = self.timing.as_deref().unwrap_or("-"),
                "{}",
                self.message
            ),
        }
    }

    /// A human table: one row per resource.
    pub fn render_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "event {} ({}{})",
            self.event_arn.as_deref().unwrap_or("-"),
            match self.disposition {
                Disposition::Handled => "handled",
                Disposition::Ignored => "ignored",
                Disposition::Rejected => "rejected",
            },
            if self.dry_run { ", dry run" } else { "" }
        );
        if !self.outcomes.is_empty() {
            let rows: Vec<[String; 5]> = self
                .outcomes
                .iter()
                .map(|o| {
                    let deployments = match (&o.deployment_before, &o.deployment_after) {
                        (None, None) => "-".to_owned(),
                        (b, a) => format!(
                            "{} -> {}",
                            short_id(b.as_deref().unwrap_or("?")),
                            short_id(a.as_deref().unwrap_or("?"))
                        ),
                    };
                    [
                        o.target.to_string(),
                        o.status.as_str().to_owned(),
                        if o.retryable {
                            format!("{} (retryable)", o.code)
                        } else {
                            o.code.to_string()
                        },
                        deployments,
                        o.reason.clone(),
                    ]
                })
                .collect();
            let header = [
                "RESOURCE",
                "STATUS",
                "CODE",
                "DEPLOYMENT (before -> after)",
                "REASON",
            ];
            let mut widths = header.map(str::len);
            for row in &rows {
                for (w, cell) in widths.iter_mut().zip(row) {
                    *w = (*w).max(cell.chars().count());
                }
            }
            let indent: usize = widths[..4].iter().map(|w| w + 2).sum();
            let mut line = |cells: [&str; 5]| {
                let mut s = String::new();
                for (i, cell) in cells.iter().enumerate() {
                    if i == 4 {
                        // A word longer than the width keeps its own line, whole.
                        let options = textwrap::Options::new(REASON_WIDTH).break_words(false);
                        let wrapped = textwrap::wrap(cell, options);
                        s.push_str(&wrapped.join(&format!("\n{:indent$}", "")));
                    } else {
                        let _ = write!(s, "{cell:<w$}  ", w = widths[i]);
                    }
                }
                let _ = writeln!(out, "{}", s.trim_end());
            };
            line(header);
            for row in &rows {
                line([&row[0], &row[1], &row[2], &row[3], &row[4]]);
            }
        }
        if let Some(timing) = &self.timing {
            let _ = writeln!(out, "timing: {timing}");
        }
        if let Some(f) = &self.follow_up {
            let _ = writeln!(
                out,
                "next: follow-up check {} at {} ({})",
                f.check,
                f.at.to_rfc3339(),
                f.why
            );
        }
        for note in &self.notes {
            let _ = writeln!(out, "account: {note}");
        }
        for code in self.final_failure_codes() {
            let _ = writeln!(out, "what to do: remediator explain {code}");
        }
        let _ = writeln!(out, "{}", self.message);
        out
    }

    /// The distinct codes of the final failures, in the order they first appear: each is a
    /// promise that a person must act, and `remediator explain CODE` says how.
    pub fn final_failure_codes(&self) -> Vec<Code> {
        let mut codes: Vec<Code> = Vec::new();
        for o in &self.outcomes {
            if o.status == Status::Failed && !o.retryable && !codes.contains(&o.code) {
                codes.push(o.code);
            }
        }
        codes
    }
}

/// How wide the table's reasons run before they wrap under their column.
const REASON_WIDTH: usize = 72;

/// A deployment, task set or task id short enough for the table: the full one is in the JSON.
fn short_id(id: &str) -> String {
    let last = id.rsplit('/').next().unwrap_or(id);
    if id.chars().count() <= 16 {
        id.to_owned()
    } else if last.chars().count() <= 12 {
        last.to_owned()
    } else {
        format!("{}…", last.chars().take(8).collect::<String>())
    }
}

fn summarize(outcomes: &[Outcome]) -> Summary {
    let mut s = Summary::default();
    for o in outcomes {
        match o.status {
            Status::Acted => s.acted += 1,
            Status::AlreadyDone => s.already_done += 1,
            Status::Skipped => s.skipped += 1,
            Status::Failed => {
                s.failed += 1;
                if o.retryable {
                    s.retryable_failures += 1;
                }
            }
            Status::Planned => s.planned += 1,
            Status::Deferred => s.deferred += 1,
            Status::Pending => s.pending += 1,
        }
        if o.code == Code::Verified {
            s.verified += 1;
        }
    }
    s
}
