#![allow(dead_code, clippy::unwrap_used)]
//! Shared helpers: a fake `ChainView`, keys and quotes, node start-up.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use alloy_primitives::{Address, U256, address};
use alloy_signer_local::PrivateKeySigner;
use epoch_rfq_node::*;
use epoch_rfq_quote::{EpochProofQuote, QuoteFields};
use futures::future::BoxFuture;
use parking_lot::Mutex;

pub const CHAIN_ID: u64 = 31337;
pub const ROLLUP: Address = address!("5FbDB2315678afecb367f032d93F642f64180aa3");
pub const ESCROW: Address = address!("e7f1725E7734CE288F8367e1Bb143E90bb3F0512");

/// Epoch 7 (blocks 57..=64, fees 123000) to prove, current slot 65.
pub fn snapshot() -> ChainSnapshot {
    ChainSnapshot {
        chain_id: CHAIN_ID,
        rollup_address: ROLLUP,
        l1_block_number: 300,
        l1_timestamp: 1_700_000_000,
        current_slot: 65,
        time: TimeParams::SANDBOX,
        epoch_to_prove: Some(EpochView::new(7).with_contents(57, 64, U256::from(123_000))),
        just_completed_epoch: None,
        min_bond: U256::from(1000),
    }
}

/// A `ChainView` whose answers the test sets.
#[derive(Default)]
pub struct FakeChain {
    pub snap: Mutex<Option<ChainSnapshot>>,
    pub escrow: Mutex<HashMap<Address, U256>>,
    pub snapshot_calls: AtomicUsize,
    pub escrow_calls: AtomicUsize,
    /// How long each escrow lookup takes, in call order (then immediate): a slow L1.
    pub escrow_delays: Mutex<std::collections::VecDeque<Duration>>,
}

impl FakeChain {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            snap: Mutex::new(Some(snapshot())),
            ..Default::default()
        })
    }
    pub fn set(&self, s: ChainSnapshot) {
        *self.snap.lock() = Some(s);
    }
}

impl ChainView for FakeChain {
    fn snapshot(&self) -> BoxFuture<'_, Result<ChainSnapshot, ChainViewError>> {
        self.snapshot_calls.fetch_add(1, Ordering::Relaxed);
        let s = self.snap.lock().clone();
        Box::pin(async move { s.ok_or_else(|| ChainViewError::msg("L1 unreachable (fake)")) })
    }
    fn escrow_available(
        &self,
        prover: Address,
    ) -> BoxFuture<'_, Result<Option<U256>, ChainViewError>> {
        self.escrow_calls.fetch_add(1, Ordering::Relaxed);
        let v = self.escrow.lock().get(&prover).copied();
        let delay = self.escrow_delays.lock().pop_front();
        Box::pin(async move {
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            Ok(v)
        })
    }
    fn l1_contract_addresses(&self) -> L1ContractAddresses {
        L1ContractAddresses {
            rollup_address: ROLLUP,
            proof_commitment_escrow_address: Some(ESCROW),
            fee_token_address: None,
            verifier_address: None,
        }
    }
}

pub fn key(i: u64) -> PrivateKeySigner {
    let mut b = [0u8; 32];
    b[24..].copy_from_slice(&(i + 1).to_be_bytes());
    b[0] = 0x22;
    PrivateKeySigner::from_slice(&b).unwrap()
}

/// Fields valid against [`snapshot`] for prover `i`.
pub fn fields(i: u64) -> QuoteFields {
    QuoteFields {
        prover: key(i).address(),
        epoch_number: U256::from(7),
        epoch_init_block: U256::from(57),
        epoch_final_block: U256::from(64),
        total_fees: U256::from(123_000),
        rollup_address: ROLLUP,
        basis_point_fee: 250,
        bond_amount: U256::from(1_000_000),
        valid_until_slot: U256::from(67),
    }
}

pub fn sign(i: u64, f: QuoteFields) -> EpochProofQuote {
    f.sign(&key(i), CHAIN_ID).unwrap()
}

pub fn valid(i: u64) -> EpochProofQuote {
    sign(i, fields(i))
}

/// Runs a test body with a time limit.
pub async fn bounded<F: Future<Output = T>, T>(secs: u64, f: F) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("test timed out")
}

pub async fn start(config: NodeConfig, chain: Arc<FakeChain>) -> NodeHandle {
    NodeService::spawn(config, chain, None).await.unwrap()
}

/// POSTs a raw body, returns (status, body text).
pub async fn post_raw(url: &str, body: impl Into<reqwest::Body>) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

pub async fn post_json(url: &str, v: &serde_json::Value) -> (u16, serde_json::Value) {
    let (s, t) = post_raw(url, v.to_string()).await;
    (
        s,
        serde_json::from_str(&t).unwrap_or(serde_json::Value::Null),
    )
}
