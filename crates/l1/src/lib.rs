//! The L1 side of epoch-rfq (SPEC §4): bindings of the contracts, one typed client with readable
//! errors, deployment, chain time, the dev proof, and (feature `test-harness`) an anvil harness.
//!
//! * [`L1Client`]: Rollup, escrow and fee token methods returning domain types ([`Claim`],
//!   [`BlockRecord`], [`EpochRange`], [`TimeParams`], events…). Every revert is decoded into
//!   [`Revert`] / [`ClaimRejected`] / [`RollupError`] / [`EscrowError`] / [`TokenError`], for
//!   `eth_call`s and for transactions (simulated before sending; replayed when they revert on
//!   chain).
//! * [`deploy()`]: the whole set, described by a serialisable [`Deployment`].
//! * [`TimeParams`]: slot/epoch/claim-phase/deadline arithmetic identical to the contract's.
//! * [`dev_proof()`]: the proof the `DevEpochProofVerifier` accepts.
//! * [`endpoints`]: every URL of `ETHEREUM_HOSTS` behind one provider (start-up probe, ranked
//!   fallback, retries honouring `Retry-After`, subscriptions over a ws URL), with per-endpoint
//!   [`L1Metrics`].
//! * [`anvil`] (feature `test-harness`): spawn anvil, deploy, move time.
//! * `fault_proxy` (feature `test-harness`): an HTTP JSON-RPC relay in front of anvil with
//!   switchable faults (429s, 5xx, resets, latency, down, another chain id or head).

#[cfg(feature = "clap")]
pub mod args;
pub mod bindings;
/// The provider stack for a signing account: gas estimation, the chain id, the wallet, and the
/// nonce read from the node for each transaction (see [`client::connect_provider`] for why not a
/// local nonce cache). A macro because the builder's type spells out every filler.
macro_rules! signing_provider_builder {
    ($signer:expr) => {
        alloy::providers::ProviderBuilder::new()
            .disable_recommended_fillers()
            .with_gas_estimation()
            .with_simple_nonce_management()
            .fetch_chain_id()
            .wallet(alloy::network::EthereumWallet::from($signer))
    };
}

mod client;
mod deploy;
pub mod endpoints;
pub mod error;
mod escrow;
pub mod metrics;
pub mod proof;
pub mod retry;
mod rollup;
pub mod serde_util;
pub mod txsend;
mod types;

#[cfg(feature = "test-harness")]
pub mod anvil;
#[cfg(feature = "test-harness")]
pub mod fault_proxy;

pub use client::{
    DEFAULT_RECEIPT_TIMEOUT, L1_REQUEST_TIMEOUT, L1Client, RollupInfo, connect_provider,
};
pub use deploy::{DeployParams, Deployment, deploy, deploy_with_signer};
pub use endpoints::{Connected, EndpointReport, EndpointStatus, EndpointsError, connect_endpoints};
/// Chain time arithmetic; defined once in the quote crate, shared with the pool.
pub use epoch_rfq_quote::TimeParams;
pub use error::{
    ClaimRejected, EscrowError, L1Error, Result, Revert, RollupError, TokenError, decode_revert,
};
pub use metrics::L1Metrics;
pub use proof::{dev_proof, dev_proof_for_hash, public_inputs_hash, public_inputs_hash_raw};
pub use rollup::Proposed;
pub use types::{
    BlockProposed, BlockRecord, BondSlashed, Claim, ContractAddresses, EpochProven, EpochRange,
    EscrowStatus, LogPosition, PendingWithdrawal, ProofRightClaimed, PrunedPending, TxOutcome,
    quote_fields, signed_quote, sol_quote,
};

/// Re-export of the alloy version this crate is built against (providers, primitives).
pub use alloy;
