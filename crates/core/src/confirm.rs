//! Confirming a notice with AWS Health before acting on it (`CONFIRM_NOTICES=health-api`).
//!
//! Anyone who may invoke the function, or create a schedule its scheduler role runs, can hand
//! it a notice. With confirmation on, the notice's word is not enough: before the first
//! mutating call the function asks AWS Health (`DescribeEventDetails` and
//! `DescribeAffectedEntities`, or their `…ForOrganization` forms for a member account) whether
//! the event exists, has a type this function acts on, and lists each resource about to be
//! acted on. What Health does not confirm ends `unconfirmed` (failed, final: a person should
//! look at who sent it). AWS Health API reference: the API needs a Business, Enterprise
//! On-Ramp or Enterprise Support plan (`SubscriptionRequiredException` otherwise); the
//! organizational view needs `EnableHealthServiceAccessForOrganization` in the management
//! account; the `…ForOrganization` operations take `{eventArn, awsAccountId}` filters.

use std::collections::HashSet;

use crate::names::Code;
use crate::outcome::Outcome;
#[cfg(test)]
use crate::outcome::Status;
use crate::target::{parse_entity, parse_instance_entity, Target};

/// What AWS Health says of one event: its type, and the entities it lists for the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthRecord {
    pub service: String,
    /// The event's Region, as Health says (`None` when it does not).
    pub region: Option<String>,
    pub event_type_code: String,
    pub entities: Vec<String>,
}

/// AWS Health's answer about an event ARN (for one account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Health knows the event.
    Found(HealthRecord),
    /// Health does not know it (its `failedSet` names the ARN, or no event came back).
    Unknown(String),
}

/// Why Health could not be asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupError {
    pub reason: String,
    /// Throttling, 5xx, a timeout: asking later may work. A missing support plan or a
    /// refusal will not.
    pub retryable: bool,
}

/// The targets Health confirms, and an outcome for each it does not. Targets that get an
/// outcome of their own without any call (unrecognized, elsewhere) pass through untouched.
pub fn split(
    targets: &[Target],
    lookup: &Lookup,
    arn: &str,
    region: Option<&str>,
    accepts: impl Fn(&str, &str) -> bool,
) -> (Vec<Target>, Vec<Outcome>) {
    let record = match lookup {
        Lookup::Unknown(why) => {
            return none_confirmed(
                targets,
                &format!(
                    "AWS Health does not confirm event {arn} ({why}): nothing was acted on; check who sent this notice (CloudTrail lambda:Invoke / scheduler:CreateSchedule)"
                ),
            );
        }
        Lookup::Found(record) => record,
    };
    if !accepts(&record.service, &record.event_type_code) {
        return none_confirmed(
            targets,
            &format!(
                "AWS Health says event {arn} is {}/{}, not the notice's type: nothing was acted on",
                record.service, record.event_type_code
            ),
        );
    }
    if let (Some(theirs), Some(ours)) = (record.region.as_deref(), region) {
        if theirs != ours && theirs != "global" {
            return none_confirmed(
                targets,
                &format!(
                    "AWS Health says event {arn} is in {theirs}, the notice says {ours}: nothing was acted on"
                ),
            );
        }
    }
    let listed: HashSet<String> = record
        .entities
        .iter()
        .flat_map(|e| {
            [
                parse_entity(e).identity(),
                parse_instance_entity(e).identity(),
            ]
        })
        .collect();
    let mut keep = Vec::new();
    let mut out = Vec::new();
    for t in targets {
        if !actionable(t) || listed.contains(&t.identity()) {
            keep.push(t.clone());
        } else {
            out.push(Outcome::failed(
                t.clone(),
                Code::Unconfirmed,
                format!(
                    "AWS Health does not list {t} among the {} resource(s) of event {arn}: not acted on",
                    record.entities.len()
                ),
                false,
            ));
        }
    }
    (keep, out)
}

/// When Health could not be asked: every actionable target's outcome (nothing is acted on),
/// and the targets that get an outcome of their own without any call.
pub fn unasked(targets: &[Target], error: &LookupError) -> (Vec<Target>, Vec<Outcome>) {
    let why = format!(
        "the notice could not be confirmed with AWS Health ({}): nothing was acted on{}",
        error.reason,
        if error.retryable {
            "; a later attempt asks again"
        } else {
            ""
        }
    );
    let code = if error.retryable {
        Code::ApiError
    } else {
        Code::Unconfirmed
    };
    let (mut keep, mut out) = (Vec::new(), Vec::new());
    for t in targets {
        if actionable(t) {
            out.push(Outcome::failed(
                t.clone(),
                code,
                why.clone(),
                error.retryable,
            ));
        } else {
            keep.push(t.clone());
        }
    }
    (keep, out)
}

/// A target some call would act on (the rest get their outcome from what the notice says).
fn actionable(t: &Target) -> bool {
    matches!(
        t,
        Target::Service(_) | Target::Task(_) | Target::Instance(_) | Target::Pod(_)
    )
}

/// Every actionable target unconfirmed for `why`; the rest kept.
fn none_confirmed(targets: &[Target], why: &str) -> (Vec<Target>, Vec<Outcome>) {
    let (mut keep, mut out) = (Vec::new(), Vec::new());
    for t in targets {
        if actionable(t) {
            out.push(Outcome::failed(t.clone(), Code::Unconfirmed, why, false));
        } else {
            keep.push(t.clone());
        }
    }
    (keep, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::parse_entity;

    fn record(entities: &[&str]) -> Lookup {
        Lookup::Found(HealthRecord {
            service: "ECS".into(),
            region: Some("us-east-1".into()),
            event_type_code: "AWS_ECS_TASK_PATCHING_RETIREMENT".into(),
            entities: entities.iter().map(|e| (*e).to_owned()).collect(),
        })
    }

    fn ecs(service: &str, code: &str) -> bool {
        service == "ECS" && code == "AWS_ECS_TASK_PATCHING_RETIREMENT"
    }

    #[test]
    fn a_listed_resource_is_kept_whatever_form_health_writes_it_in() {
        let targets = vec![parse_entity("prod|web"), parse_entity("prod|api")];
        let (keep, out) = split(
            &targets,
            &record(&["prod/web", "prod | api"]),
            "arn",
            Some("us-east-1"),
            ecs,
        );
        assert_eq!(keep, targets);
        assert!(out.is_empty());
    }

    #[test]
    fn a_resource_health_does_not_list_is_unconfirmed_and_the_rest_kept() {
        let targets = vec![parse_entity("prod|web"), parse_entity("prod|payments")];
        let (keep, out) = split(
            &targets,
            &record(&["prod|web"]),
            "arn",
            Some("us-east-1"),
            ecs,
        );
        assert_eq!(keep, vec![parse_entity("prod|web")]);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].status, out[0].code),
            (Status::Failed, Code::Unconfirmed)
        );
        assert!(!out[0].retryable);
        assert!(out[0].reason.contains("prod/payments"), "{}", out[0].reason);
    }

    #[test]
    fn an_event_health_does_not_know_confirms_nothing() {
        let targets = vec![parse_entity("prod|web"), parse_entity("garbage entity")];
        let (keep, out) = split(
            &targets,
            &Lookup::Unknown("not found".into()),
            "arn",
            Some("us-east-1"),
            ecs,
        );
        assert_eq!(
            keep,
            vec![parse_entity("garbage entity")],
            "it gets its own outcome"
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].code, Code::Unconfirmed);
    }

    #[test]
    fn an_event_of_another_region_confirms_nothing() {
        let (keep, out) = split(
            &[parse_entity("prod|web")],
            &record(&["prod|web"]),
            "arn",
            Some("eu-west-1"),
            ecs,
        );
        assert!(keep.is_empty());
        assert!(out[0].reason.contains("eu-west-1"), "{}", out[0].reason);
    }

    #[test]
    fn an_event_of_another_type_confirms_nothing() {
        let other = Lookup::Found(HealthRecord {
            service: "EC2".into(),
            region: None,
            event_type_code: "AWS_EC2_OPERATIONAL_ISSUE".into(),
            entities: vec!["prod|web".into()],
        });
        let (keep, out) = split(
            &[parse_entity("prod|web")],
            &other,
            "arn",
            Some("us-east-1"),
            ecs,
        );
        assert!(keep.is_empty());
        assert!(
            out[0].reason.contains("AWS_EC2_OPERATIONAL_ISSUE"),
            "{}",
            out[0].reason
        );
    }
}
