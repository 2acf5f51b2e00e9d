//! End to end, in one process on anvil (2 s slots): three provers (HTTP fixed fee, P2P fixed fee,
//! P2P priced by the pricing service) quote the first epoch; the cheapest wins the claim and
//! proves; the fee share goes to the prover and the rest to the coinbase, to the wei; the bond
//! returns to the prover's escrow deposit.

mod common;

use std::time::Duration;

use alloy_primitives::U256;
use epoch_rfq::sandbox::{ProverPricing, ProverSpec, QuotePath, Sandbox, SandboxEvent};
use epoch_rfq_prover::pricing_service::PricingPolicy;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cheapest_quote_wins_proves_and_is_paid_exactly() {
    let mut opts = common::fast("rfq");
    opts.provers = vec![
        common::fixed("alice", QuotePath::Http, 300, 2000),
        common::fixed("bob", QuotePath::P2p, 150, 1000),
        ProverSpec::new("carol", QuotePath::P2p, ProverPricing::Service),
    ];
    // carol's price: at least (400 + txs) × 1.1 bps, always above bob's.
    opts.pricing = PricingPolicy {
        base_bps: 400,
        bps_per_tx: 1,
        margin_percent: 10,
        bond_amount: U256::from(1500),
    };
    let data_dir = opts.data_dir.clone();
    let sandbox = Sandbox::start(opts).await.unwrap();
    let alice = sandbox.prover_address("alice").unwrap();
    let bob = sandbox.prover_address("bob").unwrap();
    let carol = sandbox.prover_address("carol").unwrap();
    let proposer = sandbox.proposer_address();

    let proven = sandbox
        .wait_for(Duration::from_secs(60), |e| {
            matches!(e, SandboxEvent::EpochProven { claim: Some(_), .. })
        })
        .await
        .unwrap();
    let SandboxEvent::EpochProven {
        epoch,
        from_block,
        to_block,
        prover,
        prover_reward,
        total_fees,
        l1_block,
        ..
    } = proven
    else {
        unreachable!()
    };
    let history = sandbox.history();

    // All three quoted the epoch, each through its path, and the cheapest (bob, 150 bps) won.
    let quoted = common::quoted(&history, epoch);
    for p in [alice, bob, carol] {
        assert!(quoted.contains(&p), "{p} did not quote epoch {epoch}");
    }
    assert_eq!(
        common::claim_of(&history, epoch),
        Some((bob, 150, U256::from(1000)))
    );
    assert_eq!(prover, bob);

    // Payouts to the wei: per block, share = fees × 150 / 10000 rounded down to the prover, the
    // rest to the block's coinbase (the proposer).
    let l1 = sandbox.reader();
    let mut expected_reward = U256::ZERO;
    let mut expected_coinbase = U256::ZERO;
    let mut fees_sum = U256::ZERO;
    for n in from_block..=to_block {
        let block = l1.block(n).await.unwrap();
        assert_eq!(block.coinbase, proposer);
        let share = block.total_fees * U256::from(150) / U256::from(10_000);
        expected_reward += share;
        expected_coinbase += block.total_fees - share;
        fees_sum += block.total_fees;
    }
    assert_eq!(fees_sum, total_fees);
    assert_eq!(prover_reward, expected_reward);
    assert!(!prover_reward.is_zero(), "fees too small to show a share");

    // Balances across the proof's L1 block.
    let before = l1_block - 1;
    let bob_gain =
        common::balance_at(l1, bob, l1_block).await - common::balance_at(l1, bob, before).await;
    assert_eq!(bob_gain, expected_reward);
    // The proposer may also have paid a new block's fees in the same L1 block.
    let paid_same_block: U256 = l1
        .block_proposed_events(l1_block, Some(l1_block))
        .await
        .unwrap()
        .iter()
        .map(|e| e.block.total_fees)
        .sum();
    let proposer_after = common::balance_at(l1, proposer, l1_block).await;
    let proposer_before = common::balance_at(l1, proposer, before).await;
    assert_eq!(
        proposer_after + paid_same_block,
        proposer_before + expected_coinbase,
        "coinbase remainder"
    );

    // The bond (1000) was staked until the proof and is back in bob's free deposit.
    let (free_before, staked_before) = common::escrow_at(l1, bob, before).await;
    let (free_after, staked_after) = common::escrow_at(l1, bob, l1_block).await;
    assert_eq!(staked_before, U256::from(1000));
    assert_eq!(staked_after, U256::ZERO);
    assert_eq!(free_after, free_before + U256::from(1000));

    // Nobody else proved or was slashed.
    assert!(
        !history
            .iter()
            .any(|e| matches!(e, SandboxEvent::BondSlashed { .. }))
    );
    assert!(sandbox.proposer_metrics().claims_count() >= 1);
    sandbox.shutdown().await;
    let _ = std::fs::remove_dir_all(data_dir);
}
