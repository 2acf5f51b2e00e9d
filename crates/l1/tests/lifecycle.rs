//! Whole epochs on anvil: proposed, claimed, proven and paid to the wei; or claimed, not
//! proven, pruned and slashed.

// Helpers outside #[test] fns unwrap too: this is a test crate.
#![allow(clippy::unwrap_used)]

mod common;

use alloy::primitives::{Address, Bytes, U256};
use common::*;
use epoch_rfq_l1::alloy;
use epoch_rfq_l1::{ClaimRejected, EscrowError, L1Error, RollupError, TokenError, dev_proof};

const DEPOSIT: u64 = 100_000;
const BOND: u64 = 5_000;

async fn balances(w: &World, who: &[Address]) -> Vec<U256> {
    let mut v = Vec::new();
    for a in who {
        v.push(w.owner.balance_of(*a).await.unwrap());
    }
    v
}

#[tokio::test]
async fn epoch_claimed_proven_and_paid() {
    bounded(180, async {
        let w = world(true, DEPOSIT).await;
        let (a, b) = (w.a.sender().unwrap(), w.b.sender().unwrap());
        let prover = w.prover.sender().unwrap();
        let rollup = w.a.rollup_address();
        // Fees chosen so that every block's share has a remainder (rounded down for the prover).
        w.propose_in(&[(1, 1_001), (2, 2_003), (3, 3_007)]).await;
        let blocks = w.prover.epoch_blocks(0).await.unwrap();
        assert_eq!(
            blocks.iter().map(|b| b.coinbase).collect::<Vec<_>>(),
            vec![b, a, b]
        );
        assert_eq!(
            blocks.iter().map(|b| b.slot).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );

        // Too early for a proof.
        let proof = dev_proof(w.prover.chain_id(), rollup, 0, &blocks, prover);
        let err = w
            .prover
            .submit_epoch_proof(0, proof.clone())
            .await
            .unwrap_err();
        assert_eq!(
            err.claim_rejected(),
            Some(&ClaimRejected::EpochNotComplete {
                epoch: 0,
                current_slot: 3
            })
        );

        w.chain.advance_to_slot(4).await.unwrap();
        let range = w.a.epoch_to_prove_range().await.unwrap().unwrap();
        let quote = w.sign(w.fields(&range, prover, 2_500, BOND), &w.prover_key);
        w.a.claim_epoch_proof_right(&quote).await.unwrap();
        assert_eq!(
            w.a.deposits(prover).await.unwrap(),
            U256::from(DEPOSIT - BOND)
        );

        // Wrong proofs are rejected by the verifier; a proof for another epoch is refused.
        let wrong = dev_proof(w.prover.chain_id(), rollup, 0, &blocks, a);
        let err = w.prover.submit_epoch_proof(0, wrong).await.unwrap_err();
        let expected_hash = w.a.public_inputs_hash(0, prover).await.unwrap();
        assert_eq!(
            err.rollup_error(),
            Some(&RollupError::InvalidProof {
                public_inputs_hash: expected_hash
            })
        );
        let err = w
            .prover
            .submit_epoch_proof(1, Bytes::new())
            .await
            .unwrap_err();
        assert_eq!(
            err.rollup_error(),
            Some(&RollupError::NotEpochToProve {
                epoch: U256::from(1),
                epoch_to_prove: 0
            })
        );

        w.chain.advance_to_slot(7).await.unwrap();
        let before = balances(&w, &[a, b, prover, rollup]).await;
        let l1_from = w.chain.latest_block().await.unwrap().0;
        w.prover.submit_epoch_proof(0, proof).await.unwrap();
        let after = balances(&w, &[a, b, prover, rollup]).await;

        // 25 %: 1001 → 250, 2003 → 500, 3007 → 751 to the prover; the rest to each coinbase.
        let reward = 250 + 500 + 751;
        assert_eq!(after[2] - before[2], U256::from(reward));
        assert_eq!(after[0] - before[0], U256::from(2_003 - 500));
        assert_eq!(
            after[1] - before[1],
            U256::from((1_001 - 250) + (3_007 - 751))
        );
        assert_eq!(before[3] - after[3], U256::from(1_001 + 2_003 + 3_007));
        assert_eq!(after[3], U256::ZERO);

        // The bond is back in the free deposit.
        assert_eq!(w.a.staked_bonds(prover).await.unwrap(), U256::ZERO);
        assert_eq!(w.a.deposits(prover).await.unwrap(), U256::from(DEPOSIT));
        assert_eq!(w.a.proven_block_number().await.unwrap(), 3);
        assert_eq!(w.a.epoch_to_prove().await.unwrap(), None);
        assert_eq!(w.a.proof_claim().await.unwrap(), None);
        assert!(
            w.a.claim(0).await.unwrap().is_some(),
            "the claim record stays"
        );

        let proven = w.a.epoch_proven_events(l1_from, None).await.unwrap();
        assert_eq!(proven.len(), 1);
        let e = proven[0];
        assert_eq!(
            (e.epoch, e.from_block, e.to_block, e.prover),
            (0, 1, 3, prover)
        );
        assert_eq!(e.prover_reward, U256::from(reward));
        assert!(w.a.bond_slashed_events(0, None).await.unwrap().is_empty());
        let proposed =
            w.a.block_proposed_events(w.chain.deployment().unwrap().deploy_block, None)
                .await
                .unwrap();
        assert_eq!(proposed.iter().map(|p| p.block).collect::<Vec<_>>(), blocks);
    })
    .await
}

#[tokio::test]
async fn unproven_claim_is_pruned_and_slashed() {
    bounded(180, async {
        let w = world(true, DEPOSIT).await;
        let (a, b) = (w.a.sender().unwrap(), w.b.sender().unwrap());
        let prover = w.prover.sender().unwrap();
        let slash = w.chain.address(SLASH_RECIPIENT).unwrap();
        assert_eq!(w.a.info().slash_recipient, slash);
        w.propose_in(&[(1, 100), (2, 200)]).await;
        w.chain.advance_to_slot(4).await.unwrap();
        let range = w.a.epoch_range(0).await.unwrap();
        w.a.claim_epoch_proof_right(&w.sign(w.fields(&range, prover, 1_000, BOND), &w.prover_key))
            .await
            .unwrap();

        // Until the deadline (slot 8) nothing can be pruned.
        w.chain.advance_to_slot(7).await.unwrap();
        assert!(!w.a.is_prune_due().await.unwrap());
        let err = w.owner.prune().await.unwrap_err();
        assert_eq!(err.rollup_error(), Some(&RollupError::NothingToPrune));
        assert_eq!(err.to_string(), "prune reverted: nothing to prune");

        w.chain.advance_to_slot(8).await.unwrap();
        let blocks = w.prover.epoch_blocks(0).await.unwrap();
        let proof = dev_proof(
            w.prover.chain_id(),
            w.prover.rollup_address(),
            0,
            &blocks,
            prover,
        );
        let err = w.prover.submit_epoch_proof(0, proof).await.unwrap_err();
        assert_eq!(
            err.rollup_error(),
            Some(&RollupError::ProofDeadlinePassed {
                epoch: 0,
                current_slot: 8,
                deadline_slot: 8
            })
        );
        assert!(w.a.is_prune_due().await.unwrap());

        let before = balances(&w, &[a, b, slash, prover]).await;
        let l1_from = w.chain.latest_block().await.unwrap().0;
        w.owner.prune().await.unwrap();
        let after = balances(&w, &[a, b, slash, prover]).await;

        assert_eq!(
            after[2] - before[2],
            U256::from(BOND),
            "bond slashed to the recipient"
        );
        assert_eq!(after[0] - before[0], U256::from(200), "fees refunded to A");
        assert_eq!(after[1] - before[1], U256::from(100), "fees refunded to B");
        assert_eq!(after[3], before[3]);
        assert_eq!(w.a.staked_bonds(prover).await.unwrap(), U256::ZERO);
        assert_eq!(
            w.a.deposits(prover).await.unwrap(),
            U256::from(DEPOSIT - BOND)
        );
        assert_eq!(w.a.pending_block_number().await.unwrap(), 0);
        assert_eq!(w.a.epoch_to_prove().await.unwrap(), None);
        assert_eq!(w.a.claim(0).await.unwrap(), None);
        assert!(w.a.epoch_range(0).await.unwrap().is_empty());

        let slashed = w.a.bond_slashed_events(l1_from, None).await.unwrap();
        assert_eq!(slashed.len(), 1);
        assert_eq!(
            (slashed[0].epoch, slashed[0].prover, slashed[0].amount),
            (0, prover, U256::from(BOND))
        );
        let pruned = w.a.pruned_events(l1_from, None).await.unwrap();
        assert_eq!(pruned.len(), 1);
        assert_eq!(
            (pruned[0].epoch, pruned[0].from_block, pruned[0].to_block),
            (0, 1, 2)
        );
    })
    .await
}

#[tokio::test]
async fn unclaimed_epoch_is_pruned_by_the_next_proposal() {
    bounded(120, async {
        let w = world(true, 0).await;
        w.propose_in(&[(1, 100)]).await;
        w.chain.advance_to_slot(5).await.unwrap();
        assert!(!w.a.is_prune_due().await.unwrap());
        w.chain.advance_to_slot(6).await.unwrap(); // claim phase (4, 5) over, unclaimed
        assert!(w.a.is_prune_due().await.unwrap());
        let proposed =
            w.a.propose(U256::from(1), U256::from(5), Default::default())
                .await
                .unwrap();
        // Block 1 was pruned first, so the new block is number 1 again, in epoch 1.
        assert_eq!((proposed.block.number, proposed.block.slot), (1, 6));
        assert_eq!(w.a.epoch_to_prove().await.unwrap(), Some(1));
        // Proposing twice in one slot, or out of turn.
        let err =
            w.a.propose(U256::from(1), U256::from(5), Default::default())
                .await
                .unwrap_err();
        assert_eq!(
            err.rollup_error(),
            Some(&RollupError::SlotAlreadyUsed {
                slot: 6,
                block_number: 1
            })
        );
        w.chain.advance_to_slot(7).await.unwrap();
        let err =
            w.a.propose(U256::from(1), U256::from(5), Default::default())
                .await
                .unwrap_err();
        let (a, b) = (w.a.sender().unwrap(), w.b.sender().unwrap());
        assert_eq!(
            err.claim_rejected(),
            Some(&ClaimRejected::NotCurrentProposer {
                caller: a,
                expected: b
            })
        );
    })
    .await
}

#[tokio::test]
async fn escrow_and_token_flows() {
    bounded(120, async {
        let w = world(true, 0).await;
        let p = &w.prover;
        let me = p.sender().unwrap();
        let escrow = p.escrow_address();

        let err = p.deposit(U256::from(10)).await.unwrap_err();
        assert_eq!(
            err.token_error(),
            Some(&TokenError::InsufficientAllowance {
                spender: escrow,
                allowance: U256::ZERO,
                needed: U256::from(10)
            })
        );
        let err = p.deposit(U256::ZERO).await.unwrap_err();
        assert_eq!(err.escrow_error(), Some(&EscrowError::ZeroAmount));
        p.deposit_with_approval(U256::from(10_000)).await.unwrap();
        let err = p.start_withdraw(U256::from(10_001)).await.unwrap_err();
        assert_eq!(
            err.escrow_error(),
            Some(&EscrowError::WithdrawExceedsDeposit {
                account: me,
                amount: U256::from(10_001),
                deposit: U256::from(10_000)
            })
        );
        let err = p.execute_withdraw().await.unwrap_err();
        assert_eq!(
            err.escrow_error(),
            Some(&EscrowError::NoPendingWithdrawal { account: me })
        );

        p.start_withdraw(U256::from(4_000)).await.unwrap();
        let status = p.escrow_status(me).await.unwrap();
        assert_eq!(status.free, U256::from(10_000));
        assert_eq!(status.available_for_bond, U256::from(6_000));
        assert_eq!(status.staked, U256::ZERO);
        assert_eq!(status.wallet_balance, U256::from(FUNDS - 10_000));
        let pending = status.pending.unwrap();
        assert_eq!(pending.amount, U256::from(4_000));
        let err = p.execute_withdraw().await.unwrap_err();
        assert!(
            matches!(
                err.escrow_error(),
                Some(EscrowError::WithdrawalNotReady { .. })
            ),
            "{err}"
        );

        w.chain.mine_at(pending.executable_at).await.unwrap();
        p.execute_withdraw().await.unwrap();
        assert_eq!(p.deposits(me).await.unwrap(), U256::from(6_000));
        assert_eq!(p.pending_withdrawal(me).await.unwrap(), None);
        assert_eq!(p.balance_of(me).await.unwrap(), U256::from(FUNDS - 6_000));

        // Only the owner mints; a read-only client cannot send.
        let err = p.mint(me, U256::from(1)).await.unwrap_err();
        assert_eq!(
            err.token_error(),
            Some(&TokenError::NotOwner { account: me })
        );
        let err = w
            .chain
            .reader()
            .unwrap()
            .deposit(U256::from(1))
            .await
            .unwrap_err();
        assert!(
            matches!(err, L1Error::NoSigner { call: "deposit" }),
            "{err}"
        );
    })
    .await
}
