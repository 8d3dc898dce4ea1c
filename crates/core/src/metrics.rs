//! CloudWatch Embedded Metric Format: metrics as log lines, no API calls.
//!
//! Per handled event:
//! - `Outcomes` (Count) by `Function`, `Action`, `Result` (and rolled up by `Function`, `Result`):
//!   one document per action/result pair;
//! - `TimeToRemediate` (Seconds, notice published → acted) and `HeadroomBeforeRetirement`
//!   (Seconds, acted → AWS's deadline) by `Function`, `Action`, for acted resources;
//! - `Events` (Count) by `Function`, `Disposition` for every event, handled or not.
//!
//! Format reference: the EMF specification (`_aws.Timestamp`, `_aws.CloudWatchMetrics[]` with
//! `Namespace`, `Dimensions`, `Metrics`; each dimension a string member of the root, each metric
//! a number or an array of at most 100 numbers).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::names::Action;
use crate::outcome::{Disposition, Outcome, Report, Status};

/// Default `METRICS_NAMESPACE`.
pub const DEFAULT_NAMESPACE: &str = "RetirementRemediator";

/// The EMF spec allows at most 100 values per metric in one document.
const MAX_VALUES: usize = 100;

/// The EMF documents for one report, one JSON object per log line.
pub fn documents(
    report: &Report,
    namespace: &str,
    function: &str,
    now: DateTime<Utc>,
) -> Vec<Value> {
    let emf = Emf {
        timestamp: now.timestamp_millis(),
        namespace,
        function,
    };
    let mut docs = vec![events_document(&emf, report)];
    let (counts, acted) = tally(report, now);
    docs.extend(outcome_documents(&emf, report, counts));
    docs.extend(unverified_document(&emf, report));
    docs.extend(timing_documents(&emf, acted));
    docs
}

/// What every document of one report shares.
struct Emf<'a> {
    timestamp: i64,
    namespace: &'a str,
    function: &'a str,
}

/// (action, result) → (count, count per outcome code)
type Tally<'r> = BTreeMap<(&'r str, &'r str), (u64, BTreeMap<&'r str, u64>)>;
/// action → (seconds from notice to action, seconds from action to AWS's deadline)
type Acted<'r> = BTreeMap<&'r str, (Vec<i64>, Vec<i64>)>;

fn events_document(emf: &Emf, report: &Report) -> Value {
    let disposition = match report.disposition {
        Disposition::Handled => "handled",
        Disposition::Ignored => "ignored",
        Disposition::Rejected => "rejected",
    };
    document(
        emf.timestamp,
        emf.namespace,
        &[&["Function", "Disposition"]],
        &[("Events", "Count")],
        [
            ("Function", json!(emf.function)),
            ("Disposition", json!(disposition)),
            ("Events", json!(1)),
        ],
    )
}

fn tally(report: &Report, now: DateTime<Utc>) -> (Tally<'_>, Acted<'_>) {
    let mut counts = Tally::new();
    let mut acted = Acted::new();
    for o in &report.outcomes {
        let action = o.action.map_or("none", Action::as_str);
        let entry = counts.entry((action, result(o))).or_default();
        entry.0 += 1;
        *entry.1.entry(o.code.as_str()).or_default() += 1;
        if o.status == Status::Acted {
            let (ttr, headroom) = acted.entry(action).or_default();
            if let Some(published) = report.published_at {
                ttr.push((now - published).num_seconds().max(0));
            }
            if let Some(deadline) = report.deadline {
                headroom.push((deadline - now).num_seconds());
            }
        }
    }
    (counts, acted)
}

fn outcome_documents<'a>(
    emf: &'a Emf,
    report: &'a Report,
    counts: Tally<'a>,
) -> impl Iterator<Item = Value> + 'a {
    counts
        .into_iter()
        .map(move |((action, result), (n, codes))| {
            let mut doc = document(
                emf.timestamp,
                emf.namespace,
                &[&["Function", "Action", "Result"], &["Function", "Result"]],
                &[("Outcomes", "Count")],
                [
                    ("Function", json!(emf.function)),
                    ("Action", json!(action)),
                    ("Result", json!(result)),
                    ("Outcomes", json!(n)),
                ],
            );
            // Properties (not metrics) make the line searchable in Logs Insights.
            doc["Codes"] = json!(codes);
            doc["EventArn"] = json!(report.event_arn);
            doc
        })
}

/// Resources not verified replaced by AWS's deadline: their own metric, for their own alarm.
fn unverified_document(emf: &Emf, report: &Report) -> Option<Value> {
    let unverified = report
        .outcomes
        .iter()
        .filter(|o| o.code == crate::names::Code::UnverifiedByDeadline)
        .count();
    if unverified == 0 {
        return None;
    }
    let mut doc = document(
        emf.timestamp,
        emf.namespace,
        &[&["Function"]],
        &[("Unverified", "Count")],
        [
            ("Function", json!(emf.function)),
            ("Unverified", json!(unverified)),
        ],
    );
    doc["EventArn"] = json!(report.event_arn);
    Some(doc)
}

/// `TimeToRemediate` and `HeadroomBeforeRetirement` per action, at most `MAX_VALUES` values of
/// each per document.
fn timing_documents(emf: &Emf, acted: Acted) -> Vec<Value> {
    let mut docs = Vec::new();
    for (action, (ttr, headroom)) in acted {
        let chunks = ttr.len().max(headroom.len()).div_ceil(MAX_VALUES);
        for i in 0..chunks {
            let slice = |v: &Vec<i64>| -> Vec<i64> {
                v.iter()
                    .skip(i * MAX_VALUES)
                    .take(MAX_VALUES)
                    .copied()
                    .collect()
            };
            let (t, h) = (slice(&ttr), slice(&headroom));
            let mut metrics = Vec::new();
            let mut members = vec![("Function", json!(emf.function)), ("Action", json!(action))];
            if !t.is_empty() {
                metrics.push(("TimeToRemediate", "Seconds"));
                members.push(("TimeToRemediate", json!(t)));
            }
            if !h.is_empty() {
                metrics.push(("HeadroomBeforeRetirement", "Seconds"));
                members.push(("HeadroomBeforeRetirement", json!(h)));
            }
            if !metrics.is_empty() {
                docs.push(document(
                    emf.timestamp,
                    emf.namespace,
                    &[&["Function", "Action"]],
                    &metrics,
                    members,
                ));
            }
        }
    }
    docs
}

pub(crate) fn document<'a>(
    timestamp: i64,
    namespace: &str,
    dimensions: &[&[&str]],
    metrics: &[(&str, &str)],
    members: impl IntoIterator<Item = (&'a str, Value)>,
) -> Value {
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": dimensions,
                "Metrics": metrics.iter().map(|(name, unit)| json!({"Name": name, "Unit": unit})).collect::<Vec<_>>(),
            }],
        }),
    );
    for (k, v) in members {
        root.insert(k.into(), v);
    }
    Value::Object(root)
}

/// Writes the documents to stdout, one per line, where Lambda's log capture finds them.
pub fn emit(docs: &[Value]) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    for d in docs {
        let _ = writeln!(out, "{d}");
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;

/// The `Result` dimension of an outcome: its status, except that a failure a later attempt or
/// check can still fix is `retrying` (waiting is normal, not an alarm), and an answer from the
/// ledger's memory is `remembered` (counted when it was news, not again on every delivery).
pub fn result(o: &Outcome) -> &'static str {
    if o.remembered {
        "remembered"
    } else if o.status == Status::Failed && o.retryable {
        "retrying"
    } else {
        o.status.as_str()
    }
}
