//! The per-event summary for people: an AWS Chatbot (Amazon Q Developer in chat applications)
//! custom notification, so it renders in Slack/Teams, and a plain-text version of the same for
//! e-mail and anything else that does not read JSON.
//!
//! Custom-notification shape:
//! `{"version":"1.0","source":"custom","content":{"textType":"client-markdown","title",
//! "description","nextSteps":[…],"keywords":[…]},"metadata":{…}}`.

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::names::Code;
use crate::outcome::{Disposition, Outcome, Report, Status};

/// Resources listed one by one before the rest are summarised (chat messages have to stay short).
const MAX_LISTED: usize = 25;
/// Characters per reason in the chat rendering.
const MAX_REASON: usize = 160;
/// Bytes of resource lines in the plain text: with the chat message beside it, the SNS message
/// stays under SNS's 256 KiB limit however many resources a notice names.
const MAX_TEXT_LINES_BYTES: usize = 160 * 1024;

/// The one-line headline: what happened to how many resources.
pub fn title(report: &Report) -> String {
    let s = &report.summary;
    let mut parts = Vec::new();
    let verified_done = s.already_done.saturating_sub(s.verified);
    for (n, label) in [
        (s.acted, "remediated"),
        (s.verified, "verified replaced"),
        (s.pending, "being replaced"),
        (s.deferred, "deferred"),
        (verified_done, "already done"),
        (s.planned, "planned (dry run)"),
        (s.skipped, "skipped"),
        (s.failed, "failed"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {label}"));
        }
    }
    let what = if parts.is_empty() {
        report.message.clone()
    } else {
        parts.join(", ")
    };
    let icon = if s.failed > 0 { "⚠️" } else { "✅" };
    let which = if report.is_final_check() {
        " (final)"
    } else {
        ""
    };
    format!("{icon} Fargate retirement{which}: {what}")
}

/// SNS e-mail subject: ASCII, at most 100 characters.
pub fn subject(report: &Report) -> String {
    let title: String = title(report)
        .chars()
        .filter(|c| c.is_ascii() && !c.is_ascii_control())
        .collect();
    title.trim().chars().take(100).collect()
}

/// What the operator should do next, derived from the outcomes.
pub fn next_steps(report: &Report) -> Vec<String> {
    let mut steps = Vec::new();
    let any = |f: &dyn Fn(&Outcome) -> bool| report.outcomes.iter().any(f);
    let deadline = report
        .deadline
        .map(|d| format!(" before {}", d.to_rfc3339()))
        .unwrap_or_default();
    if any(&|o| o.status == Status::Failed && o.retryable) {
        steps.push(match &report.follow_up {
            Some(f) => format!(
                "Retryable failures: follow-up check {} at {} tries again.",
                f.check,
                f.at.to_rfc3339()
            ),
            None => "Retryable failures: Lambda runs the event again; if it keeps failing it lands in the dead-letter queue (alarmed).".into(),
        });
    }
    let failed = report.final_failure_codes();
    if !failed.is_empty() {
        let explain: Vec<String> = failed
            .iter()
            .map(|c| format!("`remediator explain {c}`"))
            .collect();
        steps.push(format!(
            "Replace the failed resources by hand{deadline}: see each reason, and {} for what to do.",
            explain.join(", ")
        ));
    }
    if any(&|o| {
        o.status == Status::Skipped
            && [Code::ExternalController, Code::OwnedByOrchestrator].contains(&o.code)
    }) {
        steps.push(format!(
            "Some resources are managed elsewhere (external controller, Step Functions, Batch…): replace them yourself{deadline}."
        ));
    }
    // Each paused deployment's command in full: chat cuts reasons short.
    for o in report
        .outcomes
        .iter()
        .filter(|o| o.code == Code::AwaitingApproval)
    {
        let command = o
            .reason
            .split_once("Continue: ")
            .map_or(o.reason.as_str(), |(_, command)| command);
        steps.push(format!(
            "{} waits at a lifecycle hook for a person; the remediator does not decide for you. Continue: {command}",
            o.target
        ));
    }
    if any(&|o| o.code == Code::ExpressModeService) {
        steps.push(format!(
            "Express Mode services are ECS's to deploy: redeploy them through UpdateExpressGatewayService if they must move before AWS does{deadline}."
        ));
    }
    if report.summary.deferred > 0 {
        steps.push("Deferred resources are handled automatically at the start of the next maintenance window.".into());
    }
    if let Some(f) = &report.follow_up {
        if any(&|o| matches!(o.status, Status::Acted | Status::Pending)) {
            steps.push(format!(
                "Follow-up check {} at {} looks whether the platform finished replacing them; the last check sends the final summary.",
                f.check,
                f.at.to_rfc3339()
            ));
        }
    } else if any(&|o| o.status == Status::Acted) {
        steps.push("Watch the new deployments/tasks reach steady state.".into());
    }
    steps
}

/// The facts above the resource list: (label, value) pairs.
fn header(report: &Report) -> Vec<(&'static str, String)> {
    let mut lines = Vec::new();
    if let Some(arn) = &report.event_arn {
        lines.push(("Event", arn.clone()));
    }
    match (&report.account, &report.region) {
        (Some(a), Some(r)) => lines.push(("Account", format!("{a}, {r}"))),
        (Some(a), None) => lines.push(("Account", a.clone())),
        (None, Some(r)) => lines.push(("Region", r.clone())),
        (None, None) => {}
    }
    if let Some(d) = report.deadline {
        lines.push(("AWS retires from", d.to_rfc3339()));
    }
    if let Some(t) = &report.timing {
        lines.push(("Timing", t.clone()));
    }
    for note in &report.notes {
        lines.push(("Account settings", note.clone()));
    }
    if report.dry_run {
        lines.push(("Dry run", "nothing was changed.".into()));
    }
    lines
}

/// Markdown body for chat: the timing, then one line per resource.
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    for (label, value) in header(report) {
        let _ = writeln!(out, "*{label}*: {value}");
    }
    for o in report.outcomes.iter().take(MAX_LISTED) {
        let reason: String = o.reason.chars().take(MAX_REASON).collect();
        let ellipsis = if o.reason.chars().count() > MAX_REASON {
            "…"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "• `{}` *{}* `{}`: {reason}{ellipsis}",
            o.target,
            o.status.as_str(),
            o.code
        );
    }
    if report.outcomes.len() > MAX_LISTED {
        let _ = writeln!(
            out,
            "…and {} more: see the function's log for every resource.",
            report.outcomes.len() - MAX_LISTED
        );
    }
    let _ = write!(out, "{}", report.message);
    out
}

/// The Chatbot custom notification for one report.
pub fn chatbot(report: &Report) -> Value {
    let mut keywords = vec!["fargate-retirement".to_owned()];
    for status in [Status::Failed, Status::Deferred, Status::Acted] {
        if report.outcomes.iter().any(|o| o.status == status) {
            keywords.push(status.as_str().to_owned());
        }
    }
    let mut message = json!({
        "version": "1.0",
        "source": "custom",
        "content": {
            "textType": "client-markdown",
            "title": title(report),
            "description": markdown(report),
            "nextSteps": next_steps(report),
            "keywords": keywords,
        },
        "metadata": {
            "summary": title(report),
            "eventType": "FargateRetirementRemediation",
            "relatedResources": report.outcomes.iter().map(|o| o.target.to_string()).take(MAX_LISTED).collect::<Vec<_>>(),
            "additionalContext": {
                "acted": report.summary.acted.to_string(),
                "deferred": report.summary.deferred.to_string(),
                "failed": report.summary.failed.to_string(),
            },
        },
    });
    // Optional members are left out rather than sent as null.
    if let Some(id) = &report.event_id {
        message["id"] = json!(id);
    }
    if let Some(thread) = report.event_arn.as_deref().or(report.event_id.as_deref()) {
        message["metadata"]["threadId"] = json!(thread);
    }
    message
}

/// The same summary as plain text, every resource listed (up to a size SNS accepts; the rest
/// are counted and are in the function's log).
pub fn plain_text(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", subject(report));
    let _ = writeln!(out);
    for (label, value) in header(report) {
        let _ = writeln!(out, "{label}: {value}");
    }
    let _ = writeln!(out);
    let mut listed_bytes = 0;
    for (i, o) in report.outcomes.iter().enumerate() {
        let line = format!(
            "- {}: {} ({}) - {}\n",
            o.target,
            o.status.as_str(),
            o.code,
            o.reason
        );
        listed_bytes += line.len();
        if listed_bytes > MAX_TEXT_LINES_BYTES {
            let _ = writeln!(
                out,
                "…and {} more: see the function's log for every resource.",
                report.outcomes.len() - i
            );
            break;
        }
        out.push_str(&line);
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", report.message);
    let steps = next_steps(report);
    if !steps.is_empty() {
        let _ = writeln!(out, "\nNext steps:");
        for s in steps {
            let _ = writeln!(out, "- {s}");
        }
    }
    out
}

/// Whether a report deserves a message: handled events only (ignored ones need nothing; rejected
/// ones reach the dead-letter queue and its alarm).
///
/// Follow-up checks speak only when they have news: a check that acted (a continuation, a
/// retried redeploy), one that found a resource newly failed, one that found a deployment newly
/// paused at a lifecycle hook for a person (`awaiting_approval`, told once per hook), or the
/// last one, which sends the notice's final summary (verified / failed per resource). Checks
/// that only see the replacement still under way stay quiet.
pub fn worth_sending(report: &Report) -> bool {
    let news = || {
        report.summary.acted > 0
            || report.outcomes.iter().any(|o| {
                (o.status == Status::Failed && !o.retryable && !o.remembered)
                    || (o.code == Code::AwaitingApproval && !o.told)
            })
    };
    report.disposition == Disposition::Handled
        && (report.check.is_none() || report.is_final_check() || news())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notice::{parse_slice, Parsed};
    use crate::target::{ServiceRef, Target};

    fn report(outcomes: Vec<Outcome>) -> Report {
        let raw = include_bytes!("../../../events-fixtures/health-ecs-services-pipe.json");
        let Ok(Parsed::Retirement(notice)) = parse_slice(raw) else {
            panic!("fixture is a retirement notice");
        };
        Report::handled(&notice, outcomes, false)
    }

    fn service(name: &str) -> Target {
        Target::Service(ServiceRef {
            cluster: "prod".into(),
            service: name.into(),
        })
    }

    #[test]
    fn final_failures_end_their_next_steps_and_the_table_with_the_command_that_explains_each_code()
    {
        let r = report(vec![
            Outcome::failed(service("a"), Code::RolloutStalled, "no progress", false),
            Outcome::failed(service("b"), Code::RolloutStalled, "no progress", false),
            Outcome::failed(service("c"), Code::NoRoomToReplace, "100/100", false),
            Outcome::failed(service("d"), Code::Throttled, "busy", true),
        ]);
        let steps = next_steps(&r).join("\n");
        assert!(
            steps.contains(
                "`remediator explain rollout_stalled`, `remediator explain no_room_to_replace`"
            ),
            "{steps}"
        );
        assert!(!steps.contains("explain throttled"), "retryable: {steps}");
        let table = r.render_table();
        assert_eq!(
            table.matches("what to do: remediator explain").count(),
            2,
            "{table}"
        );
    }

    #[test]
    fn the_table_wraps_long_reasons_under_their_column_and_shortens_ids_the_json_keeps_whole() {
        let long = "word ".repeat(40);
        let r = report(vec![Outcome::new(
            service("web"),
            Status::Acted,
            Code::ForcedNewDeployment,
            long.trim(),
        )
        .with_deployments(
            Some("ecs-svc/578176275046590921".into()),
            Some("ecs-svc/945977935385204913".into()),
        )]);
        let table = r.render_table();
        let rows: Vec<&str> = table.lines().filter(|l| l.contains("word")).collect();
        assert!(rows.len() >= 3, "{table}");
        assert!(rows[0].contains("57817627… -> 94597793…"), "{table}");
        // Columns in characters: the shortened ids end in a three-byte `…`.
        let column = |l: &str| l.find("word").map(|at| l[..at].chars().count());
        let reason_at = column(rows[0]);
        assert!(
            rows[1..].iter().all(|l| column(l) == reason_at
                && l.chars().count() <= reason_at.unwrap_or_default() + 72),
            "{table}"
        );
        let json = serde_json::to_string(&r).unwrap_or_default();
        assert!(json.contains("ecs-svc/578176275046590921"), "{json}");
    }

    #[test]
    fn a_check_that_only_sees_the_replacement_under_way_sends_nothing_and_the_last_check_sends_the_final_summary(
    ) {
        let pending = Outcome::new(service("web"), Status::Pending, Code::Verifying, "rolling");
        let follow_up = crate::follow::FollowUp {
            check: 2,
            at: chrono::Utc::now(),
            schedule: "check-x-2".into(),
            why: "1 being replaced".into(),
        };
        let mut quiet = report(vec![pending]).with_check(Some(1));
        quiet.follow_up = Some(follow_up.clone());
        let verified = Outcome::new(service("web"), Status::AlreadyDone, Code::Verified, "done");
        let last = report(vec![verified]).with_check(Some(2));
        let delivery = report(vec![Outcome::new(
            service("web"),
            Status::Acted,
            Code::ForcedNewDeployment,
            "forced",
        )]);

        assert!(!worth_sending(&quiet));
        assert!(worth_sending(&last));
        assert!(worth_sending(&delivery));
        assert_eq!(
            title(&last),
            "✅ Fargate retirement (final): 1 verified replaced"
        );
        let mut followed = delivery.clone();
        followed.follow_up = Some(follow_up);
        assert!(
            next_steps(&followed)
                .iter()
                .any(|s| s.starts_with("Follow-up check 2 at")),
            "{:?}",
            next_steps(&followed)
        );
    }

    #[test]
    fn a_paused_deployment_gets_its_whole_continue_command_in_the_next_steps_which_chat_does_not_cut(
    ) {
        let arn =
            "arn:aws:ecs:us-east-1:123456789012:service-deployment/prod/web/Ab12Cd34Ef56Gh78Ij90K";
        let reason = format!(
            "service deployment {arn} is paused at lifecycle hook ecs-pause-1 (PAUSE, stage POST_SCALE_UP), waiting for a person until 2026-11-26T07:01:00+00:00. \
             Continue: aws ecs continue-service-deployment --service-deployment-arn {arn} --hook-id ecs-pause-1 --action CONTINUE; roll back: the same with --action ROLLBACK"
        );
        let awaiting = Outcome::new(
            service("web"),
            Status::Pending,
            Code::AwaitingApproval,
            reason,
        );

        let message = chatbot(&report(vec![awaiting]));

        let steps = message["content"]["nextSteps"].to_string();
        assert!(
            steps.contains(&format!(
                "--service-deployment-arn {arn} --hook-id ecs-pause-1 --action CONTINUE"
            )),
            "{steps}"
        );
    }

    #[test]
    fn the_chatbot_message_has_the_custom_notification_shape() {
        let r = report(vec![
            Outcome::new(
                service("web"),
                Status::Acted,
                Code::ForcedNewDeployment,
                "forced",
            ),
            Outcome::failed(service("api"), Code::Throttled, "throttled", true),
        ]);
        let m = chatbot(&r);
        assert_eq!(m["version"], "1.0");
        assert_eq!(m["source"], "custom");
        assert_eq!(m["content"]["textType"], "client-markdown");
        let title = m["content"]["title"].as_str().unwrap_or_default();
        assert!(title.contains("1 remediated, 1 failed"), "{title}");
        let description = m["content"]["description"].as_str().unwrap_or_default();
        assert!(
            description.contains("`service prod/web` *acted* `forced_new_deployment`"),
            "{description}"
        );
        assert!(
            description.contains("`service prod/api` *failed* `throttled`"),
            "{description}"
        );
        assert!(m["content"]["nextSteps"]
            .as_array()
            .is_some_and(|s| !s.is_empty()));
        assert_eq!(
            m["content"]["keywords"],
            json!(["fargate-retirement", "failed", "acted"])
        );
        assert_eq!(m["id"], "6f1c2a3e-1b5d-4c8e-9a01-000000000001");
        fn no_nulls(v: &Value) -> bool {
            match v {
                Value::Null => false,
                Value::Array(a) => a.iter().all(no_nulls),
                Value::Object(o) => o.values().all(no_nulls),
                _ => true,
            }
        }
        let mut anonymous = r.clone();
        anonymous.event_id = None;
        anonymous.event_arn = None;
        assert!(no_nulls(&chatbot(&anonymous)), "{}", chatbot(&anonymous));
    }

    #[test]
    fn long_lists_are_cut_in_chat_but_complete_in_plain_text() {
        let outcomes = (0..40)
            .map(|i| {
                Outcome::new(
                    service(&format!("s{i}")),
                    Status::Acted,
                    Code::ForcedNewDeployment,
                    "forced",
                )
            })
            .collect();
        let r = report(outcomes);
        let description = markdown(&r);
        assert!(description.contains("…and 15 more"), "{description}");
        assert!(!description.contains("prod/s39"));
        assert!(plain_text(&r).contains("service prod/s39: acted (forced_new_deployment)"));
    }

    #[test]
    fn a_notice_naming_thousands_of_resources_still_fits_one_sns_message() {
        let outcomes = (0..20_000)
            .map(|i| {
                Outcome::new(
                    service(&format!("service-with-a-long-name-{i}")),
                    Status::Acted,
                    Code::ForcedNewDeployment,
                    "new deployment forced: ECS replaces the tasks under the service's deployment settings",
                )
            })
            .collect();
        let r = report(outcomes);
        let text = plain_text(&r);
        let message = json!({ "default": chatbot(&r).to_string(), "email": text });
        assert!(
            message.to_string().len() < 256 * 1024,
            "{} bytes",
            message.to_string().len()
        );
        assert!(text.contains("more: see the function's log"));
        assert!(text.contains("20000 affected resource(s)"));
    }

    #[test]
    fn the_subject_is_ascii_and_fits_sns() {
        let r = report(vec![Outcome::failed(
            service("api"),
            Code::ApiError,
            "x",
            false,
        )]);
        let s = subject(&r);
        assert!(
            s.is_ascii() && s.len() <= 100 && s.starts_with("Fargate retirement: 1 failed"),
            "{s}"
        );
    }
}
