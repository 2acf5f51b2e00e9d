//! The node's view of L1: plain data, refreshed from the chain each block.

use alloy_primitives::{Address, U256};
pub use epoch_rfq_quote::TimeParams;

/// What the node knows of the contents of an epoch: the values a quote for it must carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EpochContents {
    /// First L2 block number of the epoch.
    pub init_block: U256,
    /// Last L2 block number of the epoch (inclusive).
    pub final_block: U256,
    /// Sum of the epoch's block fees.
    pub total_fees: U256,
}

/// An epoch the pool accepts quotes for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EpochView {
    /// The epoch number.
    pub epoch: u64,
    /// Its block range and fees, when known (`None`: not read yet, or the epoch is still in
    /// progress); when `None` the pool does not check those fields.
    pub contents: Option<EpochContents>,
    /// A proof claim exists for it on L1: its quotes can no longer be used.
    pub claimed: bool,
}

impl EpochView {
    /// An unclaimed epoch whose contents are not known.
    pub fn new(epoch: u64) -> Self {
        Self {
            epoch,
            contents: None,
            claimed: false,
        }
    }

    /// Sets the contents.
    pub fn with_contents(mut self, init_block: u64, final_block: u64, total_fees: U256) -> Self {
        self.contents = Some(EpochContents {
            init_block: U256::from(init_block),
            final_block: U256::from(final_block),
            total_fees,
        });
        self
    }
}

/// The node's view of L1, refreshed each L1 block by the node's `ChainView` and shared by
/// every validation (SPEC §5.1). Plain data: cloning it is cheap enough to do per refresh, and
/// validation only borrows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainSnapshot {
    /// The L1 chain id (EIP-712 domain).
    pub chain_id: u64,
    /// Our Rollup contract (EIP-712 verifying contract).
    pub rollup_address: Address,
    /// L1 block the snapshot was read at.
    pub l1_block_number: u64,
    /// Timestamp of that block (seconds).
    pub l1_timestamp: u64,
    /// The current L2 slot (at `l1_timestamp`).
    pub current_slot: u64,
    /// Slot/epoch/claim-window lengths.
    pub time: TimeParams,
    /// The epoch of the oldest unproven block, if any block is unproven.
    pub epoch_to_prove: Option<EpochView>,
    /// The epoch that ended most recently (`current epoch − 1`) when it is unproven and not the
    /// epoch to prove; provers may quote for it ahead of its claim phase.
    pub just_completed_epoch: Option<EpochView>,
    /// The Rollup's minimum bond.
    pub min_bond: U256,
}

impl ChainSnapshot {
    /// The current L2 epoch.
    pub fn current_epoch(&self) -> u64 {
        self.time.epoch_of_slot(self.current_slot)
    }

    /// The epochs quotes are accepted for (epoch to prove first), regardless of their state.
    pub fn candidate_epochs(&self) -> impl Iterator<Item = &EpochView> {
        self.epoch_to_prove
            .iter()
            .chain(self.just_completed_epoch.iter())
    }

    /// The view of `epoch` if it is one of the [candidates](Self::candidate_epochs).
    pub fn view_of(&self, epoch: u64) -> Option<&EpochView> {
        self.candidate_epochs().find(|v| v.epoch == epoch)
    }

    /// True once the current slot is past `epoch`'s claim phase.
    pub fn claim_phase_over(&self, epoch: u64) -> bool {
        self.current_slot >= self.time.claim_phase_end(epoch)
    }

    /// True if quotes for `epoch` can still be claimed: it is a candidate, unclaimed, and its
    /// claim phase is not over.
    pub fn is_live(&self, epoch: u64) -> bool {
        self.view_of(epoch)
            .is_some_and(|v| !v.claimed && !self.claim_phase_over(epoch))
    }

    /// The lowest epoch the pool still needs: the smallest live candidate, or the current epoch
    /// when none is live. Everything below it is proven, pruned, claimed or past its claim phase,
    /// so the node calls `QuotePool::retain_from(snapshot.retain_floor())` on each refresh.
    pub fn retain_floor(&self) -> u64 {
        self.candidate_epochs()
            .filter(|v| self.is_live(v.epoch))
            .map(|v| v.epoch)
            .min()
            .unwrap_or_else(|| self.current_epoch())
    }
}
