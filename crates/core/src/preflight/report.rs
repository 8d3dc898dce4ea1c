//! The scheduled preflight's summary for people (one SNS message: the Chatbot custom
//! notification with the top findings, e-mail text with all) and its EMF metrics (`Findings` by
//! `Function`, `Risk`, and by `Function`, `Severity`).

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{Preflight, Severity};

/// How many findings chat shows; e-mail lists every one.
pub const TOP_FINDINGS: usize = 5;

/// The message's subject (SNS allows 100 characters).
pub fn subject(p: &Preflight) -> String {
    let high = count(p, Severity::High);
    let s = if p.findings.is_empty() {
        format!(
            "Retirement preflight: nothing at risk in {} scope(s)",
            p.summary.scopes
        )
    } else {
        format!(
            "Retirement preflight: {} finding(s), {high} high, in {} scope(s)",
            p.findings.len(),
            p.summary.scopes
        )
    };
    s.chars().take(100).collect()
}

fn count(p: &Preflight, severity: Severity) -> usize {
    p.findings.iter().filter(|f| f.severity == severity).count()
}

/// The e-mail text's size at most: SNS takes 256 KB a message, and the message carries the
/// Chatbot JSON beside it.
pub const EMAIL_BUDGET: usize = 200 * 1024;

/// The Chatbot custom notification: the top findings and how to see the rest.
pub fn chatbot(p: &Preflight) -> Value {
    let mut description = String::new();
    for f in p.findings.iter().take(TOP_FINDINGS) {
        let _ = writeln!(
            description,
            "*{}* `{}` {} ({}/{}): {}",
            f.severity.as_str(),
            f.risk.as_str(),
            f.resource,
            f.account,
            f.region,
            f.fix
        );
    }
    if p.findings.len() > TOP_FINDINGS {
        let _ = writeln!(
            description,
            "…and {} more in the e-mail and `remediator preflight`.",
            p.findings.len() - TOP_FINDINGS
        );
    }
    if p.findings.is_empty() {
        description
            .push_str("No finding: every resource read can be replaced before AWS retires it.");
    }
    json!({
        "version": "1.0",
        "source": "custom",
        "content": {
            "textType": "client-markdown",
            "title": subject(p),
            "description": description,
            "nextSteps": ["remediator preflight --html preflight.html (every finding, by account and Region)"],
            "keywords": ["fargate-retirement", "preflight"],
        },
        "metadata": {
            "summary": subject(p),
            "eventType": "FargateRetirementPreflight",
            "additionalContext": {
                "findings": p.findings.len().to_string(),
                "high": count(p, Severity::High).to_string(),
                "resources": p.summary.resources.to_string(),
            },
        },
    })
}

/// Every finding, as plain text.
pub fn plain_text(p: &Preflight) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}\n", subject(p));
    for (shown, f) in p.findings.iter().enumerate() {
        let entry = format!(
            "[{}] {} {} ({}/{})\n  why: {}\n  fix: {}\n\n",
            f.severity.as_str(),
            f.risk.as_str(),
            f.resource,
            f.account,
            f.region,
            f.why,
            f.fix
        );
        if out.len() + entry.len() > EMAIL_BUDGET {
            let _ = writeln!(
                out,
                "…and {} more (SNS takes 256 KB a message): run `remediator preflight` for all of them.\n",
                p.findings.len() - shown
            );
            break;
        }
        out.push_str(&entry);
    }
    let _ = writeln!(out, "{} resource(s) read; run `remediator preflight` for what the remediator would do with each.", p.summary.resources);
    out
}

/// EMF documents: `Findings` (Count) per risk and per severity, zero for none, so an alarm on a
/// risk sees the weeks it is gone.
pub fn metrics(p: &Preflight, namespace: &str, function: &str, now: DateTime<Utc>) -> Vec<Value> {
    use strum::IntoEnumIterator as _;
    let timestamp = now.timestamp_millis();
    let per_risk = crate::names::Risk::iter().map(|risk| {
        let n = p.findings.iter().filter(|f| f.risk == risk).count();
        crate::metrics::document(
            timestamp,
            namespace,
            &[&["Function", "Risk"]],
            &[("Findings", "Count")],
            [
                ("Function", json!(function)),
                ("Risk", json!(risk.as_str())),
                ("Findings", json!(n)),
            ],
        )
    });
    let per_severity = [Severity::High, Severity::Medium, Severity::Low].map(|severity| {
        crate::metrics::document(
            timestamp,
            namespace,
            &[&["Function", "Severity"]],
            &[("Findings", "Count")],
            [
                ("Function", json!(function)),
                ("Severity", json!(severity.as_str())),
                ("Findings", json!(count(p, severity))),
            ],
        )
    });
    per_risk.chain(per_severity).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::Risk;
    use crate::preflight::Finding;

    fn preflight(n: usize) -> Preflight {
        let findings = (0..n)
            .map(|i| {
                Finding::new(
                    "111122223333",
                    "us-east-1",
                    format!("service prod/s{i}"),
                    Risk::OutageAtRetirement,
                    "why",
                    format!("fix {i}"),
                )
            })
            .collect();
        Preflight::new(findings, Vec::new(), 1)
    }

    #[test]
    fn chat_shows_the_top_findings_and_counts_the_rest_while_email_lists_all() {
        let p = preflight(8);
        let chat = chatbot(&p);
        let description = chat["content"]["description"].as_str().unwrap_or_default();
        assert_eq!(
            description.matches("outage_at_retirement").count(),
            TOP_FINDINGS
        );
        assert!(description.contains("…and 3 more"), "{description}");
        assert_eq!(plain_text(&p).matches("outage_at_retirement").count(), 8);
        assert!(
            subject(&p).contains("8 finding(s), 8 high"),
            "{}",
            subject(&p)
        );
    }

    #[test]
    fn an_email_of_thousands_of_findings_stays_under_the_sns_limit_and_says_how_many_it_left_out() {
        let p = preflight(5_000);
        let text = plain_text(&p);
        let shown = text.matches("outage_at_retirement").count();
        assert!(text.len() <= EMAIL_BUDGET + 200, "{} bytes", text.len());
        assert!(shown > 100 && shown < 5_000, "{shown} shown");
        assert!(
            text.contains(&format!("…and {} more", 5_000 - shown)),
            "{:?}",
            text.lines().rev().take(3).collect::<Vec<_>>()
        );
    }

    #[test]
    fn metrics_count_every_risk_including_those_with_no_finding() {
        use strum::IntoEnumIterator as _;
        let docs = metrics(&preflight(2), "NS", "ecs-retirement", Utc::now());
        assert_eq!(docs.len(), Risk::iter().count() + 3);
        let outage = docs.iter().find(|d| d["Risk"] == "outage_at_retirement");
        assert_eq!(outage.map(|d| d["Findings"].clone()), Some(json!(2)));
        let bare = docs.iter().find(|d| d["Risk"] == "bare_pod");
        assert_eq!(bare.map(|d| d["Findings"].clone()), Some(json!(0)));
        assert_eq!(docs[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"], "NS");
    }
}
