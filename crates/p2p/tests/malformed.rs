//! Gossip data that is not valid snappy, or that decompresses above the cap, is rejected inside
//! the crate and never delivered. The bad messages are sent by a raw rust-libp2p gossipsub swarm
//! that publishes bytes as-is (no compression), signed like any honest peer's.

// Test code: panicking on an unexpected error is the point (see clippy.toml).
#![allow(clippy::unwrap_used)]

mod common;

use std::{collections::HashSet, time::Duration};

use common::*;
use epoch_rfq_p2p::{DEFAULT_TOPIC, Validation, compress, message_id};
use futures::StreamExt;
use libp2p::{
    Multiaddr, PeerId, Swarm,
    gossipsub::{self, IdentTopic, MessageAuthenticity, ValidationMode},
    noise,
    swarm::SwarmEvent,
    tcp, yamux,
};
use tokio::sync::mpsc;

fn raw_swarm() -> Swarm<gossipsub::Behaviour> {
    libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|key| {
            let config = gossipsub::ConfigBuilder::default()
                .validation_mode(ValidationMode::Strict)
                .heartbeat_initial_delay(Duration::from_millis(100))
                .build()
                .unwrap();
            gossipsub::Behaviour::new(MessageAuthenticity::Signed(key.clone()), config).unwrap()
        })
        .unwrap()
        .build()
}

/// Runs a raw swarm connected to `target`; publishes every byte string sent on the returned
/// channel once `target` has subscribed.
fn spawn_raw(target: Multiaddr, target_id: PeerId) -> (PeerId, mpsc::UnboundedSender<Vec<u8>>) {
    let mut swarm = raw_swarm();
    let id = *swarm.local_peer_id();
    let topic = IdentTopic::new(DEFAULT_TOPIC);
    swarm.behaviour_mut().subscribe(&topic).unwrap();
    swarm.dial(target).unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    tokio::spawn(async move {
        let mut ready = false;
        let mut queued = Vec::new();
        loop {
            tokio::select! {
                event = swarm.select_next_some() => {
                    if let SwarmEvent::Behaviour(gossipsub::Event::Subscribed { peer_id, .. }) = event
                        && peer_id == target_id
                    {
                        ready = true;
                        for data in queued.drain(..) {
                            swarm.behaviour_mut().publish(topic.clone(), data).unwrap();
                        }
                    }
                }
                data = rx.recv() => match data {
                    Some(data) if ready => {
                        swarm.behaviour_mut().publish(topic.clone(), data).unwrap();
                    }
                    Some(data) => queued.push(data),
                    None => break,
                },
            }
        }
    });
    (id, tx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_and_oversized_messages_are_rejected_and_never_delivered() {
    bounded(async {
        let mut node = spawn_node(vec![]).await;
        let (raw_id, raw) = spawn_raw(node.addr.clone(), node.id());

        // 1. Not snappy: a varint length header that runs past the end / garbage literals.
        raw.send(vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).unwrap();
        raw.send(b"\x10definitely not snappy".to_vec()).unwrap();
        // 2. Valid snappy whose decompressed size (4000) exceeds the 1 KiB cap although the
        //    compressed form is small.
        let bomb = compress(&[0u8; 4000]).unwrap();
        assert!(bomb.len() < 400, "bomb is {} bytes", bomb.len());
        raw.send(bomb).unwrap();
        // 3. A well-formed message from the same peer, sent last, still arrives: the link works
        //    and the raw peer is not yet graylisted (3 invalid messages → −45).
        let good = b"well formed".to_vec();
        raw.send(compress(&good).unwrap()).unwrap();

        let msg = node
            .recv_within(Duration::from_secs(5))
            .await
            .expect("good message");
        assert_eq!(msg.payload, good, "an invalid message was delivered");
        assert_eq!(msg.id, message_id(DEFAULT_TOPIC, &good));
        assert_eq!(msg.source, raw_id);
        node.handle
            .report(msg.id, msg.source, Validation::Accept)
            .unwrap();
        assert!(node.recv_within(Duration::from_millis(300)).await.is_none());

        let m = node.handle.metrics();
        assert_eq!(m.undecodable, 3, "{m:?}");
        assert_eq!(m.received, 1, "{m:?}");
        let score = node
            .handle
            .peer_score(raw_id)
            .await
            .unwrap()
            .expect("scored");
        assert!(
            score < -40.0,
            "sender penalised for undecodable messages: {score}"
        );

        // A message above the topic's 1 KiB wire limit is dropped by gossipsub's codec (also an
        // invalid-message penalty); one more undecodable message graylists the peer.
        raw.send(vec![0xab; 1500]).unwrap();
        raw.send(vec![0xfd; 8]).unwrap();
        wait_until("raw peer disconnected", Duration::from_secs(15), || async {
            !node
                .handle
                .connected_peers()
                .await
                .unwrap()
                .contains(&raw_id)
        })
        .await;
        let connected: HashSet<_> = node
            .handle
            .connected_peers()
            .await
            .unwrap()
            .into_iter()
            .collect();
        assert!(connected.is_empty());
        assert!(node.recv_within(Duration::from_millis(200)).await.is_none());
        assert_eq!(node.handle.metrics().received, 1);
    })
    .await;
}
