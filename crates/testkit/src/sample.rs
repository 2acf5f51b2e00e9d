//! One fixed epoch to quote for: epoch 7, blocks 57..=64, fees 123,000, current slot 65 (epoch
//! 8, inside epoch 7's claim phase, which ends before slot 68), chain 31337. The numbers are
//! always available; its quotes need feature `quotes`, the pool's view of that chain `pool`.

#[cfg(feature = "quotes")]
use alloy_primitives::U256;
use alloy_primitives::{Address, address};
#[cfg(feature = "quotes")]
use epoch_rfq_quote::{EpochProofQuote, QuoteFields};

#[cfg(feature = "quotes")]
use crate::keys::derived_key;

/// anvil's chain id.
pub const CHAIN_ID: u64 = 31337;
/// The Rollup address of a first deployment on a fresh anvil (a fixed, realistic address).
pub const ROLLUP: Address = address!("5FbDB2315678afecb367f032d93F642f64180aa3");
/// The sample epoch.
pub const EPOCH: u64 = 7;
/// The current slot of [`snapshot`].
pub const CURRENT_SLOT: u64 = 65;
/// The last slot of the sample epoch's claim phase: the furthest a quote may be valid.
pub const LAST_CLAIM_SLOT: u64 = 67;

#[cfg(feature = "quotes")]
/// Fields of a good quote by `prover` for the sample epoch: 250 bps, bond 1,000,000, valid to
/// the end of the claim phase.
pub fn fields_for(prover: Address) -> QuoteFields {
    QuoteFields {
        prover,
        epoch_number: U256::from(EPOCH),
        epoch_init_block: U256::from(57),
        epoch_final_block: U256::from(64),
        total_fees: U256::from(123_000),
        rollup_address: ROLLUP,
        basis_point_fee: 250,
        bond_amount: U256::from(1_000_000),
        valid_until_slot: U256::from(LAST_CLAIM_SLOT),
    }
}

#[cfg(feature = "quotes")]
/// [`fields_for`] the prover of [`derived_key`]`(i)`.
pub fn fields(i: usize) -> QuoteFields {
    fields_for(derived_key(i).address())
}

#[cfg(feature = "quotes")]
/// `f` signed by [`derived_key`]`(i)` on [`CHAIN_ID`].
pub fn sign(i: usize, f: QuoteFields) -> EpochProofQuote {
    f.sign(&derived_key(i), CHAIN_ID)
        .expect("sample fields are signable")
}

#[cfg(feature = "quotes")]
/// A good signed quote of prover `i` for the sample epoch.
pub fn quote(i: usize) -> EpochProofQuote {
    sign(i, fields(i))
}

/// The pool's view of a chain whose epoch to prove is the sample epoch: L1 block 300, sandbox
/// time parameters, minimum bond 1000.
#[cfg(feature = "pool")]
pub fn snapshot() -> epoch_rfq_pool::ChainSnapshot {
    use epoch_rfq_pool::{ChainSnapshot, EpochView, TimeParams};
    ChainSnapshot {
        chain_id: CHAIN_ID,
        rollup_address: ROLLUP,
        l1_block_number: 300,
        l1_timestamp: 1_700_000_000,
        current_slot: CURRENT_SLOT,
        time: TimeParams::SANDBOX,
        epoch_to_prove: Some(EpochView::new(EPOCH).with_contents(57, 64, U256::from(123_000))),
        just_completed_epoch: None,
        min_bond: U256::from(1000),
    }
}

#[cfg(all(test, feature = "quotes"))]
mod tests {
    use super::*;

    #[test]
    fn a_sample_quote_recovers_its_prover() {
        let q = quote(4);
        let verified = q.verify(CHAIN_ID).expect("verifies");
        assert_eq!(verified.signer(), derived_key(4).address());
        assert_eq!(q.fields().epoch_number, U256::from(EPOCH));
    }

    #[cfg(feature = "pool")]
    #[test]
    fn the_snapshot_is_in_the_sample_epochs_claim_phase() {
        let s = snapshot();
        assert!(s.time.in_claim_phase(EPOCH, s.current_slot));
        assert_eq!(s.time.claim_phase_last_slot(EPOCH), LAST_CLAIM_SLOT);
    }
}
