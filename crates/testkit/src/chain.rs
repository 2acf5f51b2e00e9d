//! Set-ups on an anvil `TestChain` (feature `anvil`) that several crates' tests repeat: a
//! prover's escrow deposit, blocks proposed into chosen slots, quote fields ready for a claim.
//! Starting anvil and deploying is `epoch_rfq_l1::anvil::TestChain` itself.

use alloy_primitives::{Address, U256, keccak256};
use epoch_rfq_l1::anvil::TestChain;
use epoch_rfq_l1::{BlockRecord, EpochRange, L1Client};
use epoch_rfq_quote::QuoteFields;

/// Mints `amount` of fee token to dev account `account` and deposits all of it into the escrow.
pub async fn fund_and_deposit(chain: &TestChain, account: usize, amount: u64) {
    let address = chain.address(account).expect("a dev account");
    chain
        .fund(&[address], U256::from(amount))
        .await
        .expect("the token owner mints");
    chain
        .client(account)
        .await
        .expect("the account's L1 client")
        .deposit_with_approval(U256::from(amount))
        .await
        .expect("the deposit is accepted");
}

/// Dev account `proposer` (holding the fees) approves the Rollup and proposes one block in
/// each `(slot, tx count, fees)` of `blocks`, moving L1 time to each slot first. The content hash
/// of a block is `keccak256("block in slot {slot}")`. Returns the proposed blocks.
pub async fn propose_blocks(
    chain: &TestChain,
    proposer: usize,
    blocks: &[(u64, u64, u64)],
) -> Vec<BlockRecord> {
    let client = chain.client(proposer).await.expect("the proposer's client");
    client
        .approve(client.rollup_address(), U256::MAX)
        .await
        .expect("the proposer approves the Rollup");
    let mut proposed = Vec::with_capacity(blocks.len());
    for &(slot, txs, fees) in blocks {
        chain.advance_to_slot(slot).await.expect("L1 time moves");
        let p = client
            .propose(
                U256::from(txs),
                U256::from(fees),
                keccak256(format!("block in slot {slot}")),
            )
            .await
            .unwrap_or_else(|e| panic!("propose in slot {slot}: {e}"));
        proposed.push(p.block);
    }
    proposed
}

/// Fields of a good quote by `prover` for `range` on `l1`'s deployment: `bps`, `bond`, valid to
/// the last slot of the epoch's claim phase.
pub fn claim_fields(
    l1: &L1Client,
    range: &EpochRange,
    prover: Address,
    bps: u32,
    bond: u64,
) -> QuoteFields {
    QuoteFields {
        basis_point_fee: bps,
        bond_amount: U256::from(bond),
        valid_until_slot: U256::from(l1.time().claim_phase_last_slot(range.epoch)),
        ..range.quote_fields(prover, l1.rollup_address())
    }
}
