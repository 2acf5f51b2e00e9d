#![allow(dead_code)]
#![allow(clippy::unwrap_used)]
//! Shared helpers for the integration tests.

use alloy_primitives::{Address, B256, U256, address};
use alloy_signer_local::PrivateKeySigner;
use epoch_rfq_quote::{EpochProofQuote, QuoteFields};

pub const CHAIN_ID: u64 = 31337;
pub const ROLLUP: Address = address!("5FbDB2315678afecb367f032d93F642f64180aa3");

/// A fixed key (anvil's account #1).
pub fn key() -> PrivateKeySigner {
    let k: B256 = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
        .parse()
        .unwrap();
    PrivateKeySigner::from_bytes(&k).unwrap()
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
