//! The node's view of L1, behind a trait so the L1 crate can supply the real one.

use std::collections::HashMap;

use alloy_primitives::{Address, B256, U256};
use epoch_rfq_pool::{ChainSnapshot, EscrowView};
use futures::future::BoxFuture;
use parking_lot::Mutex;

use crate::history::MarketEvent;
use crate::types::L1ContractAddresses;

/// Failure of an L1 read (transport, decoding, contract revert). The node logs it, counts it
/// and keeps its previous snapshot.
#[derive(Debug, thiserror::Error)]
#[error("L1 read failed: {0}")]
pub struct ChainViewError(pub Box<dyn std::error::Error + Send + Sync>);

impl ChainViewError {
    /// An error from a message.
    pub fn msg(m: impl Into<String>) -> Self {
        Self(m.into().into())
    }
}

/// How the node reads L1. Implemented by the L1 crate (alloy, against the Rollup and the
/// escrow contracts) and by test fakes.
///
/// Boxed futures keep the trait object-safe (`Arc<dyn ChainView>`), so the node type does not
/// depend on the L1 implementation.
pub trait ChainView: Send + Sync + 'static {
    /// A fresh snapshot: called every [`crate::NodeConfig::refresh_interval`]. Should read
    /// everything at one L1 block so the snapshot is consistent.
    fn snapshot(&self) -> BoxFuture<'_, Result<ChainSnapshot, ChainViewError>>;

    /// What `prover` can still bond: its free escrow deposit minus its pending withdrawal
    /// (saturating). `Ok(None)` when the implementation does not know (the check is then
    /// skipped). Only called when [`crate::NodeConfig::check_escrow`] is on, at most once per
    /// prover per refresh (the node caches answers until the next snapshot).
    fn escrow_available(
        &self,
        prover: Address,
    ) -> BoxFuture<'_, Result<Option<U256>, ChainViewError>> {
        let _ = prover;
        Box::pin(async { Ok(None) })
    }

    /// The L1 contract addresses this node serves (`node_getL1ContractAddresses`).
    fn l1_contract_addresses(&self) -> L1ContractAddresses;

    /// The market's L1 events (claims, proofs, slashes, prunes) in L1 blocks
    /// `from_l1_block..=to_l1_block`, in chain order, for the node's history. The default
    /// knows none (views without an event log, e.g. test fakes).
    fn market_events(
        &self,
        from_l1_block: u64,
        to_l1_block: u64,
    ) -> BoxFuture<'_, Result<Vec<MarketEvent>, ChainViewError>> {
        let _ = (from_l1_block, to_l1_block);
        Box::pin(async { Ok(Vec::new()) })
    }

    /// The hash of L1 block `number` on the current chain, so the history can tell a reorg
    /// under its cursor. The default knows none (no reorg check).
    fn block_hash(&self, number: u64) -> BoxFuture<'_, Result<Option<B256>, ChainViewError>> {
        let _ = number;
        Box::pin(async { Ok(None) })
    }
}

/// Escrow answers cached until the next snapshot, bounded in size.
#[derive(Default)]
pub(crate) struct EscrowCache {
    entries: Mutex<HashMap<Address, Option<U256>>>,
}

/// Entries kept at most; beyond it the cache is cleared (a spammer with many keys costs L1
/// reads, not memory).
const ESCROW_CACHE_MAX: usize = 10_000;

impl EscrowCache {
    pub(crate) fn get(&self, prover: &Address) -> Option<Option<U256>> {
        self.entries.lock().get(prover).copied()
    }

    pub(crate) fn put(&self, prover: Address, value: Option<U256>) {
        let mut e = self.entries.lock();
        if e.len() >= ESCROW_CACHE_MAX {
            e.clear();
        }
        e.insert(prover, value);
    }

    pub(crate) fn clear(&self) {
        self.entries.lock().clear();
    }
}

/// An [`EscrowView`] answering one already-fetched value.
pub(crate) struct KnownEscrow(pub(crate) Option<U256>);

impl EscrowView for KnownEscrow {
    fn available_bond(&self, _prover: Address) -> Option<U256> {
        self.0
    }
}
