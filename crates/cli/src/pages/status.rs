//! The status page: each notice with AWS's window drawn as a timeline, a marker where each
//! resource was acted on and where it was verified, and the table of its resources.

use chrono::{DateTime, Utc};
use remediator_core::ledger::{Entry, NoticeSummary};
use remediator_core::notice::RETIREMENT_GRACE;
use serde::Serialize;

use super::timeline::Span;
use super::{maybe_moment, moment, render, Error};

#[derive(Serialize)]
struct View {
    title: &'static str,
    generated: String,
    notices: Vec<Notice>,
}

#[derive(Serialize)]
struct Notice {
    notice: String,
    account: String,
    region: String,
    kind: String,
    status: String,
    first_seen: String,
    last_updated: String,
    deadline: String,
    next_check: String,
    final_summary_at: String,
    counts: Vec<(String, usize)>,
    timeline: Option<Timeline>,
    resources: Vec<Row>,
}

/// Positions in percent of the timeline's width.
#[derive(Serialize)]
struct Timeline {
    from: String,
    to: String,
    /// AWS's window: from the deadline (AWS's start) to two days later.
    window: Option<Bar>,
    /// Now, when it falls inside the drawn span.
    now: Option<f64>,
    markers: Vec<Marker>,
}

#[derive(Serialize)]
struct Bar {
    left: f64,
    width: f64,
    start: String,
    end: String,
}

#[derive(Serialize)]
struct Marker {
    left: f64,
    /// `acted` or `verified`.
    event: &'static str,
    state: &'static str,
    label: String,
}

#[derive(Serialize)]
struct Row {
    target: String,
    state: &'static str,
    action: &'static str,
    code: &'static str,
    ids: String,
    acted: String,
    verified: String,
    attempts: u32,
    checks: u32,
    updated: String,
    reason: String,
}

/// The notices as one self-contained HTML page, dated `now`.
pub fn status_page(notices: &[NoticeSummary], now: DateTime<Utc>) -> Result<String, Error> {
    let view = View {
        title: "Retirement status",
        generated: moment(now),
        notices: notices.iter().map(|n| notice(n, now)).collect(),
    };
    render("status", "status.html", view)
}

fn notice(n: &NoticeSummary, now: DateTime<Utc>) -> Notice {
    let dash = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".to_owned());
    Notice {
        notice: n.notice.clone(),
        account: dash(&n.account),
        region: dash(&n.region),
        kind: n.kind.clone(),
        status: dash(&n.notice_status),
        first_seen: moment(n.first_seen),
        last_updated: moment(n.last_updated),
        deadline: maybe_moment(n.deadline),
        next_check: maybe_moment(n.next_check),
        final_summary_at: maybe_moment(n.final_summary_at),
        counts: n.counts.iter().map(|(s, c)| (s.clone(), *c)).collect(),
        timeline: timeline(n, now),
        resources: n.resources.iter().map(row).collect(),
    }
}

/// AWS's window and the resources' moments on one span; `None` with nothing to draw.
fn timeline(n: &NoticeSummary, now: DateTime<Utc>) -> Option<Timeline> {
    let window = n.deadline.map(|start| (start, start + RETIREMENT_GRACE));
    let moments = window
        .into_iter()
        .flat_map(|(start, end)| [start, end])
        .chain(
            n.resources
                .iter()
                .flat_map(|e| [e.acted_at, e.verified_at])
                .flatten(),
        )
        .chain([n.first_seen]);
    let span = Span::around(moments)?;
    Some(Timeline {
        from: moment(span.from),
        to: moment(span.to),
        window: window.map(|(start, end)| Bar {
            left: span.at(start),
            width: round(span.at(end) - span.at(start)),
            start: moment(start),
            end: moment(end),
        }),
        now: (span.from..=span.to).contains(&now).then(|| span.at(now)),
        markers: n.resources.iter().flat_map(|e| markers(e, &span)).collect(),
    })
}

/// A resource's markers: where it was acted on, where it was verified.
fn markers(e: &Entry, span: &Span) -> Vec<Marker> {
    let marker = |event, t: DateTime<Utc>| Marker {
        left: span.at(t),
        event,
        state: e.state.as_str(),
        label: format!("{} {event} {}", e.target, moment(t)),
    };
    [("acted", e.acted_at), ("verified", e.verified_at)]
        .into_iter()
        .filter_map(|(event, t)| t.map(|t| marker(event, t)))
        .collect()
}

fn row(e: &Entry) -> Row {
    let ids = match (&e.before, &e.after) {
        (None, None) => "-".to_owned(),
        (b, a) => format!(
            "{} → {}",
            b.as_deref().unwrap_or("?"),
            a.as_deref().unwrap_or("?")
        ),
    };
    Row {
        target: e.target.clone(),
        state: e.state.as_str(),
        action: e.action.map_or("-", |a| a.as_str()),
        code: e.code.map_or("-", |c| c.as_str()),
        ids,
        acted: maybe_moment(e.acted_at),
        verified: maybe_moment(e.verified_at),
        attempts: e.attempts,
        checks: e.checks,
        updated: moment(e.updated_at),
        reason: e.reason.clone(),
    }
}

/// A difference of two rounded percentages, rounded again (float noise).
fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
