// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {RollupFixture} from "./utils/RollupFixture.sol";
import {Rollup, EpochProofQuote, SignedEpochProofQuote, EpochProofClaim} from "../src/Rollup.sol";
import {ProofCommitmentEscrow} from "../src/ProofCommitmentEscrow.sol";

/// @notice Claim checks with a round-robin validator set of two: slot s belongs to validators[s % 2].
contract ClaimTest is RollupFixture {
    address internal v0 = address(0x7A10);
    address internal v1 = address(0x7A11);
    address internal stranger = address(0x5757);

    function validatorSet() internal view override returns (address[] memory vs) {
        vs = new address[](2);
        vs[0] = v0;
        vs[1] = v1;
    }

    function test_claim_happyPath() public {
        SignedEpochProofQuote memory sq = readyToClaim(250, 500);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.ProofRightClaimed(0, prover, v0, 500, 250, 8);
        vm.prank(v0);
        rollup.claimEpochProofRight(sq);

        EpochProofClaim memory c = rollup.getProofClaim();
        vm.assertEq(c.epochToProve, 0, "epoch");
        vm.assertEq(c.basisPointFee, 250, "bps");
        vm.assertEq(c.bondAmount, 500, "bond");
        vm.assertEq(c.bondProvider, prover, "bondProvider");
        vm.assertEq(c.proposerClaimant, v0, "claimant");
        vm.assertEq(rollup.getClaim(0).bondProvider, prover, "getClaim");
        vm.assertEq(escrow.stakedBonds(prover), 500, "staked");
        vm.assertEq(escrow.deposits(prover), 10_000 - 500, "free");
    }

    /// @dev Start from a quote that fails EVERY check and fix one check at a time: each step must
    /// report exactly the next check in SPEC §4 order. This proves a quote failing several checks
    /// reports the first.
    function test_checkOrder_allFailingThenFixedOneByOne() public {
        EpochProofQuote memory q = EpochProofQuote({
            prover: prover,
            epochNumber: 5,
            epochInitBlock: 99,
            epochFinalBlock: 98,
            totalFees: 1,
            rollupAddress: address(0xDEAD),
            basisPointFee: 10_001,
            bondAmount: 1,
            validUntilSlot: 7
        });
        SignedEpochProofQuote memory sq = SignedEpochProofQuote(q, new bytes(64));

        // 1. there is an epoch to prove
        vm.expectRevert(Rollup.NoEpochToProve.selector);
        rollup.validateClaim(sq, stranger, ts(8));

        fillEpoch(0);
        warpToSlot(8);
        uint256 fees = 0;
        for (uint256 s = 0; s < 8; s++) {
            fees += 1000 + s;
        }

        // 2. it is complete (last slot of the epoch: not yet)
        vm.expectRevert(abi.encodeWithSelector(Rollup.EpochNotComplete.selector, 0, 7));
        rollup.validateClaim(sq, stranger, ts(7));
        // 3. we are in its claim phase (first slot after it: 12)
        vm.expectRevert(abi.encodeWithSelector(Rollup.NotInClaimPhase.selector, 0, 12, 11));
        rollup.validateClaim(sq, stranger, ts(12));
        // 5. the caller is the current proposer (4 is tested after a claim below)
        vm.expectRevert(abi.encodeWithSelector(Rollup.NotCurrentProposer.selector, stranger, v0));
        rollup.validateClaim(sq, stranger, ts(8));
        vm.expectRevert(abi.encodeWithSelector(Rollup.NotCurrentProposer.selector, v0, v1));
        rollup.validateClaim(sq, v0, ts(9));
        // 6. rollupAddress
        vm.expectRevert(abi.encodeWithSelector(Rollup.WrongRollupAddress.selector, address(0xDEAD), address(rollup)));
        rollup.validateClaim(sq, v0, ts(8));
        sq.quote.rollupAddress = address(rollup);
        // 7. epochNumber, epochInitBlock, epochFinalBlock, totalFees
        vm.expectRevert(abi.encodeWithSelector(Rollup.EpochNumberMismatch.selector, 5, 0));
        rollup.validateClaim(sq, v0, ts(8));
        sq.quote.epochNumber = 0;
        vm.expectRevert(abi.encodeWithSelector(Rollup.EpochInitBlockMismatch.selector, 99, 1));
        rollup.validateClaim(sq, v0, ts(8));
        sq.quote.epochInitBlock = 1;
        vm.expectRevert(abi.encodeWithSelector(Rollup.EpochFinalBlockMismatch.selector, 98, 8));
        rollup.validateClaim(sq, v0, ts(8));
        sq.quote.epochFinalBlock = 8;
        vm.expectRevert(abi.encodeWithSelector(Rollup.TotalFeesMismatch.selector, 1, fees));
        rollup.validateClaim(sq, v0, ts(8));
        sq.quote.totalFees = fees;
        // 8. validUntilSlot >= current slot
        vm.expectRevert(abi.encodeWithSelector(Rollup.QuoteExpired.selector, 7, 8));
        rollup.validateClaim(sq, v0, ts(8));
        sq.quote.validUntilSlot = 8;
        // 9. basisPointFee <= 10000
        vm.expectRevert(abi.encodeWithSelector(Rollup.BasisPointFeeTooHigh.selector, 10_001));
        rollup.validateClaim(sq, v0, ts(8));
        sq.quote.basisPointFee = 10_000;
        // 10. bondAmount >= minBond
        vm.expectRevert(abi.encodeWithSelector(Rollup.BondTooLow.selector, 1, MIN_BOND));
        rollup.validateClaim(sq, v0, ts(8));
        sq.quote.bondAmount = MIN_BOND;
        // 11. signature
        vm.expectRevert(abi.encodeWithSelector(Rollup.InvalidSignatureLength.selector, 64));
        rollup.validateClaim(sq, v0, ts(8));
        sq = sign(sq.quote, PROVER_KEY);
        // 12. escrow: free deposit minus pending withdrawal covers the bond
        vm.expectRevert(abi.encodeWithSelector(Rollup.InsufficientEscrow.selector, prover, 0, MIN_BOND));
        rollup.validateClaim(sq, v0, ts(8));
        deposit(prover, MIN_BOND);

        vm.assertEq(rollup.validateClaim(sq, v0, ts(8)), 0, "valid at slot 8");
        // The claimant of a later claim slot is that slot's proposer, and the quote must still be valid.
        vm.expectRevert(abi.encodeWithSelector(Rollup.QuoteExpired.selector, 8, 9));
        rollup.validateClaim(sq, v1, ts(9));

        vm.prank(v0);
        rollup.claimEpochProofRight(sq);
        // 4. no claim yet: reported before the (also failing) proposer and quote checks
        sq.quote.rollupAddress = address(0xDEAD);
        vm.expectRevert(abi.encodeWithSelector(Rollup.EpochAlreadyClaimed.selector, 0, prover));
        rollup.validateClaim(sq, stranger, ts(8));
        // ...but after "in its claim phase"
        vm.expectRevert(abi.encodeWithSelector(Rollup.NotInClaimPhase.selector, 0, 12, 11));
        rollup.validateClaim(sq, stranger, ts(12));
    }

    /// @dev The transaction path applies the same checks as validateClaim, with msg.sender and now.
    function test_claimEpochProofRight_sameChecksAsValidate() public {
        SignedEpochProofQuote memory sq = readyToClaim(100, 200);
        vm.prank(v1);
        vm.expectRevert(abi.encodeWithSelector(Rollup.NotCurrentProposer.selector, v1, v0));
        rollup.claimEpochProofRight(sq);

        SignedEpochProofQuote memory bad = sign(quoteFor(0, prover, 100, 20_000), PROVER_KEY);
        vm.prank(v0);
        vm.expectRevert(abi.encodeWithSelector(Rollup.InsufficientEscrow.selector, prover, 10_000, 20_000));
        rollup.claimEpochProofRight(bad);

        warpToSlot(7); // time cannot go back on a real chain, but the check must still hold
        vm.prank(v1);
        vm.expectRevert(abi.encodeWithSelector(Rollup.EpochNotComplete.selector, 0, 7));
        rollup.claimEpochProofRight(sq);
    }

    function test_claim_lastClaimSlotOk_nextSlotNotInClaimPhase() public {
        SignedEpochProofQuote memory sq = readyToClaim(100, 200);
        warpToSlot(12);
        vm.prank(v0);
        vm.expectRevert(abi.encodeWithSelector(Rollup.NotInClaimPhase.selector, 0, 12, 11));
        rollup.claimEpochProofRight(sq);
        warpToSlot(11);
        vm.prank(v1);
        rollup.claimEpochProofRight(sq); // validUntilSlot == 11 == current slot: still valid
        vm.assertEq(rollup.getProofClaim().bondProvider, prover, "claimed in last slot");
    }

    function test_claim_twice_reverts() public {
        SignedEpochProofQuote memory sq = readyToClaim(100, 200);
        vm.prank(v0);
        rollup.claimEpochProofRight(sq);
        deposit(prover2, 1000);
        SignedEpochProofQuote memory sq2 = sign(quoteFor(0, prover2, 50, 200), PROVER2_KEY);
        warpToSlot(9);
        vm.prank(v1);
        vm.expectRevert(abi.encodeWithSelector(Rollup.EpochAlreadyClaimed.selector, 0, prover));
        rollup.claimEpochProofRight(sq2);
        vm.assertEq(escrow.stakedBonds(prover), 200, "staked once");
        vm.assertEq(escrow.stakedBonds(prover2), 0, "second not staked");
    }

    function test_claim_noBlocksAtAll() public {
        SignedEpochProofQuote memory sq;
        vm.expectRevert(Rollup.NoEpochToProve.selector);
        vm.prank(v0);
        rollup.claimEpochProofRight(sq);
    }

    function test_validateClaim_timestampBeforeGenesis() public {
        SignedEpochProofQuote memory sq;
        vm.expectRevert(abi.encodeWithSelector(Rollup.TimestampBeforeGenesis.selector, GENESIS - 1, GENESIS));
        rollup.validateClaim(sq, v0, GENESIS - 1);
    }

    // ------------------------------------------------------------------ signatures

    function _withSig(SignedEpochProofQuote memory sq, bytes32 r, bytes32 s, uint8 v)
        internal
        pure
        returns (SignedEpochProofQuote memory)
    {
        return SignedEpochProofQuote(sq.quote, abi.encodePacked(r, s, v));
    }

    function _parts(bytes memory sig) internal pure returns (bytes32 r, bytes32 s, uint8 v) {
        assembly {
            r := mload(add(sig, 32))
            s := mload(add(sig, 64))
            v := byte(0, mload(add(sig, 96)))
        }
    }

    function test_signature_rejections() public {
        SignedEpochProofQuote memory sq = readyToClaim(100, 200);
        (bytes32 r, bytes32 s, uint8 v) = _parts(sq.signature);
        uint256 t = ts(8);
        vm.assertEq(rollup.validateClaim(sq, v0, t), 0, "valid");

        for (uint8 badV = 0; badV < 2; badV++) {
            vm.expectRevert(abi.encodeWithSelector(Rollup.InvalidSignatureV.selector, badV));
            rollup.validateClaim(_withSig(sq, r, s, badV), v0, t);
        }
        vm.expectRevert(abi.encodeWithSelector(Rollup.InvalidSignatureV.selector, 29));
        rollup.validateClaim(_withSig(sq, r, s, 29), v0, t);

        // The malleable twin (n - s, other v) recovers the same key and must still be rejected.
        bytes32 highS = bytes32(N - uint256(s));
        vm.expectRevert(abi.encodeWithSelector(Rollup.SignatureHighS.selector, highS));
        rollup.validateClaim(_withSig(sq, r, highS, v == 27 ? 28 : 27), v0, t);

        vm.expectRevert(abi.encodeWithSelector(Rollup.InvalidSignature.selector, prover, address(0)));
        rollup.validateClaim(_withSig(sq, bytes32(0), s, v), v0, t);
        vm.expectRevert(abi.encodeWithSelector(Rollup.InvalidSignature.selector, prover, address(0)));
        rollup.validateClaim(_withSig(sq, r, bytes32(0), v), v0, t);

        // Signed by someone else.
        SignedEpochProofQuote memory other = sign(sq.quote, PROVER2_KEY);
        vm.expectRevert(abi.encodeWithSelector(Rollup.InvalidSignature.selector, prover, prover2));
        rollup.validateClaim(other, v0, t);

        vm.expectRevert(abi.encodeWithSelector(Rollup.InvalidSignatureLength.selector, 66));
        rollup.validateClaim(SignedEpochProofQuote(sq.quote, abi.encodePacked(sq.signature, uint8(0))), v0, t);
    }

    /// @dev A signature over the quote does not cover a tampered field (here the fee).
    function test_signature_tamperedFieldRecoversSomeoneElse() public {
        SignedEpochProofQuote memory sq = readyToClaim(100, 200);
        sq.quote.basisPointFee = 99;
        (bytes32 r, bytes32 s, uint8 v) = _parts(sq.signature);
        address recovered = ecrecover(rollup.quoteToDigest(sq.quote), v, r, s);
        vm.assertTrue(recovered != prover, "tamper changes signer");
        vm.expectRevert(abi.encodeWithSelector(Rollup.InvalidSignature.selector, prover, recovered));
        rollup.validateClaim(sq, v0, ts(8));
    }

    /// @dev prover == address(0) must not be satisfied by an unrecoverable signature.
    function test_signature_zeroProverNeverMatches() public {
        SignedEpochProofQuote memory sq = readyToClaim(100, 200);
        sq.quote.prover = address(0);
        sq.signature = abi.encodePacked(bytes32(0), bytes32(uint256(1)), uint8(27));
        vm.expectRevert(abi.encodeWithSelector(Rollup.InvalidSignature.selector, address(0), address(0)));
        rollup.validateClaim(sq, v0, ts(8));
    }

    /// @dev Any key, any quote contents: a correct signature passes the signature step and its
    /// high-s twin is rejected.
    function testFuzz_signature_anyKey(uint256 key, uint32 bps, uint256 bond) public {
        key = bound(key, 1, N - 1);
        bps = uint32(bound(bps, 0, 10_000));
        bond = bound(bond, MIN_BOND, 1e30);
        fillEpoch(0);
        warpToSlot(8);
        address who = vm.addr(key);
        deposit(who, bond);
        SignedEpochProofQuote memory sq = sign(quoteFor(0, who, bps, bond), key);
        vm.assertEq(rollup.validateClaim(sq, v0, ts(8)), 0, "valid");
        (bytes32 r, bytes32 s, uint8 v) = _parts(sq.signature);
        vm.assertLe(uint256(s), N / 2, "forge signs low-s");
        vm.expectRevert(abi.encodeWithSelector(Rollup.SignatureHighS.selector, bytes32(N - uint256(s))));
        rollup.validateClaim(_withSig(sq, r, bytes32(N - uint256(s)), v == 27 ? 28 : 27), v0, ts(8));
    }

    // ------------------------------------------------------------------ proposeAndClaim

    function test_proposeAndClaim() public {
        SignedEpochProofQuote memory sq = readyToClaim(300, 150);
        token.mint(v0, 77);
        vm.prank(v0);
        token.approve(address(rollup), 77);
        vm.expectEmit(true, true, true, true, address(rollup));
        emit Rollup.ProofRightClaimed(0, prover, v0, 150, 300, 8);
        vm.prank(v0);
        uint256 n = rollup.proposeAndClaim(2, 77, bytes32(uint256(9)), sq);
        vm.assertEq(n, 9, "block 9 in slot 8");
        vm.assertEq(rollup.pendingBlockNumber(), 9, "pending");
        vm.assertEq(rollup.getProofClaim().bondProvider, prover, "claimed");
        // The new block belongs to epoch 1: the claim is still on epoch 0's range.
        (uint256 f, uint256 t,) = rollup.getEpochBlocks(1);
        vm.assertEq(f, 9, "epoch 1 from");
        vm.assertEq(t, 9, "epoch 1 to");
    }

    function test_proposeAndClaim_claimFailureRevertsProposal() public {
        SignedEpochProofQuote memory sq = readyToClaim(300, 150);
        sq.quote.totalFees += 1;
        token.mint(v0, 77);
        vm.prank(v0);
        token.approve(address(rollup), 77);
        vm.prank(v0);
        vm.expectRevert(
            abi.encodeWithSelector(Rollup.TotalFeesMismatch.selector, sq.quote.totalFees, sq.quote.totalFees - 1)
        );
        rollup.proposeAndClaim(2, 77, bytes32(uint256(9)), sq);
        vm.assertEq(rollup.pendingBlockNumber(), 8, "no block added");
    }

    /// @dev Pruning first (claim phase over) leaves the new block's epoch as the epoch to prove: the
    /// claim fails and the whole transaction, prune included, reverts.
    function test_proposeAndClaim_afterClaimPhase_prunesThenFails() public {
        SignedEpochProofQuote memory sq = readyToClaim(300, 150);
        warpToSlot(12);
        token.mint(v0, 77);
        vm.prank(v0);
        token.approve(address(rollup), 77);
        vm.prank(v0);
        vm.expectRevert(abi.encodeWithSelector(Rollup.EpochNotComplete.selector, 1, 12));
        rollup.proposeAndClaim(2, 77, bytes32(uint256(9)), sq);
        vm.assertEq(rollup.pendingBlockNumber(), 8, "nothing changed");
        vm.assertTrue(rollup.isPruneDue(), "still due");
    }

    function test_propose_notProposer() public {
        token.mint(v1, 10);
        vm.prank(v1);
        token.approve(address(rollup), 10);
        vm.prank(v1);
        vm.expectRevert(abi.encodeWithSelector(Rollup.NotCurrentProposer.selector, v1, v0));
        rollup.propose(1, 10, bytes32(0));
        vm.assertEq(rollup.getCurrentProposer(), v0, "slot 0 -> v0");
        warpToSlot(1);
        vm.assertEq(rollup.getCurrentProposer(), v1, "slot 1 -> v1");
        vm.assertEq(rollup.getValidators().length, 2, "set");
    }
}
