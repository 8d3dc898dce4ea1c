//! A token bucket kept as one number, so that a database can hold it and change it with one
//! conditional write: the generic cell rate algorithm (GCRA, the ATM Forum's "virtual scheduling"
//! form; `governor`, which paced this function before, implements the same in process).
//!
//! A bucket of `burst` tokens refilled at `per_second` is the *theoretical arrival time* `tat`:
//! the moment the bucket would be full again if nothing more were taken. Taking `n` tokens at
//! `now` is allowed when `max(tat, now) + n·T − now ≤ burst·T` (`T` the time one token takes to
//! refill), and moves `tat` to `max(tat, now) + n·T`. The tokens left at `now` are
//! `burst − (tat − now)/T`, so the rule is exactly "there are `n` tokens".
//!
//! Split on `max`, the rule is two conditional writes a store can make without reading first
//! (`remediator_sdk::budget` does, in DynamoDB):
//! - **idle** (`tat` absent or before `now`): set `tat = now + n·T`, if `tat < now` still holds;
//! - **busy** (`now ≤ tat ≤ now + (burst − n)·T`): add `n·T` to `tat`, if that range still holds.
//!
//! Anything later than that range waits until `tat − (burst − n)·T`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::engine::Rate;
use crate::ports::{ApiError, BudgetKey, Grant, SharedBudget};

/// The most a bucket may hold, as time (`burst / per_second`; ECS's own hold 10 s and 2.5 s):
/// the configuration refuses more, so that a bucket dated further ahead than this (and the
/// clocks' skew) is known to be a wrong clock's (`remediator_sdk::budget`).
pub const MAX_HORIZON: Duration = Duration::from_secs(60);
/// The fastest rate the configuration takes (ECS's buckets refill 5 to 40 a second): a token's
/// interval, in whole microseconds, stays exact enough for [`MAX_HORIZON`] to hold.
pub const MAX_PER_SECOND: u32 = 1000;

/// One bucket's parameters, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    /// `T`: the time one token takes to refill.
    pub interval_us: i64,
    pub burst: i64,
}

/// What the rule says about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Allowed from an idle bucket: `tat` becomes this.
    Idle { tat: i64 },
    /// Allowed from a busy bucket: `tat` grows by `n·T`, to this.
    Busy { tat: i64 },
    /// Not allowed before this moment.
    WaitUntil(i64),
}

impl Gcra {
    /// `rate`'s bucket; `None` when it refills nothing (a rate of 0 is "off").
    pub fn new(rate: Rate) -> Option<Self> {
        (rate.per_second > 0).then(|| Gcra {
            // Rounded up: never faster than the rate.
            interval_us: (1_000_000 + i64::from(rate.per_second) - 1) / i64::from(rate.per_second),
            burst: i64::from(rate.burst.max(1)),
        })
    }

    /// `n` tokens, as time.
    pub fn cost(&self, n: u32) -> i64 {
        self.interval_us * i64::from(n)
    }

    /// The latest `tat` from which `n` tokens can still be taken at `now`.
    pub fn busy_limit(&self, now: i64, n: u32) -> i64 {
        now + self.interval_us * (self.burst - i64::from(n))
    }

    /// The rule, for a bucket at `tat` (`None`: never used, or expired). A request for more
    /// than the burst asks for the whole burst (it could never be granted otherwise).
    pub fn decide(&self, tat: Option<i64>, now: i64, n: u32) -> Decision {
        let n = n.min(self.burst as u32);
        match tat {
            None => Decision::Idle {
                tat: now + self.cost(n),
            },
            Some(tat) if tat < now => Decision::Idle {
                tat: now + self.cost(n),
            },
            Some(tat) if tat <= self.busy_limit(now, n) => Decision::Busy {
                tat: tat + self.cost(n),
            },
            Some(tat) => Decision::WaitUntil(tat - self.interval_us * (self.burst - i64::from(n))),
        }
    }
}

/// What a request answers, `now` and the decision given.
pub fn grant(decision: Decision, now: i64) -> Grant {
    match decision {
        Decision::Idle { .. } | Decision::Busy { .. } => Grant::Taken,
        Decision::WaitUntil(at) => Grant::Wait(Duration::from_micros((at - now).max(1) as u64)),
    }
}

/// The shared budget of one process (tests, the CLI, a function without a ledger): the same
/// rule over a map, on Tokio's clock (so paused-time tests move it).
#[derive(Debug)]
pub struct MemoryBudget {
    epoch: tokio::time::Instant,
    buckets: Mutex<HashMap<BudgetKey, i64>>,
}

impl Default for MemoryBudget {
    fn default() -> Self {
        MemoryBudget {
            epoch: tokio::time::Instant::now(),
            buckets: Mutex::default(),
        }
    }
}

impl MemoryBudget {
    fn now_us(&self) -> i64 {
        tokio::time::Instant::now()
            .duration_since(self.epoch)
            .as_micros() as i64
    }

    /// The request, decided and applied at once.
    pub fn take_now(&self, key: &BudgetKey, rate: Rate, n: u32) -> Grant {
        let Some(gcra) = Gcra::new(rate) else {
            return Grant::Taken;
        };
        let now = self.now_us();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let decision = gcra.decide(buckets.get(key).copied(), now, n);
        if let Decision::Idle { tat } | Decision::Busy { tat } = decision {
            buckets.insert(key.clone(), tat);
        }
        grant(decision, now)
    }
}

impl SharedBudget for MemoryBudget {
    fn take<'a>(
        &'a self,
        key: &'a BudgetKey,
        rate: Rate,
        n: u32,
    ) -> BoxFuture<'a, Result<Grant, ApiError>> {
        Box::pin(async move { Ok(self.take_now(key, rate, n)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A token bucket the plain way, in tokens: the reference the rule must match.
    fn bucket_allows(times: &[(i64, u32)], per_second: u32, burst: u32) -> Vec<bool> {
        let mut tokens = f64::from(burst);
        let mut last = times.first().map_or(0, |t| t.0);
        times
            .iter()
            .map(|&(t, n)| {
                tokens = (tokens + (t - last) as f64 / 1e6 * f64::from(per_second))
                    .min(f64::from(burst));
                last = t;
                if tokens + 1e-9 >= f64::from(n) {
                    tokens -= f64::from(n);
                    true
                } else {
                    false
                }
            })
            .collect()
    }

    fn rule_allows(times: &[(i64, u32)], rate: Rate) -> Vec<bool> {
        let Some(gcra) = Gcra::new(rate) else {
            return vec![true; times.len()];
        };
        let mut tat = None;
        times
            .iter()
            .map(|&(now, n)| match gcra.decide(tat, now, n) {
                Decision::Idle { tat: t } | Decision::Busy { tat: t } => {
                    tat = Some(t);
                    true
                }
                Decision::WaitUntil(_) => false,
            })
            .collect()
    }

    proptest! {
        /// Rates whose interval is a whole number of microseconds, so the two agree exactly.
        #[test]
        fn the_rule_allows_exactly_what_a_token_bucket_allows(
            per_second in prop::sample::select(vec![1u32, 2, 4, 5, 8, 10, 20, 40, 50]),
            burst in 1u32..60,
            steps in prop::collection::vec((0i64..2_000_000, 1u32..4), 1..200),
        ) {
            let mut at = 0;
            let times: Vec<(i64, u32)> = steps
                .iter()
                .map(|&(gap, n)| { at += gap; (at, n.min(burst)) })
                .collect();
            let rate = Rate { per_second, burst };
            prop_assert_eq!(rule_allows(&times, rate), bucket_allows(&times, per_second, burst));
        }

        #[test]
        fn a_refused_request_is_allowed_at_the_moment_it_is_told_and_not_before(
            burst in 1u32..60,
            taken in 0u32..200,
            n in 1u32..4,
        ) {
            let n = n.min(burst);
            let gcra = Gcra::new(Rate { per_second: 5, burst }).expect("a rate");
            let mut tat = None;
            for _ in 0..taken {
                if let Decision::Idle { tat: t } | Decision::Busy { tat: t } = gcra.decide(tat, 0, 1) {
                    tat = Some(t);
                }
            }
            if let Decision::WaitUntil(at) = gcra.decide(tat, 0, n) {
                prop_assert!(at > 0);
                prop_assert!(matches!(gcra.decide(tat, at - 1, n), Decision::WaitUntil(_)));
                prop_assert!(!matches!(gcra.decide(tat, at, n), Decision::WaitUntil(_)));
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn two_holders_of_one_memory_budget_share_its_burst() {
        let budget = std::sync::Arc::new(MemoryBudget::default());
        let key = BudgetKey {
            account: "111111111111".into(),
            region: "eu-west-1".into(),
            bucket: crate::ports::Bucket::ServiceModify,
        };
        let rate = Rate {
            per_second: 3,
            burst: 30,
        };
        let other = budget.clone();
        let taken = (0..20)
            .filter(|_| budget.take_now(&key, rate, 1) == Grant::Taken)
            .count()
            + (0..20)
                .filter(|_| other.take_now(&key, rate, 1) == Grant::Taken)
                .count();
        assert_eq!(taken, 30);
        let elsewhere = BudgetKey {
            account: "222222222222".into(),
            ..key.clone()
        };
        assert_eq!(budget.take_now(&elsewhere, rate, 1), Grant::Taken);
    }

    #[test]
    fn a_request_larger_than_the_burst_takes_the_whole_burst_rather_than_waiting_forever() {
        let gcra = Gcra::new(Rate {
            per_second: 3,
            burst: 30,
        })
        .expect("paced");
        assert_eq!(
            gcra.decide(None, 0, 500),
            Decision::Idle { tat: gcra.cost(30) }
        );
        assert_eq!(
            gcra.decide(Some(gcra.cost(1)), 0, 500),
            Decision::WaitUntil(gcra.cost(1))
        );
    }
}
