//! Follow-up checks of services through ECS's deployment lifecycle: bake time and lifecycle
//! hooks are progress, not stalls.
//!
//! ECS-native BLUE_GREEN, LINEAR and CANARY deployments wait on purpose (`bakeTimeInMinutes`,
//! the canary's or each linear step's bake, up to 1,440 minutes each), and since May 2026
//! lifecycle hooks can pause any deployment, rolling included, at a stage until
//! `ContinueServiceDeployment(hookId, CONTINUE | ROLLBACK)`, for up to 14 days, then take the
//! hook's timeout action. Meanwhile `DescribeServices` shows the deployment `IN_PROGRESS` with
//! no change of `updatedAt`, which alone reads as a stall. So a service whose configuration
//! waits ([`crate::ports::Lifecycle::waits`]) is judged by its service deployment
//! (`DescribeServiceDeployments` of `currentServiceDeployment`, 20 per call): its status, its
//! lifecycle stage and its hooks. When that cannot be read, nothing is judged final on it.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use futures::stream::{self, StreamExt};
use tokio::time::Instant;

use super::verify::{not_seen, ours_created, rolling, ServiceLooks};
use super::Remediator;
use crate::follow::{Followed, Verdict};
use crate::names::Code;
use crate::ports::{
    CodeDeployApi, EcsServices, EcsTasks, ServiceDeploymentView, ServiceObservation,
    MAX_SERVICES_PER_DESCRIBE, MAX_SERVICE_DEPLOYMENTS_PER_DESCRIBE,
};

/// How long before we recorded acting ECS may have created our deployment, when ECS's own
/// `createdAt` of it is not known: the remediation of a large notice takes minutes.
const ACTED_AFTER_CREATED: Duration = Duration::minutes(20);

/// AWS's retirement window: it begins stopping tasks at `start` and is done by `end`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

impl Window {
    /// What to say of a wait that lasts until `until`: nothing when it ends before AWS begins.
    fn risk(&self, what: &str, until: DateTime<Utc>) -> String {
        match (self.start, self.end) {
            (_, Some(end)) if until > end => format!(
                "; at risk: {what} past the end of AWS's window ({}), when AWS has stopped what still runs on the retiring host",
                end.to_rfc3339()
            ),
            (Some(start), _) if until > start => format!(
                "; at risk: {what} past {}, when AWS begins stopping tasks on the retiring host",
                start.to_rfc3339()
            ),
            _ => String::new(),
        }
    }
}

/// The verdict on a followed service whose configuration waits on purpose, from what its
/// service deployment shows. `rolled`: the verdict from `DescribeServices` alone; `seen`: the
/// service deployment (`Ok(None)`: ECS named none, or does not know it; `Err`: it could not be
/// read, with why). `window`: AWS's retirement window.
pub fn through_lifecycle(
    rolled: Verdict,
    f: &Followed,
    service: &ServiceObservation,
    seen: Result<Option<&ServiceDeploymentView>, String>,
    now: DateTime<Utc>,
    timeout: Duration,
    window: Window,
) -> Verdict {
    let in_progress = matches!(
        rolled,
        Verdict::Pending(_) | Verdict::Failed(Code::RolloutStalled, _)
    );
    if !in_progress {
        return rolled;
    }
    let why = match seen {
        Ok(Some(d)) if !is_ours_or_later(d, f, service) => {
            format!("ECS's current service deployment {} predates ours", d.arn)
        }
        Ok(Some(d)) => {
            let j = Judging {
                f,
                service,
                d,
                now,
                timeout,
                window,
            };
            return judged(rolled, &j);
        }
        Ok(None) => "ECS names no current service deployment".to_owned(),
        Err(e) => format!("its service deployment could not be read ({e})"),
    };
    match rolled {
        Verdict::Failed(Code::RolloutStalled, reason) => Verdict::Pending(format!(
            "{reason}; but its deployments may bake or wait at a lifecycle hook, and {why}: not judged stalled, the next check looks again"
        )),
        other => other,
    }
}

/// Whether the service deployment is the one we started or a later one (anyone's). Both
/// times are ECS's when it lists ours; else ours counts from a while before we recorded acting.
fn is_ours_or_later(d: &ServiceDeploymentView, f: &Followed, service: &ServiceObservation) -> bool {
    let ours = f.after.as_deref().unwrap_or_default();
    let known = service
        .deployments
        .iter()
        .any(|x| x.id == ours && x.created_at.is_some())
        || f.after_created_at.is_some();
    let ours_created = ours_created(f, service);
    let from = if known {
        ours_created
    } else {
        ours_created - ACTED_AFTER_CREATED
    };
    d.created_at.is_none_or(|created| created >= from)
}

/// What a service deployment is judged with: the followed service, what `DescribeServices` and
/// `DescribeServiceDeployments` showed of it, the clock, the rollout timeout and AWS's window.
#[derive(Clone, Copy)]
struct Judging<'a> {
    f: &'a Followed,
    service: &'a ServiceObservation,
    d: &'a ServiceDeploymentView,
    now: DateTime<Utc>,
    timeout: Duration,
    window: Window,
}

/// A service deployment that is ours or later: rolled back, stopped, succeeded, a hook failed,
/// or still under way ([`waits`]).
fn judged(rolled: Verdict, j: &Judging) -> Verdict {
    let Judging { d, .. } = *j;
    let reason = d.status_reason.as_deref().unwrap_or("no reason given");
    let hook_timed_out = d.hooks.iter().find(|h| {
        h.status == "FAILED"
            || (h.status == "TIMED_OUT" && h.timeout_action.as_deref() == Some("ROLLBACK"))
    });
    match d.status.as_str() {
        s if s.starts_with("ROLLBACK") => {
            return Verdict::Failed(
                Code::RolloutFailed,
                format!(
                    "service deployment {} is {s} ({reason}){}: ECS went back to the previous revision, whose tasks may still run on the retiring host; fix the cause, then force a new deployment",
                    d.arn,
                    hook_timed_out
                        .map(|h| format!(", lifecycle hook {} {}", h.id, h.status.to_ascii_lowercase()))
                        .unwrap_or_default()
                ),
            )
        }
        "STOPPED" | "STOP_REQUESTED" => {
            return Verdict::Failed(
                Code::RolloutFailed,
                format!(
                    "service deployment {} was stopped ({reason}): the old tasks may still run on the retiring host; force a new deployment",
                    d.arn
                ),
            )
        }
        "SUCCESSFUL" => {
            return match rolled {
                Verdict::Failed(..) => Verdict::Pending(format!(
                    "service deployment {} succeeded; the next check confirms no older task is left",
                    d.arn
                )),
                other => other,
            }
        }
        _ => {}
    }
    if let Some(h) = hook_timed_out {
        return Verdict::Failed(
            Code::RolloutFailed,
            format!(
                "lifecycle hook {} of service deployment {} {}: ECS rolls the deployment back; fix the cause, then force a new deployment",
                h.id,
                d.arn,
                h.status.to_ascii_lowercase()
            ),
        );
    }
    waits(rolled, j)
}

/// A service deployment still under way: waiting for a person at a hook, running a hook,
/// baking, or (any other stage) stalled only after the configured waits on top of
/// ROLLOUT_TIMEOUT.
fn waits(rolled: Verdict, j: &Judging) -> Verdict {
    let Judging {
        f,
        service,
        d,
        now,
        timeout,
        window,
    } = *j;
    if let Some(h) = d.hooks.iter().find(|h| h.status == "AWAITING_ACTION") {
        let expires = h.expires_at.map(|t| t.to_rfc3339());
        let at_risk = h
            .expires_at
            .map(|expires| window.risk("it can wait", expires))
            .unwrap_or_default();
        return Verdict::Awaiting {
            hook: h.id.clone(),
            reason: format!(
                "service deployment {} is paused at lifecycle hook {} ({}, stage {}), waiting for a person until {} (then ECS takes its timeout action, {}){at_risk}. \
                 Continue: aws ecs continue-service-deployment --service-deployment-arn {} --hook-id {} --action CONTINUE; \
                 roll back: the same with --action ROLLBACK",
                d.arn,
                h.id,
                h.target_type.as_deref().unwrap_or("PAUSE"),
                d.lifecycle_stage.as_deref().unwrap_or("unknown"),
                expires.as_deref().unwrap_or("its timeout"),
                h.timeout_action.as_deref().unwrap_or("not given"),
                d.arn,
                h.id
            ),
        };
    }
    if let Some(h) = d.hooks.iter().find(|h| h.status == "IN_PROGRESS") {
        return Verdict::Pending(format!(
            "service deployment {}: lifecycle hook {} ({}) is running",
            d.arn,
            h.id,
            h.target_type.as_deref().unwrap_or("AWS_LAMBDA")
        ));
    }
    let bake = service.lifecycle.bake;
    if d.lifecycle_stage.as_deref() == Some("BAKE_TIME") {
        // The last bake (bakeTimeInMinutes) is all that is left at this stage.
        let last = service.lifecycle.final_bake;
        let since = d.updated_at.unwrap_or(f.acted_at);
        let ends = since + last;
        let at_risk = window.risk("the bake lasts", ends);
        return Verdict::Pending(format!(
            "service deployment {} is baking ({} min configured, until about {}){at_risk}",
            d.arn,
            last.num_minutes(),
            ends.to_rfc3339()
        ));
    }
    // Any other stage: a stall counts from ECS's last change of the service deployment, with
    // the configured waits on top of ROLLOUT_TIMEOUT.
    match rolled {
        Verdict::Failed(Code::RolloutStalled, reason) => {
            let since = d.updated_at.unwrap_or(f.acted_at);
            if now - since >= timeout + bake {
                Verdict::Failed(
                    Code::RolloutStalled,
                    format!(
                        "{reason}; service deployment {} is {} in stage {} since {}",
                        d.arn,
                        d.status,
                        d.lifecycle_stage.as_deref().unwrap_or("unknown"),
                        since.to_rfc3339()
                    ),
                )
            } else {
                Verdict::Pending(format!(
                    "service deployment {} is {} in stage {} (changed {})",
                    d.arn,
                    d.status,
                    d.lifecycle_stage.as_deref().unwrap_or("unknown"),
                    since.to_rfc3339()
                ))
            }
        }
        other => other,
    }
}

/// A followed index, its verdict from `DescribeServices`, and its service when its lifecycle
/// must be read.
type Rolled = (usize, Verdict, Option<ServiceObservation>);

/// One cluster's services to describe in one call: (name, followed indexes).
type Batch<'a> = (&'a str, &'a [(&'a str, &'a [usize])]);

impl<E: EcsServices + EcsTasks, D: CodeDeployApi> Remediator<E, D> {
    /// Services, 10 per `DescribeServices` call per cluster; then the service deployments of
    /// those whose configuration waits and whose rollout is still under way, 20 per
    /// `DescribeServiceDeployments` call.
    pub(super) async fn verify_services(
        &self,
        followed: &[Followed],
        services: &ServiceLooks<'_>,
        window: Window,
        now: DateTime<Utc>,
        deadline: Option<Instant>,
    ) -> Vec<(usize, Verdict)> {
        let seen = self.rolled(followed, services, now, deadline).await;
        self.through_deployments(followed, seen, window, now, deadline)
            .await
    }

    /// Each followed service's verdict from `DescribeServices`, with the service when its
    /// lifecycle must be read too (it waits on purpose and its rollout is under way).
    async fn rolled(
        &self,
        followed: &[Followed],
        services: &ServiceLooks<'_>,
        now: DateTime<Utc>,
        deadline: Option<Instant>,
    ) -> Vec<Rolled> {
        let mut by_cluster: BTreeMap<&str, Vec<(&str, &[usize])>> = BTreeMap::new();
        for ((cluster, name), indexes) in services {
            by_cluster
                .entry(cluster)
                .or_default()
                .push((name, indexes.as_slice()));
        }
        let batches: Vec<Batch> = by_cluster
            .iter()
            .flat_map(|(cluster, list)| {
                list.chunks(MAX_SERVICES_PER_DESCRIBE)
                    .map(move |chunk| (*cluster, chunk))
            })
            .collect();
        let timeout = self.settings.rollout_timeout;
        // (index, verdict from DescribeServices, the service when its lifecycle must be read)
        let seen: Vec<Vec<Rolled>> = stream::iter(batches)
            .map(|(cluster, chunk)| async move {
                let names: Vec<String> = chunk.iter().map(|(s, _)| (*s).to_owned()).collect();
                let described = self
                    .with_backoff(deadline, || self.ecs.describe_services(cluster, &names))
                    .await;
                let mut out = Vec::new();
                for (name, indexes) in chunk {
                    for &i in *indexes {
                        out.push(match &described {
                            Ok(d) => {
                                let service = d.services.iter().find(|s| s.name == *name);
                                let failure = d.failures.iter().find(|(arn, _)| {
                                    arn == name || arn.ends_with(&format!("/{name}"))
                                });
                                match (service, failure) {
                                    // Only a service ECS says is missing is gone; any other
                                    // failure of the describe says nothing about the tasks.
                                    (None, Some((_, reason))) if reason != "MISSING" => (
                                        i,
                                        Verdict::Pending(format!(
                                            "DescribeServices could not describe it ({reason}); the next check looks again"
                                        )),
                                        None,
                                    ),
                                    _ => {
                                        let v = rolling(&followed[i], service, now, timeout);
                                        let waits = service.filter(|s| {
                                            s.lifecycle.waits()
                                                && matches!(
                                                    v,
                                                    Verdict::Pending(_)
                                                        | Verdict::Failed(Code::RolloutStalled, _)
                                                )
                                        });
                                        (i, v, waits.cloned())
                                    }
                                }
                            }
                            Err(e) => (i, not_seen(e), None),
                        });
                    }
                }
                out
            })
            .buffer_unordered(self.settings.concurrency.max(1))
            .collect()
            .await;
        seen.into_iter().flatten().collect()
    }

    /// The verdicts, through the service deployments of those that wait on purpose.
    async fn through_deployments(
        &self,
        followed: &[Followed],
        seen: Vec<Rolled>,
        window: Window,
        now: DateTime<Utc>,
        deadline: Option<Instant>,
    ) -> Vec<(usize, Verdict)> {
        let timeout = self.settings.rollout_timeout;
        let mut arns: Vec<String> = seen
            .iter()
            .filter_map(|(_, _, s)| s.as_ref()?.lifecycle.current_deployment.clone())
            .collect();
        arns.sort();
        arns.dedup();
        let mut views: BTreeMap<String, Result<ServiceDeploymentView, String>> = BTreeMap::new();
        for chunk in arns.chunks(MAX_SERVICE_DEPLOYMENTS_PER_DESCRIBE) {
            match self
                .with_backoff(deadline, || self.ecs.describe_service_deployments(chunk))
                .await
            {
                Ok(found) => {
                    for v in found {
                        views.insert(v.arn.clone(), Ok(v));
                    }
                }
                Err(e) => {
                    let why = match e {
                        super::budget::Budget::Api(e) => e.to_string(),
                        e @ super::budget::Budget::Store(_) => e.to_string(),
                        super::budget::Budget::Exhausted => {
                            "not reached before the invocation deadline".to_owned()
                        }
                    };
                    for arn in chunk {
                        views.insert(arn.clone(), Err(why.clone()));
                    }
                }
            }
        }
        seen.into_iter()
            .map(|(i, rolled, waits)| match waits {
                None => (i, rolled),
                Some(service) => {
                    let view = service
                        .lifecycle
                        .current_deployment
                        .as_ref()
                        .and_then(|arn| views.get(arn));
                    let view = match view {
                        Some(Ok(v)) => Ok(Some(v)),
                        Some(Err(e)) => Err(e.clone()),
                        None => Ok(None),
                    };
                    let v = through_lifecycle(
                        rolled,
                        &followed[i],
                        &service,
                        view,
                        now,
                        timeout,
                        window,
                    );
                    (i, v)
                }
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod lifecycle_tests;
