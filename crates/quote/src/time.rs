//! Chain time (SPEC §3): slots and epochs from L1 timestamps, claim phases and proof deadlines.
//!
//! Pure arithmetic over the Rollup's immutable time parameters, identical to the contract's
//! (`getSlotAt`, `getEpochAtSlot`, the claim checks, `isPruneDue`), so callers can plan without a
//! round trip. All slot ranges are half-open `[start, end)` unless a name says "last".

use std::ops::Range;

use serde::{Deserialize, Serialize};

/// The Rollup's time parameters (immutable after deployment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimeParams {
    /// Unix time of slot 0 (the deployment block's timestamp).
    pub genesis: u64,
    /// Seconds per slot.
    pub slot_duration: u64,
    /// Slots per epoch.
    pub epoch_duration: u64,
    /// Slots of the claim phase at the start of the next epoch (< `epoch_duration`).
    pub claim_window: u64,
}

impl TimeParams {
    /// The sandbox defaults of SPEC §3 (slot 4 s, epoch 8 slots, claim window 4 slots) with
    /// genesis at Unix time 0; code that maps slots to wall time sets `genesis` from the chain.
    pub const SANDBOX: Self = Self {
        genesis: 0,
        slot_duration: 4,
        epoch_duration: 8,
        claim_window: 4,
    };

    /// The slot of L1 time `timestamp`; `None` before genesis (the contract reverts there).
    pub fn slot_at(&self, timestamp: u64) -> Option<u64> {
        timestamp
            .checked_sub(self.genesis)
            .map(|dt| dt / self.slot_duration.max(1))
    }

    /// The epoch of `slot`.
    pub fn epoch_of_slot(&self, slot: u64) -> u64 {
        slot / self.epoch_duration.max(1)
    }

    /// The epoch of L1 time `timestamp`.
    pub fn epoch_at(&self, timestamp: u64) -> Option<u64> {
        self.slot_at(timestamp).map(|s| self.epoch_of_slot(s))
    }

    /// Unix time at which `slot` starts (`getTimestampForSlot`).
    pub fn slot_start(&self, slot: u64) -> u64 {
        self.genesis
            .saturating_add(slot.saturating_mul(self.slot_duration))
    }

    /// First slot of `epoch`.
    pub fn epoch_start_slot(&self, epoch: u64) -> u64 {
        epoch.saturating_mul(self.epoch_duration.max(1))
    }

    /// The slots of `epoch`.
    pub fn epoch_slots(&self, epoch: u64) -> Range<u64> {
        self.epoch_start_slot(epoch)..self.epoch_start_slot(epoch.saturating_add(1))
    }

    /// Whether `epoch` is complete at `slot` (its last slot has passed).
    pub fn is_epoch_complete(&self, epoch: u64, slot: u64) -> bool {
        slot >= self.epoch_start_slot(epoch.saturating_add(1))
    }

    /// The claim phase of `epoch` (as the epoch to prove): the first `claim_window` slots of the
    /// next epoch.
    pub fn claim_phase(&self, epoch: u64) -> Range<u64> {
        let start = self.epoch_start_slot(epoch.saturating_add(1));
        start..start.saturating_add(self.claim_window)
    }

    /// The first slot *after* `epoch`'s claim phase (exclusive end of [`Self::claim_phase`]).
    pub fn claim_phase_end(&self, epoch: u64) -> u64 {
        self.claim_phase(epoch).end
    }

    /// Last slot (inclusive) in which `epoch` can be claimed: the default `validUntilSlot` of a
    /// quote (SPEC §6.3).
    pub fn claim_phase_last_slot(&self, epoch: u64) -> u64 {
        self.claim_phase(epoch).end.saturating_sub(1)
    }

    /// Whether `slot` is in the claim phase of `epoch`.
    pub fn in_claim_phase(&self, epoch: u64, slot: u64) -> bool {
        self.claim_phase(epoch).contains(&slot)
    }

    /// The proof deadline of `epoch`: the first slot in which a proof is too late (the start of
    /// the epoch after next).
    pub fn proof_deadline_slot(&self, epoch: u64) -> u64 {
        self.epoch_start_slot(epoch.saturating_add(2))
    }

    /// Whether pruning is due at `slot` for the epoch to prove `epoch` (`isPruneDue`).
    pub fn is_prune_due(&self, epoch: u64, claimed: bool, slot: u64) -> bool {
        if claimed {
            slot >= self.proof_deadline_slot(epoch)
        } else {
            slot >= self.claim_phase(epoch).end
        }
    }

    /// Seconds per epoch.
    pub fn epoch_seconds(&self) -> u64 {
        self.epoch_duration.saturating_mul(self.slot_duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: TimeParams = TimeParams {
        genesis: 1000,
        slot_duration: 4,
        epoch_duration: 8,
        claim_window: 4,
    };

    #[test]
    fn slots_and_epochs() {
        assert_eq!(T.slot_at(999), None);
        assert_eq!(T.slot_at(1000), Some(0));
        assert_eq!(T.slot_at(1003), Some(0));
        assert_eq!(T.slot_at(1004), Some(1));
        assert_eq!(T.epoch_at(1000 + 4 * 8), Some(1));
        assert_eq!(T.slot_start(3), 1012);
        assert_eq!(T.epoch_slots(2), 16..24);
    }

    #[test]
    fn claim_phase_and_deadline() {
        assert!(!T.is_epoch_complete(0, 7));
        assert!(T.is_epoch_complete(0, 8));
        assert_eq!(T.claim_phase(0), 8..12);
        assert_eq!(T.claim_phase_last_slot(0), 11);
        assert!(T.in_claim_phase(0, 11));
        assert!(!T.in_claim_phase(0, 12));
        assert_eq!(T.proof_deadline_slot(0), 16);
        assert!(!T.is_prune_due(0, false, 11));
        assert!(T.is_prune_due(0, false, 12));
        assert!(!T.is_prune_due(0, true, 15));
        assert!(T.is_prune_due(0, true, 16));
    }
}
