//! The RFQ's pure parts: the local checks of a quote against the proposer's view of L1, the
//! reasons a quote is dropped, and the ranking of the rest. No I/O: the [`crate::Proposer`] feeds
//! them what it read from L1 and does the `validateClaim` pre-checks and claims.

use std::cmp::Ordering;
use std::time::SystemTime;

use alloy_primitives::{Address, U256};
use epoch_rfq_l1::{ClaimRejected, EpochRange};
use epoch_rfq_quote::{MAX_BASIS_POINT_FEE, QuoteError, VerifiedQuote};

use crate::source::ReceivedQuote;

/// Why the proposer did not use a quote. [`code`](Self::code) is the metric label and log field;
/// the same code is used whether the local check or L1 (`validateClaim`, a reverted claim) found
/// the problem, so the counters read the same either way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DropReason {
    /// The signature does not verify for this chain (wrong key, malformed, high-s, or signed for
    /// another chain id or rollup, which changes the digest).
    #[error("invalid signature: {0}")]
    InvalidSignature(QuoteError),
    /// `rollupAddress` is not this proposer's Rollup.
    #[error("quote is for rollup {quote}, not {expected}")]
    WrongRollup {
        /// The quote's `rollupAddress`.
        quote: Address,
        /// Ours.
        expected: Address,
    },
    /// `epochNumber` is not the epoch to prove.
    #[error("quote is for epoch {quote}, the epoch to prove is {expected}")]
    WrongEpoch {
        /// The quote's `epochNumber`.
        quote: U256,
        /// The epoch to prove.
        expected: u64,
    },
    /// `epochInitBlock..=epochFinalBlock` is not the epoch's block range on L1.
    #[error("quote covers blocks {quote_init}..={quote_final}, the epoch is {init}..={final_}")]
    WrongBlockRange {
        /// The quote's `epochInitBlock`.
        quote_init: U256,
        /// The quote's `epochFinalBlock`.
        quote_final: U256,
        /// The epoch's first block.
        init: u64,
        /// The epoch's last block.
        final_: u64,
    },
    /// `totalFees` is not the epoch's fees on L1.
    #[error("quote prices fees of {quote}, the epoch's are {expected}")]
    WrongTotalFees {
        /// The quote's `totalFees`.
        quote: U256,
        /// The epoch's.
        expected: U256,
    },
    /// `validUntilSlot` is before the current slot.
    #[error("quote expired: valid until slot {valid_until_slot}, current slot {current_slot}")]
    Expired {
        /// The quote's `validUntilSlot`.
        valid_until_slot: U256,
        /// The slot of the check.
        current_slot: u64,
    },
    /// `basisPointFee` above 10000.
    #[error("basis point fee {0} is above 10000")]
    FeeTooHigh(U256),
    /// `bondAmount` below the Rollup's minimum bond.
    #[error("bond {bond} is below the minimum bond {min_bond}")]
    BondTooLow {
        /// The quote's `bondAmount`.
        bond: U256,
        /// The Rollup's minimum.
        min_bond: U256,
    },
    /// L1 (`validateClaim` or the claim transaction) rejected the quote with this claim check.
    /// Only checks about the quote itself end up here (see
    /// [`from_claim_rejected`](Self::from_claim_rejected)).
    #[error("rejected by L1: {0}")]
    Rejected(ClaimRejected),
    /// L1 rejected the claim for a reason that is not a claim check (an undecodable revert, an
    /// escrow error). The text is the L1 error.
    #[error("rejected by L1: {0}")]
    L1Rejected(String),
}

impl DropReason {
    /// The stable snake_case code (metric label, log field).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidSignature(_) => "invalid_signature",
            Self::WrongRollup { .. } => "wrong_rollup",
            Self::WrongEpoch { .. } => "wrong_epoch",
            Self::WrongBlockRange { .. } => "wrong_block_range",
            Self::WrongTotalFees { .. } => "wrong_total_fees",
            Self::Expired { .. } => "expired",
            Self::FeeTooHigh(_) => "fee_too_high",
            Self::BondTooLow { .. } => "bond_too_low",
            Self::Rejected(c) => claim_check_code(c).unwrap_or("l1_rejected"),
            Self::L1Rejected(_) => "l1_rejected",
        }
    }

    /// The drop reason for a claim check that failed on L1, or `None` when the check is about the
    /// situation (no epoch to prove, not its claim phase, already claimed, not our slot) rather
    /// than the quote: then no quote would pass, and the RFQ stops for this tick instead of
    /// blaming quotes.
    pub fn from_claim_rejected(c: &ClaimRejected) -> Option<Self> {
        claim_check_code(c).map(|_| Self::Rejected(c.clone()))
    }
}

/// The drop code of a quote-specific claim check (the same code as the local check of the same
/// rule), `None` for the checks about the situation.
fn claim_check_code(c: &ClaimRejected) -> Option<&'static str> {
    use ClaimRejected as C;
    Some(match c {
        C::NoEpochToProve
        | C::EpochNotComplete { .. }
        | C::NotInClaimPhase { .. }
        | C::EpochAlreadyClaimed { .. }
        | C::NotCurrentProposer { .. } => return None,
        C::WrongRollupAddress { .. } => "wrong_rollup",
        C::EpochNumberMismatch { .. } => "wrong_epoch",
        C::EpochInitBlockMismatch { .. } | C::EpochFinalBlockMismatch { .. } => "wrong_block_range",
        C::TotalFeesMismatch { .. } => "wrong_total_fees",
        C::QuoteExpired { .. } => "expired",
        C::BasisPointFeeTooHigh { .. } => "fee_too_high",
        C::BondTooLow { .. } => "bond_too_low",
        C::InvalidSignatureLength { .. }
        | C::InvalidSignatureV { .. }
        | C::SignatureHighS { .. }
        | C::InvalidSignature { .. } => "invalid_signature",
        C::InsufficientEscrow { .. } => "insufficient_escrow",
    })
}

/// What the local checks compare a quote with: the proposer's view of L1 this tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainView {
    /// L1 chain id (signature domain).
    pub chain_id: u64,
    /// The Rollup.
    pub rollup: Address,
    /// The epoch to prove and its blocks and fees.
    pub epoch: EpochRange,
    /// The current slot.
    pub current_slot: u64,
    /// The Rollup's minimum bond.
    pub min_bond: U256,
}

/// Checks one quote locally, in the Rollup's order except for the signature, which comes first:
/// before it verifies, `prover` is only a claim, and a drop reason attributed to a prover must not
/// be forgeable by anyone who copies its address.
pub fn local_check(q: &ReceivedQuote, view: &ChainView) -> Result<VerifiedQuote, DropReason> {
    let verified = q.quote.verify(view.chain_id).map_err(|e| match e {
        QuoteError::FeeTooHigh { fee } => DropReason::FeeTooHigh(U256::from(fee)),
        e => DropReason::InvalidSignature(e),
    })?;
    let f = verified.fields();
    if f.rollup_address != view.rollup {
        return Err(DropReason::WrongRollup {
            quote: f.rollup_address,
            expected: view.rollup,
        });
    }
    if f.epoch_number != U256::from(view.epoch.epoch) {
        return Err(DropReason::WrongEpoch {
            quote: f.epoch_number,
            expected: view.epoch.epoch,
        });
    }
    if f.epoch_init_block != U256::from(view.epoch.from_block)
        || f.epoch_final_block != U256::from(view.epoch.to_block)
    {
        return Err(DropReason::WrongBlockRange {
            quote_init: f.epoch_init_block,
            quote_final: f.epoch_final_block,
            init: view.epoch.from_block,
            final_: view.epoch.to_block,
        });
    }
    if f.total_fees != view.epoch.total_fees {
        return Err(DropReason::WrongTotalFees {
            quote: f.total_fees,
            expected: view.epoch.total_fees,
        });
    }
    if f.valid_until_slot < U256::from(view.current_slot) {
        return Err(DropReason::Expired {
            valid_until_slot: f.valid_until_slot,
            current_slot: view.current_slot,
        });
    }
    // Unreachable through `verify` (which refuses it), kept so this function states every rule.
    if f.basis_point_fee > MAX_BASIS_POINT_FEE {
        return Err(DropReason::FeeTooHigh(U256::from(f.basis_point_fee)));
    }
    if f.bond_amount < view.min_bond {
        return Err(DropReason::BondTooLow {
            bond: f.bond_amount,
            min_bond: view.min_bond,
        });
    }
    Ok(verified)
}

/// A locally valid quote, ready to be ranked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The verified quote.
    pub quote: VerifiedQuote,
    /// When it was received.
    pub received_at: SystemTime,
}

/// The RFQ's order (SPEC §7): lowest `basisPointFee`, then earliest received, then larger bond;
/// the quote id last, so the order is total and the same on every run.
pub fn compare(a: &Candidate, b: &Candidate) -> Ordering {
    let (fa, fb) = (a.quote.fields(), b.quote.fields());
    fa.basis_point_fee
        .cmp(&fb.basis_point_fee)
        .then(a.received_at.cmp(&b.received_at))
        .then(fb.bond_amount.cmp(&fa.bond_amount))
        .then(a.quote.id().cmp(&b.quote.id()))
}

/// Sorts candidates best first.
pub fn rank(candidates: &mut [Candidate]) {
    candidates.sort_by(compare);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use alloy_signer_local::PrivateKeySigner;
    use epoch_rfq_quote::QuoteFields;

    use super::*;

    const CHAIN: u64 = 31337;

    fn view() -> ChainView {
        ChainView {
            chain_id: CHAIN,
            rollup: Address::repeat_byte(0x42),
            epoch: EpochRange {
                epoch: 3,
                from_block: 10,
                to_block: 13,
                total_fees: U256::from(5_000),
            },
            current_slot: 17,
            min_bond: U256::from(1_000),
        }
    }

    fn fields(key: &PrivateKeySigner) -> QuoteFields {
        let v = view();
        QuoteFields {
            basis_point_fee: 100,
            bond_amount: U256::from(2_000),
            valid_until_slot: U256::from(17),
            ..v.epoch.quote_fields(key.address(), v.rollup)
        }
    }

    fn received(f: QuoteFields, key: &PrivateKeySigner, at_secs: u64) -> ReceivedQuote {
        ReceivedQuote::new(
            f.sign(key, CHAIN).expect("signs"),
            SystemTime::UNIX_EPOCH + Duration::from_secs(at_secs),
        )
    }

    fn code(r: Result<VerifiedQuote, DropReason>) -> &'static str {
        match r {
            Ok(_) => "ok",
            Err(e) => e.code(),
        }
    }

    #[test]
    fn every_local_rule() {
        let key = PrivateKeySigner::random();
        let v = view();
        let check = |f: QuoteFields| code(local_check(&received(f, &key, 0), &v));
        assert_eq!(check(fields(&key)), "ok");
        assert_eq!(
            check(QuoteFields {
                rollup_address: Address::repeat_byte(1),
                ..fields(&key)
            }),
            "wrong_rollup"
        );
        assert_eq!(
            check(QuoteFields {
                epoch_number: U256::from(2),
                ..fields(&key)
            }),
            "wrong_epoch"
        );
        assert_eq!(
            check(QuoteFields {
                epoch_final_block: U256::from(14),
                ..fields(&key)
            }),
            "wrong_block_range"
        );
        assert_eq!(
            check(QuoteFields {
                epoch_init_block: U256::from(9),
                ..fields(&key)
            }),
            "wrong_block_range"
        );
        assert_eq!(
            check(QuoteFields {
                total_fees: U256::from(4_999),
                ..fields(&key)
            }),
            "wrong_total_fees"
        );
        assert_eq!(
            check(QuoteFields {
                valid_until_slot: U256::from(16),
                ..fields(&key)
            }),
            "expired"
        );
        assert_eq!(
            check(QuoteFields {
                bond_amount: U256::from(999),
                ..fields(&key)
            }),
            "bond_too_low"
        );
        // Signed for another chain: the digest differs, the signer does not recover.
        let other_chain = ReceivedQuote::now(fields(&key).sign(&key, 1).expect("signs"));
        assert_eq!(code(local_check(&other_chain, &v)), "invalid_signature");
        // Someone else's key under this prover's address.
        let forged = {
            let mut f = fields(&key);
            let other = PrivateKeySigner::random();
            f.prover = other.address();
            let good = f.sign(&other, CHAIN).expect("signs");
            f.prover = key.address();
            epoch_rfq_quote::EpochProofQuote::from_parts(f, *good.signature()).expect("parts")
        };
        assert_eq!(
            code(local_check(&ReceivedQuote::now(forged), &v)),
            "invalid_signature"
        );
    }

    #[test]
    fn claim_rejections_map_to_the_same_codes() {
        let c = |r: ClaimRejected| DropReason::from_claim_rejected(&r).map(|d| d.code());
        assert_eq!(c(ClaimRejected::NoEpochToProve), None);
        assert_eq!(
            c(ClaimRejected::NotCurrentProposer {
                caller: Address::ZERO,
                expected: Address::ZERO
            }),
            None
        );
        assert_eq!(
            c(ClaimRejected::InsufficientEscrow {
                prover: Address::ZERO,
                available: U256::ZERO,
                bond_amount: U256::from(1)
            }),
            Some("insufficient_escrow")
        );
        assert_eq!(
            c(ClaimRejected::QuoteExpired {
                valid_until_slot: 3,
                current_slot: 4
            }),
            Some("expired")
        );
        assert_eq!(
            c(ClaimRejected::EpochFinalBlockMismatch {
                quote_final_block: U256::from(1),
                epoch_final_block: 2
            }),
            Some("wrong_block_range")
        );
        assert_eq!(
            c(ClaimRejected::InvalidSignatureV { v: 0 }),
            Some("invalid_signature")
        );
    }

    #[test]
    fn ranking_fee_then_arrival_then_bond() {
        let keys: Vec<_> = (0..4).map(|_| PrivateKeySigner::random()).collect();
        let v = view();
        let cand = |i: usize, bps: u32, bond: u64, at: u64| {
            let f = QuoteFields {
                basis_point_fee: bps,
                bond_amount: U256::from(bond),
                ..fields(&keys[i])
            };
            let r = received(f, &keys[i], at);
            Candidate {
                quote: local_check(&r, &v).expect("valid"),
                received_at: r.received_at,
            }
        };
        let mut c = vec![
            cand(0, 200, 5_000, 1),
            cand(1, 100, 2_000, 5),
            cand(2, 100, 9_000, 5),
            cand(3, 100, 1_000, 2),
        ];
        rank(&mut c);
        let order: Vec<Address> = c.iter().map(|c| c.quote.signer()).collect();
        assert_eq!(
            order,
            vec![
                keys[3].address(), // 100 bps, earliest
                keys[2].address(), // 100 bps, same time, larger bond
                keys[1].address(),
                keys[0].address(), // most expensive
            ]
        );
    }
}
