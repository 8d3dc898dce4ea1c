//! The ledger in memory, for tests and benchmarks: the same claim rule as DynamoDB's
//! ([`claimable`]), each call optionally delayed, every item it is asked about counted.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{claim_entry, claimable, ClaimRequest, Claimed, Entry, Ledger, LedgerError, State};

/// The ledger in memory: tests and benchmarks. `latency` models a round trip per call.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    entries: Mutex<HashMap<(String, String), Entry>>,
    latency: std::time::Duration,
    /// What was asked of it, counted as DynamoDB would bill it (items, not calls).
    pub counts: LedgerCounts,
}

/// The items a [`MemoryLedger`] read and wrote, per kind: the cost model's counted calls (the
/// DynamoDB ledger makes one conditional write per claimed, recorded and followed item, and
/// reads in batches of 100).
#[derive(Debug, Default)]
pub struct LedgerCounts {
    pub read_calls: std::sync::atomic::AtomicUsize,
    pub items_read: std::sync::atomic::AtomicUsize,
    pub claims: std::sync::atomic::AtomicUsize,
    pub records: std::sync::atomic::AtomicUsize,
    pub follows: std::sync::atomic::AtomicUsize,
}

impl LedgerCounts {
    fn add(counter: &std::sync::atomic::AtomicUsize, n: usize) {
        counter.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    }

    /// A counter's value.
    pub fn get(counter: &std::sync::atomic::AtomicUsize) -> usize {
        counter.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl MemoryLedger {
    /// A ledger whose every call takes `latency` (DynamoDB's single-digit milliseconds).
    pub fn with_latency(latency: std::time::Duration) -> Self {
        MemoryLedger {
            latency,
            ..MemoryLedger::default()
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn round_trip(&self) {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
    }
}

impl Ledger for MemoryLedger {
    async fn read(
        &self,
        notice: &str,
        resources: &[String],
    ) -> Result<HashMap<String, Entry>, LedgerError> {
        self.round_trip().await;
        LedgerCounts::add(&self.counts.read_calls, resources.len().div_ceil(100));
        LedgerCounts::add(&self.counts.items_read, resources.len());
        let entries = self.lock();
        Ok(resources
            .iter()
            .filter_map(|r| {
                entries
                    .get(&(notice.to_owned(), r.clone()))
                    .map(|e| (r.clone(), e.clone()))
            })
            .collect())
    }

    async fn claim(&self, request: &ClaimRequest) -> Result<Claimed, LedgerError> {
        self.round_trip().await;
        LedgerCounts::add(&self.counts.claims, 1);
        let mut entries = self.lock();
        let key = (request.notice.clone(), request.resource.clone());
        let existing = entries.get(&key);
        if !claimable(existing, request.now, &request.owner) {
            return Ok(Claimed::Lost(Box::new(
                existing
                    .cloned()
                    .unwrap_or_else(|| claim_entry(request, None)),
            )));
        }
        let entry = claim_entry(request, existing);
        entries.insert(key, entry);
        Ok(Claimed::Won)
    }

    async fn record(&self, records: &[Entry]) -> Result<(), LedgerError> {
        self.round_trip().await;
        LedgerCounts::add(&self.counts.records, records.len());
        let mut entries = self.lock();
        for e in records {
            entries.insert((e.notice.clone(), e.resource.clone()), e.clone());
        }
        Ok(())
    }

    async fn follow(&self, records: &[Entry]) -> Result<(), LedgerError> {
        self.round_trip().await;
        LedgerCounts::add(&self.counts.follows, records.len());
        let mut entries = self.lock();
        for e in records {
            let key = (e.notice.clone(), e.resource.clone());
            if entries
                .get(&key)
                .is_some_and(|now| matches!(now.state, State::Acted | State::Done))
            {
                entries.insert(key, e.clone());
            }
        }
        Ok(())
    }

    async fn notice(&self, notice: &str) -> Result<Vec<Entry>, LedgerError> {
        self.round_trip().await;
        let mut found: Vec<Entry> = self
            .lock()
            .values()
            .filter(|e| e.notice == notice)
            .cloned()
            .collect();
        found.sort_by(|a, b| a.resource.cmp(&b.resource));
        Ok(found)
    }

    async fn all(&self) -> Result<Vec<Entry>, LedgerError> {
        self.round_trip().await;
        let mut found: Vec<Entry> = self.lock().values().cloned().collect();
        found.sort_by(|a, b| (&a.notice, &a.resource).cmp(&(&b.notice, &b.resource)));
        Ok(found)
    }
}
