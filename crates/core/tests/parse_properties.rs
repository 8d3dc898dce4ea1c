//! Property tests of the event parser: arbitrary bytes and mutated real events never make it
//! panic, and whatever it rejects, it rejects saying where (a field path or the JSON position).

use proptest::prelude::*;
use remediator_core::{parse_slice, parse_value, ParseError};
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
        ParseError::MissingField(field) | ParseError::BadTime { field, .. } => !field.is_empty(),
    }
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
