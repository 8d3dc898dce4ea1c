//! What is wrong with an input that cannot be understood at all, and where in the event: the
//! one error type of parsing ([`crate::notice`]) and of its bounds ([`crate::bounds`]).

use serde_json::Value;

/// The input could not be understood at all. Poison input: retrying it cannot help.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("input is not valid JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("input is not an EventBridge event (needs `source`, `detail-type`, `detail`): {0}")]
    NotEventBridge(#[source] ShapeError),
    #[error("AWS Health event detail is malformed: {0}")]
    HealthDetail(#[source] ShapeError),
    #[error("EKS pod termination event detail is malformed: {0}")]
    EksDetail(#[source] ShapeError),
    #[error("event has no `{0}`")]
    MissingField(&'static str),
    #[error("`{field}` is not a time: {value:?}")]
    BadTime { field: &'static str, value: String },
    /// A value of the right type that no AWS event carries (an account id that is not 12
    /// digits, a Region of no partition, a date decades away): see [`crate::bounds`].
    #[error("`{field}` is out of bounds: {value:?}: {why}")]
    OutOfBounds {
        field: &'static str,
        value: String,
        why: String,
    },
    /// An event in the follow-up check's envelope whose check number or event is missing or
    /// unreadable: the chain of checks would end without a word, so it is rejected (the DLQ
    /// and its alarm), never ignored.
    #[error("follow-up check envelope is malformed: {0}")]
    BrokenCheck(String),
}

/// A value of the wrong shape, and where in the event it is (`detail.affectedEntities[2]`).
#[derive(Debug, thiserror::Error)]
#[error("at `{path}`: {source}")]
pub struct ShapeError {
    pub path: String,
    #[source]
    pub source: serde_json::Error,
}

/// Deserializes `value`, found at `prefix` in the event, naming the path of a bad field.
pub(crate) fn shaped<T: serde::de::DeserializeOwned>(
    value: Value,
    prefix: &str,
) -> Result<T, ShapeError> {
    // serde would read a struct from an array, field by position: an event and its detail are
    // JSON objects, anything else is the wrong shape as a whole.
    if !value.is_object() {
        return Err(ShapeError {
            path: if prefix.is_empty() {
                "(the event)".to_owned()
            } else {
                prefix.to_owned()
            },
            source: <serde_json::Error as serde::de::Error>::custom(format!(
                "expected a JSON object, found {}",
                match value {
                    Value::Null => "null",
                    Value::Bool(_) => "a boolean",
                    Value::Number(_) => "a number",
                    Value::String(_) => "a string",
                    Value::Array(_) => "an array",
                    Value::Object(_) => "an object",
                }
            )),
        });
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let path = match (prefix, inner.as_str()) {
            ("", ".") => "(the event)".to_owned(),
            (prefix, ".") => prefix.to_owned(),
            ("", inner) => inner.to_owned(),
            (prefix, inner) => format!("{prefix}.{inner}"),
        };
        ShapeError {
            path,
            source: e.into_inner(),
        }
    })
}
