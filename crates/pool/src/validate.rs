//! The validation pipeline shared by every entry path (gossip, JSON-RPC, local), SPEC §5.1.
//!
//! Pure functions of the quote, a [`ChainSnapshot`] and an optional [`EscrowView`]: no I/O, no
//! locks, so a caller can run them on any thread before taking the pool's write lock. The checks
//! run in a fixed order (cheapest chain-state checks after the signature, because a quote with a
//! bad signature must be reported as such to gossip even if it is also stale):
//!
//! 1. decode (wire bytes) — [`RejectReason::Malformed`], [`RejectReason::FeeTooHigh`]
//! 2. signature ([`EpochProofQuote::verify`]) — [`RejectReason::BadSignature`]
//! 3. chain id and rollup are ours — [`RejectReason::WrongChain`], [`RejectReason::WrongRollup`]
//! 4. epoch is the epoch to prove or the one just completed — [`RejectReason::WrongEpoch`];
//!    still claimable — [`RejectReason::EpochClaimed`], [`RejectReason::ClaimPhaseOver`]
//! 5. `epochInitBlock`, `epochFinalBlock`, `totalFees` match when the snapshot knows them
//! 6. `validUntilSlot` ≥ current slot — [`RejectReason::Expired`]
//! 7. `basisPointFee` ≤ 10000 (already enforced by decoding; kept as a guard)
//! 8. `bondAmount` ≥ min bond — [`RejectReason::BondTooLow`]
//! 9. escrow covers the bond, when known — [`RejectReason::InsufficientEscrow`]

use std::collections::HashMap;

use alloy_primitives::{Address, U256};
use epoch_rfq_quote::{
    EpochProofQuote, MAX_BASIS_POINT_FEE, QuoteError, QuoteFields, VerifiedQuote,
};

use crate::snapshot::ChainSnapshot;
use crate::store::CapacityReject;

/// The node's (cached) view of the escrow contract.
///
/// Implementations are expected to answer from a cache (the pipeline is synchronous); the node
/// fills the cache from L1 through its `ChainView`.
pub trait EscrowView {
    /// What `prover` can still bond: its free deposit minus its pending withdrawal (saturating at
    /// zero). `None` when unknown: the escrow check is then skipped (the proposer's
    /// `validateClaim` pre-check catches it later).
    fn available_bond(&self, prover: Address) -> Option<U256>;
}

/// No escrow information: the check is always skipped.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoEscrow;

impl EscrowView for NoEscrow {
    fn available_bond(&self, _prover: Address) -> Option<U256> {
        None
    }
}

impl EscrowView for HashMap<Address, U256> {
    fn available_bond(&self, prover: Address) -> Option<U256> {
        self.get(&prover).copied()
    }
}

impl<E: EscrowView + ?Sized> EscrowView for &E {
    fn available_bond(&self, prover: Address) -> Option<U256> {
        (**self).available_bond(prover)
    }
}

/// Why a quote was not accepted. Every variant has a stable [`code`](Self::code) (metrics label,
/// JSON-RPC `data.reason`) and a message (`Display`) naming the field and the values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RejectReason {
    /// The bytes or JSON are not a quote (length, version, field syntax).
    #[error("malformed quote: {0}")]
    Malformed(QuoteError),
    /// `basisPointFee` above 10000.
    #[error("basisPointFee: {fee} exceeds the maximum of {max}", max = MAX_BASIS_POINT_FEE)]
    FeeTooHigh {
        /// The fee found.
        fee: u32,
    },
    /// The signature is invalid (malleable, wrong `v`, zero, unrecoverable, or not the prover's).
    #[error("bad signature: {0}")]
    BadSignature(QuoteError),
    /// The node has no view of L1 yet (it just started and the first refresh has not
    /// succeeded).
    #[error("the node has no view of L1 yet; retry shortly")]
    ChainUnknown,
    /// The quote was verified for another chain id than ours.
    #[error("chainId: quote verified for chain {got}, this node serves chain {expected}")]
    WrongChain {
        /// Our chain id.
        expected: u64,
        /// The chain id the quote was verified for.
        got: u64,
    },
    /// `rollupAddress` is not our Rollup.
    #[error("rollupAddress: {got} is not this node's rollup {expected}")]
    WrongRollup {
        /// Our Rollup.
        expected: Address,
        /// The quote's.
        got: Address,
    },
    /// `epochNumber` is neither the epoch to prove nor the epoch just completed.
    #[error("epochNumber: {got} is not accepted (epoch to prove: {}, epoch just completed: {})",
        fmt_opt(*epoch_to_prove), fmt_opt(*just_completed))]
    WrongEpoch {
        /// The quote's epoch.
        got: U256,
        /// The epoch to prove, if any.
        epoch_to_prove: Option<u64>,
        /// The unproven epoch just completed, if any.
        just_completed: Option<u64>,
    },
    /// The epoch has not ended yet: its block range and fees are not final, so a quote for it
    /// could only be checked against contents that may still change.
    #[error(
        "epochNumber: epoch {epoch} is still in progress (current epoch {current_epoch}); quote it once it has ended"
    )]
    EpochNotComplete {
        /// The quote's epoch.
        epoch: u64,
        /// The current epoch.
        current_epoch: u64,
    },
    /// The epoch already has a proof claim on L1.
    #[error("epochNumber: epoch {epoch} is already claimed")]
    EpochClaimed {
        /// The epoch.
        epoch: u64,
    },
    /// The epoch's claim phase is over.
    #[error(
        "epochNumber: the claim phase of epoch {epoch} ended at slot {end_slot} (current slot {current_slot})"
    )]
    ClaimPhaseOver {
        /// The epoch.
        epoch: u64,
        /// First slot after its claim phase.
        end_slot: u64,
        /// The current slot.
        current_slot: u64,
    },
    /// `epochInitBlock` differs from the chain's.
    #[error("epochInitBlock: {got} does not match the chain's {expected}")]
    InitBlockMismatch {
        /// The chain's value.
        expected: U256,
        /// The quote's.
        got: U256,
    },
    /// `epochFinalBlock` differs from the chain's.
    #[error("epochFinalBlock: {got} does not match the chain's {expected}")]
    FinalBlockMismatch {
        /// The chain's value.
        expected: U256,
        /// The quote's.
        got: U256,
    },
    /// `totalFees` differs from the chain's.
    #[error("totalFees: {got} does not match the chain's {expected}")]
    TotalFeesMismatch {
        /// The chain's value.
        expected: U256,
        /// The quote's.
        got: U256,
    },
    /// `validUntilSlot` is in the past.
    #[error("validUntilSlot: {valid_until_slot} is before the current slot {current_slot}")]
    Expired {
        /// The quote's.
        valid_until_slot: U256,
        /// The current slot.
        current_slot: u64,
    },
    /// `bondAmount` below the Rollup's minimum bond.
    #[error("bondAmount: {bond} is below the minimum bond {min_bond}")]
    BondTooLow {
        /// The quote's.
        bond: U256,
        /// The Rollup's minimum.
        min_bond: U256,
    },
    /// The prover's escrow (free deposit minus pending withdrawal) cannot cover the bond.
    #[error(
        "bondAmount: {bond} exceeds what prover {prover} can bond from its escrow ({available})"
    )]
    InsufficientEscrow {
        /// The prover.
        prover: Address,
        /// Free deposit minus pending withdrawal.
        available: U256,
        /// The quote's bond.
        bond: U256,
    },
    /// The pool is at one of its caps and the quote is not cheap enough to evict another.
    #[error("{0}")]
    Capacity(CapacityReject),
}

fn fmt_opt(v: Option<u64>) -> String {
    v.map_or_else(|| "none".to_string(), |e| e.to_string())
}

impl RejectReason {
    /// Every code [`code`](Self::code) can return (for pre-registering metrics and docs).
    pub const CODES: &'static [&'static str] = &[
        "malformed",
        "fee_too_high",
        "bad_signature",
        "chain_unknown",
        "wrong_chain",
        "wrong_rollup",
        "wrong_epoch",
        "epoch_not_complete",
        "epoch_claimed",
        "claim_phase_over",
        "init_block_mismatch",
        "final_block_mismatch",
        "total_fees_mismatch",
        "expired",
        "bond_too_low",
        "insufficient_escrow",
        "pool_full_epoch",
        "pool_full_bytes",
        "pool_too_many_epochs",
        "epoch_out_of_range",
    ];

    /// A short, stable, snake_case code (metrics label, JSON-RPC error data).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::FeeTooHigh { .. } => "fee_too_high",
            Self::BadSignature(_) => "bad_signature",
            Self::ChainUnknown => "chain_unknown",
            Self::WrongChain { .. } => "wrong_chain",
            Self::WrongRollup { .. } => "wrong_rollup",
            Self::WrongEpoch { .. } => "wrong_epoch",
            Self::EpochNotComplete { .. } => "epoch_not_complete",
            Self::EpochClaimed { .. } => "epoch_claimed",
            Self::ClaimPhaseOver { .. } => "claim_phase_over",
            Self::InitBlockMismatch { .. } => "init_block_mismatch",
            Self::FinalBlockMismatch { .. } => "final_block_mismatch",
            Self::TotalFeesMismatch { .. } => "total_fees_mismatch",
            Self::Expired { .. } => "expired",
            Self::BondTooLow { .. } => "bond_too_low",
            Self::InsufficientEscrow { .. } => "insufficient_escrow",
            Self::Capacity(c) => c.code(),
        }
    }

    /// True when the input itself is invalid whatever the chain state (malformed, bad
    /// signature, fee out of range): gossip reports these as `Reject` so the sender is
    /// penalised. Everything else depends on the node's L1 view or the pool's state (another
    /// honest node may see it differently) and is reported as `Ignore`.
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            Self::Malformed(_) | Self::FeeTooHigh { .. } | Self::BadSignature(_)
        )
    }

    /// Classifies a decoding error: the fee bound gets its own reason, everything else is
    /// malformed input.
    pub fn from_decode_error(e: QuoteError) -> Self {
        match e {
            QuoteError::FeeTooHigh { fee } => Self::FeeTooHigh { fee },
            other => Self::Malformed(other),
        }
    }

    /// Classifies an error of [`EpochProofQuote::verify`].
    pub fn from_verify_error(e: QuoteError) -> Self {
        match e {
            QuoteError::FeeTooHigh { fee } => Self::FeeTooHigh { fee },
            other => Self::BadSignature(other),
        }
    }
}

/// Full pipeline from the 302-byte wire form (gossip): decode, verify, check.
pub fn validate_wire(
    bytes: &[u8],
    snapshot: &ChainSnapshot,
    escrow: &dyn EscrowView,
) -> Result<VerifiedQuote, RejectReason> {
    let quote = EpochProofQuote::from_wire(bytes).map_err(RejectReason::from_decode_error)?;
    validate_quote(&quote, snapshot, escrow)
}

/// Pipeline from a decoded quote (JSON-RPC, local): verify for the snapshot's chain id, check.
pub fn validate_quote(
    quote: &EpochProofQuote,
    snapshot: &ChainSnapshot,
    escrow: &dyn EscrowView,
) -> Result<VerifiedQuote, RejectReason> {
    let verified = quote
        .verify(snapshot.chain_id)
        .map_err(RejectReason::from_verify_error)?;
    check_verified(&verified, snapshot, escrow)?;
    Ok(verified)
}

/// The chain-state checks (steps 3–9) on an already verified quote.
pub fn check_verified(
    quote: &VerifiedQuote,
    snapshot: &ChainSnapshot,
    escrow: &dyn EscrowView,
) -> Result<(), RejectReason> {
    // 3. ours (the chain id is part of the signed digest, so it is only known once verified)
    if quote.chain_id() != snapshot.chain_id {
        return Err(RejectReason::WrongChain {
            expected: snapshot.chain_id,
            got: quote.chain_id(),
        });
    }
    check_fields(quote.fields(), snapshot, escrow)
}

/// The chain-state checks that need no signature recovery (steps 3–8, without the escrow),
/// for paths where a flood must cost little: gossip runs them *before* `verify`, so a peer
/// sending validly signed but useless quotes (another epoch, expired, …) costs the node a
/// decode and a few comparisons instead of a ~45 µs signature recovery each. Such quotes are
/// ignored, not penalised (another node may see L1 differently), which is why their cost must
/// be small. Passing it says nothing about the signature: run the full pipeline afterwards.
pub fn precheck_unverified(
    fields: &QuoteFields,
    snapshot: &ChainSnapshot,
) -> Result<(), RejectReason> {
    check_fields(fields, snapshot, &NoEscrow)
}

fn check_fields(
    f: &QuoteFields,
    snapshot: &ChainSnapshot,
    escrow: &dyn EscrowView,
) -> Result<(), RejectReason> {
    if f.rollup_address != snapshot.rollup_address {
        return Err(RejectReason::WrongRollup {
            expected: snapshot.rollup_address,
            got: f.rollup_address,
        });
    }

    // 4. the epoch
    let view = u64::try_from(f.epoch_number)
        .ok()
        .and_then(|e| snapshot.view_of(e))
        .ok_or(RejectReason::WrongEpoch {
            got: f.epoch_number,
            epoch_to_prove: snapshot.epoch_to_prove.map(|v| v.epoch),
            just_completed: snapshot.just_completed_epoch.map(|v| v.epoch),
        })?;
    if view.epoch >= snapshot.current_epoch() {
        return Err(RejectReason::EpochNotComplete {
            epoch: view.epoch,
            current_epoch: snapshot.current_epoch(),
        });
    }
    if view.claimed {
        return Err(RejectReason::EpochClaimed { epoch: view.epoch });
    }
    if snapshot.claim_phase_over(view.epoch) {
        return Err(RejectReason::ClaimPhaseOver {
            epoch: view.epoch,
            end_slot: snapshot.time.claim_phase_end(view.epoch),
            current_slot: snapshot.current_slot,
        });
    }

    // 5. the epoch's contents, when known
    if let Some(c) = &view.contents {
        if f.epoch_init_block != c.init_block {
            return Err(RejectReason::InitBlockMismatch {
                expected: c.init_block,
                got: f.epoch_init_block,
            });
        }
        if f.epoch_final_block != c.final_block {
            return Err(RejectReason::FinalBlockMismatch {
                expected: c.final_block,
                got: f.epoch_final_block,
            });
        }
        if f.total_fees != c.total_fees {
            return Err(RejectReason::TotalFeesMismatch {
                expected: c.total_fees,
                got: f.total_fees,
            });
        }
    }

    // 6. expiry (the contract requires validUntilSlot ≥ current slot)
    if f.valid_until_slot < U256::from(snapshot.current_slot) {
        return Err(RejectReason::Expired {
            valid_until_slot: f.valid_until_slot,
            current_slot: snapshot.current_slot,
        });
    }

    // 7. fee (guaranteed by `EpochProofQuote`'s constructors; a cheap guard against drift)
    if f.basis_point_fee > MAX_BASIS_POINT_FEE {
        return Err(RejectReason::FeeTooHigh {
            fee: f.basis_point_fee,
        });
    }

    // 8. bond
    if f.bond_amount < snapshot.min_bond {
        return Err(RejectReason::BondTooLow {
            bond: f.bond_amount,
            min_bond: snapshot.min_bond,
        });
    }

    // 9. escrow, when known
    if let Some(available) = escrow.available_bond(f.prover)
        && available < f.bond_amount
    {
        return Err(RejectReason::InsufficientEscrow {
            prover: f.prover,
            available,
            bond: f.bond_amount,
        });
    }
    Ok(())
}
