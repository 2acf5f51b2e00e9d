//! The prover node through L1 reorgs made with anvil's own methods (`anvil_reorg`,
//! `evm_snapshot`/`evm_revert`), on the real contracts:
//!
//! * a claim reorged out holds the proof back, and the job is cancelled once the claim phase
//!   ended without the claim, or completes when the claim comes back;
//! * a proof transaction reorged out before it is deep is followed until it is back and deep;
//! * an escrow deposit reorged out is made again once (after it counted as done), or waited for
//!   when the node put it back in its pool;
//! * a slash mined in a block that replaced one already scanned is still reported.
//!
//! Time is driven by the test (30-s slots: nothing moves unless the test mines). Every test is
//! bounded by a timeout.

// Functions outside #[test] fns unwrap too: this is a test crate.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;
use epoch_rfq_l1::alloy::primitives::{B256, Bytes, U256};
use epoch_rfq_l1::alloy::providers::Provider;
use epoch_rfq_l1::anvil::TestChain;
use epoch_rfq_l1::metrics::TxEvent;
use epoch_rfq_l1::txsend::TxPolicy;
use epoch_rfq_l1::{L1Client, L1Metrics};
use epoch_rfq_prover::{DevProver, JobState, ProverEvent, ProverHandle, SimpleQuoteProvider};
use epoch_rfq_testkit::wait_until;

fn simple() -> Arc<SimpleQuoteProvider> {
    Arc::new(SimpleQuoteProvider::new(100, U256::from(1_000)))
}

/// A dev prover taking `secs`: long enough for the test to reorg the claim out while it proves.
fn proving_for(secs: u64) -> Arc<DevProver> {
    Arc::new(DevProver::new(Duration::from_secs(secs)))
}

async fn snapshot(chain: &TestChain) -> U256 {
    chain
        .provider()
        .raw_request("evm_snapshot".into(), ())
        .await
        .expect("evm_snapshot")
}

async fn revert(chain: &TestChain, id: U256) {
    let reverted: bool = chain
        .provider()
        .raw_request("evm_revert".into(), (id,))
        .await
        .expect("evm_revert");
    assert!(reverted, "the snapshot exists");
}

/// Replaces the last `depth` blocks by empty ones (anvil drops their transactions).
async fn reorg(chain: &TestChain, depth: u64) {
    let () = chain
        .provider()
        .raw_request(
            "anvil_reorg".into(),
            (depth, Vec::<(serde_json::Value, u64)>::new()),
        )
        .await
        .expect("anvil_reorg");
}

fn job_state(handle: &ProverHandle, epoch: u64) -> Option<JobState> {
    handle.with_store(|s| s.job(epoch).unwrap().map(|j| j.state))
}

async fn wait_job_state(handle: &ProverHandle, epoch: u64, state: JobState) {
    wait_until(
        &format!("job of epoch {epoch} in {state}"),
        Duration::from_secs(20),
        async || job_state(handle, epoch) == Some(state),
    )
    .await;
}

/// Mines a block every 250 ms while switched on (stops with the test).
struct Miner {
    on: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Miner {
    fn start(chain: &TestChain) -> Self {
        let on = Arc::new(AtomicBool::new(true));
        let provider = chain.provider().clone();
        let flag = on.clone();
        let task = tokio::spawn(async move {
            loop {
                if flag.load(Ordering::SeqCst) {
                    let _: Result<String, _> = provider.raw_request("evm_mine".into(), ()).await;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
        Self { on, task }
    }

    fn set(&self, on: bool) {
        self.on.store(on, Ordering::SeqCst);
    }
}

impl Drop for Miner {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The prover's client with `confirmations` and its transaction metrics.
async fn client_with(chain: &TestChain, confirmations: u64) -> (L1Client, L1Metrics) {
    let metrics = L1Metrics::new();
    let client = chain
        .client(PROVER)
        .await
        .expect("client")
        .with_tx_policy(TxPolicy {
            confirmations,
            poll_interval: Duration::from_millis(50),
            ..TxPolicy::default()
        })
        .with_metrics(metrics.clone());
    (client, metrics)
}

/// A started node's handle and what the test watches.
struct Started {
    handle: ProverHandle,
    metrics: epoch_rfq_prover::ProverMetrics,
    events: tokio::sync::broadcast::Receiver<ProverEvent>,
    quote: epoch_rfq_quote::EpochProofQuote,
}

/// Up to the claim: epoch 0 proposed, the node started, its quote for epoch 0 received, L1 in
/// slot 4 (epoch 0's claim phase: slots 4-5, proof deadline slot 8).
async fn quoted_epoch0(chain: &TestChain, dir: &TempDir, prover_secs: u64) -> Started {
    fund(chain, PROVER, WALLET).await;
    propose_epoch0(chain).await;
    let parts = node(chain, PROVER, dir, simple(), proving_for(prover_secs)).await;
    let handle = parts.node.start().await.expect("start");
    chain.advance_to_epoch(1).await.unwrap();
    let quote = wait_quotes(&parts.sink, 1, 15).await.remove(0);
    Started {
        handle,
        metrics: parts.metrics,
        events: parts.events,
        quote,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_reorged_out_holds_the_proof_and_cancels_the_job_when_the_claim_phase_ends() {
    bounded(async {
        let chain = chain().await;
        let dir = TempDir::new("reorg-claim-gone");
        let Started {
            handle,
            metrics,
            mut events,
            quote,
        } = quoted_epoch0(&chain, &dir, 2).await;
        let reader = chain.reader().unwrap();
        let before_claim = snapshot(&chain).await;
        claim_as_proposer(&chain, &quote).await;
        next_event(&mut events, 15, "job start", |e| {
            matches!(e, ProverEvent::JobStarted { epoch: 0, .. }).then_some(())
        })
        .await;
        // The claim's block is reorged out while the job proves; it is not mined again.
        revert(&chain, before_claim).await;
        assert!(reader.claim(0).await.unwrap().is_none());

        // The proof is made, then held: nothing is sent while the claim is missing.
        wait_job_state(&handle, 0, JobState::Proven).await;
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert_eq!(job_state(&handle, 0), Some(JobState::Proven), "held back");
        assert_eq!(reader.proven_block_number().await.unwrap(), 0);
        let job = handle.with_store(|s| s.job(0).unwrap().unwrap());
        assert!(job.tx_hash.is_none(), "no proof transaction was sent");

        // The claim phase ends without the claim: the job is cancelled, saying why.
        chain.advance_to_slot(6).await.unwrap();
        let (state, note) = job_end(&mut events, 0, 15).await;
        assert_eq!(state, JobState::Cancelled);
        assert!(note.contains("not mined again"), "{note}");
        assert_eq!(reader.proven_block_number().await.unwrap(), 0);
        assert_eq!(metrics.job_outcome_count(JobState::Cancelled), 1);
        handle.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_reorged_out_and_mined_again_releases_the_held_proof() {
    bounded(async {
        let chain = chain().await;
        let dir = TempDir::new("reorg-claim-back");
        let Started {
            handle,
            metrics,
            mut events,
            quote,
        } = quoted_epoch0(&chain, &dir, 2).await;
        let reader = chain.reader().unwrap();
        let me = address(&chain, PROVER).await;
        let wallet_before = reader.balance_of(me).await.unwrap();
        let before_claim = snapshot(&chain).await;
        claim_as_proposer(&chain, &quote).await;
        next_event(&mut events, 15, "job start", |e| {
            matches!(e, ProverEvent::JobStarted { epoch: 0, .. }).then_some(())
        })
        .await;
        revert(&chain, before_claim).await;
        wait_job_state(&handle, 0, JobState::Proven).await;
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        assert_eq!(reader.proven_block_number().await.unwrap(), 0, "held back");

        // The claim transaction is mined again: the same job sends its proof, and the proof
        // pays the claim's fee share to us.
        claim_as_proposer(&chain, &quote).await;
        let (state, _) = job_end(&mut events, 0, 20).await;
        assert_eq!(state, JobState::Completed);
        let blocks = reader.epoch_blocks(0).await.unwrap();
        assert_eq!(
            reader.proven_block_number().await.unwrap(),
            blocks.last().unwrap().number
        );
        assert_eq!(
            reader.balance_of(me).await.unwrap(),
            wallet_before + reward(&blocks, 100),
            "the fee share of the claim"
        );
        assert_eq!(metrics.job_outcome_count(JobState::Completed), 1);
        handle.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_reorged_out_and_replaced_by_another_provers_cancels_the_job_after_the_phase() {
    bounded(async {
        let chain = chain().await;
        let dir = TempDir::new("reorg-claim-other");
        let Started {
            handle,
            mut events,
            quote,
            ..
        } = quoted_epoch0(&chain, &dir, 2).await;
        let reader = chain.reader().unwrap();
        epoch_rfq_testkit::chain::fund_and_deposit(&chain, OTHER_PROVER, TARGET).await;
        let range = reader.epoch_range(0).await.unwrap();
        let other = address(&chain, OTHER_PROVER).await;
        let other_quote =
            epoch_rfq_testkit::chain::claim_fields(&reader, &range, other, 200, 1_000)
                .sign(&chain.signer(OTHER_PROVER).unwrap(), chain.chain_id())
                .unwrap();
        let before_claim = snapshot(&chain).await;
        claim_as_proposer(&chain, &quote).await;
        next_event(&mut events, 15, "job start", |e| {
            matches!(e, ProverEvent::JobStarted { epoch: 0, .. }).then_some(())
        })
        .await;
        // On the new branch the proposer claimed the other prover's quote instead.
        revert(&chain, before_claim).await;
        claim_as_proposer(&chain, &other_quote).await;

        // Still in the claim phase: the job holds its proof and is not cancelled (the claim
        // could still come back with a reorg of the other one).
        wait_job_state(&handle, 0, JobState::Proven).await;
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        assert_eq!(job_state(&handle, 0), Some(JobState::Proven));
        assert_eq!(reader.proven_block_number().await.unwrap(), 0);

        chain.advance_to_slot(6).await.unwrap();
        let (state, note) = job_end(&mut events, 0, 15).await;
        assert_eq!(state, JobState::Cancelled);
        assert!(note.contains(&other.to_string()), "{note}");
        assert_eq!(reader.proven_block_number().await.unwrap(), 0);
        handle.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proof_reorged_out_before_it_is_deep_is_followed_until_it_is_back_and_deep() {
    bounded(async {
        let chain = chain().await;
        fund(&chain, PROVER, WALLET).await;
        let blocks = propose_epoch0(&chain).await;
        let me = address(&chain, PROVER).await;
        let reader = chain.reader().unwrap();
        let miner = Miner::start(&chain);
        let (client, l1_metrics) = client_with(&chain, 1).await;
        let dir = TempDir::new("reorg-proof");
        let mut parts = node_with(
            &chain,
            client,
            settings(),
            PROVER,
            &dir,
            simple(),
            proving_for(0),
        );
        let handle = parts.node.start().await.expect("start");
        chain.advance_to_epoch(1).await.unwrap();
        let quote = wait_quotes(&parts.sink, 1, 15).await.remove(0);
        let wallet_before = reader.balance_of(me).await.unwrap();

        // No block on top of the proof: it stays one block short of deep.
        miner.set(false);
        claim_as_proposer(&chain, &quote).await;
        let mut first_hash = None;
        wait_until("the proof mined", Duration::from_secs(20), async || {
            let Some(hash) = handle.with_store(|s| s.job(0).unwrap().and_then(|j| j.tx_hash))
            else {
                return false;
            };
            let hash: B256 = hash.parse().unwrap();
            first_hash = Some(hash);
            reader
                .provider()
                .get_transaction_receipt(hash)
                .await
                .unwrap()
                .is_some()
        })
        .await;
        let first_hash = first_hash.unwrap();
        assert_eq!(
            job_state(&handle, 0),
            Some(JobState::Submitted),
            "not deep yet"
        );

        // The proof's block is reorged out (the epoch is unproven again), then blocks follow.
        reorg(&chain, 1).await;
        assert_eq!(reader.proven_block_number().await.unwrap(), 0);
        miner.set(true);
        let (state, _) = job_end(&mut parts.events, 0, 20).await;
        assert_eq!(state, JobState::Completed);

        assert!(l1_metrics.transactions("submitEpochProof", TxEvent::reorged_out) >= 1);
        assert_eq!(
            l1_metrics.transactions("submitEpochProof", TxEvent::sent),
            1,
            "one transaction for the purpose: followed, not sent anew"
        );
        let job = handle.with_store(|s| s.job(0).unwrap().unwrap());
        let final_hash: B256 = job.tx_hash.unwrap().parse().unwrap();
        assert_eq!(final_hash, first_hash, "the same signed transaction, back");
        let receipt = reader
            .provider()
            .get_transaction_receipt(final_hash)
            .await
            .unwrap()
            .expect("mined on the new chain");
        assert!(receipt.status());
        assert_eq!(
            reader.proven_block_number().await.unwrap(),
            blocks.last().unwrap().number
        );
        // Proven in time: the bond is back in the deposit, nothing slashed, the fee share paid.
        assert_eq!(reader.staked_bonds(me).await.unwrap(), U256::ZERO);
        assert_eq!(reader.deposits(me).await.unwrap(), U256::from(TARGET));
        assert_eq!(
            reader.balance_of(me).await.unwrap(),
            wallet_before + reward(&blocks, 100)
        );
        let (latest, _) = reader.latest_l1_block().await.unwrap();
        assert!(
            reader
                .bond_slashed_events(0, Some(latest))
                .await
                .unwrap()
                .is_empty()
        );
        handle.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposit_reorged_out_after_it_counted_is_made_again_once() {
    bounded(async {
        let chain = chain().await;
        fund(&chain, PROVER, WALLET).await;
        let me = address(&chain, PROVER).await;
        let reader = chain.reader().unwrap();
        let (before_start, _) = reader.latest_l1_block().await.unwrap();
        let dir = TempDir::new("reorg-deposit");
        let parts = node(&chain, PROVER, &dir, simple(), proving_for(0)).await;
        let handle = parts.node.start().await.expect("start tops up");
        assert_eq!(reader.deposits(me).await.unwrap(), U256::from(TARGET));
        assert_eq!(parts.metrics.deposits_count(), 1);

        // The approval's and the deposit's blocks are reorged out (L1_CONFIRMATIONS is 0
        // here: the deposit had counted as done).
        let (latest, _) = reader.latest_l1_block().await.unwrap();
        reorg(&chain, latest - before_start).await;
        assert_eq!(reader.deposits(me).await.unwrap(), U256::ZERO);

        // The bond manager sees the escrow below the minimum and tops it up again, once.
        wait_until(
            "the deposit made again",
            Duration::from_secs(20),
            async || reader.deposits(me).await.unwrap() == U256::from(TARGET),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        assert_eq!(reader.deposits(me).await.unwrap(), U256::from(TARGET));
        assert_eq!(
            reader.balance_of(me).await.unwrap(),
            U256::from(WALLET - TARGET),
            "one deposit on chain for the shortfall"
        );
        assert_eq!(parts.metrics.deposits_count(), 2);
        handle.stop().await;
    })
    .await;
}

/// Transactions of `account` in L1 blocks `from..=to`: (hash, raw signed bytes).
async fn raw_txs_of(chain: &TestChain, account: usize, from: u64, to: u64) -> Vec<(B256, Bytes)> {
    let who = chain.address(account).unwrap();
    let provider = chain.provider();
    let mut out = Vec::new();
    for number in from..=to {
        let block = provider
            .get_block_by_number(number.into())
            .full()
            .await
            .unwrap()
            .unwrap();
        for tx in block.transactions.txns() {
            if tx.inner.signer() == who {
                let hash = *tx.inner.tx_hash();
                let raw: Bytes = provider
                    .raw_request("eth_getRawTransactionByHash".into(), (hash,))
                    .await
                    .unwrap();
                out.push((hash, raw));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposit_reorged_out_and_back_in_the_pool_is_waited_for_not_repeated() {
    bounded(async {
        let chain = chain().await;
        fund(&chain, PROVER, WALLET).await;
        let me = address(&chain, PROVER).await;
        let reader = chain.reader().unwrap();
        let (before_start, _) = reader.latest_l1_block().await.unwrap();
        let dir = TempDir::new("reorg-deposit-pool");
        let parts = node(&chain, PROVER, &dir, simple(), proving_for(0)).await;
        let handle = parts.node.start().await.expect("start tops up");
        assert_eq!(parts.metrics.deposits_count(), 1);
        let (latest, _) = reader.latest_l1_block().await.unwrap();
        let ours = raw_txs_of(&chain, PROVER, before_start + 1, latest).await;
        assert_eq!(ours.len(), 2, "the approval and the deposit");

        // A reorg takes both out and the node puts them back in its pool (as geth does with
        // the transactions of a dropped branch); no block is mined for a while.
        chain.set_automine(false).await.unwrap();
        reorg(&chain, latest - before_start).await;
        for (hash, raw) in &ours {
            let sent = reader.provider().send_raw_transaction(raw).await.unwrap();
            assert_eq!(sent.tx_hash(), hash);
        }
        assert_eq!(reader.deposits(me).await.unwrap(), U256::ZERO);

        // The bond manager sees the escrow below the minimum but sends nothing while those wait.
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let (mined, pending) = reader.nonces(me).await.unwrap();
        assert_eq!(pending, mined + 2, "only the two put back wait in the pool");

        // They are mined: the deposit is back, and no second one follows.
        chain.mine().await.unwrap();
        chain.set_automine(true).await.unwrap();
        assert_eq!(reader.deposits(me).await.unwrap(), U256::from(TARGET));
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert_eq!(reader.deposits(me).await.unwrap(), U256::from(TARGET));
        assert_eq!(
            reader.balance_of(me).await.unwrap(),
            U256::from(WALLET - TARGET),
            "one deposit for the shortfall"
        );
        assert_eq!(parts.metrics.deposits_count(), 1);
        handle.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slash_in_a_block_that_replaced_a_scanned_one_is_reported() {
    bounded(async {
        let chain = chain().await;
        let dir = TempDir::new("reorg-slash");
        let Started {
            handle,
            metrics,
            mut events,
            quote,
        } = quoted_epoch0(&chain, &dir, 300).await;
        claim_as_proposer(&chain, &quote).await;
        next_event(&mut events, 15, "job start", |e| {
            matches!(e, ProverEvent::JobStarted { epoch: 0, .. }).then_some(())
        })
        .await;
        // Past the proof deadline (slot 8) with the proof still being made.
        chain.advance_to_slot(8).await.unwrap();
        let at_deadline = snapshot(&chain).await;
        // The watcher scans one more block for slashes (empty)...
        chain.mine().await.unwrap();
        let (scanned, _) = chain.reader().unwrap().latest_l1_block().await.unwrap();
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        // ... which a reorg replaces by a block holding the prune that slashes our bond.
        revert(&chain, at_deadline).await;
        chain.client(0).await.unwrap().prune().await.expect("prune");
        let reader = chain.reader().unwrap();
        let (head, _) = reader.latest_l1_block().await.unwrap();
        assert_eq!(head, scanned, "the prune took the scanned block's number");
        let slashed = reader.bond_slashed_events(head, Some(head)).await.unwrap();
        assert_eq!(slashed.len(), 1);

        let (epoch, amount) = next_event(&mut events, 15, "slash reported", |e| match e {
            ProverEvent::BondSlashed { epoch, amount } => Some((*epoch, *amount)),
            _ => None,
        })
        .await;
        assert_eq!(epoch, 0);
        assert_eq!(amount, quote.fields().bond_amount);
        // Reported once, though the blocks are read again.
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        assert_eq!(metrics.bonds_slashed().0, 1);
        handle.stop().await;
    })
    .await;
}
