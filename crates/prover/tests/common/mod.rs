//! Set-up of the prover's anvil tests: a chain with small time parameters under manual time
//! control, funded accounts, an epoch of blocks, a recording quote sink. The generic parts
//! (bounded waits, temp dirs, proposing blocks) are `epoch_rfq_testkit`'s.

#![allow(dead_code, unused_imports)]

use std::sync::Arc;
use std::time::Duration;

use epoch_rfq_l1::alloy::primitives::{Address, U256};
use epoch_rfq_l1::anvil::TestChain;
use epoch_rfq_l1::{BlockRecord, DeployParams, L1Client};
use epoch_rfq_prover::{
    EpochProver, NodeSettings, ProverEvent, ProverMetrics, ProverNode, ProverStore, QuoteProvider,
    QuoteSink, SinkError,
};
use epoch_rfq_quote::EpochProofQuote;
use futures::future::BoxFuture;
use parking_lot::Mutex;
use tokio::sync::broadcast;

#[allow(unused_imports)]
pub use epoch_rfq_testkit::{TempDir, next_event};

/// Dev accounts: 0 deploys (token owner), 1 proposes, 2.. are provers.
pub const PROPOSER: usize = 1;
pub const PROVER: usize = 2;
pub const OTHER_PROVER: usize = 3;

pub const MINIMUM: u64 = 100_000;
pub const TARGET: u64 = 200_000;
pub const WALLET: u64 = 1_000_000;

/// The blocks of epoch 0: (slot, tx count, fees).
pub const EPOCH0: [(u64, u64, u64); 3] = [(0, 3, 10_000), (1, 5, 25_000), (2, 0, 7)];

/// Every test is bounded (60 s), with tracing to the test's output.
pub async fn bounded(test: impl std::future::Future<Output = ()>) {
    init_tracing();
    epoch_rfq_testkit::bounded(60, test).await;
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "epoch_rfq_prover=info".into()),
        )
        .try_init();
}

/// A chain whose slots are long (30 s) so that nothing moves unless the test mines: time is
/// driven by `advance_to_slot`. Epochs of 4 slots, claim window 2 (claim phase of epoch 0: slots
/// 4–5, proof deadline: slot 8).
pub async fn chain() -> TestChain {
    let chain = TestChain::start_and_deploy(DeployParams {
        slot_duration: 30,
        epoch_duration: 4,
        claim_window: 2,
        min_bond: U256::from(1_000),
        ..DeployParams::default()
    })
    .await
    .expect("anvil starts and the contracts deploy");
    let proposer = chain.address(PROPOSER).expect("account");
    chain
        .fund(&[proposer], U256::from(1_000_000_000u64))
        .await
        .expect("fund the proposer");
    chain
}

/// Gives `account` `amount` of fee token.
pub async fn fund(chain: &TestChain, account: usize, amount: u64) {
    let address = chain.address(account).expect("account");
    chain
        .fund(&[address], U256::from(amount))
        .await
        .expect("fund");
}

/// Proposes the blocks of [`EPOCH0`] (moving time to each slot). Returns them.
pub async fn propose_epoch0(chain: &TestChain) -> Vec<BlockRecord> {
    epoch_rfq_testkit::chain::propose_blocks(chain, PROPOSER, &EPOCH0).await
}

pub fn settings() -> NodeSettings {
    NodeSettings {
        polling_interval: Duration::from_millis(100),
        max_pending_jobs: 1,
        minimum_escrow: U256::from(MINIMUM),
        target_escrow: U256::from(TARGET),
        submit_retry_interval: Duration::from_millis(200),
        receipt_timeout: Duration::from_secs(10),
        subscribe_claims: false,
    }
}

/// A sink that records what it receives.
#[derive(Default)]
pub struct RecordingSink {
    quotes: Mutex<Vec<EpochProofQuote>>,
}

impl RecordingSink {
    pub fn quotes(&self) -> Vec<EpochProofQuote> {
        self.quotes.lock().clone()
    }
}

impl QuoteSink for RecordingSink {
    fn name(&self) -> &'static str {
        "http"
    }

    fn send<'a>(&'a self, quote: &'a EpochProofQuote) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            self.quotes.lock().push(quote.clone());
            Ok(())
        })
    }
}

/// A node for account `account` over `client` (the harness's http client unless given).
pub struct NodeParts {
    pub node: ProverNode,
    pub sink: Arc<RecordingSink>,
    pub metrics: ProverMetrics,
    pub events: broadcast::Receiver<ProverEvent>,
}

pub async fn node(
    chain: &TestChain,
    account: usize,
    dir: &std::path::Path,
    quote_provider: Arc<dyn QuoteProvider>,
    prover: Arc<dyn EpochProver>,
) -> NodeParts {
    let l1 = chain.client(account).await.expect("client");
    node_with(chain, l1, settings(), account, dir, quote_provider, prover)
}

pub fn node_with(
    chain: &TestChain,
    l1: L1Client,
    settings: NodeSettings,
    account: usize,
    dir: &std::path::Path,
    quote_provider: Arc<dyn QuoteProvider>,
    prover: Arc<dyn EpochProver>,
) -> NodeParts {
    let sink = Arc::new(RecordingSink::default());
    let metrics = ProverMetrics::default();
    let node = ProverNode::new(
        settings,
        l1,
        chain.signer(account).expect("signer"),
        quote_provider,
        prover,
        sink.clone(),
        ProverStore::open(dir).expect("store opens"),
        metrics.clone(),
    )
    .expect("node builds");
    let events = node.subscribe();
    NodeParts {
        node,
        sink,
        metrics,
        events,
    }
}

/// Waits (bounded) until the sink holds `n` quotes.
pub async fn wait_quotes(sink: &RecordingSink, n: usize, secs: u64) -> Vec<EpochProofQuote> {
    tokio::time::timeout(Duration::from_secs(secs), async {
        loop {
            let quotes = sink.quotes();
            if quotes.len() >= n {
                return quotes;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {n} quote(s)"))
}

/// Per block: fees × bps / 10000, rounded down (the Rollup's rule).
pub fn reward(blocks: &[BlockRecord], bps: u32) -> U256 {
    blocks.iter().fold(U256::ZERO, |sum, b| {
        sum + b.total_fees * U256::from(bps) / U256::from(10_000)
    })
}

pub async fn address(chain: &TestChain, account: usize) -> Address {
    chain.address(account).expect("account")
}

/// The proposer (dev account [`PROPOSER`]) claims `quote` on L1.
pub async fn claim_as_proposer(chain: &TestChain, quote: &EpochProofQuote) {
    chain
        .client(PROPOSER)
        .await
        .expect("proposer's client")
        .claim_epoch_proof_right(quote)
        .await
        .expect("claim");
}

/// Waits up to `secs` for the job of `epoch` to end: its final state and note.
pub async fn job_end(
    events: &mut broadcast::Receiver<ProverEvent>,
    epoch: u64,
    secs: u64,
) -> (epoch_rfq_prover::JobState, String) {
    next_event(events, secs, "job end", |e| match e {
        ProverEvent::JobFinished {
            epoch: e_epoch,
            state,
            note,
        } if *e_epoch == epoch => Some((*state, note.clone())),
        _ => None,
    })
    .await
}
