//! Market intelligence against a real chain (anvil + the contracts): two provers priced by the
//! cost model with different costs (the cheaper one is claimed and the other records the loss
//! and the winner's fee), and the commitment ledger refusing quotes that would over-commit the
//! escrow or the provers' time.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use epoch_rfq_l1::alloy::primitives::U256;
use epoch_rfq_l1::anvil::TestChain;
use epoch_rfq_prover::cost::{ChainGasPrice, CostQuoteProvider};
use epoch_rfq_prover::ledger::{Commitment, Ledger, LedgerSettings, Snapshot, Stage};
use epoch_rfq_prover::market::{LEDGER_KEY, shared_ledger};
use epoch_rfq_prover::{DevProver, JobState, ProverEvent, ProverStore};

fn cost_file(
    dir: &Path,
    bond: u64,
    per_epoch: u64,
    per_tx: u64,
    seconds_per_epoch: f64,
) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).expect("data dir");
    let path = dir.join("cost.toml");
    std::fs::write(
        &path,
        format!(
            r#"
bond_amount = "{bond}"
margin = 0.1
[l1]
proof_submission_gas = 300000
[price]
fee_token_per_eth = 1.0e3
[proving]
cost_per_epoch = {per_epoch}
cost_per_tx = {per_tx}
seconds_per_epoch = {seconds_per_epoch}
seconds_per_tx = 0.0
[capital]
annual_rate = 0.05
"#
        ),
    )
    .expect("write the cost file");
    path
}

/// A node for `account` priced by the cost file in `dir`, sharing one ledger with it.
async fn cost_node(chain: &TestChain, account: usize, dir: &Path, cost: &Path) -> NodeParts {
    let l1 = chain.client(account).await.expect("client");
    let ledger = shared_ledger(Ledger::new(LedgerSettings::default()));
    let provider = CostQuoteProvider::open(
        cost,
        *l1.time(),
        Arc::new(ChainGasPrice(l1.provider().clone())),
        ledger.clone(),
    )
    .expect("the cost file is valid");
    let mut parts = node_with(
        chain,
        l1,
        settings(),
        account,
        dir,
        Arc::new(provider),
        Arc::new(DevProver::new(Duration::ZERO)),
    );
    parts.node = parts.node.with_ledger(ledger);
    parts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cheaper_cost_model_wins_and_the_loser_learns_the_winning_fee() {
    bounded(async {
        let chain = chain().await;
        fund(&chain, PROVER, WALLET).await;
        fund(&chain, OTHER_PROVER, WALLET).await;
        propose_epoch0(&chain).await;

        let cheap_dir = TempDir::new("market-cheap");
        let dear_dir = TempDir::new("market-dear");
        let cheap_cost = cost_file(&cheap_dir, 1_000, 100, 1, 1.0);
        let dear_cost = cost_file(&dear_dir, 1_000, 1_000, 10, 1.0);
        let mut cheap = cost_node(&chain, PROVER, &cheap_dir, &cheap_cost).await;
        let mut dear = cost_node(&chain, OTHER_PROVER, &dear_dir, &dear_cost).await;
        let cheap_handle = cheap.node.start().await.expect("start");
        let dear_handle = dear.node.start().await.expect("start");

        chain.advance_to_epoch(1).await.expect("advance");
        let cheap_quote = wait_quotes(&cheap.sink, 1, 10).await[0].clone();
        let dear_quote = wait_quotes(&dear.sink, 1, 10).await[0].clone();
        let (cheap_fee, dear_fee) = (
            cheap_quote.fields().basis_point_fee,
            dear_quote.fields().basis_point_fee,
        );
        // Epoch 0: 8 tx, fees 35,007. Gas: 300,000 × ~1 gwei × 1000 per ETH ≈ 0.3. Cheap:
        // (100 + 8 + 0.3) × 1.1 ≈ 119.2 → 120, + 3 blocks of rounding → 36 bps;
        // dear: (1000 + 80 + 0.3) × 1.1 ≈ 1188.3 → 1189 + 3 → 341 bps.
        assert!(cheap_fee < dear_fee);
        assert!((34..=40).contains(&cheap_fee), "cheap fee {cheap_fee} bps");
        assert!((339..=345).contains(&dear_fee), "dear fee {dear_fee} bps");
        // The fee covers the cost: 35,007 × bps / 10000 ≥ cost.
        let received = U256::from(35_007u64) * U256::from(cheap_fee) / U256::from(10_000u64);
        assert!(received >= U256::from(119u64), "received {received}");
        // Valid until the end of the claim phase, never unset.
        assert_eq!(cheap_quote.fields().valid_until_slot, U256::from(5));

        // The proposer claims the cheapest quote, as the RFQ does.
        claim_as_proposer(&chain, &cheap_quote).await;
        let (state, note) = job_end(&mut cheap.events, 0, 20).await;
        assert_eq!(state, JobState::Completed, "{note}");
        next_event(&mut dear.events, 10, "the claim", |e| match e {
            ProverEvent::ClaimSeen { ours: false, .. } => Some(()),
            _ => None,
        })
        .await;
        // Outcome feedback: both record the auction, the loser with the winner's fee.
        assert_eq!(cheap.metrics.market.auctions("won"), 1);
        assert_eq!(dear.metrics.market.auctions("lost"), 1);
        assert_eq!(
            dear_handle.with_store(|s| s.outcome_counts().expect("read")),
            (0, 1)
        );
        assert_eq!(
            cheap_handle.with_store(|s| s.outcome_counts().expect("read")),
            (1, 1)
        );
        // The winner's ledger released the finished job; it learned a proving speed.
        let ledger_json = cheap_handle
            .with_store(|s| s.market_state(LEDGER_KEY).expect("read"))
            .expect("the ledger is persisted");
        assert!(ledger_json.contains("\"commitments\":[]"), "{ledger_json}");
        assert!(ledger_json.contains("\"measured_jobs\":1"), "{ledger_json}");
        cheap_handle.stop().await;
        dear_handle.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_refuses_quotes_that_would_over_commit() {
    bounded(async {
        let chain = chain().await;
        // Escrow: exactly the target (200,000); nothing left in the wallet for more.
        fund(&chain, PROVER, TARGET).await;
        fund(&chain, OTHER_PROVER, WALLET).await;
        propose_epoch0(&chain).await;

        // Prover 1 has a quote for a later epoch still claimable (from before a restart) that
        // promises 150,000 of its 200,000: a second bond of 150,000 would over-commit.
        let bond_dir = TempDir::new("market-bond");
        let bond_cost = cost_file(&bond_dir, 150_000, 100, 1, 1.0);
        {
            let store = ProverStore::open(&bond_dir).expect("store");
            let snapshot = Snapshot {
                commitments: vec![Commitment {
                    epoch: 7,
                    tx_count: 0,
                    bond: U256::from(150_000u64),
                    deadline_at: u64::MAX / 4,
                    stage: Stage::Quoted {
                        claimable_until: u64::MAX / 8,
                    },
                }],
                speed_scale: 1.0,
                measured_jobs: 0,
            };
            store
                .save_market_state(LEDGER_KEY, &serde_json::to_string(&snapshot).expect("json"))
                .expect("seed the ledger");
        }
        // Prover 2 proves slowly: 1,000 s per epoch cannot fit before the deadline (slot 8,
        // two 30 s slots after the claim phase).
        let slow_dir = TempDir::new("market-slow");
        let slow_cost = cost_file(&slow_dir, 1_000, 100, 1, 1_000.0);
        let mut bond_limited = cost_node(&chain, PROVER, &bond_dir, &bond_cost).await;
        let mut slow = cost_node(&chain, OTHER_PROVER, &slow_dir, &slow_cost).await;
        let bond_handle = bond_limited.node.start().await.expect("start");
        let slow_handle = slow.node.start().await.expect("start");

        chain.advance_to_epoch(1).await.expect("advance");
        let (reason, detail) = next_event(&mut bond_limited.events, 10, "no quote", |e| match e {
            ProverEvent::NoQuote { reason, detail, .. } => Some((*reason, detail.clone())),
            _ => None,
        })
        .await;
        assert_eq!(reason, "ledger_bond", "{detail}");
        assert!(
            detail.contains("150000 promised by 1 claimable quote"),
            "{detail}"
        );
        let (reason, detail) = next_event(&mut slow.events, 10, "no quote", |e| match e {
            ProverEvent::NoQuote { reason, detail, .. } => Some((*reason, detail.clone())),
            _ => None,
        })
        .await;
        assert_eq!(reason, "ledger_capacity", "{detail}");
        assert!(bond_limited.sink.quotes().is_empty());
        assert!(slow.sink.quotes().is_empty());
        assert_eq!(bond_limited.metrics.no_quote_count("ledger_bond"), 1);
        bond_handle.stop().await;
        slow_handle.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_survives_a_restart() {
    bounded(async {
        let chain = chain().await;
        fund(&chain, PROVER, WALLET).await;
        propose_epoch0(&chain).await;
        let dir = TempDir::new("market-restart");
        let cost = cost_file(&dir, 1_000, 100, 1, 1.0);

        let parts = cost_node(&chain, PROVER, &dir, &cost).await;
        let handle = parts.node.start().await.expect("start");
        chain.advance_to_epoch(1).await.expect("advance");
        let quote = wait_quotes(&parts.sink, 1, 10).await[0].clone();
        handle.stop().await;

        // After the restart the claimable quote is still committed (read back from the
        // store), and the claim moves it to a job that is released when the proof lands.
        let mut parts = cost_node(&chain, PROVER, &dir, &cost).await;
        let handle = parts.node.start().await.expect("restart");
        let snapshot: Snapshot = serde_json::from_str(
            &handle
                .with_store(|s| s.market_state(LEDGER_KEY).expect("read"))
                .expect("persisted"),
        )
        .expect("a ledger snapshot");
        assert_eq!(snapshot.commitments.len(), 1, "{snapshot:?}");
        assert_eq!(snapshot.commitments[0].epoch, 0);
        assert_eq!(snapshot.commitments[0].bond, U256::from(1_000u64));
        assert!(matches!(
            snapshot.commitments[0].stage,
            Stage::Quoted { .. }
        ));
        claim_as_proposer(&chain, &quote).await;
        let (state, note) = job_end(&mut parts.events, 0, 20).await;
        assert_eq!(state, JobState::Completed, "{note}");
        let snapshot: Snapshot = serde_json::from_str(
            &handle
                .with_store(|s| s.market_state(LEDGER_KEY).expect("read"))
                .expect("persisted"),
        )
        .expect("a ledger snapshot");
        assert!(snapshot.commitments.is_empty(), "{snapshot:?}");
        assert_eq!(snapshot.measured_jobs, 1);
        assert_eq!(
            parts.sink.quotes(),
            [quote],
            "the stored quote was resent, not a new one"
        );
        handle.stop().await;
    })
    .await;
}
