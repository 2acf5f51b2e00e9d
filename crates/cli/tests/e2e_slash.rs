//! End to end on anvil (2 s slots): the cheapest prover wins and never proves. At the proof
//! deadline the epoch is pruned and its bond goes to the slash recipient, to the wei; the prover
//! cannot back another quote, and a later epoch is claimed and proven by another prover.

mod common;

use std::time::Duration;

use alloy_primitives::U256;
use epoch_rfq::sandbox::{ProverSpec, QuotePath, Sandbox, SandboxEvent};
use epoch_rfq_prover::JobState;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unproven_claim_is_pruned_and_slashed_then_the_chain_moves_on() {
    let bond = U256::from(50_000);
    let mut opts = common::fast("slash");
    opts.provers = vec![
        ProverSpec::unreliable("alice", QuotePath::Http, 100, bond),
        common::fixed("bob", QuotePath::P2p, 200, 1000),
    ];
    let data_dir = opts.data_dir.clone();
    let sandbox = Sandbox::start(opts).await.unwrap();
    let alice = sandbox.prover_address("alice").unwrap();
    let bob = sandbox.prover_address("bob").unwrap();
    let recipient = sandbox.slash_recipient();

    let slashed = sandbox
        .wait_for(Duration::from_secs(60), |e| {
            matches!(e, SandboxEvent::BondSlashed { .. })
        })
        .await
        .unwrap();
    let SandboxEvent::BondSlashed {
        epoch,
        prover,
        amount,
        recipient: to,
        tx,
        l1_block,
    } = slashed
    else {
        unreachable!()
    };
    let history = sandbox.history();
    // alice undercut bob, won, and her job failed.
    assert_eq!(common::claim_of(&history, epoch), Some((alice, 100, bond)));
    assert!(history.iter().any(|e| matches!(
        e,
        SandboxEvent::JobFinished { prover, epoch: e2, state: JobState::Failed, .. }
            if *prover == alice && *e2 == epoch
    )));
    assert!(
        !history
            .iter()
            .any(|e| matches!(e, SandboxEvent::EpochProven { epoch: e2, .. } if *e2 == epoch))
    );
    assert_eq!((prover, amount, to), (alice, bond, recipient));
    // The same transaction pruned the epoch's blocks.
    sandbox
        .wait_for(Duration::from_secs(5), |e| {
            matches!(e, SandboxEvent::Pruned { epoch: e2, tx: t, .. } if *e2 == epoch && *t == tx)
        })
        .await
        .unwrap();

    // The bond moved from alice's stake to the slash recipient, exactly.
    let l1 = sandbox.reader();
    let before = l1_block - 1;
    let gained = common::balance_at(l1, recipient, l1_block).await
        - common::balance_at(l1, recipient, before).await;
    assert_eq!(gained, bond);
    assert_eq!(
        common::escrow_at(l1, alice, before).await,
        (U256::ZERO, bond)
    );
    assert_eq!(
        common::escrow_at(l1, alice, l1_block).await,
        (U256::ZERO, U256::ZERO)
    );
    assert!(l1.claim(epoch).await.unwrap().is_none(), "claim deleted");

    // The chain moves on: a later epoch is claimed by bob and proven; alice cannot quote any more
    // (her escrow and wallet are empty).
    let next = sandbox
        .wait_for(
            Duration::from_secs(45),
            |e| matches!(e, SandboxEvent::EpochProven { epoch: e2, .. } if *e2 > epoch),
        )
        .await
        .unwrap();
    let SandboxEvent::EpochProven {
        epoch: next_epoch,
        prover,
        ..
    } = next
    else {
        unreachable!()
    };
    assert_eq!(prover, bob);
    let history = sandbox.history();
    assert_eq!(
        common::claim_of(&history, next_epoch).map(|c| c.0),
        Some(bob)
    );
    assert!(history.iter().any(|e| matches!(
        e,
        SandboxEvent::NoQuote { prover, reason, .. } if *prover == alice && reason == "bond"
    )));
    // Alice's own prover said so too: the failed job, the slash with its amount, and an escrow
    // below the minimum that her empty wallet cannot top up (what alerts are written on).
    let alice_metrics = &sandbox
        .provers()
        .iter()
        .find(|p| p.address == alice)
        .expect("alice runs")
        .metrics;
    assert_eq!(alice_metrics.jobs_failed_count(), 1);
    assert_eq!(
        alice_metrics.bonds_slashed(),
        (1, u64::try_from(bond).expect("small bond"))
    );
    assert!(alice_metrics.escrow_below_minimum());
    sandbox.shutdown().await;
    let _ = std::fs::remove_dir_all(data_dir);
}
