//! The prover node runtime (SPEC §6.2–§6.7; the seed's EpochMonitor, claims watcher and
//! `handleClaim`) as four services that run independently and talk through shared state:
//!
//! - [`claims`] — the **claim watcher**: every `PROVER_NODE_POLLING_INTERVAL_MS` (and at once
//!   when a ws subscription reports a `ProofRightClaimed`) reads the claim, creates and starts
//!   our job exactly once, cancels jobs whose epoch was pruned, reports our slashed bonds.
//! - [`quoter`] — the **quoter** (EpochMonitor): prices, bonds, signs ([`quoter::sign_quote`]),
//!   records and sends one quote per epoch, resending the stored one after a restart.
//! - [`bonds`] — the **bond manager**: keeps the escrow deposit topped up; its receipt waits
//!   happen here only.
//! - [`jobs`] — the **job runner**: one task per job, Claimed → Proving → Proven → Submitted →
//!   Completed, every move a guarded store transition, so a restarted node resumes where the
//!   store says.
//!
//! A slow escrow top-up, pricing service or L1 call delays only the service that made it. Each
//! service reports to the role's [`Health`] (`claim_watcher`, `quoter`, `bond_manager`,
//! `job_runner`).

mod bonds;
mod claims;
mod jobs;
mod quoter;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use epoch_rfq_l1::alloy::primitives::{Address, B256, U256};
use epoch_rfq_l1::alloy::signers::local::PrivateKeySigner;
use epoch_rfq_l1::{Claim, L1Client, L1Error};
use epoch_rfq_runtime::health::{Health, ServiceHealth};
use parking_lot::Mutex;
use tokio::sync::{Notify, broadcast};
use tokio::task::{AbortHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::bond::{BondError, BondManager};
use crate::config::{ProverConfig, ProverKind};
use crate::epoch_prover::{CommandProver, DevProver, EpochProver};
use crate::l1tx::{SharedStore, TxError};
use crate::market::Market;
use crate::metrics::ProverMetrics;
use crate::quote_provider::QuoteProvider;
use crate::sink::QuoteSink;
use crate::store::{JobState, ProverStore, StoreError};

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
    /// Our bond was slashed on L1 (the epoch was not proven by its deadline).
    BondSlashed {
        /// The epoch.
        epoch: u64,
        /// The slashed bond (fee-token base units).
        amount: U256,
    },
    /// The escrow deposit is below the minimum and the wallet cannot top it up.
    EscrowBelowMinimum {
        /// Available for bonds.
        available: U256,
        /// The minimum (`PROVER_MINIMUM_ESCROW_AMOUNT`).
        minimum: U256,
        /// The wallet's fee-token balance.
        wallet: U256,
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

/// The health handles of the prover's services.
#[derive(Debug)]
struct Services {
    claim_watcher: ServiceHealth,
    quoter: ServiceHealth,
    bond_manager: ServiceHealth,
    job_runner: ServiceHealth,
}

impl Services {
    /// Registers the services in `health`; `max_silence` where a service reports every round.
    fn register(health: &Health, settings: &NodeSettings) -> Self {
        // A few polling intervals, and never less than 10 s (a slow L1 call is not a dead loop).
        let rounds = (settings.polling_interval * 3).max(Duration::from_secs(10));
        // The quoter and the bond manager may wait for a deposit's receipt (approve + deposit).
        let with_receipts = rounds + settings.receipt_timeout * 2;
        Self {
            claim_watcher: health.register("claim_watcher", Some(rounds)),
            quoter: health.register("quoter", Some(with_receipts)),
            bond_manager: health.register("bond_manager", Some(with_receipts)),
            // Jobs come and go; a stuck job shows as `degraded` with its error.
            job_runner: health.register("job_runner", None),
        }
    }
}

/// What the services share.
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
    /// Cancelled when the node stops.
    stop: CancellationToken,
    /// The running proving jobs.
    jobs: jobs::Jobs,
    /// Epochs we sent a quote for (to count lost claims).
    quoted_epochs: Mutex<HashSet<u64>>,
    /// Asks the bond manager for a top-up now (a won claim staked part of the deposit).
    bond_wake: Notify,
    health: Health,
    services: Services,
    /// The commitment ledger and auction outcomes (see `crate::market`).
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
        if to == JobState::Failed {
            // The bond is slashed on L1 at the deadline unless the proof lands: say so loudly.
            let bond = self.store.lock().claim_bond(epoch).ok().flatten();
            self.metrics.job_failed();
            tracing::error!(
                epoch,
                bond = bond.as_deref().unwrap_or("unknown"),
                reason = note,
                "proving job FAILED: the bond is slashed at the proof deadline"
            );
        }
        if to.is_terminal() {
            // The job's work and bond leave the ledger.
            self.market.on_finished(&self.store.lock(), epoch);
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
        let health = Health::new("prover");
        let services = Services::register(&health, &settings);
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
                stop: CancellationToken::new(),
                jobs: jobs::Jobs::default(),
                quoted_epochs: Mutex::new(HashSet::new()),
                bond_wake: Notify::new(),
                health,
                services,
                market,
            }),
        })
    }

    /// Uses `ledger` (shared with a cost-based quote provider) instead of a default one. Call
    /// before [`start`](Self::start).
    pub fn with_ledger(mut self, ledger: crate::cost::SharedLedger) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.market = Market::new(ledger, shared.metrics.market.clone(), *shared.l1.time());
        }
        self
    }

    /// The health of the node's services (`claim_watcher`, `quoter`, `bond_manager`,
    /// `job_runner`), for `GET /health` and `GET /ready`.
    pub fn health(&self) -> Health {
        self.shared.health.clone()
    }

    /// Events from now on (subscribe before [`start`](Self::start) to see everything).
    pub fn subscribe(&self) -> broadcast::Receiver<ProverEvent> {
        self.shared.events.subscribe()
    }

    /// The bond manager.
    pub fn bond_manager(&self) -> &BondManager {
        &self.shared.bond
    }

    /// `ensure_bond(minimum)` (the start fails if it fails), resumes the store's unfinished
    /// jobs, then starts the claim watcher, the quoter and the bond manager, each in its task.
    pub async fn start(self) -> Result<ProverHandle, NodeError> {
        let shared = self.shared;
        // The ledger as persisted: quotes still claimable and claimed epochs stay committed.
        shared.market.restore(&shared.store.lock())?;
        let status = shared.bond.ensure_bond(shared.bond.minimum()).await?;
        shared
            .services
            .bond_manager
            .ok_with(format!("{} available for bonds", status.available));
        tracing::info!(
            prover = %shared.me,
            available = %status.available,
            deposited = %status.deposited,
            sink = shared.sink.name(),
            epoch_prover = shared.prover.name(),
            "prover node started"
        );
        resume_jobs(&shared)?;
        shared.services.job_runner.ok();
        let wake = Arc::new(Notify::new());
        let mut subscription = None;
        if shared.settings.subscribe_claims {
            subscription = claims::spawn_claim_subscription(&shared, wake.clone()).await;
        }
        let mut services = JoinSet::new();
        let mut names = HashMap::new();
        let watcher = claims::ClaimWatcher::new(shared.clone());
        let handle = services.spawn(watcher.run(wake));
        names.insert(handle.id(), "claim_watcher");
        let handle = services.spawn(quoter::Quoter::new(shared.clone()).run());
        names.insert(handle.id(), "quoter");
        let handle = services.spawn(bonds::run(shared.clone()));
        names.insert(handle.id(), "bond_manager");
        Ok(ProverHandle {
            services,
            names,
            subscription,
            shared,
        })
    }
}

/// Starts a task for each unfinished job in the store.
fn resume_jobs(shared: &Arc<Shared>) -> Result<(), StoreError> {
    let unfinished = shared.store.lock().unfinished_jobs()?;
    for job in unfinished {
        tracing::info!(epoch = job.epoch, state = %job.state, "resuming proving job");
        shared.metrics.job_moved(None, job.state);
        shared.jobs.start(shared, job.epoch, true);
    }
    Ok(())
}

/// A running prover node. Dropping it aborts its services and jobs (they resume from the store
/// on the next start).
pub struct ProverHandle {
    services: JoinSet<()>,
    names: HashMap<tokio::task::Id, &'static str>,
    subscription: Option<AbortHandle>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ProverHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProverHandle")
            .field("prover", &self.shared.me)
            .field("services", &self.services.len())
            .finish_non_exhaustive()
    }
}

impl ProverHandle {
    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ProverEvent> {
        self.shared.events.subscribe()
    }

    /// Reads the store (e.g. a job's state) while the node runs.
    pub fn with_store<T>(&self, f: impl FnOnce(&ProverStore) -> T) -> T {
        f(&self.shared.store.lock())
    }

    /// The health of the node's services.
    pub fn health(&self) -> Health {
        self.shared.health.clone()
    }

    /// Completes when one of the services ends on its own (it should not before
    /// [`stop`](Self::stop)): which one, and how. For a supervisor that stops the process then.
    pub async fn service_ended(&mut self) -> String {
        match self.services.join_next_with_id().await {
            Some(Ok((id, ()))) => {
                let name = self.names.get(&id).copied().unwrap_or("a service");
                format!("service `{name}` ended")
            }
            Some(Err(err)) => {
                let name = self.names.get(&err.id()).copied().unwrap_or("a service");
                if err.is_panic() {
                    format!("service `{name}` panicked")
                } else {
                    format!("service `{name}` was cancelled")
                }
            }
            None => std::future::pending().await,
        }
    }

    /// Stops gracefully: no new quote, claim round or top-up starts; a deposit or proof
    /// transaction in flight is let settle; the other jobs stop where they are. Everything is in
    /// the store, and the next start resumes it. Bound the wait with a timeout (the role's
    /// `SHUTDOWN_TIMEOUT_MS`): what is still in flight then is settled at the next start.
    pub async fn stop(mut self) {
        if let Some(sub) = self.subscription.take() {
            sub.abort();
        }
        self.shared.stop.cancel();
        while self.services.join_next().await.is_some() {}
        self.shared.jobs.stop().await;
        self.shared.services.job_runner.stopped();
        tracing::info!("prover stopped; unfinished jobs resume at the next start");
    }
}

impl Drop for ProverHandle {
    fn drop(&mut self) {
        self.shared.stop.cancel();
        self.services.abort_all();
        self.shared.jobs.abort_all();
        if let Some(sub) = &self.subscription {
            sub.abort();
        }
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
