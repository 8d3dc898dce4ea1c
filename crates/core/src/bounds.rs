//! What a notice's identifiers and dates may be before they steer a call.
//!
//! An event's account becomes a role ARN in central mode, its Region a client's endpoint, its
//! dates the schedule of follow-up checks and the ledger's expiry. Each is checked here, in the
//! parser, so that a value no AWS event carries is rejected naming its field (`malformed_input`)
//! instead of reaching STS, an endpoint resolver or EventBridge Scheduler:
//! - account ids are 12 digits (IAM user guide, "Your AWS account ID");
//! - Regions have the partitions' form (`us-east-1`, `cn-north-1`, `us-gov-west-1`,
//!   `us-iso-east-1`, `eu-isoe-west-1`): lower-case letters and hyphens ending in a number;
//! - `time` is not before AWS Health existed (the Personal Health Dashboard launched on
//!   2016-12-01), nor more than a day ahead of the function's clock;
//! - `startTime` (ECS, EC2) and `scheduledTerminationTime` (EKS) are within a year of `time`:
//!   AWS announces retirements days to weeks ahead (`fargateTaskRetirementWaitPeriod` ≤ 14 days,
//!   EC2 reboots about two weeks), so a year is generous and still bounds every schedule.

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::parse_error::ParseError;

/// How far `startTime` (or the pod's termination) may be from `time`, either way.
pub const MAX_NOTICE_SPAN: Duration = Duration::days(366);

/// The longest AWS retirement window believed (`endTime − startTime`); AWS's samples show two
/// days. A longer `endTime` is ignored (the two-day grace stands in for it).
pub const MAX_WINDOW: Duration = Duration::days(30);

/// How far ahead of the function's clock an event may say it was published (clock skew, and
/// a test's clock, are far less).
pub const MAX_FUTURE_PUBLICATION: Duration = Duration::days(1);

/// The first day AWS Health events existed.
pub fn health_epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2016, 12, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn out_of_bounds(field: &'static str, value: &str, why: &str) -> ParseError {
    ParseError::OutOfBounds {
        field,
        value: value.chars().take(80).collect(),
        why: why.to_owned(),
    }
}

/// An AWS account id: exactly 12 ASCII digits.
pub fn account(field: &'static str, value: Option<&str>) -> Result<(), ParseError> {
    match value {
        Some(v) if !(v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit())) => Err(out_of_bounds(
            field,
            v,
            "an AWS account id is exactly 12 digits",
        )),
        _ => Ok(()),
    }
}

/// Whether `region` has the form of an AWS Region of any partition.
pub fn is_region(region: &str) -> bool {
    let mut parts = region.split('-').collect::<Vec<_>>();
    let Some(number) = parts.pop() else {
        return false;
    };
    (1..=2).contains(&number.len())
        && number.bytes().all(|b| b.is_ascii_digit())
        && (2..=4).contains(&parts.len())
        && parts
            .iter()
            .all(|p| (2..=10).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_lowercase()))
}

/// A Region, when given.
pub fn region(field: &'static str, value: Option<&str>) -> Result<(), ParseError> {
    match value {
        Some(v) if !is_region(v) => Err(out_of_bounds(
            field,
            v,
            "not an AWS Region (such as us-east-1, cn-north-1, us-gov-west-1)",
        )),
        _ => Ok(()),
    }
}

/// `time`: after AWS Health existed, not far ahead of `now`.
pub fn published(time: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), ParseError> {
    let value = time.to_rfc3339();
    if time < health_epoch() {
        return Err(out_of_bounds(
            "time",
            &value,
            "before AWS Health existed (2016-12-01)",
        ));
    }
    if time > now + MAX_FUTURE_PUBLICATION {
        return Err(out_of_bounds(
            "time",
            &value,
            "more than a day ahead of this function's clock",
        ));
    }
    Ok(())
}

/// A retirement's date (`startTime`, `scheduledTerminationTime`): within a year of `time`.
pub fn span(
    field: &'static str,
    at: DateTime<Utc>,
    published: DateTime<Utc>,
) -> Result<(), ParseError> {
    if (at - published).abs() > MAX_NOTICE_SPAN {
        return Err(out_of_bounds(
            field,
            &at.to_rfc3339(),
            "more than a year from the event's time: AWS announces retirements days to weeks ahead",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_of_every_partition_have_the_form_and_garbage_does_not() {
        for ok in [
            "us-east-1",
            "eu-central-2",
            "ap-southeast-5",
            "cn-north-1",
            "us-gov-west-1",
            "us-iso-east-1",
            "us-isob-east-1",
            "eu-isoe-west-1",
            "mx-central-1",
        ] {
            assert!(is_region(ok), "{ok}");
        }
        for bad in [
            "",
            "us-east",
            "US-EAST-1",
            "us-east-1.evil.example",
            "us_east_1",
            "1",
            "a-1",
            "us-east-100",
            "../us-east-1",
        ] {
            assert!(!is_region(bad), "{bad}");
        }
    }

    #[test]
    fn an_account_id_is_twelve_digits() {
        assert!(account("account", Some("123456789012")).is_ok());
        assert!(account("account", None).is_ok());
        for bad in [
            "abc",
            "12345678901",
            "1234567890123",
            "12345678901a",
            " 123456789012",
        ] {
            match account("detail.affectedAccount", Some(bad)) {
                Err(ParseError::OutOfBounds { field, .. }) => {
                    assert_eq!(field, "detail.affectedAccount")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_date_a_year_and_more_from_the_event_is_out_of_bounds() {
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        assert!(span("detail.startTime", t + Duration::days(14), t).is_ok());
        assert!(span("detail.startTime", t - Duration::days(3), t).is_ok());
        assert!(span("detail.startTime", t + Duration::days(400), t).is_err());
        assert!(published(t, t).is_ok());
        assert!(published(Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap(), t).is_err());
        assert!(published(t + Duration::days(2), t).is_err());
    }
}
