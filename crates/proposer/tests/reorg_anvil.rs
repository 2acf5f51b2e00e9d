//! The proposer through an L1 reorg made with `anvil_reorg`: its claim reorged out while the
//! claim phase is open is made again; once the phase is over it is not (a claim could only
//! revert), and the epoch is reported unclaimed.
//!
//! L1 time is under the test's control (12-s slots, epochs of 4 slots, claim phase of epoch 0:
//! slots 4 and 5).

mod common;

use alloy_primitives::U256;
use common::*;
use epoch_rfq_l1::alloy::providers::Provider;
use epoch_rfq_proposer::ProposerEvent;

const PROVER: usize = 3;

/// Replaces the last `depth` blocks by empty ones (anvil drops their transactions).
async fn reorg(w: &World, depth: u64) {
    let () = w
        .chain
        .provider()
        .raw_request("anvil_reorg".into(), (depth, Vec::<u64>::new()))
        .await
        .expect("anvil_reorg");
}

/// Epoch 0 proposed (slots 1-3) and one quote for it from [`PROVER`].
async fn quoted_epoch0(w: &mut World) {
    w.tick_slots(1..=3).await;
    let range = w.range(0).await;
    w.push_at(w.sign(w.fields(&range, PROVER, 100, 2_000), PROVER), 1);
}

#[tokio::test]
async fn a_claim_reorged_out_in_the_claim_phase_is_made_again() {
    bounded(60, async {
        let mut w = world(WorldOptions::default(), &[(PROVER, DEPOSIT)]).await;
        quoted_epoch0(&mut w).await;
        let report = w.tick_at(4).await;
        assert_eq!(report.claimed, Some((0, w.address(PROVER))));
        assert!(w.reader.claim(0).await.expect("read").is_some());

        // The block holding the claim (proposed with the slot's block) is reorged out.
        reorg(&w, 1).await;
        assert_eq!(w.reader.claim(0).await.expect("read"), None);
        assert_eq!(
            w.reader
                .staked_bonds(w.address(PROVER))
                .await
                .expect("read"),
            U256::ZERO
        );

        // Still slot 4, in the claim phase: the next tick claims again.
        w.drain();
        let report = w.proposer.tick().await.expect("tick");
        assert_eq!(report.claimed, Some((0, w.address(PROVER))));
        let claim = w
            .reader
            .claim(0)
            .await
            .expect("read")
            .expect("claimed again");
        assert_eq!(claim.bond_provider, w.address(PROVER));
        assert_eq!(claim.proposer_claimant, w.address(PROPOSER));
        assert_eq!(
            w.reader
                .staked_bonds(w.address(PROVER))
                .await
                .expect("read"),
            U256::from(2_000)
        );
        assert_eq!(w.proposer.metrics().claims_count(), 2);
        // Claimed once on the chain: later ticks do not claim again.
        let report = w.tick_at(5).await;
        assert_eq!(report.claimed, None);
        assert_eq!(w.proposer.metrics().claims_count(), 2);
    })
    .await;
}

#[tokio::test]
async fn a_claim_reorged_out_after_the_claim_phase_is_reported_unclaimed() {
    bounded(60, async {
        let mut w = world(WorldOptions::default(), &[(PROVER, DEPOSIT)]).await;
        quoted_epoch0(&mut w).await;
        // Claimed in the phase's last slot; the next block is already past the phase.
        w.tick_at(4).await;
        let claim_slot_5 = w.tick_at(5).await;
        assert_eq!(claim_slot_5.claimed, None, "claimed in slot 4 already");
        // The claim's block and everything after it (slots 4-5) are reorged out, with L1 time
        // moved on to slot 6: the claim phase is over without a claim.
        let (latest, _) = w.reader.latest_l1_block().await.expect("latest");
        let claim_block = w
            .reader
            .proof_right_claimed_events(0, Some(latest))
            .await
            .expect("events")[0]
            .at
            .l1_block;
        reorg(&w, latest - claim_block + 1).await;
        assert_eq!(w.reader.claim(0).await.expect("read"), None);
        w.drain();
        let report = w.tick_at(6).await;
        assert_eq!(report.claimed, None, "no claim after the phase");
        assert_eq!(report.unclaimed, Some(0), "reported unclaimed");
        assert!(
            w.drain()
                .iter()
                .any(|e| matches!(e, ProposerEvent::EpochUnclaimed { epoch: 0, .. })),
        );
        assert_eq!(w.proposer.metrics().claims_count(), 1);
    })
    .await;
}
