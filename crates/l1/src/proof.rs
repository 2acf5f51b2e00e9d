//! The dev proof system (SPEC §4 `DevEpochProofVerifier`): the public-inputs hash exactly as
//! `Rollup.computePublicInputsHash` computes it, and the one proof the dev verifier accepts.

use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::sol_types::SolValue;

use crate::types::BlockRecord;

/// `DevEpochProofVerifier.DEV_PROOF_PREFIX`.
pub const DEV_PROOF_PREFIX: &[u8] = b"epoch-rfq dev proof";

/// `keccak256(abi.encode(chainid, rollup, epoch, fromBlock, toBlock,
/// keccak256(abi.encodePacked(contentHash[fromBlock..=toBlock])), proverId))`.
///
/// `content_hashes` are those of blocks `from_block..=to_block`, in order (empty, with both
/// bounds 0, for an epoch without blocks).
pub fn public_inputs_hash_raw(
    chain_id: u64,
    rollup: Address,
    epoch: u64,
    from_block: u64,
    to_block: u64,
    content_hashes: &[B256],
    prover_id: Address,
) -> B256 {
    // abi.encodePacked of a bytes32[] is the concatenation of the words.
    let mut packed = Vec::with_capacity(32 * content_hashes.len());
    for h in content_hashes {
        packed.extend_from_slice(h.as_slice());
    }
    let hashes_hash = keccak256(&packed);
    let encoded = (
        U256::from(chain_id),
        rollup,
        U256::from(epoch),
        U256::from(from_block),
        U256::from(to_block),
        hashes_hash,
        prover_id,
    )
        .abi_encode();
    keccak256(encoded)
}

/// [`public_inputs_hash_raw`] over an epoch's blocks (in order, contiguous, as returned by
/// [`crate::L1Client::epoch_blocks`]).
pub fn public_inputs_hash(
    chain_id: u64,
    rollup: Address,
    epoch: u64,
    blocks: &[BlockRecord],
    prover_id: Address,
) -> B256 {
    let from = blocks.first().map_or(0, |b| b.number);
    let to = blocks.last().map_or(0, |b| b.number);
    let hashes: Vec<B256> = blocks.iter().map(|b| b.content_hash).collect();
    public_inputs_hash_raw(chain_id, rollup, epoch, from, to, &hashes, prover_id)
}

/// The proof the dev verifier accepts for `public_inputs_hash`:
/// `keccak256(abi.encodePacked("epoch-rfq dev proof", publicInputsHash))`, 32 bytes.
pub fn dev_proof_for_hash(public_inputs_hash: B256) -> Bytes {
    let mut buf = Vec::with_capacity(DEV_PROOF_PREFIX.len() + 32);
    buf.extend_from_slice(DEV_PROOF_PREFIX);
    buf.extend_from_slice(public_inputs_hash.as_slice());
    Bytes::copy_from_slice(keccak256(buf).as_slice())
}

/// The dev proof of `epoch` (blocks in order) for prover `prover_id` on chain `chain_id`.
pub fn dev_proof(
    chain_id: u64,
    rollup: Address,
    epoch: u64,
    blocks: &[BlockRecord],
    prover_id: Address,
) -> Bytes {
    dev_proof_for_hash(public_inputs_hash(
        chain_id, rollup, epoch, blocks, prover_id,
    ))
}
