//! The pod planner on hand-built observations: no Kubernetes, no runtime.

use chrono::{DateTime, Utc};

use super::*;
use crate::target::{PodRef, Target};
use crate::testing::{at, pod_notice};

/// Published at 10:00, deleted by EKS five days later, eviction blocked by a budget.
fn notice() -> PodNotice {
    pod_notice(at("2026-11-25T10:00:00Z"), at("2026-11-30T12:00:00Z"))
}

fn now() -> DateTime<Utc> {
    at("2026-11-25T10:05:00Z")
}

fn owner(kind: &str, name: &str) -> Option<Owner> {
    owned_by("apps/v1", kind, name)
}

fn owned_by(api_version: &str, kind: &str, name: &str) -> Option<Owner> {
    Some(Owner {
        api_version: api_version.into(),
        kind: kind.into(),
        name: name.into(),
    })
}

fn marks(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A workload at rest: never restarted, not rolling out, unmarked.
fn at_rest() -> WorkloadSeen {
    WorkloadSeen {
        restarted_at: None,
        rolling_out: false,
        annotations: Vec::new(),
        blocked: None,
        rollout_done: true,
    }
}

/// Only the pod read so far, with this controller.
fn pod_owned_by(owner: Option<Owner>) -> Observed {
    Observed {
        pod: Some(Seen::Found(PodSeen { owner })),
        ..Observed::default()
    }
}

/// Pod → ReplicaSet → Deployment `web` read, the namespace not yet.
fn deployment_chain(workload: WorkloadSeen) -> Observed {
    Observed {
        replica_set: Some(Seen::Found(ReplicaSetSeen {
            owner: owner("Deployment", "web"),
        })),
        workload: Some(Seen::Found(workload)),
        ..pod_owned_by(owner("ReplicaSet", "web-5d8c9c5d4b"))
    }
}

/// The Deployment chain read, and the namespace with these annotations.
fn in_namespace(workload: WorkloadSeen, namespace: &[(&str, &str)]) -> Observed {
    Observed {
        namespace: Some(NamespaceSeen::Found(marks(namespace))),
        ..deployment_chain(workload)
    }
}

fn plan(observed: &Observed) -> Step {
    plan_pod(&notice(), observed, now(), false)
}

fn outcome(step: Step) -> Outcome {
    match step {
        Step::Final(outcome) => outcome,
        other => panic!("expected a final outcome, got {other:?}"),
    }
}

fn said(o: &Outcome) -> (Status, Code) {
    (o.status, o.code)
}

fn restart_web() -> Step {
    Step::Restart {
        kind: WorkloadKind::Deployment,
        name: "web".into(),
    }
}

#[test]
fn the_planner_looks_at_pod_then_replica_set_then_deployment_then_namespace_then_restarts() {
    let mut seen = Observed::default();
    let mut looks = Vec::new();
    let last = loop {
        match plan(&seen) {
            Step::Look(look) => {
                match &look {
                    Look::Pod => seen.pod = pod_owned_by(owner("ReplicaSet", "web-5d8c9c5d4b")).pod,
                    Look::ReplicaSet(_) => {
                        seen.replica_set = deployment_chain(at_rest()).replica_set
                    }
                    Look::Workload(..) => seen.workload = deployment_chain(at_rest()).workload,
                    Look::Namespace => seen.namespace = Some(NamespaceSeen::Found(Vec::new())),
                }
                looks.push(look);
                assert!(looks.len() <= 4, "too many looks: {looks:?}");
            }
            other => break other,
        }
    };

    assert_eq!(
        looks,
        vec![
            Look::Pod,
            Look::ReplicaSet("web-5d8c9c5d4b".into()),
            Look::Workload(WorkloadKind::Deployment, "web".into()),
            Look::Namespace,
        ]
    );
    assert_eq!(last, restart_web());
}

#[test]
fn a_statefulset_pod_goes_straight_from_the_pod_to_its_statefulset() {
    let step = plan(&pod_owned_by(owner("StatefulSet", "db")));

    assert_eq!(
        step,
        Step::Look(Look::Workload(WorkloadKind::StatefulSet, "db".into()))
    );
}

#[test]
fn a_notice_past_its_termination_time_is_too_late_before_any_look() {
    let mut late = notice();
    late.scheduled_termination = at("2026-11-25T10:05:00Z");

    let o = outcome(plan_pod(&late, &Observed::default(), now(), false));

    assert_eq!(said(&o), (Status::Skipped, Code::TooLate));
    assert!(o.reason.contains("too late"), "{}", o.reason);
}

#[test]
fn a_pod_already_gone_is_reported_gone() {
    let seen = Observed {
        pod: Some(Seen::Missing),
        ..Observed::default()
    };

    assert_eq!(said(&outcome(plan(&seen))), (Status::Skipped, Code::Gone));
}

#[test]
fn a_bare_pod_has_nothing_to_restart_and_the_reason_points_at_the_budget() {
    let o = outcome(plan(&pod_owned_by(None)));

    assert_eq!(said(&o), (Status::Skipped, Code::NoOwnerToRestart));
    assert!(o.reason.contains("bare pod"), "{}", o.reason);
    assert!(o.reason.contains("PodDisruptionBudget"), "{}", o.reason);
}

#[test]
fn a_job_pod_has_no_rolling_restart() {
    let o = outcome(plan(&pod_owned_by(owner("Job", "nightly-report"))));

    assert_eq!(said(&o), (Status::Skipped, Code::NoOwnerToRestart));
    assert!(
        o.reason
            .contains("owned by Job nightly-report, which has no rolling restart"),
        "{}",
        o.reason
    );
}

#[test]
fn a_replica_set_no_deployment_owns_has_nothing_to_restart() {
    let seen = Observed {
        replica_set: Some(Seen::Found(ReplicaSetSeen { owner: None })),
        ..pod_owned_by(owner("ReplicaSet", "web-5d8c9c5d4b"))
    };

    let o = outcome(plan(&seen));

    assert_eq!(said(&o), (Status::Skipped, Code::NoOwnerToRestart));
    assert!(
        o.reason.contains("ReplicaSet web-5d8c9c5d4b"),
        "{}",
        o.reason
    );
}

/// The pod's ReplicaSet read, and found controlled by `rs_owner`.
fn replica_set_owned_by(rs_owner: Option<Owner>) -> Observed {
    Observed {
        replica_set: Some(Seen::Found(ReplicaSetSeen { owner: rs_owner })),
        ..pod_owned_by(owner("ReplicaSet", "web-5d8c9c5d4b"))
    }
}

#[test]
fn a_replica_set_an_argo_rollout_owns_leads_to_a_look_at_the_rollout() {
    let seen = replica_set_owned_by(owned_by("argoproj.io/v1alpha1", "Rollout", "web"));

    assert_eq!(
        plan(&seen),
        Step::Look(Look::Workload(WorkloadKind::Rollout, "web".into()))
    );
}

#[test]
fn an_argo_rollout_at_rest_in_an_unmarked_namespace_is_restarted() {
    let seen = Observed {
        workload: Some(Seen::Found(at_rest())),
        namespace: Some(NamespaceSeen::Found(Vec::new())),
        ..replica_set_owned_by(owned_by("argoproj.io/v1alpha1", "Rollout", "web"))
    };

    assert_eq!(
        plan(&seen),
        Step::Restart {
            kind: WorkloadKind::Rollout,
            name: "web".into()
        }
    );
}

#[test]
fn a_rollout_of_another_api_group_has_no_rolling_restart_and_is_named() {
    let seen = replica_set_owned_by(owned_by("example.com/v1", "Rollout", "web"));

    let o = outcome(plan(&seen));

    let reason = &o.reason;
    assert_eq!(
        said(&o),
        (Status::Skipped, Code::NoOwnerToRestart),
        "{reason}"
    );
    assert!(
        reason.contains("Rollout web (example.com/v1), which has no rolling"),
        "{reason}"
    );
}

#[test]
fn a_replica_set_owned_by_another_kind_names_that_owner() {
    let seen = replica_set_owned_by(owned_by("example.com/v1", "Canary", "web"));

    let o = outcome(plan(&seen));

    assert_eq!(said(&o), (Status::Skipped, Code::NoOwnerToRestart));
    assert!(o.reason.contains("Canary web"), "{}", o.reason);
}

#[test]
fn a_workload_already_gone_is_reported_gone_by_its_name() {
    let seen = Observed {
        workload: Some(Seen::Missing),
        ..deployment_chain(at_rest())
    };

    let o = outcome(plan(&seen));

    assert_eq!(said(&o), (Status::Skipped, Code::Gone));
    assert_eq!(o.reason, "Deployment shop/web is already gone");
}

#[test]
fn a_restart_after_the_event_means_already_restarted_with_no_namespace_read() {
    let seen = deployment_chain(WorkloadSeen {
        restarted_at: Some(at("2026-11-25T10:01:00Z")),
        ..at_rest()
    });

    let o = outcome(plan(&seen));

    assert_eq!(said(&o), (Status::AlreadyDone, Code::AlreadyRestarted));
    assert!(
        o.reason.starts_with("Deployment shop/web was restarted at"),
        "{}",
        o.reason
    );
}

#[test]
fn a_restart_in_the_same_second_as_a_sub_second_event_counts_as_after_it() {
    let mut precise = notice();
    precise.published_at = at("2026-11-25T10:00:00.750Z");
    let seen = deployment_chain(WorkloadSeen {
        restarted_at: Some(at("2026-11-25T10:00:00Z")),
        ..at_rest()
    });

    let o = outcome(plan_pod(&precise, &seen, now(), false));

    assert_eq!(said(&o), (Status::AlreadyDone, Code::AlreadyRestarted));
}

#[test]
fn a_restart_from_before_the_event_does_not_count() {
    let seen = deployment_chain(WorkloadSeen {
        restarted_at: Some(at("2026-11-20T08:00:00Z")),
        ..at_rest()
    });

    assert_eq!(plan(&seen), Step::Look(Look::Namespace));
}

#[test]
fn a_workload_mid_rollout_is_left_to_finish_without_reading_the_namespace() {
    let seen = deployment_chain(WorkloadSeen {
        rolling_out: true,
        ..at_rest()
    });

    let o = outcome(plan(&seen));

    assert_eq!(said(&o), (Status::AlreadyDone, Code::RolloutInProgress));
    assert!(
        o.reason.contains("Deployment shop/web is mid-rollout"),
        "{}",
        o.reason
    );
}

#[test]
fn a_workload_annotated_skip_is_opted_out() {
    let seen = in_namespace(
        WorkloadSeen {
            annotations: marks(&[("retirement-remediator/skip", "true")]),
            ..at_rest()
        },
        &[],
    );

    let o = outcome(plan(&seen));

    assert_eq!(said(&o), (Status::Skipped, Code::OptedOut));
    assert_eq!(
        o.reason,
        "Deployment shop/web: opted out: the resource is annotated retirement-remediator/skip=true"
    );
}

#[test]
fn a_namespace_annotated_skip_opts_out_its_workloads() {
    let seen = in_namespace(at_rest(), &[("retirement-remediator/skip", "true")]);

    let o = outcome(plan(&seen));

    assert_eq!(said(&o), (Status::Skipped, Code::OptedOut));
    assert!(
        o.reason.contains("its namespace is annotated"),
        "{}",
        o.reason
    );
}

#[test]
fn opt_in_mode_without_any_annotation_is_not_opted_in() {
    let o = outcome(plan_pod(
        &notice(),
        &in_namespace(at_rest(), &[]),
        now(),
        true,
    ));

    assert_eq!(said(&o), (Status::Skipped, Code::NotOptedIn));
    assert!(
        o.reason.starts_with("Deployment shop/web: opt-in mode"),
        "{}",
        o.reason
    );
}

#[test]
fn opt_in_mode_restarts_a_workload_in_an_enabled_namespace() {
    let seen = in_namespace(at_rest(), &[("retirement-remediator/enabled", "true")]);

    assert_eq!(plan_pod(&notice(), &seen, now(), true), restart_web());
}

#[test]
fn a_missing_namespace_carries_no_marks_and_the_restart_goes_ahead() {
    let seen = Observed {
        namespace: Some(NamespaceSeen::Missing),
        ..deployment_chain(at_rest())
    };

    assert_eq!(plan(&seen), restart_web());
}

#[test]
fn a_namespace_it_may_not_read_stops_the_restart_for_good_and_names_the_rbac_fix() {
    let seen = Observed {
        namespace: Some(NamespaceSeen::Forbidden),
        ..deployment_chain(at_rest())
    };

    let o = outcome(plan(&seen));

    assert_eq!(
        (said(&o), o.retryable),
        ((Status::Failed, Code::ApiError), false)
    );
    assert!(
        o.reason.contains("infra/kubernetes/rbac.yaml"),
        "{}",
        o.reason
    );
}

#[test]
fn every_outcome_is_about_the_pod_the_notice_names() {
    let pod = Target::Pod(PodRef {
        cluster: "prod".into(),
        namespace: "shop".into(),
        name: "web-5d8c9c5d4b-8jx7l".into(),
    });

    let outcomes = [
        outcome(plan(&pod_owned_by(None))),
        outcome(plan(&in_namespace(
            at_rest(),
            &[("retirement-remediator/skip", "true")],
        ))),
        would_restart(&notice(), WorkloadKind::Deployment, "web"),
        restarted(
            &notice(),
            WorkloadKind::Deployment,
            "web",
            "2026-11-25T10:05:00Z",
        ),
        api_error(&notice(), "connection reset", true),
    ];

    for o in outcomes {
        assert_eq!(o.target, pod, "{o:?}");
    }
}

#[test]
fn a_dry_run_restart_is_planned_and_names_the_workload() {
    let o = would_restart(&notice(), WorkloadKind::StatefulSet, "db");

    assert_eq!(said(&o), (Status::Planned, Code::WouldRestart));
    assert_eq!(o.reason, "dry run: would restart StatefulSet shop/db");
}

#[test]
fn a_done_restart_says_the_stamp_it_wrote_and_when_eks_deletes_the_pod() {
    let stamp = restart_stamp(now());

    let o = restarted(&notice(), WorkloadKind::Deployment, "web", &stamp);

    assert_eq!(said(&o), (Status::Acted, Code::Restarted));
    assert_eq!(
        o.reason,
        "Deployment shop/web restarted (restartedAt 2026-11-25T10:05:00Z) before EKS deletes the pod at 2026-11-30T12:00:00+00:00"
    );
}

#[test]
fn the_restart_stamp_has_whole_seconds_in_utc_as_kubectl_writes_it() {
    assert_eq!(
        restart_stamp(at("2026-11-25T10:05:00.987654Z")),
        "2026-11-25T10:05:00Z"
    );
}

#[test]
fn an_api_error_keeps_the_clients_words_and_retryability() {
    let o = api_error(&notice(), "ApiError: Internal error (500)", true);

    assert_eq!(
        (said(&o), o.retryable),
        ((Status::Failed, Code::ApiError), true)
    );
    assert_eq!(o.reason, "ApiError: Internal error (500)");
}

#[test]
fn a_workload_whose_settings_keep_a_restart_from_replacing_the_pod_fails_with_the_setting() {
    let mut seen = deployment_chain(WorkloadSeen {
        blocked: Some("the Deployment is paused".into()),
        ..at_rest()
    });
    seen.namespace = Some(NamespaceSeen::Found(Vec::new()));

    let o = outcome(plan(&seen));

    assert_eq!(said(&o), (Status::Failed, Code::RolloutBlocked));
    assert!(!o.retryable);
    assert!(o.reason.contains("paused"), "{}", o.reason);
}

#[test]
fn an_opted_out_workload_is_opted_out_even_when_its_rollout_is_blocked() {
    let mut seen = deployment_chain(WorkloadSeen {
        blocked: Some("the Deployment is paused".into()),
        annotations: marks(&[("retirement-remediator/skip", "true")]),
        ..at_rest()
    });
    seen.namespace = Some(NamespaceSeen::Found(Vec::new()));

    assert_eq!(
        said(&outcome(plan(&seen))),
        (Status::Skipped, Code::OptedOut)
    );
}

fn verdict_on(seen: &Seen<WorkloadSeen>) -> Verdict {
    verdict(&notice(), WorkloadKind::Deployment, "web", seen)
}

#[test]
fn a_restarted_workload_that_is_gone_is_verified() {
    match verdict_on(&Seen::Missing) {
        Verdict::Verified(reason) => assert_eq!(
            reason,
            "Deployment shop/web is gone: none of its pods is left to retire"
        ),
        other => panic!("expected verified, got {other:?}"),
    }
}

#[test]
fn a_restarted_workload_whose_rollout_is_blocked_fails_naming_the_reason() {
    let seen = Seen::Found(WorkloadSeen {
        blocked: Some("the Deployment exceeded its progress deadline".into()),
        rollout_done: false,
        ..at_rest()
    });

    match verdict_on(&seen) {
        Verdict::Failed(code, reason) => {
            assert_eq!(code, Code::RolloutBlocked);
            assert!(
                reason.contains("the Deployment exceeded its progress deadline"),
                "{reason}"
            );
            assert!(reason.contains("2026-11-30T12:00:00+00:00"), "{reason}");
        }
        other => panic!("expected failed, got {other:?}"),
    }
}

#[test]
fn a_workload_paused_after_its_rollout_finished_is_verified_the_pod_was_replaced() {
    let seen = Seen::Found(WorkloadSeen {
        blocked: Some("the Deployment is paused".into()),
        rollout_done: true,
        ..at_rest()
    });

    assert!(
        matches!(verdict_on(&seen), Verdict::Verified(_)),
        "{:?}",
        verdict_on(&seen)
    );
}

#[test]
fn a_restarted_workload_whose_rollout_finished_is_verified() {
    match verdict_on(&Seen::Found(at_rest())) {
        Verdict::Verified(reason) => {
            assert!(
                reason.starts_with("Deployment shop/web finished its rollout"),
                "{reason}"
            )
        }
        other => panic!("expected verified, got {other:?}"),
    }
}

#[test]
fn a_restarted_workload_still_rolling_out_is_pending() {
    let seen = Seen::Found(WorkloadSeen {
        rolling_out: true,
        rollout_done: false,
        ..at_rest()
    });

    assert_eq!(
        verdict_on(&seen),
        Verdict::Pending("Deployment shop/web is still rolling out".into())
    );
}

#[test]
fn a_workload_ref_parses_back_to_its_kind_and_name() {
    for kind in [
        WorkloadKind::Deployment,
        WorkloadKind::StatefulSet,
        WorkloadKind::DaemonSet,
        WorkloadKind::Rollout,
    ] {
        let reference = workload_ref(kind, "web");

        assert_eq!(parse_workload_ref(&reference), Some((kind, "web")));
    }
    assert_eq!(
        workload_ref(WorkloadKind::Deployment, "web"),
        "Deployment/web"
    );
}

#[test]
fn a_reference_that_names_no_restartable_workload_parses_to_nothing() {
    for garbage in [
        "",
        "web",
        "Deployment",
        "Deployment/",
        "Job/nightly-report",
        "deployment/web",
        "ecs-svc/1234567890",
        "d-ABC123",
    ] {
        assert_eq!(parse_workload_ref(garbage), None, "{garbage:?}");
    }
}

#[test]
fn a_done_restart_records_the_workload_it_restarted_for_follow_up_checks() {
    let o = restarted(
        &notice(),
        WorkloadKind::StatefulSet,
        "db",
        "2026-11-25T10:05:00Z",
    );

    assert_eq!(o.deployment_before, None);
    assert_eq!(o.deployment_after.as_deref(), Some("StatefulSet/db"));
    assert_eq!(
        o.deployment_after.as_deref().and_then(parse_workload_ref),
        Some((WorkloadKind::StatefulSet, "db"))
    );
}

#[test]
fn a_workload_found_replacing_its_pods_records_it_for_follow_up_checks() {
    let restarted_after_event = deployment_chain(WorkloadSeen {
        restarted_at: Some(at("2026-11-25T10:01:00Z")),
        ..at_rest()
    });
    let mid_rollout = deployment_chain(WorkloadSeen {
        rolling_out: true,
        ..at_rest()
    });

    for seen in [restarted_after_event, mid_rollout] {
        let o = outcome(plan(&seen));

        assert_eq!(
            o.deployment_after.as_deref(),
            Some("Deployment/web"),
            "{o:?}"
        );
    }
}
