//! Window arithmetic. Expected instants were computed independently with Python's `zoneinfo`.

use super::*;
use crate::testing::at;

fn windows(s: &str) -> Windows {
    s.parse().unwrap_or_else(|e| panic!("{e}"))
}

fn deferred_until(t: Timing) -> DateTime<Utc> {
    match t {
        Timing::Defer { occurrence, .. } => occurrence.start,
        other => panic!("expected a deferral, got {other:?}"),
    }
}

fn act_now_reason(t: Timing) -> String {
    match t {
        Timing::ActNow { reason } => reason,
        other => panic!("expected to act now, got {other:?}"),
    }
}

const DAY: Duration = Duration::hours(24);

#[test]
fn the_issue_example_parses_into_two_windows() {
    let w = windows("Sat,Sun 02:00-05:00 Asia/Tokyo; Wed 22:00-23:30 UTC");
    assert_eq!(w.0.len(), 2);
    assert_eq!(
        w.to_string(),
        "Sat,Sun 02:00-05:00 Asia/Tokyo; Wed 22:00-23:30 UTC"
    );
}

#[test]
fn an_event_on_wednesday_waits_for_saturday_2am_in_tokyo() {
    // Wed 2026-11-25 12:00Z; retirement from Wed 2026-12-02; next Sat 02:00 JST = Fri 17:00Z.
    let w = windows("Sat,Sun 02:00-05:00 Asia/Tokyo");
    let t = w.timing(
        at("2026-11-25T12:00:00Z"),
        Some(at("2026-12-02T00:00:00Z")),
        DAY,
    );
    assert_eq!(deferred_until(t), at("2026-11-27T17:00:00Z"));
}

#[test]
fn the_earliest_of_several_windows_wins() {
    let w = windows("Sat,Sun 02:00-05:00 Asia/Tokyo; Wed 22:00-23:30 UTC");
    let t = w.timing(
        at("2026-11-25T12:00:00Z"),
        Some(at("2026-12-02T00:00:00Z")),
        DAY,
    );
    assert_eq!(deferred_until(t), at("2026-11-25T22:00:00Z"));
}

#[test]
fn inside_a_window_the_event_acts_now() {
    let w = windows("Wed 22:00-23:30 UTC");
    let reason = act_now_reason(w.timing(
        at("2026-11-25T22:10:00Z"),
        Some(at("2026-12-02T00:00:00Z")),
        DAY,
    ));
    assert!(reason.contains("inside maintenance window"), "{reason}");
}

#[test]
fn a_window_ends_exclusive_and_the_next_one_is_a_week_later() {
    let w = windows("Wed 22:00-23:30 UTC");
    let t = w.timing(
        at("2026-11-25T23:30:00Z"),
        Some(at("2026-12-09T00:00:00Z")),
        DAY,
    );
    assert_eq!(deferred_until(t), at("2026-12-02T22:00:00Z"));
}

#[test]
fn a_scheduled_run_a_moment_early_counts_as_inside() {
    let w = windows("Wed 22:00-23:30 UTC");
    let t = w.timing(
        at("2026-11-25T21:59:00Z"),
        Some(at("2026-12-02T00:00:00Z")),
        DAY,
    );
    assert!(t.acts_now(), "{t:?}");
}

#[test]
fn a_deadline_closer_than_the_margin_acts_now() {
    let w = windows("Sat 02:00-05:00 UTC");
    let reason = act_now_reason(w.timing(
        at("2026-11-25T12:00:00Z"),
        Some(at("2026-11-26T06:00:00Z")),
        DAY,
    ));
    assert!(reason.contains("less than the 24h margin"), "{reason}");
}

#[test]
fn no_window_before_the_deadline_minus_the_margin_acts_now_and_says_why() {
    // Saturday's window starts after Friday 00:00Z (retirement Sat 00:00Z minus 24h).
    let w = windows("Sat 02:00-05:00 UTC");
    let reason = act_now_reason(w.timing(
        at("2026-11-25T12:00:00Z"),
        Some(at("2026-11-28T00:00:00Z")),
        DAY,
    ));
    assert!(
        reason.contains("no maintenance window starts before 2026-11-27T00:00:00+00:00"),
        "{reason}"
    );
}

#[test]
fn a_window_starting_exactly_at_the_latest_instant_still_fits() {
    let w = windows("Fri 00:00-02:00 UTC");
    let t = w.timing(
        at("2026-11-25T12:00:00Z"),
        Some(at("2026-11-28T00:00:00Z")),
        DAY,
    );
    assert_eq!(deferred_until(t), at("2026-11-27T00:00:00Z"));
}

#[test]
fn a_notice_without_a_retirement_time_acts_now() {
    let w = windows("Sat 02:00-05:00 UTC");
    assert!(w.timing(at("2026-11-25T12:00:00Z"), None, DAY).acts_now());
}

#[test]
fn the_day_is_the_windows_own_day_not_utcs() {
    // Monday 08:00 in Auckland (NZDT, +13) is Sunday 19:00 UTC.
    let w = windows("Mon 08:00-09:00 Pacific/Auckland");
    let t = w.timing(
        at("2026-11-25T12:00:00Z"),
        Some(at("2026-12-09T00:00:00Z")),
        DAY,
    );
    assert_eq!(deferred_until(t), at("2026-11-29T19:00:00Z"));
}

#[test]
fn half_hour_offsets_are_respected() {
    let w = windows("Thu 22:15-23:00 Asia/Kolkata");
    let t = w.timing(
        at("2026-11-25T12:00:00Z"),
        Some(at("2026-12-09T00:00:00Z")),
        DAY,
    );
    assert_eq!(deferred_until(t), at("2026-11-26T16:45:00Z"));
}

#[test]
fn across_the_spring_forward_the_utc_start_moves_by_an_hour() {
    let w = windows("Sun 02:30-04:00 Europe/Berlin");
    // Before (CET, +1): 01:30Z. On the change day 02:30 does not exist: 03:00 CEST = 01:00Z.
    // After (CEST, +2): 00:30Z.
    let deadline = Some(at("2027-05-01T00:00:00Z"));
    let before = w.timing(at("2027-03-20T12:00:00Z"), deadline, DAY);
    let on = w.timing(at("2027-03-27T12:00:00Z"), deadline, DAY);
    let after = w.timing(at("2027-04-03T12:00:00Z"), deadline, DAY);
    assert_eq!(deferred_until(before), at("2027-03-21T01:30:00Z"));
    assert_eq!(deferred_until(on), at("2027-03-28T01:00:00Z"));
    assert_eq!(deferred_until(after), at("2027-04-04T00:30:00Z"));
}

#[test]
fn across_the_fall_back_an_ambiguous_start_is_the_first_one() {
    // 2026-11-01 01:30 happens twice in New York; the first is EDT (-4) = 05:30Z, and the window
    // ends at 02:30 EST (-5) = 07:30Z: two real hours.
    let w = windows("Sun 01:30-02:30 America/New_York");
    let occurrence = w
        .next_start(at("2026-10-31T12:00:00Z"), at("2026-11-20T00:00:00Z"))
        .expect("a window");
    assert_eq!(occurrence.start, at("2026-11-01T05:30:00Z"));
    assert_eq!(occurrence.end, at("2026-11-01T07:30:00Z"));
}

#[test]
fn a_window_past_midnight_covers_the_early_hours_of_the_next_day() {
    let w = windows("Fri 23:00-01:00 UTC");
    assert!(w
        .timing(
            at("2026-11-28T00:30:00Z"),
            Some(at("2026-12-09T00:00:00Z")),
            DAY
        )
        .acts_now());
    let t = w.timing(
        at("2026-11-28T01:00:00Z"),
        Some(at("2026-12-09T00:00:00Z")),
        DAY,
    );
    assert_eq!(deferred_until(t), at("2026-12-04T23:00:00Z"));
}

#[test]
fn ranges_daily_and_full_day_names_are_understood() {
    let w = windows("Mon-Fri 09:00-10:00 UTC");
    // Saturday noon → Monday 09:00.
    let t = w.timing(
        at("2026-11-28T12:00:00Z"),
        Some(at("2026-12-09T00:00:00Z")),
        DAY,
    );
    assert_eq!(deferred_until(t), at("2026-11-30T09:00:00Z"));
    let wrap = windows("Fri-Mon 09:00-10:00 UTC");
    let t = wrap.timing(
        at("2026-11-25T12:00:00Z"),
        Some(at("2026-12-09T00:00:00Z")),
        DAY,
    );
    assert_eq!(deferred_until(t), at("2026-11-27T09:00:00Z"));
    let daily = windows("Daily 00:00-24:00 UTC");
    assert!(daily
        .timing(at("2026-11-25T12:00:00Z"), None, DAY)
        .acts_now());
    assert_eq!(
        windows("saturday 01:00-02:00 UTC").0[0].days,
        windows("Sat 01:00-02:00 UTC").0[0].days
    );
}

#[test]
fn bad_windows_are_rejected_naming_the_entry() {
    for bad in [
        "Sat 02:00-05:00",
        "Sat 02:00 05:00 UTC",
        "Someday 02:00-05:00 UTC",
        "Sat 25:00-26:00 UTC",
        "Sat 02:00-02:00 UTC",
        "Sat 02:00-05:00 Mars/Olympus",
        "Sat 2-5 UTC",
    ] {
        let e = bad.parse::<Windows>().expect_err(bad);
        assert!(e.to_string().contains(bad), "{e}");
    }
    assert!(""
        .parse::<Windows>()
        .expect("empty is no windows")
        .is_empty());
}

#[test]
fn margins_read_days_hours_minutes_and_seconds() {
    assert_eq!(parse_duration("24h"), Ok(Duration::hours(24)));
    assert_eq!(parse_duration("1d12h"), Ok(Duration::hours(36)));
    assert_eq!(parse_duration("90m"), Ok(Duration::minutes(90)));
    assert_eq!(parse_duration("0s"), Ok(Duration::zero()));
    for bad in [
        "",
        "12",
        "h",
        "12x",
        "-1h",
        "99999999999999999d",
        "9223372036854775807s9223372036854775807s",
    ] {
        assert!(parse_duration(bad).is_err(), "{bad}");
    }
    assert_eq!(human(Duration::minutes(90)), "1h30m");
}

#[test]
fn an_ec2_cron_event_window_opens_on_its_days_for_its_hours_in_utc() {
    // Hours 0-4 and 20-23 on Monday and Friday (cron counts days from Sunday = 0).
    let w = Windows::ec2_cron("* 0-4,20-23 * * 1,5", "patching").unwrap_or_default();
    let tuesday = at("2026-12-01T10:00:00Z");

    let first = w.first_open_from(tuesday).map(|o| (o.start, o.end));

    assert_eq!(
        first,
        Some((at("2026-12-04T00:00:00Z"), at("2026-12-04T05:00:00Z"))),
        "Friday 00:00, open through hour 4"
    );
    assert_eq!(
        w.first_open_from(at("2026-12-04T02:30:00Z"))
            .map(|o| o.start),
        Some(at("2026-12-04T02:30:00Z")),
        "inside a window: now"
    );
    assert!(
        Windows::ec2_cron("0 1-3 * * *", "x").is_err(),
        "minutes must be *"
    );
    assert!(
        Windows::ec2_cron("* 1-3 * * 7", "x").is_err(),
        "days run 0-6"
    );
    assert_eq!(
        Windows::ec2_cron("* 2-4 * * SUN", "x")
            .unwrap_or_default()
            .first_open_from(tuesday)
            .map(|o| o.start),
        Some(at("2026-12-06T02:00:00Z"))
    );
}

#[test]
fn an_ec2_time_range_event_window_may_span_days_and_a_moment_inside_it_is_open() {
    // Saturday 22:00 through Monday 02:00.
    let w = Windows::ec2_time_ranges(&[(Weekday::Sat, 22, Weekday::Mon, 2)], "weekend");

    assert_eq!(
        w.first_open_from(at("2026-11-30T01:00:00Z"))
            .map(|o| o.start),
        Some(at("2026-11-30T01:00:00Z")),
        "Monday 01:00 is inside the window that opened on Saturday"
    );
    assert_eq!(
        w.first_open_from(at("2026-11-30T03:00:00Z"))
            .map(|o| o.start),
        Some(at("2026-12-05T22:00:00Z"))
    );
}

#[test]
fn a_notice_past_its_start_acts_now_and_says_it_races_aws() {
    let w = windows("Sat 02:00-05:00 UTC");
    let reason = act_now_reason(w.timing(
        at("2026-11-25T12:00:00Z"),
        Some(at("2026-11-25T11:00:00Z")),
        DAY,
    ));
    assert!(reason.contains("racing AWS"), "{reason}");
    assert!(
        reason.contains("began retiring at 2026-11-25T11:00:00+00:00"),
        "{reason}"
    );
}
