//! Builders shared by tests: the core's own unit tests, and other crates' tests through the
//! `test-util` feature. Test input only: they panic on bad literals.

use chrono::{DateTime, Utc};

use crate::notice::PodNotice;

/// An instant from an RFC 3339 literal.
pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("bad test instant {s}: {e}"))
}

/// The EKS notice for pod `prod/shop/web-5d8c9c5d4b-8jx7l` (a Deployment's pod held by a
/// PodDisruptionBudget), published at `published`, deleted by EKS at `terminates`.
pub fn pod_notice(published: DateTime<Utc>, terminates: DateTime<Utc>) -> PodNotice {
    PodNotice {
        event_id: Some("e-1".into()),
        account: Some("123456789012".into()),
        region: Some("us-east-1".into()),
        published_at: published,
        cluster: "prod".into(),
        fargate_profile: Some("fp".into()),
        namespace: "shop".into(),
        pod: "web-5d8c9c5d4b-8jx7l".into(),
        evict_error: Some(
            "Cannot evict pod as it would violate the pod's disruption budget".into(),
        ),
        scheduled_termination: terminates,
    }
}
