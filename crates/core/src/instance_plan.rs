//! Pure decisions for the container instances EC2 scheduled events name (ECS on EC2): what has
//! been seen of one → what to do with it. No I/O here; `engine::instances` reads what a
//! [`InstanceLook`] or [`CheckLook`] asks for, records it and asks again, then carries the
//! decision out.
//!
//! ```text
//! the notice  container instance? ─▶ closed: reactivate │ marks ─▶ status ─▶ room ─▶ drain
//! a check     reboot over? (EC2's pending reboot, the agent) ─▶ reactivate
//!             │ still DRAINING? ─▶ its tasks ─▶ relaunch │ wait │ its group ─▶ replace
//! ```
//!
//! Asking one thing at a time keeps the calls as few as the decision needs: a `closed` notice
//! reads no tags, a cluster with another ACTIVE instance is not asked about managed scaling,
//! and a check reads EC2's scheduled events only once the window says the reboot is over.

use chrono::{DateTime, Utc};

use crate::follow::Verdict;
use crate::names::{Action, Code};
use crate::notice::{Ec2Event, EventStatus, RetirementNotice};
use crate::outcome::{Outcome, Status};
use crate::plan::consent;
use crate::ports::{ContainerInstance, InstanceEvent, TaskObservation};
use crate::target::{InstanceRef, Target};
use crate::Settings;

/// The custom attribute that marks a container instance the remediator drained; its value is
/// the notice's id.
pub const DRAINED_ATTRIBUTE: &str = "retirement-remediator/drained";

/// The notice's id as an attribute value (at most 128 characters of a restricted set).
pub fn mark_value(notice: &RetirementNotice) -> String {
    notice
        .event_arn
        .rsplit('/')
        .next()
        .unwrap_or("notice")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_.@:".contains(*c))
        .take(128)
        .collect()
}

/// The cluster name in a container instance ARN (`…:container-instance/CLUSTER/ID`).
pub fn cluster_of(arn: &str) -> Option<&str> {
    let rest = arn.split_once(":container-instance/")?.1;
    let (cluster, _) = rest.split_once('/')?;
    Some(cluster)
}

/// The operator's marks that bear on a container instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Marks {
    /// The container instance's tags and its EC2 instance's, together: the resource's own.
    pub instance: Vec<(String, String)>,
    /// Its cluster's tags.
    pub cluster: Vec<(String, String)>,
}

/// Where the tasks of a drained instance can go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room {
    /// Another `ACTIVE` container instance of the cluster stays (this notice does not drain it).
    OtherInstances,
    /// It is the last `ACTIVE` one, but a capacity provider of the cluster has managed scaling.
    ManagedScaling,
    /// It is the last `ACTIVE` one, and nothing scales the cluster out.
    Nowhere,
}

/// Whether another `ACTIVE` container instance of `cluster` stays, `draining` being the ARNs
/// this notice drains: the first half of [`Room`], the second (managed scaling) is a read.
pub fn others_active<'a>(
    inventory: impl IntoIterator<Item = &'a ContainerInstance>,
    cluster: &str,
    draining: &[&str],
) -> bool {
    inventory.into_iter().any(|o| {
        o.cluster == cluster && o.status == "ACTIVE" && !draining.contains(&o.arn.as_str())
    })
}

/// What has been seen of one instance an EC2 scheduled event names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSeen {
    /// Its container instance, from the account's clusters; `None`: it is in none of them.
    pub container: Option<ContainerInstance>,
    /// Answers [`InstanceLook::Marks`].
    pub marks: Option<Marks>,
    /// Answers [`InstanceLook::Room`].
    pub room: Option<Room>,
}

impl InstanceSeen {
    /// Only the inventory read so far.
    pub fn new(container: Option<ContainerInstance>) -> Self {
        InstanceSeen {
            container,
            marks: None,
            room: None,
        }
    }
}

/// What the planner needs to see next of an instance the notice names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceLook {
    /// Its tags, its EC2 instance's and its cluster's: answer in [`InstanceSeen::marks`].
    Marks,
    /// Where its tasks can go: answer in [`InstanceSeen::room`]. Every instance asking it at
    /// once is one this notice drains, so none of them counts as room for another.
    Room,
}

/// What to do with one instance an EC2 scheduled event names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceDecision {
    /// Read this, record it, and ask again.
    Look(InstanceLook),
    /// Mark this container instance with [`DRAINED_ATTRIBUTE`], set it `DRAINING` (batched per
    /// cluster), then relaunch its standalone tasks elsewhere.
    Drain(ContainerInstance),
    /// Set this container instance `ACTIVE` again and take the mark off: the maintenance it was
    /// drained for is over.
    Reactivate(ContainerInstance),
    /// Nothing to call: the outcome is known.
    Final(Outcome),
}

/// Decides for one instance the notice names, from what has been `seen` of it so far.
///
/// Each [`InstanceDecision::Look`] asks for a field of `seen` that is still `None`: at most two
/// looks before a decision.
pub fn plan_instance(
    instance: &InstanceRef,
    seen: &InstanceSeen,
    notice: &RetirementNotice,
    settings: &Settings,
) -> InstanceDecision {
    let target = Target::Instance(instance.clone());
    let Some(ci) = &seen.container else {
        return InstanceDecision::Final(Outcome::new(
            target,
            Status::Skipped,
            Code::NotContainerInstance,
            format!(
                "{} is not a container instance of any ECS cluster of this account and Region",
                instance.instance_id
            ),
        ));
    };
    if notice.status == Some(EventStatus::Closed) {
        return match reactivation(&target, ci, &mark_value(notice), settings.dry_run) {
            None => InstanceDecision::Reactivate(ci.clone()),
            Some(outcome) => InstanceDecision::Final(outcome),
        };
    }
    let Some(marks) = &seen.marks else {
        return InstanceDecision::Look(InstanceLook::Marks);
    };
    if let Some(outcome) = consent(
        &target,
        &marks.instance,
        &marks.cluster,
        settings.opt_in_only,
    ) {
        return InstanceDecision::Final(outcome);
    }
    match ci.status.as_str() {
        "ACTIVE" => match seen.room {
            None => InstanceDecision::Look(InstanceLook::Room),
            Some(room) => drain(target, ci, room, notice, settings.dry_run),
        },
        "DRAINING" => InstanceDecision::Final(already_draining(target, ci, notice)),
        other => InstanceDecision::Final(Outcome::new(
            target,
            Status::Skipped,
            Code::Gone,
            format!(
                "container instance in cluster {} is {other}: nothing to drain",
                ci.cluster
            ),
        )),
    }
}

/// An `ACTIVE` instance, once it is known where its tasks can go.
///
/// The last `ACTIVE` instance of a cluster nothing scales out is never drained, idle or not
/// (issue 16: "the last ACTIVE instance of a cluster without managed scaling is not drained"):
/// a drain is held until a day before AWS's date, and from then on a scheduled RunTask job or a
/// service scaling from 0 would have nowhere to run, a day early. That it runs nothing now says
/// nothing about the next hour.
///
/// A final failure, not a skip: a final failure is alarmed (`Outcomes`, `Result=failed`) and
/// promises that a person must act (crates/README.md, "Follow-up checks", the Alerts bullet; [`crate::ledger::State::Unreplaced`] "a
/// person decides"), like `no_room_to_replace`, the same kind of "your configuration leaves no
/// room" answer. Here a person must add capacity or accept AWS's stop; a skip would say nothing
/// needs doing. Not retryable (Lambda's retry sees the same cluster), but the ledger's `failed`
/// is claimable, so a redelivery once capacity is added plans again and drains.
fn drain(
    target: Target,
    ci: &ContainerInstance,
    room: Room,
    notice: &RetirementNotice,
    dry_run: bool,
) -> InstanceDecision {
    if room == Room::Nowhere {
        return InstanceDecision::Final(
            Outcome::failed(
                target,
                Code::NoCapacityElsewhere,
                nowhere(ci, notice),
                false,
            )
            .with_action(Action::DrainInstance),
        );
    }
    if dry_run {
        return InstanceDecision::Final(
            Outcome::new(
                target,
                Status::Planned,
                Code::WouldDrain,
                format!(
                    "would set the container instance in cluster {} DRAINING",
                    ci.cluster
                ),
            )
            .with_action(Action::DrainInstance),
        );
    }
    InstanceDecision::Drain(ci.clone())
}

/// Why the last `ACTIVE` instance stays `ACTIVE`: what capacity to add, and what AWS does at its
/// date if none is.
fn nowhere(ci: &ContainerInstance, notice: &RetirementNotice) -> String {
    let tasks = match ci.running_tasks {
        0 => "it runs no task now, but a scheduled RunTask job or a service scaling from 0 would have nowhere to run".to_owned(),
        n => format!("its {n} task(s) would have nowhere to run"),
    };
    let date = notice
        .start_time
        .map(|t| format!(" at {}", t.to_rfc3339()))
        .unwrap_or_default();
    let aws = match notice.ec2.unwrap_or(Ec2Event::Retirement) {
        Ec2Event::Retirement => format!("AWS retires the instance{date} (stops or terminates it) and every task on it stops, with none of the cluster's tasks able to start again until capacity is added"),
        Ec2Event::Stop => format!("AWS stops the instance{date} and every task on it stops, with none of the cluster's tasks able to start again until it is started or capacity is added"),
        Ec2Event::Reboot => format!("AWS reboots the instance{date}: its tasks stop, and the cluster has no capacity until the instance and its ECS agent are back"),
    };
    format!(
        "not drained: it is the last ACTIVE container instance of cluster {} and no capacity provider of the cluster has managed scaling, so {tasks}. \
         Add capacity: register another container instance in the cluster, or add an Auto Scaling group capacity provider with managed scaling to it; then redeliver the notice. \
         Otherwise {aws}",
        ci.cluster
    )
}

/// A `DRAINING` instance: drained for this notice by an earlier delivery (followed as acted), or
/// by someone else (an operator, ECS managed draining, another notice): not followed, never
/// reactivated, nothing replaced.
fn already_draining(target: Target, ci: &ContainerInstance, notice: &RetirementNotice) -> Outcome {
    if ci.attribute(DRAINED_ATTRIBUTE) == Some(mark_value(notice).as_str()) {
        return Outcome::new(
            target,
            Status::AlreadyDone,
            Code::AlreadyDraining,
            format!(
                "container instance in cluster {} is already DRAINING (drained for this notice earlier)",
                ci.cluster
            ),
        )
        .with_action(Action::DrainInstance)
        .with_deployments(Some(ci.ec2_instance_id.clone()), Some(ci.arn.clone()));
    }
    Outcome::new(
        target,
        Status::AlreadyDone,
        Code::AlreadyDraining,
        format!(
            "container instance in cluster {} is already DRAINING, not for this notice (an operator, ECS managed draining or another notice): left as it is",
            ci.cluster
        ),
    )
}

/// After a reboot maintenance: reactivate (`None`) only if the remediator drained it for this
/// notice (`mark`), never an operator's drain nor one made for another notice (a retirement of
/// the same instance); otherwise, or in a dry run, the outcome.
pub fn reactivation(
    target: &Target,
    ci: &ContainerInstance,
    mark: &str,
    dry_run: bool,
) -> Option<Outcome> {
    let outcome = |status, code, reason: String| {
        Some(
            Outcome::new(target.clone(), status, code, reason)
                .with_action(Action::ReactivateInstance),
        )
    };
    if ci.status != "DRAINING" || ci.attribute(DRAINED_ATTRIBUTE) != Some(mark) {
        return outcome(
            Status::Skipped,
            Code::NotDrainedByRemediator,
            format!(
                "container instance is {} and carries no {DRAINED_ATTRIBUTE} attribute of this notice: left as it is",
                ci.status
            ),
        );
    }
    if dry_run {
        return outcome(
            Status::Planned,
            Code::WouldReactivate,
            "would set it ACTIVE again".into(),
        );
    }
    None
}

// ---- Follow-up checks of a drained instance ----

/// The container instance ARN a followed outcome recorded (`after`) and its cluster, or the
/// verdict when it recorded none.
pub fn recorded(after: Option<&str>) -> Result<(&str, &str), Verdict> {
    after
        .and_then(|arn| Some((arn, cluster_of(arn)?)))
        .ok_or_else(|| {
            Verdict::Failed(
                Code::UnrecognizedEntity,
                "no container instance recorded to check".into(),
            )
        })
}

/// The container instance `arn` in its cluster's `listing` (`Err`: why the cluster's container
/// instances could not be listed), or the verdict when it is not there to check.
pub fn listed<'a>(
    cluster: &str,
    arn: &str,
    listing: Result<&'a [ContainerInstance], String>,
) -> Result<&'a ContainerInstance, Verdict> {
    match listing {
        Ok(all) => all.iter().find(|ci| ci.arn == arn).ok_or_else(|| {
            Verdict::Verified(format!(
                "the container instance left cluster {cluster} (deregistered): nothing of it is left to retire"
            ))
        }),
        Err(e) => Err(Verdict::Pending(format!(
            "cluster {cluster}'s container instances could not be listed ({e}); the next check looks again"
        ))),
    }
}

/// A read a check asks for: `None` not made yet, `Err` why it failed.
pub type Read<T> = Option<Result<T, String>>;

/// The tasks on a drained instance, as a check counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TasksOn {
    /// The tasks ECS lists on it (desired `RUNNING`).
    pub listed: usize,
    /// Those of them that are not stopped and belong to no daemon service: a standalone task,
    /// or a replica service task ECS has not moved yet.
    pub not_daemon: usize,
}

/// The services the tasks belong to (their group `service:NAME`), each once: those to ask
/// whether they are daemon services.
pub fn services_of<L>(tasks: &[TaskObservation<L>]) -> Vec<String> {
    let mut services: Vec<String> = tasks
        .iter()
        .filter_map(|t| service_of(t).map(str::to_owned))
        .collect();
    services.sort();
    services.dedup();
    services
}

fn service_of<L>(task: &TaskObservation<L>) -> Option<&str> {
    task.group.as_deref()?.strip_prefix("service:")
}

/// How many of `tasks` are not stopped and belong to none of the `daemons` services.
pub fn not_daemon<L>(tasks: &[TaskObservation<L>], daemons: &[String]) -> usize {
    tasks
        .iter()
        .filter(|t| t.last_status != "STOPPED")
        .filter(|t| !service_of(t).is_some_and(|s| daemons.iter().any(|d| d == s)))
        .count()
}

/// What a follow-up check has seen of a container instance the remediator drained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The container instance, as its cluster lists it now.
    pub instance: ContainerInstance,
    /// Answers [`CheckLook::ScheduledEvents`].
    pub scheduled_events: Read<Vec<InstanceEvent>>,
    /// Answers [`CheckLook::Tasks`].
    pub tasks: Read<TasksOn>,
    /// Answers [`CheckLook::AutoScalingGroup`].
    pub group: Read<Option<String>>,
}

impl Checked {
    /// Only the cluster's listing read so far.
    pub fn new(instance: ContainerInstance) -> Self {
        Checked {
            instance,
            scheduled_events: None,
            tasks: None,
            group: None,
        }
    }
}

/// What a check needs to read next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckLook {
    /// EC2's scheduled events of the instance not completed or canceled.
    ScheduledEvents,
    /// The tasks on it, counted ([`TasksOn`]).
    Tasks,
    /// Its Auto Scaling group, if it is in one.
    AutoScalingGroup,
}

/// The next step of a follow-up check on a drained instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceCheck {
    /// Read this, record it in [`Checked`], and ask again.
    Look(CheckLook),
    /// The reboot maintenance is over: set it `ACTIVE` again and take the mark off.
    Reactivate,
    /// `left` tasks other than daemon tasks still run on it: relaunch its standalone tasks
    /// elsewhere again (idempotent), and look again at the next check.
    RelaunchStandalone { left: usize },
    /// `REPLACE_DRAINED_INSTANCES`: terminate it in Auto Scaling group `group`, keeping the
    /// desired capacity, so the group launches a patched replacement.
    Replace { group: String },
    /// Nothing (more) to call: the verdict is known.
    Done(Verdict),
}

/// The next step of a follow-up check on a drained instance, from what it has `seen`:
/// drained is done when the instance runs nothing but daemon-service tasks; a reboot's instance
/// is reactivated once the notice is `closed`, or its window has ended, EC2 shows no pending
/// reboot and the instance's agent is connected again.
pub fn check_instance(
    target: &Target,
    seen: &Checked,
    notice: &RetirementNotice,
    now: DateTime<Utc>,
    settings: &Settings,
) -> InstanceCheck {
    let ci = &seen.instance;
    let kind = notice.ec2.unwrap_or(Ec2Event::Retirement);
    if kind == Ec2Event::Reboot {
        if let Some(step) = after_reboot(target, seen, notice, now, settings.dry_run) {
            return step;
        }
    }
    if ci.status != "DRAINING" {
        return InstanceCheck::Done(Verdict::Verified(format!(
            "the container instance is {} again (set by someone else): nothing left to drain",
            ci.status
        )));
    }
    let tasks = match &seen.tasks {
        None => return InstanceCheck::Look(CheckLook::Tasks),
        Some(Err(e)) => {
            return InstanceCheck::Done(Verdict::Pending(format!(
                "its tasks could not be listed ({e}); the next check looks again"
            )))
        }
        Some(Ok(tasks)) => tasks,
    };
    // Tasks ECS is still stopping (desired STOPPED, still running through their stop timeout
    // or load balancer deregistration) are counted by the instance, not listed.
    let daemons = tasks.listed.saturating_sub(tasks.not_daemon);
    let stopping = usize::try_from(ci.running_tasks)
        .unwrap_or(0)
        .saturating_sub(tasks.listed);
    if stopping > 0 && tasks.not_daemon == 0 {
        return InstanceCheck::Done(Verdict::Pending(format!(
            "{stopping} task(s) are still stopping on it ({daemons} daemon task(s) stay); the next check looks again"
        )));
    }
    if tasks.not_daemon > 0 {
        return InstanceCheck::RelaunchStandalone {
            left: tasks.not_daemon,
        };
    }
    drained(seen, notice, kind, settings.replace_drained_instances)
}

/// A reboot's instance once the maintenance is over: `None` while it is not.
fn after_reboot(
    target: &Target,
    seen: &Checked,
    notice: &RetirementNotice,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Option<InstanceCheck> {
    let closed = notice.status == Some(EventStatus::Closed);
    let window_over = notice.end_time.is_some_and(|end| now >= end);
    if !closed && !window_over {
        return None;
    }
    // A window over by the notice's times may have moved (the maintenance rescheduled, the
    // notice's update not here yet): EC2's own record of the instance's pending reboot
    // decides. A `closed` notice is AWS saying it is over.
    if !closed {
        let pending = match &seen.scheduled_events {
            None => return Some(InstanceCheck::Look(CheckLook::ScheduledEvents)),
            Some(Err(e)) => {
                return Some(InstanceCheck::Done(Verdict::Pending(format!(
                    "the instance's scheduled events could not be read ({e}); the next check looks again"
                ))))
            }
            Some(Ok(events)) => events.iter().find(|(c, _)| c.contains("reboot")),
        };
        if let Some((code, at)) = pending {
            return Some(InstanceCheck::Done(Verdict::Pending(format!(
                "EC2 still shows a scheduled {code}{} for the instance: it stays drained until that is over",
                at.map(|t| format!(" from {}", t.to_rfc3339())).unwrap_or_default()
            ))));
        }
    }
    if !seen.instance.agent_connected {
        return Some(InstanceCheck::Done(Verdict::Pending(
            "the maintenance is over; waiting for the instance's ECS agent to reconnect before reactivating it".into(),
        )));
    }
    // Not the remediator's drain, or a dry run: nothing for a check to wait for.
    Some(
        match reactivation(target, &seen.instance, &mark_value(notice), dry_run) {
            None => InstanceCheck::Reactivate,
            Some(outcome) => InstanceCheck::Done(Verdict::Verified(outcome.reason)),
        },
    )
}

/// Drained: it runs no task but daemon tasks.
fn drained(
    seen: &Checked,
    notice: &RetirementNotice,
    kind: Ec2Event,
    replace: bool,
) -> InstanceCheck {
    let id = &seen.instance.ec2_instance_id;
    let verdict = match kind {
        Ec2Event::Reboot => Verdict::Pending(format!(
            "drained ahead of the reboot maintenance{}; it is set ACTIVE again when the maintenance is over",
            notice
                .end_time
                .map(|t| format!(" (ending {})", t.to_rfc3339()))
                .unwrap_or_default()
        )),
        Ec2Event::Retirement | Ec2Event::Stop if replace => match &seen.group {
            None => return InstanceCheck::Look(CheckLook::AutoScalingGroup),
            Some(Ok(Some(group))) => return InstanceCheck::Replace {
                group: group.clone(),
            },
            Some(Ok(None)) => Verdict::Verified(format!(
                "drained: it runs no task but daemon tasks; {id} is in no Auto Scaling group, so it waits for AWS"
            )),
            Some(Err(e)) => Verdict::Pending(format!(
                "drained; its Auto Scaling group could not be read ({e}); the next check tries again"
            )),
        },
        Ec2Event::Retirement | Ec2Event::Stop => Verdict::Verified(format!(
            "drained: it runs no task but daemon tasks, and waits for AWS{} (REPLACE_DRAINED_INSTANCES is off)",
            notice
                .start_time
                .map(|t| format!(" at {}", t.to_rfc3339()))
                .unwrap_or_default()
        )),
    };
    InstanceCheck::Done(verdict)
}

// Beside this file, like the crate's other `*_tests.rs`.
#[cfg(test)]
#[path = "instance_plan_tests.rs"]
mod instance_plan_tests;
