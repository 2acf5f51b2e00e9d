//! Claiming with Rust-signed quotes on anvil: the good claim, and every kind of bad quote
//! rejected with the matching Rust error, by `validateClaim` (eth_call) and by the transaction.

// Helpers outside #[test] fns unwrap too: this is a test crate.
#![allow(clippy::unwrap_used)]

mod common;

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use common::*;
use epoch_rfq_l1::alloy;
use epoch_rfq_l1::bindings::Rollup;
use epoch_rfq_l1::{ClaimRejected, L1Error, signed_quote};
use epoch_rfq_quote::{EpochProofQuote, SECP256K1_ORDER};

const DEPOSIT: u64 = 100_000;
const BOND: u64 = 5_000;

/// Asserts that both `validateClaim` and the claim transaction reject `quote` with `expected`.
async fn rejects(
    w: &World,
    claimer: &epoch_rfq_l1::L1Client,
    quote: Rollup::SignedEpochProofQuote,
    expected: ClaimRejected,
) {
    let (_, ts) = w.chain.latest_block().await.unwrap();
    let err = claimer
        .validate_signed_claim(quote.clone(), claimer.sender().unwrap(), ts)
        .await
        .unwrap_err();
    assert_eq!(
        err.claim_rejected(),
        Some(&expected),
        "validateClaim: {err}"
    );
    let err = claimer.claim_signed(quote).await.unwrap_err();
    assert_eq!(err.claim_rejected(), Some(&expected), "claim: {err}");
    // Rejected in simulation: nothing was mined.
    assert!(
        matches!(err, L1Error::Reverted { tx_hash: None, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn claims_good_and_bad() {
    bounded(180, async {
        let w = world(true, DEPOSIT).await;
        let prover = w.prover.sender().unwrap();
        let prover2 = w.prover2.sender().unwrap();
        let a = w.a.sender().unwrap();
        let b = w.b.sender().unwrap();
        let chain_id = w.chain.chain_id();
        let rollup = w.a.rollup_address();

        // Nothing proposed yet.
        let dummy = w.sign(
            w.fields(&w.a.epoch_range(0).await.unwrap(), prover, 100, BOND),
            &w.prover_key,
        );
        rejects(
            &w,
            &w.a,
            signed_quote(&dummy),
            ClaimRejected::NoEpochToProve,
        )
        .await;

        w.propose_in(&[(1, 1_000), (2, 2_000), (3, 3_000)]).await;
        let range = w.a.epoch_range(0).await.unwrap();
        assert_eq!((range.from_block, range.to_block), (1, 3));
        assert_eq!(range.total_fees, U256::from(6_000));
        assert_eq!(w.a.epoch_to_prove().await.unwrap(), Some(0));
        let good_fields = w.fields(&range, prover, 250, BOND);
        let good = w.sign(good_fields, &w.prover_key);
        good.verify(chain_id).unwrap();

        // Slot 3: the epoch is still running.
        rejects(
            &w,
            &w.b,
            signed_quote(&good),
            ClaimRejected::EpochNotComplete {
                epoch: 0,
                current_slot: 3,
            },
        )
        .await;

        // validateClaim at a later time: past the claim phase (slots 4 and 5).
        let time = w.chain.deployment().unwrap().time();
        let err =
            w.a.validate_claim(&good, a, time.slot_start(6))
                .await
                .unwrap_err();
        assert_eq!(
            err.claim_rejected(),
            Some(&ClaimRejected::NotInClaimPhase {
                epoch: 0,
                current_slot: 6,
                claim_phase_end_slot: 5
            })
        );

        w.chain.advance_to_slot(4).await.unwrap();
        assert_eq!(w.a.current_slot().await.unwrap(), 4);
        let (_, ts) = w.chain.latest_block().await.unwrap();
        assert_eq!(w.a.validate_claim(&good, a, ts).await.unwrap(), 0);

        // Not the proposer of slot 4 (A is).
        rejects(
            &w,
            &w.b,
            signed_quote(&good),
            ClaimRejected::NotCurrentProposer {
                caller: b,
                expected: a,
            },
        )
        .await;

        let bad = |f: epoch_rfq_quote::QuoteFields| signed_quote(&w.sign(f, &w.prover_key));
        let other_rollup = Address::repeat_byte(0x77);
        rejects(
            &w,
            &w.a,
            bad(epoch_rfq_quote::QuoteFields {
                rollup_address: other_rollup,
                ..good_fields
            }),
            ClaimRejected::WrongRollupAddress {
                quote_rollup: other_rollup,
                rollup,
            },
        )
        .await;
        rejects(
            &w,
            &w.a,
            bad(epoch_rfq_quote::QuoteFields {
                epoch_number: U256::from(1),
                ..good_fields
            }),
            ClaimRejected::EpochNumberMismatch {
                quote_epoch: U256::from(1),
                epoch_to_prove: 0,
            },
        )
        .await;
        rejects(
            &w,
            &w.a,
            bad(epoch_rfq_quote::QuoteFields {
                epoch_init_block: U256::from(2),
                ..good_fields
            }),
            ClaimRejected::EpochInitBlockMismatch {
                quote_init_block: U256::from(2),
                epoch_init_block: 1,
            },
        )
        .await;
        rejects(
            &w,
            &w.a,
            bad(epoch_rfq_quote::QuoteFields {
                epoch_final_block: U256::from(4),
                ..good_fields
            }),
            ClaimRejected::EpochFinalBlockMismatch {
                quote_final_block: U256::from(4),
                epoch_final_block: 3,
            },
        )
        .await;
        rejects(
            &w,
            &w.a,
            bad(epoch_rfq_quote::QuoteFields {
                total_fees: U256::from(5_999),
                ..good_fields
            }),
            ClaimRejected::TotalFeesMismatch {
                quote_total_fees: U256::from(5_999),
                epoch_total_fees: U256::from(6_000),
            },
        )
        .await;
        rejects(
            &w,
            &w.a,
            bad(epoch_rfq_quote::QuoteFields {
                valid_until_slot: U256::from(3),
                ..good_fields
            }),
            ClaimRejected::QuoteExpired {
                valid_until_slot: 3,
                current_slot: 4,
            },
        )
        .await;
        // A fee above 10000 cannot be built by the quote crate: sign the struct by hand.
        let too_high = epoch_rfq_quote::QuoteFields {
            basis_point_fee: 10_001,
            ..good_fields
        };
        rejects(
            &w,
            &w.a,
            hand_signed(&too_high, &w.prover_key, chain_id),
            ClaimRejected::BasisPointFeeTooHigh {
                basis_point_fee: U256::from(10_001),
            },
        )
        .await;
        rejects(
            &w,
            &w.a,
            bad(epoch_rfq_quote::QuoteFields {
                bond_amount: U256::from(999),
                ..good_fields
            }),
            ClaimRejected::BondTooLow {
                bond_amount: U256::from(999),
                min_bond: U256::from(1000),
            },
        )
        .await;

        // Signatures.
        let mut short = signed_quote(&good);
        short.signature = short.signature.slice(..64);
        rejects(
            &w,
            &w.a,
            short,
            ClaimRejected::InvalidSignatureLength {
                length: U256::from(64),
            },
        )
        .await;
        let mut sig = *good.signature();
        sig[64] = 29;
        let bad_v = EpochProofQuote::from_parts(good_fields, sig).unwrap();
        rejects(
            &w,
            &w.a,
            signed_quote(&bad_v),
            ClaimRejected::InvalidSignatureV { v: 29 },
        )
        .await;
        // The malleable twin (n − s, other parity): same signer, rejected for high s.
        let mut sig = *good.signature();
        let high_s = SECP256K1_ORDER - good.s();
        sig[32..64].copy_from_slice(&high_s.to_be_bytes::<32>());
        sig[64] = if good.v() == 27 { 28 } else { 27 };
        let twin = EpochProofQuote::from_parts(good_fields, sig).unwrap();
        rejects(
            &w,
            &w.a,
            signed_quote(&twin),
            ClaimRejected::SignatureHighS { s: high_s.into() },
        )
        .await;
        // Signed by another key than the prover's.
        let by_other = w.sign(
            epoch_rfq_quote::QuoteFields {
                prover: prover2,
                ..good_fields
            },
            &w.prover2_key,
        );
        let forged = EpochProofQuote::from_parts(good_fields, *by_other.signature()).unwrap();
        let err = w.a.claim_epoch_proof_right(&forged).await.unwrap_err();
        match err.claim_rejected() {
            Some(ClaimRejected::InvalidSignature {
                prover: p,
                recovered,
            }) => {
                assert_eq!(*p, prover);
                assert_ne!(*recovered, prover);
            }
            other => panic!("expected InvalidSignature, got {other:?} ({err})"),
        }
        // A prover without escrow deposit.
        let poor = w.sign(
            epoch_rfq_quote::QuoteFields {
                prover: prover2,
                ..good_fields
            },
            &w.prover2_key,
        );
        rejects(
            &w,
            &w.a,
            signed_quote(&poor),
            ClaimRejected::InsufficientEscrow {
                prover: prover2,
                available: U256::ZERO,
                bond_amount: U256::from(BOND),
            },
        )
        .await;

        // Messages read as sentences.
        let err =
            w.a.claim_signed(bad(epoch_rfq_quote::QuoteFields {
                valid_until_slot: U256::from(3),
                ..good_fields
            }))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "claimEpochProofRight reverted: quote expired: valid until slot 3, current slot 4"
        );

        // Nothing of the above changed anything.
        assert_eq!(w.a.proof_claim().await.unwrap(), None);
        assert_eq!(w.a.deposits(prover).await.unwrap(), U256::from(DEPOSIT));

        // The good claim.
        let l1_from = w.chain.latest_block().await.unwrap().0;
        let tx = w.a.claim_epoch_proof_right(&good).await.unwrap();
        let claim = w.a.proof_claim().await.unwrap().expect("claimed");
        assert_eq!(claim.epoch, 0);
        assert_eq!(claim.bond_provider, prover);
        assert_eq!(claim.proposer_claimant, a);
        assert_eq!(claim.basis_point_fee, 250);
        assert_eq!(claim.bond_amount, U256::from(BOND));
        assert_eq!(w.a.claim(0).await.unwrap(), Some(claim));
        assert_eq!(w.a.staked_bonds(prover).await.unwrap(), U256::from(BOND));
        assert_eq!(
            w.a.deposits(prover).await.unwrap(),
            U256::from(DEPOSIT - BOND)
        );
        let events = w.a.proof_right_claimed_events(l1_from, None).await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(
            (
                events[0].epoch,
                events[0].prover,
                events[0].proposer,
                events[0].slot
            ),
            (0, prover, a, 4)
        );
        assert_eq!(events[0].at.tx_hash, tx.tx_hash);

        // Already claimed.
        let second = w.sign(good_fields, &w.prover_key);
        rejects(
            &w,
            &w.a,
            signed_quote(&second),
            ClaimRejected::EpochAlreadyClaimed {
                epoch: 0,
                bond_provider: prover,
            },
        )
        .await;

        // Past the claim phase.
        w.chain.advance_to_slot(6).await.unwrap();
        rejects(
            &w,
            &w.a,
            signed_quote(&second),
            ClaimRejected::NotInClaimPhase {
                epoch: 0,
                current_slot: 6,
                claim_phase_end_slot: 5,
            },
        )
        .await;
    })
    .await
}

#[tokio::test]
async fn pending_withdrawal_does_not_back_a_bond() {
    bounded(120, async {
        let w = world(true, DEPOSIT).await;
        let prover = w.prover.sender().unwrap();
        w.propose_in(&[(1, 10), (3, 20)]).await;
        w.prover
            .start_withdraw(U256::from(DEPOSIT - 500))
            .await
            .unwrap();
        w.chain.advance_to_slot(4).await.unwrap();
        let range = w.a.epoch_range(0).await.unwrap();
        let q = w.sign(w.fields(&range, prover, 0, BOND), &w.prover_key);
        let err = w.a.claim_epoch_proof_right(&q).await.unwrap_err();
        assert_eq!(
            err.claim_rejected(),
            Some(&ClaimRejected::InsufficientEscrow {
                prover,
                available: U256::from(500),
                bond_amount: U256::from(BOND)
            })
        );
    })
    .await
}

#[tokio::test]
async fn revert_after_send_is_decoded() {
    // Two proposers (no validator set: anyone may claim) claim in the same L1 block. Both pass
    // simulation; the second one mined reverts on chain and the reason is recovered by replay.
    bounded(120, async {
        let w = world(false, DEPOSIT).await;
        w.prover2
            .deposit_with_approval(U256::from(DEPOSIT))
            .await
            .unwrap();
        w.propose_in(&[(1, 10), (2, 20)]).await;
        w.chain.advance_to_slot(4).await.unwrap();
        let range = w.a.epoch_range(0).await.unwrap();
        let q1 = w.sign(
            w.fields(&range, w.prover.sender().unwrap(), 100, BOND),
            &w.prover_key,
        );
        let q2 = w.sign(
            w.fields(&range, w.prover2.sender().unwrap(), 200, BOND),
            &w.prover2_key,
        );

        w.chain.set_automine(false).await.unwrap();
        // Fixed gas: estimation (against the pending state) would already see the other claim.
        let (a, b) = (
            w.a.clone().with_gas_limit(1_000_000),
            w.b.clone().with_gas_limit(1_000_000),
        );
        let t1 = tokio::spawn(async move { a.claim_epoch_proof_right(&q1).await });
        let t2 = tokio::spawn(async move { b.claim_epoch_proof_right(&q2).await });
        // Wait until both are in the mempool (pending nonces moved), then mine them together.
        let provider = w.chain.provider();
        for who in [w.a.sender().unwrap(), w.b.sender().unwrap()] {
            loop {
                let latest = provider.get_transaction_count(who).latest().await.unwrap();
                let pending = provider.get_transaction_count(who).pending().await.unwrap();
                if pending > latest || t1.is_finished() || t2.is_finished() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
        w.chain.mine().await.unwrap();
        w.chain.set_automine(true).await.unwrap();
        let (r1, r2) = (t1.await.unwrap(), t2.await.unwrap());
        let (ok, err) = match (r1, r2) {
            (Ok(ok), Err(err)) | (Err(err), Ok(ok)) => (ok, err),
            other => panic!("expected exactly one claim to succeed: {other:?}"),
        };
        let winner = w.a.proof_claim().await.unwrap().unwrap().bond_provider;
        let L1Error::Reverted {
            tx_hash: Some(h), ..
        } = &err
        else {
            panic!("expected a mined revert, got {err:?}");
        };
        assert_ne!(*h, ok.tx_hash);
        assert_eq!(
            err.claim_rejected(),
            Some(&ClaimRejected::EpochAlreadyClaimed {
                epoch: 0,
                bond_provider: winner
            })
        );
        assert!(err.to_string().contains("(transaction 0x"), "{err}");
    })
    .await
}
