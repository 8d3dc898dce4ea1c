use super::*;
use crate::names::{Action, Code};
use crate::notice::{parse_slice, Parsed};
use crate::outcome::Outcome;
use crate::target::Target;
use crate::testing::at;

/// Checks one document against the EMF specification's rules, returning what is wrong.
fn emf_violations(doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(root) = doc.as_object() else {
        return vec!["root is not an object".into()];
    };
    let Some(aws) = root.get("_aws").and_then(Value::as_object) else {
        return vec!["no _aws object".into()];
    };
    if !aws
        .get("Timestamp")
        .is_some_and(|t| t.is_i64() || t.is_u64())
    {
        problems.push("_aws.Timestamp is not an integer".into());
    }
    let Some(directives) = aws.get("CloudWatchMetrics").and_then(Value::as_array) else {
        return vec!["_aws.CloudWatchMetrics is not an array".into()];
    };
    if directives.is_empty() {
        problems.push("no metric directive".into());
    }
    for d in directives {
        if !d["Namespace"]
            .as_str()
            .is_some_and(|n| !n.is_empty() && n.len() <= 255)
        {
            problems.push("Namespace missing or not 1-255 characters".into());
        }
        match d["Dimensions"].as_array() {
            None => problems.push("Dimensions is not an array".into()),
            Some(sets) => {
                for set in sets {
                    let Some(keys) = set.as_array() else {
                        problems.push("a dimension set is not an array".into());
                        continue;
                    };
                    if keys.len() > 30 {
                        problems.push("more than 30 dimensions in a set".into());
                    }
                    for k in keys {
                        match k.as_str() {
                            Some(k) if root.get(k).is_some_and(Value::is_string) => {}
                            _ => problems
                                .push(format!("dimension {k} is not a string member of the root")),
                        }
                    }
                }
            }
        }
        match d["Metrics"].as_array() {
            None => problems.push("Metrics is not an array".into()),
            Some(metrics) if metrics.is_empty() || metrics.len() > 100 => {
                problems.push("Metrics must hold 1-100 definitions".into())
            }
            Some(metrics) => {
                for m in metrics {
                    let Some(name) = m["Name"].as_str() else {
                        problems.push("a metric has no Name".into());
                        continue;
                    };
                    let units = ["Seconds", "Milliseconds", "Count", "Percent", "None"];
                    if !m["Unit"].as_str().is_some_and(|u| units.contains(&u)) {
                        problems.push(format!("metric {name} has no known Unit"));
                    }
                    let ok = match root.get(name) {
                        Some(Value::Number(_)) => true,
                        Some(Value::Array(values)) => {
                            !values.is_empty()
                                && values.len() <= 100
                                && values.iter().all(Value::is_number)
                        }
                        _ => false,
                    };
                    if !ok {
                        problems.push(format!(
                            "metric {name} has no number (or array of ≤100 numbers) at the root"
                        ));
                    }
                }
            }
        }
    }
    problems
}

fn report(statuses: &[(Status, Code, Option<Action>)]) -> Report {
    let raw = include_bytes!("../../../events-fixtures/health-ecs-services-pipe.json");
    let Ok(Parsed::Retirement(notice)) = parse_slice(raw) else {
        panic!("fixture is a retirement notice");
    };
    let outcomes = statuses
        .iter()
        .enumerate()
        .map(|(i, (status, code, action))| {
            let o = Outcome::new(
                Target::Service(crate::target::ServiceRef {
                    cluster: "prod".into(),
                    service: format!("s{i}"),
                }),
                *status,
                *code,
                "test",
            );
            match action {
                Some(a) => o.with_action(*a),
                None => o,
            }
        })
        .collect();
    Report::handled(&notice, outcomes, false)
}

const NOW: &str = "2026-11-25T12:00:00Z";

#[test]
fn every_line_is_valid_emf() {
    let r = report(&[
        (
            Status::Acted,
            Code::ForcedNewDeployment,
            Some(Action::ForceNewDeployment),
        ),
        (
            Status::Acted,
            Code::ForcedNewDeployment,
            Some(Action::ForceNewDeployment),
        ),
        (Status::Skipped, Code::NotFound, None),
        (
            Status::Failed,
            Code::Throttled,
            Some(Action::ForceNewDeployment),
        ),
    ]);
    let docs = documents(&r, DEFAULT_NAMESPACE, "ecs-retirement", at(NOW));
    assert!(docs.len() >= 4, "{docs:#?}");
    for d in &docs {
        let line = d.to_string();
        assert!(!line.contains('\n'));
        let reparsed: Value = serde_json::from_str(&line).unwrap_or_default();
        assert_eq!(emf_violations(&reparsed), Vec::<String>::new(), "{line}");
        assert_eq!(
            reparsed["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            DEFAULT_NAMESPACE
        );
    }
}

#[test]
fn outcomes_are_counted_by_action_and_result() {
    let r = report(&[
        (
            Status::Acted,
            Code::ForcedNewDeployment,
            Some(Action::ForceNewDeployment),
        ),
        (
            Status::Acted,
            Code::ForcedNewDeployment,
            Some(Action::ForceNewDeployment),
        ),
        (Status::Skipped, Code::NotFound, None),
    ]);
    let docs = documents(&r, "NS", "f", at(NOW));
    let count = |action: &str, result: &str| {
        docs.iter()
            .find(|d| d["Action"] == action && d["Result"] == result)
            .map(|d| d["Outcomes"].clone())
    };
    assert_eq!(count("force_new_deployment", "acted"), Some(json!(2)));
    assert_eq!(count("none", "skipped"), Some(json!(1)));
    assert_eq!(count("force_new_deployment", "failed"), None);
    let events = docs
        .iter()
        .find(|d| d.get("Events").is_some())
        .cloned()
        .unwrap_or_default();
    assert_eq!(events["Disposition"], "handled");
}

#[test]
fn time_to_remediate_runs_from_the_notice_and_headroom_to_the_deadline() {
    // The fixture was published 2026-11-20T09:00Z and retires from 2026-11-27T09:00Z.
    let r = report(&[(
        Status::Acted,
        Code::ForcedNewDeployment,
        Some(Action::ForceNewDeployment),
    )]);
    let docs = documents(&r, "NS", "f", at(NOW));
    let ttr = docs
        .iter()
        .find(|d| d.get("TimeToRemediate").is_some())
        .cloned()
        .unwrap_or_default();
    assert_eq!(ttr["TimeToRemediate"], json!([(5 * 24 + 3) * 3600]));
    assert_eq!(ttr["HeadroomBeforeRetirement"], json!([(24 + 21) * 3600]));
    assert_eq!(emf_violations(&ttr), Vec::<String>::new());
}

#[test]
fn many_acted_resources_are_split_into_documents_of_at_most_100_values() {
    let many: Vec<(Status, Code, Option<Action>)> = vec![
        (
            Status::Acted,
            Code::ForcedNewDeployment,
            Some(Action::ForceNewDeployment)
        );
        250
    ];
    let docs = documents(&report(&many), "NS", "f", at(NOW));
    let sizes: Vec<usize> = docs
        .iter()
        .filter_map(|d| d["TimeToRemediate"].as_array().map(Vec::len))
        .collect();
    assert_eq!(sizes, vec![100, 100, 50]);
    assert!(docs.iter().all(|d| emf_violations(d).is_empty()));
}

#[test]
fn the_validator_catches_an_undeclared_metric_value() {
    let bad = json!({"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [["A"]], "Metrics": [{"Name": "M", "Unit": "Count"}]}]}});
    assert_eq!(emf_violations(&bad).len(), 2, "{:?}", emf_violations(&bad));
}

#[test]
fn only_news_of_a_final_failure_counts_as_failed_waiting_is_retrying_and_memory_is_not_recounted() {
    let target = || {
        Target::Service(crate::target::ServiceRef {
            cluster: "prod".into(),
            service: "web".into(),
        })
    };
    let raw = include_bytes!("../../../events-fixtures/health-ecs-services-pipe.json");
    let Ok(Parsed::Retirement(notice)) = parse_slice(raw) else {
        panic!("fixture is a retirement notice");
    };
    let waiting = Outcome::failed(target(), Code::DeploymentInProgress, "release", true);
    let broken = Outcome::failed(target(), Code::RolloutFailed, "circuit breaker", false);
    let recalled = Outcome {
        remembered: true,
        ..broken.clone()
    };
    let r = crate::outcome::Report::handled(&notice, vec![waiting, broken, recalled], false);

    let docs = documents(&r, "NS", "f", at(NOW));
    let count = |result: &str| -> u64 {
        docs.iter()
            .filter(|d| d["Result"] == result)
            .filter_map(|d| d["Outcomes"].as_u64())
            .sum()
    };

    assert_eq!(
        (count("failed"), count("retrying"), count("remembered")),
        (1, 1, 1)
    );
}
