//! The Rust hashing equals the contracts': quote digests (SPEC §2.2), the proof's public inputs
//! and the dev proof.

// Helpers outside #[test] fns unwrap too: this is a test crate.
#![allow(clippy::unwrap_used)]

mod common;

use alloy::primitives::{Address, U256, keccak256};
use common::*;
use epoch_rfq_l1::alloy;
use epoch_rfq_l1::anvil::TestChain;
use epoch_rfq_l1::bindings::DevEpochProofVerifier;
use epoch_rfq_l1::{DeployParams, dev_proof, public_inputs_hash};
use epoch_rfq_quote::{QuoteFields, domain_separator};
use rand::{Rng, SeedableRng};

fn random_u256(rng: &mut impl Rng) -> U256 {
    // Mix small and full-width values: both ends of the encoding matter.
    match rng.random_range(0..3) {
        0 => U256::from(rng.random::<u64>()),
        1 => U256::from_be_bytes(random_b256(rng).0),
        _ => U256::MAX,
    }
}

#[tokio::test]
async fn rust_digest_equals_quote_to_digest_for_random_quotes() {
    bounded(120, async {
        let chain = TestChain::start_and_deploy(DeployParams::default())
            .await
            .unwrap();
        let client = chain.reader().unwrap();
        let chain_id = chain.chain_id();
        let mut rng = rand::rngs::StdRng::seed_from_u64(0xd16e57);
        for i in 0..50 {
            let f = QuoteFields {
                prover: Address::from(random_b256(&mut rng).0[..20].try_into().unwrap_or([0; 20])),
                epoch_number: random_u256(&mut rng),
                epoch_init_block: random_u256(&mut rng),
                epoch_final_block: random_u256(&mut rng),
                total_fees: random_u256(&mut rng),
                // Half of them for this rollup, half for random ones (verifyingContract varies).
                rollup_address: if i % 2 == 0 {
                    client.rollup_address()
                } else {
                    Address::from_slice(&random_b256(&mut rng)[12..])
                },
                basis_point_fee: rng.random(),
                bond_amount: random_u256(&mut rng),
                valid_until_slot: random_u256(&mut rng),
            };
            let on_chain = client.quote_digest(&f).await.unwrap();
            if f.rollup_address == client.rollup_address() {
                assert_eq!(f.digest(chain_id), on_chain, "quote {i}: {f:?}");
            } else {
                // quoteToDigest always uses its own address as verifyingContract; a quote for
                // another rollup is rejected (WrongRollupAddress) before its signature is looked
                // at, so only the struct hash is comparable here.
                let mut buf = vec![0x19, 0x01];
                buf.extend_from_slice(
                    domain_separator(chain_id, client.rollup_address()).as_slice(),
                );
                buf.extend_from_slice(f.struct_hash().as_slice());
                assert_eq!(keccak256(&buf), on_chain, "quote {i}: {f:?}");
                assert_ne!(f.digest(chain_id), on_chain);
            }
        }
    })
    .await
}

#[tokio::test]
async fn dev_proof_matches_compute_public_inputs_hash_and_verifier() {
    bounded(120, async {
        let w = world(true, 0).await;
        w.propose_in(&[(1, 100), (2, 250), (3, 7)]).await;
        let c = &w.prover;
        let blocks = c.epoch_blocks(0).await.unwrap();
        assert_eq!(blocks.len(), 3);
        let prover = c.sender().unwrap();
        let rust = public_inputs_hash(c.chain_id(), c.rollup_address(), 0, &blocks, prover);
        let chain = c.public_inputs_hash(0, prover).await.unwrap();
        assert_eq!(rust, chain);
        // Another prover id gives another hash.
        assert_ne!(
            rust,
            c.public_inputs_hash(0, Address::repeat_byte(9))
                .await
                .unwrap()
        );
        // An empty epoch too.
        let empty = public_inputs_hash(c.chain_id(), c.rollup_address(), 5, &[], prover);
        assert_eq!(empty, c.public_inputs_hash(5, prover).await.unwrap());

        let verifier =
            DevEpochProofVerifier::new(c.info().contracts.verifier, c.provider().clone());
        let proof = dev_proof(c.chain_id(), c.rollup_address(), 0, &blocks, prover);
        assert_eq!(
            verifier.devProof(rust).call().await.unwrap().as_slice(),
            proof.as_ref()
        );
        assert!(verifier.verify(proof.clone(), rust).call().await.unwrap());
        let wrong = dev_proof(c.chain_id(), c.rollup_address(), 0, &blocks, Address::ZERO);
        assert!(!verifier.verify(wrong, rust).call().await.unwrap());
    })
    .await
}

#[tokio::test]
async fn anvil_eth_call_time_matches_latest_block() {
    // current_slot() is computed from the latest block; check the contract agrees in eth_call.
    bounded(60, async {
        let w = world(true, 0).await;
        for slot in [1u64, 2, 5, 9] {
            w.chain.advance_to_slot(slot).await.unwrap();
            assert_eq!(w.a.current_slot().await.unwrap(), slot);
            assert_eq!(w.a.contract_current_slot().await.unwrap(), slot);
        }
    })
    .await
}
