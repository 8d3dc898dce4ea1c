//! Where moments sit on a drawn timeline: percentages of its width, computed here so the
//! template only places elements (`left: X%`).

use chrono::{DateTime, Duration, Utc};

/// The stretch of time a timeline shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Span {
    /// The smallest span holding every moment, widened by a twentieth on each side so markers at
    /// the ends stay visible; an hour around a single moment. `None` without any moment.
    pub fn around(moments: impl IntoIterator<Item = DateTime<Utc>>) -> Option<Span> {
        let mut moments = moments.into_iter();
        let first = moments.next()?;
        let (from, to) = moments.fold((first, first), |(lo, hi), t| (lo.min(t), hi.max(t)));
        let pad = ((to - from) / 20).max(Duration::minutes(30));
        Some(Span {
            from: from - pad,
            to: to + pad,
        })
    }

    /// Where `t` sits, in percent of the span (see [`percent`]).
    pub fn at(&self, t: DateTime<Utc>) -> f64 {
        percent(t, self.from, self.to)
    }
}

/// Where `t` sits between `from` (0) and `to` (100), clamped to that range and rounded to a
/// hundredth; 0 when the span is empty or reversed.
pub fn percent(t: DateTime<Utc>, from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    let width = (to - from).num_seconds();
    if width <= 0 {
        return 0.0;
    }
    let offset = (t - from).num_seconds().clamp(0, width);
    // Seconds in any timeline fit an f64 exactly (well under 2^53).
    let ratio = offset as f64 / width as f64;
    (ratio * 10_000.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn a_moment_sits_at_its_share_of_the_span() {
        let (from, to) = (at("2026-12-01T00:00:00Z"), at("2026-12-03T00:00:00Z"));
        assert_eq!(percent(from, from, to), 0.0);
        assert_eq!(percent(at("2026-12-02T00:00:00Z"), from, to), 50.0);
        assert_eq!(percent(at("2026-12-01T12:00:00Z"), from, to), 25.0);
        assert_eq!(percent(to, from, to), 100.0);
    }

    #[test]
    fn a_moment_outside_the_span_is_pinned_to_its_nearer_end() {
        let (from, to) = (at("2026-12-01T00:00:00Z"), at("2026-12-02T00:00:00Z"));
        assert_eq!(percent(at("2026-11-20T00:00:00Z"), from, to), 0.0);
        assert_eq!(percent(at("2026-12-09T00:00:00Z"), from, to), 100.0);
    }

    #[test]
    fn an_empty_or_reversed_span_puts_everything_at_the_start() {
        let t = at("2026-12-01T00:00:00Z");
        assert_eq!(percent(t, t, t), 0.0);
        assert_eq!(percent(t, t + Duration::hours(1), t), 0.0);
    }

    #[test]
    fn positions_are_rounded_to_a_hundredth_of_a_percent() {
        let from = at("2026-12-01T00:00:00Z");
        let to = from + Duration::seconds(3);
        assert_eq!(percent(from + Duration::seconds(1), from, to), 33.33);
    }

    #[test]
    fn the_span_around_moments_is_padded_so_the_first_and_last_stay_inside() {
        let (a, b) = (at("2026-12-01T00:00:00Z"), at("2026-12-03T00:00:00Z"));
        let span = Span::around([b, a]).unwrap_or(Span { from: a, to: a });
        assert!(span.from < a && span.to > b);
        assert!(span.at(a) > 0.0 && span.at(b) < 100.0);
        assert_eq!(span.at(a + Duration::days(1)), 50.0);
        assert_eq!(Span::around(Vec::new()), None);
    }

    #[test]
    fn a_single_moment_gets_an_hour_around_it() {
        let a = at("2026-12-01T00:00:00Z");
        let span = Span::around([a]).unwrap_or(Span { from: a, to: a });
        assert_eq!(span.to - span.from, Duration::hours(1));
        assert_eq!(span.at(a), 50.0);
    }
}
