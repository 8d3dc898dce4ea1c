//! Raw EventBridge event → typed retirement notice.
//!
//! The ECS retirement notice arrives as an AWS Health event (shape from the AWS Fargate task
//! maintenance FAQ, `events-fixtures/health-ecs-faq-sample.json`):
//!
//! ```json
//! { "source": "aws.health", "detail-type": "AWS Health Event", "time": "2023-08-16T23:18:51Z",
//!   "account": "123456789012", "region": "us-east-1",
//!   "resources": ["cluster/service"],
//!   "detail": { "eventArn": "arn:aws:health:us-east-1::event/ECS/AWS_ECS_TASK_PATCHING_RETIREMENT/…",
//!               "service": "ECS", "eventTypeCode": "AWS_ECS_TASK_PATCHING_RETIREMENT",
//!               "statusCode": "upcoming",
//!               "startTime": "Wed, 16 Aug 2023 23:18:51 GMT", "endTime": "",
//!               "affectedEntities": [{ "entityValue": "cluster/service" }] } }
//! ```
//!
//! Parsing is total: every input ends as a [`Parsed::Retirement`], a [`Parsed::Ignored`] with a
//! stated reason, or a [`ParseError`] that says what is wrong with it. Nothing panics.

use std::collections::HashMap;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::bounds;
use crate::names::{EventCode, CHECK_DETAIL_TYPE, CHECK_SOURCE};
use crate::parse_error::shaped;

mod eks;
pub use crate::parse_error::{ParseError, ShapeError};
use crate::target::{distrust_disagreements, instance_in, place_in, Target};
use eks::parse_eks;
pub use eks::PodNotice;

/// AWS Health `source` / `detail-type` of the events this project handles.
pub const HEALTH_SOURCE: &str = "aws.health";
pub const HEALTH_DETAIL_TYPE: &str = "AWS Health Event";
/// The Health event type code of a Fargate task patching retirement.
pub const ECS_RETIREMENT_CODE: &str = "AWS_ECS_TASK_PATCHING_RETIREMENT";
/// EC2 scheduled events for instances (AWS Health, service `EC2`) the ECS function drains
/// container instances for, and what each does to the instance. Sources: `events-fixtures/README.md`.
pub const EC2_EVENT_CODES: [(&str, Ec2Event); 5] = [
    (
        "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED",
        Ec2Event::Retirement,
    ),
    (
        "AWS_EC2_PERSISTENT_INSTANCE_RETIREMENT_SCHEDULED",
        Ec2Event::Retirement,
    ),
    ("AWS_EC2_INSTANCE_STOP_SCHEDULED", Ec2Event::Stop),
    (
        "AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED",
        Ec2Event::Reboot,
    ),
    (
        "AWS_EC2_SYSTEM_REBOOT_MAINTENANCE_SCHEDULED",
        Ec2Event::Reboot,
    ),
];

/// What an EC2 scheduled event does to the instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ec2Event {
    /// AWS retires the instance (stops or terminates it): it does not come back.
    Retirement,
    /// AWS stops the instance: it comes back only when someone starts it.
    Stop,
    /// AWS reboots the instance (or its host) in a maintenance window: it comes back.
    Reboot,
}

/// EKS Fargate eviction-failure event (handled by a later capability).
pub const EKS_SOURCE: &str = "aws.eks";
pub const EKS_DETAIL_TYPE: &str = "EKS Fargate Pod Scheduled Termination";

/// What a raw event turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// A Fargate task patching retirement that names resources to remediate.
    Retirement(RetirementNotice),
    /// EKS could not evict a Fargate pod for patching and will delete it.
    PodTermination(PodNotice),
    /// A well-formed event that needs no action, with the reason.
    Ignored(Ignored),
}

impl Parsed {
    /// The Region the event comes from, when it says.
    pub fn region(&self) -> Option<&str> {
        match self {
            Parsed::Retirement(n) => n.region.as_deref(),
            Parsed::PodTermination(n) => n.region.as_deref(),
            Parsed::Ignored(_) => None,
        }
    }

    /// The EventBridge event id, when the event has one.
    pub fn event_id(&self) -> Option<&str> {
        match self {
            Parsed::Retirement(n) => n.event_id.as_deref(),
            Parsed::PodTermination(n) => n.event_id.as_deref(),
            Parsed::Ignored(i) => i.event_id.as_deref(),
        }
    }

    /// The AWS Health event ARN, when the event has one.
    pub fn event_arn(&self) -> Option<&str> {
        match self {
            Parsed::Retirement(n) => Some(&n.event_arn),
            Parsed::PodTermination(_) => None,
            Parsed::Ignored(i) => i.event_arn.as_deref(),
        }
    }
}

/// A well-formed event this remediator deliberately does nothing about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ignored {
    pub event_id: Option<String>,
    pub event_arn: Option<String>,
    pub source: String,
    pub detail_type: String,
    /// Stable machine-readable reason: `closed_event`, `other_event_type`, `unsupported_source`.
    pub code: EventCode,
    pub reason: String,
}

/// Health event lifecycle status (`detail.statusCode`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    Upcoming,
    Open,
    Closed,
    Other(String),
}

/// A typed `AWS_ECS_TASK_PATCHING_RETIREMENT` notice, or an EC2 scheduled event for instances
/// (`ec2`).
#[derive(Debug, Clone, PartialEq)]
pub struct RetirementNotice {
    /// EventBridge event id (differs per delivery copy of a Health event page).
    pub event_id: Option<String>,
    /// Health event ARN; several events (pages, updates) can share it.
    pub event_arn: String,
    /// Account that received the event.
    pub account: Option<String>,
    /// Account the resources live in, when Health events are aggregated (organization view).
    pub affected_account: Option<String>,
    pub region: Option<String>,
    /// When the notice was published (the EventBridge `time`). A service deployment created
    /// after this instant already runs on patched hosts.
    pub published_at: DateTime<Utc>,
    /// When AWS begins retiring tasks.
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub status: Option<EventStatus>,
    pub communication_id: Option<String>,
    /// Affected resources from `resources[]` and `detail.affectedEntities[]`, de-duplicated,
    /// in first-seen order.
    pub targets: Vec<Target>,
    /// An EC2 scheduled event (its targets are instances), not a Fargate retirement.
    pub ec2: Option<Ec2Event>,
}

/// How long AWS goes on retiring after `startTime` when a notice gives no `endTime`: two days,
/// as in AWS's own samples (the Fargate task maintenance FAQ's notice: `startTime` → `endTime`
/// is 48 h). AWS retires gradually from `startTime` until `endTime`, so acting in between is
/// racing AWS, not too late.
pub const RETIREMENT_GRACE: chrono::Duration = chrono::Duration::days(2);

impl RetirementNotice {
    /// When AWS's retirement window ends: `endTime` when it comes after `startTime`, else
    /// `startTime` plus [`RETIREMENT_GRACE`].
    pub fn retirement_end(&self) -> Option<DateTime<Utc>> {
        let start = self.start_time?;
        Some(
            self.end_time
                .filter(|end| *end > start)
                .unwrap_or(start + RETIREMENT_GRACE),
        )
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HealthDetail {
    event_arn: Option<String>,
    /// Where the resources are (the envelope's `region` is where the event was delivered; the
    /// two differ when events are forwarded to a central bus).
    event_region: Option<String>,
    service: Option<String>,
    event_type_code: Option<String>,
    status_code: Option<String>,
    start_time: Option<String>,
    // Optional and never acted on: any JSON is taken, and only a readable time is kept.
    end_time: Option<Value>,
    last_updated_time: Option<Value>,
    communication_id: Option<String>,
    affected_account: Option<String>,
    affected_entities: Option<Vec<AffectedEntity>>,
    /// `true` on the copy Health also delivers to a backup Region (always so in the China
    /// partition; AWS advises filtering `detail.backupEvent = false`, Health user guide,
    /// "Creating EventBridge rules for Region coverage").
    backup_event: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AffectedEntity {
    entity_value: Option<String>,
    /// The entity's account (organization view), when the event names one.
    aws_account_id: Option<String>,
}

/// Parses raw bytes (a file, a Lambda payload).
pub fn parse_slice(input: &[u8]) -> Result<Parsed, ParseError> {
    let value: Value = serde_json::from_slice(input).map_err(ParseError::NotJson)?;
    parse_value(value)
}

/// Parses an already-decoded JSON value, judging its `time` against the wall clock.
pub fn parse_value(input: Value) -> Result<Parsed, ParseError> {
    parse_value_at(input, Utc::now())
}

/// Parses an already-decoded JSON value; `now` bounds how far ahead its `time` may be.
pub fn parse_value_at(input: Value, now: DateTime<Utc>) -> Result<Parsed, ParseError> {
    let event: EventBridgeEvent<Value> = shaped(input, "").map_err(ParseError::NotEventBridge)?;
    bounds::account(
        "account",
        event.account.as_deref().filter(|a| !a.is_empty()),
    )?;
    bounds::region("region", event.region.as_deref().filter(|r| !r.is_empty()))?;
    if let Some(time) = event.time {
        bounds::published(time, now)?;
    }
    match (event.source.as_str(), event.detail_type.as_str()) {
        (HEALTH_SOURCE, HEALTH_DETAIL_TYPE) => parse_health(event, now),
        (EKS_SOURCE, EKS_DETAIL_TYPE) => parse_eks(event),
        (CHECK_SOURCE, CHECK_DETAIL_TYPE) => Err(ParseError::BrokenCheck(
            "a check needs `detail.check` (a number) and `detail.event` (the notice)".into(),
        )),
        _ => Ok(Parsed::Ignored(Ignored {
            event_id: event.id,
            event_arn: None,
            code: EventCode::UnsupportedSource,
            reason: format!(
                "no parser for source {:?} / detail-type {:?}",
                event.source, event.detail_type
            ),
            source: event.source,
            detail_type: event.detail_type,
        })),
    }
}

fn parse_health(event: EventBridgeEvent<Value>, now: DateTime<Utc>) -> Result<Parsed, ParseError> {
    let detail: HealthDetail = shaped(event.detail, "detail").map_err(ParseError::HealthDetail)?;
    let ec2 = match health_kind(&detail) {
        Ok(ec2) => ec2,
        Err((code, reason)) => {
            return Ok(Parsed::Ignored(Ignored {
                event_id: event.id,
                event_arn: detail.event_arn,
                source: event.source,
                detail_type: event.detail_type,
                code,
                reason,
            }))
        }
    };
    let status = detail.status_code.as_deref().map(|s| match s {
        "upcoming" => EventStatus::Upcoming,
        "open" => EventStatus::Open,
        "closed" => EventStatus::Closed,
        other => EventStatus::Other(other.to_owned()),
    });
    let event_arn =
        non_empty(detail.event_arn.clone()).ok_or(ParseError::MissingField("detail.eventArn"))?;
    let times = health_times(&detail, event.time, now)?;
    let entities = detail.affected_entities.unwrap_or_default();
    let scope = health_scope(
        &event_arn,
        &entities,
        detail.affected_account,
        detail.event_region,
        event.account,
        event.region,
    )?;
    let raw_entities = event
        .resources
        .iter()
        .flatten()
        .map(|raw| (raw.clone(), None))
        .chain(entities.into_iter().filter_map(|e| {
            let account = non_empty(e.aws_account_id);
            e.entity_value.map(|raw| (raw, account))
        }));
    let targets = health_targets(raw_entities, &scope, ec2.is_some());

    Ok(Parsed::Retirement(RetirementNotice {
        event_id: event.id,
        event_arn,
        account: scope.account,
        affected_account: scope.affected_account,
        region: scope.region,
        published_at: times.published_at,
        start_time: times.start_time,
        end_time: times.end_time,
        status,
        communication_id: non_empty(detail.communication_id),
        targets,
        ec2,
    }))
}

/// Which Health event this is: `Ok(None)` the ECS retirement, `Ok(Some(kind))` an EC2 scheduled
/// event for instances, `Err` a code and reason to ignore it with.
fn health_kind(detail: &HealthDetail) -> Result<Option<Ec2Event>, (EventCode, String)> {
    let service = detail.service.as_deref().unwrap_or_default();
    let code = detail.event_type_code.as_deref().unwrap_or_default();
    let ec2 = EC2_EVENT_CODES
        .iter()
        .find(|(c, _)| service == "EC2" && *c == code)
        .map(|(_, kind)| *kind);
    if (service != "ECS" || code != ECS_RETIREMENT_CODE) && ec2.is_none() {
        return Err((
            EventCode::OtherEventType,
            format!(
                "Health event {service}/{code} is neither an ECS task patching retirement nor an EC2 scheduled event for instances"
            ),
        ));
    }
    // A closed reboot maintenance is the moment to bring drained instances back.
    if detail.status_code.as_deref() == Some("closed") && ec2 != Some(Ec2Event::Reboot) {
        return Err((
            EventCode::ClosedEvent,
            "the Health event is closed: the retirement is over".into(),
        ));
    }
    if matches!(&detail.backup_event, Some(Value::Bool(true)))
        || matches!(&detail.backup_event, Some(Value::String(s)) if s.eq_ignore_ascii_case("true"))
    {
        return Err((
            EventCode::BackupEvent,
            "a backup copy of a Health event (detail.backupEvent): the primary Region's delivery is the one acted on".into(),
        ));
    }
    Ok(ec2)
}

/// The notice's instants, each checked against the run's clock and against each other.
struct HealthTimes {
    published_at: DateTime<Utc>,
    start_time: Option<DateTime<Utc>>,
    end_time: Option<DateTime<Utc>>,
}

fn health_times(
    detail: &HealthDetail,
    time: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<HealthTimes, ParseError> {
    let start_time = rfc2822("detail.startTime", detail.start_time.as_deref())?;
    // Neither drives an action: a value that is not RFC 2822 is dropped with a warning rather
    // than costing the whole notice (startTime, AWS's deadline, stays strict).
    let end_time = optional_rfc2822("detail.endTime", detail.end_time.as_ref());
    let last_updated =
        optional_rfc2822("detail.lastUpdatedTime", detail.last_updated_time.as_ref());
    // EventBridge always stamps `time`; a hand-made event may lack it, and the Health detail's
    // own update time is the next best statement of when the notice was published.
    let published_at = time
        .or(last_updated)
        .ok_or(ParseError::MissingField("time"))?;

    bounds::published(published_at, now)?;
    if let Some(start) = start_time {
        bounds::span("detail.startTime", start, published_at)?;
    }
    // AWS's window (startTime → endTime) bounds the follow-up checks: an endTime far past the
    // start would keep them going for as long, so one past `MAX_WINDOW` is not believed.
    let end_time = end_time.filter(|end| match start_time {
        Some(start) if *end - start > bounds::MAX_WINDOW => {
            tracing::warn!(end = %end, start = %start, "ignoring an endTime more than 30 days after startTime");
            false
        }
        _ => true,
    });
    Ok(HealthTimes {
        published_at,
        start_time,
        end_time,
    })
}

/// Where the notice points: the delivering account, the affected account and the Region.
struct HealthScope {
    account: Option<String>,
    affected_account: Option<String>,
    region: Option<String>,
}

fn health_scope(
    event_arn: &str,
    entities: &[AffectedEntity],
    affected_account: Option<String>,
    event_region: Option<String>,
    account: Option<String>,
    region: Option<String>,
) -> Result<HealthScope, ParseError> {
    // Organization view: `detail.affectedAccount`, else the account the entities name.
    for entity in entities {
        bounds::account(
            "detail.affectedEntities[].awsAccountId",
            non_empty(entity.aws_account_id.clone()).as_deref(),
        )?;
    }
    let affected_account = non_empty(affected_account).or_else(|| {
        entities
            .iter()
            .find_map(|e| non_empty(e.aws_account_id.clone()))
    });
    bounds::account("detail.affectedAccount", affected_account.as_deref())?;
    let event_region = non_empty(event_region);
    bounds::region("detail.eventRegion", event_region.as_deref())?;
    let region = event_region.or(non_empty(region));
    // The event's own ARN names its Region (`arn:aws:health:REGION::event/…`): a notice whose
    // Region says otherwise would steer a real event's resources into another Region.
    let arn_region = event_arn.split(':').nth(3).unwrap_or_default();
    if let Some(region) = region.as_deref() {
        if !arn_region.is_empty() && arn_region != "global" && arn_region != region {
            return Err(ParseError::OutOfBounds {
                field: "detail.eventArn",
                value: event_arn.chars().take(80).collect(),
                why: format!(
                    "the event ARN's Region ({arn_region}) is not the notice's ({region})"
                ),
            });
        }
    }
    Ok(HealthScope {
        account: non_empty(account),
        affected_account,
        region,
    })
}

/// Each entity (with the account it names, if any) placed in the notice's scope.
fn health_targets(
    raw_entities: impl Iterator<Item = (String, Option<String>)>,
    scope: &HealthScope,
    instances: bool,
) -> Vec<Target> {
    let notice_account = scope
        .affected_account
        .as_deref()
        .or(scope.account.as_deref());
    let region = scope.region.as_deref();
    let targets = dedup_targets(raw_entities.map(|(raw, entity_account)| {
        let entity_account = entity_account.as_deref();
        if instances {
            instance_in(&raw, entity_account, notice_account, region)
        } else {
            place_in(&raw, entity_account, notice_account, region)
        }
    }));
    distrust_disagreements(targets)
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
}

/// Health times are RFC 2822 (`Wed, 16 Aug 2023 23:18:51 GMT`); empty means absent.
fn rfc2822(field: &'static str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, ParseError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => DateTime::parse_from_rfc2822(v)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| ParseError::BadTime {
                field,
                value: v.to_owned(),
            }),
    }
}

/// [`rfc2822`] for a field the remediation can do without: unreadable is absent, logged.
fn optional_rfc2822(field: &'static str, value: Option<&Value>) -> Option<DateTime<Utc>> {
    let text = match value {
        None | Some(Value::Null) => return None,
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            tracing::warn!(field, value = %other, "ignoring an optional time that is not a string");
            return None;
        }
    };
    rfc2822(field, Some(text)).unwrap_or_else(|e| {
        tracing::warn!(field, error = %e, "ignoring an unreadable optional time in the notice");
        None
    })
}

/// De-duplicates by resource identity, keeping first-seen order. A task named once with its
/// cluster and once in the short ARN form (no cluster) is one task: the cluster is kept.
fn dedup_targets(targets: impl Iterator<Item = Target>) -> Vec<Target> {
    let mut out: Vec<Target> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for target in targets {
        let key = target.identity();
        match index.get(&key) {
            Some(&i) => {
                if let (Target::Task(kept), Target::Task(new)) = (&mut out[i], &target) {
                    if kept.cluster.is_none() {
                        kept.cluster.clone_from(&new.cluster);
                    }
                }
            }
            None => {
                index.insert(key, out.len());
                out.push(target);
            }
        }
    }
    out
}
