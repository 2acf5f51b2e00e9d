#![allow(dead_code, clippy::unwrap_used)]
//! Helpers of the node's tests: a fake `ChainView` over the shared sample epoch
//! (`epoch_rfq_testkit::sample`), node start-up, raw JSON-RPC posts.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use alloy_primitives::{Address, U256, address};
use epoch_rfq_node::*;
use epoch_rfq_quote::EpochProofQuote;
use futures::future::BoxFuture;
use parking_lot::Mutex;

#[allow(unused_imports)]
pub use epoch_rfq_testkit::bounded;
#[allow(unused_imports)]
pub use epoch_rfq_testkit::keys::derived_key as key;
#[allow(unused_imports)]
pub use epoch_rfq_testkit::sample::{CHAIN_ID, ROLLUP, fields, sign, snapshot};

pub const ESCROW: Address = address!("e7f1725E7734CE288F8367e1Bb143E90bb3F0512");

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

/// A good quote of prover `i` for the sample epoch ([`snapshot`]'s epoch to prove).
pub fn valid(i: usize) -> EpochProofQuote {
    epoch_rfq_testkit::sample::quote(i)
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
