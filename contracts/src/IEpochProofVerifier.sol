// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @notice The proof system the Rollup trusts. The Rollup commits to everything a proof must attest
/// to in a single hash (see Rollup.computePublicInputsHash and docs/contracts.md), so a verifier only
/// has to bind the proof to that hash. Real deployments plug in a SNARK verifier behind this interface.
interface IEpochProofVerifier {
    /// @return true iff `proof` proves the statement committed to by `publicInputsHash`.
    function verify(bytes calldata proof, bytes32 publicInputsHash) external view returns (bool);
}
