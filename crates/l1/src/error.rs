//! Errors of the L1 layer, with every custom error of the contracts decoded into a Rust value
//! whose `Display` reads as a sentence.
//!
//! Layers:
//! * [`L1Error`]: what a client method returns: a decoded revert ([`L1Error::Reverted`]), an RPC
//!   or transport failure, a bad argument, a value out of range.
//! * [`Revert`]: why a call or transaction reverted, decoded against the custom errors of all
//!   three contracts (a Rollup transaction can revert inside the escrow or the token), then the
//!   Solidity `Error(string)` and `Panic(uint256)` forms.
//! * [`ClaimRejected`], [`RollupError`], [`EscrowError`], [`TokenError`]: one variant per custom
//!   error, fields named as in Solidity (snake case).
//!
//! Decoding does not depend on which method was called: `NoEpochToProve`, `EpochNotComplete` and
//! `NotCurrentProposer` are claim checks but `propose`/`submitEpochProof` use them too, and they
//! are reported as [`ClaimRejected`] there as well (their messages do not mention claims).

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::sol_types::{SolError, SolInterface};

use crate::bindings::{FeeToken, ProofCommitmentEscrow, Rollup};

/// Result of the L1 layer.
pub type Result<T, E = L1Error> = std::result::Result<T, E>;

/// Everything an [`crate::L1Client`] method can fail with.
#[derive(Debug, thiserror::Error)]
pub enum L1Error {
    /// A contract reverted, in `eth_call` (simulation, views) or in a mined transaction.
    #[error("{call} reverted: {revert}{}", tx_suffix(.tx_hash))]
    Reverted {
        /// The contract function (e.g. `claimEpochProofRight`).
        call: &'static str,
        /// The decoded reason (boxed: it is large and errors travel through every `Result`).
        revert: Box<Revert>,
        /// The transaction, when it was mined and reverted on chain.
        tx_hash: Option<B256>,
    },
    /// The RPC request failed (connection, timeout, node error that is not a revert).
    #[error("L1 RPC error during {call}: {message}")]
    Rpc {
        /// What was being done.
        call: &'static str,
        /// The transport's description.
        message: String,
    },
    /// The client was built without a signer and the method sends a transaction.
    #[error("{call} sends a transaction but this L1 client has no signing key")]
    NoSigner {
        /// The contract function.
        call: &'static str,
    },
    /// An argument is invalid before anything is sent.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A value read from L1 does not fit the Rust type (e.g. a slot above `u64::MAX`).
    #[error("{what} read from L1 is out of range: {value}")]
    OutOfRange {
        /// Which value.
        what: &'static str,
        /// The value as read.
        value: U256,
    },
    /// The address holds no contract code (wrong address, or another chain).
    #[error("no contract code at {address} (wrong {what} address, or another chain?)")]
    NoContract {
        /// Which contract was expected.
        what: &'static str,
        /// The address.
        address: Address,
    },
    /// Deployment failed for a reason other than a revert.
    #[error("deployment failed: {0}")]
    Deploy(String),
    /// A transaction could no longer be mined before its deadline and was given up.
    #[error(
        "{call} abandoned: not mined before the {what} (L1 time {deadline}) after {broadcasts} broadcast(s), last {tx_hash}; raise L1_MAX_FEE_PER_GAS_GWEI or check the L1 endpoints if this repeats"
    )]
    Abandoned {
        /// The contract function.
        call: &'static str,
        /// Which deadline ("end of the claim phase", "proof deadline").
        what: &'static str,
        /// The deadline's L1 timestamp.
        deadline: u64,
        /// The last hash broadcast.
        tx_hash: B256,
        /// How many hashes were broadcast (first + replacements).
        broadcasts: usize,
    },
    /// A transaction was sent but is not yet mined (or not yet deep enough) after the client's
    /// receipt timeout; it may still be mined and should be followed again.
    #[error("{call}: {tx_hash} {state} after {waited_s} s; it may still be mined")]
    StillPending {
        /// The contract function.
        call: &'static str,
        /// The latest hash broadcast.
        tx_hash: B256,
        /// "not mined", "mined in block N but not D blocks deep".
        state: String,
        /// Seconds waited.
        waited_s: u64,
    },
    /// The fee cap is below the chain's base fee: nothing could be mined.
    #[error(
        "L1_MAX_FEE_PER_GAS_GWEI is {cap} but the L1 base fee is {base_fee}: no transaction could be mined; set it to at least {suggested}"
    )]
    FeeCapTooLow {
        /// The cap.
        cap: String,
        /// The latest base fee.
        base_fee: String,
        /// A cap that leaves room for spikes.
        suggested: String,
    },
    /// The account's nonce was used by a transaction that is none of ours.
    #[error(
        "{call}: nonce {nonce} of {account} was used by another transaction (is this key used by another process?)"
    )]
    NonceTaken {
        /// The contract function.
        call: &'static str,
        /// The nonce.
        nonce: u64,
        /// The sending account.
        account: Address,
    },
}

fn tx_suffix(tx: &Option<B256>) -> String {
    tx.map(|h| format!(" (transaction {h})"))
        .unwrap_or_default()
}

impl L1Error {
    /// The decoded revert, if this is one.
    pub fn revert(&self) -> Option<&Revert> {
        match self {
            Self::Reverted { revert, .. } => Some(revert.as_ref()),
            _ => None,
        }
    }

    /// The rejected claim check, if this is one.
    pub fn claim_rejected(&self) -> Option<&ClaimRejected> {
        match self.revert() {
            Some(Revert::Claim(c)) => Some(c),
            _ => None,
        }
    }

    /// The Rollup error (other than a claim check), if this is one.
    pub fn rollup_error(&self) -> Option<&RollupError> {
        match self.revert() {
            Some(Revert::Rollup(e)) => Some(e),
            _ => None,
        }
    }

    /// The escrow error, if this is one.
    pub fn escrow_error(&self) -> Option<&EscrowError> {
        match self.revert() {
            Some(Revert::Escrow(e)) => Some(e),
            _ => None,
        }
    }

    /// The fee token error, if this is one.
    pub fn token_error(&self) -> Option<&TokenError> {
        match self.revert() {
            Some(Revert::Token(e)) => Some(e),
            _ => None,
        }
    }
}

/// Why a contract call reverted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Revert {
    /// A claim check of the Rollup (also `validateClaim`).
    #[error(transparent)]
    Claim(ClaimRejected),
    /// Another Rollup error.
    #[error(transparent)]
    Rollup(RollupError),
    /// A ProofCommitmentEscrow error.
    #[error(transparent)]
    Escrow(EscrowError),
    /// A FeeToken (ERC-20 / Ownable) error.
    #[error(transparent)]
    Token(TokenError),
    /// `require(…, "message")` / `revert("message")`.
    #[error("reverted: {0}")]
    Message(String),
    /// A Solidity panic (`0x11` arithmetic overflow, `0x12` division by zero, `0x32` index, …).
    #[error("panic 0x{code:x} ({})", panic_reason(*.code))]
    Panic {
        /// The panic code.
        code: u64,
    },
    /// Revert data matching none of the known errors (raw bytes; empty when the node gave none).
    #[error("{}", unknown_text(.0))]
    Unknown(Bytes),
}

fn unknown_text(data: &Bytes) -> String {
    if data.is_empty() {
        "reverted without a reason (out of gas, or no contract at the address?)".into()
    } else {
        format!("reverted with unknown error data {data}")
    }
}

fn panic_reason(code: u64) -> &'static str {
    match code {
        0x01 => "assertion failed",
        0x11 => "arithmetic overflow or underflow",
        0x12 => "division or modulo by zero",
        0x21 => "invalid enum value",
        0x31 => "pop on an empty array",
        0x32 => "array index out of bounds",
        0x41 => "out of memory",
        0x51 => "call to an uninitialised function",
        _ => "unknown panic code",
    }
}

/// The claim checks of `claimEpochProofRight` / `proposeAndClaim` / `validateClaim`, in the
/// order the Rollup applies them (SPEC §4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimRejected {
    /// No unproven block exists.
    #[error("no epoch to prove")]
    NoEpochToProve,
    /// The epoch to prove is still running.
    #[error("epoch {epoch} is not complete yet (current slot {current_slot})")]
    EpochNotComplete {
        /// The epoch to prove.
        epoch: u64,
        /// The slot of the check.
        current_slot: u64,
    },
    /// The claim phase is over (or, for validateClaim at an earlier time, has not started).
    #[error(
        "not in the claim phase of epoch {epoch}: current slot {current_slot}, claim phase ended at slot {claim_phase_end_slot}"
    )]
    NotInClaimPhase {
        /// The epoch to prove.
        epoch: u64,
        /// The slot of the check.
        current_slot: u64,
        /// Last slot (inclusive) of the claim phase.
        claim_phase_end_slot: u64,
    },
    /// Someone claimed this epoch already.
    #[error("epoch {epoch} is already claimed by prover {bond_provider}")]
    EpochAlreadyClaimed {
        /// The epoch.
        epoch: u64,
        /// The prover of the existing claim.
        bond_provider: Address,
    },
    /// The sender is not the proposer of the current slot.
    #[error("{caller} is not the current proposer (expected {expected})")]
    NotCurrentProposer {
        /// Who called.
        caller: Address,
        /// The proposer of the slot.
        expected: Address,
    },
    /// The quote is for another Rollup.
    #[error("quote is for rollup {quote_rollup}, not this rollup {rollup}")]
    WrongRollupAddress {
        /// `rollupAddress` of the quote.
        quote_rollup: Address,
        /// The Rollup that checked it.
        rollup: Address,
    },
    /// The quote is for another epoch.
    #[error("quote is for epoch {quote_epoch}, but the epoch to prove is {epoch_to_prove}")]
    EpochNumberMismatch {
        /// `epochNumber` of the quote.
        quote_epoch: U256,
        /// The epoch to prove.
        epoch_to_prove: u64,
    },
    /// The quote's first block is not the epoch's.
    #[error(
        "quote's first block is {quote_init_block}, but the epoch starts at block {epoch_init_block}"
    )]
    EpochInitBlockMismatch {
        /// `epochInitBlock` of the quote.
        quote_init_block: U256,
        /// The epoch's first block on chain.
        epoch_init_block: u64,
    },
    /// The quote's last block is not the epoch's.
    #[error(
        "quote's last block is {quote_final_block}, but the epoch ends at block {epoch_final_block}"
    )]
    EpochFinalBlockMismatch {
        /// `epochFinalBlock` of the quote.
        quote_final_block: U256,
        /// The epoch's last block on chain.
        epoch_final_block: u64,
    },
    /// The quote priced other fees.
    #[error("quote's total fees are {quote_total_fees}, but the epoch's are {epoch_total_fees}")]
    TotalFeesMismatch {
        /// `totalFees` of the quote.
        quote_total_fees: U256,
        /// The epoch's total fees on chain.
        epoch_total_fees: U256,
    },
    /// `validUntilSlot` is in the past.
    #[error("quote expired: valid until slot {valid_until_slot}, current slot {current_slot}")]
    QuoteExpired {
        /// `validUntilSlot` of the quote (below `current_slot`, so it fits).
        valid_until_slot: u64,
        /// The slot of the check.
        current_slot: u64,
    },
    /// `basisPointFee` > 10000.
    #[error("basis point fee {basis_point_fee} is above 10000")]
    BasisPointFeeTooHigh {
        /// `basisPointFee` of the quote.
        basis_point_fee: U256,
    },
    /// `bondAmount` < `minBond`.
    #[error("bond {bond_amount} is below the minimum bond {min_bond}")]
    BondTooLow {
        /// `bondAmount` of the quote.
        bond_amount: U256,
        /// The Rollup's minimum.
        min_bond: U256,
    },
    /// The signature is not 65 bytes.
    #[error("signature is {length} bytes, not 65")]
    InvalidSignatureLength {
        /// Its length.
        length: U256,
    },
    /// `v` is not 27 or 28.
    #[error("signature v is {v}, not 27 or 28")]
    InvalidSignatureV {
        /// The v byte.
        v: u8,
    },
    /// `s` > n/2 (a malleable twin).
    #[error("signature s {s} is in the upper half of the curve order (high-s)")]
    SignatureHighS {
        /// The s value.
        s: B256,
    },
    /// The signature does not recover `prover`.
    #[error("signature recovers {recovered}, not the prover {prover}")]
    InvalidSignature {
        /// `prover` of the quote.
        prover: Address,
        /// The recovered address (zero when recovery failed).
        recovered: Address,
    },
    /// The prover's free deposit minus its pending withdrawal does not cover the bond.
    #[error(
        "prover {prover} has {available} available in the escrow, below the bond {bond_amount}"
    )]
    InsufficientEscrow {
        /// `prover` of the quote.
        prover: Address,
        /// Free deposit minus pending withdrawal.
        available: U256,
        /// `bondAmount` of the quote.
        bond_amount: U256,
    },
}

/// Rollup errors that are not claim checks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RollupError {
    /// A constructor address argument (or a validator) is zero.
    #[error("zero address given")]
    ZeroAddress,
    /// `slotDuration == 0`, `claimWindow == 0` or `claimWindow >= epochDuration`.
    #[error(
        "invalid time parameters: slot duration {slot_duration} s, epoch duration {epoch_duration} slots, claim window {claim_window} slots (need slot duration > 0 and 0 < claim window < epoch duration)"
    )]
    InvalidTimeParameters {
        /// Seconds per slot.
        slot_duration: U256,
        /// Slots per epoch.
        epoch_duration: U256,
        /// Slots of the claim phase.
        claim_window: U256,
    },
    /// A time before the Rollup's genesis.
    #[error("timestamp {timestamp} is before genesis {genesis_time}")]
    TimestampBeforeGenesis {
        /// The timestamp given.
        timestamp: U256,
        /// The Rollup's genesis time.
        genesis_time: U256,
    },
    /// A block was already proposed in this slot.
    #[error("slot {slot} already has block {block_number}")]
    SlotAlreadyUsed {
        /// The current slot.
        slot: u64,
        /// The latest block.
        block_number: u64,
    },
    /// `getBlock` of a block that does not exist.
    #[error("block {block_number} not found (pending block number is {pending_block_number})")]
    BlockNotFound {
        /// The block asked for.
        block_number: U256,
        /// The Rollup's pending block number.
        pending_block_number: u64,
    },
    /// A proof for an epoch other than the epoch to prove.
    #[error("epoch {epoch} is not the epoch to prove ({epoch_to_prove})")]
    NotEpochToProve {
        /// The epoch of the proof.
        epoch: U256,
        /// The epoch to prove.
        epoch_to_prove: u64,
    },
    /// The proof came too late.
    #[error(
        "proof deadline of epoch {epoch} passed: current slot {current_slot}, deadline slot {deadline_slot}"
    )]
    ProofDeadlinePassed {
        /// The epoch.
        epoch: u64,
        /// The slot of the submission.
        current_slot: u64,
        /// First slot in which the proof is too late.
        deadline_slot: u64,
    },
    /// The verifier rejected the proof.
    #[error("proof rejected by the verifier (public inputs hash {public_inputs_hash})")]
    InvalidProof {
        /// What the proof had to attest to.
        public_inputs_hash: B256,
    },
    /// `prune()` when pruning is not due.
    #[error("nothing to prune")]
    NothingToPrune,
    /// A token transfer failed inside the Rollup.
    #[error("token transfer failed (token {token})")]
    SafeErc20FailedOperation {
        /// The token.
        token: Address,
    },
    /// An OpenZeppelin ShortStrings error (EIP-712 domain set-up; only at construction).
    #[error("EIP-712 domain string error")]
    ShortString,
}

/// ProofCommitmentEscrow errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EscrowError {
    /// A rollup-only function was called by someone else.
    #[error("{caller} is not the rollup {rollup}")]
    NotRollup {
        /// Who called.
        caller: Address,
        /// The escrow's rollup.
        rollup: Address,
    },
    /// `deposit(0)`.
    #[error("amount must not be zero")]
    ZeroAmount,
    /// A withdrawal larger than the free deposit.
    #[error("{account} cannot withdraw {amount}: free deposit is {deposit}")]
    WithdrawExceedsDeposit {
        /// The account.
        account: Address,
        /// The amount asked for.
        amount: U256,
        /// Its free deposit.
        deposit: U256,
    },
    /// `executeWithdraw` without a request.
    #[error("{account} has no pending withdrawal")]
    NoPendingWithdrawal {
        /// The account.
        account: Address,
    },
    /// `executeWithdraw` before the delay passed.
    #[error("withdrawal of {account} is not ready: executable at {executable_at}, now {now}")]
    WithdrawalNotReady {
        /// The account.
        account: Address,
        /// Unix time from which it may execute.
        executable_at: U256,
        /// The block's timestamp.
        now: U256,
    },
    /// Staking more than the available deposit.
    #[error("prover {prover} has {available} available, {required} required")]
    InsufficientAvailableDeposit {
        /// The prover.
        prover: Address,
        /// Available for a bond.
        available: U256,
        /// The bond.
        required: U256,
    },
    /// Unstaking or slashing more than is staked.
    #[error("prover {prover} has {staked} staked, {required} required")]
    InsufficientStakedBond {
        /// The prover.
        prover: Address,
        /// Staked bonds.
        staked: U256,
        /// The amount.
        required: U256,
    },
}

/// FeeToken errors (OpenZeppelin ERC-20 and Ownable).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not enough allowance for a `transferFrom` (approve the spender first).
    #[error("fee token allowance of {spender} is {allowance}, {needed} needed (approve first)")]
    InsufficientAllowance {
        /// The spender (the Rollup or the escrow).
        spender: Address,
        /// Its allowance.
        allowance: U256,
        /// The amount.
        needed: U256,
    },
    /// Not enough tokens.
    #[error("fee token balance of {sender} is {balance}, {needed} needed")]
    InsufficientBalance {
        /// The payer.
        sender: Address,
        /// Its balance.
        balance: U256,
        /// The amount.
        needed: U256,
    },
    /// A zero or otherwise invalid party to a transfer or approval.
    #[error("invalid {role} {address} for a fee token operation")]
    InvalidParty {
        /// `approver`, `receiver`, `sender` or `spender`.
        role: &'static str,
        /// The address.
        address: Address,
    },
    /// `mint` by someone other than the owner.
    #[error("{account} is not the fee token's owner (only the owner may mint)")]
    NotOwner {
        /// Who called.
        account: Address,
    },
    /// An invalid owner at construction.
    #[error("invalid fee token owner {owner}")]
    InvalidOwner {
        /// The owner.
        owner: Address,
    },
}

/// Saturating `U256 → u64` for values inside error messages (a slot or block number that does not
/// fit is absurd; showing `u64::MAX` beats failing to decode the error).
fn sat(v: U256) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// Decodes revert data against the custom errors of all contracts, then `Error(string)` and
/// `Panic(uint256)`. Never fails: unknown data becomes [`Revert::Unknown`].
pub fn decode_revert(data: &[u8]) -> Revert {
    if let Ok(e) = Rollup::RollupErrors::abi_decode(data) {
        return from_rollup(e);
    }
    if let Ok(e) = ProofCommitmentEscrow::ProofCommitmentEscrowErrors::abi_decode(data) {
        return from_escrow(e);
    }
    if let Ok(e) = FeeToken::FeeTokenErrors::abi_decode(data) {
        return Revert::Token(from_token(e));
    }
    if let Ok(r) = alloy::sol_types::Revert::abi_decode(data) {
        return Revert::Message(r.reason);
    }
    if let Ok(p) = alloy::sol_types::Panic::abi_decode(data) {
        return Revert::Panic { code: sat(p.code) };
    }
    Revert::Unknown(Bytes::copy_from_slice(data))
}

fn from_rollup(e: Rollup::RollupErrors) -> Revert {
    use ClaimRejected as C;
    use Rollup::RollupErrors as E;
    use RollupError as R;
    let claim = |c| Revert::Claim(c);
    let rollup = |r| Revert::Rollup(r);
    match e {
        E::NoEpochToProve(_) => claim(C::NoEpochToProve),
        E::EpochNotComplete(e) => claim(C::EpochNotComplete {
            epoch: sat(e.epoch),
            current_slot: sat(e.currentSlot),
        }),
        E::NotInClaimPhase(e) => claim(C::NotInClaimPhase {
            epoch: sat(e.epoch),
            current_slot: sat(e.currentSlot),
            claim_phase_end_slot: sat(e.claimPhaseEndSlot),
        }),
        E::EpochAlreadyClaimed(e) => claim(C::EpochAlreadyClaimed {
            epoch: sat(e.epoch),
            bond_provider: e.bondProvider,
        }),
        E::NotCurrentProposer(e) => claim(C::NotCurrentProposer {
            caller: e.caller,
            expected: e.expected,
        }),
        E::WrongRollupAddress(e) => claim(C::WrongRollupAddress {
            quote_rollup: e.quoteRollup,
            rollup: e.rollup,
        }),
        E::EpochNumberMismatch(e) => claim(C::EpochNumberMismatch {
            quote_epoch: e.quoteEpoch,
            epoch_to_prove: sat(e.epochToProve),
        }),
        E::EpochInitBlockMismatch(e) => claim(C::EpochInitBlockMismatch {
            quote_init_block: e.quoteInitBlock,
            epoch_init_block: sat(e.epochInitBlock),
        }),
        E::EpochFinalBlockMismatch(e) => claim(C::EpochFinalBlockMismatch {
            quote_final_block: e.quoteFinalBlock,
            epoch_final_block: sat(e.epochFinalBlock),
        }),
        E::TotalFeesMismatch(e) => claim(C::TotalFeesMismatch {
            quote_total_fees: e.quoteTotalFees,
            epoch_total_fees: e.epochTotalFees,
        }),
        E::QuoteExpired(e) => claim(C::QuoteExpired {
            valid_until_slot: sat(e.validUntilSlot),
            current_slot: sat(e.currentSlot),
        }),
        E::BasisPointFeeTooHigh(e) => claim(C::BasisPointFeeTooHigh {
            basis_point_fee: e.basisPointFee,
        }),
        E::BondTooLow(e) => claim(C::BondTooLow {
            bond_amount: e.bondAmount,
            min_bond: e.minBond,
        }),
        E::InvalidSignatureLength(e) => claim(C::InvalidSignatureLength { length: e.length }),
        E::InvalidSignatureV(e) => claim(C::InvalidSignatureV { v: e.v }),
        E::SignatureHighS(e) => claim(C::SignatureHighS { s: e.s }),
        E::InvalidSignature(e) => claim(C::InvalidSignature {
            prover: e.prover,
            recovered: e.recovered,
        }),
        E::InsufficientEscrow(e) => claim(C::InsufficientEscrow {
            prover: e.prover,
            available: e.available,
            bond_amount: e.bondAmount,
        }),
        E::ZeroAddress(_) => rollup(R::ZeroAddress),
        E::InvalidTimeParameters(e) => rollup(R::InvalidTimeParameters {
            slot_duration: e.slotDuration,
            epoch_duration: e.epochDuration,
            claim_window: e.claimWindow,
        }),
        E::TimestampBeforeGenesis(e) => rollup(R::TimestampBeforeGenesis {
            timestamp: e.timestamp,
            genesis_time: e.genesisTime,
        }),
        E::SlotAlreadyUsed(e) => rollup(R::SlotAlreadyUsed {
            slot: sat(e.slot),
            block_number: sat(e.blockNumber),
        }),
        E::BlockNotFound(e) => rollup(R::BlockNotFound {
            block_number: e.blockNumber,
            pending_block_number: sat(e.pendingBlockNumber),
        }),
        E::NotEpochToProve(e) => rollup(R::NotEpochToProve {
            epoch: e.epoch,
            epoch_to_prove: sat(e.epochToProve),
        }),
        E::ProofDeadlinePassed(e) => rollup(R::ProofDeadlinePassed {
            epoch: sat(e.epoch),
            current_slot: sat(e.currentSlot),
            deadline_slot: sat(e.deadlineSlot),
        }),
        E::InvalidProof(e) => rollup(R::InvalidProof {
            public_inputs_hash: e.publicInputsHash,
        }),
        E::NothingToPrune(_) => rollup(R::NothingToPrune),
        E::SafeERC20FailedOperation(e) => rollup(R::SafeErc20FailedOperation { token: e.token }),
        E::InvalidShortString(_) | E::StringTooLong(_) => rollup(R::ShortString),
    }
}

fn from_escrow(e: ProofCommitmentEscrow::ProofCommitmentEscrowErrors) -> Revert {
    use EscrowError as X;
    use ProofCommitmentEscrow::ProofCommitmentEscrowErrors as E;
    Revert::Escrow(match e {
        E::NotRollup(e) => X::NotRollup {
            caller: e.caller,
            rollup: e.rollup,
        },
        E::ZeroAmount(_) => X::ZeroAmount,
        E::WithdrawExceedsDeposit(e) => X::WithdrawExceedsDeposit {
            account: e.account,
            amount: e.amount,
            deposit: e.deposit,
        },
        E::NoPendingWithdrawal(e) => X::NoPendingWithdrawal { account: e.account },
        E::WithdrawalNotReady(e) => X::WithdrawalNotReady {
            account: e.account,
            executable_at: e.executableAt,
            now: e.nowTimestamp,
        },
        E::InsufficientAvailableDeposit(e) => X::InsufficientAvailableDeposit {
            prover: e.prover,
            available: e.available,
            required: e.required,
        },
        E::InsufficientStakedBond(e) => X::InsufficientStakedBond {
            prover: e.prover,
            staked: e.staked,
            required: e.required,
        },
        // Same selectors as the Rollup's errors, which are tried first; kept for completeness.
        E::ZeroAddress(_) => return Revert::Rollup(RollupError::ZeroAddress),
        E::SafeERC20FailedOperation(e) => {
            return Revert::Rollup(RollupError::SafeErc20FailedOperation { token: e.token });
        }
    })
}

fn from_token(e: FeeToken::FeeTokenErrors) -> TokenError {
    use FeeToken::FeeTokenErrors as E;
    use TokenError as T;
    match e {
        E::ERC20InsufficientAllowance(e) => T::InsufficientAllowance {
            spender: e.spender,
            allowance: e.allowance,
            needed: e.needed,
        },
        E::ERC20InsufficientBalance(e) => T::InsufficientBalance {
            sender: e.sender,
            balance: e.balance,
            needed: e.needed,
        },
        E::ERC20InvalidApprover(e) => T::InvalidParty {
            role: "approver",
            address: e.approver,
        },
        E::ERC20InvalidReceiver(e) => T::InvalidParty {
            role: "receiver",
            address: e.receiver,
        },
        E::ERC20InvalidSender(e) => T::InvalidParty {
            role: "sender",
            address: e.sender,
        },
        E::ERC20InvalidSpender(e) => T::InvalidParty {
            role: "spender",
            address: e.spender,
        },
        E::OwnableUnauthorizedAccount(e) => T::NotOwner { account: e.account },
        E::OwnableInvalidOwner(e) => T::InvalidOwner { owner: e.owner },
    }
}

/// Maps an alloy contract error (from `eth_call`, gas estimation or sending) to an [`L1Error`]:
/// a revert when the node reported one (decoded), an RPC error otherwise.
pub(crate) fn from_contract_error(call: &'static str, err: alloy::contract::Error) -> L1Error {
    if let Some(data) = err.as_revert_data() {
        return L1Error::Reverted {
            call,
            revert: Box::new(decode_revert(&data)),
            tx_hash: None,
        };
    }
    if let alloy::contract::Error::TransportError(t) = &err {
        return from_transport_error(call, t);
    }
    L1Error::Rpc {
        call,
        message: err.to_string(),
    }
}

/// Maps a transport error: a revert without data (some nodes omit it) is still a revert.
pub(crate) fn from_transport_error(
    call: &'static str,
    err: &alloy::transports::TransportError,
) -> L1Error {
    if let Some(resp) = err.as_error_resp() {
        if let Some(data) = resp.as_revert_data() {
            return L1Error::Reverted {
                call,
                revert: Box::new(decode_revert(&data)),
                tx_hash: None,
            };
        }
        if resp.message.contains("revert") {
            return L1Error::Reverted {
                call,
                revert: Box::new(Revert::Unknown(Bytes::new())),
                tx_hash: None,
            };
        }
    }
    L1Error::Rpc {
        call,
        message: err.to_string(),
    }
}

/// Builds the ABI-encoded revert data of a custom error (for tests and tools).
pub fn encode_error<E: SolError>(e: &E) -> Bytes {
    Bytes::from(e.abi_encode())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_expired_reads_as_a_sentence() {
        let data = encode_error(&Rollup::QuoteExpired {
            validUntilSlot: U256::from(12),
            currentSlot: U256::from(14),
        });
        let r = decode_revert(&data);
        assert_eq!(
            r,
            Revert::Claim(ClaimRejected::QuoteExpired {
                valid_until_slot: 12,
                current_slot: 14
            })
        );
        assert_eq!(
            r.to_string(),
            "quote expired: valid until slot 12, current slot 14"
        );
    }

    #[test]
    fn errors_of_every_contract_decode() {
        let a = Address::repeat_byte(1);
        let d = encode_error(&FeeToken::ERC20InsufficientAllowance {
            spender: a,
            allowance: U256::ZERO,
            needed: U256::from(5),
        });
        assert!(matches!(
            decode_revert(&d),
            Revert::Token(TokenError::InsufficientAllowance { .. })
        ));
        let d = encode_error(&ProofCommitmentEscrow::NoPendingWithdrawal { account: a });
        assert_eq!(
            decode_revert(&d),
            Revert::Escrow(EscrowError::NoPendingWithdrawal { account: a })
        );
        let d = encode_error(&alloy::sol_types::Revert::from("nope"));
        assert_eq!(decode_revert(&d), Revert::Message("nope".into()));
        let d = encode_error(&alloy::sol_types::Panic::from(0x11u64));
        assert_eq!(
            decode_revert(&d).to_string(),
            "panic 0x11 (arithmetic overflow or underflow)"
        );
        assert!(matches!(
            decode_revert(&[1, 2, 3, 4, 5]),
            Revert::Unknown(_)
        ));
        assert!(decode_revert(&[]).to_string().contains("without a reason"));
    }
}
