//! Transactions under a fee market, on a real anvil with mining under the test's control: a
//! transaction stuck behind a base-fee spike is replaced with the same nonce, one dropped from
//! the pool is sent again, one that cannot land before its deadline is abandoned, and with a
//! confirmation depth a reorg that takes a transaction out is followed until it is deep again,
//! and a nonce gap below a transaction (an earlier one of the account forgotten) is filled.

// Helpers outside #[test] fns unwrap too: this is a test crate.
#![allow(clippy::unwrap_used)]

use std::sync::Mutex;
use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::providers::ext::AnvilApi;
use alloy::rpc::types::anvil::ReorgOptions;
use epoch_rfq_l1::anvil::TestChain;
use epoch_rfq_l1::metrics::TxEvent;
use epoch_rfq_l1::txsend::{Broadcast, Deadline, SendOptions, TxObserver, TxPolicy};
use epoch_rfq_l1::{DeployParams, L1Client, L1Error, L1Metrics, alloy};

/// Remembers every broadcast.
#[derive(Default)]
struct Seen(Mutex<Vec<Broadcast>>);

impl TxObserver for Seen {
    fn broadcast(&self, sent: &Broadcast) {
        self.0.lock().unwrap().push(*sent);
    }
}

impl Seen {
    fn all(&self) -> Vec<Broadcast> {
        self.0.lock().unwrap().clone()
    }

    async fn wait_for(&self, n: usize) {
        epoch_rfq_testkit::wait_until(
            &format!("{n} broadcasts"),
            Duration::from_secs(20),
            async || self.0.lock().unwrap().len() >= n,
        )
        .await;
    }
}

struct World {
    chain: TestChain,
    client: L1Client,
    metrics: L1Metrics,
    spender: Address,
}

async fn world(policy: TxPolicy) -> World {
    let chain = TestChain::start_and_deploy(DeployParams::default())
        .await
        .unwrap();
    let metrics = L1Metrics::new();
    let client = chain
        .client(1)
        .await
        .unwrap()
        .with_tx_policy(policy)
        .with_metrics(metrics.clone());
    let spender = chain.address(2).unwrap();
    World {
        chain,
        client,
        metrics,
        spender,
    }
}

fn policy(replace_after_blocks: u64, confirmations: u64) -> TxPolicy {
    TxPolicy {
        replace_after_blocks,
        confirmations,
        poll_interval: Duration::from_millis(30),
        ..TxPolicy::default()
    }
}

/// Sends `approve(spender, amount)` from the world's client through `send_tx`.
async fn approve(
    w: &World,
    amount: u64,
    opts: SendOptions<'_>,
) -> Result<alloy::rpc::types::TransactionReceipt, L1Error> {
    let token = w.client.fee_token();
    w.client
        .send_tx(
            "approve",
            token.approve(w.spender, U256::from(amount)),
            opts,
        )
        .await
}

async fn nonce(w: &World) -> u64 {
    w.chain
        .provider()
        .get_transaction_count(w.client.sender().unwrap())
        .await
        .unwrap()
}

async fn allowance(w: &World) -> U256 {
    w.client
        .allowance(w.client.sender().unwrap(), w.spender)
        .await
        .unwrap()
}

async fn mine_blocks(w: &World, n: usize) {
    for _ in 0..n {
        w.chain.mine().await.unwrap();
        tokio::time::sleep(Duration::from_millis(80)).await;
    }
}

/// Mines one block at a time (at most 40) until the allowance is `amount`.
async fn mine_until_allowance(w: &World, amount: u64) {
    for _ in 0..40 {
        if allowance(w).await == U256::from(amount) {
            return;
        }
        mine_blocks(w, 1).await;
    }
}

#[tokio::test]
async fn a_transaction_stuck_behind_a_fee_spike_is_replaced_with_the_same_nonce() {
    let w = world(policy(2, 0)).await;
    let before = nonce(&w).await;
    w.chain.set_automine(false).await.unwrap();
    let seen = Seen::default();
    let opts = SendOptions {
        observer: Some(&seen),
        ..SendOptions::default()
    };
    let drive = async {
        seen.wait_for(1).await;
        let first = seen.all()[0];
        // Base fee ten times what the first broadcast can pay, for several blocks.
        w.chain
            .provider()
            .anvil_set_next_block_base_fee_per_gas(first.fees.max_fee_per_gas * 10)
            .await
            .unwrap();
        mine_until_allowance(&w, 7).await;
    };
    let (receipt, ()) = tokio::join!(approve(&w, 7, opts), drive);
    let receipt = receipt.expect("mined after a replacement");
    let broadcasts = seen.all();
    assert!(
        broadcasts.len() >= 2,
        "replaced at least once: {broadcasts:?}"
    );
    assert!(broadcasts.iter().all(|b| b.nonce == before), "one nonce");
    for pair in broadcasts.windows(2) {
        assert!(
            pair[1].fees.max_fee_per_gas * 1000 >= pair[0].fees.max_fee_per_gas * 1125
                && pair[1].fees.max_priority_fee_per_gas * 1000
                    >= pair[0].fees.max_priority_fee_per_gas * 1125,
            "each replacement +12.5% or more: {pair:?}"
        );
    }
    assert_ne!(receipt.transaction_hash, broadcasts[0].tx_hash);
    assert!(
        broadcasts
            .iter()
            .any(|b| b.tx_hash == receipt.transaction_hash)
    );
    assert_eq!(nonce(&w).await, before + 1, "exactly one transaction mined");
    assert_eq!(allowance(&w).await, U256::from(7u64));
    assert!(w.metrics.transactions("approve", TxEvent::replaced) >= 1);
    assert_eq!(w.metrics.transactions("approve", TxEvent::mined), 1);
}

#[tokio::test]
async fn a_transaction_dropped_from_the_pool_is_sent_again() {
    let w = world(policy(50, 0)).await;
    w.chain.set_automine(false).await.unwrap();
    let seen = Seen::default();
    let opts = SendOptions {
        observer: Some(&seen),
        ..SendOptions::default()
    };
    let drive = async {
        seen.wait_for(1).await;
        let first = seen.all()[0].tx_hash;
        w.chain
            .provider()
            .anvil_drop_transaction(first)
            .await
            .unwrap();
        assert!(
            w.chain
                .provider()
                .get_transaction_by_hash(first)
                .await
                .unwrap()
                .is_none(),
            "dropped"
        );
        mine_until_allowance(&w, 9).await;
    };
    let (receipt, ()) = tokio::join!(approve(&w, 9, opts), drive);
    let receipt = receipt.expect("mined after a re-broadcast");
    // The same signed transaction again: same hash, no replacement needed.
    assert_eq!(receipt.transaction_hash, seen.all()[0].tx_hash);
    assert!(w.metrics.transactions("approve", TxEvent::rebroadcast) >= 1);
    assert_eq!(w.metrics.transactions("approve", TxEvent::replaced), 0);
}

/// An earlier transaction of the account (a cancel nobody follows, reorged out) is forgotten
/// while ours waits behind it: the sender fills the missing nonce, and ours is mined.
#[tokio::test]
async fn a_nonce_gap_below_a_transaction_is_filled() {
    let w = world(policy(50, 0)).await;
    w.chain.set_automine(false).await.unwrap();
    let from = w.client.sender().unwrap();
    let before = nonce(&w).await;
    // The account's next nonce, taken by a transaction the sender does not follow.
    let earlier = w
        .chain
        .provider()
        .send_transaction(
            alloy::rpc::types::TransactionRequest::default()
                .from(from)
                .to(from)
                .value(U256::ZERO)
                .nonce(before),
        )
        .await
        .unwrap();
    let earlier = *earlier.tx_hash();
    let seen = Seen::default();
    let opts = SendOptions {
        observer: Some(&seen),
        ..SendOptions::default()
    };
    let drive = async {
        seen.wait_for(1).await;
        assert_eq!(
            seen.all()[0].nonce,
            before + 1,
            "ours went after the earlier one"
        );
        w.chain
            .provider()
            .anvil_drop_transaction(earlier)
            .await
            .unwrap();
        mine_until_allowance(&w, 7).await;
    };
    let (receipt, ()) = tokio::join!(approve(&w, 7, opts), drive);
    receipt.expect("mined once the gap below it was filled");
    assert_eq!(allowance(&w).await, U256::from(7u64));
    assert_eq!(nonce(&w).await, before + 2, "the filler and ours");
    assert!(w.metrics.transactions("approve", TxEvent::gap_filled) >= 1);
}

#[tokio::test]
async fn a_transaction_that_cannot_land_before_its_deadline_is_abandoned() {
    let w = world(policy(1, 0)).await;
    let fees = w.client.estimate_fees().await.unwrap();
    // A cap that leaves no room for a replacement (+12.5% needed).
    let capped = w.client.clone().with_tx_policy(TxPolicy {
        max_fee_per_gas: fees.max_fee_per_gas + fees.max_fee_per_gas / 20,
        ..policy(1, 0)
    });
    let w = World {
        client: capped,
        ..w
    };
    w.chain.set_automine(false).await.unwrap();
    let (_, now) = w.chain.latest_block().await.unwrap();
    let seen = Seen::default();
    let opts = SendOptions {
        observer: Some(&seen),
        deadline: Some(Deadline {
            timestamp: now + 6,
            what: "proof deadline",
        }),
    };
    let drive = async {
        seen.wait_for(1).await;
        w.chain
            .provider()
            .anvil_set_next_block_base_fee_per_gas(fees.max_fee_per_gas * 10)
            .await
            .unwrap();
        for i in 1..=10 {
            w.chain.mine_at(now + i).await.unwrap();
            tokio::time::sleep(Duration::from_millis(80)).await;
        }
    };
    let (result, ()) = tokio::join!(approve(&w, 11, opts), drive);
    let err = result.expect_err("abandoned");
    assert!(
        matches!(
            err,
            L1Error::Abandoned {
                what: "proof deadline",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("L1_MAX_FEE_PER_GAS_GWEI"), "{err}");
    assert_eq!(w.metrics.transactions("approve", TxEvent::abandoned), 1);
    assert_eq!(allowance(&w).await, U256::ZERO, "never mined");
}

#[tokio::test]
async fn with_a_confirmation_depth_a_reorged_transaction_is_followed_until_deep() {
    let w = world(policy(50, 2)).await;
    w.chain.set_automine(false).await.unwrap();
    let seen = Seen::default();
    let opts = SendOptions {
        observer: Some(&seen),
        ..SendOptions::default()
    };
    let first_block = Mutex::new(None);
    let drive = async {
        seen.wait_for(1).await;
        let hash = seen.all()[0].tx_hash;
        mine_blocks(&w, 1).await;
        let mined = w
            .chain
            .provider()
            .get_transaction_receipt(hash)
            .await
            .unwrap()
            .expect("mined in the next block");
        *first_block.lock().unwrap() = mined.block_hash;
        // Take that block out: the chain continues from its parent without it.
        w.chain
            .provider()
            .anvil_reorg(ReorgOptions {
                depth: 1,
                tx_block_pairs: vec![],
            })
            .await
            .unwrap();
        for _ in 0..40 {
            mine_blocks(&w, 1).await;
        }
    };
    let (receipt, ()) = tokio::join!(approve(&w, 13, opts), drive);
    let receipt = receipt.expect("mined and deep after the reorg");
    let first_block = first_block.lock().unwrap().expect("first inclusion seen");
    assert_ne!(
        receipt.block_hash,
        Some(first_block),
        "not the reorged block"
    );
    let canonical = w
        .chain
        .provider()
        .get_block_by_number(receipt.block_number.unwrap().into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(Some(canonical.header.hash), receipt.block_hash);
    assert_eq!(allowance(&w).await, U256::from(13u64));
}

#[tokio::test]
async fn a_fee_cap_below_the_base_fee_is_refused_with_the_numbers() {
    let w = world(policy(3, 0)).await;
    let base_fee = w.client.base_fee().await.unwrap();
    let low = w.client.clone().with_tx_policy(TxPolicy {
        max_fee_per_gas: base_fee / 2,
        ..TxPolicy::default()
    });
    let err = low.check_fee_cap().await.expect_err("refused");
    let text = err.to_string();
    assert!(text.contains("L1_MAX_FEE_PER_GAS_GWEI"), "{text}");
    assert!(text.contains("base fee"), "{text}");
    w.client
        .check_fee_cap()
        .await
        .expect("the default cap is fine");
}
