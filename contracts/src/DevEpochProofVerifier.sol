// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IEpochProofVerifier} from "./IEpochProofVerifier.sol";

/// @notice Development proof system: the "proof" is a keccak commitment to the public inputs. It has
/// no soundness against a party who knows the inputs, but it is real in the sense that a proof for
/// other inputs (other blocks, other prover id, other chain) is rejected, which is what tests need.
contract DevEpochProofVerifier is IEpochProofVerifier {
    /// @dev Domain prefix so a dev proof can never collide with some other keccak of the same hash.
    bytes public constant DEV_PROOF_PREFIX = "epoch-rfq dev proof";

    /// @notice proof == keccak256(abi.encodePacked("epoch-rfq dev proof", publicInputsHash)), 32 bytes.
    function verify(bytes calldata proof, bytes32 publicInputsHash) external pure returns (bool) {
        return proof.length == 32 && bytes32(proof) == devProof(publicInputsHash);
    }

    /// @notice The one proof this verifier accepts for `publicInputsHash` (for tools and tests).
    function devProof(bytes32 publicInputsHash) public pure returns (bytes32) {
        return keccak256(abi.encodePacked(DEV_PROOF_PREFIX, publicInputsHash));
    }
}
