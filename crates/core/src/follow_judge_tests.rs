//! `judge`: a check's verdicts become outcomes and ledger entries (hand-built, no ports).

use super::*;
use crate::target::{ServiceRef, Target};

use super::follow_tests::{acted_entry, busy, deadline, followed, now, pending, web};

// judge

#[test]
fn a_verified_resource_is_reported_done_and_recorded_verified() {
    let (outcome, entry) = judge(
        &followed(),
        &acted_entry(),
        Verdict::Verified("deployment ecs-svc/222 completed".into()),
        now(),
        Some(deadline()),
    );

    assert_eq!(
        (outcome.status, outcome.code, outcome.retryable),
        (Status::AlreadyDone, Code::Verified, false)
    );
    assert_eq!(outcome.reason, "deployment ecs-svc/222 completed");
    assert_eq!(outcome.target, web());
    assert_eq!(outcome.action, Some(Action::ForceNewDeployment));
    assert_eq!(outcome.deployment_before.as_deref(), Some("ecs-svc/111"));
    assert_eq!(outcome.deployment_after.as_deref(), Some("ecs-svc/222"));
    assert_eq!(entry.state, State::Verified);
    assert_eq!(entry.verified_at, Some(now()));
    assert_eq!(entry.updated_at, now());
    assert_eq!(entry.checks, 1);
    assert_eq!(entry.code, Some(Code::Verified));
    assert_eq!(entry.reason, "deployment ecs-svc/222 completed");
}

#[test]
fn a_pending_resource_before_the_deadline_stays_acted_and_counts_the_check() {
    let before = Entry {
        checks: 2,
        ..acted_entry()
    };

    let (outcome, entry) = judge(
        &followed(),
        &before,
        Verdict::Pending("1/2 running".into()),
        now(),
        Some(deadline()),
    );

    assert_eq!(
        (outcome.status, outcome.code),
        (Status::Pending, Code::Verifying)
    );
    assert_eq!(outcome.reason, "1/2 running");
    assert_eq!(entry.state, State::Acted);
    assert_eq!(entry.checks, 3);
    assert_eq!(entry.updated_at, now());
    assert_eq!(entry.verified_at, None);
    assert_eq!(
        entry.code,
        Some(Code::ForcedNewDeployment),
        "a pending check keeps the code that acted"
    );
    assert_eq!(entry.reason, "1/2 running");
    assert_eq!(entry.acted_at, before.acted_at);
    assert_eq!(entry.after, before.after);
}

#[test]
fn a_pending_resource_without_a_deadline_stays_pending() {
    let (outcome, entry) = judge(
        &followed(),
        &acted_entry(),
        Verdict::Pending("rolling".into()),
        now(),
        None,
    );

    assert_eq!(outcome.status, Status::Pending);
    assert_eq!(entry.state, State::Acted);
}

#[test]
fn a_resource_still_pending_at_the_deadline_is_unreplaced_for_good() {
    for when in [deadline(), deadline() + Duration::minutes(30)] {
        let (outcome, entry) = judge(
            &followed(),
            &acted_entry(),
            Verdict::Pending("1/2 running".into()),
            when,
            Some(deadline()),
        );

        assert_eq!(
            (outcome.status, outcome.code, outcome.retryable),
            (Status::Failed, Code::UnverifiedByDeadline, false)
        );
        assert!(
            outcome.reason.contains(
                "not verified replaced by AWS's deadline 2026-11-30T12:00:00+00:00: 1/2 running"
            ) && outcome.reason.starts_with("acted at "),
            "{}",
            outcome.reason
        );
        assert_eq!(entry.state, State::Unreplaced);
        assert_eq!(entry.code, Some(Code::UnverifiedByDeadline));
        assert_eq!(entry.verified_at, None);
        assert_eq!(entry.checks, 1);
    }
}

#[test]
fn a_failed_verdict_is_a_final_failure_with_its_own_code() {
    let (outcome, entry) = judge(
        &followed(),
        &acted_entry(),
        Verdict::Failed(Code::RolloutFailed, "circuit breaker rolled back".into()),
        now(),
        Some(deadline()),
    );

    assert_eq!(
        (outcome.status, outcome.code, outcome.retryable),
        (Status::Failed, Code::RolloutFailed, false)
    );
    assert_eq!(outcome.reason, "circuit breaker rolled back");
    assert_eq!(outcome.deployment_after.as_deref(), Some("ecs-svc/222"));
    assert_eq!(entry.state, State::Unreplaced);
    assert_eq!(entry.code, Some(Code::RolloutFailed));
    assert_eq!(entry.reason, "circuit breaker rolled back");
    assert_eq!(entry.verified_at, None);
}

#[test]
fn judging_keeps_what_the_entry_knows_about_the_notice_and_the_claim() {
    let before = acted_entry();

    let (_, entry) = judge(
        &followed(),
        &before,
        Verdict::Verified("done".into()),
        now(),
        Some(deadline()),
    );

    assert_eq!(
        (
            &entry.notice,
            &entry.resource,
            &entry.target,
            entry.attempts,
            entry.first_seen,
            entry.deadline,
            entry.expires_at,
        ),
        (
            &before.notice,
            &before.resource,
            &before.target,
            before.attempts,
            before.first_seen,
            before.deadline,
            before.expires_at,
        )
    );
}

#[test]
fn the_check_count_saturates_instead_of_overflowing() {
    let before = Entry {
        checks: u32::MAX,
        ..acted_entry()
    };

    let (_, entry) = judge(
        &followed(),
        &before,
        Verdict::Pending("rolling".into()),
        now(),
        None,
    );

    assert_eq!(entry.checks, u32::MAX);
}

#[test]
fn an_update_naming_more_resources_starts_its_own_chain_under_the_same_prefix() {
    let key = "arn:aws:health:us-east-1::event/ECS/X/1";
    let web = Target::Service(crate::target::ServiceRef {
        cluster: "prod".into(),
        service: "web".into(),
    });
    let api = Target::Service(crate::target::ServiceRef {
        cluster: "prod".into(),
        service: "api".into(),
    });
    let first = scope(std::slice::from_ref(&web));
    let update = scope(&[web.clone(), api.clone()]);

    assert_eq!(update, scope(&[api, web]), "order does not matter");
    assert_ne!(
        schedule_name(key, &first, 1),
        schedule_name(key, &update, 1)
    );
    assert!(schedule_name(key, &update, 1).starts_with(&schedule_prefix(key)));
}

#[test]
fn waiting_resources_are_retried_only_until_the_margin_before_aws_deadline() {
    let policy = CheckPolicy::default();
    let late = deadline() - Duration::hours(12);

    assert_eq!(
        next(&[busy()], None, late, Some(deadline()), &policy, true),
        Next::Final,
        "twelve hours before the deadline a release still in progress is a person's call"
    );
    assert!(matches!(
        next(&[pending()], None, late, Some(deadline()), &policy, true),
        Next::Check { .. }
    ));
}

#[test]
fn checks_of_a_notice_without_a_deadline_stop_after_the_policys_count() {
    let policy = CheckPolicy::default();

    assert!(matches!(
        next(
            &[pending()],
            Some(policy.max_checks_without_deadline - 1),
            now(),
            None,
            &policy,
            true
        ),
        Next::Check { .. }
    ));
    assert_eq!(
        next(
            &[pending()],
            Some(policy.max_checks_without_deadline),
            now(),
            None,
            &policy,
            true
        ),
        Next::Final
    );
}

#[test]
fn a_hook_awaiting_a_person_is_pending_news_once_then_remembered_until_another_hook_waits() {
    let awaiting = |hook: &str| Verdict::Awaiting {
        hook: hook.into(),
        reason: format!("paused at lifecycle hook {hook}"),
    };

    let (first, entry) = judge(
        &followed(),
        &acted_entry(),
        awaiting("h-1"),
        now(),
        Some(deadline()),
    );
    let (again, entry) = judge(
        &followed(),
        &entry,
        awaiting("h-1"),
        now(),
        Some(deadline()),
    );
    let (other, _) = judge(
        &followed(),
        &entry,
        awaiting("h-2"),
        now(),
        Some(deadline()),
    );

    assert_eq!(
        (first.status, first.code),
        (Status::Pending, Code::AwaitingApproval)
    );
    assert_eq!(entry.state, State::Acted, "still followed");
    assert_eq!(
        entry.code,
        Some(Code::ForcedNewDeployment),
        "what acted stays recorded"
    );
    assert_eq!((first.told, again.told, other.told), (false, true, false));
    assert!(
        !again.remembered,
        "a fresh observation, counted as pending in the metrics"
    );
}

#[test]
fn a_hook_still_awaiting_at_aws_deadline_is_not_verified_in_time() {
    let (outcome, entry) = judge(
        &followed(),
        &acted_entry(),
        Verdict::Awaiting {
            hook: "h-1".into(),
            reason: "paused".into(),
        },
        deadline(),
        Some(deadline()),
    );

    assert_eq!(
        (outcome.status, outcome.code),
        (Status::Failed, Code::UnverifiedByDeadline)
    );
    assert_eq!(entry.state, State::Unreplaced);
}

#[test]
fn a_task_followed_as_its_service_says_so_and_keeps_its_service() {
    let task = Target::Task(crate::target::TaskRef {
        cluster: Some("prod".into()),
        task_id: "0a1b2c".into(),
        arn: "arn:aws:ecs:us-east-1:123456789012:task/prod/0a1b2c".into(),
    });
    let service = ServiceRef {
        cluster: "prod".into(),
        service: "web".into(),
    };
    let entry = Entry {
        service: Some(service.clone()),
        ..acted_entry()
    };

    let (outcome, _) = judge(
        &Followed::of(&task, &entry),
        &entry,
        Verdict::Verified("deployment ecs-svc/222 completed".into()),
        now(),
        Some(deadline()),
    );

    assert_eq!(outcome.target, task);
    assert_eq!(outcome.service, Some(service));
    assert!(
        outcome
            .reason
            .starts_with("task of service prod/web, followed as it: "),
        "{}",
        outcome.reason
    );
}

#[test]
fn a_check_that_ends_after_aws_window_with_resources_pending_gets_one_last_look() {
    let policy = CheckPolicy::default();
    let judged_at = deadline() - Duration::seconds(30);
    let ended = deadline() + Duration::seconds(30);

    let straddling = last_look(
        &[pending()],
        Some(7),
        judged_at,
        ended,
        Some(deadline()),
        &policy,
        true,
    );
    let after = last_look(
        &[pending()],
        Some(8),
        ended,
        ended,
        Some(deadline()),
        &policy,
        true,
    );

    assert!(
        matches!(&straddling, Some(Next::Check { check: 8, at, .. }) if *at == ended + policy.continuation),
        "{straddling:?}"
    );
    assert_eq!(
        after, None,
        "the last look itself judges past the end: no further check"
    );
    assert_eq!(
        next(
            &[pending()],
            Some(7),
            ended,
            Some(deadline()),
            &policy,
            true
        ),
        Next::Final,
        "without it the chain would stop with the resource still pending"
    );
}
