//! Follow-up checks of ECS resources: does ECS (or CodeDeploy) show them replaced?
//!
//! Reads only, batched like the remediation: services 10 per `DescribeServices` call per
//! cluster, tasks 100 per `DescribeTasks` call per cluster, one `GetDeployment` per CodeDeploy
//! deployment, all with bounded concurrency. The verdicts are pure functions of what was seen
//! ([`rolling`], [`codedeploy`], [`task`]).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use futures::stream::{self, StreamExt};
use tokio::time::Instant;

use super::Remediator;
use crate::follow::{Followed, Verdict};
use crate::names::{Action, Code};
use crate::ports::{
    CodeDeployApi, CodeDeployment, DeploymentState, EcsServices, EcsTasks, ServiceObservation,
    TaskObservation, MAX_TASKS_PER_DESCRIBE,
};
use crate::target::Target;

/// Whether a followed service was redeployed through CodeDeploy (its `after` is a CodeDeploy
/// deployment id, `d-…`) rather than by a rolling deployment (`ecs-svc/…`).
pub(super) fn is_codedeploy(f: &Followed) -> bool {
    f.action == Some(Action::CodedeployRedeploy)
        || f.after.as_deref().is_some_and(|a| a.starts_with("d-"))
}

/// The verdict on a service we forced a rolling deployment of (`after`: that deployment's id),
/// or found being replaced by a newer deployment. `None`: ECS no longer knows the service.
///
/// "Rolled back" means ECS went back: our deployment FAILED (the circuit breaker), or the
/// PRIMARY deployment is the one that ran before ours or was created before ours. A deployment
/// created after ours, by anyone, replaces the tasks too: verified when it completes.
pub fn rolling(
    f: &Followed,
    service: Option<&ServiceObservation>,
    now: DateTime<Utc>,
    timeout: Duration,
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
    let ours_created = ours_created(f, service);
    if let Some(v) = ours_completed(service, mine, primary, ours_created) {
        return v;
    }
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
    let created_before_ours = watched
        .created_at
        .is_some_and(|created| created < ours_created);
    if watched.id != ours
        && (f.before.as_deref() == Some(watched.id.as_str()) || created_before_ours)
    {
        return Verdict::Failed(
            Code::RolloutFailed,
            format!(
                "ECS went back to deployment {} that ran before ours ({ours}, created {}): the old tasks may still run on the retiring host; check the service's events, then force a new deployment",
                watched.id,
                ours_created.to_rfc3339()
            ),
        );
    }
    let through = if watched.id == ours {
        format!("deployment {ours}")
    } else {
        format!("deployment {} (after ours, {ours})", watched.id)
    };
    by_rollout_state(f, watched, &through, &older_running, now, timeout)
}

/// Ours completed and nothing older than it still runs: replaced, whatever a later deployment
/// (anyone's) does next; its failure would go back to ours at worst.
fn ours_completed(
    service: &ServiceObservation,
    mine: Option<&DeploymentState>,
    primary: Option<&DeploymentState>,
    ours_created: DateTime<Utc>,
) -> Option<Verdict> {
    let d = mine.filter(|d| d.rollout_state.as_deref() == Some("COMPLETED"))?;
    let older_running = service
        .deployments
        .iter()
        .filter(|o| o.id != d.id && o.running_count > 0)
        .any(|o| o.created_at.is_none_or(|c| c <= ours_created));
    if older_running {
        return None;
    }
    let later = primary.filter(|p| p.id != d.id).map(|p| {
        format!(
            " (a later deployment, {}, is {})",
            p.id,
            p.rollout_state
                .as_deref()
                .unwrap_or("in progress")
                .to_ascii_lowercase()
        )
    });
    Some(Verdict::Verified(format!(
        "deployment {} completed: {}/{} tasks running, no task of an older deployment left{}",
        d.id,
        d.running_count,
        d.desired_count,
        later.unwrap_or_default()
    )))
}

/// The verdict on the deployment that runs the service now (`watched`: ours or a later one),
/// from its rollout state and how long it has shown no progress.
fn by_rollout_state(
    f: &Followed,
    watched: &DeploymentState,
    through: &str,
    older_running: &[String],
    now: DateTime<Utc>,
    timeout: Duration,
) -> Verdict {
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

/// When ECS created the deployment we followed: as ECS lists it now, else as recorded when we
/// acted, else (an entry written before the ledger kept it) when we acted, just after.
pub(super) fn ours_created(f: &Followed, service: &ServiceObservation) -> DateTime<Utc> {
    let ours = f.after.as_deref().unwrap_or_default();
    service
        .deployments
        .iter()
        .find(|d| d.id == ours)
        .and_then(|d| d.created_at)
        .or(f.after_created_at)
        .unwrap_or(f.acted_at)
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
    // A replacement that ran and exited 0 did its job (a one-off job finished): as good as
    // running. Any other stop is a failure ([`TaskObservation::finished_its_job`]).
    let done = if r.last_status == "STOPPED" || r.desired_status == "STOPPED" {
        if !r.finished_its_job() {
            return Verdict::Failed(
                Code::ReplacementFailed,
                format!(
                    "replacement task {id} stopped ({}): relaunch the task by hand before AWS's deadline",
                    r.how_it_stopped()
                ),
            );
        }
        format!(
            "ran and exited 0 (a one-off job finished: {})",
            r.how_it_stopped()
        )
    } else {
        let healthy = !r.has_health_checks || r.health_status.as_deref() == Some("HEALTHY");
        if r.last_status != "RUNNING" || !healthy {
            return Verdict::Pending(format!(
                "replacement task {id} is {} (health {})",
                r.last_status,
                r.health_status.as_deref().unwrap_or("UNKNOWN")
            ));
        }
        let and_healthy = if r.has_health_checks {
            " and HEALTHY"
        } else {
            ""
        };
        format!("is RUNNING{and_healthy}")
    };
    match original {
        Some(o) if o.last_status != "STOPPED" => Verdict::Pending(format!(
            "replacement task {id} {done}; the original is still {}",
            o.last_status
        )),
        _ => Verdict::Verified(format!(
            "replacement task {id} {done}; the original is stopped"
        )),
    }
}

/// Services to describe, by (cluster, name), each with the followed indexes it answers for.
pub(super) type ServiceLooks<'a> = BTreeMap<(&'a str, &'a str), Vec<usize>>;

/// One cluster's tasks to describe: (followed index, replacement id, original id).
type TaskLooks = Vec<(usize, String, Option<String>)>;

impl<E: EcsServices + EcsTasks, D: CodeDeployApi> Remediator<E, D> {
    /// One verdict per followed resource, in order. `window`: AWS's retirement window (a bake
    /// or a hook that outlasts its start is at risk, and said so).
    pub(super) async fn verify_all(
        &self,
        followed: &[Followed],
        window: super::lifecycle::Window,
        now: DateTime<Utc>,
        deadline: Option<Instant>,
    ) -> Vec<Verdict> {
        let mut verdicts: Vec<Option<Verdict>> = vec![None; followed.len()];
        // Services by (cluster, name), each with the followed resources it answers for: a task
        // of a service named by its ARN is followed as its service.
        let mut services: ServiceLooks = BTreeMap::new();
        let mut deployments = Vec::new();
        let mut tasks: HashMap<Option<&str>, TaskLooks> = HashMap::new();
        for (i, f) in followed.iter().enumerate() {
            match (&f.target, &f.service, f.after.as_deref()) {
                // A task of a CODE_DEPLOY service: its deployment needs no service to be read
                // (entries of an earlier version did not record the service).
                (Target::Service(_) | Target::Task(_), _, Some(id)) if is_codedeploy(f) =>
                {
                    deployments.push((i, id))
                }
                (Target::Service(s), _, Some(_)) | (Target::Task(_), Some(s), Some(_)) => services
                    .entry((s.cluster.as_str(), s.service.as_str()))
                    .or_default()
                    .push(i),
                // Remediated as its service by a version that did not record which: a task
                // lookup would take the deployment for a lost replacement.
                (Target::Task(_), None, Some(id)) if id.starts_with("ecs-svc/") => {
                    verdicts[i] = Some(Verdict::Pending(format!(
                        "remediated as its service (deployment {id}) before the ledger kept which service; not judged by a task lookup: check the service's deployments"
                    )))
                }
                (Target::Task(t), None, Some(id)) => tasks
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

        for (i, v) in self
            .verify_services(followed, &services, window, now, deadline)
            .await
        {
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
            .buffer_unordered(self.settings.concurrency.max(1))
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
pub(super) fn not_seen(e: &super::budget::Budget) -> Verdict {
    Verdict::Pending(match e {
        super::budget::Budget::Api(e) => {
            format!("could not look ({e}); the next check looks again")
        }
        super::budget::Budget::Exhausted => {
            "not looked at before the invocation deadline; the next check looks again".into()
        }
        e @ super::budget::Budget::Store(_) => {
            format!("could not look ({e}); the next check looks again")
        }
    })
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod verify_tests;
