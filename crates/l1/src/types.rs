//! Domain types returned by the clients, and the conversions between the quote crate's
//! [`EpochProofQuote`] and the contract's `SignedEpochProofQuote`.

use alloy::primitives::{Address, B256, Bytes, U256};
use epoch_rfq_quote::{EpochProofQuote, QuoteFields};
use serde::{Deserialize, Serialize};

use crate::bindings::Rollup;

/// The addresses of one deployed set: the Rollup and the contracts it works with. Embedded (and
/// flattened in JSON, keys `rollup`, `escrow`, `feeToken`, `verifier`) by [`crate::Deployment`]
/// and [`crate::RollupInfo`]; the node's `node_getL1ContractAddresses` answer converts from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContractAddresses {
    /// The Rollup.
    #[serde(with = "crate::serde_util::address")]
    pub rollup: Address,
    /// Its ProofCommitmentEscrow (created by the Rollup).
    #[serde(with = "crate::serde_util::address")]
    pub escrow: Address,
    /// The FeeToken (ERC20 of fees, deposits and bonds).
    #[serde(with = "crate::serde_util::address")]
    pub fee_token: Address,
    /// The epoch proof verifier.
    #[serde(with = "crate::serde_util::address")]
    pub verifier: Address,
}

/// The claim on an epoch (`EpochProofClaim`). `None` is returned instead of the all-zero claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Claim {
    /// The claimed epoch.
    pub epoch: u64,
    /// The prover's share of the fees in basis points.
    pub basis_point_fee: u32,
    /// The staked bond.
    #[serde(with = "crate::serde_util::u256_dec")]
    pub bond_amount: U256,
    /// The prover (whose deposit backs the bond, who gets the fee share).
    #[serde(with = "crate::serde_util::address")]
    pub bond_provider: Address,
    /// The proposer that claimed.
    #[serde(with = "crate::serde_util::address")]
    pub proposer_claimant: Address,
}

impl Claim {
    /// `None` for the contract's "no claim" (zero bond provider).
    pub(crate) fn from_sol(c: &Rollup::EpochProofClaim) -> Option<Self> {
        if c.bondProvider == Address::ZERO {
            return None;
        }
        Some(Self {
            epoch: sat(c.epochToProve),
            // The contract only stores fees ≤ 10000 (checked at claim).
            basis_point_fee: u32::try_from(c.basisPointFee).unwrap_or(u32::MAX),
            bond_amount: c.bondAmount,
            bond_provider: c.bondProvider,
            proposer_claimant: c.proposerClaimant,
        })
    }
}

/// An L2 block as the Rollup records it (`BlockLog`), with its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockRecord {
    /// L2 block number (from 1).
    pub number: u64,
    /// The slot it was proposed in.
    pub slot: u64,
    /// Number of L2 transactions.
    pub tx_count: U256,
    /// Fees it carries (paid by the proposer into the Rollup).
    #[serde(with = "crate::serde_util::u256_dec")]
    pub total_fees: U256,
    /// Commitment to its contents (enters the proof's public inputs).
    pub content_hash: B256,
    /// Its proposer; gets the non-prover share of the fees.
    #[serde(with = "crate::serde_util::address")]
    pub coinbase: Address,
}

/// The blocks of an epoch: `from_block..=to_block` and their fees (`getEpochBlocks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EpochRange {
    /// The epoch.
    pub epoch: u64,
    /// First block (inclusive); 0 when the epoch has no blocks.
    pub from_block: u64,
    /// Last block (inclusive); 0 when the epoch has no blocks.
    pub to_block: u64,
    /// Sum of the blocks' fees.
    #[serde(with = "crate::serde_util::u256_dec")]
    pub total_fees: U256,
}

impl EpochRange {
    /// Whether the epoch has any (unpruned) block.
    pub fn is_empty(&self) -> bool {
        self.from_block == 0
    }

    /// Number of blocks.
    pub fn block_count(&self) -> u64 {
        if self.is_empty() {
            0
        } else {
            self.to_block - self.from_block + 1
        }
    }

    /// The block numbers.
    pub fn blocks(&self) -> std::ops::RangeInclusive<u64> {
        if self.is_empty() {
            #[allow(clippy::reversed_empty_ranges)]
            return 1..=0;
        }
        self.from_block..=self.to_block
    }

    /// The quote fields a prover prices for this epoch (everything but the price, the bond and
    /// the expiry, which the caller fills in).
    pub fn quote_fields(&self, prover: Address, rollup: Address) -> QuoteFields {
        QuoteFields {
            prover,
            epoch_number: U256::from(self.epoch),
            epoch_init_block: U256::from(self.from_block),
            epoch_final_block: U256::from(self.to_block),
            total_fees: self.total_fees,
            rollup_address: rollup,
            ..QuoteFields::default()
        }
    }
}

/// A pending escrow withdrawal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingWithdrawal {
    /// Amount requested (earmarked inside the free deposit).
    #[serde(with = "crate::serde_util::u256_dec")]
    pub amount: U256,
    /// Unix time from which `executeWithdraw` succeeds.
    pub executable_at: u64,
}

/// A prover's position in the escrow and its wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EscrowStatus {
    /// The account.
    #[serde(with = "crate::serde_util::address")]
    pub account: Address,
    /// Free (unstaked) deposit, including the pending withdrawal.
    #[serde(with = "crate::serde_util::u256_dec")]
    pub free: U256,
    /// The pending withdrawal, if any.
    pub pending: Option<PendingWithdrawal>,
    /// What may back a new bond: free minus pending.
    #[serde(with = "crate::serde_util::u256_dec")]
    pub available_for_bond: U256,
    /// Bonds staked for claims.
    #[serde(with = "crate::serde_util::u256_dec")]
    pub staked: U256,
    /// FeeToken balance of the wallet.
    #[serde(with = "crate::serde_util::u256_dec")]
    pub wallet_balance: U256,
    /// FeeToken allowance of the escrow.
    #[serde(with = "crate::serde_util::u256_dec")]
    pub escrow_allowance: U256,
}

/// Where an event was emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogPosition {
    /// L1 block number.
    pub l1_block: u64,
    /// Transaction hash.
    pub tx_hash: B256,
    /// Log index in the block.
    pub log_index: u64,
}

impl LogPosition {
    pub(crate) fn of(log: &alloy::rpc::types::Log) -> Self {
        Self {
            l1_block: log.block_number.unwrap_or_default(),
            tx_hash: log.transaction_hash.unwrap_or_default(),
            log_index: log.log_index.unwrap_or_default(),
        }
    }
}

/// `ProofRightClaimed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProofRightClaimed {
    /// The epoch.
    pub epoch: u64,
    /// The prover.
    pub prover: Address,
    /// The proposer that claimed.
    pub proposer: Address,
    /// The staked bond.
    pub bond_amount: U256,
    /// The prover's share in basis points.
    pub basis_point_fee: u32,
    /// The slot of the claim.
    pub slot: u64,
    /// Where.
    pub at: LogPosition,
}

/// `EpochProven`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EpochProven {
    /// The epoch.
    pub epoch: u64,
    /// First block.
    pub from_block: u64,
    /// Last block.
    pub to_block: u64,
    /// Who got the fee share (the claim's prover, or the submitter without a claim).
    pub prover: Address,
    /// The fee share paid.
    pub prover_reward: U256,
    /// Where.
    pub at: LogPosition,
}

/// `BondSlashed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BondSlashed {
    /// The epoch that was not proven in time.
    pub epoch: u64,
    /// The prover.
    pub prover: Address,
    /// The slashed bond.
    pub amount: U256,
    /// Where.
    pub at: LogPosition,
}

/// `L2BlockProposed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockProposed {
    /// The new block.
    pub block: BlockRecord,
    /// Where.
    pub at: LogPosition,
}

/// `PrunedPending`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrunedPending {
    /// The epoch to prove at the time.
    pub epoch: u64,
    /// First removed block.
    pub from_block: u64,
    /// Last removed block.
    pub to_block: u64,
    /// Where.
    pub at: LogPosition,
}

/// The outcome of a mined transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TxOutcome {
    /// Transaction hash.
    pub tx_hash: B256,
    /// L1 block it was mined in.
    pub l1_block: u64,
    /// Gas used.
    pub gas_used: u64,
}

/// Saturating `U256 → u64` for chain values that are bounded in practice.
pub(crate) fn sat(v: U256) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// The contract's quote struct from the quote crate's fields.
pub fn sol_quote(fields: &QuoteFields) -> Rollup::EpochProofQuote {
    Rollup::EpochProofQuote {
        prover: fields.prover,
        epochNumber: fields.epoch_number,
        epochInitBlock: fields.epoch_init_block,
        epochFinalBlock: fields.epoch_final_block,
        totalFees: fields.total_fees,
        rollupAddress: fields.rollup_address,
        basisPointFee: fields.basis_point_fee,
        bondAmount: fields.bond_amount,
        validUntilSlot: fields.valid_until_slot,
    }
}

/// The quote crate's fields from the contract's quote struct.
pub fn quote_fields(q: &Rollup::EpochProofQuote) -> QuoteFields {
    QuoteFields {
        prover: q.prover,
        epoch_number: q.epochNumber,
        epoch_init_block: q.epochInitBlock,
        epoch_final_block: q.epochFinalBlock,
        total_fees: q.totalFees,
        rollup_address: q.rollupAddress,
        basis_point_fee: q.basisPointFee,
        bond_amount: q.bondAmount,
        valid_until_slot: q.validUntilSlot,
    }
}

/// The contract's signed quote (`SignedEpochProofQuote`) from a quote-crate quote.
pub fn signed_quote(quote: &EpochProofQuote) -> Rollup::SignedEpochProofQuote {
    Rollup::SignedEpochProofQuote {
        quote: sol_quote(quote.fields()),
        signature: Bytes::copy_from_slice(quote.signature()),
    }
}

impl From<&EpochProofQuote> for Rollup::SignedEpochProofQuote {
    fn from(q: &EpochProofQuote) -> Self {
        signed_quote(q)
    }
}

impl From<&QuoteFields> for Rollup::EpochProofQuote {
    fn from(f: &QuoteFields) -> Self {
        sol_quote(f)
    }
}

impl TryFrom<&Rollup::SignedEpochProofQuote> for EpochProofQuote {
    type Error = crate::L1Error;

    /// Fails when the signature is not 65 bytes or the fee is above 10000 (which the quote crate
    /// cannot represent; such a struct can only be built by hand).
    fn try_from(s: &Rollup::SignedEpochProofQuote) -> Result<Self, Self::Error> {
        let sig: [u8; epoch_rfq_quote::SIGNATURE_LEN] =
            s.signature.as_ref().try_into().map_err(|_| {
                crate::L1Error::InvalidArgument(format!(
                    "signature is {} bytes, not {}",
                    s.signature.len(),
                    epoch_rfq_quote::SIGNATURE_LEN
                ))
            })?;
        EpochProofQuote::from_parts(quote_fields(&s.quote), sig)
            .map_err(|e| crate::L1Error::InvalidArgument(e.to_string()))
    }
}
