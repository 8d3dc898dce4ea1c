//! Follow-up checks of ECS resources: does ECS (or CodeDeploy) show them replaced?
//!
//! Reads only, batched like the remediation: services 10 per `DescribeServices` call per
//! cluster, tasks 100 per `DescribeTasks` call per cluster, one `GetDeployment` per CodeDeploy
//! deployment, all with bounded concurrency. The verdicts are pure functions of what was seen
//! ([`rolling`], [`codedeploy`], [`task`]).

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use futures::stream::{self, StreamExt};
use tokio::time::Instant;

use super::Remediator;
use crate::follow::{Followed, Verdict};
use crate::names::{Action, Code};
use crate::ports::{
    CodeDeployApi, CodeDeployment, EcsServices, EcsTasks, ServiceObservation, TaskObservation,
    MAX_SERVICES_PER_DESCRIBE, MAX_TASKS_PER_DESCRIBE,
};
use crate::target::Target;

/// Whether a followed service was redeployed through CodeDeploy (its `after` is a CodeDeploy
/// deployment id, `d-…`) rather than by a rolling deployment (`ecs-svc/…`).
fn is_codedeploy(f: &Followed) -> bool {
    f.action == Some(Action::CodedeployRedeploy)
        || f.after.as_deref().is_some_and(|a| a.starts_with("d-"))
}

/// The verdict on a service we forced a rolling deployment of (`after`: that deployment's id),
/// or found being replaced by a newer deployment. `None`: ECS no longer knows the service.
pub fn rolling(
    f: &Followed,
    service: Option<&ServiceObservation>,
    now: DateTime<Utc>,
    timeout: Duration,
) -> Verdict {
    rolling_since(f, service, now, timeout, None)
}

/// [`rolling`], knowing when the notice was published: a deployment older than the notice that
/// runs the service again (ECS went back to it after ours, or the one found, failed) has not
/// replaced the tasks, even when ours is no longer listed to say so.
pub fn rolling_since(
    f: &Followed,
    service: Option<&ServiceObservation>,
    now: DateTime<Utc>,
    timeout: Duration,
    published: Option<DateTime<Utc>>,
) -> Verdict {
    let Some(service) = service else {
        return Verdict::Verified(
            "the service no longer exists: none of its tasks runs on the retiring host".into(),
        );
    };
    if service.status != "ACTIVE" {
        return Verdict::Verified(format!(
            "the service is {}: its tasks are being stopped, none is left to retire",
            service.status
        ));
    }
    if service.rollout.desired_count == Some(0) {
        return Verdict::Verified("desiredCount is 0: nothing was running to replace".into());
    }
    let ours = f.after.as_deref().unwrap_or_default();
    let older_running: Vec<String> = service
        .deployments
        .iter()
        .filter(|d| d.status != "PRIMARY" && d.running_count > 0)
        .map(|d| format!("{} ({} running)", d.id, d.running_count))
        .collect();
    let primary = service.deployments.iter().find(|d| d.status == "PRIMARY");
    let mine = service.deployments.iter().find(|d| d.id == ours);
    let watched = match (mine, primary) {
        (Some(d), _) if d.rollout_state.as_deref() == Some("FAILED") => {
            return Verdict::Failed(
                Code::RolloutFailed,
                format!(
                    "deployment {ours} failed ({}; {} task(s) failed to start){}: the old tasks may still run on the retiring host; fix the cause in the service's events, then force a new deployment before AWS's deadline",
                    d.rollout_state_reason.as_deref().unwrap_or("no reason given"),
                    d.failed_tasks,
                    primary
                        .filter(|p| p.id != ours)
                        .map(|p| format!(", the circuit breaker rolled back to {}", p.id))
                        .unwrap_or_default()
                ),
            )
        }
        (Some(d), Some(p)) if d.id != p.id => p,
        (Some(d), _) => d,
        (None, Some(p)) => p,
        (None, None) => {
            return Verdict::Pending(format!(
                "ECS lists no PRIMARY deployment (deployment {ours} not found)"
            ))
        }
    };
    let predates_notice = published
        .zip(watched.created_at)
        .is_some_and(|(published, created)| created <= published);
    if watched.id != ours && (f.before.as_deref() == Some(watched.id.as_str()) || predates_notice) {
        return Verdict::Failed(
            Code::RolloutFailed,
            format!(
                "ECS went back to deployment {} that ran before ours ({ours}): the old tasks may still run on the retiring host; check the service's events, then force a new deployment",
                watched.id
            ),
        );
    }
    let through = if watched.id == ours {
        format!("deployment {ours}")
    } else {
        format!("deployment {} (after ours, {ours})", watched.id)
    };
    match watched.rollout_state.as_deref() {
        Some("FAILED") => Verdict::Failed(
            Code::RolloutFailed,
            format!(
                "{through} failed ({}): the old tasks may still run on the retiring host; fix the cause in the service's events, then force a new deployment",
                watched.rollout_state_reason.as_deref().unwrap_or("no reason given")
            ),
        ),
        Some("COMPLETED") if older_running.is_empty() => Verdict::Verified(format!(
            "{through} completed: {}/{} tasks running, no task of an older deployment left",
            watched.running_count, watched.desired_count
        )),
        Some("COMPLETED") => Verdict::Pending(format!(
            "{through} completed; older tasks still running: {}",
            older_running.join(", ")
        )),
        state => {
            let since = watched.updated_at.unwrap_or(f.acted_at);
            if now - since >= timeout {
                Verdict::Failed(
                    Code::RolloutStalled,
                    format!(
                        "{through} has shown no progress since {} ({}/{} running, {} failed task(s)): check capacity, health checks and the deployment configuration, then force a new deployment",
                        since.to_rfc3339(),
                        watched.running_count,
                        watched.desired_count,
                        watched.failed_tasks
                    ),
                )
            } else {
                Verdict::Pending(format!(
                    "{through} {}: {}/{} running{}",
                    state.unwrap_or("in progress").to_ascii_lowercase(),
                    watched.running_count,
                    watched.desired_count,
                    if older_running.is_empty() {
                        String::new()
                    } else {
                        format!("; older: {}", older_running.join(", "))
                    }
                ))
            }
        }
    }
}

/// The verdict on a CodeDeploy deployment we created. `None`: CodeDeploy no longer knows it.
pub fn codedeploy(f: &Followed, deployment: Option<&CodeDeployment>) -> Verdict {
    let id = f.after.as_deref().unwrap_or("-");
    let Some(d) = deployment else {
        return Verdict::Failed(
            Code::CodedeployFailed,
            format!("CodeDeploy no longer knows deployment {id}: check the service's task sets"),
        );
    };
    match d.status.as_str() {
        "Succeeded" => Verdict::Verified(format!("CodeDeploy deployment {id} succeeded")),
        "Failed" | "Stopped" => Verdict::Failed(
            Code::CodedeployFailed,
            format!(
                "CodeDeploy deployment {id} {} ({}): the original task set keeps running on the retiring host; fix the cause, then redeploy before AWS's deadline",
                d.status.to_ascii_lowercase(),
                d.error.as_deref().unwrap_or("no error information")
            ),
        ),
        other => Verdict::Pending(format!("CodeDeploy deployment {id} is {other}")),
    }
}

/// The verdict on a relaunched standalone task: `replacement` and `original` as `DescribeTasks`
/// shows them (`None`: not found).
pub fn task<L>(
    f: &Followed,
    replacement: Option<&TaskObservation<L>>,
    original: Option<&TaskObservation<L>>,
) -> Verdict {
    let id = f.after.as_deref().unwrap_or("-");
    let Some(r) = replacement else {
        return Verdict::Failed(
            Code::ReplacementFailed,
            format!(
                "replacement task {id} is gone: relaunch the task by hand before AWS's deadline"
            ),
        );
    };
    if r.last_status == "STOPPED" || r.desired_status == "STOPPED" {
        return Verdict::Failed(
            Code::ReplacementFailed,
            format!(
                "replacement task {id} stopped ({}): relaunch the task by hand before AWS's deadline",
                r.stopped_reason.as_deref().unwrap_or("no reason given")
            ),
        );
    }
    let healthy = !r.has_health_checks || r.health_status.as_deref() == Some("HEALTHY");
    if r.last_status != "RUNNING" || !healthy {
        return Verdict::Pending(format!(
            "replacement task {id} is {} (health {})",
            r.last_status,
            r.health_status.as_deref().unwrap_or("UNKNOWN")
        ));
    }
    match original {
        Some(o) if o.last_status != "STOPPED" => Verdict::Pending(format!(
            "replacement task {id} runs; the original is still {}",
            o.last_status
        )),
        _ => Verdict::Verified(format!(
            "replacement task {id} is RUNNING{}; the original is stopped",
            if r.has_health_checks {
                " and HEALTHY"
            } else {
                ""
            }
        )),
    }
}

/// One cluster's tasks to describe: (followed index, replacement id, original id).
type TaskLooks = Vec<(usize, String, Option<String>)>;

impl<E: EcsServices + EcsTasks, D: CodeDeployApi> Remediator<E, D> {
    /// One verdict per followed resource, in order.
    pub(super) async fn verify_all(
        &self,
        followed: &[Followed],
        published: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        deadline: Option<Instant>,
    ) -> Vec<Verdict> {
        let mut verdicts: Vec<Option<Verdict>> = vec![None; followed.len()];
        let mut services: HashMap<&str, Vec<(usize, &str)>> = HashMap::new();
        let mut deployments = Vec::new();
        let mut tasks: HashMap<Option<&str>, TaskLooks> = HashMap::new();
        for (i, f) in followed.iter().enumerate() {
            match (&f.target, f.after.as_deref()) {
                (Target::Service(_), Some(id)) if is_codedeploy(f) => deployments.push((i, id)),
                (Target::Service(s), Some(_)) => services
                    .entry(s.cluster.as_str())
                    .or_default()
                    .push((i, s.service.as_str())),
                (Target::Task(t), Some(id)) => tasks
                    .entry(t.cluster.as_deref())
                    .or_default()
                    .push((i, id.to_owned(), f.before.clone())),
                _ => {
                    verdicts[i] = Some(Verdict::Failed(
                        Code::UnrecognizedEntity,
                        "nothing recorded to check this resource by".into(),
                    ))
                }
            }
        }

        let concurrency = self.settings.concurrency.max(1);
        let batches: Vec<(&str, &[(usize, &str)])> = services
            .iter()
            .flat_map(|(cluster, list)| {
                list.chunks(MAX_SERVICES_PER_DESCRIBE)
                    .map(move |chunk| (*cluster, chunk))
            })
            .collect();
        let seen: Vec<Vec<(usize, Verdict)>> = stream::iter(batches)
            .map(|(cluster, chunk)| async move {
                let names: Vec<String> = chunk.iter().map(|(_, s)| (*s).to_owned()).collect();
                match self
                    .with_backoff(deadline, || self.ecs.describe_services(cluster, &names))
                    .await
                {
                    Ok(described) => chunk
                        .iter()
                        .map(|(i, name)| {
                            let service = described.services.iter().find(|s| s.name == *name);
                            let failure = described.failures.iter().find(|(arn, _)| {
                                arn == name || arn.ends_with(&format!("/{name}"))
                            });
                            let v = match (service, failure) {
                                // Only a service ECS says is missing is gone; any other failure
                                // of the describe says nothing about the tasks.
                                (None, Some((_, reason))) if reason != "MISSING" => {
                                    Verdict::Pending(format!(
                                        "DescribeServices could not describe it ({reason}); the next check looks again"
                                    ))
                                }
                                _ => rolling_since(
                                    &followed[*i],
                                    service,
                                    now,
                                    self.settings.rollout_timeout,
                                    published,
                                ),
                            };
                            (*i, v)
                        })
                        .collect(),
                    Err(e) => chunk.iter().map(|(i, _)| (*i, not_seen(&e))).collect(),
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        for (i, v) in seen.into_iter().flatten() {
            verdicts[i] = Some(v);
        }

        let seen: Vec<(usize, Verdict)> = stream::iter(deployments)
            .map(|(i, id)| async move {
                let v = match self
                    .with_backoff(deadline, || self.codedeploy.get_deployment(id))
                    .await
                {
                    Ok(d) => codedeploy(&followed[i], d.as_ref()),
                    Err(e) => not_seen(&e),
                };
                (i, v)
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        for (i, v) in seen {
            verdicts[i] = Some(v);
        }

        for (cluster, looks) in tasks {
            for (i, v) in self.verify_tasks(cluster, &looks, followed, deadline).await {
                verdicts[i] = Some(v);
            }
        }

        verdicts
            .into_iter()
            .map(|v| {
                v.unwrap_or_else(|| {
                    Verdict::Pending("internal: not looked at; the next check looks again".into())
                })
            })
            .collect()
    }

    /// Tasks of one cluster (`None`: the old ARN form named none, so every cluster is asked).
    async fn verify_tasks(
        &self,
        cluster: Option<&str>,
        looks: &TaskLooks,
        followed: &[Followed],
        deadline: Option<Instant>,
    ) -> Vec<(usize, Verdict)> {
        let clusters = match cluster {
            Some(c) => vec![c.to_owned()],
            None => match self
                .with_backoff(deadline, || self.ecs.list_clusters())
                .await
            {
                Ok(all) => all,
                Err(e) => return looks.iter().map(|(i, ..)| (*i, not_seen(&e))).collect(),
            },
        };
        let mut found: HashMap<String, TaskObservation<E::Launch>> = HashMap::new();
        // Two ids per task (replacement and original): 50 tasks per call.
        for chunk in looks.chunks(MAX_TASKS_PER_DESCRIBE / 2) {
            let ids: Vec<String> = chunk
                .iter()
                .flat_map(|(_, r, o)| std::iter::once(r.clone()).chain(o.clone()))
                .collect();
            for cluster in &clusters {
                match self
                    .with_backoff(deadline, || self.ecs.describe_tasks(cluster, &ids))
                    .await
                {
                    Ok(described) => {
                        for t in described.tasks {
                            found.insert(t.id.clone(), t);
                        }
                    }
                    Err(e) => return looks.iter().map(|(i, ..)| (*i, not_seen(&e))).collect(),
                }
            }
        }
        looks
            .iter()
            .map(|(i, r, o)| {
                let original = o.as_ref().and_then(|o| found.get(o));
                (*i, task(&followed[*i], found.get(r), original))
            })
            .collect()
    }
}

/// A check that could not look: the next one looks again.
fn not_seen(e: &super::budget::Budget) -> Verdict {
    Verdict::Pending(match e {
        super::budget::Budget::Api(e) => {
            format!("could not look ({e}); the next check looks again")
        }
        super::budget::Budget::Exhausted => {
            "not looked at before the invocation deadline; the next check looks again".into()
        }
    })
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod verify_tests;
