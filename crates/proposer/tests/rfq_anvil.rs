//! The proposer on anvil with L1 time under the test's control: blocks per owned slot, the RFQ
//! (cheapest valid quote, tie-breaks, invalid quotes and their drop reasons, fallback after a
//! reverted claim), the unclaimed epoch and its prune, and the run loop.

mod common;

use std::time::Duration;

use alloy_primitives::U256;
use common::*;
use epoch_rfq_l1::L1Error;
use epoch_rfq_l1::alloy::providers::Provider;
use epoch_rfq_proposer::{ProposerError, ProposerEvent, SourceError};
use epoch_rfq_quote::{EpochProofQuote, QuoteFields};

#[tokio::test]
async fn one_block_per_owned_slot_with_fees_pulled() {
    bounded(60, async {
        let mut w = world(
            WorldOptions {
                validators: true,
                epoch_duration: 8,
                claim_window: 4,
                ..WorldOptions::default()
            },
            &[],
        )
        .await;
        let me = w.address(PROPOSER);
        let balance_before = w.reader.balance_of(me).await.expect("balance");
        let mut expected_fees = U256::ZERO;
        for slot in 1..=6u64 {
            let first = w.tick_at(slot).await;
            // A second tick in the same slot must not propose again.
            let second = w.proposer.tick().await.expect("tick");
            assert_eq!(second.proposed, None, "slot {slot}: proposed twice");
            if slot % 2 == 0 {
                let block = first.proposed.expect("our slot: a block");
                let synthetic = w.proposer.traffic().block_for_slot(slot);
                assert_eq!(block.slot, slot);
                assert_eq!(block.coinbase, me);
                assert_eq!(block.tx_count, U256::from(synthetic.tx_count));
                assert_eq!(block.total_fees, synthetic.total_fees);
                assert_eq!(block.content_hash, synthetic.content_hash);
                assert!(synthetic.tx_count >= 1 && synthetic.tx_count <= 8);
                expected_fees += synthetic.total_fees;
            } else {
                assert_eq!(
                    first.proposed, None,
                    "slot {slot} belongs to the other proposer"
                );
            }
        }
        assert_eq!(w.reader.pending_block_number().await.expect("pending"), 3);
        for (n, slot) in [(1, 2), (2, 4), (3, 6)] {
            assert_eq!(w.reader.block(n).await.expect("block").slot, slot);
        }
        // The fees were pulled from the proposer into the Rollup.
        let balance_after = w.reader.balance_of(me).await.expect("balance");
        assert_eq!(balance_before - balance_after, expected_fees);
        assert_eq!(
            w.reader
                .balance_of(w.reader.rollup_address())
                .await
                .expect("balance"),
            expected_fees
        );
        assert_eq!(w.proposer.metrics().blocks_proposed_count(), 3);
        let proposed: Vec<u64> = w
            .drain()
            .into_iter()
            .filter_map(|e| match e {
                ProposerEvent::BlockProposed {
                    block,
                    with_claim: false,
                    ..
                } => Some(block.slot),
                _ => None,
            })
            .collect();
        assert_eq!(proposed, vec![2, 4, 6]);
    })
    .await;
}

/// Proposes epoch 0's blocks (slots 1..=3; anyone proposes), returns its range.
async fn epoch_zero(w: &mut World) -> epoch_rfq_l1::EpochRange {
    w.tick_slots(1..=3).await;
    let range = w.range(0).await;
    assert_eq!((range.from_block, range.to_block), (1, 3));
    range
}

#[tokio::test]
async fn cheapest_valid_quote_is_claimed_with_the_slots_block() {
    bounded(60, async {
        let mut w = world(
            WorldOptions::default(),
            &[(3, DEPOSIT), (4, DEPOSIT), (5, DEPOSIT)],
        )
        .await;
        let range = epoch_zero(&mut w).await;
        w.push_at(w.sign(w.fields(&range, 3, 300, 2_000), 3), 1);
        w.push_at(w.sign(w.fields(&range, 4, 100, 2_000), 4), 2);
        w.push_at(w.sign(w.fields(&range, 5, 200, 5_000), 5), 3);
        w.drain();

        let report = w.tick_at(4).await; // first slot of the claim phase
        assert_eq!(report.claimed, Some((0, w.address(4))));
        let block = report.proposed.expect("proposed with the claim");
        assert_eq!(block.slot, 4);
        let claim = w.reader.claim(0).await.expect("read").expect("claimed");
        assert_eq!(claim.bond_provider, w.address(4));
        assert_eq!(claim.basis_point_fee, 100);
        assert_eq!(claim.bond_amount, U256::from(2_000));
        assert_eq!(claim.proposer_claimant, w.address(PROPOSER));
        assert_eq!(
            w.reader.staked_bonds(w.address(4)).await.expect("read"),
            U256::from(2_000)
        );

        let events = w.drain();
        assert!(events.contains(&ProposerEvent::QuotesConsidered { epoch: 0, n: 3 }), "{events:?}");
        assert!(
            events.iter().any(|e| matches!(e,
                ProposerEvent::BlockProposed { block, with_claim: true, .. } if block.slot == 4)),
            "{events:?}"
        );
        assert!(
            events.iter().any(|e| matches!(e,
                ProposerEvent::Claimed { epoch: 0, prover, fee: 100, .. } if *prover == w.address(4))),
            "{events:?}"
        );
        let m = w.proposer.metrics();
        assert_eq!(m.claims_count(), 1);
        assert_eq!(m.quotes_considered_count(), 3);
        assert_eq!(m.blocks_proposed_count(), 4); // slots 1..=4

        // Claimed: later ticks neither claim again nor propose twice.
        let again = w.proposer.tick().await.expect("tick");
        assert_eq!((again.claimed, again.proposed), (None, None));
        let next = w.tick_at(5).await;
        assert_eq!(next.claimed, None);
        assert!(next.proposed.is_some());
        assert_eq!(w.proposer.metrics().claims_count(), 1);
    })
    .await;
}

#[tokio::test]
async fn ties_go_to_the_earliest_then_the_larger_bond() {
    bounded(60, async {
        let mut w = world(
            WorldOptions::default(),
            &[(3, DEPOSIT), (4, DEPOSIT), (5, DEPOSIT)],
        )
        .await;
        let range = epoch_zero(&mut w).await;
        // Same fee. 3 has the largest bond but arrived last; 4 and 5 arrived together, 5 has the
        // larger bond.
        w.push_at(w.sign(w.fields(&range, 3, 150, 9_000), 3), 20);
        w.push_at(w.sign(w.fields(&range, 4, 150, 1_500), 4), 10);
        w.push_at(w.sign(w.fields(&range, 5, 150, 3_000), 5), 10);
        let report = w.tick_at(4).await;
        assert_eq!(report.claimed, Some((0, w.address(5))));
        let claim = w.reader.claim(0).await.expect("read").expect("claimed");
        assert_eq!(claim.bond_amount, U256::from(3_000));
    })
    .await;
}

#[tokio::test]
async fn invalid_quotes_never_win_and_are_counted() {
    bounded(60, async {
        // Prover 6 deposits less than its bond.
        let mut w = world(
            WorldOptions::default(),
            &[
                (3, DEPOSIT),
                (4, DEPOSIT),
                (5, DEPOSIT),
                (6, 500),
                (7, DEPOSIT),
            ],
        )
        .await;
        let range = epoch_zero(&mut w).await;
        // All cheaper than the valid quote of prover 3 (500 bps).
        let underfunded = w.sign(w.fields(&range, 6, 10, 1_000), 6);
        let expired = w.sign(
            QuoteFields {
                valid_until_slot: U256::from(3),
                ..w.fields(&range, 4, 20, 1_000)
            },
            4,
        );
        let wrong_range = w.sign(
            QuoteFields {
                epoch_final_block: U256::from(2),
                ..w.fields(&range, 5, 30, 1_000)
            },
            5,
        );
        // Prover 7's fields, signed by prover 5's key.
        let forged = {
            let f = w.fields(&range, 7, 40, 1_000);
            let by_5 = w.sign(
                QuoteFields {
                    prover: w.address(5),
                    ..f
                },
                5,
            );
            EpochProofQuote::from_parts(f, *by_5.signature()).expect("parts")
        };
        let bond_too_low = w.sign(w.fields(&range, 7, 50, MIN_BOND - 1), 7);
        let valid = w.sign(w.fields(&range, 3, 500, 1_000), 3);
        for (i, q) in [
            underfunded,
            expired,
            wrong_range,
            forged,
            bond_too_low,
            valid,
        ]
        .into_iter()
        .enumerate()
        {
            w.push_at(q, i as u64);
        }
        w.drain();

        let report = w.tick_at(4).await;
        assert_eq!(report.claimed, Some((0, w.address(3))));
        let m = w.proposer.metrics();
        assert_eq!(m.quotes_considered_count(), 6);
        for reason in [
            "insufficient_escrow",
            "expired",
            "wrong_block_range",
            "invalid_signature",
            "bond_too_low",
        ] {
            assert_eq!(m.quotes_dropped_count(reason), 1, "{reason}");
        }
        assert_eq!(m.claims_count(), 1);
        // No claim transaction failed: the underfunded quote was caught by validateClaim.
        assert_eq!(m.claim_failures_count("insufficient_escrow"), 0);
        let dropped: Vec<(_, &str)> = w
            .drain()
            .into_iter()
            .filter_map(|e| match e {
                ProposerEvent::QuoteDropped { prover, reason, .. } => Some((prover, reason.code())),
                _ => None,
            })
            .collect();
        assert_eq!(dropped.len(), 5, "{dropped:?}");
        assert!(dropped.contains(&(w.address(6), "insufficient_escrow")));
        assert!(dropped.contains(&(w.address(4), "expired")));
        assert!(dropped.contains(&(w.address(7), "invalid_signature")));
    })
    .await;
}

/// In the last second of slot 4 the next block is already in slot 5: a claim sent then could
/// only land in slot 5, where the cheapest quote (valid through slot 4) has expired and the claim
/// would revert. Nothing is sent; the next tick, in slot 5, drops the expired quote and claims the
/// next best.
#[tokio::test]
async fn a_claim_too_late_for_its_slot_is_not_sent_and_the_next_slot_claims_the_next_best() {
    bounded(60, async {
        let mut w = world(WorldOptions::default(), &[(3, DEPOSIT), (4, DEPOSIT)]).await;
        let range = epoch_zero(&mut w).await;
        // The cheapest quote is valid only through slot 4; the next best through slot 5.
        let time = w.chain.deployment().expect("deployed").time();
        let short = w.sign(
            QuoteFields {
                valid_until_slot: U256::from(4),
                ..w.fields(&range, 3, 50, 1_000)
            },
            3,
        );
        w.push_at(short, 1);
        w.push_at(w.sign(w.fields(&range, 4, 80, 1_000), 4), 2);
        // Allowance in place, so the claim is the tick's first transaction.
        let me = w.proposer.l1().clone();
        me.approve(me.rollup_address(), U256::MAX)
            .await
            .expect("approve");
        let sent_before = w
            .chain
            .provider()
            .get_transaction_count(me.sender().expect("signer"))
            .await
            .expect("nonce");
        w.chain.mine_at(time.slot_start(5) - 1).await.expect("mine");
        w.drain();
        let err = w.proposer.tick().await.expect_err("too late in slot 4");
        assert!(
            matches!(err, ProposerError::L1(L1Error::TooLate { .. })),
            "{err}"
        );
        assert_eq!(
            w.chain
                .provider()
                .get_transaction_count(me.sender().expect("signer"))
                .await
                .expect("nonce"),
            sent_before,
            "nothing sent"
        );

        w.chain.mine_at(time.slot_start(5)).await.expect("mine");
        let report = w.proposer.tick().await.expect("tick");
        assert_eq!(report.slot, Some(5));
        assert_eq!(report.claimed, Some((0, w.address(4))));
        let claim = w.reader.claim(0).await.expect("read").expect("claimed");
        assert_eq!(claim.bond_provider, w.address(4));
        let m = w.proposer.metrics();
        assert_eq!(m.claim_failures_count("expired"), 0, "no claim reverted");
        assert_eq!(m.quotes_dropped_count("expired"), 1);
        assert_eq!(m.claims_count(), 1);
    })
    .await;
}

#[tokio::test]
async fn no_valid_quote_leaves_the_epoch_unclaimed_and_pruned() {
    bounded(60, async {
        let mut w = world(WorldOptions::default(), &[(6, 500)]).await;
        let range = epoch_zero(&mut w).await;
        w.push_at(w.sign(w.fields(&range, 6, 10, 1_000), 6), 1);

        // Slot 4: the source is down; then it answers with the underfunded quote only.
        w.source
            .set_failure(Some(SourceError::Unavailable("test".into())));
        let r4 = w.tick_at(4).await;
        assert_eq!(r4.claimed, None);
        assert!(r4.proposed.is_some(), "the block goes out without a claim");
        assert_eq!(w.proposer.metrics().source_errors_count(), 1);
        w.source.set_failure(None);
        w.proposer.tick().await.expect("tick");
        let r5 = w.tick_at(5).await;
        assert_eq!(r5.claimed, None);
        // Seen on three ticks, counted once.
        assert_eq!(
            w.proposer
                .metrics()
                .quotes_dropped_count("insufficient_escrow"),
            1
        );
        assert_eq!(w.proposer.metrics().quotes_considered_count(), 1);
        assert_eq!(w.proposer.metrics().epochs_unclaimed_count(), 0);
        w.drain();

        // Slot 6: the claim phase (slots 4, 5) is over.
        let r6 = w.tick_at(6).await;
        assert_eq!(r6.unclaimed, Some(0));
        assert!(r6.pruned);
        let m = w.proposer.metrics();
        assert_eq!(m.epochs_unclaimed_count(), 1);
        assert_eq!(m.blocks_unclaimed_count(), 3);
        assert_eq!(m.prunes_count(), 1);
        assert_eq!(m.claims_count(), 0);
        let events = w.drain();
        assert!(
            events.contains(&ProposerEvent::EpochUnclaimed {
                epoch: 0,
                quotes_seen: 1,
                blocks: 3,
                total_fees: range.total_fees,
            }),
            "{events:?}"
        );
        assert!(
            events
                .iter()
                .any(|e| matches!(e, ProposerEvent::Pruned { epoch: Some(0), .. })),
            "{events:?}"
        );
        // Everything unproven was removed; the slot's block starts again from block 1.
        let block = r6.proposed.expect("proposed after the prune");
        assert_eq!((block.number, block.slot), (1, 6));
        assert_eq!(w.reader.epoch_to_prove().await.expect("read"), Some(1));
        // Reported once.
        let again = w.proposer.tick().await.expect("tick");
        assert_eq!((again.unclaimed, again.pruned), (None, false));
        assert_eq!(w.proposer.metrics().epochs_unclaimed_count(), 1);
    })
    .await;
}

#[tokio::test]
async fn run_ticks_every_slot_until_shutdown() {
    bounded(60, async {
        // Real time: an L1 block every second, 2-second slots, the loop polls every 200 ms.
        let w = world(
            WorldOptions {
                slot_duration: 2,
                epoch_duration: 32,
                claim_window: 4,
                polling_interval: Duration::from_millis(200),
                block_time: Some(1),
                ..WorldOptions::default()
            },
            &[],
        )
        .await;
        let World {
            chain,
            mut proposer,
            mut events,
            ..
        } = w;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            proposer
                .run(async {
                    let _ = stopped.await;
                })
                .await;
            proposer
        });
        let mut slots = Vec::new();
        while slots.len() < 3 {
            if let ProposerEvent::BlockProposed { block, .. } = events.recv().await.expect("event")
            {
                slots.push(block.slot);
            }
        }
        stop.send(()).expect("loop running");
        let proposer = task.await.expect("loop ends");
        assert!(slots.windows(2).all(|p| p[0] < p[1]), "{slots:?}");
        assert!(proposer.metrics().blocks_proposed_count() >= 3);
        drop(chain);
    })
    .await;
}

#[tokio::test]
async fn claims_only_in_its_own_slots_and_alone_once_the_block_is_out() {
    bounded(60, async {
        // Validators [PROPOSER, OTHER]: PROPOSER owns the even slots. Claim phase of epoch 0:
        // slots 4, 5, 6.
        let mut w = world(
            WorldOptions {
                validators: true,
                claim_window: 3,
                ..WorldOptions::default()
            },
            &[(3, DEPOSIT)],
        )
        .await;
        w.tick_slots(1..=3).await;
        let range = w.range(0).await;
        assert_eq!(
            (range.from_block, range.to_block),
            (1, 1),
            "only slot 2 was ours"
        );

        // Slot 4: no quotes yet, the block goes out alone.
        let r = w.tick_at(4).await;
        assert!(r.proposed.is_some() && r.claimed.is_none());
        w.push_at(w.sign(w.fields(&range, 3, 100, 1_000), 3), 1);
        // Slot 5 is the other proposer's: no claim, no block.
        let r = w.tick_at(5).await;
        assert_eq!((r.proposed, r.claimed), (None, None));
        assert_eq!(w.reader.claim(0).await.expect("read"), None);

        // Slot 6: the source is down on the first tick (block alone), back on the second: the
        // claim goes alone (claimEpochProofRight), the slot's block being out already.
        w.source
            .set_failure(Some(SourceError::Unavailable("test".into())));
        let r = w.tick_at(6).await;
        assert!(r.proposed.is_some() && r.claimed.is_none());
        w.source.set_failure(None);
        w.drain();
        let r = w.proposer.tick().await.expect("tick");
        assert_eq!(r.proposed, None);
        assert_eq!(r.claimed, Some((0, w.address(3))));
        let events = w.drain();
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, ProposerEvent::BlockProposed { .. })),
            "{events:?}"
        );
        let claim = w.reader.claim(0).await.expect("read").expect("claimed");
        assert_eq!(claim.proposer_claimant, w.address(PROPOSER));
        assert_eq!(w.proposer.metrics().blocks_proposed_count(), 3);
    })
    .await;
}
