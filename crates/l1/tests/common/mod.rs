//! Set-up of this crate's anvil tests (the world of roles is this crate's own; testkit's `anvil`
//! helpers build on this crate, so its tests take only testkit's crate-free parts).
#![allow(dead_code, clippy::unwrap_used)]

use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use epoch_rfq_l1::alloy;
use epoch_rfq_l1::anvil::TestChain;
use epoch_rfq_l1::bindings::Rollup;
use epoch_rfq_l1::{DeployParams, EpochRange, L1Client, sol_quote};
use epoch_rfq_quote::{EpochProofQuote, QuoteFields};

pub use epoch_rfq_testkit::bounded;

/// Account roles on the test chain.
pub const DEPLOYER: usize = 0;
pub const PROPOSER_A: usize = 1; // proposer of even slots
pub const PROPOSER_B: usize = 2; // proposer of odd slots
pub const PROVER: usize = 3;
pub const PROVER_2: usize = 4;
pub const SLASH_RECIPIENT: usize = 5;

/// 12-second slots leave ample room for a transaction sent right after `advance_to_slot` to be
/// mined in the same slot (anvil keeps its clock running from the forced timestamp).
pub fn params(validators: Vec<Address>, slash_recipient: Address) -> DeployParams {
    DeployParams {
        slot_duration: 12,
        epoch_duration: 4,
        claim_window: 2,
        min_bond: U256::from(1000),
        withdraw_delay: 200,
        slash_recipient,
        validators,
        ..DeployParams::default()
    }
}

pub struct World {
    pub chain: TestChain,
    pub owner: L1Client,
    pub a: L1Client,
    pub b: L1Client,
    pub prover: L1Client,
    pub prover2: L1Client,
    pub prover_key: PrivateKeySigner,
    pub prover2_key: PrivateKeySigner,
}

pub const FUNDS: u64 = 1_000_000_000;

/// Anvil + deployment with validators [A, B], everybody funded, provers with a deposit of
/// `prover_deposit` (0 = none), proposers' allowance to the Rollup set.
pub async fn world(validators: bool, prover_deposit: u64) -> World {
    let mut chain = TestChain::start(Default::default()).await.expect("anvil");
    let vals = if validators {
        vec![
            chain.address(PROPOSER_A).unwrap(),
            chain.address(PROPOSER_B).unwrap(),
        ]
    } else {
        vec![]
    };
    let slash = chain.address(SLASH_RECIPIENT).unwrap();
    chain.deploy(params(vals, slash)).await.expect("deploy");
    let owner = chain.client(DEPLOYER).await.unwrap();
    let a = chain.client(PROPOSER_A).await.unwrap();
    let b = chain.client(PROPOSER_B).await.unwrap();
    let prover = chain.client(PROVER).await.unwrap();
    let prover2 = chain.client(PROVER_2).await.unwrap();
    for c in [&a, &b, &prover, &prover2] {
        owner
            .mint(c.sender().unwrap(), U256::from(FUNDS))
            .await
            .unwrap();
    }
    for c in [&a, &b] {
        c.approve(c.rollup_address(), U256::MAX).await.unwrap();
    }
    if prover_deposit > 0 {
        prover
            .deposit_with_approval(U256::from(prover_deposit))
            .await
            .unwrap();
    }
    World {
        prover_key: chain.signer(PROVER).unwrap(),
        prover2_key: chain.signer(PROVER_2).unwrap(),
        chain,
        owner,
        a,
        b,
        prover,
        prover2,
    }
}

impl World {
    /// The client of the proposer of `slot` (validators [A, B]).
    pub fn proposer_of(&self, slot: u64) -> &L1Client {
        if slot.is_multiple_of(2) {
            &self.a
        } else {
            &self.b
        }
    }

    /// Proposes one block in each of `slots` (by its proposer) with the given fees.
    pub async fn propose_in(&self, slots: &[(u64, u64)]) {
        for (slot, fees) in slots {
            self.chain.advance_to_slot(*slot).await.unwrap();
            let p = self.proposer_of(*slot);
            p.propose(
                U256::from(3),
                U256::from(*fees),
                keccak256(format!("block in slot {slot}")),
            )
            .await
            .unwrap();
        }
    }

    /// Fields of a good quote for `range` by `prover`.
    pub fn fields(&self, range: &EpochRange, prover: Address, bps: u32, bond: u64) -> QuoteFields {
        let time = self.chain.deployment().unwrap().time();
        QuoteFields {
            basis_point_fee: bps,
            bond_amount: U256::from(bond),
            valid_until_slot: U256::from(time.claim_phase_last_slot(range.epoch)),
            ..range.quote_fields(prover, self.a.rollup_address())
        }
    }

    pub fn sign(&self, f: QuoteFields, key: &PrivateKeySigner) -> EpochProofQuote {
        f.sign(key, self.chain.chain_id()).unwrap()
    }
}

/// A signed contract struct built by hand (lets a test sign what the quote crate refuses).
pub fn hand_signed(
    f: &QuoteFields,
    key: &PrivateKeySigner,
    chain_id: u64,
) -> Rollup::SignedEpochProofQuote {
    let sig = key
        .sign_hash_sync(&f.digest(chain_id))
        .unwrap()
        .normalized_s();
    let mut bytes = Vec::with_capacity(65);
    bytes.extend_from_slice(&sig.r().to_be_bytes::<32>());
    bytes.extend_from_slice(&sig.s().to_be_bytes::<32>());
    bytes.push(27 + u8::from(sig.v()));
    Rollup::SignedEpochProofQuote {
        quote: sol_quote(f),
        signature: Bytes::from(bytes),
    }
}

pub fn random_b256(rng: &mut impl rand::Rng) -> B256 {
    let mut b = [0u8; 32];
    rng.fill(&mut b);
    B256::from(b)
}
