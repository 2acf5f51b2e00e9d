// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {TestBase} from "./Vm.sol";
import {Rollup, EpochProofQuote, SignedEpochProofQuote, EpochProofClaim, BlockLog} from "../../src/Rollup.sol";
import {ProofCommitmentEscrow} from "../../src/ProofCommitmentEscrow.sol";
import {FeeToken} from "../../src/FeeToken.sol";
import {DevEpochProofVerifier} from "../../src/DevEpochProofVerifier.sol";
import {IEpochProofVerifier} from "../../src/IEpochProofVerifier.sol";

/// @notice Deploys the system with the sandbox's time parameters and offers helpers that speak in
/// slots: slot 4 s, epoch 8 slots, claim window 4 slots. So for epoch 0: complete at slot 8, claim
/// phase slots 8..=11, prune due (unclaimed) at slot 12, proof deadline (claimed) slot 16.
abstract contract RollupFixture is TestBase {
    uint256 internal constant GENESIS = 1_700_000_000;
    uint256 internal constant SLOT = 4;
    uint256 internal constant EPOCH = 8;
    uint256 internal constant CLAIM_WINDOW = 4;
    uint256 internal constant MIN_BOND = 100;
    uint256 internal constant WITHDRAW_DELAY = 1000;
    uint256 internal constant N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    FeeToken internal token;
    DevEpochProofVerifier internal verifier;
    Rollup internal rollup;
    ProofCommitmentEscrow internal escrow;

    address internal slashRecipient = address(0x51A5);
    uint256 internal constant PROVER_KEY = 0xA11CE;
    uint256 internal constant PROVER2_KEY = 0xB0B;
    address internal prover;
    address internal prover2;
    address internal proposer = address(0xB10C);

    function validatorSet() internal virtual returns (address[] memory) {
        return new address[](0);
    }

    function setUp() public virtual {
        vm.chainId(31337);
        vm.warp(GENESIS);
        token = new FeeToken(address(this));
        verifier = new DevEpochProofVerifier();
        rollup = new Rollup(
            IERC20(address(token)),
            IEpochProofVerifier(address(verifier)),
            SLOT,
            EPOCH,
            CLAIM_WINDOW,
            MIN_BOND,
            WITHDRAW_DELAY,
            slashRecipient,
            validatorSet()
        );
        escrow = rollup.escrow();
        prover = vm.addr(PROVER_KEY);
        prover2 = vm.addr(PROVER2_KEY);
        vm.label(address(rollup), "Rollup");
        vm.label(address(escrow), "Escrow");
        vm.label(prover, "prover");
        vm.label(prover2, "prover2");
    }

    // ------------------------------------------------------------------ time

    function ts(uint256 slot) internal pure returns (uint256) {
        return GENESIS + slot * SLOT;
    }

    function warpToSlot(uint256 slot) internal {
        vm.warp(ts(slot));
    }

    // ------------------------------------------------------------------ blocks

    function contentHash(uint256 slot) internal pure returns (bytes32) {
        return keccak256(abi.encode("block", slot));
    }

    /// @dev Proposes in the current slot as `who`, minting and approving the fees first.
    function proposeAs(address who, uint256 fees) internal returns (uint256) {
        token.mint(who, fees);
        vm.prank(who);
        token.approve(address(rollup), fees);
        bytes32 h = contentHash(rollup.getCurrentSlot()); // before prank: an external call would consume it
        vm.prank(who);
        return rollup.propose(3, fees, h);
    }

    function proposerOf(uint256 slot) internal view returns (address) {
        address p = rollup.getProposerAt(slot);
        return p == address(0) ? proposer : p;
    }

    /// @dev One block in every slot of `epoch`, fees 1000 + slot.
    function fillEpoch(uint256 epoch) internal {
        for (uint256 s = epoch * EPOCH; s < (epoch + 1) * EPOCH; s++) {
            warpToSlot(s);
            proposeAs(proposerOf(s), 1000 + s);
        }
    }

    // ------------------------------------------------------------------ quotes

    function quoteFor(uint256 epoch, address who, uint32 bps, uint256 bond)
        internal
        view
        returns (EpochProofQuote memory q)
    {
        (uint256 fromBlock, uint256 toBlock, uint256 fees) = rollup.getEpochBlocks(epoch);
        q = EpochProofQuote({
            prover: who,
            epochNumber: epoch,
            epochInitBlock: fromBlock,
            epochFinalBlock: toBlock,
            totalFees: fees,
            rollupAddress: address(rollup),
            basisPointFee: bps,
            bondAmount: bond,
            validUntilSlot: (epoch + 1) * EPOCH + CLAIM_WINDOW - 1
        });
    }

    function sign(EpochProofQuote memory q, uint256 key) internal view returns (SignedEpochProofQuote memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, rollup.quoteToDigest(q));
        return SignedEpochProofQuote(q, abi.encodePacked(r, s, v));
    }

    function deposit(address who, uint256 amount) internal {
        token.mint(who, amount);
        vm.prank(who);
        token.approve(address(escrow), amount);
        vm.prank(who);
        escrow.deposit(amount);
    }

    /// @dev Epoch 0 filled, prover funded, and the chain at the first claim slot (8).
    function readyToClaim(uint32 bps, uint256 bond) internal returns (SignedEpochProofQuote memory sq) {
        fillEpoch(0);
        deposit(prover, 10_000);
        warpToSlot(EPOCH);
        sq = sign(quoteFor(0, prover, bps, bond), PROVER_KEY);
    }

    function claimAsProposer(SignedEpochProofQuote memory sq) internal {
        address p = proposerOf(rollup.getCurrentSlot());
        vm.prank(p);
        rollup.claimEpochProofRight(sq);
    }

    function devProofFor(uint256 epoch, address proverId) internal view returns (bytes memory) {
        return abi.encodePacked(verifier.devProof(rollup.computePublicInputsHash(epoch, proverId)));
    }
}
