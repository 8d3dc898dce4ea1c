//! Entity-form tests, one per form.

use super::target::*;

fn svc(c: &str, s: &str) -> Target {
    Target::Service(ServiceRef {
        cluster: c.into(),
        service: s.into(),
    })
}

#[test]
fn pipe_form_names_a_service() {
    assert_eq!(parse_entity("prod|web"), svc("prod", "web"));
}

#[test]
fn spaced_pipe_form_names_a_service() {
    assert_eq!(parse_entity("prod | web"), svc("prod", "web"));
}

#[test]
fn slash_form_names_a_service() {
    assert_eq!(parse_entity("prod/web"), svc("prod", "web"));
}

#[test]
fn surrounding_whitespace_is_ignored() {
    assert_eq!(parse_entity("  prod/web \n"), svc("prod", "web"));
}

#[test]
fn a_service_arn_names_a_service() {
    assert_eq!(
        parse_entity("arn:aws:ecs:eu-west-1:111122223333:service/prod/web"),
        svc("prod", "web")
    );
}

#[test]
fn a_full_task_arn_names_a_task_in_its_cluster() {
    let t = parse_entity("arn:aws:ecs:us-east-1:123456789012:task/prod/abc123");
    assert_eq!(
        t,
        Target::Task(TaskRef {
            cluster: Some("prod".into()),
            task_id: "abc123".into(),
            arn: "arn:aws:ecs:us-east-1:123456789012:task/prod/abc123".into()
        })
    );
}

#[test]
fn a_govcloud_partition_task_arn_is_accepted() {
    assert!(matches!(
        parse_entity("arn:aws-us-gov:ecs:us-gov-west-1:123456789012:task/prod/abc123"),
        Target::Task(_)
    ));
}

#[test]
fn a_short_task_arn_names_a_task_without_cluster() {
    match parse_entity(
        "arn:aws:ecs:us-east-1:123456789012:task/0b1c2d3e-aaaa-bbbb-cccc-000011112222",
    ) {
        Target::Task(t) => {
            assert_eq!(t.cluster, None);
            assert_eq!(t.task_id, "0b1c2d3e-aaaa-bbbb-cccc-000011112222");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn garbage_is_unrecognized_with_a_reason() {
    for raw in [
        "",
        "   ",
        "just-a-name",
        "a|b|c",
        "a/b/c",
        "prod|",
        "|web",
        "prod|we b",
        "arn:aws:ecs",
        "arn:aws:s3:::bucket/key",
        "arn:aws:ecs:us-east-1:123456789012:cluster/prod",
        "arn:aws:ecs:us-east-1:123456789012:service/web",
        "arn:aws:ecs:us-east-1:123456789012:task/prod/abc/def",
        "prod|web;rm -rf",
    ] {
        match parse_entity(raw) {
            Target::Unrecognized { raw: kept, why } => {
                assert_eq!(kept, raw);
                assert!(!why.is_empty());
            }
            other => panic!("{raw:?} parsed as {other:?}"),
        }
    }
}
