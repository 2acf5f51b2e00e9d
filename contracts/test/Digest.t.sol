// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {RollupFixture} from "./utils/RollupFixture.sol";
import {EpochProofQuote} from "../src/Rollup.sol";

/// @notice EIP-712 digest of a quote: independent recomputation and a fixed vector for the Rust side.
contract DigestTest is RollupFixture {
    function _fixedQuote() internal view returns (EpochProofQuote memory) {
        return EpochProofQuote({
            prover: 0x00000000000000000000000000000000000000AA,
            epochNumber: 7,
            epochInitBlock: 57,
            epochFinalBlock: 64,
            totalFees: 123_000,
            rollupAddress: address(rollup),
            basisPointFee: 250,
            bondAmount: 1_000_000,
            validUntilSlot: 60
        });
    }

    function _manualDigest(EpochProofQuote memory q) internal view returns (bytes32) {
        bytes32 domainTypehash =
            keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
        bytes32 domainSeparator = keccak256(
            abi.encode(domainTypehash, keccak256("Aztec Rollup"), keccak256("1"), block.chainid, address(rollup))
        );
        bytes32 typehash = keccak256(
            "EpochProofQuote(address prover,uint256 epochNumber,uint256 epochInitBlock,uint256 epochFinalBlock,uint256 totalFees,address rollupAddress,uint32 basisPointFee,uint256 bondAmount,uint256 validUntilSlot)"
        );
        bytes32 structHash = keccak256(
            abi.encode(
                typehash,
                q.prover,
                q.epochNumber,
                q.epochInitBlock,
                q.epochFinalBlock,
                q.totalFees,
                q.rollupAddress,
                uint256(q.basisPointFee),
                q.bondAmount,
                q.validUntilSlot
            )
        );
        return keccak256(abi.encodePacked(hex"1901", domainSeparator, structHash));
    }

    function test_typehash() public view {
        vm.assertEq(
            rollup.EPOCH_PROOF_QUOTE_TYPEHASH(),
            keccak256(
                "EpochProofQuote(address prover,uint256 epochNumber,uint256 epochInitBlock,uint256 epochFinalBlock,uint256 totalFees,address rollupAddress,uint32 basisPointFee,uint256 bondAmount,uint256 validUntilSlot)"
            ),
            "typehash"
        );
    }

    /// @dev Vector (also in docs/contracts.md), computed independently with js-sha3:
    /// chain id 31337, rollup 0xF62849F9A0B5Bf2913b396098F7c7019b51A820a, the quote below.
    function test_digest_fixedVector() public {
        vm.assertEq(address(rollup), 0xF62849F9A0B5Bf2913b396098F7c7019b51A820a, "fixture rollup address");
        EpochProofQuote memory q = _fixedQuote();
        bytes32 d = rollup.quoteToDigest(q);
        emit log_named_address("rollup", address(rollup));
        emit log_named_bytes32("digest", d);
        vm.assertEq(d, _manualDigest(q), "manual EIP-712");
        vm.assertEq(d, DIGEST_VECTOR, "fixed vector");
        // RFC 6979 signature by key 0xA11CE (deterministic: Rust's k256 signer gives the same bytes).
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(PROVER_KEY, d);
        emit log_named_address("signer", vm.addr(PROVER_KEY));
        emit log_named_bytes32("r", r);
        emit log_named_bytes32("s", s);
        emit log_named_uint("v", v);
    }

    bytes32 internal constant DIGEST_VECTOR = 0x0a050f5683e8e79ac7c1df641b060aa34d1a6c1280f872049d52e2e84842f260;

    function testFuzz_digest_matchesManual(EpochProofQuote memory q, uint64 chainId) public {
        vm.assume(chainId != 0);
        vm.chainId(chainId);
        vm.assertEq(rollup.quoteToDigest(q), _manualDigest(q), "manual EIP-712");
    }

    /// @dev Every field is covered by the digest.
    function test_digest_everyFieldMatters() public view {
        EpochProofQuote memory q = _fixedQuote();
        bytes32 d = rollup.quoteToDigest(q);
        EpochProofQuote memory m;
        m = _fixedQuote();
        m.prover = address(0xAB);
        vm.assertTrue(rollup.quoteToDigest(m) != d, "prover");
        m = _fixedQuote();
        m.epochNumber++;
        vm.assertTrue(rollup.quoteToDigest(m) != d, "epochNumber");
        m = _fixedQuote();
        m.epochInitBlock++;
        vm.assertTrue(rollup.quoteToDigest(m) != d, "epochInitBlock");
        m = _fixedQuote();
        m.epochFinalBlock++;
        vm.assertTrue(rollup.quoteToDigest(m) != d, "epochFinalBlock");
        m = _fixedQuote();
        m.totalFees++;
        vm.assertTrue(rollup.quoteToDigest(m) != d, "totalFees");
        m = _fixedQuote();
        m.rollupAddress = address(0xAB);
        vm.assertTrue(rollup.quoteToDigest(m) != d, "rollupAddress");
        m = _fixedQuote();
        m.basisPointFee++;
        vm.assertTrue(rollup.quoteToDigest(m) != d, "basisPointFee");
        m = _fixedQuote();
        m.bondAmount++;
        vm.assertTrue(rollup.quoteToDigest(m) != d, "bondAmount");
        m = _fixedQuote();
        m.validUntilSlot++;
        vm.assertTrue(rollup.quoteToDigest(m) != d, "validUntilSlot");
    }
}
