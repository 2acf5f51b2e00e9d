//! The commitment ledger: what the prover has already promised, so that a new quote never
//! over-commits its escrow or its proving capacity.
//!
//! A quote is a promise the prover cannot take back: until its `validUntilSlot` any proposer may
//! claim it, and the claim stakes its bond and starts a deadline. So every own quote that is still
//! claimable counts as committed, exactly like a claimed epoch or a running job. Before a new quote
//! is signed the ledger answers two questions:
//!
//! * **Bond.** Would free escrow minus pending withdrawal minus the bonds of all claimable quotes
//!   still cover this bond when it is claimed? (Claimed bonds already left the free deposit on
//!   L1, so they are not subtracted again.)
//! * **Work.** Could every committed epoch plus this one be proven before its deadline, at the
//!   measured proving speed, with `workers` jobs at once? The check schedules the work
//!   earliest-deadline-first on the workers (each epoch on the worker free first) and needs every
//!   epoch to finish, with the safety factor, before its deadline. That schedule is one the node
//!   can actually follow, so "feasible here" means "provable in time" if the estimates hold.
//!
//! Proving speed is learned: the estimate is `scale × (seconds_per_epoch + seconds_per_tx × txs)`
//! from the configuration, and `scale` follows the measured/estimated ratio of finished jobs
//! (an exponential moving average), starting at 1.
//!
//! The ledger is pure (no clock, no I/O): callers pass "now" in unix seconds and persist
//! [`Ledger::snapshot`] (JSON) after each change; [`Ledger::restore`] rebuilds it after a restart.

use std::collections::BTreeMap;

use alloy_primitives::U256;
use serde::{Deserialize, Serialize};

/// Settings of the ledger (from the cost file, or defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerSettings {
    /// Proving jobs that can run at once (PROVER_NODE_MAX_PENDING_JOBS).
    pub workers: usize,
    /// Starting estimate: seconds to prove an epoch, before counting its transactions.
    pub seconds_per_epoch: f64,
    /// Starting estimate: seconds per transaction.
    pub seconds_per_tx: f64,
    /// Work estimates are multiplied by this before the deadline check (≥ 1).
    pub safety_factor: f64,
    /// Weight of each new measurement in the learned speed (0 < w ≤ 1).
    pub learning_weight: f64,
}

impl Default for LedgerSettings {
    fn default() -> Self {
        Self {
            workers: 1,
            seconds_per_epoch: 1.0,
            seconds_per_tx: 0.01,
            safety_factor: 1.5,
            learning_weight: 0.3,
        }
    }
}

/// Where a commitment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Our quote, claimable until `claimable_until` (unix seconds, the end of its last slot).
    Quoted {
        /// When it stops being claimable.
        claimable_until: u64,
    },
    /// Claimed with our bond; not yet proving.
    Claimed,
    /// Proving since `started_at`.
    Proving {
        /// Unix seconds the proof started.
        started_at: u64,
    },
}

/// One committed epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Commitment {
    /// The epoch.
    pub epoch: u64,
    /// Its transactions (for the work estimate).
    pub tx_count: u64,
    /// The bond promised (staked once claimed).
    pub bond: U256,
    /// Unix seconds by which the proof must be on L1.
    pub deadline_at: u64,
    /// Where it is.
    pub stage: Stage,
}

/// A new quote to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proposal {
    /// The epoch.
    pub epoch: u64,
    /// Its transactions.
    pub tx_count: u64,
    /// The bond it would promise.
    pub bond: U256,
    /// Unix seconds by which its proof must be on L1.
    pub deadline_at: u64,
    /// Unix seconds at which it stops being claimable.
    pub claimable_until: u64,
}

/// Why the ledger refuses a quote. Each has a stable [`code`](Refusal::code) for metrics.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// The bond would not be covered at claim time.
    #[error(
        "bond {} not covered: {} available for bonds minus {} promised by {} claimable \
         quote(s) leaves {}",
        .0.bond, .0.available, .0.claimable_bonds, .0.claimable_quotes, .0.free
    )]
    Bond(Box<BondShortfall>),
    /// The work would not be done before some deadline.
    #[error(
        "cannot prove in time: epoch {late_epoch} would finish at {finish_at} (estimate × \
         safety), {late_by} s after its deadline {deadline_at}, with {committed} epoch(s) \
         already committed on {workers} worker(s)"
    )]
    Capacity {
        /// The epoch that would be late (this one or an earlier commitment).
        late_epoch: u64,
        /// Its estimated finish (unix seconds).
        finish_at: u64,
        /// Its deadline.
        deadline_at: u64,
        /// Seconds late.
        late_by: u64,
        /// Commitments already held.
        committed: usize,
        /// Workers.
        workers: usize,
    },
    /// Already committed to this epoch.
    #[error("epoch {0} is already committed")]
    Duplicate(u64),
}

impl Refusal {
    /// A short, stable code for metrics and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Bond(_) => "ledger_bond",
            Self::Capacity { .. } => "ledger_capacity",
            Self::Duplicate(_) => "ledger_duplicate",
        }
    }
}

/// The figures of a bond the escrow would not cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BondShortfall {
    /// This quote's bond.
    pub bond: U256,
    /// Free escrow minus pending withdrawal (from L1).
    pub available: U256,
    /// Bonds of our claimable quotes.
    pub claimable_bonds: U256,
    /// How many such quotes.
    pub claimable_quotes: usize,
    /// `available - claimable_bonds` (0 when negative).
    pub free: U256,
}

/// The ledger's figures at a moment, for logs, the dry run and the cost model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// Claimable own quotes.
    pub claimable_quotes: usize,
    /// Their bonds.
    pub claimable_bonds: U256,
    /// Claimed epochs not yet proving.
    pub claimed: usize,
    /// Epochs proving.
    pub proving: usize,
    /// Estimated seconds of work still to do (without the safety factor).
    pub committed_work_seconds: f64,
    /// Learned speed: measured / configured estimate.
    pub speed_scale: f64,
    /// Share of the workers' time until the latest deadline that is committed (0..=1+).
    pub utilization: f64,
}

/// Everything the ledger keeps, as persisted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Commitments by epoch.
    pub commitments: Vec<Commitment>,
    /// Learned speed scale.
    pub speed_scale: f64,
    /// Finished jobs measured.
    pub measured_jobs: u64,
}

/// The commitment ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct Ledger {
    settings: LedgerSettings,
    commitments: BTreeMap<u64, Commitment>,
    speed_scale: f64,
    measured_jobs: u64,
    /// The `now` of the last [`expire`](Ledger::expire) (the caller's clock, i.e. L1 time).
    clock: Option<u64>,
}

/// Bounds of the learned scale: a single absurd measurement cannot make the ledger promise
/// nothing, or everything.
const MIN_SCALE: f64 = 0.01;
const MAX_SCALE: f64 = 1000.0;

impl Ledger {
    /// An empty ledger.
    pub fn new(settings: LedgerSettings) -> Self {
        Self {
            settings,
            commitments: BTreeMap::new(),
            speed_scale: 1.0,
            measured_jobs: 0,
            clock: None,
        }
    }

    /// A ledger from a persisted snapshot (settings may have changed since).
    pub fn restore(settings: LedgerSettings, snapshot: Snapshot) -> Self {
        let mut ledger = Self::new(settings);
        if snapshot.speed_scale.is_finite() {
            ledger.speed_scale = snapshot.speed_scale.clamp(MIN_SCALE, MAX_SCALE);
        }
        ledger.measured_jobs = snapshot.measured_jobs;
        for c in snapshot.commitments {
            ledger.commitments.insert(c.epoch, c);
        }
        ledger
    }

    /// What to persist.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            commitments: self.commitments.values().cloned().collect(),
            speed_scale: self.speed_scale,
            measured_jobs: self.measured_jobs,
        }
    }

    /// The settings in use.
    pub fn settings(&self) -> &LedgerSettings {
        &self.settings
    }

    /// Replaces the settings (a reloaded cost file); commitments and learning are kept.
    pub fn set_settings(&mut self, settings: LedgerSettings) {
        self.settings = settings;
    }

    /// The learned speed scale (1: as configured; 2: proofs take twice as long).
    pub fn speed_scale(&self) -> f64 {
        self.speed_scale
    }

    /// The commitment for `epoch`.
    pub fn commitment(&self, epoch: u64) -> Option<&Commitment> {
        self.commitments.get(&epoch)
    }

    /// Every commitment, by epoch.
    pub fn commitments(&self) -> impl Iterator<Item = &Commitment> {
        self.commitments.values()
    }

    /// Estimated seconds to prove `tx_count` transactions (learned speed, no safety factor).
    pub fn estimate_seconds(&self, tx_count: u64) -> f64 {
        let base = self.settings.seconds_per_epoch + self.settings.seconds_per_tx * tx_count as f64;
        (base * self.speed_scale).max(0.0)
    }

    /// The `now` of the last [`expire`](Ledger::expire), if any.
    pub fn clock(&self) -> Option<u64> {
        self.clock
    }

    /// Drops quotes no longer claimable at `now` (called every tick).
    pub fn expire(&mut self, now: u64) -> Vec<u64> {
        self.clock = Some(now);
        let gone: Vec<u64> = self
            .commitments
            .values()
            .filter(
                |c| matches!(c.stage, Stage::Quoted { claimable_until } if claimable_until < now),
            )
            .map(|c| c.epoch)
            .collect();
        for epoch in &gone {
            self.commitments.remove(epoch);
        }
        gone
    }

    /// Bonds of quotes still claimable (at `now`).
    pub fn claimable_bonds(&self, now: u64) -> (U256, usize) {
        self.commitments
            .values()
            .filter(
                |c| matches!(c.stage, Stage::Quoted { claimable_until } if claimable_until >= now),
            )
            .fold((U256::ZERO, 0), |(sum, n), c| {
                (sum.saturating_add(c.bond), n + 1)
            })
    }

    /// Checks a new quote against the bond available for bonds on L1 (free minus pending
    /// withdrawal) and the committed work. `Ok` means it may be signed; call [`record`] then.
    ///
    /// [`record`]: Ledger::record
    pub fn check(&self, proposal: &Proposal, available: U256, now: u64) -> Result<(), Refusal> {
        if self.commitments.contains_key(&proposal.epoch) {
            return Err(Refusal::Duplicate(proposal.epoch));
        }
        let (claimable_bonds, claimable_quotes) = self.claimable_bonds(now);
        let free = available.saturating_sub(claimable_bonds);
        if free < proposal.bond {
            return Err(Refusal::Bond(Box::new(BondShortfall {
                bond: proposal.bond,
                available,
                claimable_bonds,
                claimable_quotes,
                free,
            })));
        }
        self.check_work(Some(proposal), now)
    }

    /// Whether the committed work (plus `extra`) fits before the deadlines at `now`.
    ///
    /// The schedule it checks: running proofs keep their workers; every other epoch, earliest
    /// deadline first, goes to the worker free first, and starts no earlier than it can be
    /// claimed at the latest (a quote may be claimed at the last moment of its validity).
    fn check_work(&self, extra: Option<&Proposal>, now: u64) -> Result<(), Refusal> {
        let workers = self.settings.workers.max(1);
        let safety = self.settings.safety_factor.max(1.0);
        let mut free_at = vec![now as f64; workers];
        // (deadline, epoch, release, seconds)
        let mut waiting: Vec<(u64, u64, u64, f64)> = Vec::new();
        let mut running: Vec<(u64, u64, f64)> = Vec::new();
        for c in self.commitments.values() {
            let seconds = self.remaining_seconds(c, now);
            match c.stage {
                Stage::Quoted { claimable_until } if claimable_until < now => {}
                Stage::Quoted { claimable_until } => {
                    waiting.push((c.deadline_at, c.epoch, claimable_until, seconds))
                }
                Stage::Claimed => waiting.push((c.deadline_at, c.epoch, now, seconds)),
                Stage::Proving { .. } => running.push((c.deadline_at, c.epoch, seconds)),
            }
        }
        if let Some(p) = extra {
            let release = p.claimable_until.max(now);
            waiting.push((
                p.deadline_at,
                p.epoch,
                release,
                self.estimate_seconds(p.tx_count),
            ));
        }
        let late = |epoch: u64, finish: f64, deadline_at: u64| {
            let finish_at = finish.ceil() as u64;
            Refusal::Capacity {
                late_epoch: epoch,
                finish_at,
                deadline_at,
                late_by: finish_at.saturating_sub(deadline_at),
                committed: self.commitments.len(),
                workers,
            }
        };
        running.sort_by_key(|&(deadline, epoch, _)| (deadline, epoch));
        for (i, (deadline_at, epoch, seconds)) in running.into_iter().enumerate() {
            // More running proofs than workers (settings lowered): they share the first ones.
            let worker = i % workers;
            free_at[worker] += seconds * safety;
            if free_at[worker] > deadline_at as f64 {
                return Err(late(epoch, free_at[worker], deadline_at));
            }
        }
        waiting.sort_by_key(|&(deadline, epoch, _, _)| (deadline, epoch));
        // Proofs are not pre-empted: an epoch with a later deadline that was claimed first can
        // hold a worker while an earlier deadline waits. Each epoch's check therefore adds the
        // longest later-deadline proof as blocking time (the classic non-preemptive EDF bound).
        let mut blocking = vec![0.0f64; waiting.len()];
        let mut longest_later = 0.0f64;
        for (i, item) in waiting.iter().enumerate().rev() {
            blocking[i] = longest_later;
            longest_later = longest_later.max(item.3 * safety);
        }
        for ((deadline_at, epoch, release, seconds), blocked) in waiting.into_iter().zip(blocking) {
            let worker = free_at
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(i, _)| i);
            let finish = free_at[worker].max(release as f64) + seconds * safety;
            free_at[worker] = finish;
            if finish + blocked > deadline_at as f64 {
                return Err(late(epoch, finish + blocked, deadline_at));
            }
        }
        Ok(())
    }

    /// Seconds of work left for `c` at `now` (no safety factor).
    fn remaining_seconds(&self, c: &Commitment, now: u64) -> f64 {
        let total = self.estimate_seconds(c.tx_count);
        match c.stage {
            Stage::Proving { started_at } => {
                (total - now.saturating_sub(started_at) as f64).max(0.0)
            }
            _ => total,
        }
    }

    /// Records a quote that was signed after [`check`](Ledger::check) said yes.
    pub fn record(&mut self, proposal: &Proposal) {
        self.commitments.insert(
            proposal.epoch,
            Commitment {
                epoch: proposal.epoch,
                tx_count: proposal.tx_count,
                bond: proposal.bond,
                deadline_at: proposal.deadline_at,
                stage: Stage::Quoted {
                    claimable_until: proposal.claimable_until,
                },
            },
        );
    }

    /// A claim of `epoch` was seen. Ours: the quote becomes a claimed job (a claim of an epoch we
    /// never recorded, e.g. a quote from before the ledger existed, is added with `fallback`).
    /// Someone else's: our quote for it is gone. Returns whether anything changed.
    pub fn on_claim(&mut self, epoch: u64, ours: bool, fallback: Option<Commitment>) -> bool {
        if !ours {
            return self.commitments.remove(&epoch).is_some();
        }
        match self.commitments.get_mut(&epoch) {
            Some(c) if matches!(c.stage, Stage::Quoted { .. }) => {
                c.stage = Stage::Claimed;
                true
            }
            Some(_) => false,
            None => match fallback {
                Some(mut c) => {
                    c.stage = Stage::Claimed;
                    self.commitments.insert(epoch, c);
                    true
                }
                None => false,
            },
        }
    }

    /// The job for `epoch` started (or, after a restart, restarted) proving at `now`.
    pub fn on_proving(&mut self, epoch: u64, now: u64) -> bool {
        match self.commitments.get_mut(&epoch) {
            Some(c) => {
                c.stage = Stage::Proving { started_at: now };
                true
            }
            None => false,
        }
    }

    /// A proof of `tx_count` transactions took `seconds`: learn the speed.
    pub fn observe_proving(&mut self, tx_count: u64, seconds: f64) {
        let base = self.settings.seconds_per_epoch + self.settings.seconds_per_tx * tx_count as f64;
        if base <= 0.0 || base.is_nan() || !seconds.is_finite() || seconds < 0.0 {
            return;
        }
        let ratio = (seconds / base).clamp(MIN_SCALE, MAX_SCALE);
        let w = self.settings.learning_weight.clamp(0.0, 1.0);
        self.speed_scale = if self.measured_jobs == 0 {
            // The first measurement replaces the configured guess outright.
            ratio
        } else {
            (1.0 - w) * self.speed_scale + w * ratio
        };
        self.measured_jobs += 1;
    }

    /// The job for `epoch` reached a terminal state: its work and bond are no longer committed.
    pub fn on_finished(&mut self, epoch: u64) -> bool {
        self.commitments.remove(&epoch).is_some()
    }

    /// The figures at `now`.
    pub fn figures(&self, now: u64) -> Figures {
        let (claimable_bonds, claimable_quotes) = self.claimable_bonds(now);
        let mut claimed = 0;
        let mut proving = 0;
        let mut work = 0.0;
        let mut latest = now;
        for c in self.commitments.values() {
            match c.stage {
                Stage::Quoted { claimable_until } if claimable_until < now => continue,
                Stage::Claimed => claimed += 1,
                Stage::Proving { .. } => proving += 1,
                Stage::Quoted { .. } => {}
            }
            work += self.remaining_seconds(c, now);
            latest = latest.max(c.deadline_at);
        }
        let window = latest.saturating_sub(now) as f64 * self.settings.workers.max(1) as f64;
        let utilization = if window > 0.0 {
            work * self.settings.safety_factor.max(1.0) / window
        } else if work > 0.0 {
            1.0
        } else {
            0.0
        };
        Figures {
            claimable_quotes,
            claimable_bonds,
            claimed,
            proving,
            committed_work_seconds: work,
            speed_scale: self.speed_scale,
            utilization,
        }
    }

    /// Whether the committed work (without anything new) still fits: false after proofs took
    /// longer than estimated. For the simulation's and tests' invariant checks.
    pub fn is_feasible(&self, now: u64) -> bool {
        self.check_work(None, now).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proposal(epoch: u64, bond: u64, deadline_at: u64) -> Proposal {
        Proposal {
            epoch,
            tx_count: 100,
            bond: U256::from(bond),
            deadline_at,
            claimable_until: deadline_at / 2,
        }
    }

    #[test]
    fn claimable_quotes_count_against_the_escrow() {
        let mut ledger = Ledger::new(LedgerSettings::default());
        let a = proposal(1, 600, 10_000);
        ledger.check(&a, U256::from(1000), 0).expect("fits");
        ledger.record(&a);
        let b = proposal(2, 600, 10_000);
        let err = ledger.check(&b, U256::from(1000), 0).unwrap_err();
        assert_eq!(err.code(), "ledger_bond");
        assert!(err.to_string().contains("400"), "{err}");
        // Once the first quote expires unclaimed, its bond is free again.
        ledger.expire(a.claimable_until + 1);
        ledger
            .check(&b, U256::from(1000), a.claimable_until + 1)
            .expect("freed");
    }

    #[test]
    fn a_claimed_bond_is_not_counted_twice() {
        let mut ledger = Ledger::new(LedgerSettings::default());
        let a = proposal(1, 600, 10_000);
        ledger.record(&a);
        assert!(ledger.on_claim(1, true, None));
        // L1 moved the 600 to staked: available is now 400, and all of it is free.
        let b = proposal(2, 400, 10_000);
        ledger.check(&b, U256::from(400), 0).expect("fits");
    }

    #[test]
    fn refuses_work_that_misses_a_deadline_and_learns_the_speed() {
        let settings = LedgerSettings {
            workers: 1,
            seconds_per_epoch: 10.0,
            seconds_per_tx: 0.0,
            safety_factor: 1.0,
            learning_weight: 0.5,
        };
        let mut ledger = Ledger::new(settings);
        let mut p = proposal(1, 0, 25);
        p.tx_count = 0;
        p.claimable_until = 0;
        ledger.check(&p, U256::ZERO, 0).expect("10 s of 25");
        ledger.record(&p);
        let mut q = proposal(2, 0, 25);
        q.tx_count = 0;
        q.claimable_until = 0;
        ledger.check(&q, U256::ZERO, 0).expect("20 s of 25");
        ledger.record(&q);
        let mut r = proposal(3, 0, 25);
        r.tx_count = 0;
        r.claimable_until = 0;
        let err = ledger.check(&r, U256::ZERO, 0).unwrap_err();
        assert_eq!(err.code(), "ledger_capacity");
        // Proofs turn out to take 2 s: the same work now fits.
        ledger.observe_proving(0, 2.0);
        assert!((ledger.speed_scale() - 0.2).abs() < 1e-9);
        ledger.check(&r, U256::ZERO, 0).expect("fast now");
    }

    #[test]
    fn a_snapshot_restores_the_same_ledger() {
        let mut ledger = Ledger::new(LedgerSettings::default());
        ledger.record(&proposal(1, 5, 100));
        ledger.record(&proposal(2, 7, 200));
        ledger.on_claim(1, true, None);
        ledger.on_proving(1, 30);
        ledger.observe_proving(10, 3.0);
        let json = serde_json::to_string(&ledger.snapshot()).expect("serialise");
        let back: Snapshot = serde_json::from_str(&json).expect("parse");
        assert_eq!(Ledger::restore(LedgerSettings::default(), back), ledger);
    }
}
