//! The node's L1 view lags L1 by up to one refresh interval. A quote for an epoch that has just
//! ended, arriving before the node noticed, must not be lost (a gossiped quote is never sent
//! twice): the node re-reads L1 once and checks again. Quotes for a running epoch cannot make it
//! re-read L1 more than once per 250 ms.
#![allow(clippy::unwrap_used)] // tests: a failure is a panic

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use epoch_rfq_node::*;

/// Epoch 7 (slots 56..=63) still running: current slot 62.
fn running() -> ChainSnapshot {
    ChainSnapshot {
        current_slot: 62,
        epoch_to_prove: Some(EpochView::new(7)),
        ..snapshot()
    }
}

#[tokio::test]
async fn a_quote_for_an_epoch_that_just_ended_is_checked_against_a_fresh_view() {
    bounded(30, async {
        let chain = FakeChain::new();
        chain.set(running());
        // No periodic refresh during the test: only the lag rule can re-read L1.
        let config = NodeConfig {
            refresh_interval: Duration::from_secs(3600),
            ..NodeConfig::local()
        };
        let node = start(config, chain.clone()).await;
        let service = node.service();
        let calls = || chain.snapshot_calls.load(Ordering::Relaxed);

        // Still running on L1 too: refused, after one re-read; a second quote right after does
        // not re-read L1.
        let before = calls();
        let r = service.add_quote(&valid(0), IngestPath::Local).await;
        assert_eq!(r.unwrap_err().code(), "epoch_not_complete");
        let r = service.add_quote(&valid(1), IngestPath::Gossip).await;
        assert_eq!(r.unwrap_err().code(), "epoch_not_complete");
        assert_eq!(calls(), before + 1);

        // The epoch ends on L1 (slot 65, contents final); the node has not refreshed yet.
        chain.set(snapshot());
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(service.snapshot().unwrap().current_slot, 62);
        let r = service.add_quote(&valid(0), IngestPath::Local).await;
        assert!(r.unwrap().is_stored());
        assert_eq!(service.snapshot().unwrap().current_slot, 65);
        assert_eq!(service.quotes(7).len(), 1);
        node.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_quotes_share_one_fresh_view() {
    bounded(30, async {
        let chain = FakeChain::new();
        chain.set(running());
        let config = NodeConfig {
            refresh_interval: Duration::from_secs(3600),
            ..NodeConfig::local()
        };
        let node = start(config, chain.clone()).await;
        let service = node.service().clone();
        // The epoch ends on L1; three provers' quotes arrive at once (HTTP and gossip).
        chain.set(snapshot());
        let before = chain.snapshot_calls.load(Ordering::Relaxed);
        let adds = (0..3).map(|i| {
            let service = service.clone();
            tokio::spawn(async move {
                let path = if i == 0 {
                    IngestPath::Rpc
                } else {
                    IngestPath::Gossip
                };
                service.add_quote(&valid(i), path).await
            })
        });
        for r in futures::future::join_all(adds).await {
            assert!(r.unwrap().unwrap().is_stored());
        }
        assert_eq!(service.quotes(7).len(), 3);
        // One re-read of L1; the other quotes waited for it and reused the fresh view.
        assert_eq!(chain.snapshot_calls.load(Ordering::Relaxed) - before, 1);
        node.shutdown().await;
    })
    .await;
}
