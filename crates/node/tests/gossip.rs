//! Three nodes on 127.0.0.1 gossiping quotes (plus a raw gossip peer playing the attacker).
//!
//! Topology: n2 — n1 — n3, attacker — n1. A quote reaching n3 from n2 was forwarded by n1
//! after n1 validated it.
#![allow(clippy::unwrap_used)] // tests: a failure is a panic

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use epoch_rfq_node::*;
use epoch_rfq_p2p::{IncomingMessage, Keypair, P2pConfig, P2pHandle, P2pService};
use epoch_rfq_testkit::wait_until;
use tokio::sync::mpsc;

/// How long a gossip step may take before the test fails.
const WAIT: Duration = Duration::from_secs(15);

async fn p2p(bootstrap: Option<&P2pHandle>) -> (P2pHandle, mpsc::Receiver<IncomingMessage>) {
    // Printed if a wait times out.
    epoch_rfq_testkit::capture_logs(epoch_rfq_testkit::logs::P2P_LOG);
    let mut config = P2pConfig::local(Keypair::generate_ed25519());
    // Faster mesh formation for the test.
    config.heartbeat_interval = Duration::from_millis(200);
    config.heartbeat_initial_delay = Duration::from_millis(50);
    if let Some(b) = bootstrap {
        let addr = b.listen_addrs().await.unwrap()[0].clone();
        let full = format!("{addr}/p2p/{}", b.local_peer_id());
        config.bootstrap = vec![full.parse().unwrap()];
    }
    P2pService::spawn(config).await.unwrap()
}

async fn node(bootstrap: Option<&P2pHandle>, chain: Arc<FakeChain>) -> NodeHandle {
    let gossip = p2p(bootstrap).await;
    NodeService::spawn(NodeConfig::local(), chain, Some(gossip))
        .await
        .unwrap()
}

async fn meshed(h: &P2pHandle) -> bool {
    !h.mesh_peers().await.unwrap_or_default().is_empty()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotes_propagate_and_invalid_ones_are_not_forwarded() {
    bounded(60, async {
        let chain = FakeChain::new();
        let n1 = node(None, chain.clone()).await;
        let hub = n1.service().p2p().unwrap().clone();
        let n2 = node(Some(&hub), chain.clone()).await;
        let n3 = node(Some(&hub), chain.clone()).await;
        let (attacker, _attacker_rx) = p2p(Some(&hub)).await;
        let p = |n: &NodeHandle| n.service().p2p().unwrap().clone();
        let (p1, p2, p3) = (p(&n1), p(&n2), p(&n3));
        wait_until("n1 connected to 3 peers", WAIT, async || {
            p1.connected_peers().await.unwrap().len() == 3
        })
        .await;
        wait_until("meshes", WAIT, async || {
            meshed(&p1).await && meshed(&p2).await && meshed(&p3).await && meshed(&attacker).await
        })
        .await;

        // A quote added over HTTP at n2 reaches n1 and, forwarded by n1, n3.
        let q = valid(0);
        NodeClient::new(n2.url())
            .unwrap()
            .add_epoch_proof_quote(&q)
            .await
            .unwrap();
        for n in [&n1, &n3] {
            wait_until("quote propagated", WAIT, async || {
                n.service().pool().len() == 1
            })
            .await;
            assert_eq!(n.service().pool().best(7).unwrap().quote(), &q);
        }
        assert_eq!(p1.metrics().accepted, 1);
        let info = NodeClient::new(n1.url())
            .unwrap()
            .get_node_info()
            .await
            .unwrap();
        assert_eq!(info.peers, 3);
        assert!(info.peer_id.is_some());

        // The attacker publishes a forged quote, then a valid marker quote.
        let received_before = p3.metrics().received;
        let forged =
            epoch_rfq_quote::EpochProofQuote::from_parts(fields(5), *valid(6).signature()).unwrap();
        attacker.publish(forged.to_wire().to_vec()).await.unwrap();
        attacker.publish(vec![1, 2, 3]).await.unwrap();
        let marker = valid(7);
        attacker.publish(marker.to_wire().to_vec()).await.unwrap();
        wait_until("marker reached n3", WAIT, async || {
            n3.service().pool().get(7, key(7).address()).is_some()
        })
        .await;
        // Give a forwarded bad message time to arrive, if n1 were to forward it.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            p1.metrics().rejected,
            2,
            "n1 rejected both invalid messages"
        );
        assert_eq!(
            p3.metrics().received - received_before,
            1,
            "n3 only got the marker"
        );
        assert!(n3.service().pool().get(7, key(5).address()).is_none());
        assert!(n1.service().pool().get(7, key(5).address()).is_none());
        let m = n1.service().render_metrics();
        assert!(
            m.contains(
                "epoch_rfq_node_quotes_rejected_total{path=\"gossip\",reason=\"bad_signature\"} 1"
            ),
            "{m}"
        );
        assert!(m.contains(
            "epoch_rfq_node_quotes_rejected_total{path=\"gossip\",reason=\"malformed\"} 1"
        ));
        assert!(m.contains("epoch_rfq_node_gossip_received_total"));
        // The gossip service's counters and gossipsub's own metrics are on the same page, once.
        assert!(
            m.contains("epoch_rfq_p2p_validation_rejected_total 2"),
            "{m}"
        );
        assert!(m.contains("# TYPE epoch_rfq_p2p_received counter"), "{m}");
        assert!(m.contains("epoch_rfq_p2p_gossipsub_"), "{m}");
        assert!(m.contains("epoch_rfq_p2p_peers "), "{m}");
        assert_eq!(m.matches("# EOF").count(), 1, "{m}");
        assert!(m.ends_with("# EOF\n"), "{m}");
        // A stale but well-signed quote is ignored, not rejected.
        let stale = sign(
            8,
            epoch_rfq_quote::QuoteFields {
                valid_until_slot: alloy_primitives::U256::from(3),
                ..fields(8)
            },
        );
        attacker.publish(stale.to_wire().to_vec()).await.unwrap();
        wait_until("stale ignored", WAIT, async || p1.metrics().ignored >= 1).await;
        assert_eq!(p1.metrics().rejected, 2);

        attacker.shutdown().await;
        for n in [n1, n2, n3] {
            n.shutdown().await;
        }
    })
    .await;
}
