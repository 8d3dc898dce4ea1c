//! The preflight page: the summary, the findings by account and Region, and what the remediator
//! would do for each resource.

use chrono::{DateTime, Utc};
use remediator_core::preflight::{Finding, Preflight, Resource};
use serde::Serialize;

use super::{moment, render, Error};

#[derive(Serialize)]
struct View<'a> {
    title: &'static str,
    generated: String,
    summary: Counts,
    groups: Vec<Group<'a>>,
    resources: Vec<Row<'a>>,
}

/// The summary's numbers, severities spelled out so the template needs no lookup.
#[derive(Serialize)]
struct Counts {
    scopes: usize,
    resources: usize,
    findings: usize,
    high: usize,
    medium: usize,
    low: usize,
}

/// The findings of one account and Region, in the preflight's order.
#[derive(Serialize)]
struct Group<'a> {
    account: &'a str,
    region: &'a str,
    findings: Vec<&'a Finding>,
}

#[derive(Serialize)]
struct Row<'a> {
    account: &'a str,
    region: &'a str,
    resource: &'a str,
    code: &'static str,
    action: &'static str,
    reason: &'a str,
}

/// The preflight `p` as one self-contained HTML page, dated `now`.
pub fn preflight_page(p: &Preflight, now: DateTime<Utc>) -> Result<String, Error> {
    let by = |s: &str| p.summary.by_severity.get(s).copied().unwrap_or_default();
    let view = View {
        title: "Retirement preflight",
        generated: moment(now),
        summary: Counts {
            scopes: p.summary.scopes,
            resources: p.summary.resources,
            findings: p.summary.findings,
            high: by("high"),
            medium: by("medium"),
            low: by("low"),
        },
        groups: groups(&p.findings),
        resources: p.resources.iter().map(row).collect(),
    };
    render("preflight", "preflight.html", view)
}

/// Consecutive findings of the same account and Region ([`Preflight::new`] sorts them so).
fn groups(findings: &[Finding]) -> Vec<Group<'_>> {
    let mut groups: Vec<Group<'_>> = Vec::new();
    for f in findings {
        match groups.last_mut() {
            Some(g) if g.account == f.account && g.region == f.region => g.findings.push(f),
            _ => groups.push(Group {
                account: &f.account,
                region: &f.region,
                findings: vec![f],
            }),
        }
    }
    groups
}

fn row(r: &Resource) -> Row<'_> {
    Row {
        account: &r.account,
        region: &r.region,
        resource: &r.resource,
        code: r.code.as_str(),
        action: r.action.map_or("-", |a| a.as_str()),
        reason: &r.reason,
    }
}
