//! Synthetic L2 traffic: the contents of the blocks the proposer posts (the L2 itself is out of
//! scope, SPEC §1). A block is a tx count, its total fees and a content hash committing to the
//! list of per-tx fees.
//!
//! The generator is a pure function of `(seed, slot)`: a restarted proposer posts the same block
//! for the same slot, and tests can predict every block.

use alloy_primitives::{B256, U256, keccak256};

use crate::config::TrafficConfig;

/// The contents of one synthetic block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntheticBlock {
    /// The slot it is for.
    pub slot: u64,
    /// Number of transactions.
    pub tx_count: u64,
    /// Sum of the transactions' fees (pulled from the proposer by `propose`).
    pub total_fees: U256,
    /// keccak256 over the seed, the slot and every transaction's fee.
    pub content_hash: B256,
}

/// Deterministic traffic from a [`TrafficConfig`].
#[derive(Debug, Clone)]
pub struct TrafficGenerator {
    config: TrafficConfig,
}

/// Domain tag of the content hash, so it cannot collide with another keccak use.
const CONTENT_TAG: &[u8] = b"epoch-rfq synthetic block v1";

impl TrafficGenerator {
    /// A generator (the config is assumed validated: `min ≤ max` for both ranges).
    pub fn new(config: TrafficConfig) -> Self {
        Self { config }
    }

    /// The configuration.
    pub fn config(&self) -> &TrafficConfig {
        &self.config
    }

    /// The block for `slot`.
    pub fn block_for_slot(&self, slot: u64) -> SyntheticBlock {
        let c = &self.config;
        // One stream per (seed, slot): SplitMix64 seeded from both. SplitMix64 is written out here
        // (instead of a rand RNG) because its output is fixed by its definition, never by a crate
        // version, so the blocks of a seed stay the same across upgrades.
        let mut rng = SplitMix64(c.seed ^ slot.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17));
        let tx_count = rng.in_range(c.min_txs, c.max_txs);
        let capacity = usize::try_from(tx_count).map_or(0, |n| n.saturating_mul(32));
        let mut buf = Vec::with_capacity(CONTENT_TAG.len() + 16 + capacity);
        buf.extend_from_slice(CONTENT_TAG);
        buf.extend_from_slice(&c.seed.to_be_bytes());
        buf.extend_from_slice(&slot.to_be_bytes());
        let mut total = U256::ZERO;
        for _ in 0..tx_count {
            let fee = rng.u256_in_range(c.fee_per_tx_min, c.fee_per_tx_max);
            total = total.saturating_add(fee);
            buf.extend_from_slice(&fee.to_be_bytes::<32>());
        }
        SyntheticBlock {
            slot,
            tx_count,
            total_fees: total,
            content_hash: keccak256(&buf),
        }
    }

    /// The most fees one block can carry (for sizing the fee-token approval).
    pub fn max_block_fees(&self) -> U256 {
        self.config
            .fee_per_tx_max
            .saturating_mul(U256::from(self.config.max_txs))
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014), the reference constants.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `lo..=hi` (modulo bias is irrelevant for synthetic traffic).
    fn in_range(&mut self, lo: u64, hi: u64) -> u64 {
        let span = hi.saturating_sub(lo);
        if span == u64::MAX {
            return self.next_u64();
        }
        lo + self.next_u64() % (span + 1)
    }

    fn u256_in_range(&mut self, lo: U256, hi: U256) -> U256 {
        if hi <= lo {
            return lo;
        }
        let span = hi - lo;
        let r = U256::from_limbs([
            self.next_u64(),
            self.next_u64(),
            self.next_u64(),
            self.next_u64(),
        ]);
        match span.checked_add(U256::from(1)) {
            Some(n) => lo + r % n,
            None => r, // the whole U256 range
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(seed: u64) -> TrafficConfig {
        TrafficConfig {
            seed,
            min_txs: 2,
            max_txs: 5,
            fee_per_tx_min: U256::from(10),
            fee_per_tx_max: U256::from(20),
        }
    }

    #[test]
    fn deterministic_per_seed_and_slot() {
        let g = TrafficGenerator::new(config(7));
        assert_eq!(g.block_for_slot(3), g.block_for_slot(3));
        assert_eq!(
            g.block_for_slot(3),
            TrafficGenerator::new(config(7)).block_for_slot(3)
        );
        assert_ne!(
            g.block_for_slot(3).content_hash,
            g.block_for_slot(4).content_hash
        );
        assert_ne!(
            g.block_for_slot(3).content_hash,
            TrafficGenerator::new(config(8))
                .block_for_slot(3)
                .content_hash
        );
    }

    #[test]
    fn within_ranges() {
        let g = TrafficGenerator::new(config(1));
        let mut counts = std::collections::BTreeSet::new();
        for slot in 0..500 {
            let b = g.block_for_slot(slot);
            assert!((2..=5).contains(&b.tx_count), "{b:?}");
            let n = U256::from(b.tx_count);
            assert!(b.total_fees >= n * U256::from(10) && b.total_fees <= n * U256::from(20));
            counts.insert(b.tx_count);
        }
        assert_eq!(counts.len(), 4, "every tx count in range shows up");
        assert_eq!(g.max_block_fees(), U256::from(100));
    }

    #[test]
    fn degenerate_ranges() {
        let g = TrafficGenerator::new(TrafficConfig {
            seed: 0,
            min_txs: 0,
            max_txs: 0,
            fee_per_tx_min: U256::from(5),
            fee_per_tx_max: U256::from(5),
        });
        let b = g.block_for_slot(9);
        assert_eq!((b.tx_count, b.total_fees), (0, U256::ZERO));
        let g = TrafficGenerator::new(TrafficConfig {
            seed: 0,
            min_txs: 3,
            max_txs: 3,
            fee_per_tx_min: U256::from(5),
            fee_per_tx_max: U256::from(5),
        });
        assert_eq!(g.block_for_slot(9).total_fees, U256::from(15));
    }
}
