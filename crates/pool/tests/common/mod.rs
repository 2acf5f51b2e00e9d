#![allow(dead_code, clippy::unwrap_used)]
//! Helpers of the pool's tests: the chain view matching the shared sample epoch, and verified
//! quotes. Keys, fields and signing come from `epoch_rfq_testkit`; the snapshot stays here (it is
//! this crate's type: testkit's `pool` feature, for the crates above, builds on this crate).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use alloy_primitives::U256;
use epoch_rfq_pool::{ChainSnapshot, EpochView, TimeParams};
use epoch_rfq_quote::{EpochProofQuote, QuoteFields, VerifiedQuote};
#[allow(unused_imports)]
pub use epoch_rfq_testkit::keys::derived_key as key;
#[allow(unused_imports)]
pub use epoch_rfq_testkit::sample::{CHAIN_ID, ROLLUP, fields, sign};

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

/// `n` signed quotes for `epoch` from `n` distinct provers, fees spread over 0..=10000 (the
/// benches' load).
pub fn quotes(n: usize, epoch: u64) -> Vec<EpochProofQuote> {
    (0..n)
        .map(|i| {
            let spread = u32::try_from(i * 7919 % 10_001).expect("below 10001");
            sign(
                i,
                QuoteFields {
                    epoch_number: U256::from(epoch),
                    basis_point_fee: spread,
                    bond_amount: U256::from(1_000_000 + i as u64),
                    ..fields(i)
                },
            )
        })
        .collect()
}
