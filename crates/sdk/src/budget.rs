//! The account's shared API budget in the ledger table: one item per account, Region and ECS
//! bucket, holding the bucket as one number ([`remediator_core::pacing`], GCRA), changed only
//! by conditional `UpdateItem`s, so that every execution environment acting in an account,
//! whichever notice it works on, takes its tokens from the same bucket.
//!
//! | attribute | meaning |
//! |---|---|
//! | `notice` (partition key) | `budget#<account>#<region>` (no Health event ARN starts so) |
//! | `resource` (sort key) | the bucket: `ecs-service-modify`, `ecs-cluster-resource-modify` |
//! | `tat` | the bucket's theoretical arrival time, epoch microseconds |
//! | `expires` | epoch seconds, an hour on: DynamoDB's TTL removes an idle bucket (a full one) |
//!
//! A token costs one write when the guess is right, two when another environment moved the
//! bucket first (the refused write returns the item, `ALL_OLD`: no read). An environment asks
//! for one bucket one request at a time, so its own waiters never race each other; a take that
//! finds the bucket empty waits on its cached guess without writing. Clocks:
//! each environment compares `tat` with its own clock; Lambda's hosts keep NTP time, within
//! milliseconds, against intervals of hundreds of milliseconds. No bucket holds more than
//! [`MAX_HORIZON`] (the configuration refuses a larger `BURST / PER_SECOND`), so a `tat` more than
//! that plus [`CLOCK_AHEAD`] beyond a reader's clock means one of the two clocks is wrong. On
//! Lambda's clock ([`Clock::Synchronised`]) it is the writer's, which ran ahead: the bucket is made
//! empty, so that it holds the functions back an interval, not until that clock's future comes.
//! On a clock nobody keeps (the CLI's, [`Clock::Unchecked`]) it may be the reader's, behind: a
//! reset there would hand the functions a full bucket each time, so it refuses, naming the item.
//! A clock behind by less than the bound (90 s) spends beyond the share unseen (its tokens look
//! idle to the others): the CLI's README asks for a synchronised clock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use futures::future::BoxFuture;
use remediator_core::engine::Rate;
use remediator_core::pacing::{grant, Decision, Gcra, MAX_HORIZON};
use remediator_core::ports::{ApiError, ApiErrorKind, BudgetKey, Grant, SharedBudget};

use crate::classify;

/// The partition key prefix of budget items (the status views skip them).
pub const PREFIX: &str = "budget#";
/// How long an untouched bucket item lives (it is full long before).
const IDLE_LIFETIME: Duration = Duration::from_secs(3600);
/// Writes refused because another environment moved the bucket, before the request waits a
/// little and is asked again by the engine.
const RACES: usize = 4;
/// How far beyond the fullest bucket's `tat` another writer's clock may run ahead of this one
/// before its `tat` is taken as written on a wrong clock. Lambda's clocks agree within
/// milliseconds; this is the slack for a laptop's.
pub const CLOCK_AHEAD: Duration = Duration::from_secs(30);

/// Whose clock the `tat`s are compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// Lambda's, kept by AWS: a `tat` too far ahead of it was written on a clock that ran ahead,
    /// and is replaced by an empty bucket.
    Synchronised,
    /// A machine's the project does not keep (the CLI's): a `tat` too far ahead may be this clock
    /// behind, so it is refused, not replaced.
    Unchecked,
}

/// The three writes: a token from an idle bucket, one from a busy bucket, or the bucket made
/// empty in place of a `tat` a wrong clock wrote (no token: the next take waits one interval).
#[derive(Clone, Copy)]
enum Write {
    Idle,
    Busy,
    Reset { wrong: i64 },
}

/// The shared budget in DynamoDB (the ledger table).
#[derive(Debug)]
pub struct DynamoBudget {
    client: aws_sdk_dynamodb::Client,
    table: String,
    clock: Clock,
    /// The last `tat` seen per bucket: which of the two writes to try first.
    seen: Mutex<HashMap<BudgetKey, i64>>,
    /// One queue per bucket: this environment's requests for a bucket go to DynamoDB one at a
    /// time, each deciding on the `tat` the one before it wrote. Without it, the engine's
    /// waiters woke together on one stale guess and all but one write was refused (measured:
    /// 3.7 writes per token with one environment per account).
    queues: Mutex<HashMap<BudgetKey, Arc<tokio::sync::Mutex<()>>>>,
    /// Writes sent: accepted, and refused because another environment moved the bucket.
    accepted: AtomicU64,
    refused: AtomicU64,
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

impl DynamoBudget {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoBudget {
            client,
            table: table.into(),
            clock: Clock::Synchronised,
            seen: Mutex::default(),
            queues: Mutex::default(),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// The same budget, its `tat`s compared with `clock` (the CLI's is [`Clock::Unchecked`]).
    pub fn on(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// A `tat` `ahead` beyond this clock, on a clock nobody keeps: refused, saying what to do.
    fn too_far_ahead(&self, key: &BudgetKey, ahead: i64) -> Refusal {
        Refusal::Clock(ApiError::new(
            "UpdateItem",
            ApiErrorKind::Rejected,
            format!(
                "the bucket is dated {} s beyond this machine's clock, more than a bucket can hold: this clock is behind, or a writer's ran ahead; synchronise them, then delete the item notice={PREFIX}{}#{}, resource={}",
                ahead / 1_000_000,
                key.account,
                key.region,
                key.bucket.as_str()
            ),
        ))
    }

    /// The writes this client sent so far: (accepted, refused by another environment's move).
    /// What the budget costs in write units, counted rather than inferred.
    pub fn writes(&self) -> (u64, u64) {
        (
            self.accepted.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        )
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HashMap<BudgetKey, i64>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The write that applies `decision` if the bucket is still where the decision saw it.
    fn write(
        &self,
        key: &BudgetKey,
        gcra: &Gcra,
        now: i64,
        count: u32,
        how: Write,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        let expires = (now / 1_000_000) + IDLE_LIFETIME.as_secs() as i64;
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(
                "notice",
                AttributeValue::S(format!("{PREFIX}{}#{}", key.account, key.region)),
            )
            .key(
                "resource",
                AttributeValue::S(key.bucket.as_str().to_owned()),
            )
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":expires", n(expires))
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        match how {
            Write::Idle => update
                .update_expression("SET tat = :tat, expires = :expires")
                .condition_expression("attribute_not_exists(tat) OR tat < :now")
                .expression_attribute_values(":tat", n(now + gcra.cost(count))),
            Write::Busy => update
                .update_expression("SET tat = tat + :cost, expires = :expires")
                .condition_expression("tat BETWEEN :now AND :limit")
                .expression_attribute_values(":cost", n(gcra.cost(count)))
                .expression_attribute_values(":limit", n(gcra.busy_limit(now, count))),
            Write::Reset { wrong } => update
                .update_expression("SET tat = :tat, expires = :expires")
                .condition_expression("tat = :wrong AND tat > :now")
                .expression_attribute_values(":tat", n(now + empty(gcra)))
                .expression_attribute_values(":wrong", n(wrong)),
        }
    }

    async fn take_tokens(&self, key: &BudgetKey, rate: Rate, count: u32) -> Result<Grant, Refusal> {
        let Some(gcra) = Gcra::new(rate) else {
            return Ok(Grant::Taken);
        };
        let count = count.min(gcra.burst as u32);
        let queue = self
            .queues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.clone())
            .or_default()
            .clone();
        let _turn = queue.lock().await;
        let mut guess = self.seen().get(key).copied();
        for _ in 0..RACES {
            let now = now_us();
            let beyond = now + (MAX_HORIZON + CLOCK_AHEAD).as_micros() as i64;
            let how = match guess {
                Some(far) if far > beyond => match self.clock {
                    Clock::Synchronised => Write::Reset { wrong: far },
                    Clock::Unchecked => return Err(self.too_far_ahead(key, far - now)),
                },
                Some(tat) if tat >= now => Write::Busy,
                _ => Write::Idle,
            };
            if !matches!(how, Write::Reset { .. }) {
                if let Decision::WaitUntil(at) = gcra.decide(guess, now, count) {
                    return Ok(grant(Decision::WaitUntil(at), now));
                }
            }
            match self.write(key, &gcra, now, count, how).send().await {
                Ok(out) => {
                    self.accepted.fetch_add(1, Ordering::Relaxed);
                    if let Some(tat) = out.attributes().and_then(tat_of) {
                        self.seen().insert(key.clone(), tat);
                    }
                    if let Write::Reset { wrong } = how {
                        tracing::warn!(
                            %key,
                            ahead_s = (wrong - now) / 1_000_000,
                            "the budget's bucket was dated by a clock running ahead of this one: made empty"
                        );
                        return Ok(Grant::Wait(Duration::from_micros(gcra.interval_us as u64)));
                    }
                    return Ok(Grant::Taken);
                }
                Err(e) => {
                    let refused = match e.as_service_error() {
                        Some(UpdateItemError::ConditionalCheckFailedException(c)) => {
                            Some(c.item().and_then(tat_of))
                        }
                        _ => None,
                    };
                    let Some(actual) = refused else {
                        return Err(Refusal::Table(classify("UpdateItem", e)));
                    };
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    guess = actual;
                    if let Some(tat) = actual {
                        self.seen().insert(key.clone(), tat);
                    }
                    let wrong = actual.is_some_and(|tat| tat > beyond);
                    if let (false, Decision::WaitUntil(at)) =
                        (wrong, gcra.decide(actual, now, count))
                    {
                        return Ok(grant(Decision::WaitUntil(at), now));
                    }
                }
            }
        }
        // Lost every race: others are taking the tokens; ask again after one interval.
        Ok(Grant::Wait(Duration::from_micros(gcra.interval_us as u64)))
    }
}

/// Why a take failed: the table's answer, or this clock's disagreement with the bucket.
enum Refusal {
    Table(ApiError),
    Clock(ApiError),
}

impl Refusal {
    /// The error as the engine reports it, naming `key`'s item and, when DynamoDB refused the
    /// write, what the caller needs.
    fn with_key(self, key: &BudgetKey) -> ApiError {
        match self {
            Refusal::Clock(e) => e,
            Refusal::Table(e) => {
                let needs = if e.kind == ApiErrorKind::Rejected {
                    " (the table must exist, and the caller needs dynamodb:UpdateItem on it)"
                } else {
                    ""
                };
                ApiError::new(
                    "UpdateItem",
                    e.kind,
                    format!(
                        "the ledger table's budget item for {key}: {}{needs}",
                        e.message
                    ),
                )
            }
        }
    }
}

/// An empty bucket's distance ahead, within [`MAX_HORIZON`] whatever the rate (a reset bucket is
/// never itself taken for a wrong clock's).
fn empty(gcra: &Gcra) -> i64 {
    gcra.cost(gcra.burst as u32)
        .min(MAX_HORIZON.as_micros() as i64)
}

fn tat_of(item: &HashMap<String, AttributeValue>) -> Option<i64> {
    item.get("tat")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

impl SharedBudget for DynamoBudget {
    fn take<'a>(
        &'a self,
        key: &'a BudgetKey,
        rate: Rate,
        n: u32,
    ) -> BoxFuture<'a, Result<Grant, ApiError>> {
        Box::pin(async move {
            // The engine reports any failure as the budget's, not the API's (nothing was sent to
            // it); the kind is kept as DynamoDB gave it: refused needs a person, the rest a retry.
            self.take_tokens(key, rate, n)
                .await
                .map_err(|e| e.with_key(key))
        })
    }
}
