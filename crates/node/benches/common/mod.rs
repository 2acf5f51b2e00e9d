//! What the node's bench binaries share: a node on a fixed L1 view (no chain needed) and the
//! environment knobs. Each bench uses a part of it.
#![allow(dead_code)]

use std::str::FromStr;

use alloy_primitives::{Address, U256};
use epoch_rfq_node::{
    ChainSnapshot, ChainView, ChainViewError, EpochView, L1ContractAddresses, TimeParams,
};
use futures::future::BoxFuture;

pub const CHAIN_ID: u64 = 31337;
/// The epoch to prove in [`snapshot`].
pub const EPOCH: u64 = 7;

pub fn rollup() -> Address {
    Address::repeat_byte(0x42)
}

/// A chain view that always answers the same snapshot.
pub struct StaticChain(pub ChainSnapshot);

impl ChainView for StaticChain {
    fn snapshot(&self) -> BoxFuture<'_, Result<ChainSnapshot, ChainViewError>> {
        let s = self.0.clone();
        Box::pin(async move { Ok(s) })
    }
    fn l1_contract_addresses(&self) -> L1ContractAddresses {
        L1ContractAddresses {
            rollup_address: rollup(),
            ..Default::default()
        }
    }
}

/// Epoch [`EPOCH`] (blocks 57–64, fees 123,000) in its claim phase, sandbox times.
pub fn snapshot() -> ChainSnapshot {
    ChainSnapshot {
        chain_id: CHAIN_ID,
        rollup_address: rollup(),
        l1_block_number: 300,
        l1_timestamp: 1_700_000_000,
        current_slot: 65,
        time: TimeParams::SANDBOX,
        epoch_to_prove: Some(EpochView::new(EPOCH).with_contents(57, 64, U256::from(123_000))),
        just_completed_epoch: None,
        min_bond: U256::from(1000),
    }
}

/// The knob `name` from the environment, or `default` when unset or unparsable.
pub fn env<T: FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
