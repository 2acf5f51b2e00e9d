//! Delivery, forwarding after validation, duplicates and bootstrap re-dial on loopback.

// Test code: panicking on an unexpected error is the point (see clippy.toml).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use epoch_rfq_p2p::{P2pError, Validation, message_id};

const QUIET: Duration = Duration::from_millis(700);

fn payload(tag: u8) -> Vec<u8> {
    // A quote-sized payload with some structure (compresses a little).
    let mut p = vec![0u8; 302];
    p[0] = 1;
    for (i, b) in p.iter_mut().enumerate().skip(1) {
        *b = (i as u8).wrapping_mul(31) ^ tag;
    }
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_deliver_decompressed_payload_with_content_id() {
    bounded(async {
        let a = spawn_node(vec![]).await;
        let mut b = spawn_node(vec![a.addr.clone()]).await;
        wait_linked(&a, &b).await;

        let p = payload(1);
        let id = a.handle.publish(p.clone()).await.expect("publish");
        assert_eq!(id, message_id(epoch_rfq_p2p::DEFAULT_TOPIC, &p));
        assert_eq!(id, a.handle.message_id(&p));

        let msg = b
            .recv_within(Duration::from_secs(3))
            .await
            .expect("delivered");
        assert_eq!(msg.payload, p);
        assert_eq!(msg.id, id);
        assert_eq!(msg.source, a.id());
        assert_eq!(msg.origin, Some(a.id()));
        b.handle
            .report(msg.id, msg.source, Validation::Accept)
            .unwrap();

        assert_eq!(a.handle.metrics().published, 1);
        assert_eq!(b.handle.metrics().received, 1);
        wait_until("accept counted", Duration::from_secs(1), || async {
            b.handle.metrics().accepted == 1
        })
        .await;
        assert_eq!(b.handle.metrics().peers, 1);
        a.handle.shutdown().await;
        b.handle.shutdown().await;
    })
    .await;
}

/// A — B — C; returns after all meshes formed.
async fn line() -> (Node, Node, Node) {
    let b = spawn_node(vec![]).await;
    let a = spawn_node(vec![b.addr.clone()]).await;
    let c = spawn_node(vec![b.addr.clone()]).await;
    wait_linked(&a, &b).await;
    wait_linked(&c, &b).await;
    (a, b, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn line_forwards_only_after_accept() {
    bounded(async {
        let (a, mut b, mut c) = line().await;
        let p = payload(2);
        let id = a.handle.publish(p.clone()).await.expect("publish");

        let at_b = b
            .recv_within(Duration::from_secs(3))
            .await
            .expect("B receives");
        assert_eq!(at_b.id, id);
        // Held at B until validated.
        assert!(
            c.recv_within(Duration::from_millis(300)).await.is_none(),
            "forwarded before validation"
        );
        b.handle
            .report(at_b.id, at_b.source, Validation::Accept)
            .unwrap();

        let at_c = c
            .recv_within(Duration::from_secs(3))
            .await
            .expect("C receives after accept");
        assert_eq!(at_c.payload, p);
        assert_eq!(at_c.id, id);
        assert_eq!(at_c.source, b.id());
        assert_eq!(at_c.origin, Some(a.id()), "origin is the signing author");
    })
    .await;
}

async fn line_drops_on(verdict: Validation) {
    let (a, mut b, mut c) = line().await;
    let id = a.handle.publish(payload(3)).await.expect("publish");
    let at_b = b
        .recv_within(Duration::from_secs(3))
        .await
        .expect("B receives");
    assert_eq!(at_b.id, id);
    b.handle.report(at_b.id, at_b.source, verdict).unwrap();
    assert!(
        c.recv_within(QUIET).await.is_none(),
        "{verdict:?}ed message reached C"
    );
    // A later, accepted message still flows, so the silence above is not a broken link.
    let id2 = a.handle.publish(payload(4)).await.expect("publish");
    let at_b = b
        .recv_within(Duration::from_secs(3))
        .await
        .expect("B receives 2nd");
    assert_eq!(at_b.id, id2);
    b.handle
        .report(at_b.id, at_b.source, Validation::Accept)
        .unwrap();
    let at_c = c
        .recv_within(Duration::from_secs(3))
        .await
        .expect("C receives 2nd");
    assert_eq!(at_c.id, id2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn line_reject_is_not_forwarded() {
    bounded(line_drops_on(Validation::Reject)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn line_ignore_is_not_forwarded() {
    bounded(line_drops_on(Validation::Ignore)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_publish_is_reported_and_not_delivered_twice() {
    bounded(async {
        let a = spawn_node(vec![]).await;
        let mut b = spawn_node(vec![a.addr.clone()]).await;
        wait_linked(&a, &b).await;

        let p = payload(5);
        a.handle.publish(p.clone()).await.expect("first publish");
        let err = a
            .handle
            .publish(p.clone())
            .await
            .expect_err("second publish");
        assert!(matches!(err, P2pError::Duplicate), "got {err:?}");
        assert!(err.is_benign_publish_outcome());

        let msg = b
            .recv_within(Duration::from_secs(3))
            .await
            .expect("delivered once");
        b.handle
            .report(msg.id, msg.source, Validation::Accept)
            .unwrap();
        assert!(b.recv_within(QUIET).await.is_none(), "delivered twice");
        // The receiver has seen it too: re-publishing there is also a duplicate.
        let err = b
            .handle
            .publish(p)
            .await
            .expect_err("republish at receiver");
        assert!(matches!(err, P2pError::Duplicate), "got {err:?}");
        assert_eq!(a.handle.metrics().published, 1);
        assert_eq!(a.handle.metrics().publish_failed, 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_without_peers_and_oversized_payloads_are_errors() {
    bounded(async {
        let a = spawn_node(vec![]).await;
        let err = a.handle.publish(payload(6)).await.expect_err("no peers");
        assert!(matches!(err, P2pError::NoPeers), "got {err:?}");
        assert!(err.is_benign_publish_outcome());
        // After a failed publish the message is not remembered: it can be sent later.
        let b = spawn_node(vec![a.addr.clone()]).await;
        wait_linked(&a, &b).await;
        a.handle
            .publish(payload(6))
            .await
            .expect("publish once peers exist");

        let err = a
            .handle
            .publish(vec![0u8; 1025])
            .await
            .expect_err("too large");
        assert!(
            matches!(
                err,
                P2pError::PayloadTooLarge {
                    len: 1025,
                    max: 1024
                }
            ),
            "got {err:?}"
        );
        assert!(!err.is_benign_publish_outcome());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_peer_is_redialled_after_restart() {
    bounded(async {
        let key = epoch_rfq_p2p::Keypair::generate_ed25519();
        let mut config = test_config(vec![]);
        config.keypair = key.clone();
        let a = spawn_with(config.clone()).await;
        let a_id = a.id();
        let a_addr = a.addr.clone();
        let b = spawn_node(vec![a_addr.clone()]).await;
        wait_linked(&a, &b).await;

        a.handle.shutdown().await;
        drop(a);
        wait_until("B notices A is gone", Duration::from_secs(15), || async {
            !b.handle.connected_peers().await.unwrap().contains(&a_id)
        })
        .await;

        // Restart A with the same key on the same port; B re-dials it by itself.
        let mut listen = a_addr.clone();
        listen.pop(); // drop /p2p/<id>
        config.listen = vec![listen];
        let a = spawn_with(config).await;
        assert_eq!(a.id(), a_id);
        wait_until("B re-dials A", Duration::from_secs(15), || async {
            b.handle.connected_peers().await.unwrap().contains(&a_id)
        })
        .await;
        wait_linked(&a, &b).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listening_on_a_busy_port_is_an_error() {
    bounded(async {
        let a = spawn_node(vec![]).await;
        let mut busy = a.addr.clone();
        busy.pop();
        let mut config = test_config(vec![]);
        config.listen = vec![busy];
        let err = epoch_rfq_p2p::P2pService::spawn(config)
            .await
            .expect_err("port in use");
        assert!(matches!(err, P2pError::Listen { .. }), "got {err:?}");
    })
    .await;
}

/// A validation pool with one worker and a queue of one: what the service cannot queue is dropped
/// with `Ignore` and counted, never buffered without bound, and every queued message is judged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_pool_applies_back_pressure_and_counts_drops() {
    bounded(async {
        let a = spawn_node(vec![]).await;
        let mut config = test_config(vec![a.addr.clone()]);
        config.incoming_capacity = 1;
        let b = spawn_with(config).await;
        wait_linked(&a, &b).await;
        let Node { handle, mut rx, .. } = b;
        let pool = epoch_rfq_p2p::ValidationPool::with_workers(handle.clone(), 1);
        let judged = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let most_in_flight = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let feeder = {
            let (judged, most, handle) = (judged.clone(), most_in_flight.clone(), handle.clone());
            tokio::spawn(async move {
                while let Some(msg) = rx.recv().await {
                    let (judged, most, handle) = (judged.clone(), most.clone(), handle.clone());
                    pool.submit(msg, move |_| async move {
                        most.fetch_max(
                            handle.metrics().validation_in_flight,
                            std::sync::atomic::Ordering::SeqCst,
                        );
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        judged.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        Validation::Ignore
                    })
                    .await;
                }
            })
        };
        for tag in 0..20u8 {
            a.handle.publish(payload(tag)).await.expect("publish");
        }
        wait_until("all 20 received", Duration::from_secs(15), || async {
            handle.metrics().received == 20
        })
        .await;
        wait_until("queue drained", Duration::from_secs(15), || async {
            let m = handle.metrics();
            m.validation_in_flight == 0
                && judged.load(std::sync::atomic::Ordering::SeqCst) == m.validation_queued
                && m.ignored == m.validation_queued
        })
        .await;
        let m = handle.metrics();
        assert!(m.dropped > 0, "the full queue dropped messages: {m:?}");
        assert_eq!(m.dropped + m.validation_queued, 20, "{m:?}");
        assert!(m.validation_queued >= 2, "{m:?}");
        assert_eq!(most_in_flight.load(std::sync::atomic::Ordering::SeqCst), 1);
        let mut page = String::new();
        handle.encode_metrics(&mut page).expect("metrics");
        for (name, value) in [
            ("epoch_rfq_p2p_validation_queued_total", m.validation_queued),
            ("epoch_rfq_p2p_dropped_total", m.dropped),
            ("epoch_rfq_p2p_validation_ignored_total", m.ignored),
            ("epoch_rfq_p2p_validation_in_flight", 0),
        ] {
            assert!(
                page.lines().any(|l| l == format!("{name} {value}")),
                "{name} {value} in\n{page}"
            );
        }
        feeder.abort();
    })
    .await;
}

/// Dials leave from a fresh ephemeral port, never from the listen port: binding an outgoing
/// socket to the listen port can fail with `EADDRINUSE` for every dial (seen in full test-suite
/// runs), and the node then never joins the mesh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dials_leave_from_an_ephemeral_port() {
    bounded(async {
        let target = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target_addr: epoch_rfq_p2p::Multiaddr =
            format!("/ip4/127.0.0.1/tcp/{}", target.local_addr().unwrap().port())
                .parse()
                .unwrap();
        // Both kinds of dial: a bootstrap peer and an explicit dial.
        let bootstrap = target_addr
            .clone()
            .with(libp2p::multiaddr::Protocol::P2p(libp2p::PeerId::random()));
        let a = spawn_node(vec![bootstrap]).await;
        let listen_port = a
            .addr
            .iter()
            .find_map(|p| match p {
                libp2p::multiaddr::Protocol::Tcp(port) => Some(port),
                _ => None,
            })
            .unwrap();
        let (_, from) = target.accept().await.unwrap();
        assert_ne!(
            from.port(),
            listen_port,
            "the bootstrap dial used the listen port"
        );
        a.handle.dial(target_addr).await.unwrap();
        let (_, from) = target.accept().await.unwrap();
        assert_ne!(
            from.port(),
            listen_port,
            "the explicit dial used the listen port"
        );
    })
    .await;
}
