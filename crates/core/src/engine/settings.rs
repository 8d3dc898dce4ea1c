//! Engine settings: what the operator can tune (dry run, concurrency, the account and Region
//! the clients act in, pacing, backoff, time budgets, opt-in mode).
//!
//! Kept apart from the engine so that the knobs and their production defaults read in one
//! place, without the machinery that uses them.

use std::time::Duration;

/// A token bucket: `per_second` refill, `burst` capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_second: u32,
    pub burst: u32,
}

/// Backoff applied on top of the SDK's own retries when a call still ends throttled or failed
/// transiently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub rounds: u32,
    pub initial: Duration,
    pub max: Duration,
}

/// Engine settings. `Settings::default()` is what production uses unless configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Compute and report the plan without any mutating call.
    pub dry_run: bool,
    /// At most this many API calls in flight.
    pub concurrency: usize,
    /// The account the clients act in, when known: notices for another account are skipped.
    pub account: Option<String>,
    /// The Region the clients act in, when known: notices for another Region are skipped.
    pub region: Option<String>,
    /// Client-side pacing of `UpdateService`: this function's share of the account's ECS
    /// "service modify" bucket (50 burst, 5/s), which other callers share.
    pub update_service_rate: Option<Rate>,
    /// The same for RunTask, StopTask and UpdateContainerInstancesState: this function's share of
    /// the account's "cluster resource modify" bucket (100 burst, 40/s; RunTask on Fargate 20/s).
    pub cluster_resource_rate: Option<Rate>,
    pub backoff: Backoff,
    /// Stop starting new calls this long before the deadline, to report in time.
    pub deadline_margin: Duration,
    /// How often a replacement task is looked at while it starts.
    pub task_poll: Duration,
    /// How long to wait for a replacement to run (and be healthy) when there is no deadline.
    pub replacement_wait: Duration,
    /// Act only on resources (or clusters) tagged `retirement-remediator/enabled=true`.
    pub opt_in_only: bool,
    /// A deployment we started that shows no progress (its `updatedAt`) this long has stalled.
    pub rollout_timeout: chrono::Duration,
    /// `REPLACE_DRAINED_INSTANCES`: once a container instance AWS retires or stops is drained,
    /// terminate it in its Auto Scaling group (desired capacity kept) so a patched one replaces
    /// it ahead of AWS's date.
    pub replace_drained_instances: bool,
}

impl Settings {
    /// The share configured for `bucket` (`None`: not paced).
    pub fn rate(&self, bucket: crate::ports::Bucket) -> Option<Rate> {
        match bucket {
            crate::ports::Bucket::ServiceModify => self.update_service_rate,
            crate::ports::Bucket::ClusterResourceModify => self.cluster_resource_rate,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            dry_run: false,
            concurrency: 8,
            account: None,
            region: None,
            // Three fifths of the account's "service modify" bucket (5/s, burst 50; domain notes
            // §4): Application Auto Scaling and deploy pipelines share it, and a large
            // retirement must not starve their scale-outs. 2/s and 20 of the burst stay theirs.
            update_service_rate: Some(Rate {
                per_second: 3,
                burst: 30,
            }),
            // Three fifths again, of the tighter of the two limits RunTask meets: Fargate's 20/s,
            // and of the bucket's 100 burst.
            cluster_resource_rate: Some(Rate {
                per_second: 12,
                burst: 60,
            }),
            backoff: Backoff {
                rounds: 6,
                initial: Duration::from_secs(1),
                max: Duration::from_secs(20),
            },
            deadline_margin: Duration::from_secs(10),
            task_poll: Duration::from_secs(5),
            replacement_wait: Duration::from_secs(600),
            opt_in_only: false,
            rollout_timeout: chrono::Duration::minutes(30),
            replace_drained_instances: false,
        }
    }
}
