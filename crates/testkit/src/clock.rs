//! The one clock tests read, and the loader that moves a fixture's dates to it.
//!
//! The fixtures on disk are real samples with their own dates (`parse_fixtures` reads them as
//! they are). A test that replays one needs it *published now*: a notice a week ahead stays a
//! week ahead of the run, whatever day the run is. [`shift_event`] moves every date of an event
//! by one offset, so each fixture keeps what it means (`startTime − time`, `endTime − startTime`,
//! an EKS pod's `scheduledTerminationTime − time`, a follow-up envelope's inner notice).
//!
//! [`now`] is the process clock. `make test` runs the time-sensitive test binaries a second time
//! under `faketime` a year ahead (`tests/local/year_ahead.sh`), so a test that reads a calendar
//! date instead of this clock fails then, not on the day that date passes.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::Value;

/// The time tests stamp events with and compare against: the process clock (moto's clock and
/// the remediator's are the same one, so a test and everything it runs move together).
pub fn now() -> DateTime<Utc> {
    Utc::now()
}

/// Where an event's dates live, and how each is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    /// EventBridge's `time`: RFC 3339.
    Rfc3339,
    /// Health's `startTime`, `endTime`, `lastUpdatedTime`: RFC 2822 in GMT.
    Rfc2822,
    /// EKS's `scheduledTerminationTime`: RFC 3339 with a `[UTC]` suffix.
    ZonedUtc,
}

/// The date fields of `detail` this loader moves (top-level `time` is moved separately).
const DETAIL_DATES: &[&str] = &[
    "startTime",
    "endTime",
    "lastUpdatedTime",
    "scheduledTerminationTime",
];

fn read(text: &str) -> Option<(DateTime<Utc>, Form)> {
    if let Some(zoned) = text.strip_suffix("[UTC]") {
        return DateTime::parse_from_rfc3339(zoned)
            .ok()
            .map(|t| (t.with_timezone(&Utc), Form::ZonedUtc));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some((t.with_timezone(&Utc), Form::Rfc3339));
    }
    DateTime::parse_from_rfc2822(text)
        .ok()
        .map(|t| (t.with_timezone(&Utc), Form::Rfc2822))
}

pub(crate) fn write(t: DateTime<Utc>, form: Form) -> String {
    match form {
        Form::Rfc3339 => t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        Form::Rfc2822 => t.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        Form::ZonedUtc => format!("{}[UTC]", t.to_rfc3339_opts(SecondsFormat::Millis, true)),
    }
}

/// Moves the date in `field` by `by`, keeping its form. Empty, missing or unreadable values
/// stay as they are: a malformed fixture stays malformed.
fn shift_field(field: Option<&mut Value>, by: Duration) {
    let Some(value) = field else { return };
    let Some((t, form)) = value.as_str().and_then(read) else {
        return;
    };
    *value = Value::String(write(t + by, form));
}

/// The event's own publication time (`time`), if it has a readable one.
pub fn published(event: &Value) -> Option<DateTime<Utc>> {
    event
        .get("time")
        .and_then(Value::as_str)
        .and_then(read)
        .map(|(t, _)| t)
}

/// `time` = `at` wherever the event (or its follow-up envelope's notice) has a `time`.
fn restamp(event: &mut Value, at: DateTime<Utc>) {
    if event.get("time").is_some() {
        stamp(event, "time", at);
    }
    if let Some(inner) = event.get_mut("detail").and_then(|d| d.get_mut("event")) {
        restamp(inner, at);
    }
}

fn stamp(event: &mut Value, field: &str, at: DateTime<Utc>) {
    if let Some(object) = event.as_object_mut() {
        object.insert(
            field.into(),
            Value::String(at.to_rfc3339_opts(SecondsFormat::Millis, true)),
        );
    }
}

/// Moves every date of `event` by `by`: `time`, the detail's dates, each affected entity's
/// `lastUpdatedTime`, and the same inside a follow-up envelope's `detail.event`.
pub fn shift_by(event: &mut Value, by: Duration) {
    shift_field(event.get_mut("time"), by);
    let Some(detail) = event.get_mut("detail") else {
        return;
    };
    for field in DETAIL_DATES {
        shift_field(detail.get_mut(*field), by);
    }
    if let Some(Value::Array(entities)) = detail.get_mut("affectedEntities") {
        for entity in entities {
            shift_field(entity.get_mut("lastUpdatedTime"), by);
        }
    }
    if let Some(inner) = detail.get_mut("event") {
        shift_by(inner, by);
    }
}

/// Moves every date of `event` so that it is published at `at`, keeping each offset. An
/// event without a readable `time` (a follow-up envelope) is moved by its inner notice's
/// `time`, and gets `time` = `at` when it had none to move.
pub fn shift_event(event: &mut Value, at: DateTime<Utc>) {
    let anchor = published(event).or_else(|| event.get("detail")?.get("event").and_then(published));
    match anchor {
        // `time` is exactly `at` (a deployment made a moment after the run's "now" is after
        // the notice); the other dates move by whole seconds (Health's RFC 2822 dates have no
        // fraction), so they keep their offsets to each other exactly and to `time` within 1 s.
        Some(anchor) => {
            shift_by(event, Duration::seconds((at - anchor).num_seconds()));
            restamp(event, at);
        }
        None => stamp(event, "time", at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// The year-ahead run (`tests/local/year_ahead.sh`) sets the year it expects: this fails
    /// if the faked clock did not reach the process (so that run cannot pass by not running).
    #[test]
    fn the_clock_reads_the_year_the_run_expects() {
        use chrono::Datelike;
        if let Ok(year) = std::env::var("REMEDIATOR_EXPECT_YEAR") {
            assert_eq!(now().year().to_string(), year);
        }
    }

    #[test]
    fn a_health_notice_a_week_ahead_stays_a_week_ahead_in_its_own_forms() {
        let mut event = json!({
            "time": "2026-11-20T09:00:00Z",
            "detail": { "startTime": "Fri, 27 Nov 2026 09:00:00 GMT", "endTime": "",
                        "lastUpdatedTime": "Fri, 20 Nov 2026 09:00:01 GMT",
                        "affectedEntities": [{ "entityValue": "a|b",
                                               "lastUpdatedTime": "Fri, 20 Nov 2026 09:00:01 GMT" }] }
        });
        shift_event(&mut event, at("2030-01-01T00:00:00Z"));
        assert_eq!(event["time"], "2030-01-01T00:00:00.000Z");
        assert_eq!(
            event["detail"]["startTime"],
            "Tue, 08 Jan 2030 00:00:00 GMT"
        );
        assert_eq!(
            event["detail"]["endTime"], "",
            "an empty endTime stays empty"
        );
        assert_eq!(
            event["detail"]["lastUpdatedTime"],
            "Tue, 01 Jan 2030 00:00:01 GMT"
        );
        assert_eq!(
            event["detail"]["affectedEntities"][0]["lastUpdatedTime"],
            "Tue, 01 Jan 2030 00:00:01 GMT"
        );
    }

    #[test]
    fn an_eks_termination_keeps_its_utc_suffix_and_its_distance() {
        let mut event = json!({
            "time": "2021-06-22T12:52:49Z",
            "detail": { "scheduledTerminationTime": "2021-06-30T12:52:44.832Z[UTC]" }
        });
        shift_event(&mut event, at("2030-01-01T00:00:00Z"));
        assert_eq!(
            event["detail"]["scheduledTerminationTime"],
            "2030-01-08T23:59:55.832Z[UTC]"
        );
    }

    #[test]
    fn a_follow_up_envelope_is_moved_by_its_inner_notice() {
        let mut event = json!({
            "detail": { "check": 1, "event": { "time": "2026-11-20T09:00:00Z",
                        "detail": { "startTime": "Fri, 27 Nov 2026 09:00:00 GMT" } } }
        });
        shift_event(&mut event, at("2030-01-01T00:00:00Z"));
        assert_eq!(event["detail"]["event"]["time"], "2030-01-01T00:00:00.000Z");
        assert_eq!(
            event["detail"]["event"]["detail"]["startTime"],
            "Tue, 08 Jan 2030 00:00:00 GMT"
        );
    }

    #[test]
    fn an_unreadable_date_is_left_as_it_is() {
        let mut event = json!({ "time": "2026-11-20T09:00:00Z",
                                "detail": { "startTime": "next tuesday-ish" } });
        shift_event(&mut event, at("2030-01-01T00:00:00Z"));
        assert_eq!(event["detail"]["startTime"], "next tuesday-ish");
    }

    /// Every date of an event, by where it is: (path, time).
    fn dates(event: &Value, prefix: &str, out: &mut Vec<(String, DateTime<Utc>)>) {
        let mut add = |path: String, v: Option<&Value>| {
            if let Some((t, _)) = v.and_then(Value::as_str).and_then(read) {
                out.push((path, t));
            }
        };
        add(format!("{prefix}time"), event.get("time"));
        let Some(detail) = event.get("detail") else {
            return;
        };
        for field in DETAIL_DATES {
            add(format!("{prefix}detail.{field}"), detail.get(*field));
        }
        for (i, e) in detail["affectedEntities"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            add(
                format!("{prefix}detail.affectedEntities[{i}].lastUpdatedTime"),
                e.get("lastUpdatedTime"),
            );
        }
        if let Some(inner) = detail.get("event") {
            dates(inner, &format!("{prefix}detail.event."), out);
        }
    }

    #[test]
    fn every_fixture_keeps_its_offsets_when_published_at_another_time() {
        let dir = crate::workspace_root().join("events-fixtures");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            let Ok(raw) = serde_json::from_slice::<Value>(&std::fs::read(&path).unwrap()) else {
                continue; // malformed-truncated.json: not JSON, nothing to move
            };
            let mut before = Vec::new();
            dates(&raw, "", &mut before);
            if before.is_empty() {
                continue; // no date to keep (a payload that is not an event at all)
            }
            for at in [now(), now() + Duration::days(365) + Duration::hours(13)] {
                let shifted = crate::fixture_at(&name, at);
                let mut after = Vec::new();
                dates(&shifted, "", &mut after);
                let paths = |d: &[(String, DateTime<Utc>)]| {
                    d.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>()
                };
                assert_eq!(
                    paths(&after),
                    paths(&before),
                    "{name}: the same dates, still readable"
                );
                if let Some((_, first)) = after.first() {
                    let anchor = published(&shifted)
                        .or_else(|| published(&shifted["detail"]["event"]))
                        .unwrap();
                    assert!(
                        (anchor - at).num_milliseconds().abs() < 1000,
                        "{name}: published at the run's time"
                    );
                    let _ = first;
                }
                // Each date keeps its distance to every other (start − time, end − start, …):
                // exactly, but for `time` itself, which is the run's instant to the millisecond.
                for ((p, b), (_, a)) in before.iter().zip(&after) {
                    let drift = (*a - after[0].1) - (*b - before[0].1);
                    assert!(
                        drift.num_milliseconds().abs() < 1000,
                        "{name}: {p} keeps its offset from {} (drift {drift})",
                        before[0].0
                    );
                }
                for (b, a) in before.windows(2).zip(after.windows(2)).skip(1) {
                    assert_eq!(
                        a[1].1 - a[0].1,
                        b[1].1 - b[0].1,
                        "{name}: {} − {} exactly",
                        a[1].0,
                        a[0].0
                    );
                }
                checked += 1;
            }
        }
        assert!(
            checked >= 40,
            "every dated fixture checked twice, {checked} checks"
        );
    }
}
