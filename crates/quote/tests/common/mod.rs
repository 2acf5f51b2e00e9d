#![allow(dead_code)]
#![allow(clippy::unwrap_used)]
//! Helpers of this crate's integration tests. The sample fields stay here: the shared ones
//! (`epoch_rfq_testkit::sample`) are built on this crate, which its own tests do not take from
//! a crate above it (see README).

use alloy_primitives::{Address, U256};
use alloy_signer_local::PrivateKeySigner;
use epoch_rfq_quote::{EpochProofQuote, QuoteFields};
pub use epoch_rfq_testkit::sample::{CHAIN_ID, ROLLUP};

/// A fixed key (anvil's account #1).
pub fn key() -> PrivateKeySigner {
    epoch_rfq_testkit::keys::anvil_key(1)
}

pub fn fields_for(prover: Address) -> QuoteFields {
    QuoteFields {
        prover,
        epoch_number: U256::from(7),
        epoch_init_block: U256::from(57),
        epoch_final_block: U256::from(64),
        total_fees: U256::from(123_000),
        rollup_address: ROLLUP,
        basis_point_fee: 250,
        bond_amount: U256::from(1_000_000),
        valid_until_slot: U256::from(60),
    }
}

pub fn signed() -> EpochProofQuote {
    let k = key();
    fields_for(k.address()).sign(&k, CHAIN_ID).unwrap()
}
