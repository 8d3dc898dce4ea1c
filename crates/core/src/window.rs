//! Maintenance windows: when the operator lets the remediator act, and whether an event should
//! wait for the next window or act now. Pure arithmetic over a given clock; no I/O.
//!
//! `MAINTENANCE_WINDOWS` holds entries separated by `;`, each `DAYS HH:MM-HH:MM ZONE`:
//!
//! ```text
//! Sat,Sun 02:00-05:00 Asia/Tokyo; Wed 22:00-23:30 UTC; Mon-Fri 23:00-01:00 Europe/Berlin
//! ```
//!
//! - `DAYS`: day names (`Mon`, `Tuesday`…), ranges (`Mon-Fri`, `Fri-Mon`), comma-separated, or
//!   `Daily`. The day is the one the window *starts* on, in its zone.
//! - Times are local wall-clock times in `ZONE` (an IANA name such as `Europe/Berlin`, or `UTC`).
//!   An end at or before the start runs past midnight into the next day; `24:00` is midnight.
//! - Daylight-saving changes: a start or end that does not exist that day (clocks jump forward)
//!   moves to the first minute that does; one that happens twice (clocks fall back) is the
//!   first of the two.

use std::fmt;
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
    Weekday,
};
use chrono_tz::Tz;

/// A scheduled re-invocation may land a little before the window it was made for.
pub const START_GRACE: Duration = Duration::minutes(2);

/// How far ahead windows are searched (Fargate's longest retirement wait period is 14 days).
const HORIZON_DAYS: i64 = 35;

/// One recurring window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Monday first.
    days: [bool; 7],
    start: NaiveTime,
    /// Minutes from the start day's midnight to the end (may exceed a day).
    end_offset_minutes: i64,
    zone: Tz,
    text: String,
}

/// The configured windows, in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Windows(Vec<Window>);

/// A window that could not be read; the message names the entry and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("maintenance window {entry:?}: {problem}")]
pub struct WindowError {
    pub entry: String,
    pub problem: String,
}

/// One concrete occurrence of a window, in UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The window as the operator wrote it.
    pub window: String,
}

/// What the windows say about acting on an event now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Timing {
    /// Act now; `reason` says why (inside a window, no window fits before the deadline…).
    ActNow { reason: String },
    /// Wait for `occurrence.start`, which is before `latest` (the deadline minus the margin).
    Defer {
        occurrence: Occurrence,
        latest: DateTime<Utc>,
    },
}

impl Timing {
    pub fn acts_now(&self) -> bool {
        matches!(self, Timing::ActNow { .. })
    }
}

impl Windows {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every occurrence starting in the week from `from`: what the windows open in a week.
    pub fn week_from(&self, from: DateTime<Utc>) -> Vec<Occurrence> {
        let until = from + Duration::days(7);
        self.occurrences(from, until)
            .into_iter()
            .filter(|o| o.start >= from && o.start < until)
            .collect()
    }

    /// The occurrence that contains `now` (with [`START_GRACE`] before its start), if any.
    pub fn current(&self, now: DateTime<Utc>) -> Option<Occurrence> {
        self.occurrences(now - Duration::days(2), now + Duration::days(1))
            .into_iter()
            .find(|o| o.start - START_GRACE <= now && now < o.end)
    }

    /// The first occurrence starting after `now` and no later than `latest`.
    pub fn next_start(&self, now: DateTime<Utc>, latest: DateTime<Utc>) -> Option<Occurrence> {
        let until = latest.min(now + Duration::days(HORIZON_DAYS));
        self.occurrences(now, until)
            .into_iter()
            .filter(|o| o.start > now && o.start <= latest)
            .min_by_key(|o| o.start)
    }

    /// Decides for an event whose retirement starts at `deadline` (if the notice says).
    pub fn timing(
        &self,
        now: DateTime<Utc>,
        deadline: Option<DateTime<Utc>>,
        margin: Duration,
    ) -> Timing {
        if self.is_empty() {
            return Timing::ActNow {
                reason: "no maintenance windows configured".into(),
            };
        }
        if let Some(o) = self.current(now) {
            return Timing::ActNow {
                reason: format!(
                    "inside maintenance window {:?} (until {})",
                    o.window,
                    o.end.to_rfc3339()
                ),
            };
        }
        let Some(deadline) = deadline else {
            return Timing::ActNow {
                reason: "outside the maintenance windows, but the notice gives no retirement time: acting now".into(),
            };
        };
        if deadline <= now {
            return Timing::ActNow {
                reason: format!(
                    "outside the maintenance windows, but AWS began retiring at {}: racing AWS, acting now",
                    deadline.to_rfc3339()
                ),
            };
        }
        let latest = deadline - margin;
        if latest <= now {
            return Timing::ActNow {
                reason: format!(
                    "outside the maintenance windows, but the retirement at {} is less than the {} margin away: acting now",
                    deadline.to_rfc3339(),
                    human(margin)
                ),
            };
        }
        match self.next_start(now, latest) {
            Some(occurrence) => Timing::Defer { occurrence, latest },
            None => Timing::ActNow {
                reason: format!(
                    "no maintenance window starts before {} (retirement at {} minus the {} margin): acting now",
                    latest.to_rfc3339(),
                    deadline.to_rfc3339(),
                    human(margin)
                ),
            },
        }
    }

    /// Every occurrence of every window whose start day (local) lies in `[from - 1 day, until + 1 day]`.
    fn occurrences(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> Vec<Occurrence> {
        let mut out = Vec::new();
        for w in &self.0 {
            let first = from.with_timezone(&w.zone).date_naive() - Duration::days(1);
            let last = until.with_timezone(&w.zone).date_naive() + Duration::days(1);
            let mut day = first;
            while day <= last {
                if w.days[day.weekday().num_days_from_monday() as usize] {
                    out.push(w.occurrence_on(day));
                }
                day += Duration::days(1);
            }
        }
        out
    }
}

impl Windows {
    /// EC2 instance event windows (all UTC, whole hours): each range from (`start day`,
    /// `start hour`) to (`end day`, `end hour`); an end at or before the start runs into the next
    /// week. `text` names the window in reports.
    pub fn ec2_time_ranges(ranges: &[(Weekday, u32, Weekday, u32)], text: &str) -> Windows {
        Windows(
            ranges
                .iter()
                .filter(|(_, sh, _, eh)| *sh < 24 && *eh <= 24)
                .map(|&(sd, sh, ed, eh)| {
                    let start = i64::from(sh) * 60;
                    let days = (i64::from(ed.num_days_from_monday())
                        - i64::from(sd.num_days_from_monday()))
                    .rem_euclid(7);
                    let mut end = days * 24 * 60 + i64::from(eh) * 60;
                    if end <= start {
                        end += 7 * 24 * 60;
                    }
                    let mut on = [false; 7];
                    on[sd.num_days_from_monday() as usize] = true;
                    Window {
                        days: on,
                        start: NaiveTime::from_hms_opt(sh, 0, 0).unwrap_or(NaiveTime::MIN),
                        end_offset_minutes: end,
                        zone: Tz::UTC,
                        text: text.to_owned(),
                    }
                })
                .collect(),
        )
    }

    /// An EC2 instance event window's cron expression (`* 0-4,20-23 * * 1,5`: minute, month and
    /// day of month `*`; hours as values and ranges, each hour whole; days of the week `0`–`6`
    /// from Sunday, or `SUN`–`SAT`), all UTC.
    pub fn ec2_cron(cron: &str, text: &str) -> Result<Windows, String> {
        let fields: Vec<&str> = cron.split_whitespace().collect();
        let [minute, hours, dom, month, dows] = fields[..] else {
            return Err(format!("{cron:?}: expected 5 fields"));
        };
        if [minute, dom, month].iter().any(|f| *f != "*") {
            return Err(format!(
                "{cron:?}: only hours and days of the week may be set"
            ));
        }
        let hours = cron_set(hours, 24, |v| v.parse().ok())?;
        let days = cron_set(dows, 7, |v| {
            v.parse().ok().or_else(|| {
                ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
                    .iter()
                    .position(|d| d.eq_ignore_ascii_case(v))
                    .and_then(|p| u32::try_from(p).ok())
            })
        })?;
        let mut windows = Vec::new();
        for (d, on) in days.iter().enumerate() {
            if !on {
                continue;
            }
            // Cron counts from Sunday; `Window::days` from Monday.
            let mut day = [false; 7];
            day[(d + 6) % 7] = true;
            let mut h = 0;
            while h < 24 {
                if !hours[h] {
                    h += 1;
                    continue;
                }
                let from = h;
                while h < 24 && hours[h] {
                    h += 1;
                }
                windows.push(Window {
                    days: day,
                    start: NaiveTime::from_hms_opt(u32::try_from(from).unwrap_or(0), 0, 0)
                        .unwrap_or(NaiveTime::MIN),
                    end_offset_minutes: i64::try_from(h).unwrap_or(24) * 60,
                    zone: Tz::UTC,
                    text: text.to_owned(),
                });
            }
        }
        Ok(Windows(windows))
    }

    /// Joins two sets of windows.
    pub fn and(mut self, other: Windows) -> Windows {
        self.0.extend(other.0);
        self
    }

    /// The first moment at or after `at` inside one of the windows, if one comes within
    /// [`HORIZON_DAYS`]: `at` itself when a window (multi-day ones included) is open then.
    pub fn first_open_from(&self, at: DateTime<Utc>) -> Option<Occurrence> {
        let around = self.occurrences(at - Duration::days(8), at + Duration::days(HORIZON_DAYS));
        if let Some(open) = around.iter().find(|o| o.start <= at && at < o.end) {
            return Some(Occurrence {
                start: at,
                ..open.clone()
            });
        }
        around
            .into_iter()
            .filter(|o| o.start > at)
            .min_by_key(|o| o.start)
    }
}

/// The values a cron field lists (`*`, `a`, `a-b`, comma-separated), as flags `0..n`.
fn cron_set(
    field: &str,
    n: usize,
    value: impl Fn(&str) -> Option<u32>,
) -> Result<Vec<bool>, String> {
    let mut on = vec![false; n];
    for part in field.split(',') {
        let (from, to) = match part {
            "*" => (0, u32::try_from(n - 1).unwrap_or(0)),
            _ => match part.split_once('-') {
                Some((a, b)) => (
                    value(a).ok_or_else(|| format!("{part:?} is not a range"))?,
                    value(b).ok_or_else(|| format!("{part:?} is not a range"))?,
                ),
                None => {
                    let v = value(part).ok_or_else(|| format!("{part:?} is not a value"))?;
                    (v, v)
                }
            },
        };
        if from > to || to as usize >= n {
            return Err(format!("{part:?} is out of range"));
        }
        for v in from..=to {
            on[v as usize] = true;
        }
    }
    Ok(on)
}

impl Window {
    fn occurrence_on(&self, day: NaiveDate) -> Occurrence {
        let start_local = day.and_time(self.start);
        let end_local = day.and_time(NaiveTime::MIN) + Duration::minutes(self.end_offset_minutes);
        Occurrence {
            start: resolve(self.zone, start_local),
            end: resolve(self.zone, end_local),
            window: self.text.clone(),
        }
    }
}

/// A local wall-clock time as an instant: the earlier of two (fall back), or the first minute
/// after a gap (spring forward).
fn resolve(zone: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let mut t = local;
    // Gaps are at most a day long (Samoa skipped 2011-12-30); step minute by minute past one.
    for _ in 0..=(26 * 60) {
        match zone.from_local_datetime(&t) {
            LocalResult::Single(x) => return x.with_timezone(&Utc),
            LocalResult::Ambiguous(earlier, _) => return earlier.with_timezone(&Utc),
            LocalResult::None => t += Duration::minutes(1),
        }
    }
    // Unreachable for real zones; fall back to reading the wall time as UTC.
    Utc.from_utc_datetime(&local)
}

impl FromStr for Windows {
    type Err = WindowError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(';')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(parse_window)
            .collect::<Result<Vec<_>, _>>()
            .map(Windows)
    }
}

impl fmt::Display for Windows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let texts: Vec<&str> = self.0.iter().map(|w| w.text.as_str()).collect();
        f.write_str(&texts.join("; "))
    }
}

fn parse_window(entry: &str) -> Result<Window, WindowError> {
    let err = |problem: String| WindowError {
        entry: entry.to_owned(),
        problem,
    };
    let parts: Vec<&str> = entry.split_whitespace().collect();
    let [days, times, zone] = parts.as_slice() else {
        return Err(err(
            "expected `DAYS HH:MM-HH:MM ZONE`, e.g. `Sat,Sun 02:00-05:00 Asia/Tokyo`".into(),
        ));
    };
    let days = parse_days(days).map_err(err)?;
    let (start, end) = times
        .split_once('-')
        .ok_or_else(|| err(format!("{times:?} is not a HH:MM-HH:MM range")))?;
    let start_minutes = parse_hhmm(start).map_err(err)?;
    let end_minutes = parse_hhmm(end).map_err(err)?;
    if start_minutes == 24 * 60 {
        return Err(err("a window cannot start at 24:00".into()));
    }
    if start_minutes == end_minutes {
        return Err(err(
            "start and end are equal: the window would be empty".into()
        ));
    }
    let end_offset_minutes = if end_minutes > start_minutes {
        end_minutes
    } else {
        end_minutes + 24 * 60
    };
    let zone: Tz = zone.parse().map_err(|_| {
        err(format!(
            "{zone:?} is not an IANA time zone (e.g. Europe/Berlin, UTC)"
        ))
    })?;
    let start =
        NaiveTime::from_hms_opt((start_minutes / 60) as u32, (start_minutes % 60) as u32, 0)
            .ok_or_else(|| err(format!("{start:?} is not a time")))?;
    Ok(Window {
        days,
        start,
        end_offset_minutes,
        zone,
        text: entry.split_whitespace().collect::<Vec<_>>().join(" "),
    })
}

fn parse_hhmm(s: &str) -> Result<i64, String> {
    let bad = || format!("{s:?} is not a HH:MM time from 00:00 to 24:00");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let h: i64 = h.parse().map_err(|_| bad())?;
    let m: i64 = m.parse().map_err(|_| bad())?;
    if !(0..=24).contains(&h) || !(0..60).contains(&m) || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

fn parse_days(s: &str) -> Result<[bool; 7], String> {
    let mut days = [false; 7];
    if s.eq_ignore_ascii_case("daily") {
        return Ok([true; 7]);
    }
    for item in s.split(',').filter(|i| !i.is_empty()) {
        match item.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (weekday(a)?, weekday(b)?);
                let mut d = a;
                loop {
                    days[d.num_days_from_monday() as usize] = true;
                    if d == b {
                        break;
                    }
                    d = d.succ();
                }
            }
            None => days[weekday(item)?.num_days_from_monday() as usize] = true,
        }
    }
    if days.iter().any(|d| *d) {
        Ok(days)
    } else {
        Err(format!("{s:?} names no days"))
    }
}

fn weekday(s: &str) -> Result<Weekday, String> {
    s.parse::<Weekday>().map_err(|_| {
        format!("{s:?} is not a day (Mon, Tue, … Sun, a range like Mon-Fri, or Daily)")
    })
}

/// Reads `12h`, `90m`, `2d`, `1d12h`, `3600s` (the `DEADLINE_MARGIN` format).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration like 24h, 90m, 1d12h");
    let mut total = Duration::zero();
    let mut digits = String::new();
    let mut any = false;
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        // Checked all the way: a huge number is a bad value, not a panic at start-up.
        let part = match c.to_ascii_lowercase() {
            'd' => Duration::try_days(n),
            'h' => Duration::try_hours(n),
            'm' => Duration::try_minutes(n),
            's' => Duration::try_seconds(n),
            _ => return Err(bad()),
        }
        .ok_or_else(bad)?;
        total = total.checked_add(&part).ok_or_else(bad)?;
        any = true;
    }
    if !digits.is_empty() || !any {
        return Err(bad());
    }
    Ok(total)
}

/// `1d 12h`, `24h`, `90m` for messages.
pub fn human(d: Duration) -> String {
    let minutes = d.num_minutes();
    match (minutes / 60, minutes % 60) {
        (h, 0) => format!("{h}h"),
        (0, m) => format!("{m}m"),
        (h, m) => format!("{h}h{m}m"),
    }
}

#[cfg(test)]
#[path = "window_tests.rs"]
mod tests;
