//! Live `ProofRightClaimed` streams: ws subscription and polled HTTP filter.

// Helpers outside #[test] fns unwrap too: this is a test crate.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use alloy::primitives::U256;
use common::*;
use epoch_rfq_l1::alloy;
use epoch_rfq_l1::{Deployment, L1Client};
use futures::StreamExt;

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

        w.propose_in(&[(1, 10)]).await;
        w.chain.advance_to_slot(4).await.unwrap();
        let range = w.a.epoch_range(0).await.unwrap();
        let prover = w.prover.sender().unwrap();
        let q = w.sign(w.fields(&range, prover, 100, 2_000), &w.prover_key);
        let tx = w.a.claim_epoch_proof_right(&q).await.unwrap();

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
