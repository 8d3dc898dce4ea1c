//! Many accounts' ECS on one loopback port: a [`FakeEcs`] per account, each with its own token
//! buckets, told apart as ECS does, by the credentials a request is signed with. A test or a
//! benchmark signs each account's requests with an access key id that is the account id
//! ([`in_account`]).
//!
//! [`over_share`] reads an account's UpdateService times back as a token bucket: the check that
//! environments working on one account together kept within its share.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_config::SdkConfig;
use aws_sdk_ecs::config::Credentials;
use serde_json::Value;

use crate::fake_ecs::{Answers, FakeEcs};

/// The accounts' fakes, created at an account's first request.
#[derive(Debug)]
pub struct FakeOrg {
    scale: f64,
    pub accounts: BTreeMap<String, FakeEcs>,
}

impl FakeOrg {
    /// Accounts whose ECS buckets run `scale` times faster ([`FakeEcs::scaled`]).
    pub fn scaled(scale: f64) -> Self {
        FakeOrg {
            scale,
            accounts: BTreeMap::new(),
        }
    }

    /// The fake of `account` (empty if it made no call).
    pub fn account(&mut self, account: &str) -> &mut FakeEcs {
        let scale = self.scale;
        self.accounts
            .entry(account.to_owned())
            .or_insert_with(|| FakeEcs::scaled(scale))
    }
}

impl Answers for FakeOrg {
    fn answer(&mut self, access_key: &str, target: &str, body: &[u8]) -> (u16, Value) {
        self.account(access_key).answer(access_key, target, body)
    }
}

/// `base` reaching `endpoint` with `account`'s credentials (its access key id the account id).
pub fn in_account(base: &SdkConfig, endpoint: &str, account: &str) -> SdkConfig {
    base.to_builder()
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_ecs::config::SharedCredentialsProvider::new(
            Credentials::new(account, "fake", None, None, "fake-org"),
        ))
        .build()
}

/// Where calls at `times` spent more than a token bucket of `per_second` and `burst` allows:
/// the window `(first, last)` and the calls in it beyond the bucket, when the worst window is
/// more than `tolerance` calls over. Every window of consecutive calls is checked: `k` calls
/// within `d` seconds need `k ≤ burst + per_second × d`.
pub fn over_share(
    times: &[Instant],
    per_second: f64,
    burst: f64,
    tolerance: f64,
) -> Option<(usize, usize, f64)> {
    let mut worst: Option<(usize, usize, f64)> = None;
    for i in 0..times.len() {
        for j in i..times.len() {
            let span = times[j].saturating_duration_since(times[i]).as_secs_f64();
            let excess = (j - i + 1) as f64 - (burst + per_second * span);
            if excess > tolerance && worst.is_none_or(|(_, _, w)| excess > w) {
                worst = Some((i, j, excess));
            }
        }
    }
    worst
}

/// A retirement notice of `account` in us-east-1 naming `entities` (`cluster|service`), its
/// Health event id `id`, dated now.
pub fn notice(account: &str, id: &str, entities: &[String]) -> Value {
    serde_json::json!({
        "version": "0", "id": id, "detail-type": "AWS Health Event", "source": "aws.health",
        "account": account, "time": chrono::Utc::now().to_rfc3339(), "region": "us-east-1",
        "resources": entities,
        "detail": { "eventArn": format!("arn:aws:health:us-east-1::event/ECS/AWS_ECS_TASK_PATCHING_RETIREMENT/{id}"),
                    "service": "ECS", "eventTypeCode": "AWS_ECS_TASK_PATCHING_RETIREMENT" }
    })
}

/// A shared budget that remembers its slowest answer. A token is granted at the moment the
/// environment read its clock, before the store's round trip; the call it pays for reaches ECS
/// that much later, so calls may arrive bunched by up to that lag. [`over_share`]'s tolerance
/// counts it (`per_second × slowest`): moto's DynamoDB answers one call at a time, tens of
/// milliseconds under a wave, where DynamoDB's are single-digit.
pub struct Timed {
    inner: Arc<dyn remediator_core::ports::SharedBudget>,
    slowest: Arc<Mutex<std::time::Duration>>,
}

impl Timed {
    /// `inner`, its slowest answer kept in `slowest` (shared by every environment's wrapper).
    pub fn new(
        inner: Arc<dyn remediator_core::ports::SharedBudget>,
        slowest: Arc<Mutex<std::time::Duration>>,
    ) -> Self {
        Timed { inner, slowest }
    }
}

impl remediator_core::ports::SharedBudget for Timed {
    fn take<'a>(
        &'a self,
        key: &'a remediator_core::ports::BudgetKey,
        rate: remediator_core::Rate,
        n: u32,
    ) -> futures::future::BoxFuture<
        'a,
        Result<remediator_core::ports::Grant, remediator_core::ports::ApiError>,
    > {
        Box::pin(async move {
            let asked = Instant::now();
            let answer = self.inner.take(key, rate, n).await;
            let took = asked.elapsed();
            let mut slowest = self.slowest.lock().unwrap_or_else(|p| p.into_inner());
            *slowest = (*slowest).max(took);
            answer
        })
    }
}
