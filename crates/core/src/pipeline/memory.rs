//! The ledger's memory around a remediation: what is settled is answered, what was acted on is
//! verified (reads only), the rest is claimed, remediated and recorded.

use futures::stream::{self, StreamExt};

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::{Notice, Remediate};
use crate::follow::{judge, Followed, Verdict};
use crate::ledger::{
    handled_elsewhere, recall, settle, ClaimRequest, Claimed, Entry, Ledger, LedgerError, Memory,
};
use crate::names::Code;
use crate::outcome::{Outcome, Status};
use crate::target::Target;

/// Who is remediating, for the ledger.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The Lambda request id (or the CLI's run id): the owner of the claims.
    pub owner: String,
    /// The wall clock at the start.
    pub now: DateTime<Utc>,
    /// Claims last this long past the invocation deadline, so a crashed run's claims free up.
    pub lease_margin: chrono::Duration,
    /// Entries are kept this long after AWS's deadline.
    pub retention: chrono::Duration,
    /// Ledger calls in flight at once.
    pub concurrency: usize,
    /// Recording the outcomes must be done by then (the invocation's own deadline, less what
    /// returning takes); `None`: no bound.
    pub finish_by: Option<Instant>,
}

/// [`Remediate::remediate`] with the ledger's memory around it: resources already handled for
/// this notice are answered from memory, resources another invocation holds are left to it, and
/// the rest are claimed (conditional writes, in parallel), remediated together, and recorded.
///
/// Without memory nothing is acted on: when the ledger cannot be read, or a claim cannot be
/// written, the resource fails as retryable with the reason to fix.
pub async fn remediate_remembering<R: Remediate, L: Ledger>(
    remediator: &R,
    ledger: &L,
    notice: &R::Notice,
    deadline: Option<Instant>,
    invocation: &Invocation,
) -> Vec<Outcome> {
    let started = Instant::now();
    let targets = notice.targets();
    let key = notice.ledger_key();
    let resources: Vec<String> = targets.iter().map(Target::identity).collect();
    let known = match ledger.read(&key, &resources).await {
        Ok(known) => known,
        Err(e) => return targets.iter().map(|t| without_memory(t, &e)).collect(),
    };
    let now = invocation.now;
    let mut outcomes: Vec<Option<Outcome>> = vec![None; targets.len()];
    let mut to_claim = Vec::new();
    let mut to_follow = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        match recall(target, known.get(&resources[i]), now, &invocation.owner) {
            Memory::Settled(outcome) | Memory::Elsewhere(outcome) => outcomes[i] = Some(outcome),
            Memory::Claim => to_claim.push(i),
            Memory::Follow(entry) => to_follow.push((i, *entry)),
        }
    }
    // Checks only read, and what is still open waits on them: with work left to claim, they
    // get half of the invocation's working time (net of the margin before the deadline in
    // which no call starts), so a continuation always acts (a throttled or slow check of
    // hundreds of forced services would otherwise spend the whole budget, and the next one too).
    let margin = remediator.deadline_margin();
    let checks_by = if to_claim.is_empty() {
        deadline
    } else {
        deadline.map(|d| {
            d.min(
                started + d.saturating_duration_since(started).saturating_sub(margin) / 2 + margin,
            )
        })
    };
    for (i, outcome) in follow(remediator, ledger, notice, to_follow, checks_by, invocation).await {
        outcomes[i] = Some(outcome);
    }
    if remediator.dry_run() {
        // A dry run claims and records nothing: it shows what memory says and plans the rest.
        return finish(remediator, notice, &targets, outcomes, to_claim, deadline).await;
    }

    let lease_until = lease_until(now, deadline, invocation.lease_margin);
    let expires_at = notice.follow_until().unwrap_or(now) + invocation.retention;
    let request = |i: usize| ClaimRequest {
        notice: key.clone(),
        resource: resources[i].clone(),
        target: targets[i].to_string(),
        owner: invocation.owner.clone(),
        now,
        lease_until,
        notice_status: notice.status(),
        deadline: notice.deadline(),
        expires_at,
    };
    // In waves: claim a few, act on them and record them, then twice as many, while the
    // invocation has time. A slow ledger costs speed, never progress: the first wave is acted on
    // within one wave's claims, and what no wave reached is left unclaimed for the continuation.
    let mut queue = in_cluster_order(&targets, to_claim);
    let (mut size, mut claims_took) = (FIRST_WAVE, std::time::Duration::ZERO);
    while !queue.is_empty() && time_for_a_wave(deadline, margin, claims_took) {
        let wave: Vec<usize> = queue.drain(..size.min(queue.len())).collect();
        let claiming = Instant::now();
        let won = claim_each(ledger, &targets, wave, &request, invocation, &mut outcomes).await;
        claims_took = claiming.elapsed();
        let acted = remediate_some(remediator, notice, &targets, &won, deadline).await;
        // The invocation's clock moved on by the time the work took (tests pass a fixed start).
        let settled_at = now + chrono::Duration::from_std(started.elapsed()).unwrap_or_default();
        let entries: Vec<Entry> = acted
            .iter()
            .map(|(i, outcome)| {
                settle(&request(*i), known.get(&resources[*i]), outcome, settled_at)
            })
            .collect();
        let recorded = record_by(ledger, &entries, invocation.finish_by).await;
        for (i, outcome) in acted {
            outcomes[i] = Some(match &recorded {
                Ok(()) => outcome,
                // The work may be done, but not its memory: an update of the notice would act
                // again. The chain's next invocation takes the claim back, re-observes
                // (`already_replaced`) and records.
                Err(e) => unrecorded(outcome, e),
            });
        }
        size = (size * 2).min(MAX_WAVE);
    }
    for i in queue {
        outcomes[i] = Some(not_reached(&targets[i]));
    }
    collect(&targets, outcomes)
}

/// The first wave's size: one `DescribeServices` call's worth, acted on at once.
const FIRST_WAVE: usize = 10;
/// Waves double up to this size (160 claims, 16 in flight: ten ledger round trips).
const MAX_WAVE: usize = 160;
/// Whether another wave can still claim and act before `deadline` less `margin` (no call
/// starts after): the first always (nothing is known yet), a later one while twice what the
/// last wave's claims took is left (its claims, and as long again to act on them).
fn time_for_a_wave(
    deadline: Option<Instant>,
    margin: std::time::Duration,
    claims_took: std::time::Duration,
) -> bool {
    deadline.is_none_or(|d| {
        d.saturating_duration_since(Instant::now())
            .saturating_sub(margin)
            > claims_took * 2
    })
}

/// The resources to claim, those of one cluster together (stable otherwise): each wave's
/// describes stay batched per cluster.
fn in_cluster_order(
    targets: &[Target],
    mut indexes: Vec<usize>,
) -> std::collections::VecDeque<usize> {
    indexes.sort_by_key(|&i| match &targets[i] {
        Target::Service(s) => Some(s.cluster.as_str()),
        Target::Task(t) => t.cluster.as_deref(),
        _ => None,
    });
    indexes.into()
}

/// A resource no wave reached in time: unclaimed, for the continuation.
fn not_reached(target: &Target) -> Outcome {
    Outcome::failed(
        target.clone(),
        Code::TimeBudgetExhausted,
        "not reached before the invocation deadline (not claimed): the continuation picks it up",
        true,
    )
}

/// Claims each resource (conditional writes, `concurrency` at once); returns the indices won,
/// in order. A claim lost is answered from the entry that won it; one not written fails as
/// retryable.
async fn claim_each<L: Ledger>(
    ledger: &L,
    targets: &[Target],
    to_claim: Vec<usize>,
    request: &impl Fn(usize) -> ClaimRequest,
    invocation: &Invocation,
    outcomes: &mut [Option<Outcome>],
) -> Vec<usize> {
    let claims: Vec<(usize, Result<Claimed, LedgerError>)> = stream::iter(to_claim)
        .map(|i| {
            let request = request(i);
            async move { (i, ledger.claim(&request).await) }
        })
        .buffer_unordered(invocation.concurrency.max(1))
        .collect()
        .await;
    let mut won = Vec::new();
    for (i, claimed) in claims {
        match claimed {
            Ok(Claimed::Won) => won.push(i),
            Ok(Claimed::Lost(entry)) => {
                outcomes[i] = Some(
                    match recall(&targets[i], Some(&entry), invocation.now, &invocation.owner) {
                        Memory::Settled(outcome) | Memory::Elsewhere(outcome) => outcome,
                        // Lost to a claim that ended meanwhile, or to an action another run
                        // took meanwhile: that run and its checks follow it.
                        Memory::Claim | Memory::Follow(_) => handled_elsewhere(&targets[i], &entry),
                    },
                )
            }
            Err(e) => outcomes[i] = Some(without_memory(&targets[i], &e)),
        }
    }
    won.sort_unstable();
    won
}

/// The claim's lease: until the invocation's deadline (15 minutes without one), plus the margin.
fn lease_until(
    now: DateTime<Utc>,
    deadline: Option<Instant>,
    margin: chrono::Duration,
) -> DateTime<Utc> {
    let left = deadline.map_or(chrono::Duration::minutes(15), |d| {
        chrono::Duration::from_std(d.saturating_duration_since(Instant::now()))
            .unwrap_or(chrono::Duration::minutes(15))
    });
    now + left + margin
}

/// Records the entries, within `finish_by` when the invocation has a deadline.
async fn record_by<L: Ledger>(
    ledger: &L,
    entries: &[Entry],
    finish_by: Option<Instant>,
) -> Result<(), LedgerError> {
    match finish_by {
        Some(by) => tokio::time::timeout(
            by.saturating_duration_since(Instant::now()),
            ledger.record(entries),
        )
        .await
        .unwrap_or_else(|_| {
            Err(LedgerError {
                table: "ledger".into(),
                operation: "PutItem",
                message: "not answered before the invocation deadline".into(),
                fix: "nothing to fix if it is rare: the next delivery or check re-observes and records",
            })
        }),
        None => ledger.record(entries).await,
    }
}

/// What the ledger already says of one target of a notice.
#[derive(Debug, Clone, PartialEq)]
pub enum Recalled {
    /// Settled, or held by another invocation: the outcome to report, no call.
    Known(Box<Outcome>),
    /// Acted on: to verify (reads only), never to act on again for this notice.
    Follow,
    /// Still to handle.
    Open,
}

/// What the ledger already says of each target of `notice`. The maintenance-window gate asks
/// this first, so an update of a handled notice defers only what it adds, and checks of what was
/// acted on run outside the windows too (they only read). A ledger that cannot be read says
/// nothing here; the remediation then stops on it.
pub async fn remembered<N: Notice, L: Ledger>(
    ledger: &L,
    notice: &N,
    now: DateTime<Utc>,
    owner: &str,
) -> Vec<Recalled> {
    let targets = notice.targets();
    let resources: Vec<String> = targets.iter().map(Target::identity).collect();
    let Ok(known) = ledger.read(&notice.ledger_key(), &resources).await else {
        return vec![Recalled::Open; targets.len()];
    };
    targets
        .iter()
        .zip(&resources)
        .map(|(t, r)| match recall(t, known.get(r), now, owner) {
            Memory::Settled(outcome) | Memory::Elsewhere(outcome) => {
                Recalled::Known(Box::new(outcome))
            }
            Memory::Follow(_) => Recalled::Follow,
            Memory::Claim => Recalled::Open,
        })
        .collect()
}

/// Verifies what the ledger says was acted on, records what each check saw, and returns the
/// outcomes by index. A dry run verifies (it only reads) and records nothing.
async fn follow<R: Remediate, L: Ledger>(
    remediator: &R,
    ledger: &L,
    notice: &R::Notice,
    entries: Vec<(usize, Entry)>,
    deadline: Option<Instant>,
    invocation: &Invocation,
) -> Vec<(usize, Outcome)> {
    if entries.is_empty() {
        return Vec::new();
    }
    let targets = notice.targets();
    let followed: Vec<Followed> = entries
        .iter()
        .map(|(i, e)| Followed::of(&targets[*i], e))
        .collect();
    let mut verdicts = Box::pin(remediator.verify(notice, &followed, invocation.now, deadline))
        .await
        .into_iter();
    let mut judged = Vec::with_capacity(entries.len());
    let mut records = Vec::with_capacity(entries.len());
    for ((i, entry), followed) in entries.into_iter().zip(&followed) {
        let verdict = verdicts.next().unwrap_or_else(|| {
            Verdict::Pending(
                "internal: the check gave no verdict; the next check looks again".into(),
            )
        });
        let (outcome, record) = judge(
            followed,
            &entry,
            verdict,
            invocation.now,
            notice.follow_until(),
        );
        judged.push((i, outcome));
        records.push(record);
    }
    if remediator.dry_run() {
        return judged;
    }
    if let Err(e) = ledger.follow(&records).await {
        // What the check saw is reported; the next check looks again and records it then.
        tracing::warn!(error = %e, "follow-up check not recorded");
    }
    judged
}

/// The outcomes in the notice's order: each [`Recalled::Known`] as it is, the followed ones
/// taken in order from `followed`, the open ones from `open`.
pub fn fill(recalled: Vec<Recalled>, followed: Vec<Outcome>, open: Vec<Outcome>) -> Vec<Outcome> {
    let mut followed = followed.into_iter();
    let mut open = open.into_iter();
    recalled
        .into_iter()
        .filter_map(|r| match r {
            Recalled::Known(outcome) => Some(*outcome),
            Recalled::Follow => followed.next(),
            Recalled::Open => open.next(),
        })
        .collect()
}

/// Remediates the targets at `indexes` (all of them in one call) and pairs each outcome with
/// its index, by the outcome's target: a claimed target the remediation left without an outcome
/// fails as retryable, so its claim is never left without a record.
async fn remediate_some<R: Remediate>(
    remediator: &R,
    notice: &R::Notice,
    targets: &[Target],
    indexes: &[usize],
    deadline: Option<Instant>,
) -> Vec<(usize, Outcome)> {
    if indexes.is_empty() {
        return Vec::new();
    }
    let narrowed = notice.narrowed(indexes.iter().map(|&i| targets[i].clone()).collect());
    let mut outcomes: Vec<Option<Outcome>> = Box::pin(remediator.remediate(&narrowed, deadline))
        .await
        .into_iter()
        .map(Some)
        .collect();
    indexes
        .iter()
        .map(|&i| {
            let identity = targets[i].identity();
            let found = outcomes
                .iter_mut()
                .find(|o| o.as_ref().is_some_and(|o| o.target.identity() == identity))
                .and_then(Option::take);
            let outcome = found.unwrap_or_else(|| {
                Outcome::failed(
                    targets[i].clone(),
                    Code::ApiError,
                    "internal: the remediation gave no outcome for this resource; a retry looks again",
                    true,
                )
            });
            (i, outcome)
        })
        .collect()
}

/// A dry run's remaining targets, planned, and every outcome in the notice's order.
async fn finish<R: Remediate>(
    remediator: &R,
    notice: &R::Notice,
    targets: &[Target],
    mut outcomes: Vec<Option<Outcome>>,
    rest: Vec<usize>,
    deadline: Option<Instant>,
) -> Vec<Outcome> {
    for (i, outcome) in remediate_some(remediator, notice, targets, &rest, deadline).await {
        outcomes[i] = Some(outcome);
    }
    collect(targets, outcomes)
}

/// One outcome per target; a target left without one (never expected) fails as retryable.
pub(crate) fn collect(targets: &[Target], outcomes: Vec<Option<Outcome>>) -> Vec<Outcome> {
    outcomes
        .into_iter()
        .zip(targets)
        .map(|(o, t)| {
            o.unwrap_or_else(|| {
                Outcome::failed(
                    t.clone(),
                    Code::ApiError,
                    "internal: no outcome recorded",
                    true,
                )
            })
        })
        .collect()
}

/// An outcome whose record the ledger refused: retryable, saying what was done.
fn unrecorded(outcome: Outcome, e: &LedgerError) -> Outcome {
    Outcome {
        status: Status::Failed,
        code: Code::LedgerUnavailable,
        retryable: true,
        reason: format!(
            "{} {} ({}), but the ledger did not record it: {e}; a retry re-observes and records",
            outcome.status.as_str(),
            outcome.code,
            outcome.reason
        ),
        ..outcome
    }
}

/// The outcome of a resource that cannot be acted on without the ledger.
fn without_memory(target: &Target, e: &LedgerError) -> Outcome {
    Outcome::failed(
        target.clone(),
        Code::LedgerUnavailable,
        format!("not acted on without the ledger: {e}; {}", e.fix),
        true,
    )
}
