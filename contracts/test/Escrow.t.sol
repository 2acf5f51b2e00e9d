// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {RollupFixture} from "./utils/RollupFixture.sol";
import {Rollup, SignedEpochProofQuote} from "../src/Rollup.sol";
import {ProofCommitmentEscrow} from "../src/ProofCommitmentEscrow.sol";
import {FeeToken} from "../src/FeeToken.sol";
import {DevEpochProofVerifier} from "../src/DevEpochProofVerifier.sol";

contract EscrowTest is RollupFixture {
    address internal alice = address(0xA1);

    function test_deposit_and_events() public {
        token.mint(alice, 300);
        vm.prank(alice);
        token.approve(address(escrow), 300);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit ProofCommitmentEscrow.Deposited(alice, 200, 200);
        vm.prank(alice);
        escrow.deposit(200);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit ProofCommitmentEscrow.Deposited(alice, 100, 300);
        vm.prank(alice);
        escrow.deposit(100);
        vm.assertEq(escrow.deposits(alice), 300, "deposits");
        vm.assertEq(token.balanceOf(address(escrow)), 300, "held");
    }

    function test_deposit_zero() public {
        vm.prank(alice);
        vm.expectRevert(ProofCommitmentEscrow.ZeroAmount.selector);
        escrow.deposit(0);
    }

    function test_deposit_withoutAllowanceReverts() public {
        token.mint(alice, 10);
        vm.prank(alice);
        vm.expectRevert();
        escrow.deposit(10);
    }

    function test_withdraw_delayExactBoundary() public {
        deposit(alice, 500);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit ProofCommitmentEscrow.WithdrawStarted(alice, 200, GENESIS + WITHDRAW_DELAY);
        vm.prank(alice);
        escrow.startWithdraw(200);
        (uint256 amount, uint256 at) = escrow.pendingWithdrawal(alice);
        vm.assertEq(amount, 200, "pending amount");
        vm.assertEq(at, GENESIS + WITHDRAW_DELAY, "executableAt");
        vm.assertEq(escrow.availableForBond(alice), 300, "available");

        vm.warp(GENESIS + WITHDRAW_DELAY - 1);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(
                ProofCommitmentEscrow.WithdrawalNotReady.selector,
                alice,
                GENESIS + WITHDRAW_DELAY,
                GENESIS + WITHDRAW_DELAY - 1
            )
        );
        escrow.executeWithdraw();

        vm.warp(GENESIS + WITHDRAW_DELAY);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit ProofCommitmentEscrow.WithdrawExecuted(alice, 200);
        vm.prank(alice);
        escrow.executeWithdraw();
        vm.assertEq(token.balanceOf(alice), 200, "paid");
        vm.assertEq(escrow.deposits(alice), 300, "rest");
        (amount, at) = escrow.pendingWithdrawal(alice);
        vm.assertEq(amount + at, 0, "cleared");

        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(ProofCommitmentEscrow.NoPendingWithdrawal.selector, alice));
        escrow.executeWithdraw();
    }

    function test_startWithdraw_exceedsDeposit() public {
        deposit(alice, 50);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(ProofCommitmentEscrow.WithdrawExceedsDeposit.selector, alice, 51, 50));
        escrow.startWithdraw(51);
    }

    function test_startWithdraw_replacesAndZeroCancels() public {
        deposit(alice, 500);
        vm.prank(alice);
        escrow.startWithdraw(100);
        vm.warp(GENESIS + 10);
        vm.prank(alice);
        escrow.startWithdraw(400); // replaces, timer restarts
        (uint256 amount, uint256 at) = escrow.pendingWithdrawal(alice);
        vm.assertEq(amount, 400, "replaced");
        vm.assertEq(at, GENESIS + 10 + WITHDRAW_DELAY, "timer restarted");
        vm.expectEmit(true, true, true, true, address(escrow));
        emit ProofCommitmentEscrow.WithdrawStarted(alice, 0, 0);
        vm.prank(alice);
        escrow.startWithdraw(0);
        (amount, at) = escrow.pendingWithdrawal(alice);
        vm.assertEq(amount + at, 0, "cancelled");
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(ProofCommitmentEscrow.NoPendingWithdrawal.selector, alice));
        escrow.executeWithdraw();
    }

    function test_onlyRollupMovesBonds() public {
        deposit(alice, 500);
        vm.startPrank(alice);
        vm.expectRevert(abi.encodeWithSelector(ProofCommitmentEscrow.NotRollup.selector, alice, address(rollup)));
        escrow.stakeBond(alice, 1);
        vm.expectRevert(abi.encodeWithSelector(ProofCommitmentEscrow.NotRollup.selector, alice, address(rollup)));
        escrow.unstakeBond(alice, 1);
        vm.expectRevert(abi.encodeWithSelector(ProofCommitmentEscrow.NotRollup.selector, alice, address(rollup)));
        escrow.slashBond(alice, 1, alice);
        vm.stopPrank();
    }

    function test_rollupSide_errorsAndEvents() public {
        deposit(alice, 500);
        vm.prank(alice);
        escrow.startWithdraw(450);
        vm.startPrank(address(rollup));
        vm.expectRevert(
            abi.encodeWithSelector(ProofCommitmentEscrow.InsufficientAvailableDeposit.selector, alice, 50, 51)
        );
        escrow.stakeBond(alice, 51);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit ProofCommitmentEscrow.BondStaked(alice, 50);
        escrow.stakeBond(alice, 50);
        vm.expectRevert(abi.encodeWithSelector(ProofCommitmentEscrow.InsufficientStakedBond.selector, alice, 50, 51));
        escrow.unstakeBond(alice, 51);
        vm.expectRevert(abi.encodeWithSelector(ProofCommitmentEscrow.InsufficientStakedBond.selector, alice, 50, 51));
        escrow.slashBond(alice, 51, slashRecipient);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit ProofCommitmentEscrow.BondUnstaked(alice, 20);
        escrow.unstakeBond(alice, 20);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit ProofCommitmentEscrow.BondSlashedTo(alice, 30, slashRecipient);
        escrow.slashBond(alice, 30, slashRecipient);
        vm.stopPrank();
        vm.assertEq(escrow.deposits(alice), 470, "450 pending + 20 unstaked");
        vm.assertEq(escrow.stakedBonds(alice), 0, "none staked");
        vm.assertEq(token.balanceOf(slashRecipient), 30, "slashed");
        vm.assertEq(token.balanceOf(address(escrow)), 470, "balance == deposits + staked");
    }

    /// @dev SPEC: the free deposit minus the pending withdrawal must cover the bond.
    function test_pendingWithdrawalCountsAgainstBond() public {
        SignedEpochProofQuote memory sq = readyToClaim(100, 100); // prover deposited 10_000
        vm.prank(prover);
        escrow.startWithdraw(9_950);
        vm.prank(proposer);
        vm.expectRevert(abi.encodeWithSelector(Rollup.InsufficientEscrow.selector, prover, 50, 100));
        rollup.claimEpochProofRight(sq);
        vm.prank(prover);
        escrow.startWithdraw(9_900);
        vm.prank(proposer);
        rollup.claimEpochProofRight(sq);
        // The staked bond cannot be withdrawn: only the free 9_900 can.
        vm.prank(prover);
        vm.expectRevert(
            abi.encodeWithSelector(ProofCommitmentEscrow.WithdrawExceedsDeposit.selector, prover, 10_000, 9_900)
        );
        escrow.startWithdraw(10_000);
        vm.warp(GENESIS + 10_000);
        vm.prank(prover);
        escrow.executeWithdraw();
        vm.assertEq(token.balanceOf(prover), 9_900, "withdrew the free part");
        vm.assertEq(escrow.stakedBonds(prover), 100, "bond stays");
    }

    function test_constructor_zeroAddress() public {
        vm.expectRevert(ProofCommitmentEscrow.ZeroAddress.selector);
        new ProofCommitmentEscrow(IERC20(address(0)), 1, address(1));
        vm.expectRevert(ProofCommitmentEscrow.ZeroAddress.selector);
        new ProofCommitmentEscrow(IERC20(address(token)), 1, address(0));
    }

    function testFuzz_withdraw_neverPanics(uint256 dep, uint256 req, uint256 bond, uint256 dt) public {
        dep = bound(dep, 1, 1e36);
        req = bound(req, 0, 2e36);
        bond = bound(bond, 0, 1e36);
        dt = bound(dt, 0, 3 * WITHDRAW_DELAY);
        deposit(alice, dep);
        vm.prank(address(rollup));
        try escrow.stakeBond(alice, bond) {}
        catch (bytes memory err) {
            vm.assertEq(bytes4(err), ProofCommitmentEscrow.InsufficientAvailableDeposit.selector, "stake error");
        }
        vm.prank(alice);
        try escrow.startWithdraw(req) {}
        catch (bytes memory err) {
            vm.assertEq(bytes4(err), ProofCommitmentEscrow.WithdrawExceedsDeposit.selector, "start error");
        }
        vm.warp(block.timestamp + dt);
        vm.prank(alice);
        try escrow.executeWithdraw() {}
        catch (bytes memory err) {
            bytes4 sel = bytes4(err);
            vm.assertTrue(
                sel == ProofCommitmentEscrow.NoPendingWithdrawal.selector
                    || sel == ProofCommitmentEscrow.WithdrawalNotReady.selector,
                "execute error is a custom error"
            );
        }
        vm.assertEq(
            token.balanceOf(address(escrow)), escrow.deposits(alice) + escrow.stakedBonds(alice), "balance identity"
        );
        (uint256 pending,) = escrow.pendingWithdrawal(alice);
        vm.assertLe(pending, escrow.deposits(alice), "pending <= free");
    }
}

contract FeeTokenTest is RollupFixture {
    function test_onlyOwnerMints() public {
        vm.prank(address(0xBAD));
        vm.expectRevert();
        token.mint(address(0xBAD), 1);
        token.mint(address(0x600D), 5);
        vm.assertEq(token.balanceOf(address(0x600D)), 5, "minted");
        vm.assertEq(token.owner(), address(this), "owner");
    }
}
