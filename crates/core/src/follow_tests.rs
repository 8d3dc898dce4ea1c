//! Follow-up rules on hand-built outcomes and entries: no ports, no runtime.

use serde_json::json;

use super::*;
use crate::target::{ServiceRef, Target};
use crate::testing::at;

pub(super) fn web() -> Target {
    Target::Service(ServiceRef {
        cluster: "prod".into(),
        service: "web".into(),
    })
}

/// The invocation's wall clock.
pub(super) fn now() -> DateTime<Utc> {
    at("2026-11-25T10:00:00Z")
}

/// AWS's deadline, five days after `now`.
pub(super) fn deadline() -> DateTime<Utc> {
    at("2026-11-30T12:00:00Z")
}

pub(super) fn pending() -> Outcome {
    Outcome::new(
        web(),
        Status::Pending,
        Code::Verifying,
        "deployment rolling",
    )
}

fn unreached() -> Outcome {
    Outcome::failed(
        web(),
        Code::TimeBudgetExhausted,
        "not reached before the invocation deadline",
        true,
    )
}

pub(super) fn busy() -> Outcome {
    Outcome::failed(
        web(),
        Code::DeploymentInProgress,
        "a CodeDeploy deployment of the group is in progress",
        true,
    )
}

fn verified() -> Outcome {
    Outcome::new(web(), Status::AlreadyDone, Code::Verified, "replaced")
}

fn rollout_failed() -> Outcome {
    Outcome::failed(web(), Code::RolloutFailed, "circuit breaker", false)
}

fn skipped() -> Outcome {
    Outcome::new(web(), Status::Skipped, Code::OptedOut, "opted out")
}

fn check_of(next: Next) -> (u32, DateTime<Utc>, String) {
    match next {
        Next::Check { check, at, why } => (check, at, why),
        Next::Final => panic!("expected another check, got Next::Final"),
    }
}

/// A service the ledger says we forced a deployment of at 09:00, not yet checked.
pub(super) fn acted_entry() -> Entry {
    Entry {
        notice: "arn:aws:health:us-east-1::event/ECS/AWS_ECS_TASK_PATCHING_RETIREMENT/1".into(),
        resource: "service:prod/web".into(),
        target: "service prod/web".into(),
        state: State::Acted,
        action: Some(Action::ForceNewDeployment),
        code: Some(Code::ForcedNewDeployment),
        before: Some("ecs-svc/111".into()),
        after: Some("ecs-svc/222".into()),
        after_created_at: None,
        service: None,
        awaiting: None,
        reason: "forced a new deployment".into(),
        attempts: 1,
        first_seen: at("2026-11-25T08:55:00Z"),
        updated_at: at("2026-11-25T09:00:00Z"),
        acted_at: Some(at("2026-11-25T09:00:00Z")),
        notice_status: Some("upcoming".into()),
        deadline: Some(deadline()),
        lease_until: None,
        owner: Some("req-1".into()),
        expires_at: at("2026-12-30T12:00:00Z"),
        checks: 0,
        verified_at: None,
    }
}

pub(super) fn followed() -> Followed {
    Followed::of(&web(), &acted_entry())
}

// CheckPolicy::interval

#[test]
fn the_default_policy_waits_5_10_20_40_minutes_then_an_hour_at_most() {
    let policy = CheckPolicy::default();

    let waits: Vec<i64> = (1..=8).map(|n| policy.interval(n).num_minutes()).collect();

    assert_eq!(waits, vec![5, 10, 20, 40, 60, 60, 60, 60]);
}

#[test]
fn a_huge_check_number_stays_at_the_cap_without_overflowing() {
    assert_eq!(
        CheckPolicy::default().interval(u32::MAX),
        Duration::minutes(60)
    );
}

#[test]
fn check_number_zero_waits_the_first_interval() {
    assert_eq!(CheckPolicy::default().interval(0), Duration::minutes(5));
}

#[test]
fn a_cap_below_the_first_interval_caps_every_check_including_the_first() {
    let policy = CheckPolicy {
        first: Duration::minutes(5),
        cap: Duration::minutes(3),
        continuation: Duration::minutes(1),
        ..CheckPolicy::default()
    };

    assert_eq!(policy.interval(1), Duration::minutes(3));
    assert_eq!(policy.interval(2), Duration::minutes(3));
    assert_eq!(policy.interval(7), Duration::minutes(3));
}

// next

/// `next` with the default policy, for a remediator with a ledger.
fn decide(
    outcomes: &[Outcome],
    check: Option<u32>,
    now: DateTime<Utc>,
    deadline: Option<DateTime<Utc>>,
) -> Next {
    next(
        outcomes,
        check,
        now,
        deadline,
        &CheckPolicy::default(),
        true,
    )
}

#[test]
fn work_not_reached_continues_a_minute_later_as_the_first_check() {
    let next = decide(&[unreached(), verified()], None, now(), Some(deadline()));

    let (check, when, why) = check_of(next);
    assert_eq!(check, 1);
    assert_eq!(when, at("2026-11-25T10:01:00Z"));
    assert!(why.starts_with("continuation: 1 resource(s)"), "{why}");
}

#[test]
fn a_continuation_wins_over_the_growing_interval_of_pending_resources() {
    let next = decide(
        &[pending(), unreached(), busy()],
        Some(3),
        now(),
        Some(deadline()),
    );

    let (check, when, why) = check_of(next);
    assert_eq!(check, 4);
    assert_eq!(when, now() + Duration::minutes(1));
    assert!(why.contains("continuation"), "{why}");
}

#[test]
fn a_pending_resource_is_checked_after_the_interval_of_the_next_check_number() {
    let first = check_of(decide(&[pending()], None, now(), Some(deadline())));
    let fourth = check_of(decide(&[pending()], Some(3), now(), Some(deadline())));

    assert_eq!(
        (first.0, first.1),
        (1, now() + Duration::minutes(5)),
        "{first:?}"
    );
    assert_eq!(
        (fourth.0, fourth.1),
        (4, now() + Duration::minutes(40)),
        "{fourth:?}"
    );
    assert_eq!(first.2, "1 resource(s) being replaced, 0 to retry");
}

#[test]
fn a_retryable_failure_is_checked_again_and_counted_as_to_retry() {
    let (check, when, why) = check_of(decide(
        &[busy(), verified()],
        Some(1),
        now(),
        Some(deadline()),
    ));

    assert_eq!(check, 2);
    assert_eq!(when, now() + Duration::minutes(10));
    assert_eq!(why, "0 resource(s) being replaced, 1 to retry");
}

#[test]
fn outcomes_that_are_all_final_need_no_further_check() {
    let next = decide(
        &[verified(), rollout_failed(), skipped()],
        Some(2),
        now(),
        Some(deadline()),
    );

    assert_eq!(next, Next::Final);
}

#[test]
fn no_outcomes_at_all_need_no_check() {
    assert_eq!(decide(&[], None, now(), None), Next::Final);
}

#[test]
fn at_aws_deadline_nothing_is_checked_again_even_while_pending() {
    let outcomes = [pending(), unreached(), busy()];

    assert_eq!(
        decide(&outcomes, Some(5), deadline(), Some(deadline())),
        Next::Final
    );
    assert_eq!(
        decide(
            &outcomes,
            Some(5),
            deadline() + Duration::seconds(1),
            Some(deadline())
        ),
        Next::Final
    );
}

#[test]
fn a_check_that_would_fall_past_aws_deadline_is_held_at_the_deadline() {
    let shortly_before = deadline() - Duration::minutes(2);

    let (check, when, _) = check_of(decide(
        &[pending()],
        Some(3),
        shortly_before,
        Some(deadline()),
    ));

    assert_eq!(check, 4);
    assert_eq!(when, deadline());
}

#[test]
fn without_a_deadline_checks_go_on_at_the_capped_interval() {
    let (check, when, _) = check_of(decide(&[pending()], Some(10), now(), None));

    assert_eq!((check, when), (11, now() + Duration::minutes(60)));
}

#[test]
fn the_last_possible_check_number_does_not_overflow() {
    let (check, ..) = check_of(decide(
        &[pending()],
        Some(u32::MAX),
        now(),
        Some(deadline()),
    ));

    assert_eq!(check, u32::MAX);
}

fn forced_now() -> Outcome {
    Outcome::new(
        web(),
        Status::Acted,
        Code::ForcedNewDeployment,
        "forced a new deployment",
    )
    .with_deployments(Some("ecs-svc/111".into()), Some("ecs-svc/222".into()))
}

fn found_replacing() -> Outcome {
    Outcome::new(
        web(),
        Status::AlreadyDone,
        Code::AlreadyReplaced,
        "a deployment newer than the notice",
    )
    .with_deployments(Some("ecs-svc/111".into()), Some("ecs-svc/333".into()))
}

#[test]
fn with_a_ledger_a_resource_just_acted_on_is_followed_by_a_check() {
    let (check, when, why) = check_of(decide(&[forced_now()], None, now(), Some(deadline())));

    assert_eq!((check, when), (1, now() + Duration::minutes(5)));
    assert_eq!(why, "1 resource(s) being replaced, 0 to retry");
}

#[test]
fn with_a_ledger_a_resource_found_being_replaced_is_followed_by_a_check() {
    assert!(matches!(
        decide(&[found_replacing()], None, now(), Some(deadline())),
        Next::Check { check: 1, .. }
    ));
}

#[test]
fn without_a_ledger_acted_resources_are_not_followed() {
    let next = next(
        &[forced_now(), found_replacing()],
        None,
        now(),
        Some(deadline()),
        &CheckPolicy::default(),
        false,
    );

    assert_eq!(next, Next::Final);
}

#[test]
fn without_a_ledger_pending_and_retryable_resources_are_still_checked() {
    let next = next(
        &[pending(), busy()],
        None,
        now(),
        Some(deadline()),
        &CheckPolicy::default(),
        false,
    );

    let (_, _, why) = check_of(next);
    assert_eq!(why, "1 resource(s) being replaced, 1 to retry");
}

#[test]
fn an_action_that_recorded_nothing_to_look_at_is_not_followed() {
    let blind = Outcome {
        deployment_after: None,
        ..forced_now()
    };

    assert_eq!(decide(&[blind], None, now(), Some(deadline())), Next::Final);
}

#[test]
fn a_resource_already_verified_or_answered_from_memory_is_not_followed_again() {
    let verified_before = Outcome {
        code: Code::Verified,
        ..found_replacing()
    };
    let remembered = Outcome {
        code: Code::AlreadyHandled,
        ..found_replacing()
    };

    assert_eq!(
        decide(
            &[verified_before, remembered],
            Some(2),
            now(),
            Some(deadline())
        ),
        Next::Final
    );
}

#[test]
fn a_continuation_waits_what_the_policy_says() {
    let policy = CheckPolicy {
        continuation: Duration::seconds(90),
        ..CheckPolicy::default()
    };

    let (_, when, _) = check_of(next(&[unreached()], None, now(), None, &policy, true));

    assert_eq!(when, now() + Duration::seconds(90));
}

// close_past_deadline

#[test]
fn before_the_deadline_retryable_failures_stay_retryable() {
    let outcomes = vec![busy(), pending()];

    let closed = close_past_deadline(
        outcomes.clone(),
        deadline() - Duration::seconds(1),
        Some(deadline()),
    );

    assert_eq!(closed, outcomes);
}

#[test]
fn without_a_deadline_nothing_is_closed() {
    let outcomes = vec![busy()];

    assert_eq!(close_past_deadline(outcomes.clone(), now(), None), outcomes);
}

#[test]
fn at_the_deadline_a_retryable_failure_becomes_final_and_says_why() {
    let closed = close_past_deadline(vec![busy()], deadline(), Some(deadline()));

    let [o] = closed.as_slice() else {
        panic!("expected one outcome, got {closed:?}");
    };
    assert_eq!(
        (o.status, o.code, o.retryable),
        (Status::Failed, Code::DeploymentInProgress, false)
    );
    assert_eq!(
        o.reason,
        "a CodeDeploy deployment of the group is in progress; AWS's deadline 2026-11-30T12:00:00+00:00 has passed, so it is not retried"
    );
}

#[test]
fn past_the_deadline_outcomes_other_than_retryable_failures_are_left_as_they_are() {
    let others = vec![pending(), verified(), rollout_failed(), skipped()];

    let closed = close_past_deadline(
        others.clone(),
        deadline() + Duration::hours(1),
        Some(deadline()),
    );

    assert_eq!(closed, others);
}

// schedule_name

#[test]
fn a_schedule_name_is_the_same_for_the_same_notice_and_check() {
    let key = "arn:aws:health:us-east-1::event/ECS/X/1#123456789012";

    assert_eq!(
        schedule_name(key, "0a1b2c3d", 3),
        schedule_name(key, "0a1b2c3d", 3)
    );
}

#[test]
fn schedule_names_differ_between_notices_and_between_checks() {
    let a = "arn:aws:health:us-east-1::event/ECS/X/1#123456789012";
    let b = "arn:aws:health:us-east-1::event/ECS/X/1#210987654321";

    assert_ne!(
        schedule_name(a, "0a1b2c3d", 1),
        schedule_name(b, "0a1b2c3d", 1)
    );
    assert_ne!(
        schedule_name(a, "0a1b2c3d", 1),
        schedule_name(a, "0a1b2c3d", 2)
    );
}

#[test]
fn a_schedule_name_fits_scheduler_rules_even_for_long_keys_and_large_numbers() {
    let long_key = format!("eks:{}", "é/|#:".repeat(200));

    for name in [
        schedule_name(&long_key, "0a1b2c3d", u32::MAX),
        schedule_name("", "0a1b2c3d", 0),
        schedule_name("arn:aws:health:us-east-1::event/ECS/X/1", "0a1b2c3d", 1),
    ] {
        assert!(name.len() <= 64, "{name} is {} long", name.len());
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')),
            "{name}"
        );
        assert!(name.starts_with("check-"), "{name}");
    }
    assert!(schedule_name(&long_key, "0a1b2c3d", 7).ends_with("-7"));
}

// check_event / unwrap_check

fn health_event() -> Value {
    json!({
        "source": "aws.health",
        "detail-type": "AWS Health Event",
        "detail": {
            "eventArn": "arn:aws:health:us-east-1::event/ECS/X/1",
            "eventTypeCode": "AWS_ECS_TASK_PATCHING_RETIREMENT"
        }
    })
}

#[test]
fn a_check_envelope_unwraps_to_the_original_event_and_its_number() {
    let original = health_event();

    let envelope = check_event(&original, 4, "req-1");

    assert_eq!(envelope["source"], CHECK_SOURCE);
    assert_eq!(envelope["detail-type"], CHECK_DETAIL_TYPE);
    assert_eq!(unwrap_check(envelope), (original, Some(4)));
}

#[test]
fn a_check_envelope_survives_serialization_to_the_schedule_input() {
    let original = health_event();
    let input = check_event(&original, 2, "req-1").to_string();

    let parsed: Value = serde_json::from_str(&input).expect("the envelope is valid JSON");

    assert_eq!(unwrap_check(parsed), (original, Some(2)));
}

#[test]
fn a_health_event_passes_through_unchanged_as_no_check() {
    let raw = health_event();

    assert_eq!(unwrap_check(raw.clone()), (raw, None));
}

#[test]
fn an_envelope_without_its_event_passes_through_as_it_is() {
    let broken = json!({
        "source": CHECK_SOURCE,
        "detail-type": CHECK_DETAIL_TYPE,
        "detail": { "check": 2 }
    });

    assert_eq!(unwrap_check(broken.clone()), (broken, None));
}

#[test]
fn an_envelope_whose_check_number_is_not_a_u32_passes_through_as_it_is() {
    for check in [json!(-1), json!(u64::from(u32::MAX) + 1), json!("2")] {
        let broken = json!({
            "source": CHECK_SOURCE,
            "detail-type": CHECK_DETAIL_TYPE,
            "detail": { "check": check, "event": health_event() }
        });

        assert_eq!(unwrap_check(broken.clone()), (broken, None));
    }
}

#[test]
fn an_event_from_another_source_with_a_check_shaped_detail_is_not_a_check() {
    let other = json!({
        "source": "aws.health",
        "detail-type": CHECK_DETAIL_TYPE,
        "detail": { "check": 1, "event": health_event() }
    });

    assert_eq!(unwrap_check(other.clone()), (other, None));
}

// Followed::of

#[test]
fn a_followed_resource_carries_what_the_ledger_recorded() {
    let f = followed();

    assert_eq!(f.target, web());
    assert_eq!(f.action, Some(Action::ForceNewDeployment));
    assert_eq!(f.code, Some(Code::ForcedNewDeployment));
    assert_eq!(f.before.as_deref(), Some("ecs-svc/111"));
    assert_eq!(f.after.as_deref(), Some("ecs-svc/222"));
    assert_eq!(f.acted_at, at("2026-11-25T09:00:00Z"));
}

#[test]
fn a_followed_resource_without_an_action_time_counts_from_the_last_update() {
    let entry = Entry {
        acted_at: None,
        updated_at: at("2026-11-25T09:30:00Z"),
        ..acted_entry()
    };

    assert_eq!(
        Followed::of(&web(), &entry).acted_at,
        at("2026-11-25T09:30:00Z")
    );
}
