//! Property tests of the event parser: arbitrary bytes and mutated real events never make it
//! panic, and whatever it rejects, it rejects saying where (a field path or the JSON position).

use proptest::prelude::*;
use remediator_core::{parse_slice, parse_value, EventCode, ParseError, Parsed};
use serde_json::{json, Value};

const FIXTURES: &[&str] = &[
    "health-ecs-faq-sample.json",
    "health-ecs-services-pipe.json",
    "health-ecs-standalone-task.json",
    "health-ecs-mixed.json",
    "health-ecs-task-short-arn.json",
    "eks-fargate-pod-scheduled-termination.json",
];

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../../events-fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_slice(&raw).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A JSON value of any shape, small.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
        // Things the parser reads as times and ARNs.
        Just(json!("Wed, 16 Aug 2023 23:18:51 GMT")),
        Just(json!(
            "arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef"
        )),
        Just(json!("prod|web")),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(".{0,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every path (object keys and array indexes) in `value`.
fn paths(value: &Value, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(prefix.clone());
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let mut p = prefix.clone();
                p.push(k.clone());
                paths(v, p, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let mut p = prefix.clone();
                p.push(i.to_string());
                paths(v, p, out);
            }
        }
        _ => {}
    }
}

fn at_path<'v>(value: &'v mut Value, path: &[String]) -> Option<&'v mut Value> {
    path.iter().try_fold(value, |v, key| match v {
        Value::Object(map) => map.get_mut(key),
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
        _ => None,
    })
}

/// A rejection that says where: a field path, a missing or bad field's name, or a JSON position.
fn says_where(e: &ParseError) -> bool {
    match e {
        ParseError::NotJson(e) => e.line() > 0,
        // The event itself when it is no object, else a field of it.
        ParseError::NotEventBridge(s) => {
            s.path == "(the event)" || s.path.chars().next().is_some_and(char::is_alphabetic)
        }
        // Always a field of the detail.
        ParseError::HealthDetail(s) | ParseError::EksDetail(s) => s.path.starts_with("detail"),
        // A field the parser reads, by the name the event gives it.
        ParseError::MissingField(field)
        | ParseError::BadTime { field, .. }
        | ParseError::OutOfBounds { field, .. } => FIELDS.contains(field),
        ParseError::BrokenCheck(why) => {
            why.contains("detail.check") && why.contains("detail.event")
        }
    }
}

/// Every field a rejection may name: the ones the parsers read.
const FIELDS: &[&str] = &[
    "time",
    "account",
    "region",
    "detail.eventArn",
    "detail.startTime",
    "detail.eventRegion",
    "detail.affectedAccount",
    "detail.affectedEntities[].awsAccountId",
    "detail.scheduledTerminationTime",
    "detail.clusterName",
    "detail.podNamespace",
    "detail.podName",
];

/// An event shaped like the ones the function gets: one of the two sources it parses (or a
/// third), and a detail whose fields are each valid, absent or of any shape. Random JSON alone
/// never names `aws.health` / `AWS Health Event`, so it never reaches the Health parser.
fn event_like() -> impl Strategy<Value = Value> {
    let source = prop_oneof![
        4 => Just(("aws.health", "AWS Health Event")),
        3 => Just(("aws.eks", "EKS Fargate Pod Scheduled Termination")),
        1 => Just(("retirement-remediator", "Retirement Follow-up Check")),
        1 => Just(("aws.ec2", "EC2 Instance State-change Notification")),
    ];
    let maybe = |valid: Value| {
        prop_oneof![
            6 => Just(Some(valid)),
            1 => Just(None),
            1 => any_json().prop_map(Some),
        ]
    };
    (
        source,
        maybe(json!("2026-11-20T09:00:00Z")),
        maybe(json!("123456789012")),
        maybe(json!("us-east-1")),
        (
            maybe(json!("ECS")),
            maybe(json!("AWS_ECS_TASK_PATCHING_RETIREMENT")),
            maybe(json!("arn:aws:health:us-east-1::event/ECS/AWS_ECS_TASK_PATCHING_RETIREMENT/x")),
            maybe(json!("Fri, 27 Nov 2026 09:00:00 GMT")),
            maybe(json!([{ "entityValue": "prod|web" },
                         { "entityValue": "arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef" }])),
            maybe(json!("upcoming")),
        ),
        (
            maybe(json!("my-cluster")),
            maybe(json!("default")),
            maybe(json!("web-5d8c9c5d4b-8jx7l")),
            maybe(json!("2026-11-28T12:52:44.832Z[UTC]")),
        ),
    )
        .prop_map(|((source, detail_type), time, account, region, health, eks)| {
            let mut event = json!({ "version": "0", "id": "p-1", "source": source, "detail-type": detail_type });
            let mut detail = serde_json::Map::new();
            let put = |map: &mut serde_json::Map<String, Value>, k: &str, v: Option<Value>| {
                if let Some(v) = v { map.insert(k.to_owned(), v); }
            };
            put(event.as_object_mut().expect("object"), "time", time);
            put(event.as_object_mut().expect("object"), "account", account);
            put(event.as_object_mut().expect("object"), "region", region);
            let (service, code, arn, start, entities, status) = health;
            put(&mut detail, "service", service);
            put(&mut detail, "eventTypeCode", code);
            put(&mut detail, "eventArn", arn);
            put(&mut detail, "startTime", start);
            put(&mut detail, "affectedEntities", entities);
            put(&mut detail, "statusCode", status);
            let (cluster, namespace, pod, termination) = eks;
            put(&mut detail, "clusterName", cluster);
            put(&mut detail, "podNamespace", namespace);
            put(&mut detail, "podName", pod);
            put(&mut detail, "scheduledTerminationTime", termination);
            event["detail"] = Value::Object(detail);
            event
        })
}

/// Whether the outcome could only come from inside `parse_health` or `parse_eks` (a notice,
/// an ignored Health event type, or a rejection of a detail field).
fn reached_a_detail_parser(result: &Result<Parsed, ParseError>) -> bool {
    match result {
        Ok(Parsed::Retirement(_) | Parsed::PodTermination(_)) => true,
        Ok(Parsed::Ignored(i)) => i.code != EventCode::UnsupportedSource,
        Err(
            ParseError::HealthDetail(_) | ParseError::EksDetail(_) | ParseError::BadTime { .. },
        ) => true,
        Err(ParseError::MissingField(f) | ParseError::OutOfBounds { field: f, .. }) => {
            f.starts_with("detail.")
        }
        Err(_) => false,
    }
}

#[test]
fn most_generated_events_reach_the_health_and_eks_parsers_and_every_rejection_says_where() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = event_like();
    let (mut reached, mut health, mut eks, mut notices) = (0, 0, 0, 0);
    let cases = 2_000;
    for _ in 0..cases {
        let event = strategy.new_tree(&mut runner).expect("tree").current();
        let source = event["source"].as_str().unwrap_or_default().to_owned();
        let result = parse_value(event);
        if let Err(e) = &result {
            assert!(says_where(e), "{e}");
        }
        if reached_a_detail_parser(&result) {
            reached += 1;
            match source.as_str() {
                "aws.health" => health += 1,
                "aws.eks" => eks += 1,
                _ => {}
            }
        }
        if matches!(
            result,
            Ok(Parsed::Retirement(_) | Parsed::PodTermination(_))
        ) {
            notices += 1;
        }
    }
    eprintln!("of {cases} generated events: {reached} reached a detail parser ({health} parse_health, {eks} parse_eks), {notices} parsed to a notice");
    // Many reach a detail parser (the rest stop at the envelope's own bounds, as they should);
    // many parse whole; both parsers are reached.
    assert!(
        reached * 100 / cases >= 40,
        "{reached} of {cases} reached a detail parser"
    );
    assert!(
        health * 100 / cases >= 20,
        "{health} of {cases} reached parse_health"
    );
    assert!(
        eks * 100 / cases >= 10,
        "{eks} of {cases} reached parse_eks"
    );
    assert!(
        notices * 100 / cases >= 10,
        "{notices} of {cases} parsed to a notice"
    );
}

#[test]
fn random_json_alone_does_not_reach_the_detail_parsers() {
    // Why `event_like` exists: the shapeless generator names no source the parser knows.
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = any_json();
    let reached = (0..500)
        .filter(|_| {
            reached_a_detail_parser(&parse_value(
                strategy.new_tree(&mut runner).expect("tree").current(),
            ))
        })
        .count();
    assert_eq!(reached, 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_the_parser(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Err(e) = parse_slice(&bytes) {
            prop_assert!(says_where(&e), "{e}");
        }
    }

    #[test]
    fn an_event_shaped_like_a_notice_never_panics_the_parser(value in event_like()) {
        if let Err(e) = parse_value(value) {
            prop_assert!(says_where(&e), "{e}");
        }
    }

    #[test]
    fn arbitrary_json_never_panics_the_parser(value in any_json()) {
        if let Err(e) = parse_value(value) {
            prop_assert!(says_where(&e), "{e}");
        }
    }

    #[test]
    fn a_real_event_with_one_value_replaced_parses_or_is_rejected_naming_where(
        which in 0..FIXTURES.len(),
        pick in any::<prop::sample::Index>(),
        replacement in any_json(),
        remove in any::<bool>(),
    ) {
        let mut event = fixture(FIXTURES[which]);
        let mut all = Vec::new();
        paths(&event, Vec::new(), &mut all);
        let path = pick.get(&all).clone();
        if remove && !path.is_empty() {
            let (last, parent) = path.split_last().expect("non-empty path");
            match at_path(&mut event, parent) {
                Some(Value::Object(map)) => { map.remove(last); }
                Some(Value::Array(items)) => {
                    if let Ok(i) = last.parse::<usize>() {
                        if i < items.len() { items.remove(i); }
                    }
                }
                _ => {}
            }
        } else if let Some(slot) = at_path(&mut event, &path) {
            *slot = replacement;
        }
        if let Err(e) = parse_value(event) {
            prop_assert!(says_where(&e), "{e}");
        }
    }

    #[test]
    fn a_truncated_real_event_is_rejected_as_not_json_with_its_position(
        which in 0..FIXTURES.len(),
        cut in any::<prop::sample::Index>(),
    ) {
        let raw = serde_json::to_vec(&fixture(FIXTURES[which])).expect("encode");
        let at = cut.index(raw.len());
        match parse_slice(&raw[..at]) {
            Err(ParseError::NotJson(e)) => prop_assert!(e.line() > 0),
            other => prop_assert!(false, "{at} bytes of {}: {other:?}", FIXTURES[which]),
        }
    }
}

#[test]
fn a_value_of_the_wrong_type_is_rejected_naming_its_path() {
    let mut event = fixture("health-ecs-services-pipe.json");
    event["detail"]["affectedEntities"] = json!([{ "entityValue": 5 }]);

    match parse_value(event) {
        Err(ParseError::HealthDetail(e)) => {
            assert_eq!(e.path, "detail.affectedEntities[0].entityValue", "{e}")
        }
        other => panic!("expected a rejection at the entity, got {other:?}"),
    }
}
