//! What the node's bench binaries share: a node on a fixed L1 view (no chain needed) and the
//! environment knobs (the sample epoch is `epoch_rfq_testkit::sample`'s). Each bench uses a
//! part of it.
#![allow(dead_code, unused_imports)]

use std::str::FromStr;

use alloy_primitives::Address;
use epoch_rfq_node::{ChainSnapshot, ChainView, ChainViewError, L1ContractAddresses};
use futures::future::BoxFuture;

pub use epoch_rfq_testkit::sample::{CHAIN_ID, EPOCH, snapshot};

pub fn rollup() -> Address {
    epoch_rfq_testkit::sample::ROLLUP
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

/// The knob `name` from the environment, or `default` when unset or unparsable.
pub fn env<T: FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
