// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {RollupFixture} from "./utils/RollupFixture.sol";
import {Handler} from "./Invariant.t.sol";

/// @notice The invariant handler can reach every outcome (guards against a vacuous invariant run).
contract HandlerSmokeTest is RollupFixture {
    function test_handlerReachesClaimProofAndPrune() public {
        Handler h = new Handler(rollup, token, verifier);
        token.transferOwnership(address(h));
        h.deposit(0, 2000);
        h.propose(10);
        h.advance(6); // slot 6
        h.propose(20);
        h.advance(2); // slot 8
        h.claim(0, 100, 500, 3);
        vm.assertEq(h.claims(), 1, "claimed");
        h.submitProof(true);
        vm.assertEq(h.proofs(), 1, "proved");
        h.propose(5); // slot 8, epoch 1
        h.advance(6);
        h.advance(6); // slot 20: epoch 1's claim phase (16..19) is over
        h.prune();
        vm.assertEq(h.prunes(), 1, "pruned");
        vm.assertEq(h.badStakeDeltas(), 0, "stake deltas");
    }
}
