//! The notice's final summary, sent once however many chains of checks follow the notice.
//!
//! A notice can be followed by several chains: a delivery starts one, an update that names more
//! resources starts another, a redelivery after the first chain's checks ran starts a third.
//! Each chain ends with a check that has nothing left to follow, and each used to send "the
//! final summary". Now the chain's last check reads the notice's entries (after recording its
//! own): while another chain still follows a resource, the last word is that chain's; once none
//! does, the check claims the notice's summary marker (one conditional write), and only the
//! claim's winner sends. Two chains ending together both read everything settled; the marker
//! picks one. A ledger that cannot be read or written leaves the summary to be sent: twice is
//! better than never.

use chrono::{DateTime, Utc};

use super::{ClaimRequest, Entry, State};

/// The resource id of a notice's summary marker: no target's identity starts with `#`.
pub const SUMMARY_MARKER: &str = "#final-summary";

impl Entry {
    /// Whether this entry is a notice's summary marker rather than a resource.
    pub fn is_marker(&self) -> bool {
        self.resource == SUMMARY_MARKER
    }
}

/// Whether a chain of checks still has work on `entry` at `now`: claimed under a live lease,
/// acted on and being followed, or deferred to a window. Verified, unreplaced, skipped, failed
/// and done-without-a-replacement are settled.
pub fn still_open(entry: &Entry, now: DateTime<Utc>) -> bool {
    match entry.state {
        State::Claimed => entry.lease_until.is_some_and(|until| until > now),
        State::Acted | State::Done => entry.after.is_some(),
        State::Deferred => true,
        State::Verified | State::Unreplaced | State::Skipped | State::Failed => false,
    }
}

/// The first resource of `entries` another chain still works on, other than `mine` (the
/// resources this report has just settled: what it says of them stands over what was read).
pub fn open_elsewhere<'a>(
    entries: &'a [Entry],
    mine: &[String],
    now: DateTime<Utc>,
) -> Option<&'a Entry> {
    entries
        .iter()
        .filter(|e| !e.is_marker() && !mine.contains(&e.resource))
        .find(|e| still_open(e, now))
}

/// The claim of a notice's summary marker by invocation `request_id`: held until the entry
/// expires, so no other invocation takes it while the notice is remembered.
pub fn marker_claim(
    notice: &str,
    request_id: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> ClaimRequest {
    ClaimRequest {
        notice: notice.to_owned(),
        resource: SUMMARY_MARKER.to_owned(),
        target: "the notice's final summary".to_owned(),
        owner: request_id.to_owned(),
        now,
        lease_until: expires_at,
        notice_status: None,
        deadline: None,
        expires_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{claim_entry, claimable};
    use crate::testing::at;

    fn entry(resource: &str, state: State, after: Option<&str>) -> Entry {
        let now = at("2026-11-20T09:00:00Z");
        let mut e = claim_entry(
            &ClaimRequest {
                notice: "n".into(),
                resource: resource.into(),
                target: resource.into(),
                owner: "chain-a".into(),
                now,
                lease_until: now + chrono::Duration::minutes(16),
                notice_status: None,
                deadline: None,
                expires_at: now + chrono::Duration::days(90),
            },
            None,
        );
        e.state = state;
        e.after = after.map(str::to_owned);
        e
    }

    #[test]
    fn a_resource_being_followed_by_another_chain_keeps_the_last_word_there() {
        let now = at("2026-11-20T09:05:00Z");
        let entries = vec![
            entry("service:prod/a", State::Verified, Some("d-1")),
            entry("service:prod/b", State::Acted, Some("d-2")),
        ];
        assert_eq!(
            open_elsewhere(&entries, &["service:prod/a".into()], now).map(|e| &e.resource),
            Some(&"service:prod/b".to_owned())
        );
        assert!(open_elsewhere(&entries, &["service:prod/b".into()], now).is_none());
    }

    #[test]
    fn settled_entries_an_expired_claim_and_the_marker_leave_nothing_open() {
        let now = at("2026-11-20T10:00:00Z");
        let mut entries = vec![
            entry("service:prod/a", State::Unreplaced, Some("d-1")),
            entry("service:prod/b", State::Failed, None),
            entry("service:prod/c", State::Done, None),
            entry("service:prod/d", State::Claimed, None),
            entry(SUMMARY_MARKER, State::Claimed, None),
        ];
        entries[4].lease_until = Some(now + chrono::Duration::days(90));
        assert!(open_elsewhere(&entries, &[], now).is_none());
        assert!(still_open(&entry("x", State::Deferred, None), now));
    }

    #[test]
    fn the_marker_is_won_once_and_lost_to_any_other_invocation_until_it_expires() {
        let now = at("2026-11-20T10:00:00Z");
        let request = marker_claim("n", "req-1", now, now + chrono::Duration::days(90));
        let taken = claim_entry(&request, None);
        let later = now + chrono::Duration::days(30);
        assert!(claimable(None, now, "req-1"));
        assert!(!claimable(Some(&taken), later, "req-2"));
        assert!(taken.is_marker());
    }
}
