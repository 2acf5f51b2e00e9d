// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {TestBase} from "./utils/Vm.sol";
import {RollupFixture} from "./utils/RollupFixture.sol";
import {Rollup, EpochProofQuote, SignedEpochProofQuote, EpochProofClaim, BlockLog} from "../src/Rollup.sol";
import {ProofCommitmentEscrow} from "../src/ProofCommitmentEscrow.sol";
import {FeeToken} from "../src/FeeToken.sol";
import {DevEpochProofVerifier} from "../src/DevEpochProofVerifier.sol";

/// @notice Random sequences of every public action by three provers, a proposer and an attacker.
/// Every action is wrapped in try/catch: reverts are legitimate outcomes; what matters is the state
/// the invariants see afterwards.
contract Handler is TestBase {
    Rollup internal rollup;
    ProofCommitmentEscrow internal escrow;
    FeeToken internal token;
    DevEpochProofVerifier internal verifier;
    address internal proposer = address(0xB10C);
    address internal attacker = address(0xA77AC);
    uint256[3] internal keys = [uint256(0xA11CE), 0xB0B, 0xCAFE];
    address[3] public provers;

    uint256 public ghostNow;
    uint256 public unauthorizedBondMoves;
    uint256 public badStakeDeltas;
    uint256 public claims;
    uint256 public proofs;
    uint256 public prunes;

    constructor(Rollup rollup_, FeeToken token_, DevEpochProofVerifier verifier_) {
        rollup = rollup_;
        escrow = rollup_.escrow();
        token = token_;
        verifier = verifier_;
        for (uint256 i = 0; i < 3; i++) {
            provers[i] = vm.addr(keys[i]);
        }
        ghostNow = block.timestamp;
    }

    /// @dev Invariant runs may reset block.timestamp between calls; re-apply ours first.
    modifier timed() {
        vm.warp(ghostNow);
        _;
    }

    function advance(uint256 secs) external timed {
        ghostNow += bound(secs, 1, 6) * 4; // whole slots, so sequences reach claim phases and deadlines
        vm.warp(ghostNow);
    }

    /// @dev Jump to slot k (0..9) of the next epoch: lands in claim phases, just past them, and at
    /// proof deadlines far more often than small steps would.
    function advanceToNextEpoch(uint256 k) external timed {
        uint256 epochDuration = rollup.epochDuration();
        uint256 slot = (rollup.getCurrentEpoch() + 1) * epochDuration + bound(k, 0, 9);
        ghostNow = rollup.genesisTime() + slot * rollup.slotDuration();
        vm.warp(ghostNow);
    }

    function deposit(uint256 i, uint256 amount) external timed {
        address p = provers[i % 3];
        amount = bound(amount, 1, 3000);
        token.mint(p, amount);
        vm.prank(p);
        token.approve(address(escrow), amount);
        vm.prank(p);
        escrow.deposit(amount);
    }

    function startWithdraw(uint256 i, uint256 amount) external timed {
        address p = provers[i % 3];
        amount = bound(amount, 0, escrow.deposits(p) + 10);
        vm.prank(p);
        try escrow.startWithdraw(amount) {} catch {}
    }

    function executeWithdraw(uint256 i) external timed {
        address p = provers[i % 3];
        vm.prank(p);
        try escrow.executeWithdraw() {} catch {}
    }

    function propose(uint256 fees) external timed {
        fees = bound(fees, 0, 10_000);
        token.mint(proposer, fees);
        vm.prank(proposer);
        token.approve(address(rollup), fees);
        vm.prank(proposer);
        try rollup.propose(1, fees, keccak256(abi.encode(ghostNow))) {} catch {}
    }

    function _quote(uint256 i, uint256 bps, uint256 bond, uint256 validFor)
        internal
        view
        returns (SignedEpochProofQuote memory sq, bool ok)
    {
        (bool exists, uint256 epoch) = rollup.getEpochToProve();
        if (!exists) return (sq, false);
        EpochProofQuote memory q;
        (q.epochInitBlock, q.epochFinalBlock, q.totalFees) = rollup.getEpochBlocks(epoch);
        q.prover = provers[i % 3];
        q.epochNumber = epoch;
        q.rollupAddress = address(rollup);
        q.basisPointFee = uint32(bound(bps, 0, 10_000));
        q.bondAmount = bound(bond, 50, 800); // below minBond (100) sometimes
        q.validUntilSlot = rollup.getCurrentSlot() + bound(validFor, 0, 3);
        return (SignedEpochProofQuote(q, _sign(keys[i % 3], rollup.quoteToDigest(q))), true);
    }

    function _sign(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    function claim(uint256 i, uint256 bps, uint256 bond, uint256 validFor) external timed {
        (SignedEpochProofQuote memory sq, bool ok) = _quote(i, bps, bond, validFor);
        if (!ok) return;
        address p = sq.quote.prover;
        uint256 stakedBefore = escrow.stakedBonds(p);
        vm.prank(proposer);
        try rollup.claimEpochProofRight(sq) {
            claims++;
            if (escrow.stakedBonds(p) != stakedBefore + sq.quote.bondAmount) badStakeDeltas++;
        } catch {
            if (escrow.stakedBonds(p) != stakedBefore) badStakeDeltas++;
        }
    }

    function proposeAndClaim(uint256 i, uint256 bps, uint256 bond, uint256 fees) external timed {
        (SignedEpochProofQuote memory sq, bool ok) = _quote(i, bps, bond, 1);
        if (!ok) return;
        fees = bound(fees, 0, 10_000);
        token.mint(proposer, fees);
        vm.prank(proposer);
        token.approve(address(rollup), fees);
        address p = sq.quote.prover;
        uint256 stakedBefore = escrow.stakedBonds(p);
        vm.prank(proposer);
        try rollup.proposeAndClaim(1, fees, bytes32(fees), sq) {
            claims++;
            // propose may have pruned first, slashing a previous bond of the same prover
            if (escrow.stakedBonds(p) > stakedBefore + sq.quote.bondAmount) badStakeDeltas++;
        } catch {}
    }

    function submitProof(bool honest) external timed {
        (bool exists, uint256 epoch) = rollup.getEpochToProve();
        if (!exists) return;
        address id = rollup.getProofClaim().bondProvider;
        if (id == address(0)) id = address(this);
        bytes32 inputs = rollup.computePublicInputsHash(epoch, honest ? id : attacker);
        try rollup.submitEpochProof(epoch, abi.encodePacked(verifier.devProof(inputs))) {
            proofs++;
        } catch {}
    }

    function prune() external timed {
        try rollup.prune() {
            prunes++;
        } catch {}
    }

    // forgefmt: disable-next-item
    /// @dev Nobody but the rollup may move bonds: any success here is a bug.
    function attackBonds(uint256 i, uint256 amount, uint8 which) external timed {
        address p = provers[i % 3];
        amount = bound(amount, 0, 2000);
        vm.prank(attacker);
        if (which % 3 == 0) {
            try escrow.stakeBond(p, amount) {
                unauthorizedBondMoves++;
            } catch {}
        } else if (which % 3 == 1) {
            try escrow.unstakeBond(p, amount) {
                unauthorizedBondMoves++;
            } catch {}
        } else {
            try escrow.slashBond(p, amount, attacker) {
                unauthorizedBondMoves++;
            } catch {}
        }
    }
}

contract InvariantTest is RollupFixture {
    Handler internal handler;

    function setUp() public override {
        super.setUp();
        handler = new Handler(rollup, token, verifier);
        token.transferOwnership(address(handler));
    }

    function targetContracts() public view returns (address[] memory t) {
        t = new address[](1);
        t[0] = address(handler);
    }

    /// @dev The escrow holds exactly the free deposits (which include pending withdrawals) plus the
    /// staked bonds; nothing else, nothing less.
    function invariant_escrowBalanceIsDepositsPlusStakes() public view {
        uint256 sum;
        for (uint256 i = 0; i < 3; i++) {
            address p = handler.provers(i);
            sum += escrow.deposits(p) + escrow.stakedBonds(p);
        }
        vm.assertEq(token.balanceOf(address(escrow)), sum, "escrow balance");
    }

    function invariant_pendingWithdrawalWithinFreeDeposit() public view {
        for (uint256 i = 0; i < 3; i++) {
            address p = handler.provers(i);
            (uint256 pending,) = escrow.pendingWithdrawal(p);
            vm.assertLe(pending, escrow.deposits(p), "pending <= free");
        }
    }

    /// @dev Bonds are staked once per claim: the only stake in the system is the live claim's bond.
    function invariant_onlyTheLiveClaimIsStaked() public view {
        EpochProofClaim memory c = rollup.getProofClaim();
        for (uint256 i = 0; i < 3; i++) {
            address p = handler.provers(i);
            vm.assertEq(escrow.stakedBonds(p), c.bondProvider == p ? c.bondAmount : 0, "staked == live claim");
        }
        vm.assertEq(handler.badStakeDeltas(), 0, "a claim staked other than exactly its bond");
    }

    function invariant_nobodyButTheRollupMovesBonds() public view {
        vm.assertEq(handler.unauthorizedBondMoves(), 0, "unauthorized bond move");
    }

    /// @dev The rollup holds exactly the fees of the unproven blocks.
    function invariant_rollupHoldsUnprovenFees() public view {
        uint256 sum;
        for (uint256 n = rollup.provenBlockNumber() + 1; n <= rollup.pendingBlockNumber(); n++) {
            BlockLog memory b = rollup.getBlock(n);
            sum += b.totalFees;
        }
        vm.assertEq(token.balanceOf(address(rollup)), sum, "rollup balance");
        vm.assertLe(rollup.provenBlockNumber(), rollup.pendingBlockNumber(), "proven <= pending");
    }

    /// @dev Shows (with -vv) that sequences really reach claims, proofs and prunes.
    function afterInvariant() public {
        emit log_named_uint("claims", handler.claims());
        emit log_named_uint("proofs", handler.proofs());
        emit log_named_uint("prunes", handler.prunes());
    }
}
