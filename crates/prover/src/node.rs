//! The prover node runtime (SPEC §6.2–§6.7; the seed's EpochMonitor, claims watcher and
//! `handleClaim`), driven by one main loop that runs every `PROVER_NODE_POLLING_INTERVAL_MS`
//! (and at once when a ws subscription reports a `ProofRightClaimed`).
//!
//! Each tick:
//! 1. **Claims watcher.** Read `getProofClaim()`. A claim whose bond provider is us creates the
//!    proving job (the store's primary key makes it exactly once, across restarts and duplicate
//!    signals), starts it, and re-runs `ensure_bond` (the stake lowered the free deposit).
//! 2. **Cancellations.** An unfinished job whose claim vanished from L1 (`getClaim` empty: reorg
//!    or prune) is stopped and recorded `Cancelled`.
//! 3. **EpochMonitor.** For the epoch to prove, once complete, in its claim phase and unclaimed:
//!    if we already have a quote for it that is still valid, make sure it was delivered (after a
//!    restart the stored quote is resent, never a second different one); otherwise (at most once
//!    per slot) read its blocks, skip an empty epoch, skip when `max_pending_jobs` are busy, ask
//!    the [`QuoteProvider`], `ensure_bond(bond)`, sign, record, send through the [`QuoteSink`].
//!
//! Jobs run as tasks owned by the main loop: Claimed → Proving → Proven → Submitted → Completed,
//! every move a guarded store transition, so a restarted node resumes where the store says.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use epoch_rfq_l1::alloy::primitives::{Address, B256, Bytes, U256};
use epoch_rfq_l1::alloy::providers::Provider;
use epoch_rfq_l1::alloy::rpc::types::Filter;
use epoch_rfq_l1::alloy::signers::local::PrivateKeySigner;
use epoch_rfq_l1::alloy::sol_types::SolEvent;
use epoch_rfq_l1::bindings::Rollup;
use epoch_rfq_l1::{Claim, L1Client, L1Error, Revert, RollupError};
use epoch_rfq_quote::EpochProofQuote;
use parking_lot::Mutex;
use tokio::sync::{Notify, broadcast, watch};
use tokio::task::{AbortHandle, JoinSet};

use crate::bond::{BondError, BondManager};
use crate::config::{ProverConfig, ProverKind};
use crate::epoch_prover::{CommandProver, DevProver, EpochData, EpochProver};
use crate::l1tx::{self, Settled, SharedStore, TxError};
use crate::market::Market;
use crate::metrics::ProverMetrics;
use crate::quote_provider::{EpochSummary, QuoteProvider};
use crate::sink::QuoteSink;
use crate::store::{JobState, ProverStore, SeenClaim, SentQuote, StoreError};

/// Runtime settings (from [`ProverConfig`], or set directly in tests).
#[derive(Debug, Clone)]
pub struct NodeSettings {
    /// Main-loop period.
    pub polling_interval: Duration,
    /// Jobs that may run at once; no quote is sent while this many are running.
    pub max_pending_jobs: usize,
    /// Top up the escrow below this.
    pub minimum_escrow: U256,
    /// Top up to this.
    pub target_escrow: U256,
    /// Pause between proof submission attempts.
    pub submit_retry_interval: Duration,
    /// How long to wait for a transaction's receipt.
    pub receipt_timeout: Duration,
    /// Subscribe to `ProofRightClaimed` over the L1 provider (needs a ws:// L1 URL).
    pub subscribe_claims: bool,
}

impl NodeSettings {
    /// The runtime settings of a validated configuration.
    pub fn from_config(config: &ProverConfig) -> Self {
        Self {
            polling_interval: config.polling_interval,
            max_pending_jobs: config.max_pending_jobs,
            minimum_escrow: config.minimum_escrow,
            target_escrow: config.target_escrow,
            submit_retry_interval: Duration::from_secs(2),
            receipt_timeout: Duration::from_secs(60),
            subscribe_claims: config.l1_rpc_url.starts_with("ws"),
        }
    }
}

/// The prover the configuration asks for.
pub fn prover_from_config(kind: &ProverKind) -> Arc<dyn EpochProver> {
    match kind {
        ProverKind::Dev { delay } => Arc::new(DevProver::new(*delay)),
        ProverKind::Command { command, timeout } => {
            Arc::new(CommandProver::new(command.clone(), *timeout))
        }
    }
}

/// Something the node did, for logs, the sandbox's display and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProverEvent {
    /// A quote was handed to the sink.
    QuoteSent {
        /// The epoch.
        epoch: u64,
        /// Its id (EIP-712 digest).
        quote_id: B256,
        /// The path (`http`, `p2p`).
        path: &'static str,
        /// Its fee.
        basis_point_fee: u32,
        /// Whether this resent a quote stored earlier (after a restart or a failed send).
        resend: bool,
    },
    /// An epoch was not quoted.
    NoQuote {
        /// The epoch.
        epoch: u64,
        /// The reason code (as in the `no_quote` metric).
        reason: &'static str,
        /// The reason in words.
        detail: String,
    },
    /// A claim was seen on L1 for the first time.
    ClaimSeen {
        /// The claim.
        claim: Claim,
        /// Whether we are its bond provider.
        ours: bool,
    },
    /// A job started (or resumed) proving.
    JobStarted {
        /// The epoch.
        epoch: u64,
        /// Whether it was resumed from the store after a restart.
        resumed: bool,
    },
    /// A job reached a terminal state.
    JobFinished {
        /// The epoch.
        epoch: u64,
        /// Completed, Failed or Cancelled.
        state: JobState,
        /// The proof transaction, or why it failed.
        note: String,
    },
}

/// Why the node could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The initial `ensure_bond(minimum)` failed. (Not a `#[source]`: the message already
    /// includes it, and error reporters would print it twice.)
    #[error("the prover cannot start: {0}")]
    Bond(BondError),
    /// L1 failed.
    #[error(transparent)]
    L1(#[from] L1Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The L1 client signs for another address than the quote key.
    #[error(
        "the L1 client sends transactions as {l1_sender:?} but quotes are signed by {signer}: \
         both must be the prover's key"
    )]
    KeyMismatch {
        /// The L1 client's sender.
        l1_sender: Option<Address>,
        /// The quote signer.
        signer: Address,
    },
}

/// What a job failure is: a terminal reason, or a retryable condition.
#[derive(Debug, thiserror::Error)]
enum JobError {
    #[error(transparent)]
    L1(#[from] L1Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<BondError> for NodeError {
    fn from(e: BondError) -> Self {
        Self::Bond(e)
    }
}

impl From<TxError> for JobError {
    fn from(e: TxError) -> Self {
        match e {
            TxError::L1(e) => Self::L1(e),
            TxError::Store(e) => Self::Store(e),
        }
    }
}

/// What a job needs; shared by the main loop and every job task.
struct Shared {
    settings: NodeSettings,
    l1: L1Client,
    me: Address,
    signer: PrivateKeySigner,
    quote_provider: Arc<dyn QuoteProvider>,
    prover: Arc<dyn EpochProver>,
    sink: Arc<dyn QuoteSink>,
    store: SharedStore,
    metrics: ProverMetrics,
    bond: BondManager,
    events: broadcast::Sender<ProverEvent>,
    /// market: the commitment ledger and auction outcomes.
    market: Market,
}

impl Shared {
    fn emit(&self, event: ProverEvent) {
        // No subscriber is fine: events are informational.
        let _ = self.events.send(event);
    }

    /// Moves a job and keeps the gauges in step.
    fn transition(
        &self,
        epoch: u64,
        from: JobState,
        to: JobState,
        note: &str,
    ) -> Result<(), StoreError> {
        self.store.lock().transition(epoch, from, to, note)?;
        self.metrics.job_moved(Some(from), to);
        if to.is_terminal() {
            self.market.on_finished(&self.store.lock(), epoch); // market: work and bond released
            self.emit(ProverEvent::JobFinished {
                epoch,
                state: to,
                note: note.to_owned(),
            });
        }
        Ok(())
    }
}

/// A prover node, configured but not started.
pub struct ProverNode {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ProverNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProverNode")
            .field("prover", &self.shared.me)
            .field("sink", &self.shared.sink.name())
            .field("epoch_prover", &self.shared.prover.name())
            .finish()
    }
}

impl ProverNode {
    /// A node proving and quoting as `signer`. `l1` must send transactions as the same address
    /// (build it with `L1Client::connect(url, rollup, Some(signer.clone()))`).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        settings: NodeSettings,
        l1: L1Client,
        signer: PrivateKeySigner,
        quote_provider: Arc<dyn QuoteProvider>,
        prover: Arc<dyn EpochProver>,
        sink: Arc<dyn QuoteSink>,
        store: ProverStore,
        metrics: ProverMetrics,
    ) -> Result<Self, NodeError> {
        let me = signer.address();
        if l1.sender() != Some(me) {
            return Err(NodeError::KeyMismatch {
                l1_sender: l1.sender(),
                signer: me,
            });
        }
        let store: SharedStore = Arc::new(Mutex::new(store));
        let bond = BondManager::new(
            l1.clone(),
            store.clone(),
            settings.minimum_escrow,
            settings.target_escrow,
            metrics.clone(),
        )
        .with_receipt_timeout(settings.receipt_timeout);
        let (events, _) = broadcast::channel(1024);
        let market = Market::new(
            crate::market::default_ledger(settings.max_pending_jobs),
            metrics.market.clone(),
            *l1.time(),
        );
        Ok(Self {
            shared: Arc::new(Shared {
                settings,
                l1,
                me,
                signer,
                quote_provider,
                prover,
                sink,
                store,
                metrics,
                bond,
                events,
                market,
            }),
        })
    }

    /// market: uses `ledger` (shared with a cost-based quote provider) instead of a default
    /// one. Call before [`start`](Self::start).
    pub fn with_ledger(mut self, ledger: crate::cost::SharedLedger) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.market = Market::new(ledger, shared.metrics.market.clone(), *shared.l1.time());
        }
        self
    }

    /// Events from now on (subscribe before [`start`](Self::start) to see everything).
    pub fn subscribe(&self) -> broadcast::Receiver<ProverEvent> {
        self.shared.events.subscribe()
    }

    /// The bond manager.
    pub fn bond_manager(&self) -> &BondManager {
        &self.shared.bond
    }

    /// `ensure_bond(minimum)` (the start fails if it fails), then the main loop in a task, which
    /// first resumes the store's unfinished jobs.
    pub async fn start(self) -> Result<ProverHandle, NodeError> {
        let shared = self.shared;
        shared.market.restore(&shared.store.lock())?; // market: the ledger as persisted
        let status = shared.bond.ensure_bond(shared.bond.minimum()).await?;
        tracing::info!(
            prover = %shared.me,
            available = %status.available,
            deposited = %status.deposited,
            sink = shared.sink.name(),
            epoch_prover = shared.prover.name(),
            "prover node started"
        );
        let (stop, stopped) = watch::channel(false);
        let wake = Arc::new(Notify::new());
        let mut subscription = None;
        if shared.settings.subscribe_claims {
            subscription = spawn_claim_subscription(&shared, wake.clone()).await;
        }
        let main = MainLoop {
            shared: shared.clone(),
            jobs: JoinSet::new(),
            running: HashMap::new(),
            delivered: HashSet::new(),
            last_attempt: None,
            quoted_epochs: HashSet::new(),
        };
        let task = tokio::spawn(main.run(stopped, wake));
        Ok(ProverHandle {
            task: Some(task),
            subscription,
            stop,
            events: shared.events.clone(),
            store: shared.store.clone(),
        })
    }
}

/// A running prover node. Dropping it aborts the main loop and its jobs (they resume from the
/// store on the next start).
#[derive(Debug)]
pub struct ProverHandle {
    task: Option<tokio::task::JoinHandle<()>>,
    subscription: Option<AbortHandle>,
    stop: watch::Sender<bool>,
    events: broadcast::Sender<ProverEvent>,
    store: SharedStore,
}

impl ProverHandle {
    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ProverEvent> {
        self.events.subscribe()
    }

    /// Reads the store (e.g. a job's state) while the node runs.
    pub fn with_store<T>(&self, f: impl FnOnce(&ProverStore) -> T) -> T {
        f(&self.store.lock())
    }

    /// Stops the main loop between ticks and waits for it; running jobs are stopped where they
    /// are (the store keeps their state; the next start resumes them).
    pub async fn stop(mut self) {
        if let Some(sub) = self.subscription.take() {
            sub.abort();
        }
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ProverHandle {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
        if let Some(sub) = &self.subscription {
            sub.abort();
        }
    }
}

/// Subscribes to `ProofRightClaimed` and wakes the main loop on each; `None` when the provider
/// cannot subscribe (http), in which case polling alone detects claims.
async fn spawn_claim_subscription(shared: &Arc<Shared>, wake: Arc<Notify>) -> Option<AbortHandle> {
    let filter = Filter::new()
        .address(shared.l1.rollup_address())
        .event_signature(Rollup::ProofRightClaimed::SIGNATURE_HASH);
    match shared.l1.provider().subscribe_logs(&filter).await {
        Ok(subscription) => {
            let task = tokio::spawn(async move {
                let mut subscription = subscription;
                loop {
                    match subscription.recv().await {
                        Ok(log) => {
                            tracing::debug!(tx = ?log.transaction_hash, "ProofRightClaimed notification");
                            wake.notify_one();
                        }
                        // Missed notifications: a tick reads the claim anyway.
                        Err(broadcast::error::RecvError::Lagged(_)) => wake.notify_one(),
                        Err(broadcast::error::RecvError::Closed) => break,
                    }
                }
                tracing::warn!("ProofRightClaimed subscription ended; polling only");
            });
            Some(task.abort_handle())
        }
        Err(err) => {
            tracing::warn!(%err, "cannot subscribe to ProofRightClaimed; polling only");
            None
        }
    }
}

struct MainLoop {
    shared: Arc<Shared>,
    jobs: JoinSet<()>,
    running: HashMap<u64, AbortHandle>,
    /// Quote ids handed to the sink by this process.
    delivered: HashSet<String>,
    /// (epoch, slot) of the last pricing attempt: at most one per slot.
    last_attempt: Option<(u64, u64)>,
    /// Epochs we sent a quote for (to count lost claims).
    quoted_epochs: HashSet<u64>,
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl MainLoop {
    async fn run(mut self, mut stopped: watch::Receiver<bool>, wake: Arc<Notify>) {
        if let Err(err) = self.resume_jobs() {
            tracing::error!(%err, "cannot resume proving jobs from the store");
        }
        let mut interval = tokio::time::interval(self.shared.settings.polling_interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stopped.changed() => break,
                _ = interval.tick() => {}
                () = wake.notified() => {}
                Some(_) = self.jobs.join_next(), if !self.jobs.is_empty() => {
                    self.running.retain(|_, handle| !handle.is_finished());
                    continue;
                }
            }
            self.running.retain(|_, handle| !handle.is_finished());
            match self.tick().await {
                Ok(()) => self.shared.metrics.mark_tick_ok(),
                Err(err) => tracing::warn!(%err, "prover tick failed; retrying next tick"),
            }
        }
        tracing::info!("prover main loop stopped");
    }

    fn resume_jobs(&mut self) -> Result<(), StoreError> {
        let unfinished = self.shared.store.lock().unfinished_jobs()?;
        for job in unfinished {
            tracing::info!(epoch = job.epoch, state = %job.state, "resuming proving job");
            self.shared.metrics.job_moved(None, job.state);
            self.spawn_job(job.epoch, true);
        }
        Ok(())
    }

    fn spawn_job(&mut self, epoch: u64, resumed: bool) {
        if self.running.get(&epoch).is_some_and(|h| !h.is_finished()) {
            return;
        }
        let shared = self.shared.clone();
        let handle = self.jobs.spawn(run_job(shared, epoch, resumed));
        self.running.insert(epoch, handle);
    }

    async fn tick(&mut self) -> Result<(), NodeError> {
        let l1 = &self.shared.l1;
        let slot = l1.current_slot().await?;
        let claim = l1.proof_claim().await?;
        if let Some(claim) = claim {
            self.on_claim(claim).await?;
        }
        self.check_cancellations().await?;
        self.monitor(slot, claim).await
    }

    /// The seed's `handleClaim`.
    async fn on_claim(&mut self, claim: Claim) -> Result<(), NodeError> {
        let shared = self.shared.clone();
        let ours = claim.bond_provider == shared.me;
        let new = shared.store.lock().record_claim(&SeenClaim {
            epoch: claim.epoch,
            bond_provider: claim.bond_provider.to_string(),
            proposer: claim.proposer_claimant.to_string(),
            bond_amount: claim.bond_amount.to_string(),
            basis_point_fee: claim.basis_point_fee,
        })?;
        if new {
            tracing::info!(
                epoch = claim.epoch, prover = %claim.bond_provider, proposer = %claim.proposer_claimant,
                fee = claim.basis_point_fee, bond = %claim.bond_amount, ours, "claim seen on L1"
            );
            shared.market.on_claim(&shared.store.lock(), &claim, ours); // market: ledger + outcome
            shared.emit(ProverEvent::ClaimSeen { claim, ours });
            if !ours && self.quoted_epochs.contains(&claim.epoch) {
                shared.metrics.claim_lost();
            }
        }
        if !ours {
            return Ok(());
        }
        let created = shared.store.lock().create_job(claim.epoch)?;
        if created {
            shared.metrics.claim_won();
            shared.metrics.job_moved(None, JobState::Claimed);
            self.spawn_job(claim.epoch, false);
            // The metric's start is the claim's L1 block time (what an operator can check on
            // chain); best effort, seconds resolution.
            match claim_block_time(&shared.l1, claim.epoch).await {
                Ok(Some(ts)) => shared
                    .metrics
                    .observe_claim_to_job_start((unix_now() - ts as f64).max(0.0)),
                Ok(None) => {}
                Err(err) => tracing::debug!(%err, "cannot read the claim's L1 block time"),
            }
            // The stake lowered the free deposit (SPEC §6.2).
            if let Err(err) = shared.bond.ensure_bond(shared.bond.minimum()).await {
                tracing::error!(%err, "escrow top-up after a claim failed");
            }
            return Ok(());
        }
        // Bound first: the store lock must not be held while the job is spawned.
        let job = shared.store.lock().job(claim.epoch)?;
        if let Some(job) = job
            && !job.state.is_terminal()
            && self
                .running
                .get(&claim.epoch)
                .is_none_or(|h| h.is_finished())
        {
            // A duplicate signal for a job whose task ended without finishing (an L1 error):
            // pick it up again.
            self.spawn_job(claim.epoch, true);
        }
        Ok(())
    }

    /// Cancels unfinished jobs whose claim is gone for good.
    ///
    /// A claim that is missing while its epoch still has blocks is not gone for good: it may be a
    /// reorg in flight (the claim transaction is usually mined again a block later) or an L1
    /// endpoint a block behind. Cancelling then would be final, and the bond, staked again when
    /// the claim comes back, would be slashed for a proof we stopped making. So the job keeps
    /// going (proving an unclaimed epoch is allowed and harmless) and is only cancelled once the
    /// epoch's blocks were pruned, after which it can never be claimed again.
    async fn check_cancellations(&mut self) -> Result<(), NodeError> {
        let unfinished = self.shared.store.lock().unfinished_jobs()?;
        for job in unfinished {
            if self.shared.l1.claim(job.epoch).await?.is_some() {
                continue;
            }
            if !self.shared.l1.epoch_range(job.epoch).await?.is_empty() {
                tracing::warn!(
                    epoch = job.epoch,
                    "our claim is not visible on L1 but the epoch still has its blocks \
                     (reorg or a lagging endpoint?); the proving job continues"
                );
                continue;
            }
            if let Some(handle) = self.running.remove(&job.epoch) {
                handle.abort();
            }
            // Re-read: the task may have moved it before it was stopped.
            let Some(current) = self.shared.store.lock().job(job.epoch)? else {
                continue;
            };
            if current.state.is_terminal() {
                continue;
            }
            tracing::warn!(epoch = job.epoch, state = %current.state, "claim vanished from L1; cancelling the job");
            self.shared.store.lock().forget_claim(job.epoch)?;
            self.shared.transition(
                job.epoch,
                current.state,
                JobState::Cancelled,
                "the claim vanished from L1 (the epoch was pruned) before the proof landed",
            )?;
        }
        Ok(())
    }

    /// The seed's EpochMonitor.
    async fn monitor(&mut self, slot: u64, claim: Option<Claim>) -> Result<(), NodeError> {
        let shared = self.shared.clone();
        let l1 = &shared.l1;
        let time = *l1.time();
        shared.market.tick(&shared.store.lock(), slot); // market: L1 time, expiries
        let Some(epoch) = l1.epoch_to_prove().await? else {
            return Ok(());
        };
        if !time.is_epoch_complete(epoch, slot) || !time.in_claim_phase(epoch, slot) {
            return Ok(());
        }
        if claim.is_some_and(|c| c.epoch == epoch) {
            return Ok(());
        }
        let stored = shared.store.lock().latest_quote(epoch)?;
        if let Some(sent) = stored
            && sent.valid_until_slot >= slot
        {
            // Already quoted and still claimable: never a second, different quote. Deliver the
            // stored one if this process has not (restart, or an earlier send failed).
            if !self.delivered.contains(&sent.quote_id) {
                match EpochProofQuote::from_json_str(&sent.quote_json) {
                    Ok(quote) => self.deliver(&quote, epoch, &sent.quote_id, true).await,
                    Err(err) => {
                        tracing::error!(epoch, %err, "stored quote is unreadable; not resending")
                    }
                }
            }
            return Ok(());
        }
        if self.last_attempt == Some((epoch, slot)) {
            return Ok(());
        }
        self.last_attempt = Some((epoch, slot));
        let range = l1.epoch_range(epoch).await?;
        if range.is_empty() {
            self.no_quote(epoch, "empty_epoch", "the epoch has no blocks".into());
            return Ok(());
        }
        let busy = self.running.values().filter(|h| !h.is_finished()).count();
        if busy >= shared.settings.max_pending_jobs {
            self.no_quote(
                epoch,
                "busy",
                format!(
                    "{busy} proving job(s) running, PROVER_NODE_MAX_PENDING_JOBS={}",
                    shared.settings.max_pending_jobs
                ),
            );
            return Ok(());
        }
        let blocks = l1.epoch_blocks(epoch).await?;
        let summary = EpochSummary {
            epoch_number: U256::from(epoch),
            from_block: U256::from(range.from_block),
            end_block: U256::from(range.to_block),
            tx_count: blocks
                .iter()
                .fold(U256::ZERO, |sum, b| sum.saturating_add(b.tx_count)),
            total_fees: range.total_fees,
        };
        let terms = match shared.quote_provider.get_quote(&summary).await {
            Ok(terms) => terms,
            Err(why) => {
                self.no_quote(epoch, why.reason_code(), why.to_string());
                return Ok(());
            }
        };
        // market: always finite, never past the claim phase.
        let valid_until = Market::valid_until_slot(&time, epoch, terms.valid_until_slot);
        if valid_until < slot {
            self.no_quote(
                epoch,
                "expired_terms",
                format!("validUntilSlot {valid_until} is before the current slot {slot}"),
            );
            return Ok(());
        }
        if terms.bond_amount < l1.min_bond() {
            self.no_quote(
                epoch,
                "bond_below_minimum",
                format!(
                    "bond {} is below the Rollup's minimum bond {}: no proposer could claim it",
                    terms.bond_amount,
                    l1.min_bond()
                ),
            );
            return Ok(());
        }
        if let Err(err) = shared.bond.ensure_bond(terms.bond_amount).await {
            self.no_quote(epoch, "bond", err.to_string());
            return Ok(());
        }
        // market: the ledger refuses what would over-commit the escrow or the provers.
        let available = (shared.market)
            .top_up_and_read_available(&shared.bond, l1, shared.me, terms.bond_amount)
            .await?;
        let proposal = match (shared.market).admit(
            epoch,
            summary.tx_count,
            terms.bond_amount,
            valid_until,
            available,
        ) {
            Ok(proposal) => proposal,
            Err(refusal) => {
                self.no_quote(epoch, refusal.code(), refusal.to_string());
                return Ok(());
            }
        };
        let mut fields = range.quote_fields(shared.me, l1.rollup_address());
        fields.basis_point_fee = terms.basis_point_fee;
        fields.bond_amount = terms.bond_amount;
        fields.valid_until_slot = U256::from(valid_until);
        let quote = match fields.sign(&shared.signer, l1.chain_id()) {
            Ok(quote) => quote,
            Err(err) => {
                self.no_quote(epoch, "signing", err.to_string());
                return Ok(());
            }
        };
        let quote_id = quote.digest(l1.chain_id()).to_string();
        // Recorded before it leaves: a crash after sending must not lead to a second quote.
        shared.store.lock().record_quote_sent(&SentQuote {
            quote_id: quote_id.clone(),
            epoch,
            valid_until_slot: valid_until,
            basis_point_fee: terms.basis_point_fee,
            bond_amount: terms.bond_amount.to_string(),
            path: shared.sink.name().to_owned(),
            quote_json: quote.to_json_string(),
        })?;
        shared.market.record_quote(&shared.store.lock(), &proposal); // market: now committed
        self.quoted_epochs.insert(epoch);
        self.deliver(&quote, epoch, &quote_id, false).await;
        Ok(())
    }

    fn no_quote(&self, epoch: u64, reason: &'static str, detail: String) {
        tracing::warn!(epoch, reason, %detail, "no quote for the epoch");
        self.shared.metrics.no_quote(reason);
        self.shared.emit(ProverEvent::NoQuote {
            epoch,
            reason,
            detail,
        });
    }

    async fn deliver(&mut self, quote: &EpochProofQuote, epoch: u64, quote_id: &str, resend: bool) {
        let shared = &self.shared;
        let path = shared.sink.name();
        match shared.sink.send(quote).await {
            Ok(()) => {
                self.delivered.insert(quote_id.to_owned());
                self.quoted_epochs.insert(epoch);
                shared.metrics.quote_sent(path);
                let time = shared.l1.time();
                let epoch_end = time.slot_start(time.epoch_start_slot(epoch.saturating_add(1)));
                let latency = (unix_now() - epoch_end as f64).max(0.0);
                if !resend {
                    shared.metrics.observe_epoch_end_to_quote(latency);
                }
                let fields = quote.fields();
                tracing::info!(
                    epoch, quote_id, path, resend,
                    fee = fields.basis_point_fee, bond = %fields.bond_amount,
                    valid_until_slot = %fields.valid_until_slot,
                    from_block = %fields.epoch_init_block, to_block = %fields.epoch_final_block,
                    "quote sent"
                );
                shared.emit(ProverEvent::QuoteSent {
                    epoch,
                    quote_id: quote_id.parse().unwrap_or_default(),
                    path,
                    basis_point_fee: fields.basis_point_fee,
                    resend,
                });
            }
            Err(err) => {
                shared.metrics.quote_send_failed(path);
                tracing::warn!(epoch, quote_id, path, %err, "quote path failed; resending next tick");
            }
        }
    }
}

/// The L1 timestamp of the block holding the `ProofRightClaimed` of `epoch` (recent blocks).
async fn claim_block_time(l1: &L1Client, epoch: u64) -> Result<Option<u64>, L1Error> {
    let (latest, _) = l1.latest_l1_block().await?;
    let events = l1
        .proof_right_claimed_events(latest.saturating_sub(1_000), None)
        .await?;
    let Some(event) = events.iter().rev().find(|e| e.epoch == epoch) else {
        return Ok(None);
    };
    let block = l1
        .provider()
        .get_block_by_number(event.at.l1_block.into())
        .await
        .map_err(|e| L1Error::Rpc {
            call: "eth_getBlockByNumber",
            message: e.to_string(),
        })?;
    Ok(block.map(|b| b.header.timestamp))
}

/// Attempts at proving an epoch before its job fails (each only while the deadline allows).
const MAX_PROVE_ATTEMPTS: u32 = 3;

/// Runs the job for `epoch` from wherever the store says it is, to a terminal state. L1 errors
/// are retried after a pause; the job only fails for a reason that retrying cannot fix (the
/// prover failed, the proof was refused, the deadline passed).
async fn run_job(shared: Arc<Shared>, epoch: u64, resumed: bool) {
    let mut started = false;
    let mut prove_failures = 0;
    loop {
        match drive_job(&shared, epoch, resumed, &mut started, &mut prove_failures).await {
            Ok(()) => return,
            Err(err) => {
                tracing::warn!(epoch, %err, "proving job hit an error; retrying");
                tokio::time::sleep(shared.settings.submit_retry_interval).await;
            }
        }
    }
}

async fn drive_job(
    shared: &Shared,
    epoch: u64,
    resumed: bool,
    started: &mut bool,
    prove_failures: &mut u32,
) -> Result<(), JobError> {
    loop {
        let Some(job) = shared.store.lock().job(epoch)? else {
            return Ok(());
        };
        match job.state {
            JobState::Completed | JobState::Failed | JobState::Cancelled => return Ok(()),
            JobState::Proving => {
                // Interrupted mid-proof (restart): prove again from the start.
                shared.transition(
                    epoch,
                    JobState::Proving,
                    JobState::Claimed,
                    "resumed: proving restarts",
                )?;
            }
            JobState::Claimed => {
                let data = epoch_data(shared, epoch).await?;
                shared.transition(epoch, JobState::Claimed, JobState::Proving, "proving")?;
                shared.market.on_proving(&shared.store.lock(), epoch); // market
                let proving_since = std::time::Instant::now(); // market: measured speed
                if !*started {
                    *started = true;
                    tracing::info!(
                        epoch,
                        resumed,
                        prover = shared.prover.name(),
                        "proving job started"
                    );
                    shared.emit(ProverEvent::JobStarted { epoch, resumed });
                }
                match shared.prover.prove(&data).await {
                    Ok(proof) => {
                        shared.store.lock().store_proof(epoch, &proof)?;
                        let txs = data.blocks.iter().map(|b| b.tx_count).sum::<U256>();
                        shared.market.on_proven(
                            &shared.store.lock(),
                            u64::try_from(txs).unwrap_or(u64::MAX),
                            proving_since.elapsed(),
                        ); // market: learn the proving speed
                        shared
                            .metrics
                            .job_moved(Some(JobState::Proving), JobState::Proven);
                        tracing::info!(epoch, bytes = proof.len(), "epoch proven");
                    }
                    Err(err) => {
                        // A failed proof is retried while the deadline allows (an operator's
                        // prover can die of a transient fault: OOM, a lost GPU); giving up at once
                        // would let the bond be slashed with most of the proving window left.
                        *prove_failures += 1;
                        let slot = shared.l1.current_slot().await?;
                        let deadline = shared.l1.time().proof_deadline_slot(epoch);
                        if *prove_failures < MAX_PROVE_ATTEMPTS && slot < deadline {
                            tracing::warn!(
                                epoch, %err, attempt = *prove_failures,
                                "proving failed; retrying before the deadline (slot {deadline})"
                            );
                            shared.transition(
                                epoch,
                                JobState::Proving,
                                JobState::Claimed,
                                &format!("proving failed, retrying: {err}"),
                            )?;
                            tokio::time::sleep(shared.settings.submit_retry_interval).await;
                            continue;
                        }
                        tracing::error!(epoch, %err, attempts = *prove_failures, "proving failed");
                        shared.transition(
                            epoch,
                            JobState::Proving,
                            JobState::Failed,
                            &err.to_string(),
                        )?;
                        return Ok(());
                    }
                }
            }
            JobState::Submitted => {
                let tx_hash = job.tx_hash.unwrap_or_default();
                let settled = l1tx::resolve(
                    &shared.l1,
                    &shared.store,
                    &tx_hash,
                    shared.settings.receipt_timeout,
                )
                .await?;
                match settled {
                    Settled::Mined => {
                        shared.metrics.proof_submission("mined");
                        shared.transition(
                            epoch,
                            JobState::Submitted,
                            JobState::Completed,
                            &tx_hash,
                        )?;
                        return Ok(());
                    }
                    Settled::StillPending => continue,
                    Settled::Reverted | Settled::Dropped => {
                        shared.metrics.proof_submission("reverted");
                        shared.transition(
                            epoch,
                            JobState::Submitted,
                            JobState::Proven,
                            &format!("proof transaction {tx_hash} {settled:?}; resubmitting"),
                        )?;
                    }
                }
            }
            JobState::Proven => {
                if submit_proof(shared, epoch, job.proof.unwrap_or_default().into()).await? {
                    return Ok(());
                }
                tokio::time::sleep(shared.settings.submit_retry_interval).await;
            }
        }
    }
}

/// Reads the epoch's blocks and the public-inputs hash the Rollup will check.
async fn epoch_data(shared: &Shared, epoch: u64) -> Result<EpochData, JobError> {
    let l1 = &shared.l1;
    let blocks = l1.epoch_blocks(epoch).await?;
    let public_inputs_hash = l1.public_inputs_hash(epoch, shared.me).await?;
    let local = epoch_rfq_l1::public_inputs_hash(
        l1.chain_id(),
        l1.rollup_address(),
        epoch,
        &blocks,
        shared.me,
    );
    if local != public_inputs_hash {
        // The blocks changed between the two reads (a prune); the next attempt reads again.
        return Err(L1Error::InvalidArgument(format!(
            "public inputs of epoch {epoch} changed while reading them"
        ))
        .into());
    }
    Ok(EpochData {
        chain_id: l1.chain_id(),
        rollup: l1.rollup_address(),
        epoch,
        from_block: blocks.first().map_or(0, |b| b.number),
        to_block: blocks.last().map_or(0, |b| b.number),
        blocks,
        prover_id: shared.me,
        public_inputs_hash,
    })
}

/// One submission attempt from `Proven`. `Ok(true)`: the job reached a terminal state;
/// `Ok(false)`: back in `Proven`, retry after a pause.
async fn submit_proof(shared: &Shared, epoch: u64, proof: Bytes) -> Result<bool, JobError> {
    let l1 = &shared.l1;
    let time = *l1.time();
    let slot = l1.current_slot().await?;
    let range = l1.epoch_range(epoch).await?;
    if !range.is_empty() && l1.proven_block_number().await? >= range.to_block {
        // Landed already (a submission whose record was lost in a crash, or another sender:
        // anyone may submit, and the fee share still goes to the claim's prover).
        shared.transition(
            epoch,
            JobState::Proven,
            JobState::Completed,
            "the epoch is proven on L1",
        )?;
        return Ok(true);
    }
    let deadline = time.proof_deadline_slot(epoch);
    if slot >= deadline {
        shared.transition(
            epoch,
            JobState::Proven,
            JobState::Failed,
            &format!("proof deadline passed: slot {slot}, deadline slot {deadline}"),
        )?;
        return Ok(true);
    }
    let rollup = l1.rollup();
    let sent = l1tx::send_recorded(
        l1,
        &shared.store,
        l1tx::TxKind::new("submitEpochProof", "proof", Some(epoch)),
        rollup.submitEpochProof(U256::from(epoch), proof),
        shared.settings.receipt_timeout,
        |db, tx_hash| db.mark_submitted(epoch, &tx_hash.to_string()),
    )
    .await;
    match sent {
        Ok(receipt) => {
            shared
                .metrics
                .job_moved(Some(JobState::Proven), JobState::Submitted);
            shared.metrics.proof_submission("mined");
            let tx = receipt.transaction_hash.to_string();
            tracing::info!(epoch, %tx, "proof accepted on L1");
            shared.transition(epoch, JobState::Submitted, JobState::Completed, &tx)?;
            Ok(true)
        }
        Err(TxError::L1(err)) => {
            shared.metrics.proof_submission("error");
            let submitted = shared
                .store
                .lock()
                .job(epoch)?
                .is_some_and(|j| j.state == JobState::Submitted);
            if submitted {
                shared
                    .metrics
                    .job_moved(Some(JobState::Proven), JobState::Submitted);
                if !matches!(
                    err,
                    L1Error::Reverted {
                        tx_hash: Some(_),
                        ..
                    }
                ) {
                    // Sent, outcome unknown (receipt timeout): the Submitted state settles it.
                    tracing::warn!(epoch, %err, "proof transaction outcome unknown; checking it");
                    return Ok(false);
                }
                // Mined and reverted: back to Proven for the next attempt.
                shared.transition(
                    epoch,
                    JobState::Submitted,
                    JobState::Proven,
                    &err.to_string(),
                )?;
            }
            if let Some(Revert::Rollup(RollupError::InvalidProof { .. })) = err.revert() {
                // Retrying the same proof cannot help.
                shared.transition(epoch, JobState::Proven, JobState::Failed, &err.to_string())?;
                return Ok(true);
            }
            tracing::warn!(epoch, %err, "proof submission failed; retrying before the deadline");
            Ok(false)
        }
        Err(TxError::Store(err)) => Err(err.into()),
    }
}
