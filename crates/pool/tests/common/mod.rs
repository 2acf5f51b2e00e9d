#![allow(dead_code, clippy::unwrap_used)]
//! Shared helpers: a fixed chain view and signed quotes for it.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use alloy_primitives::{Address, U256, address};
use alloy_signer_local::PrivateKeySigner;
use epoch_rfq_pool::{ChainSnapshot, EpochView, TimeParams};
use epoch_rfq_quote::{EpochProofQuote, QuoteFields, VerifiedQuote};

pub const CHAIN_ID: u64 = 31337;
pub const ROLLUP: Address = address!("5FbDB2315678afecb367f032d93F642f64180aa3");

/// Epoch 7 (blocks 57..=64, fees 123000) is the epoch to prove; current slot 65 (epoch 8, in
/// epoch 7's claim phase, which ends before slot 68).
pub fn snapshot() -> ChainSnapshot {
    ChainSnapshot {
        chain_id: CHAIN_ID,
        rollup_address: ROLLUP,
        l1_block_number: 300,
        l1_timestamp: 1_700_000_000,
        current_slot: 65,
        time: TimeParams::SANDBOX,
        epoch_to_prove: Some(EpochView::new(7).with_contents(57, 64, U256::from(123_000))),
        just_completed_epoch: None,
        min_bond: U256::from(1000),
    }
}

/// Deterministic keys (index → key), cached.
pub fn key(i: usize) -> PrivateKeySigner {
    static KEYS: OnceLock<Mutex<HashMap<usize, PrivateKeySigner>>> = OnceLock::new();
    let keys = KEYS.get_or_init(Default::default);
    let mut keys = keys.lock().unwrap();
    keys.entry(i)
        .or_insert_with(|| {
            let mut b = [0u8; 32];
            b[24..].copy_from_slice(&(i as u64 + 1).to_be_bytes());
            b[0] = 0x11;
            PrivateKeySigner::from_slice(&b).unwrap()
        })
        .clone()
}

/// Fields of a quote valid against [`snapshot`] for prover `i`.
pub fn fields(i: usize) -> QuoteFields {
    QuoteFields {
        prover: key(i).address(),
        epoch_number: U256::from(7),
        epoch_init_block: U256::from(57),
        epoch_final_block: U256::from(64),
        total_fees: U256::from(123_000),
        rollup_address: ROLLUP,
        basis_point_fee: 250,
        bond_amount: U256::from(1_000_000),
        valid_until_slot: U256::from(67),
    }
}

pub fn sign(i: usize, f: QuoteFields) -> EpochProofQuote {
    f.sign(&key(i), CHAIN_ID).unwrap()
}

pub fn verified(i: usize, f: QuoteFields) -> VerifiedQuote {
    sign(i, f).verify(CHAIN_ID).unwrap()
}

/// A verified quote for (epoch, prover i) with the given fee, validity and bond (cached: signing
/// is the slow part of the property tests).
pub fn quote(epoch: u64, i: usize, fee: u32, valid: u64, bond: u64) -> VerifiedQuote {
    type Key = (u64, usize, u32, u64, u64);
    static CACHE: OnceLock<Mutex<HashMap<Key, VerifiedQuote>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(q) = cache.lock().unwrap().get(&(epoch, i, fee, valid, bond)) {
        return q.clone();
    }
    let f = QuoteFields {
        epoch_number: U256::from(epoch),
        basis_point_fee: fee,
        valid_until_slot: U256::from(valid),
        bond_amount: U256::from(bond),
        ..fields(i)
    };
    let q = verified(i, f);
    cache
        .lock()
        .unwrap()
        .insert((epoch, i, fee, valid, bond), q.clone());
    q
}
