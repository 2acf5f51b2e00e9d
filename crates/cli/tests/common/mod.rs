//! Shared by the end-to-end sandbox tests: fast options (2 s slots) and exact reads of L1 state at
//! a given L1 block.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use alloy_primitives::{Address, U256};
use epoch_rfq::sandbox::{ProverPricing, ProverSpec, QuotePath, SandboxEvent, SandboxOptions};
use epoch_rfq_l1::L1Client;
use epoch_rfq_l1::bindings::{FeeToken, ProofCommitmentEscrow};

/// A fresh data folder for one test, kept afterwards (the sandbox's files, for inspection).
pub fn data_dir(test: &str) -> PathBuf {
    epoch_rfq_testkit::TempDir::new(&format!("e2e-{test}")).keep()
}

/// Sandbox options for tests: 2 s slots, 4-slot epochs, a 3-slot claim window, any free node
/// port, polling every 500 ms, no provers yet.
pub fn fast(test: &str) -> SandboxOptions {
    let mut o = SandboxOptions::standard(data_dir(test));
    o.slot_duration = 2;
    o.epoch_duration = 4;
    o.claim_window = 3;
    o.node_port = 0;
    o.polling_interval = Duration::from_millis(500);
    o.provers.clear();
    o.print = true;
    o
}

/// A reliable prover at a fixed price.
pub fn fixed(name: &str, path: QuotePath, bps: u32, bond: u64) -> ProverSpec {
    ProverSpec::new(
        name,
        path,
        ProverPricing::Fixed {
            basis_point_fee: bps,
            bond: U256::from(bond),
        },
    )
}

/// FeeToken balance of `who` at the end of L1 block `block`.
pub async fn balance_at(l1: &L1Client, who: Address, block: u64) -> U256 {
    FeeToken::new(l1.fee_token_address(), l1.provider().clone())
        .balanceOf(who)
        .block(block.into())
        .call()
        .await
        .expect("balanceOf")
}

/// (free deposit, staked bonds) of `who` in the escrow at the end of L1 block `block`.
pub async fn escrow_at(l1: &L1Client, who: Address, block: u64) -> (U256, U256) {
    let escrow = ProofCommitmentEscrow::new(l1.escrow_address(), l1.provider().clone());
    let free = escrow
        .deposits(who)
        .block(block.into())
        .call()
        .await
        .expect("deposits");
    let staked = escrow
        .stakedBonds(who)
        .block(block.into())
        .call()
        .await
        .expect("stakedBonds");
    (free, staked)
}

/// The first `EpochProven` of a claimed epoch in `events`.
pub fn first_proven(events: &[SandboxEvent]) -> Option<&SandboxEvent> {
    events
        .iter()
        .find(|e| matches!(e, SandboxEvent::EpochProven { claim: Some(_), .. }))
}

/// Provers whose quotes for `epoch` reached the node.
pub fn quoted(events: &[SandboxEvent], for_epoch: u64) -> Vec<Address> {
    events
        .iter()
        .filter_map(|e| match e {
            SandboxEvent::QuoteReceived { epoch, prover, .. } if *epoch == for_epoch => {
                Some(*prover)
            }
            _ => None,
        })
        .collect()
}

/// The claim of `for_epoch` in `events`: (prover, fee, bond).
pub fn claim_of(events: &[SandboxEvent], for_epoch: u64) -> Option<(Address, u32, U256)> {
    events.iter().find_map(|e| match e {
        SandboxEvent::Claimed {
            epoch,
            prover,
            basis_point_fee,
            bond,
            ..
        } if *epoch == for_epoch => Some((*prover, *basis_point_fee, *bond)),
        _ => None,
    })
}
