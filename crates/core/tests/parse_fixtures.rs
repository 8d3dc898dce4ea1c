//! Every fixture in `events-fixtures/` parses to what its README says it is.

use chrono::{DateTime, TimeZone, Utc};
use remediator_core::notice::{parse_value_at, EventStatus, Ignored};
use remediator_core::{ParseError, Parsed, RetirementNotice, ServiceRef, Target, TaskRef};

/// The fixtures are real samples with their own dates (2021 to 2026-12-03): they are parsed
/// with the clock fixed at the last of them, so no run's date changes what they parse to.
fn clock() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap()
}

/// As the functions read a payload: a follow-up check's envelope opened, then parsed.
fn parse_slice(input: &[u8]) -> Result<Parsed, ParseError> {
    match serde_json::from_slice(input) {
        Ok(value) => parse_value_at(remediator_core::follow::unwrap_check(value).0, clock()),
        Err(e) => Err(ParseError::NotJson(e)),
    }
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../events-fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

fn retirement(name: &str) -> RetirementNotice {
    match parse_slice(&fixture(name)) {
        Ok(Parsed::Retirement(n)) => n,
        other => panic!("{name}: expected a retirement notice, got {other:?}"),
    }
}

fn ignored(name: &str) -> Ignored {
    match parse_slice(&fixture(name)) {
        Ok(Parsed::Ignored(i)) => i,
        other => panic!("{name}: expected an ignored event, got {other:?}"),
    }
}

fn service(cluster: &str, service: &str) -> Target {
    Target::Service(ServiceRef {
        cluster: cluster.into(),
        service: service.into(),
    })
}

#[test]
fn the_aws_faq_sample_parses_with_its_duplicate_entities_collapsed() {
    let n = retirement("health-ecs-faq-sample.json");
    assert_eq!(
        n.event_arn,
        "arn:aws:health:us-east-1::event/ECS/AWS_ECS_TASK_PATCHING_RETIREMENT/AWS_ECS_TASK_PATCHING_RETIREMENT_test1"
    );
    assert_eq!(n.account.as_deref(), Some("123456789012"));
    assert_eq!(n.region.as_deref(), Some("us-east-1"));
    assert_eq!(
        n.published_at,
        Utc.with_ymd_and_hms(2023, 8, 16, 23, 18, 51).unwrap()
    );
    assert_eq!(
        n.start_time,
        Some(Utc.with_ymd_and_hms(2023, 8, 16, 23, 18, 51).unwrap())
    );
    assert_eq!(
        n.end_time,
        Some(Utc.with_ymd_and_hms(2023, 8, 18, 23, 18, 51).unwrap())
    );
    assert_eq!(n.status, None);
    assert_eq!(n.targets, vec![service("cluster", "service")]);
}

#[test]
fn pipe_separated_services_parse_with_status_and_empty_end_time() {
    let n = retirement("health-ecs-services-pipe.json");
    assert_eq!(
        n.targets,
        vec![service("prod", "checkout"), service("prod", "payments")]
    );
    assert_eq!(n.status, Some(EventStatus::Upcoming));
    assert_eq!(n.end_time, None, "an empty endTime means absent");
    assert_eq!(
        n.start_time,
        Some(Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap())
    );
}

#[test]
fn pipe_separated_services_with_spaces_parse() {
    let n = retirement("health-ecs-services-pipe-spaced.json");
    assert_eq!(n.targets, vec![service("prod", "checkout")]);
}

#[test]
fn slash_separated_services_parse() {
    let n = retirement("health-ecs-services-slash.json");
    assert_eq!(
        n.targets,
        vec![service("prod", "checkout"), service("staging", "checkout")]
    );
}

#[test]
fn a_full_task_arn_parses_to_a_task_with_its_cluster() {
    let n = retirement("health-ecs-standalone-task.json");
    assert_eq!(
        n.targets,
        vec![Target::Task(TaskRef {
            cluster: Some("batch-jobs".into()),
            task_id: "0d3f6c7e9b2a4f8e8c1d2b3a4f5e6d7c".into(),
            arn: "arn:aws:ecs:us-east-1:123456789012:task/batch-jobs/0d3f6c7e9b2a4f8e8c1d2b3a4f5e6d7c".into(),
        })]
    );
    assert_eq!(n.status, Some(EventStatus::Open));
}

#[test]
fn a_short_task_arn_parses_to_a_task_without_cluster() {
    let n = retirement("health-ecs-task-short-arn.json");
    assert_eq!(
        n.targets,
        vec![Target::Task(TaskRef {
            cluster: None,
            task_id: "9a8b7c6d-5e4f-3a2b-1c0d-0e1f2a3b4c5d".into(),
            arn: "arn:aws:ecs:us-east-1:123456789012:task/9a8b7c6d-5e4f-3a2b-1c0d-0e1f2a3b4c5d"
                .into(),
        })]
    );
}

#[test]
fn a_mixed_event_keeps_services_from_resources_and_tasks_from_entities() {
    let n = retirement("health-ecs-mixed.json");
    let kinds: Vec<String> = n.targets.iter().map(ToString::to_string).collect();
    assert_eq!(
        kinds,
        vec![
            "service prod/checkout",
            "service prod/payments",
            "task prod/1111aaaa2222bbbb3333cccc4444dddd",
            "task prod/5555eeee6666ffff7777aaaa8888bbbb",
        ]
    );
}

#[test]
fn garbage_entities_are_kept_as_unrecognized_so_they_get_an_outcome() {
    let n = retirement("health-ecs-garbage-entities.json");
    assert_eq!(n.targets.len(), 4, "{:?}", n.targets);
    assert_eq!(n.targets[0], service("prod", "checkout"));
    for t in &n.targets[1..] {
        assert!(matches!(t, Target::Unrecognized { .. }), "{t:?}");
    }
}

#[test]
fn a_closed_event_is_ignored_as_closed() {
    let i = ignored("health-ecs-closed.json");
    assert_eq!(i.code, "closed_event");
    assert!(i.event_arn.is_some());
}

#[test]
fn an_ec2_scheduled_event_naming_something_that_is_no_instance_id_keeps_it_as_unrecognized() {
    let n = retirement("health-ec2-other-service.json");
    assert_eq!(n.ec2, Some(remediator_core::notice::Ec2Event::Retirement));
    assert!(
        matches!(&n.targets[..], [Target::Unrecognized { raw, .. }] if raw == "i-0abcd1234efgh5678"),
        "{:?}",
        n.targets
    );
}

#[test]
fn another_health_event_type_is_ignored_as_another_event_type() {
    let mut event: serde_json::Value =
        serde_json::from_slice(&fixture("health-ec2-instance-reboot.json")).expect("json");
    event["detail"]["eventTypeCode"] =
        serde_json::json!("AWS_EC2_INSTANCE_NETWORK_MAINTENANCE_SCHEDULED");
    let Ok(Parsed::Ignored(i)) = parse_slice(&serde_json::to_vec(&event).expect("json")) else {
        panic!("ignored");
    };
    assert_eq!(i.code, "other_event_type");
    assert!(
        i.reason
            .contains("EC2/AWS_EC2_INSTANCE_NETWORK_MAINTENANCE_SCHEDULED"),
        "{}",
        i.reason
    );
}

#[test]
fn each_ec2_scheduled_event_parses_to_its_kind_and_instance() {
    use remediator_core::notice::Ec2Event;
    use remediator_core::target::InstanceRef;
    for (file, kind, id) in [
        (
            "health-ec2-instance-retirement.json",
            Ec2Event::Retirement,
            "i-0a1b2c3d4e5f60001",
        ),
        (
            "health-ec2-instance-stop.json",
            Ec2Event::Stop,
            "i-0a1b2c3d4e5f60002",
        ),
        (
            "health-ec2-instance-reboot.json",
            Ec2Event::Reboot,
            "i-0a1b2c3d4e5f60003",
        ),
        (
            "health-ec2-system-reboot.json",
            Ec2Event::Reboot,
            "i-0a1b2c3d4e5f60004",
        ),
        (
            "health-ec2-persistent-retirement.json",
            Ec2Event::Retirement,
            "i-0a1b2c3d4e5f60005",
        ),
    ] {
        let n = retirement(file);
        assert_eq!(n.ec2, Some(kind), "{file}");
        assert_eq!(
            n.targets,
            vec![Target::Instance(InstanceRef {
                instance_id: id.into()
            })],
            "{file}"
        );
        assert!(n.start_time.is_some(), "{file}");
    }
    let closed = retirement("health-ec2-instance-reboot-closed.json");
    assert_eq!(
        closed.status,
        Some(EventStatus::Closed),
        "a closed reboot is the moment to reactivate"
    );
    let mut stop: serde_json::Value =
        serde_json::from_slice(&fixture("health-ec2-instance-stop.json")).expect("json");
    stop["detail"]["statusCode"] = serde_json::json!("closed");
    assert!(
        matches!(
            parse_slice(&serde_json::to_vec(&stop).expect("json")),
            Ok(Parsed::Ignored(_))
        ),
        "a closed retirement or stop needs nothing"
    );
}

#[test]
fn an_ecs_operational_issue_is_ignored_as_another_event_type() {
    assert_eq!(
        ignored("health-ecs-operational-issue.json").code,
        "other_event_type"
    );
}

#[test]
fn the_eks_sample_parses_with_the_zone_suffix_stripped() {
    let n = match parse_slice(&fixture("eks-fargate-pod-scheduled-termination.json")) {
        Ok(Parsed::PodTermination(n)) => n,
        other => panic!("expected a pod notice, got {other:?}"),
    };
    assert_eq!(n.cluster, "my-cluster");
    assert_eq!(
        (n.namespace.as_str(), n.pod.as_str()),
        ("default", "my-deployment-5d8c9c5d4b-8jx7l")
    );
    assert_eq!(n.fargate_profile.as_deref(), Some("my-fargate-profile"));
    assert!(n
        .evict_error
        .as_deref()
        .is_some_and(|e| e.contains("disruption budget")));
    assert_eq!(
        n.scheduled_termination,
        Utc.with_ymd_and_hms(2021, 6, 30, 12, 52, 44).unwrap()
            + chrono::Duration::milliseconds(832)
    );
    assert_eq!(
        n.published_at,
        Utc.with_ymd_and_hms(2021, 6, 22, 12, 52, 49).unwrap()
    );
}

#[test]
fn an_eks_event_without_a_pod_name_is_rejected_naming_the_field() {
    let e = parse_slice(&fixture("malformed-eks-missing-pod-name.json")).unwrap_err();
    assert_eq!(e.to_string(), "event has no `detail.podName`");
}

#[test]
fn truncated_json_is_rejected_as_not_json() {
    let e = parse_slice(&fixture("malformed-truncated.json")).unwrap_err();
    assert!(matches!(e, ParseError::NotJson(_)), "{e}");
}

#[test]
fn json_that_is_not_an_eventbridge_event_is_rejected() {
    let e = parse_slice(&fixture("malformed-not-an-eventbridge-event.json")).unwrap_err();
    assert!(matches!(e, ParseError::NotEventBridge(_)), "{e}");
    assert!(
        e.to_string().contains("detail-type") || e.to_string().contains("source"),
        "{e}"
    );
}

#[test]
fn a_retirement_without_event_arn_is_rejected_naming_the_field() {
    let e = parse_slice(&fixture("malformed-health-missing-event-arn.json")).unwrap_err();
    assert_eq!(e.to_string(), "event has no `detail.eventArn`");
}

#[test]
fn a_retirement_with_an_unparseable_start_time_is_rejected_naming_the_value() {
    let e = parse_slice(&fixture("malformed-health-bad-start-time.json")).unwrap_err();
    assert!(
        matches!(
            e,
            ParseError::BadTime {
                field: "detail.startTime",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("next tuesday-ish"), "{e}");
}

#[test]
fn a_health_detail_of_the_wrong_shape_is_rejected() {
    let raw = br#"{"source":"aws.health","detail-type":"AWS Health Event","detail":{"affectedEntities":"prod|x"}}"#;
    assert!(matches!(parse_slice(raw), Err(ParseError::HealthDetail(_))));
}

#[test]
fn every_fixture_parses_or_is_rejected_without_panicking() {
    let dir = format!("{}/../../events-fixtures", env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("fixtures dir") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let parsed = parse_slice(&std::fs::read(&path).expect("read"));
        assert_eq!(
            parsed.is_err(),
            name.starts_with("malformed-"),
            "{name}: only malformed-* fixtures may be rejected, got {parsed:?}"
        );
        seen += 1;
    }
    assert!(seen >= 15, "expected the full fixture set, saw {seen}");
}

#[test]
fn a_follow_up_check_unwraps_to_its_number_and_the_original_notice() {
    let raw: serde_json::Value =
        serde_json::from_slice(&fixture("follow-up-check.json")).expect("JSON");
    let (event, check) = remediator_core::follow::unwrap_check(raw);

    assert_eq!(check, Some(1));
    match parse_value_at(event, clock()) {
        Ok(Parsed::Retirement(n)) => {
            assert_eq!(n, retirement("health-ecs-services-pipe.json"));
        }
        other => panic!("expected the original retirement notice, got {other:?}"),
    }
}

#[test]
fn an_unreadable_end_or_update_time_is_dropped_and_the_notice_still_parses() {
    let mut event: serde_json::Value =
        serde_json::from_slice(&fixture("health-ecs-services-pipe.json")).expect("JSON");
    event["detail"]["endTime"] = serde_json::json!("next Tuesday-ish");
    event["detail"]["lastUpdatedTime"] = serde_json::json!(1_700_000_000);

    match parse_value_at(event, clock()) {
        Ok(Parsed::Retirement(n)) => {
            assert_eq!(n.end_time, None);
            assert!(n.start_time.is_some(), "startTime still read");
            assert!(!n.targets.is_empty());
        }
        other => panic!("expected a retirement notice, got {other:?}"),
    }
}

#[test]
fn an_unreadable_start_time_still_rejects_the_notice_naming_the_field() {
    let mut event: serde_json::Value =
        serde_json::from_slice(&fixture("health-ecs-services-pipe.json")).expect("JSON");
    event["detail"]["startTime"] = serde_json::json!("soon");

    match parse_value_at(event, clock()) {
        Err(ParseError::BadTime { field, .. }) => assert_eq!(field, "detail.startTime"),
        other => panic!("expected a rejection naming startTime, got {other:?}"),
    }
}

#[test]
fn without_an_affected_account_the_account_the_entities_name_is_the_affected_one() {
    let mut event: serde_json::Value =
        serde_json::from_slice(&fixture("health-ecs-services-pipe.json")).expect("json");
    event["detail"]["affectedEntities"][0]["awsAccountId"] = serde_json::json!("210987654321");
    let Ok(Parsed::Retirement(n)) = parse_slice(&serde_json::to_vec(&event).expect("json")) else {
        panic!("a retirement notice");
    };

    assert_eq!(n.affected_account.as_deref(), Some("210987654321"));
    assert!(
        remediator_core::pipeline::Notice::ledger_key(&n).ends_with("#210987654321"),
        "the ledger keys the notice by the account its resources are in"
    );

    let plain = retirement("health-ecs-services-pipe.json");
    assert_eq!(plain.affected_account, None);
    assert_eq!(
        remediator_core::pipeline::Notice::ledger_key(&plain),
        format!("{}#123456789012", plain.event_arn),
        "a notice of the receiving account is keyed by that account"
    );
}

// Bounds: a value no AWS event carries is rejected naming its field, before it steers a call.

fn pipe_event() -> serde_json::Value {
    serde_json::from_slice(&fixture("health-ecs-services-pipe.json")).expect("JSON")
}

fn rejected_field(event: serde_json::Value) -> &'static str {
    match parse_value_at(event, clock()) {
        Err(ParseError::OutOfBounds { field, .. }) => field,
        other => panic!("expected an out-of-bounds rejection, got {other:?}"),
    }
}

#[test]
fn an_affected_account_that_is_not_twelve_digits_is_rejected_naming_it() {
    let mut event = pipe_event();
    event["detail"]["affectedAccount"] = serde_json::json!("abc");
    assert_eq!(rejected_field(event), "detail.affectedAccount");
}

#[test]
fn an_entity_account_or_envelope_account_that_is_not_an_account_id_is_rejected() {
    let mut event = pipe_event();
    event["detail"]["affectedEntities"][0]["awsAccountId"] = serde_json::json!("1234");
    assert_eq!(
        rejected_field(event),
        "detail.affectedEntities[].awsAccountId"
    );
    let mut event = pipe_event();
    event["account"] = serde_json::json!("12345678901x");
    assert_eq!(rejected_field(event), "account");
}

#[test]
fn an_event_region_of_no_partition_is_rejected_naming_it() {
    let mut event = pipe_event();
    event["detail"]["eventRegion"] = serde_json::json!("us-east-1.attacker.example");
    assert_eq!(rejected_field(event), "detail.eventRegion");
    let mut event = pipe_event();
    event["region"] = serde_json::json!("Mars");
    assert_eq!(rejected_field(event), "region");
}

#[test]
fn a_start_time_in_year_9999_is_rejected_naming_it() {
    let mut event = pipe_event();
    event["detail"]["startTime"] = serde_json::json!("Fri, 31 Dec 9999 09:00:00 GMT");
    assert_eq!(rejected_field(event), "detail.startTime");
}

#[test]
fn a_time_before_aws_health_existed_or_far_ahead_is_rejected_naming_it() {
    let mut event = pipe_event();
    event["time"] = serde_json::json!("1970-01-01T00:00:00Z");
    event["detail"]["startTime"] = serde_json::json!("Thu, 08 Jan 1970 00:00:00 GMT");
    assert_eq!(rejected_field(event), "time");
    let mut event = pipe_event();
    event["time"] = serde_json::json!("9999-01-01T00:00:00Z");
    event["detail"]["startTime"] = serde_json::json!("Fri, 08 Jan 9999 00:00:00 GMT");
    assert_eq!(rejected_field(event), "time");
}

#[test]
fn an_eks_termination_years_after_the_event_is_rejected_naming_it() {
    let mut event: serde_json::Value =
        serde_json::from_slice(&fixture("eks-fargate-pod-scheduled-termination.json"))
            .expect("JSON");
    event["detail"]["scheduledTerminationTime"] =
        serde_json::json!("2031-06-30T12:52:44.832Z[UTC]");
    assert_eq!(rejected_field(event), "detail.scheduledTerminationTime");
}

#[test]
fn a_follow_up_envelope_that_does_not_open_is_rejected_not_ignored() {
    for detail in [
        serde_json::json!({ "check": 2 }),
        serde_json::json!({ "check": "2", "event": pipe_event() }),
        serde_json::json!({ "event": pipe_event() }),
    ] {
        let envelope = serde_json::json!({ "source": "retirement-remediator",
            "detail-type": "Retirement Follow-up Check", "detail": detail });
        match parse_slice(&serde_json::to_vec(&envelope).expect("JSON")) {
            Err(ParseError::BrokenCheck(why)) => assert!(why.contains("detail.check"), "{why}"),
            other => panic!("expected a rejected envelope, got {other:?}"),
        }
    }
}

#[test]
fn a_backup_copy_of_a_health_event_is_ignored_with_its_reason() {
    for flag in [serde_json::json!(true), serde_json::json!("true")] {
        let mut event = pipe_event();
        event["detail"]["backupEvent"] = flag;
        match parse_value_at(event, clock()) {
            Ok(Parsed::Ignored(i)) => {
                assert_eq!(i.code, "backup_event");
                assert!(i.reason.contains("backup"), "{}", i.reason);
            }
            other => panic!("expected an ignored backup copy, got {other:?}"),
        }
    }
    let mut primary = pipe_event();
    primary["detail"]["backupEvent"] = serde_json::json!(false);
    assert!(matches!(
        parse_value_at(primary, clock()),
        Ok(Parsed::Retirement(_))
    ));
}

// Where each entity is: its own ARN's account and Region, else its awsAccountId.

fn naming(entities: &[&str]) -> serde_json::Value {
    let mut event = pipe_event();
    event["resources"] = serde_json::json!(entities);
    event["detail"]["affectedEntities"] = serde_json::json!(entities
        .iter()
        .map(|e| serde_json::json!({ "entityValue": e }))
        .collect::<Vec<_>>());
    event
}

fn targets(event: serde_json::Value) -> Vec<Target> {
    match parse_value_at(event, clock()) {
        Ok(Parsed::Retirement(n)) => n.targets,
        other => panic!("expected a notice, got {other:?}"),
    }
}

#[test]
fn a_service_arn_of_another_account_is_kept_apart_from_the_same_named_service_of_the_notice() {
    let found = targets(naming(&[
        "payments|api",
        "arn:aws:ecs:us-east-1:210987654321:service/payments/api",
    ]));
    assert_eq!(found.len(), 2, "not merged into one: {found:?}");
    // The plain name is not believed either while the same notice places it in another account.
    assert!(
        matches!(&found[0], Target::Unrecognized { why, .. } if why.contains("210987654321")),
        "{found:?}"
    );
    match &found[1] {
        Target::Elsewhere(e) => {
            assert_eq!(e.account.as_deref(), Some("210987654321"));
            assert_eq!(e.notice_account.as_deref(), Some("123456789012"));
            assert!(e.other_account());
            assert_eq!(e.resource, "service payments/api");
        }
        other => panic!("expected a resource elsewhere, got {other:?}"),
    }
}

#[test]
fn a_task_arn_of_another_region_is_elsewhere_and_one_of_this_account_and_region_is_a_task() {
    let found = targets(naming(&[
        "arn:aws:ecs:eu-west-1:123456789012:task/prod/0123456789abcdef0123456789abcdef",
        "arn:aws:ecs:us-east-1:123456789012:task/prod/fedcba9876543210fedcba9876543210",
    ]));
    match &found[0] {
        Target::Elsewhere(e) => {
            assert!(!e.other_account());
            assert_eq!(e.region.as_deref(), Some("eu-west-1"));
            assert_eq!(e.notice_region.as_deref(), Some("us-east-1"));
        }
        other => panic!("expected a task elsewhere, got {other:?}"),
    }
    assert!(matches!(&found[1], Target::Task(_)));
}

#[test]
fn an_entity_whose_aws_account_id_differs_from_the_affected_account_is_elsewhere() {
    let mut event = naming(&[]);
    event["detail"]["affectedAccount"] = serde_json::json!("111111111111");
    event["detail"]["affectedEntities"] = serde_json::json!([
        { "entityValue": "prod|web", "awsAccountId": "111111111111" },
        { "entityValue": "prod|api", "awsAccountId": "222222222222" }
    ]);
    let found = targets(event);
    assert!(matches!(&found[0], Target::Service(_)));
    assert!(
        matches!(&found[1], Target::Elsewhere(e) if e.account.as_deref() == Some("222222222222"))
    );
}

#[test]
fn a_notice_whose_region_is_not_its_event_arns_is_rejected_naming_the_arn() {
    let mut event = pipe_event();
    event["detail"]["eventRegion"] = serde_json::json!("eu-west-1");
    assert_eq!(rejected_field(event), "detail.eventArn");
}

#[test]
fn a_resource_named_here_in_resources_and_elsewhere_by_its_entity_is_not_believed_here() {
    let mut event = naming(&[]);
    event["resources"] = serde_json::json!(["prod|web"]);
    event["detail"]["affectedEntities"] =
        serde_json::json!([{ "entityValue": "prod|web", "awsAccountId": "222222222222" }]);
    event["detail"]["affectedAccount"] = serde_json::json!("123456789012");
    let found = targets(event);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        matches!(&found[0], Target::Unrecognized { .. }),
        "{found:?}"
    );
    assert!(
        matches!(&found[1], Target::Elsewhere(e) if e.account.as_deref() == Some("222222222222"))
    );
}

#[test]
fn an_arn_and_its_entity_account_that_disagree_are_not_believed() {
    let mut event = naming(&[]);
    event["resources"] = serde_json::json!([]);
    event["detail"]["affectedEntities"] = serde_json::json!([{
        "entityValue": "arn:aws:ecs:us-east-1:123456789012:service/prod/web",
        "awsAccountId": "222222222222" }]);
    let found = targets(event);
    assert!(matches!(&found[0], Target::Elsewhere(_)), "{found:?}");
}

#[test]
fn a_notice_that_names_no_account_cannot_claim_an_arns_resource() {
    let mut event = naming(&["arn:aws:ecs:us-east-1:222222222222:service/prod/web"]);
    event.as_object_mut().expect("object").remove("account");
    let found = targets(event);
    assert!(matches!(&found[0], Target::Elsewhere(_)), "{found:?}");
}

#[test]
fn an_ecs_arn_without_its_account_or_region_is_unrecognized() {
    let found = targets(naming(&["arn:aws:ecs:::service/prod/web"]));
    assert!(
        matches!(&found[0], Target::Unrecognized { .. }),
        "{found:?}"
    );
}

#[test]
fn an_ec2_instance_of_another_account_is_elsewhere() {
    let mut event: serde_json::Value =
        serde_json::from_slice(&fixture("health-ec2-instance-retirement.json")).expect("JSON");
    event["resources"] = serde_json::json!([]);
    event["detail"]["affectedEntities"] = serde_json::json!([
        { "entityValue": "i-0123456789abcdef0", "awsAccountId": "123456789012" },
        { "entityValue": "i-0fedcba9876543210", "awsAccountId": "222222222222" }
    ]);
    let found = targets(event);
    assert!(matches!(&found[0], Target::Instance(_)), "{found:?}");
    assert!(
        matches!(&found[1], Target::Elsewhere(e) if e.resource.contains("i-0fedcba9876543210"))
    );
}

#[test]
fn an_end_time_months_after_the_start_is_not_believed() {
    let mut event = pipe_event();
    event["detail"]["endTime"] = serde_json::json!("Fri, 31 Dec 2100 09:00:00 GMT");
    match parse_value_at(event, clock()) {
        Ok(Parsed::Retirement(n)) => {
            assert_eq!(n.end_time, None);
            assert_eq!(
                n.retirement_end(),
                n.start_time
                    .map(|s| s + remediator_core::notice::RETIREMENT_GRACE)
            );
        }
        other => panic!("expected a notice, got {other:?}"),
    }
}
