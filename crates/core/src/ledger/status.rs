//! `remediator status`: the ledger's entries as notices, each with its resources, for people.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Entry;
use crate::names::{Action, Code};

/// One notice as `remediator status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeSummary {
    pub notice: String,
    /// The affected account, when the notice is keyed by it (organization view, central mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The Region the notice is about (the Health event ARN's, the EKS key's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// `ecs_retirement` or `eks_pod`.
    pub kind: String,
    pub first_seen: DateTime<Utc>,
    pub last_updated: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_status: Option<String>,
    /// Resources per state.
    pub counts: std::collections::BTreeMap<String, usize>,
    /// Every resource (for one notice), else empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Entry>,
    /// When the next follow-up check of the notice is scheduled (read from its schedule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_check: Option<DateTime<Utc>>,
    /// When the notice's final summary was sent (its marker's claim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_summary_at: Option<DateTime<Utc>>,
}

/// The notices in `entries`, newest first; with `detail`, each carries its resources.
pub fn summarize(entries: Vec<Entry>, detail: bool) -> Vec<NoticeSummary> {
    let mut by_notice: std::collections::BTreeMap<String, Vec<Entry>> = Default::default();
    for e in entries {
        by_notice.entry(e.notice.clone()).or_default().push(e);
    }
    let mut notices: Vec<NoticeSummary> = by_notice
        .into_iter()
        .filter_map(|(notice, resources)| {
            let (markers, mut resources): (Vec<Entry>, Vec<Entry>) =
                resources.into_iter().partition(Entry::is_marker);
            resources.sort_by(|a, b| a.resource.cmp(&b.resource));
            let first_seen = resources.iter().map(|e| e.first_seen).min()?;
            let last_updated = resources.iter().map(|e| e.updated_at).max()?;
            let latest = resources.iter().max_by_key(|e| e.updated_at)?;
            let mut counts = std::collections::BTreeMap::new();
            for e in &resources {
                *counts.entry(e.state.as_str().to_owned()).or_default() += 1;
            }
            Some(NoticeSummary {
                kind: if notice.starts_with("eks:") {
                    "eks_pod".to_owned()
                } else {
                    "ecs_retirement".to_owned()
                },
                first_seen,
                last_updated,
                deadline: resources.iter().filter_map(|e| e.deadline).min(),
                notice_status: latest.notice_status.clone(),
                counts,
                resources: if detail { resources } else { Vec::new() },
                account: notice.rsplit_once('#').map(|(_, a)| a.to_owned()),
                region: region_of(&notice),
                notice,
                next_check: None,
                final_summary_at: markers.first().map(|m| m.updated_at),
            })
        })
        .collect();
    // Grouped by account and Region (notices without one first), newest first within each.
    notices.sort_by(|a, b| {
        (&a.account, &a.region)
            .cmp(&(&b.account, &b.region))
            .then(b.last_updated.cmp(&a.last_updated))
    });
    notices
}

/// The Region in a notice key: a Health event ARN's (`arn:aws:health:REGION::event/…`), an EKS
/// key's (`eks:REGION:cluster/…`).
fn region_of(key: &str) -> Option<String> {
    let region = if key.starts_with("arn:") {
        key.split(':').nth(3)?
    } else {
        let (region, _) = key.strip_prefix("eks:")?.split_once(':')?;
        region
    };
    (!region.is_empty() && !region.contains('/')).then(|| region.to_owned())
}

/// A human table of the notices (and, when they carry them, their resources).
pub fn render(notices: &[NoticeSummary]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if notices.is_empty() {
        out.push_str("the ledger holds no notice\n");
        return out;
    }
    let mut group = None;
    for n in notices {
        if group != Some((&n.account, &n.region)) {
            match (&n.account, &n.region) {
                (Some(a), Some(r)) => {
                    let _ = writeln!(out, "account {a}, {r}:");
                }
                (Some(a), None) => {
                    let _ = writeln!(out, "account {a}:");
                }
                (None, Some(r)) => {
                    let _ = writeln!(out, "{r}:");
                }
                (None, None) => {}
            }
            group = Some((&n.account, &n.region));
        }
        let counts: Vec<String> = n.counts.iter().map(|(s, c)| format!("{c} {s}")).collect();
        let _ = writeln!(
            out,
            "{} ({}{}): first seen {}, deadline {}{}: {}",
            n.notice,
            n.kind,
            n.notice_status
                .as_deref()
                .map(|s| format!(", {s}"))
                .unwrap_or_default(),
            n.first_seen.to_rfc3339(),
            n.deadline
                .map_or_else(|| "-".to_owned(), |d| d.to_rfc3339()),
            n.next_check
                .map(|t| format!(", next check {}", t.to_rfc3339()))
                .unwrap_or_default(),
            counts.join(", ")
        );
        for e in &n.resources {
            let ids = match (&e.before, &e.after) {
                (None, None) => "-".to_owned(),
                (b, a) => format!(
                    "{} -> {}",
                    b.as_deref().unwrap_or("?"),
                    a.as_deref().unwrap_or("?")
                ),
            };
            let _ = writeln!(
                out,
                "  {:<44} {:<10} {:<22} {:<30} {} (attempt {}, {} check(s){}, updated {}) {}",
                e.target,
                e.state.as_str(),
                e.action.map_or("-", Action::as_str),
                e.code.map_or("-", Code::as_str),
                ids,
                e.attempts,
                e.checks,
                e.verified_at
                    .map(|t| format!(", verified {}", t.to_rfc3339()))
                    .unwrap_or_default(),
                e.updated_at.to_rfc3339(),
                e.reason
            );
        }
    }
    out
}

#[cfg(test)]
mod summary_tests {
    use super::*;
    use crate::ledger::State;

    fn entry(notice: &str, resource: &str) -> Entry {
        let t = crate::testing::at("2026-11-25T10:00:00Z");
        Entry {
            notice: notice.into(),
            resource: resource.into(),
            target: resource.into(),
            state: State::Acted,
            action: None,
            code: None,
            before: None,
            after: None,
            after_created_at: None,
            service: None,
            awaiting: None,
            reason: String::new(),
            attempts: 1,
            first_seen: t,
            updated_at: t,
            acted_at: Some(t),
            notice_status: None,
            deadline: None,
            lease_until: None,
            owner: None,
            expires_at: t,
            checks: 0,
            verified_at: None,
        }
    }

    #[test]
    fn status_groups_the_notices_by_the_account_and_region_they_are_about() {
        let b = "arn:aws:health:eu-west-1::event/ECS/X/X_b#222222222222";
        let a_east = "arn:aws:health:us-east-1::event/ECS/X/X_a#111111111111";
        let a_west = "arn:aws:health:eu-west-1::event/ECS/X/X_a#111111111111";
        let pod = "eks:us-west-2:main/default/web-0@2026-12-01T00:00:00+00:00#111111111111";
        let notices = summarize(
            vec![
                entry(b, "service:prod/web"),
                entry("arn:own", "service:prod/api"),
                entry(a_east, "service:prod/web"),
                entry(pod, "pod:main/default/web-0"),
                entry(a_west, "service:prod/web"),
            ],
            false,
        );

        let groups: Vec<(Option<&str>, Option<&str>)> = notices
            .iter()
            .map(|n| (n.account.as_deref(), n.region.as_deref()))
            .collect();
        assert_eq!(
            groups,
            vec![
                (None, None),
                (Some("111111111111"), Some("eu-west-1")),
                (Some("111111111111"), Some("us-east-1")),
                (Some("111111111111"), Some("us-west-2")),
                (Some("222222222222"), Some("eu-west-1")),
            ]
        );
        let text = render(&notices);
        assert!(
            text.contains(&format!("account 111111111111, us-east-1:\n{a_east}")),
            "{text}"
        );
        assert!(
            text.contains(&format!("account 111111111111, us-west-2:\n{pod}")),
            "{text}"
        );
    }
}
