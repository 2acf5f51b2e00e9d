// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {RollupFixture} from "./utils/RollupFixture.sol";
import {SignedEpochProofQuote} from "../src/Rollup.sol";

/// @notice Realistic single calls for `forge test --match-contract GasTest --gas-report`
/// (docs/contracts.md). Epochs are full: 8 blocks by one proposer.
contract GasTest is RollupFixture {
    function test_gas_propose() public {
        fillEpoch(0);
    }

    function test_gas_claimEpochProofRight() public {
        SignedEpochProofQuote memory sq = readyToClaim(250, 500);
        claimAsProposer(sq);
    }

    function test_gas_proposeAndClaim() public {
        SignedEpochProofQuote memory sq = readyToClaim(250, 500);
        token.mint(proposer, 1000);
        vm.prank(proposer);
        token.approve(address(rollup), 1000);
        vm.prank(proposer);
        rollup.proposeAndClaim(3, 1000, bytes32(uint256(1)), sq);
    }

    function test_gas_submitEpochProof() public {
        SignedEpochProofQuote memory sq = readyToClaim(250, 500);
        claimAsProposer(sq);
        bytes memory proof = devProofFor(0, prover);
        rollup.submitEpochProof(0, proof);
    }

    function test_gas_prune_unclaimed() public {
        fillEpoch(0);
        warpToSlot(12);
        rollup.prune();
    }

    function test_gas_prune_claimedSlash() public {
        SignedEpochProofQuote memory sq = readyToClaim(250, 500);
        claimAsProposer(sq);
        warpToSlot(16);
        rollup.prune();
    }

    function test_gas_escrow() public {
        deposit(prover, 1000);
        vm.prank(prover);
        escrow.startWithdraw(400);
        vm.warp(block.timestamp + WITHDRAW_DELAY);
        vm.prank(prover);
        escrow.executeWithdraw();
    }
}
