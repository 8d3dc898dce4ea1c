//! The account's API budget, shared by every execution environment that acts in the account.
//!
//! ECS meters each account and Region with token buckets (domain notes §4), and every caller in
//! the account spends from the same ones. Pacing inside one execution environment keeps that
//! environment within its share, but two environments working on one account at once (two
//! notices, a maintenance window's start) would spend twice the share. A [`SharedBudget`] is
//! the one bucket of an account, Region and ECS bucket that all of them take from:
//! [`crate::pacing::MemoryBudget`] within one process, `remediator_sdk::budget::DynamoBudget`
//! across processes (the ledger table).

use std::fmt;
use std::time::Duration;

use futures::future::BoxFuture;

use super::ApiError;
use crate::engine::Rate;

/// The ECS buckets this function spends from (domain notes §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// "Service modify": UpdateService (50 burst, 5/s).
    ServiceModify,
    /// "Cluster resource modify": RunTask, StopTask, UpdateContainerInstancesState (100 burst,
    /// 40/s; RunTask on Fargate also 20/s).
    ClusterResourceModify,
}

impl Bucket {
    /// The name stored in the shared budget's key.
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::ServiceModify => "ecs-service-modify",
            Bucket::ClusterResourceModify => "ecs-cluster-resource-modify",
        }
    }
}

/// One bucket of one account in one Region.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BudgetKey {
    pub account: String,
    pub region: String,
    pub bucket: Bucket,
}

impl fmt::Display for BudgetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}#{}#{}",
            self.account,
            self.region,
            self.bucket.as_str()
        )
    }
}

/// What a request for tokens came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// The tokens are taken: make the call now.
    Taken,
    /// Not enough tokens: ask again after this long (when enough will have been refilled, unless
    /// another environment takes them first).
    Wait(Duration),
}

/// One account's buckets, shared. `take` is atomic across every holder of the same store: the
/// tokens it grants were in the bucket, at `rate`, when it granted them.
pub trait SharedBudget: Send + Sync {
    /// Takes `n` tokens (`n` at most `rate.burst`) from `key`'s bucket, refilled at `rate`.
    fn take<'a>(
        &'a self,
        key: &'a BudgetKey,
        rate: Rate,
        n: u32,
    ) -> BoxFuture<'a, Result<Grant, ApiError>>;
}
