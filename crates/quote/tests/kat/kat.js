// Known-answer values for crates/quote, computed by an independent EIP-712 implementation
// (ethers v6). Run (see README.md in this folder):
//   KAT=$(mktemp -d) && (cd "$KAT" && npm install ethers@6.17.0)
//   NODE_PATH="$KAT/node_modules" node crates/quote/tests/kat/kat.js
// and paste the output into crates/quote/tests/kat.rs.
"use strict";
const { TypedDataEncoder, Wallet, solidityPacked, version } = require("ethers");

const types = {
  EpochProofQuote: [
    { name: "prover", type: "address" },
    { name: "epochNumber", type: "uint256" },
    { name: "epochInitBlock", type: "uint256" },
    { name: "epochFinalBlock", type: "uint256" },
    { name: "totalFees", type: "uint256" },
    { name: "rollupAddress", type: "address" },
    { name: "basisPointFee", type: "uint32" },
    { name: "bondAmount", type: "uint256" },
    { name: "validUntilSlot", type: "uint256" },
  ],
};

const MAX = (1n << 256n) - 1n;
const vectors = [
  {
    name: "TYPICAL",
    // anvil account #1
    key: "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    chainId: 31337n,
    rollup: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    epochNumber: 7n, epochInitBlock: 57n, epochFinalBlock: 64n, totalFees: 123000n,
    basisPointFee: 250, bondAmount: 1000000n, validUntilSlot: 60n,
  },
  {
    name: "EXTREME",
    key: "0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    chainId: (1n << 64n) - 1n,
    rollup: "0xFFfFfFffFFfffFFfFFfFFFFFffFFFffffFfFFFfF",
    epochNumber: MAX, epochInitBlock: 0n, epochFinalBlock: MAX - 1n, totalFees: MAX,
    basisPointFee: 10000, bondAmount: 1n << 255n, validUntilSlot: (1n << 53n) - 1n,
  },
];

console.log(`// ethers ${version}`);
for (const v of vectors) {
  const wallet = new Wallet(v.key);
  const domain = { name: "Aztec Rollup", version: "1", chainId: v.chainId, verifyingContract: v.rollup };
  const value = {
    prover: wallet.address,
    epochNumber: v.epochNumber, epochInitBlock: v.epochInitBlock, epochFinalBlock: v.epochFinalBlock,
    totalFees: v.totalFees, rollupAddress: v.rollup, basisPointFee: v.basisPointFee,
    bondAmount: v.bondAmount, validUntilSlot: v.validUntilSlot,
  };
  const encoder = TypedDataEncoder.from(types);
  const digest = TypedDataEncoder.hash(domain, types, value);
  const sig = wallet.signingKey.sign(digest);
  const wire = solidityPacked(
    ["uint8", "address", "uint256", "uint256", "uint256", "uint256", "address", "uint32", "uint256", "uint256", "bytes32", "bytes32", "uint8"],
    [1, value.prover, value.epochNumber, value.epochInitBlock, value.epochFinalBlock, value.totalFees,
     value.rollupAddress, value.basisPointFee, value.bondAmount, value.validUntilSlot, sig.r, sig.s, sig.v]);
  const out = {
    encodeType: encoder.encodeType("EpochProofQuote"),
    key: v.key,
    prover: wallet.address,
    chainId: v.chainId.toString(),
    domainSeparator: TypedDataEncoder.hashDomain(domain),
    structHash: encoder.hashStruct("EpochProofQuote", value),
    digest,
    signature: sig.serialized,
    wire,
  };
  console.log(`// ${v.name}`);
  console.log(JSON.stringify(out, null, 2));
}
