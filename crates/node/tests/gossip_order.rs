//! Gossip validations run concurrently and finish out of order; the pool's per-prover rule (a
//! cheaper quote, or the same fee valid for longer, replaces the prover's quote) must give the
//! same result in any completion order.

mod common;

use std::time::{Duration, Instant};

use alloy_primitives::U256;
use common::*;
use epoch_rfq_node::{NodeConfig, NodeService};
use epoch_rfq_p2p::{IncomingMessage, Keypair, MessageId, P2pConfig, P2pService, PeerId};
use epoch_rfq_quote::EpochProofQuote;
use tokio::sync::mpsc;

/// Four quotes of prover 1 for epoch 7, in the given (fee, validUntilSlot) order.
fn quotes(terms: [(u32, u64); 4]) -> Vec<EpochProofQuote> {
    terms
        .iter()
        .map(|&(fee, until)| {
            let mut f = fields(1);
            f.basis_point_fee = fee;
            f.valid_until_slot = U256::from(until);
            sign(1, f)
        })
        .collect()
}

/// Feeds `quotes` to a node's gossip path 25 ms apart; the escrow lookup of the k-th takes
/// 300, 200, 100, 0 ms (a slow L1), so their validations finish in the reverse order. Returns
/// the quote kept for prover 1 and the (accepted, ignored, rejected) reports.
async fn feed_reversed(quotes: &[EpochProofQuote]) -> (EpochProofQuote, (u64, u64, u64)) {
    let chain = FakeChain::new();
    chain
        .escrow
        .lock()
        .insert(key(1).address(), U256::from(10_000_000u64));
    *chain.escrow_delays.lock() = [300, 200, 100, 0]
        .into_iter()
        .map(Duration::from_millis)
        .collect();
    let mut p2p = P2pConfig::local(Keypair::generate_ed25519());
    p2p.validation_workers = 4;
    let (gossip, _unused) = P2pService::spawn(p2p).await.expect("p2p");
    let (tx, rx) = mpsc::channel(16);
    let config = NodeConfig {
        http_addr: "127.0.0.1:0".parse().expect("addr"),
        ..NodeConfig::default()
    };
    let node = NodeService::spawn(config, chain, Some((gossip.clone(), rx)))
        .await
        .expect("node");
    for (i, q) in quotes.iter().enumerate() {
        let msg = IncomingMessage {
            id: MessageId::new(&[i as u8]),
            source: PeerId::random(),
            origin: None,
            payload: q.to_wire().to_vec(),
            received_at: Instant::now(),
        };
        tx.send(msg).await.expect("node takes gossip");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let counts = || {
        let m = gossip.metrics();
        (m.accepted, m.ignored, m.rejected)
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while {
        let (a, i, r) = counts();
        a + i + r < 4
    } {
        assert!(Instant::now() < deadline, "all four judged");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let service: &NodeService = node.service();
    let kept = service.quotes(7);
    assert_eq!(kept.len(), 1, "one quote per prover");
    let kept = EpochProofQuote::from_wire(&kept[0].to_wire()).expect("wire");
    let result = (kept, counts());
    node.shutdown().await;
    gossip.shutdown().await;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_validations_keep_each_provers_best_quote() {
    bounded(20, async {
        // Arriving from worst to best: in order, each would replace the previous (4 accepted).
        // Finishing best first, the best is stored and the three worse are "not cheaper".
        let improving = quotes([(90, 67), (50, 67), (50, 70), (10, 67)]);
        let (kept, (accepted, ignored, rejected)) = feed_reversed(&improving).await;
        assert_eq!(kept, improving[3], "the cheapest quote is kept");
        assert_eq!(
            (accepted, ignored, rejected),
            (1, 3, 0),
            "completions were reversed: only the first to finish (the best) was accepted"
        );

        // Arriving from best to worst, finishing worst first: each later completion is better
        // and replaces the previous one; the best is kept.
        let worsening = quotes([(10, 67), (50, 70), (50, 67), (90, 67)]);
        let (kept, (accepted, ignored, rejected)) = feed_reversed(&worsening).await;
        assert_eq!(kept, worsening[0], "the cheapest quote is kept");
        assert_eq!(
            (accepted, ignored, rejected),
            (4, 0, 0),
            "completions were reversed: each one improved on the previous"
        );

        // Same fee: the one valid for longer wins whichever finishes first.
        let tie = quotes([(50, 67), (50, 69), (50, 68), (50, 66)]);
        let (kept, _) = feed_reversed(&tie).await;
        assert_eq!(kept, tie[1], "same fee: the latest validUntilSlot is kept");
    })
    .await;
}
