//! What the prover node does with the commitment [`ledger`](crate::ledger) and the auction
//! outcomes: the few calls its quoting and job code makes (each marked `market:` there), with
//! persistence in the store and the metrics.
//!
//! * before signing: [`Market::valid_until_slot`] (always finite, never past the claim phase),
//!   [`Market::top_up_and_read_available`] and [`Market::admit`] (refuse over-commitment);
//! * after recording a quote: [`Market::record_quote`];
//! * a claim seen: [`Market::on_claim`] (ledger + outcome feedback);
//! * a job proving / proven / finished: [`Market::on_proving`], [`Market::on_proven`],
//!   [`Market::on_finished`].
//!
//! The ledger's snapshot is saved in the store's `market_state` table after every change and
//! read back at start ([`Market::restore`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy_primitives::{Address, U256};
use epoch_rfq_l1::{Claim, L1Client, L1Error, TimeParams};
use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::bond::BondManager;
use crate::cost::SharedLedger;
use crate::ledger::{Commitment, Ledger, LedgerSettings, Proposal, Refusal, Snapshot, Stage};
use crate::store::{AuctionOutcome, ProverStore, StoreError};

/// The `market_state` key of the ledger's snapshot.
pub const LEDGER_KEY: &str = "ledger";

/// Ledger and auction metrics (registered with the prover's, under `prover_`).
#[derive(Debug, Clone)]
pub struct MarketMetrics {
    auctions: Family<Vec<(&'static str, String)>, Counter>,
    win_rate: Gauge<f64, AtomicU64>,
    fee_gap_bps: Gauge<f64, AtomicU64>,
    fee_gap: Histogram,
    claimable_bonds: Gauge<f64, AtomicU64>,
    committed_work_seconds: Gauge<f64, AtomicU64>,
    utilization: Gauge<f64, AtomicU64>,
    speed_scale: Gauge<f64, AtomicU64>,
}

impl Default for MarketMetrics {
    fn default() -> Self {
        Self {
            auctions: Family::default(),
            win_rate: Gauge::default(),
            fee_gap_bps: Gauge::default(),
            fee_gap: Histogram::new([0.0, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0]),
            claimable_bonds: Gauge::default(),
            committed_work_seconds: Gauge::default(),
            utilization: Gauge::default(),
            speed_scale: Gauge::default(),
        }
    }
}

impl MarketMetrics {
    /// Registers every metric in `registry` (the prover's sub-registry).
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "auctions",
            "Auctions this prover quoted, by result (won, lost), from the claim on L1",
            self.auctions.clone(),
        );
        r.register(
            "auction_win_rate",
            "Share of recorded auctions this prover won (all time, from the store)",
            self.win_rate.clone(),
        );
        r.register(
            "auction_fee_gap_bps",
            "Our fee minus the winner's, in basis points, of the last auction lost",
            self.fee_gap_bps.clone(),
        );
        r.register(
            "auction_fee_gap_bps_distribution",
            "Our fee minus the winner's (bps) over lost auctions",
            self.fee_gap.clone(),
        );
        r.register(
            "ledger_claimable_bonds",
            "Bonds promised by own quotes that are still claimable (fee-token base units)",
            self.claimable_bonds.clone(),
        );
        r.register(
            "ledger_committed_work_seconds",
            "Estimated proving seconds committed (claimable quotes, claimed and running jobs)",
            self.committed_work_seconds.clone(),
        );
        r.register(
            "ledger_utilization",
            "Committed work × safety factor over the workers' time until the latest deadline",
            self.utilization.clone(),
        );
        r.register(
            "ledger_speed_scale",
            "Measured proving time over the configured estimate (learned)",
            self.speed_scale.clone(),
        );
    }

    /// Auctions recorded with `result` (`won`, `lost`), for tests.
    pub fn auctions(&self, result: &str) -> u64 {
        self.auctions
            .get_or_create(&vec![("result", result.to_owned())])
            .get()
    }
}

/// The node's ledger, outcome feedback and their persistence.
#[derive(Debug, Clone)]
pub struct Market {
    ledger: SharedLedger,
    metrics: MarketMetrics,
    time: TimeParams,
    /// L1 time minus wall-clock time (seconds), from the last tick: the ledger runs on chain
    /// time, since deadlines and claim phases are chain time.
    chain_offset: Arc<AtomicI64>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The ledger a node uses when none is given: `workers` jobs at once, default estimates.
pub fn default_ledger(workers: usize) -> SharedLedger {
    Arc::new(Mutex::new(Ledger::new(LedgerSettings {
        workers,
        ..LedgerSettings::default()
    })))
}

/// A ledger to share between a node, a cost-based quote provider and tools.
pub fn shared_ledger(ledger: Ledger) -> SharedLedger {
    Arc::new(Mutex::new(ledger))
}

impl Market {
    /// A market over `ledger` for a chain with `time`.
    pub fn new(ledger: SharedLedger, metrics: MarketMetrics, time: TimeParams) -> Self {
        Self {
            ledger,
            metrics,
            time,
            chain_offset: Arc::new(AtomicI64::new(0)),
        }
    }

    /// Now, in L1 time (wall clock corrected by the last tick's L1 time).
    pub fn now(&self) -> u64 {
        let wall = i64::try_from(unix_now()).unwrap_or(i64::MAX);
        let now = wall.saturating_add(self.chain_offset.load(Ordering::Relaxed));
        u64::try_from(now).unwrap_or(0)
    }

    /// The ledger.
    pub fn ledger(&self) -> &SharedLedger {
        &self.ledger
    }

    /// Loads the persisted ledger and drops commitments whose job already ended.
    pub fn restore(&self, store: &ProverStore) -> Result<(), StoreError> {
        if let Some(json) = store.market_state(LEDGER_KEY)? {
            match serde_json::from_str::<Snapshot>(&json) {
                Ok(snapshot) => {
                    let mut ledger = self.ledger.lock();
                    let settings = *ledger.settings();
                    *ledger = Ledger::restore(settings, snapshot);
                }
                Err(err) => {
                    tracing::error!(%err, "the stored commitment ledger is unreadable; starting empty")
                }
            }
        }
        let epochs: Vec<u64> = self.ledger.lock().commitments().map(|c| c.epoch).collect();
        for epoch in epochs {
            if store.job(epoch)?.is_some_and(|j| j.state.is_terminal()) {
                self.ledger.lock().on_finished(epoch);
            }
        }
        // Expiry waits for the first tick, which knows L1 time.
        self.persist(store);
        Ok(())
    }

    fn persist(&self, store: &ProverStore) {
        let now = self.now();
        let (snapshot, figures) = {
            let ledger = self.ledger.lock();
            (ledger.snapshot(), ledger.figures(now))
        };
        self.metrics.claimable_bonds.set(
            figures
                .claimable_bonds
                .to_string()
                .parse()
                .unwrap_or(f64::MAX),
        );
        self.metrics
            .committed_work_seconds
            .set(figures.committed_work_seconds);
        self.metrics.utilization.set(figures.utilization);
        self.metrics.speed_scale.set(figures.speed_scale);
        match serde_json::to_string(&snapshot) {
            Ok(json) => {
                if let Err(err) = store.save_market_state(LEDGER_KEY, &json) {
                    tracing::error!(%err, "cannot save the commitment ledger");
                }
            }
            Err(err) => tracing::error!(%err, "cannot serialise the commitment ledger"),
        }
    }

    /// The quote's last claimable slot: the provider's choice, but never unset (the end of the
    /// claim phase) and never past the claim phase.
    pub fn valid_until_slot(time: &TimeParams, epoch: u64, asked: Option<U256>) -> u64 {
        let last = time.claim_phase_last_slot(epoch);
        asked.map_or(last, |s| u64::try_from(s).unwrap_or(u64::MAX).min(last))
    }

    /// Each tick: learns L1 time from the current `slot` and drops expired quotes.
    pub fn tick(&self, store: &ProverStore, slot: u64) {
        let chain_now = i64::try_from(self.time.slot_start(slot)).unwrap_or(i64::MAX);
        let wall = i64::try_from(unix_now()).unwrap_or(i64::MAX);
        self.chain_offset
            .store(chain_now.saturating_sub(wall), Ordering::Relaxed);
        if !self.ledger.lock().expire(self.now()).is_empty() {
            self.persist(store);
        }
    }

    /// Tops the escrow up for every claimable bond plus `bond` (best effort: the bond manager
    /// already ensured `bond` alone), then reads what L1 has available for bonds.
    pub async fn top_up_and_read_available(
        &self,
        bond_manager: &BondManager,
        l1: &L1Client,
        me: Address,
        bond: U256,
    ) -> Result<U256, L1Error> {
        let (claimable, quotes) = self.ledger.lock().claimable_bonds(self.now());
        if quotes > 0
            && let Err(err) = bond_manager
                .ensure_bond(claimable.saturating_add(bond))
                .await
        {
            tracing::warn!(%err, %claimable, %bond, "cannot top up for the claimable quotes' bonds");
        }
        l1.available_for_bond(me).await
    }

    /// The ledger's verdict on quoting `epoch` with `bond` until `valid_until` (slot).
    pub fn admit(
        &self,
        epoch: u64,
        tx_count: U256,
        bond: U256,
        valid_until: u64,
        available: U256,
    ) -> Result<Proposal, Refusal> {
        let now = self.now();
        let proposal = self.proposal(epoch, tx_count, bond, valid_until);
        self.ledger.lock().check(&proposal, available, now)?;
        Ok(proposal)
    }

    /// The proposal for a quote (the dry run shows it).
    pub fn proposal(&self, epoch: u64, tx_count: U256, bond: U256, valid_until: u64) -> Proposal {
        Proposal {
            epoch,
            tx_count: u64::try_from(tx_count).unwrap_or(u64::MAX),
            bond,
            deadline_at: self.time.slot_start(self.time.proof_deadline_slot(epoch)),
            // Claimable through the end of its last slot.
            claimable_until: self
                .time
                .slot_start(valid_until.saturating_add(1))
                .saturating_sub(1),
        }
    }

    /// A signed quote was recorded: it is now committed.
    pub fn record_quote(&self, store: &ProverStore, proposal: &Proposal) {
        self.ledger.lock().record(proposal);
        self.persist(store);
    }

    /// A claim seen for the first time: move the ledger and record the auction's outcome when
    /// we had quoted it.
    pub fn on_claim(&self, store: &ProverStore, claim: &Claim, ours: bool) {
        let fallback = Commitment {
            epoch: claim.epoch,
            tx_count: 0,
            bond: claim.bond_amount,
            deadline_at: self
                .time
                .slot_start(self.time.proof_deadline_slot(claim.epoch)),
            stage: Stage::Claimed,
        };
        self.ledger
            .lock()
            .on_claim(claim.epoch, ours, Some(fallback));
        self.persist(store);
        let our_quote = match store.latest_quote(claim.epoch) {
            Ok(q) => q,
            Err(err) => {
                tracing::warn!(%err, "cannot read our quote for the outcome");
                None
            }
        };
        let Some(our_quote) = our_quote else {
            return;
        };
        let outcome = AuctionOutcome {
            epoch: claim.epoch,
            our_fee: our_quote.basis_point_fee,
            won: ours,
            winner: claim.bond_provider.to_string(),
            winner_fee: claim.basis_point_fee,
        };
        match store.record_outcome(&outcome) {
            Ok(true) => {}
            Ok(false) => return,
            Err(err) => {
                tracing::warn!(%err, "cannot record the auction's outcome");
                return;
            }
        }
        let result = if ours { "won" } else { "lost" };
        self.metrics
            .auctions
            .get_or_create(&vec![("result", result.to_owned())])
            .inc();
        if !ours {
            let gap = f64::from(outcome.our_fee) - f64::from(outcome.winner_fee);
            self.metrics.fee_gap_bps.set(gap);
            self.metrics.fee_gap.observe(gap);
        }
        if let Ok((won, recorded)) = store.outcome_counts()
            && recorded > 0
        {
            self.metrics.win_rate.set(won as f64 / recorded as f64);
        }
        tracing::info!(
            epoch = claim.epoch,
            result,
            our_fee = outcome.our_fee,
            winner_fee = outcome.winner_fee,
            winner = %outcome.winner,
            "auction outcome"
        );
    }

    /// The job for `epoch` started proving.
    pub fn on_proving(&self, store: &ProverStore, epoch: u64) {
        if self.ledger.lock().on_proving(epoch, self.now()) {
            self.persist(store);
        }
    }

    /// A proof of `tx_count` transactions took `elapsed`: learn the speed.
    pub fn on_proven(&self, store: &ProverStore, tx_count: u64, elapsed: Duration) {
        self.ledger
            .lock()
            .observe_proving(tx_count, elapsed.as_secs_f64());
        self.persist(store);
    }

    /// The job for `epoch` ended.
    pub fn on_finished(&self, store: &ProverStore, epoch: u64) {
        if self.ledger.lock().on_finished(epoch) {
            self.persist(store);
        }
    }
}
