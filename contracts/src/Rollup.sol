// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IEpochProofVerifier} from "./IEpochProofVerifier.sol";
import {ProofCommitmentEscrow} from "./ProofCommitmentEscrow.sol";

/// @notice A binding promise by `prover` to prove epoch `epochNumber` (blocks epochInitBlock..=
/// epochFinalBlock carrying `totalFees`) for `basisPointFee` of the fees, backed by `bondAmount`.
/// Field order is the EIP-712 type order of SPEC §2.2 and MUST NOT change.
struct EpochProofQuote {
    address prover;
    uint256 epochNumber;
    uint256 epochInitBlock;
    uint256 epochFinalBlock;
    uint256 totalFees;
    address rollupAddress;
    uint32 basisPointFee;
    uint256 bondAmount;
    uint256 validUntilSlot;
}

/// @notice A quote with its 65-byte signature r ‖ s ‖ v over quoteToDigest(quote) (v ∈ {27, 28},
/// low s): the same bytes as the tail of the gossip wire form.
struct SignedEpochProofQuote {
    EpochProofQuote quote;
    bytes signature;
}

/// @notice The right (and duty) to prove `epochToProve`, bought by a proposer from a quote.
struct EpochProofClaim {
    uint256 epochToProve;
    uint256 basisPointFee;
    uint256 bondAmount;
    address bondProvider; // the prover; address(0) means "no claim"
    address proposerClaimant;
}

/// @notice What the Rollup records of an L2 block (the L2 itself is out of scope).
struct BlockLog {
    uint256 slot;
    uint256 txCount;
    uint256 totalFees;
    bytes32 contentHash;
    address coinbase; // the proposer; receives the non-prover share of the fees (or the refund on prune)
}

/// @notice Slots, epochs, L2 block records, epoch proof claims, proofs, payouts, pruning, slashing.
///
/// Time: slot(t) = (t - genesisTime) / slotDuration, epoch(slot) = slot / epochDuration.
/// For the epoch to prove E (the epoch of the oldest unproven block):
///   complete        once  currentSlot >= (E+1)*epochDuration
///   claim phase     slots [(E+1)*epochDuration, (E+1)*epochDuration + claimWindow)
///   proof deadline  slot  (E+2)*epochDuration (a proof must land in an earlier slot)
///   prune due       unclaimed and currentSlot >= end of claim phase, or claimed and currentSlot >= deadline
/// Blocks are numbered from 1; block 0 does not exist (pendingBlockNumber == 0 means none yet).
contract Rollup is EIP712 {
    using SafeERC20 for IERC20;

    /// @dev keccak256 of the SPEC §2.2 type string, byte for byte.
    bytes32 public constant EPOCH_PROOF_QUOTE_TYPEHASH = keccak256(
        "EpochProofQuote(address prover,uint256 epochNumber,uint256 epochInitBlock,uint256 epochFinalBlock,uint256 totalFees,address rollupAddress,uint32 basisPointFee,uint256 bondAmount,uint256 validUntilSlot)"
    );
    uint256 public constant MAX_BASIS_POINTS = 10_000;
    /// @dev secp256k1 n / 2: signatures with a larger s are malleable twins and rejected.
    uint256 internal constant HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    IERC20 public immutable feeToken;
    IEpochProofVerifier public immutable verifier;
    ProofCommitmentEscrow public immutable escrow;
    uint256 public immutable genesisTime;
    uint256 public immutable slotDuration; // seconds
    uint256 public immutable epochDuration; // slots
    uint256 public immutable claimWindow; // slots, < epochDuration
    uint256 public immutable minBond;
    address public immutable slashRecipient;

    address[] internal _validators;

    uint256 public pendingBlockNumber;
    uint256 public provenBlockNumber;
    mapping(uint256 => BlockLog) internal _blocks;

    /// @dev Blocks of one epoch are contiguous (one per slot, slots increase), so a range says it all.
    struct EpochRange {
        uint256 fromBlock;
        uint256 toBlock;
        uint256 totalFees;
    }

    mapping(uint256 => EpochRange) internal _epochs;
    mapping(uint256 => EpochProofClaim) internal _claims;

    event L2BlockProposed(
        uint256 indexed blockNumber,
        uint256 indexed slot,
        address indexed proposer,
        uint256 txCount,
        uint256 totalFees,
        bytes32 contentHash
    );
    event ProofRightClaimed(
        uint256 indexed epoch,
        address indexed prover,
        address indexed proposer,
        uint256 bondAmount,
        uint256 basisPointFee,
        uint256 slot
    );
    event EpochProven(
        uint256 indexed epoch, uint256 fromBlock, uint256 toBlock, address indexed prover, uint256 proverReward
    );
    event BondSlashed(uint256 indexed epoch, address indexed prover, uint256 amount);
    event PrunedPending(uint256 indexed epoch, uint256 fromBlock, uint256 toBlock);

    // construction
    error ZeroAddress();
    error InvalidTimeParameters(uint256 slotDuration, uint256 epochDuration, uint256 claimWindow);
    // time
    error TimestampBeforeGenesis(uint256 timestamp, uint256 genesisTime);
    // propose
    error SlotAlreadyUsed(uint256 slot, uint256 blockNumber);
    error NotCurrentProposer(address caller, address expected);
    error BlockNotFound(uint256 blockNumber, uint256 pendingBlockNumber);
    // claim checks, in the order they are applied
    error NoEpochToProve();
    error EpochNotComplete(uint256 epoch, uint256 currentSlot);
    error NotInClaimPhase(uint256 epoch, uint256 currentSlot, uint256 claimPhaseEndSlot);
    error EpochAlreadyClaimed(uint256 epoch, address bondProvider);
    // (NotCurrentProposer)
    error WrongRollupAddress(address quoteRollup, address rollup);
    error EpochNumberMismatch(uint256 quoteEpoch, uint256 epochToProve);
    error EpochInitBlockMismatch(uint256 quoteInitBlock, uint256 epochInitBlock);
    error EpochFinalBlockMismatch(uint256 quoteFinalBlock, uint256 epochFinalBlock);
    error TotalFeesMismatch(uint256 quoteTotalFees, uint256 epochTotalFees);
    error QuoteExpired(uint256 validUntilSlot, uint256 currentSlot);
    error BasisPointFeeTooHigh(uint256 basisPointFee);
    error BondTooLow(uint256 bondAmount, uint256 minBond);
    error InvalidSignatureLength(uint256 length);
    error InvalidSignatureV(uint8 v);
    error SignatureHighS(bytes32 s);
    error InvalidSignature(address prover, address recovered);
    error InsufficientEscrow(address prover, uint256 available, uint256 bondAmount);
    // proof
    error NotEpochToProve(uint256 epoch, uint256 epochToProve);
    error ProofDeadlinePassed(uint256 epoch, uint256 currentSlot, uint256 deadlineSlot);
    error InvalidProof(bytes32 publicInputsHash);
    // prune
    error NothingToPrune();

    /// @param validators_ round-robin proposer set (slot s belongs to validators[s % n]); empty = anyone.
    constructor(
        IERC20 feeToken_,
        IEpochProofVerifier verifier_,
        uint256 slotDuration_,
        uint256 epochDuration_,
        uint256 claimWindow_,
        uint256 minBond_,
        uint256 withdrawDelay_,
        address slashRecipient_,
        address[] memory validators_
    ) EIP712("Aztec Rollup", "1") {
        if (address(feeToken_) == address(0) || address(verifier_) == address(0) || slashRecipient_ == address(0)) {
            revert ZeroAddress();
        }
        // A claim window of 0 would make every epoch unclaimable; one >= epochDuration would overlap
        // the next epoch's claim phase.
        if (slotDuration_ == 0 || claimWindow_ == 0 || claimWindow_ >= epochDuration_) {
            revert InvalidTimeParameters(slotDuration_, epochDuration_, claimWindow_);
        }
        for (uint256 i = 0; i < validators_.length; i++) {
            if (validators_[i] == address(0)) revert ZeroAddress();
        }
        feeToken = feeToken_;
        verifier = verifier_;
        genesisTime = block.timestamp;
        slotDuration = slotDuration_;
        epochDuration = epochDuration_;
        claimWindow = claimWindow_;
        minBond = minBond_;
        slashRecipient = slashRecipient_;
        _validators = validators_;
        // The escrow trusts exactly this rollup; creating it here avoids a two-step wiring.
        escrow = new ProofCommitmentEscrow(feeToken_, withdrawDelay_, address(this));
    }

    // ================================================================ time

    function getSlotAt(uint256 timestamp) public view returns (uint256) {
        if (timestamp < genesisTime) revert TimestampBeforeGenesis(timestamp, genesisTime);
        return (timestamp - genesisTime) / slotDuration;
    }

    function getCurrentSlot() public view returns (uint256) {
        return getSlotAt(block.timestamp);
    }

    function getEpochAtSlot(uint256 slot) public view returns (uint256) {
        return slot / epochDuration;
    }

    function getCurrentEpoch() external view returns (uint256) {
        return getCurrentSlot() / epochDuration;
    }

    /// @notice Unix time at which `slot` starts.
    function getTimestampForSlot(uint256 slot) external view returns (uint256) {
        return genesisTime + slot * slotDuration;
    }

    function withdrawDelay() external view returns (uint256) {
        return escrow.withdrawDelay();
    }

    // ================================================================ proposers

    function getValidators() external view returns (address[] memory) {
        return _validators;
    }

    /// @return the proposer of `slot`, or address(0) when anyone may propose.
    function getProposerAt(uint256 slot) public view returns (address) {
        uint256 n = _validators.length;
        return n == 0 ? address(0) : _validators[slot % n];
    }

    function getCurrentProposer() external view returns (address) {
        return getProposerAt(getCurrentSlot());
    }

    // ================================================================ blocks

    function getBlock(uint256 blockNumber) external view returns (BlockLog memory) {
        if (blockNumber == 0 || blockNumber > pendingBlockNumber) {
            revert BlockNotFound(blockNumber, pendingBlockNumber);
        }
        return _blocks[blockNumber];
    }

    /// @return fromBlock first block of `epoch`, toBlock last (inclusive), totalFees their fees;
    /// all zero when the epoch has no (unpruned) blocks.
    function getEpochBlocks(uint256 epoch)
        external
        view
        returns (uint256 fromBlock, uint256 toBlock, uint256 totalFees)
    {
        EpochRange memory r = _epochs[epoch];
        return (r.fromBlock, r.toBlock, r.totalFees);
    }

    /// @notice Propose the L2 block of the current slot; pulls `totalFees` FeeToken from the caller
    /// (approve first). Prunes first when pruning is due, so a stale pending chain never grows.
    function propose(uint256 txCount, uint256 totalFees, bytes32 contentHash) external returns (uint256 blockNumber) {
        return _propose(txCount, totalFees, contentHash);
    }

    /// @notice propose, then claimEpochProofRight, in one transaction.
    function proposeAndClaim(
        uint256 txCount,
        uint256 totalFees,
        bytes32 contentHash,
        SignedEpochProofQuote calldata signedQuote
    ) external returns (uint256 blockNumber) {
        blockNumber = _propose(txCount, totalFees, contentHash);
        _claim(signedQuote);
    }

    function _propose(uint256 txCount, uint256 totalFees, bytes32 contentHash) internal returns (uint256 blockNumber) {
        if (isPruneDue()) _prune();
        uint256 slot = getCurrentSlot();
        uint256 last = pendingBlockNumber;
        if (last != 0 && _blocks[last].slot >= slot) revert SlotAlreadyUsed(slot, last);
        address expected = getProposerAt(slot);
        if (expected != address(0) && msg.sender != expected) revert NotCurrentProposer(msg.sender, expected);

        blockNumber = last + 1;
        pendingBlockNumber = blockNumber;
        _blocks[blockNumber] = BlockLog(slot, txCount, totalFees, contentHash, msg.sender);
        EpochRange storage r = _epochs[slot / epochDuration];
        if (r.fromBlock == 0) r.fromBlock = blockNumber;
        r.toBlock = blockNumber;
        r.totalFees += totalFees;

        feeToken.safeTransferFrom(msg.sender, address(this), totalFees);
        emit L2BlockProposed(blockNumber, slot, msg.sender, txCount, totalFees, contentHash);
    }

    // ================================================================ epochs and claims

    /// @return exists whether any block is unproven; epoch the epoch of the oldest unproven block.
    function getEpochToProve() public view returns (bool exists, uint256 epoch) {
        uint256 proven = provenBlockNumber;
        if (pendingBlockNumber == proven) return (false, 0);
        return (true, _blocks[proven + 1].slot / epochDuration);
    }

    /// @notice The claim on the epoch to prove; all zero when there is none.
    function getProofClaim() external view returns (EpochProofClaim memory claim) {
        (bool exists, uint256 epoch) = getEpochToProve();
        if (exists) claim = _claims[epoch];
    }

    /// @notice The claim recorded for `epoch` (kept after the proof; deleted when the epoch is pruned).
    function getClaim(uint256 epoch) external view returns (EpochProofClaim memory) {
        return _claims[epoch];
    }

    /// @notice EIP-712 digest of `quote` under domain ("Aztec Rollup", "1", chainid, this).
    function quoteToDigest(EpochProofQuote calldata quote) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    EPOCH_PROOF_QUOTE_TYPEHASH,
                    quote.prover,
                    quote.epochNumber,
                    quote.epochInitBlock,
                    quote.epochFinalBlock,
                    quote.totalFees,
                    quote.rollupAddress,
                    quote.basisPointFee,
                    quote.bondAmount,
                    quote.validUntilSlot
                )
            )
        );
    }

    /// @notice Claim the right to prove the epoch to prove, staking the quote's bond from the
    /// prover's escrow deposit. Caller: the current slot's proposer.
    function claimEpochProofRight(SignedEpochProofQuote calldata signedQuote) external {
        _claim(signedQuote);
    }

    /// @notice Reverts with the first failing claim check, as claimEpochProofRight would if `proposer`
    /// sent it in a block at `timestamp` with the current chain state. Returns the epoch on success.
    function validateClaim(SignedEpochProofQuote calldata signedQuote, address proposer, uint256 timestamp)
        external
        view
        returns (uint256 epoch)
    {
        return _validateClaim(signedQuote, proposer, getSlotAt(timestamp));
    }

    function _claim(SignedEpochProofQuote calldata signedQuote) internal {
        uint256 slot = getCurrentSlot();
        uint256 epoch = _validateClaim(signedQuote, msg.sender, slot);
        EpochProofQuote calldata q = signedQuote.quote;
        _claims[epoch] = EpochProofClaim(epoch, q.basisPointFee, q.bondAmount, q.prover, msg.sender);
        escrow.stakeBond(q.prover, q.bondAmount);
        emit ProofRightClaimed(epoch, q.prover, msg.sender, q.bondAmount, q.basisPointFee, slot);
    }

    /// @dev Every check of SPEC §4, in SPEC order; the first failure reverts with its own error.
    function _validateClaim(SignedEpochProofQuote calldata signedQuote, address proposer, uint256 slot)
        internal
        view
        returns (uint256 epoch)
    {
        EpochProofQuote calldata q = signedQuote.quote;
        bool exists;
        (exists, epoch) = getEpochToProve();
        if (!exists) revert NoEpochToProve();
        uint256 nextEpochStart = (epoch + 1) * epochDuration;
        if (slot < nextEpochStart) revert EpochNotComplete(epoch, slot);
        if (slot >= nextEpochStart + claimWindow) {
            revert NotInClaimPhase(epoch, slot, nextEpochStart + claimWindow - 1);
        }
        address claimedBy = _claims[epoch].bondProvider;
        if (claimedBy != address(0)) revert EpochAlreadyClaimed(epoch, claimedBy);
        address expected = getProposerAt(slot);
        if (expected != address(0) && proposer != expected) revert NotCurrentProposer(proposer, expected);
        if (q.rollupAddress != address(this)) revert WrongRollupAddress(q.rollupAddress, address(this));
        if (q.epochNumber != epoch) revert EpochNumberMismatch(q.epochNumber, epoch);
        EpochRange memory r = _epochs[epoch];
        if (q.epochInitBlock != r.fromBlock) revert EpochInitBlockMismatch(q.epochInitBlock, r.fromBlock);
        if (q.epochFinalBlock != r.toBlock) revert EpochFinalBlockMismatch(q.epochFinalBlock, r.toBlock);
        if (q.totalFees != r.totalFees) revert TotalFeesMismatch(q.totalFees, r.totalFees);
        if (q.validUntilSlot < slot) revert QuoteExpired(q.validUntilSlot, slot);
        if (q.basisPointFee > MAX_BASIS_POINTS) revert BasisPointFeeTooHigh(q.basisPointFee);
        if (q.bondAmount < minBond) revert BondTooLow(q.bondAmount, minBond);
        _checkSignature(quoteToDigest(q), signedQuote.signature, q.prover);
        uint256 available = escrow.availableForBond(q.prover);
        if (available < q.bondAmount) revert InsufficientEscrow(q.prover, available, q.bondAmount);
    }

    /// @dev r ‖ s ‖ v, v ∈ {27, 28}, s ≤ n/2, r and s nonzero, recovers `prover` (≠ 0).
    function _checkSignature(bytes32 digest, bytes calldata sig, address prover) internal pure {
        if (sig.length != 65) revert InvalidSignatureLength(sig.length);
        bytes32 r = bytes32(sig[0:32]);
        bytes32 s = bytes32(sig[32:64]);
        uint8 v = uint8(sig[64]);
        if (v != 27 && v != 28) revert InvalidSignatureV(v);
        if (uint256(s) > HALF_N) revert SignatureHighS(s);
        // ecrecover yields address(0) for r == 0, s == 0 or a point off the curve.
        address recovered = ecrecover(digest, v, r, s);
        if (recovered == address(0) || recovered != prover) revert InvalidSignature(prover, recovered);
    }

    // ================================================================ proofs

    /// @notice The hash the epoch proof's verifier checks, for the epoch to prove as it stands:
    /// keccak256(abi.encode(chainid, rollup, epoch, fromBlock, toBlock, contentHashesHash, proverId))
    /// with contentHashesHash = keccak256(abi.encodePacked(contentHash[fromBlock..=toBlock])).
    function computePublicInputsHash(uint256 epoch, address proverId) public view returns (bytes32) {
        EpochRange memory r = _epochs[epoch];
        bytes32[] memory hashes = new bytes32[](r.toBlock - r.fromBlock + (r.fromBlock == 0 ? 0 : 1));
        for (uint256 i = 0; i < hashes.length; i++) {
            hashes[i] = _blocks[r.fromBlock + i].contentHash;
        }
        return keccak256(
            abi.encode(
                block.chainid,
                address(this),
                epoch,
                r.fromBlock,
                r.toBlock,
                keccak256(abi.encodePacked(hashes)),
                proverId
            )
        );
    }

    /// @notice Prove the epoch to prove. Anyone may submit: the prover id (bound into the proof) and
    /// the fee share go to the claim's bondProvider, or to the sender when there is no claim.
    function submitEpochProof(uint256 epoch, bytes calldata proof) external {
        (bool exists, uint256 toProve) = getEpochToProve();
        if (!exists) revert NoEpochToProve();
        if (epoch != toProve) revert NotEpochToProve(epoch, toProve);
        uint256 slot = getCurrentSlot();
        if (slot < (epoch + 1) * epochDuration) revert EpochNotComplete(epoch, slot);
        uint256 deadline = (epoch + 2) * epochDuration;
        if (slot >= deadline) revert ProofDeadlinePassed(epoch, slot, deadline);

        EpochProofClaim memory claim = _claims[epoch];
        address prover = claim.bondProvider != address(0) ? claim.bondProvider : msg.sender;
        bytes32 inputs = computePublicInputsHash(epoch, prover);
        if (!verifier.verify(proof, inputs)) revert InvalidProof(inputs);

        EpochRange memory r = _epochs[epoch];
        provenBlockNumber = r.toBlock;
        if (claim.bondProvider != address(0)) escrow.unstakeBond(prover, claim.bondAmount);

        // Rounded down per block, so the coinbase (not the prover) gets each block's dust.
        uint256 proverReward;
        for (uint256 n = r.fromBlock; n <= r.toBlock; n++) {
            BlockLog storage b = _blocks[n];
            uint256 share = Math.mulDiv(b.totalFees, claim.basisPointFee, MAX_BASIS_POINTS);
            proverReward += share;
            uint256 rest = b.totalFees - share;
            if (rest != 0) feeToken.safeTransfer(b.coinbase, rest);
        }
        if (proverReward != 0) feeToken.safeTransfer(prover, proverReward);
        emit EpochProven(epoch, r.fromBlock, r.toBlock, prover, proverReward);
    }

    // ================================================================ pruning

    /// @notice True when the epoch to prove can no longer be proven in time: unclaimed after its
    /// claim phase, or claimed and past its proof deadline.
    function isPruneDue() public view returns (bool) {
        (bool exists, uint256 epoch) = getEpochToProve();
        if (!exists) return false;
        uint256 slot = getCurrentSlot();
        if (_claims[epoch].bondProvider == address(0)) return slot >= (epoch + 1) * epochDuration + claimWindow;
        return slot >= (epoch + 2) * epochDuration;
    }

    /// @notice Remove all unproven blocks (refunding their fees to their coinbases) and slash the
    /// claimed bond, if any, to slashRecipient.
    function prune() external {
        if (!isPruneDue()) revert NothingToPrune();
        _prune();
    }

    function _prune() internal {
        (, uint256 epoch) = getEpochToProve();
        uint256 fromBlock = provenBlockNumber + 1;
        uint256 toBlock = pendingBlockNumber;
        EpochProofClaim memory claim = _claims[epoch];

        pendingBlockNumber = provenBlockNumber;
        if (claim.bondProvider != address(0)) delete _claims[epoch];
        // Collect refunds first, then pay: state is final before any external call.
        address[] memory payees = new address[](toBlock + 1 - fromBlock);
        uint256[] memory amounts = new uint256[](payees.length);
        for (uint256 n = fromBlock; n <= toBlock; n++) {
            BlockLog memory b = _blocks[n];
            delete _epochs[b.slot / epochDuration];
            delete _blocks[n];
            payees[n - fromBlock] = b.coinbase;
            amounts[n - fromBlock] = b.totalFees;
        }

        if (claim.bondProvider != address(0)) {
            escrow.slashBond(claim.bondProvider, claim.bondAmount, slashRecipient);
            emit BondSlashed(epoch, claim.bondProvider, claim.bondAmount);
        }
        for (uint256 i = 0; i < payees.length; i++) {
            if (amounts[i] != 0) feeToken.safeTransfer(payees[i], amounts[i]);
        }
        emit PrunedPending(epoch, fromBlock, toBlock);
    }
}
