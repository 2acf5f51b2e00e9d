//! Shared set-up of the proposer's anvil tests: a chain with manual time control, a proposer
//! over an in-memory quote source, funded provers with escrow deposits, quote helpers.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use alloy_primitives::{Address, U256};
use alloy_signer_local::PrivateKeySigner;
use epoch_rfq_l1::anvil::{ChainOptions, TestChain};
use epoch_rfq_l1::{DeployParams, EpochRange, L1Client};
use epoch_rfq_proposer::{
    MemoryQuoteSource, Proposer, ProposerConfig, ProposerEvent, QuoteSource, ReceivedQuote,
    SourceError, TrafficConfig,
};
use epoch_rfq_quote::{EpochProofQuote, QuoteFields};
use futures::future::BoxFuture;
use tokio::sync::broadcast;

pub use epoch_rfq_testkit::bounded;

pub const DEPLOYER: usize = 0;
pub const PROPOSER: usize = 1;
pub const OTHER_PROPOSER: usize = 2;
/// Provers are accounts 3..=7.
pub const PROVERS: std::ops::RangeInclusive<usize> = 3..=7;
pub const SLASH_RECIPIENT: usize = 9;

pub const FUNDS: u64 = 1_000_000_000;
pub const DEPOSIT: u64 = 100_000;
pub const MIN_BOND: u64 = 1_000;

/// The proposer's node as the RFQ sees it: the quotes of `inner`, unless frozen. A frozen node
/// is what a node stopped with SIGSTOP looks like from the proposer: a query is accepted and
/// never answered (until thawed, when it answers).
pub struct FreezableSource {
    pub inner: Arc<MemoryQuoteSource>,
    running: tokio::sync::watch::Sender<bool>,
    queries: std::sync::atomic::AtomicUsize,
}

impl FreezableSource {
    pub fn new(inner: Arc<MemoryQuoteSource>) -> Self {
        Self {
            inner,
            running: tokio::sync::watch::Sender::new(true),
            queries: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    pub fn freeze(&self) {
        self.running.send_replace(false);
    }

    pub fn thaw(&self) {
        self.running.send_replace(true);
    }

    /// Queries received so far (answered or not).
    pub fn queries(&self) -> usize {
        self.queries.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl QuoteSource for FreezableSource {
    fn quotes_for_epoch(
        &self,
        epoch: u64,
    ) -> BoxFuture<'_, Result<Vec<ReceivedQuote>, SourceError>> {
        self.queries
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut running = self.running.subscribe();
        Box::pin(async move {
            let _ = running.wait_for(|r| *r).await;
            self.inner.quotes_for_epoch(epoch).await
        })
    }
}

pub struct World {
    pub chain: TestChain,
    pub proposer: Proposer,
    pub source: Arc<MemoryQuoteSource>,
    /// The same quotes behind a node that can be frozen (what the proposer reads).
    pub node: Arc<FreezableSource>,
    pub events: broadcast::Receiver<ProposerEvent>,
    pub reader: L1Client,
}

pub struct WorldOptions {
    /// Validators [PROPOSER, OTHER_PROPOSER] (round-robin: PROPOSER owns even slots); else
    /// anyone proposes.
    pub validators: bool,
    pub slot_duration: u64,
    pub epoch_duration: u64,
    pub claim_window: u64,
    pub polling_interval: Duration,
    /// L1 block time in seconds (`None`: a block per transaction, time moves only when the test
    /// moves it).
    pub block_time: Option<u64>,
    /// How long after the claim phase opens quotes are collected.
    pub quote_collection: Duration,
    /// Where the proposer reports its services' health.
    pub health: Option<epoch_rfq_runtime::health::Health>,
}

impl Default for WorldOptions {
    fn default() -> Self {
        // 12-second slots: a test's few transactions after `advance_to_slot` (each mined block
        // moves L1 time by at least a second) stay inside the slot.
        Self {
            validators: false,
            slot_duration: 12,
            epoch_duration: 4,
            claim_window: 2,
            polling_interval: Duration::from_millis(100),
            block_time: None,
            // These tests move time by hand and tick right at slot starts.
            quote_collection: Duration::ZERO,
            health: None,
        }
    }
}

pub fn traffic() -> TrafficConfig {
    TrafficConfig {
        seed: 42,
        min_txs: 1,
        max_txs: 8,
        fee_per_tx_min: U256::from(10),
        fee_per_tx_max: U256::from(100),
    }
}

/// Anvil + deployment; the proposer and every prover funded; each prover in `deposits` deposits
/// that much into the escrow.
pub async fn world(opts: WorldOptions, deposits: &[(usize, u64)]) -> World {
    let mut chain = TestChain::start(ChainOptions {
        block_time: opts.block_time,
        ..ChainOptions::default()
    })
    .await
    .expect("anvil starts");
    let validators = if opts.validators {
        vec![
            chain.address(PROPOSER).expect("account"),
            chain.address(OTHER_PROPOSER).expect("account"),
        ]
    } else {
        vec![]
    };
    chain
        .deploy(DeployParams {
            slot_duration: opts.slot_duration,
            epoch_duration: opts.epoch_duration,
            claim_window: opts.claim_window,
            min_bond: U256::from(MIN_BOND),
            withdraw_delay: 10_000,
            slash_recipient: chain.address(SLASH_RECIPIENT).expect("account"),
            validators,
            ..DeployParams::default()
        })
        .await
        .expect("deploys");
    let mut funded = vec![chain.address(PROPOSER).expect("account")];
    for i in PROVERS {
        funded.push(chain.address(i).expect("account"));
    }
    chain.fund(&funded, U256::from(FUNDS)).await.expect("funds");
    for (i, amount) in deposits {
        chain
            .client(*i)
            .await
            .expect("client")
            .deposit_with_approval(U256::from(*amount))
            .await
            .expect("deposit");
    }
    let source = Arc::new(MemoryQuoteSource::new());
    let node = Arc::new(FreezableSource::new(source.clone()));
    let l1 = chain.client(PROPOSER).await.expect("proposer's L1 client");
    let proposer = Proposer::new(
        l1,
        node.clone(),
        ProposerConfig {
            polling_interval: opts.polling_interval,
            traffic: traffic(),
            quote_collection: opts.quote_collection,
            ..ProposerConfig::default()
        },
    )
    .expect("proposer");
    let proposer = match &opts.health {
        Some(h) => proposer.with_health(h),
        None => proposer,
    };
    let events = proposer.subscribe();
    let reader = chain.reader().expect("reader");
    World {
        chain,
        proposer,
        source,
        node,
        events,
        reader,
    }
}

impl World {
    pub fn key(&self, i: usize) -> PrivateKeySigner {
        self.chain.signer(i).expect("account")
    }

    pub fn address(&self, i: usize) -> Address {
        self.chain.address(i).expect("account")
    }

    /// Moves L1 time to the start of `slot` and ticks once.
    pub async fn tick_at(&mut self, slot: u64) -> epoch_rfq_proposer::TickReport {
        self.chain.advance_to_slot(slot).await.expect("advance");
        self.proposer.tick().await.expect("tick")
    }

    /// Ticks in each of `slots`.
    pub async fn tick_slots(&mut self, slots: impl IntoIterator<Item = u64>) {
        for s in slots {
            self.tick_at(s).await;
        }
    }

    pub async fn range(&self, epoch: u64) -> EpochRange {
        self.reader.epoch_range(epoch).await.expect("range")
    }

    /// Good fields for `range` by prover `i`, valid to the end of the claim phase.
    pub fn fields(&self, range: &EpochRange, i: usize, bps: u32, bond: u64) -> QuoteFields {
        epoch_rfq_testkit::chain::claim_fields(&self.reader, range, self.address(i), bps, bond)
    }

    pub fn sign(&self, f: QuoteFields, i: usize) -> EpochProofQuote {
        f.sign(&self.key(i), self.chain.chain_id()).expect("signs")
    }

    /// Pushes a quote received at `UNIX_EPOCH + at` seconds (a fixed order for tie-breaks).
    pub fn push_at(&self, q: EpochProofQuote, at: u64) {
        self.source.push_received(ReceivedQuote::new(
            q,
            SystemTime::UNIX_EPOCH + Duration::from_secs(at),
        ));
    }

    /// Every event so far.
    pub fn drain(&mut self) -> Vec<ProposerEvent> {
        let mut out = Vec::new();
        while let Ok(e) = self.events.try_recv() {
            out.push(e);
        }
        out
    }
}
