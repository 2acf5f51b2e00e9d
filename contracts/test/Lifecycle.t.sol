// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {RollupFixture} from "./utils/RollupFixture.sol";
import {Rollup, EpochProofQuote, SignedEpochProofQuote, EpochProofClaim, BlockLog} from "../src/Rollup.sol";
import {IEpochProofVerifier} from "../src/IEpochProofVerifier.sol";
import {ProofCommitmentEscrow} from "../src/ProofCommitmentEscrow.sol";

/// @notice Blocks, proofs, payouts and pruning, with an empty validator set (anyone proposes).
contract LifecycleTest is RollupFixture {
    address internal submitter = address(0x5B);

    // ------------------------------------------------------------------ deployment and time

    function test_deployment_parameters() public view {
        vm.assertEq(rollup.genesisTime(), GENESIS, "genesis = deploy time");
        vm.assertEq(rollup.slotDuration(), SLOT, "slotDuration");
        vm.assertEq(rollup.epochDuration(), EPOCH, "epochDuration");
        vm.assertEq(rollup.claimWindow(), CLAIM_WINDOW, "claimWindow");
        vm.assertEq(rollup.minBond(), MIN_BOND, "minBond");
        vm.assertEq(rollup.withdrawDelay(), WITHDRAW_DELAY, "withdrawDelay");
        vm.assertEq(rollup.slashRecipient(), slashRecipient, "slashRecipient");
        vm.assertEq(address(rollup.feeToken()), address(token), "feeToken");
        vm.assertEq(address(rollup.verifier()), address(verifier), "verifier");
        vm.assertEq(escrow.rollup(), address(rollup), "escrow bound to rollup");
        vm.assertEq(address(escrow.token()), address(token), "escrow token");
        vm.assertEq(rollup.getCurrentProposer(), address(0), "anyone");
    }

    function test_constructor_rejectsBadParameters() public {
        IERC20 t = IERC20(address(token));
        IEpochProofVerifier v = IEpochProofVerifier(address(verifier));
        address[] memory none = new address[](0);
        vm.expectRevert(abi.encodeWithSelector(Rollup.InvalidTimeParameters.selector, 0, 8, 4));
        new Rollup(t, v, 0, 8, 4, 1, 1, slashRecipient, none);
        vm.expectRevert(abi.encodeWithSelector(Rollup.InvalidTimeParameters.selector, 4, 8, 8));
        new Rollup(t, v, 4, 8, 8, 1, 1, slashRecipient, none);
        vm.expectRevert(abi.encodeWithSelector(Rollup.InvalidTimeParameters.selector, 4, 8, 0));
        new Rollup(t, v, 4, 8, 0, 1, 1, slashRecipient, none);
        vm.expectRevert(Rollup.ZeroAddress.selector);
        new Rollup(t, v, 4, 8, 4, 1, 1, address(0), none);
        vm.expectRevert(Rollup.ZeroAddress.selector);
        new Rollup(IERC20(address(0)), v, 4, 8, 4, 1, 1, slashRecipient, none);
        vm.expectRevert(Rollup.ZeroAddress.selector);
        new Rollup(t, IEpochProofVerifier(address(0)), 4, 8, 4, 1, 1, slashRecipient, none);
        address[] memory zeroValidator = new address[](1);
        vm.expectRevert(Rollup.ZeroAddress.selector);
        new Rollup(t, v, 4, 8, 4, 1, 1, slashRecipient, zeroValidator);
    }

    function test_time_slotsAndEpochs() public {
        vm.assertEq(rollup.getCurrentSlot(), 0, "slot 0 at genesis");
        vm.warp(GENESIS + 3);
        vm.assertEq(rollup.getCurrentSlot(), 0, "still slot 0 at +3s");
        vm.warp(GENESIS + 4);
        vm.assertEq(rollup.getCurrentSlot(), 1, "slot 1 at +4s");
        warpToSlot(7);
        vm.assertEq(rollup.getCurrentEpoch(), 0, "slot 7 in epoch 0");
        warpToSlot(8);
        vm.assertEq(rollup.getCurrentEpoch(), 1, "slot 8 in epoch 1");
        vm.assertEq(rollup.getTimestampForSlot(8), GENESIS + 32, "slot start");
        vm.assertEq(rollup.getEpochAtSlot(23), 2, "epochAtSlot");
    }

    // ------------------------------------------------------------------ propose

    function test_propose_recordsBlockAndPullsFees() public {
        warpToSlot(3);
        token.mint(proposer, 500);
        vm.prank(proposer);
        token.approve(address(rollup), 500);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.L2BlockProposed(1, 3, proposer, 7, 500, bytes32(uint256(0xC0)));
        vm.prank(proposer);
        rollup.propose(7, 500, bytes32(uint256(0xC0)));

        BlockLog memory b = rollup.getBlock(1);
        vm.assertEq(b.slot, 3, "slot");
        vm.assertEq(b.txCount, 7, "txCount");
        vm.assertEq(b.totalFees, 500, "fees");
        vm.assertEq(b.contentHash, bytes32(uint256(0xC0)), "contentHash");
        vm.assertEq(b.coinbase, proposer, "coinbase");
        vm.assertEq(token.balanceOf(address(rollup)), 500, "fees held");
        vm.assertEq(rollup.pendingBlockNumber(), 1, "pending");
        (bool exists, uint256 e) = rollup.getEpochToProve();
        vm.assertTrue(exists, "epoch to prove");
        vm.assertEq(e, 0, "epoch 0");
    }

    function test_propose_oneBlockPerSlot() public {
        warpToSlot(2);
        proposeAs(proposer, 1);
        token.mint(proposer, 1);
        vm.prank(proposer);
        token.approve(address(rollup), 1);
        vm.prank(proposer);
        vm.expectRevert(abi.encodeWithSelector(Rollup.SlotAlreadyUsed.selector, 2, 1));
        rollup.propose(1, 1, bytes32(0));
        warpToSlot(3);
        proposeAs(proposer, 1);
        vm.assertEq(rollup.pendingBlockNumber(), 2, "next slot ok");
    }

    function test_propose_withoutAllowanceReverts() public {
        vm.prank(proposer);
        vm.expectRevert();
        rollup.propose(1, 1, bytes32(0));
    }

    function test_getBlock_notFound() public {
        vm.expectRevert(abi.encodeWithSelector(Rollup.BlockNotFound.selector, 0, 0));
        rollup.getBlock(0);
        proposeAs(proposer, 1);
        vm.expectRevert(abi.encodeWithSelector(Rollup.BlockNotFound.selector, 2, 1));
        rollup.getBlock(2);
    }

    function test_epochBlocks_sparseSlots() public {
        warpToSlot(1);
        proposeAs(proposer, 10);
        warpToSlot(6);
        proposeAs(proposer, 20);
        warpToSlot(9);
        proposeAs(proposer, 40);
        (uint256 f, uint256 t, uint256 fees) = rollup.getEpochBlocks(0);
        vm.assertEq(f, 1, "from");
        vm.assertEq(t, 2, "to");
        vm.assertEq(fees, 30, "fees");
        (f, t, fees) = rollup.getEpochBlocks(1);
        vm.assertEq(f, 3, "e1 from");
        vm.assertEq(t, 3, "e1 to");
        (f, t, fees) = rollup.getEpochBlocks(2);
        vm.assertEq(f + t + fees, 0, "empty epoch");
    }

    // ------------------------------------------------------------------ proofs and payouts

    /// @dev Fees chosen to exercise rounding: bps 333 of 1, 29, 30, 10_001 ... ; each block rounds
    /// down on its own and its coinbase keeps the dust.
    function test_submitEpochProof_feeSplitToTheWei() public {
        uint256[8] memory fees = [uint256(0), 1, 29, 30, 10_001, 12_345, 999_999, 7];
        address[8] memory cb;
        for (uint256 s = 0; s < 8; s++) {
            cb[s] = address(uint160(0xC000 + s));
            warpToSlot(s);
            proposeAs(cb[s], fees[s]);
        }
        deposit(prover, 1000);
        warpToSlot(8);
        claimAsProposer(sign(quoteFor(0, prover, 333, 400), PROVER_KEY));

        // floor(f * 333 / 10000): 0, 0, 0, 0, 333, 411, 33299, 0
        uint256[8] memory share = [uint256(0), 0, 0, 0, 333, 411, 33_299, 0];
        uint256 reward = 333 + 411 + 33_299;
        bytes memory proof = devProofFor(0, prover);
        warpToSlot(15);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.EpochProven(0, 1, 8, prover, reward);
        vm.prank(submitter);
        rollup.submitEpochProof(0, proof);

        vm.assertEq(token.balanceOf(prover), reward, "prover reward");
        for (uint256 s = 0; s < 8; s++) {
            vm.assertEq(token.balanceOf(cb[s]), fees[s] - share[s], "coinbase rest");
        }
        vm.assertEq(token.balanceOf(address(rollup)), 0, "rollup keeps nothing");
        vm.assertEq(token.balanceOf(submitter), 0, "submitter gets nothing when claimed");
        vm.assertEq(rollup.provenBlockNumber(), 8, "proven");
        vm.assertEq(escrow.stakedBonds(prover), 0, "bond released");
        vm.assertEq(escrow.deposits(prover), 1000, "bond back in free deposit");
        (bool exists,) = rollup.getEpochToProve();
        vm.assertFalse(exists, "nothing left");
        vm.assertEq(rollup.getProofClaim().bondProvider, address(0), "no current claim");
        vm.assertEq(rollup.getClaim(0).bondProvider, prover, "history kept");
    }

    function testFuzz_feeSplit(uint256[8] memory fees, uint32 bps) public {
        bps = uint32(bound(bps, 0, 10_000));
        uint256 total;
        for (uint256 s = 0; s < 8; s++) {
            fees[s] = bound(fees[s], 0, 1e40);
            total += fees[s];
            warpToSlot(s);
            proposeAs(address(uint160(0xC000 + s)), fees[s]);
        }
        deposit(prover, MIN_BOND);
        warpToSlot(8);
        claimAsProposer(sign(quoteFor(0, prover, bps, MIN_BOND), PROVER_KEY));
        bytes memory proof = devProofFor(0, prover);
        rollup.submitEpochProof(0, proof);
        uint256 expected;
        uint256 paid = token.balanceOf(prover);
        for (uint256 s = 0; s < 8; s++) {
            uint256 sh = fees[s] * bps / 10_000;
            expected += sh;
            vm.assertEq(token.balanceOf(address(uint160(0xC000 + s))), fees[s] - sh, "coinbase");
            paid += token.balanceOf(address(uint160(0xC000 + s)));
        }
        vm.assertEq(token.balanceOf(prover), expected, "prover");
        vm.assertEq(paid, total, "every wei paid out");
    }

    function test_submitEpochProof_unclaimed_senderIsProverWithZeroShare() public {
        fillEpoch(0);
        warpToSlot(12); // claim phase over; pruning is due but nobody pruned: proof still accepted
        vm.assertTrue(rollup.isPruneDue(), "due");
        bytes memory proof = devProofFor(0, submitter);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.EpochProven(0, 1, 8, submitter, 0);
        vm.prank(submitter);
        rollup.submitEpochProof(0, proof);
        vm.assertEq(token.balanceOf(proposer), 8 * 1000 + 28, "all fees to coinbase");
    }

    function test_submitEpochProof_errors() public {
        vm.expectRevert(Rollup.NoEpochToProve.selector);
        rollup.submitEpochProof(0, "");
        fillEpoch(0);
        warpToSlot(9);
        proposeAs(proposer, 5); // block 9 in epoch 1
        warpToSlot(7 + 1);
        vm.expectRevert(abi.encodeWithSelector(Rollup.NotEpochToProve.selector, 1, 0));
        rollup.submitEpochProof(1, "");
        // Not complete: at its last slot (time travel back for the boundary).
        warpToSlot(7);
        vm.expectRevert(abi.encodeWithSelector(Rollup.EpochNotComplete.selector, 0, 7));
        rollup.submitEpochProof(0, "");

        deposit(prover, 1000);
        warpToSlot(9);
        claimAsProposer(sign(quoteFor(0, prover, 100, 100), PROVER_KEY));
        // A proof naming the sender instead of the claimed prover is a proof of other inputs.
        bytes memory wrongId = devProofFor(0, submitter);
        bytes32 inputs = rollup.computePublicInputsHash(0, prover);
        vm.prank(submitter);
        vm.expectRevert(abi.encodeWithSelector(Rollup.InvalidProof.selector, inputs));
        rollup.submitEpochProof(0, wrongId);
        bytes memory tooLong = abi.encodePacked(verifier.devProof(inputs), uint8(0));
        vm.expectRevert(abi.encodeWithSelector(Rollup.InvalidProof.selector, inputs));
        rollup.submitEpochProof(0, tooLong);

        bytes memory proof = devProofFor(0, prover);
        warpToSlot(16); // deadline = start of epoch 2
        vm.expectRevert(abi.encodeWithSelector(Rollup.ProofDeadlinePassed.selector, 0, 16, 16));
        rollup.submitEpochProof(0, proof);
        warpToSlot(15); // last slot before the deadline
        rollup.submitEpochProof(0, proof);
        vm.assertEq(rollup.provenBlockNumber(), 8, "proven at slot 15");
        // Epoch 1 is now the epoch to prove, but it is not complete.
        vm.expectRevert(abi.encodeWithSelector(Rollup.EpochNotComplete.selector, 1, 15));
        rollup.submitEpochProof(1, proof);
    }

    function test_publicInputs_encoding() public {
        fillEpoch(0);
        bytes32[] memory hashes = new bytes32[](8);
        for (uint256 s = 0; s < 8; s++) {
            hashes[s] = contentHash(s);
        }
        bytes32 expected = keccak256(
            abi.encode(
                uint256(31337),
                address(rollup),
                uint256(0),
                uint256(1),
                uint256(8),
                keccak256(abi.encodePacked(hashes)),
                prover
            )
        );
        vm.assertEq(rollup.computePublicInputsHash(0, prover), expected, "public inputs hash");
        bytes32 proof = keccak256(abi.encodePacked("epoch-rfq dev proof", expected));
        vm.assertEq(verifier.devProof(expected), proof, "dev proof");
        vm.assertTrue(verifier.verify(abi.encodePacked(proof), expected), "accepts");
        vm.assertFalse(verifier.verify(abi.encodePacked(proof), bytes32(uint256(expected) ^ 1)), "other inputs");
        vm.assertFalse(verifier.verify(abi.encodePacked(bytes31(proof)), expected), "short");
    }

    function test_secondEpochAfterFirstProven() public {
        fillEpoch(0);
        deposit(prover, 1000);
        warpToSlot(8);
        claimAsProposer(sign(quoteFor(0, prover, 100, 100), PROVER_KEY));
        for (uint256 s = 8; s < 16; s++) {
            warpToSlot(s);
            proposeAs(proposer, 1);
        }
        rollup.submitEpochProof(0, devProofFor(0, prover));
        warpToSlot(16);
        (bool exists, uint256 e) = rollup.getEpochToProve();
        vm.assertTrue(exists && e == 1, "epoch 1 next");
        claimAsProposer(sign(quoteFor(1, prover, 100, 100), PROVER_KEY));
        EpochProofClaim memory c = rollup.getProofClaim();
        vm.assertEq(c.epochToProve, 1, "claim on epoch 1");
        vm.assertEq(c.bondProvider, prover, "prover");
    }

    // ------------------------------------------------------------------ prune

    function test_prune_unclaimed_exactBoundary() public {
        fillEpoch(0);
        warpToSlot(9);
        proposeAs(proposer, 50); // epoch 1 block: pruned too
        warpToSlot(11); // last claim slot
        vm.assertFalse(rollup.isPruneDue(), "not due in claim phase");
        vm.expectRevert(Rollup.NothingToPrune.selector);
        rollup.prune();

        warpToSlot(12);
        vm.assertTrue(rollup.isPruneDue(), "due right after the claim phase");
        uint256 before = token.balanceOf(proposer);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.PrunedPending(0, 1, 9);
        rollup.prune();
        vm.assertEq(token.balanceOf(proposer) - before, 8 * 1000 + 28 + 50, "fees refunded");
        vm.assertEq(rollup.pendingBlockNumber(), 0, "pending reset");
        vm.assertEq(token.balanceOf(address(rollup)), 0, "no fees left");
        (uint256 f,,) = rollup.getEpochBlocks(1);
        vm.assertEq(f, 0, "epoch 1 range cleared");
        vm.expectRevert(Rollup.NothingToPrune.selector);
        rollup.prune();

        // The chain continues in the same epoch from the proven tip.
        proposeAs(proposer, 3);
        vm.assertEq(rollup.pendingBlockNumber(), 1, "block 1 again");
        (uint256 f1, uint256 t1, uint256 fees1) = rollup.getEpochBlocks(1);
        vm.assertEq(f1, 1, "fresh range");
        vm.assertEq(t1, 1, "fresh range to");
        vm.assertEq(fees1, 3, "fresh fees");
    }

    function test_prune_claimed_slashesAtDeadline() public {
        fillEpoch(0);
        deposit(prover, 1000);
        warpToSlot(8);
        claimAsProposer(sign(quoteFor(0, prover, 100, 400), PROVER_KEY));
        warpToSlot(12);
        vm.assertFalse(rollup.isPruneDue(), "claimed: not due after claim phase");
        warpToSlot(15);
        vm.expectRevert(Rollup.NothingToPrune.selector);
        rollup.prune();

        warpToSlot(16);
        vm.assertTrue(rollup.isPruneDue(), "due at deadline");
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.BondSlashed(0, prover, 400);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.PrunedPending(0, 1, 8);
        rollup.prune();
        vm.assertEq(token.balanceOf(slashRecipient), 400, "slashed");
        vm.assertEq(escrow.stakedBonds(prover), 0, "stake gone");
        vm.assertEq(escrow.deposits(prover), 600, "rest of deposit untouched");
        vm.assertEq(rollup.getClaim(0).bondProvider, address(0), "claim deleted");
        vm.assertEq(token.balanceOf(proposer), 8 * 1000 + 28, "fees refunded to coinbase");
    }

    function test_propose_prunesFirstWhenDue() public {
        fillEpoch(0);
        deposit(prover, 1000);
        warpToSlot(8);
        claimAsProposer(sign(quoteFor(0, prover, 100, 400), PROVER_KEY));
        warpToSlot(16);
        token.mint(proposer, 9);
        vm.prank(proposer);
        token.approve(address(rollup), 9);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.BondSlashed(0, prover, 400);
        vm.prank(proposer);
        uint256 n = rollup.propose(1, 9, bytes32(0));
        vm.assertEq(n, 1, "numbering restarts after the proven tip");
        (bool exists, uint256 e) = rollup.getEpochToProve();
        vm.assertTrue(exists && e == 2, "epoch 2 to prove");
        vm.assertEq(token.balanceOf(address(rollup)), 9, "only the new block's fees");
    }

    function test_propose_notDueDoesNotPrune() public {
        fillEpoch(0);
        warpToSlot(11);
        proposeAs(proposer, 1);
        vm.assertEq(rollup.pendingBlockNumber(), 9, "kept");
    }

    function test_prune_nothingWhenEmpty() public {
        vm.assertFalse(rollup.isPruneDue(), "empty chain");
        vm.expectRevert(Rollup.NothingToPrune.selector);
        rollup.prune();
    }
}
