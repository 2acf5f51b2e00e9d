//! Live `ProofRightClaimed` streams: ws subscription (also through the L1-fault proxy, across a
//! dropped connection) and polled HTTP filter.

// Helpers outside #[test] fns unwrap too: this is a test crate.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use alloy::primitives::{Address, U256};
use common::*;
use epoch_rfq_l1::alloy;
use epoch_rfq_l1::fault_proxy::FaultProxy;
use epoch_rfq_l1::{Deployment, L1Client, TxOutcome};
use futures::StreamExt;

/// Proposes a block in slot 1, moves to epoch 0's claim phase and claims it (validator A, a
/// 100-bps quote of the world's prover): the prover and the claim.
async fn claim_epoch_zero(w: &World) -> (Address, TxOutcome) {
    w.propose_in(&[(1, 10)]).await;
    w.chain.advance_to_slot(4).await.unwrap();
    let range = w.a.epoch_range(0).await.unwrap();
    let prover = w.prover.sender().unwrap();
    let q = w.sign(w.fields(&range, prover, 100, 2_000), &w.prover_key);
    let tx = w.a.claim_epoch_proof_right(&q).await.unwrap();
    (prover, tx)
}

#[tokio::test]
async fn claim_events_arrive_over_ws_and_http() {
    bounded(60, async {
        let w = world(false, 100_000).await;
        let d: &Deployment = w.chain.deployment().unwrap();
        let ws = L1Client::from_deployment(&w.chain.ws_url(), d, None)
            .await
            .unwrap();
        let http = w.chain.reader().unwrap();
        let mut ws_stream = ws.watch_proof_right_claimed().await.unwrap();
        let mut http_stream = http.watch_proof_right_claimed().await.unwrap();

        let (prover, tx) = claim_epoch_zero(&w).await;

        for stream in [&mut ws_stream, &mut http_stream] {
            let e = tokio::time::timeout(Duration::from_secs(10), stream.next())
                .await
                .expect("event in time")
                .expect("stream open");
            assert_eq!((e.epoch, e.prover, e.slot), (0, prover, 4));
            assert_eq!(e.bond_amount, U256::from(2_000));
            assert_eq!(e.at.tx_hash, tx.tx_hash);
        }
    })
    .await
}

#[tokio::test]
async fn claim_events_arrive_over_ws_after_the_proxy_drops_the_connection() {
    bounded(90, async {
        let w = world(false, 100_000).await;
        let d: &Deployment = w.chain.deployment().unwrap();
        let proxy = FaultProxy::start(&w.chain.url(), 1).await.unwrap();
        let ws = L1Client::from_deployment(&proxy.ws_url(), d, None)
            .await
            .unwrap();
        // The prover's wake-up stream, subscribed through the proxy.
        let mut stream = ws.watch_proof_right_claimed().await.unwrap();

        // The proxy drops the connection; alloy's ws backend connects again and re-subscribes.
        proxy.drop_connections();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while proxy.stats().ws_connections < 2 {
            assert!(tokio::time::Instant::now() < deadline, "no reconnection");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Requests queue behind the re-subscription on the new connection: once one is
        // answered, the subscription is in place again.
        ws.latest_l1_block().await.unwrap();

        let (prover, tx) = claim_epoch_zero(&w).await;
        let e = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("the claim arrives on the re-subscribed stream")
            .expect("stream open");
        assert_eq!((e.epoch, e.prover), (0, prover));
        assert_eq!(e.at.tx_hash, tx.tx_hash);
    })
    .await
}
