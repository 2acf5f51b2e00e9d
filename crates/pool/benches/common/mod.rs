#![allow(dead_code)]
//! Quotes for the benches: `n` distinct provers, valid against [`snapshot`].

use alloy_primitives::{Address, U256};
use alloy_signer_local::PrivateKeySigner;
use epoch_rfq_pool::{ChainSnapshot, EpochView, TimeParams};
use epoch_rfq_quote::{EpochProofQuote, QuoteFields};

pub const CHAIN_ID: u64 = 31337;

pub fn rollup() -> Address {
    Address::repeat_byte(0x42)
}

pub fn snapshot() -> ChainSnapshot {
    ChainSnapshot {
        chain_id: CHAIN_ID,
        rollup_address: rollup(),
        l1_block_number: 300,
        l1_timestamp: 1_700_000_000,
        current_slot: 65,
        time: TimeParams::SANDBOX,
        epoch_to_prove: Some(EpochView::new(7).with_contents(57, 64, U256::from(123_000))),
        just_completed_epoch: None,
        min_bond: U256::from(1000),
    }
}

/// `n` signed quotes for `epoch` from `n` distinct provers, fees spread over 0..10000.
pub fn quotes(n: usize, epoch: u64) -> Vec<EpochProofQuote> {
    (0..n)
        .map(|i| {
            let mut b = [0u8; 32];
            b[0] = 0x33;
            b[24..].copy_from_slice(&(i as u64 + 1).to_be_bytes());
            let key = PrivateKeySigner::from_slice(&b).expect("valid key");
            QuoteFields {
                prover: key.address(),
                epoch_number: U256::from(epoch),
                epoch_init_block: U256::from(57),
                epoch_final_block: U256::from(64),
                total_fees: U256::from(123_000),
                rollup_address: rollup(),
                basis_point_fee: ((i * 7919) % 10_001) as u32,
                bond_amount: U256::from(1_000_000 + i as u64),
                valid_until_slot: U256::from(67),
            }
            .sign(&key, CHAIN_ID)
            .expect("sign")
        })
        .collect()
}
