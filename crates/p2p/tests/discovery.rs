//! Discovery (Kademlia), peer limits, announce addresses and the address policy, on 127.0.0.1.

// Test code: panicking on an unexpected error is the point (see clippy.toml).
#![allow(clippy::unwrap_used)]

mod common;

use std::{collections::HashSet, time::Duration};

use common::*;
use epoch_rfq_p2p::{
    KAD_PROTOCOL, Keypair, Multiaddr, P2pConfig, P2pError, P2pService, PeerId, Validation,
};
use futures::StreamExt;
use libp2p::{
    StreamProtocol, Swarm, identify,
    kad::{self, store::MemoryStore},
    multiaddr::Protocol,
    noise,
    swarm::{NetworkBehaviour, SwarmEvent},
    tcp, yamux,
};
use tokio::sync::mpsc;

/// A node that finds its peers (private addresses allowed: everything is on 127.0.0.1).
fn discovering(bootstrap: Vec<Multiaddr>) -> P2pConfig {
    let mut config = test_config(bootstrap);
    config.allow_private_addresses = true;
    config.discovery_interval = Duration::from_secs(1);
    config
}

/// Accepts every message on `node` and forwards its payload to the returned channel.
fn accept_all(node: Node) -> (epoch_rfq_p2p::P2pHandle, mpsc::UnboundedReceiver<Vec<u8>>) {
    let Node { handle, mut rx, .. } = node;
    let (tx, out) = mpsc::unbounded_channel();
    let reporter = handle.clone();
    tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            let _ = reporter.report(msg.id, msg.source, Validation::Accept);
            let _ = tx.send(msg.payload);
        }
    });
    (handle, out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_given_one_bootstrap_find_each_other_and_gossip_reaches_all() {
    bounded(async {
        const N: usize = 8;
        let first = spawn_with(discovering(vec![])).await;
        let boot = first.addr.clone();
        let mut nodes = vec![first];
        for _ in 1..N {
            nodes.push(spawn_with(discovering(vec![boot.clone()])).await);
        }
        let first_id = nodes[0].id();
        // Everyone but the first ends up connected to someone it was not told about.
        for (i, node) in nodes.iter().enumerate().skip(1) {
            wait_until(
                &format!("node {i} connected beyond the bootstrap node"),
                Duration::from_secs(10),
                || async {
                    node.handle
                        .connected_peers()
                        .await
                        .unwrap()
                        .iter()
                        .any(|p| *p != first_id)
                },
            )
            .await;
        }
        let last = &nodes[N - 1].handle;
        wait_until(
            "the last node's routing table holds most of the network",
            Duration::from_secs(10),
            || async { last.routing_table().await.unwrap().len() >= N / 2 },
        )
        .await;
        let last = nodes.pop().expect("N nodes");
        wait_until(
            "the last node has a mesh",
            Duration::from_secs(15),
            || async { last.handle.mesh_peers().await.unwrap().len() >= 2 },
        )
        .await;
        let receivers: Vec<_> = nodes.into_iter().map(accept_all).collect();
        let payload = b"a quote from the last node".to_vec();
        last.handle.publish(payload.clone()).await.expect("publish");
        for (i, (_, mut rx)) in receivers.into_iter().enumerate() {
            let got = tokio::time::timeout(Duration::from_secs(15), rx.recv())
                .await
                .unwrap_or_else(|_| panic!("node {i} did not receive the message"))
                .expect("channel open");
            assert_eq!(got, payload, "node {i}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_peers_holds_with_its_inbound_share() {
    bounded(async {
        // 4 slots: at most 3 (= 4 − ⌊4/4⌋) for peers that dial us, the 4th only for our dials.
        let mut config = discovering(vec![]);
        config.max_peers = 4;
        let hub = spawn_with(config).await;
        let mut dialers = Vec::new();
        for _ in 0..6 {
            dialers.push(spawn_with(discovering(vec![hub.addr.clone()])).await);
        }
        // Until the share is full (at most 15 s), then one more second: never above it.
        let mut most = 0;
        let mut until = tokio::time::Instant::now() + Duration::from_secs(15);
        let mut full = false;
        while tokio::time::Instant::now() < until {
            let n = hub.handle.connected_peers().await.unwrap().len();
            most = most.max(n);
            assert!(n <= 3, "{n} inbound peers, above the inbound share of 3");
            assert!(hub.handle.metrics().peers <= 3);
            if most == 3 && !full {
                full = true;
                until = tokio::time::Instant::now() + Duration::from_secs(1);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert_eq!(most, 3, "the inbound slots filled");
        // Our own dials may use the reserved slot, but never exceed max_peers.
        let outsiders = [
            spawn_with(discovering(vec![])).await,
            spawn_with(discovering(vec![])).await,
        ];
        for outsider in &outsiders {
            hub.handle.dial(outsider.addr.clone()).await.expect("dial");
        }
        let mut until = tokio::time::Instant::now() + Duration::from_secs(15);
        let mut most = 0;
        let mut full = false;
        while tokio::time::Instant::now() < until {
            let n = hub.handle.connected_peers().await.unwrap().len();
            most = most.max(n);
            assert!(n <= 4, "{n} peers, above P2P_MAX_PEERS = 4");
            if most == 4 && !full {
                full = true;
                until = tokio::time::Instant::now() + Duration::from_secs(1);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert_eq!(most, 4, "one outbound dial took the reserved slot");
    })
    .await;
}

#[tokio::test]
async fn announce_addresses_are_what_peers_learn() {
    bounded(async {
        let keypair = Keypair::generate_ed25519();
        let own = keypair.public().to_peer_id();
        // A peer id that is not ours is refused at start, naming the entry.
        let other = PeerId::random();
        let mut config = P2pConfig::local(keypair.clone());
        let bad: Multiaddr = format!("/ip4/198.51.100.7/tcp/40400/p2p/{other}")
            .parse()
            .unwrap();
        config.announce = vec![bad.clone()];
        match P2pService::spawn(config).await {
            Err(P2pError::InvalidAnnounce { entry, reason }) => {
                assert_eq!(entry, bad.to_string());
                assert!(reason.contains(&own.to_string()), "{reason}");
            }
            other => panic!("expected InvalidAnnounce, got {other:?}"),
        }

        // A node "behind NAT": listens on 127.0.0.1, announces 127.0.0.2 (same port).
        let mut config = discovering(vec![]);
        config.keypair = keypair;
        let probe = spawn_with(config.clone()).await;
        let port = probe
            .addr
            .iter()
            .find_map(|p| match p {
                Protocol::Tcp(port) => Some(port),
                _ => None,
            })
            .unwrap();
        probe.handle.shutdown().await;
        config.listen = vec![format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()];
        let announced: Multiaddr = format!("/ip4/127.0.0.2/tcp/{port}").parse().unwrap();
        config.announce = vec![announced.clone()];
        let natted = spawn_with(config).await;
        let peer = spawn_with(discovering(vec![natted.addr.clone()])).await;
        wait_until(
            "the peer learned the announced address",
            Duration::from_secs(15),
            || async {
                peer.handle
                    .routing_table()
                    .await
                    .unwrap()
                    .iter()
                    .any(|(p, addrs)| *p == natted.id() && addrs.contains(&announced))
            },
        )
        .await;
    })
    .await;
}

// ------------------------------------------------------------------ untrusted discovery input

#[derive(NetworkBehaviour)]
struct Raw {
    identify: identify::Behaviour,
    kad: kad::Behaviour<MemoryStore>,
}

/// A raw rust-libp2p peer that speaks identify and our Kademlia protocol, with whatever
/// addresses and routing-table entries the test gives it.
fn raw_peer() -> Swarm<Raw> {
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|key| {
            let id = key.public().to_peer_id();
            let mut kad = kad::Behaviour::with_config(
                id,
                MemoryStore::new(id),
                kad::Config::new(StreamProtocol::new(KAD_PROTOCOL)),
            );
            kad.set_mode(Some(kad::Mode::Server));
            Raw {
                identify: identify::Behaviour::new(identify::Config::new(
                    "/epoch-rfq/1.0.0".into(),
                    key.public(),
                )),
                kad,
            }
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(30)))
        .build();
    swarm
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .unwrap();
    swarm
}

/// Starts `swarm` polling and returns its dialable address and a channel of its events.
async fn run_raw(
    mut swarm: Swarm<Raw>,
) -> (
    Multiaddr,
    mpsc::UnboundedSender<Box<dyn FnOnce(&mut Swarm<Raw>) + Send>>,
    mpsc::UnboundedReceiver<String>,
) {
    let id = *swarm.local_peer_id();
    let addr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            break address.with(Protocol::P2p(id));
        }
    };
    let (act_tx, mut act_rx) = mpsc::unbounded_channel::<Box<dyn FnOnce(&mut Swarm<Raw>) + Send>>();
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                event = swarm.select_next_some() => {
                    let line = match event {
                        SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } =>
                            format!("closed {peer_id}"),
                        SwarmEvent::ConnectionEstablished { peer_id, .. } =>
                            format!("connected {peer_id}"),
                        other => format!("{other:?}"),
                    };
                    let _ = ev_tx.send(line);
                }
                action = act_rx.recv() => match action {
                    Some(action) => action(&mut swarm),
                    None => return,
                },
            }
        }
    });
    (addr, act_tx, ev_rx)
}

#[tokio::test]
async fn out_of_range_and_malformed_announcements_are_refused_and_charged() {
    bounded(async {
        let mut raw = raw_peer();
        // What the raw peer announces: private (refused), unspecified and port 0 (malformed).
        for bad in [
            "/ip4/10.1.2.3/tcp/4000",
            "/ip4/0.0.0.0/tcp/4000",
            "/ip4/198.51.100.9/tcp/0",
        ] {
            swarm_add_external(&mut raw, bad);
        }
        let raw_id = *raw.local_peer_id();
        let (raw_addr, _act, _events) = run_raw(raw).await;
        // Default policy: no private addresses from peers (the bootstrap entry is trusted).
        let node = spawn_node(vec![raw_addr.clone()]).await;
        wait_until("identify processed", Duration::from_secs(15), || async {
            node.handle.metrics().discovery_offences >= 1
        })
        .await;
        let m = node.handle.metrics();
        // 127.0.0.1 (listen), 10.1.2.3, 0.0.0.0, port 0.
        assert!(m.addresses_refused >= 4, "{m:?}");
        let table = node.handle.routing_table().await.unwrap();
        let (_, addrs) = table
            .iter()
            .find(|(p, _)| *p == raw_id)
            .expect("the bootstrap peer is in the table");
        assert_eq!(
            addrs,
            &vec![without_peer_id(&raw_addr)],
            "only the dialled bootstrap address, none of the announced ones"
        );
        let score = node.handle.peer_score(raw_id).await.unwrap().unwrap_or(0.0);
        assert!(score <= -20.0, "the offence lowered its score: {score}");
    })
    .await;
}

fn swarm_add_external(swarm: &mut Swarm<Raw>, addr: &str) {
    swarm.add_external_address(addr.parse().unwrap());
}

fn without_peer_id(addr: &Multiaddr) -> Multiaddr {
    let mut addr = addr.clone();
    addr.pop();
    addr
}

#[tokio::test]
async fn peers_pointing_at_private_addresses_are_not_dialled() {
    bounded(async {
        let mut raw = raw_peer();
        // The raw peer's routing table: peers "inside our network".
        let fakes: Vec<PeerId> = (0..5).map(|_| PeerId::random()).collect();
        for (i, fake) in fakes.iter().enumerate() {
            let addr: Multiaddr = format!("/ip4/10.77.0.{}/tcp/40400", i + 1).parse().unwrap();
            raw.behaviour_mut().kad.add_address(fake, addr);
        }
        let (raw_addr, _act, _events) = run_raw(raw).await;
        let node = spawn_node(vec![raw_addr]).await;
        wait_until(
            "the node asked the raw peer and refused to dial its answers",
            Duration::from_secs(8),
            || async { node.handle.metrics().dials_refused >= 1 },
        )
        .await;
        let table: HashSet<PeerId> = node
            .handle
            .routing_table()
            .await
            .unwrap()
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        let connected = node.handle.connected_peers().await.unwrap();
        for fake in &fakes {
            assert!(!table.contains(fake), "{fake} entered the routing table");
            assert!(!connected.contains(fake));
        }
    })
    .await;
}

#[tokio::test]
async fn a_flood_of_records_gets_the_sender_banned() {
    bounded(async {
        let raw = raw_peer();
        let (raw_addr, act, mut events) = run_raw(raw).await;
        let raw_id = epoch_rfq_p2p::peer_id_of(&raw_addr).unwrap();
        let node = spawn_node(vec![]).await;
        let node_id = node.id();
        node.handle.dial(raw_addr).await.expect("dial");
        wait_until("connected", Duration::from_secs(15), || async {
            node.handle
                .connected_peers()
                .await
                .unwrap()
                .contains(&raw_id)
        })
        .await;
        for i in 0..5u8 {
            act.send(Box::new(move |swarm: &mut Swarm<Raw>| {
                let record = kad::Record::new(vec![i; 8], vec![i; 64]);
                swarm.behaviour_mut().kad.put_record_to(
                    record,
                    std::iter::once(node_id),
                    kad::Quorum::One,
                );
            }))
            .unwrap();
        }
        wait_until(
            "the node banned the raw peer",
            Duration::from_secs(8),
            || async {
                !node
                    .handle
                    .connected_peers()
                    .await
                    .unwrap()
                    .contains(&raw_id)
                    && node.handle.metrics().discovery_offences >= 3
            },
        )
        .await;
        let m = node.handle.metrics();
        assert!(m.records_refused >= 3, "{m:?}");
        let mut closed = false;
        while let Ok(line) = events.try_recv() {
            closed |= line == format!("closed {node_id}");
        }
        assert!(closed, "the raw peer saw the node close the connection");
        // Banned: a new connection attempt from the raw peer is refused.
        let node_addr = node.addr.clone();
        act.send(Box::new(move |swarm: &mut Swarm<Raw>| {
            let _ = swarm.dial(node_addr);
        }))
        .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            !node
                .handle
                .connected_peers()
                .await
                .unwrap()
                .contains(&raw_id),
            "the ban keeps it out"
        );
    })
    .await;
}

#[tokio::test]
async fn address_floods_are_capped_or_refused() {
    bounded(async {
        // Twelve acceptable addresses: at most 8 enter the table, the rest are refused.
        let mut many = raw_peer();
        for i in 0..12 {
            swarm_add_external(&mut many, &format!("/ip4/127.0.1.{}/tcp/4000", i + 1));
        }
        let many_id = *many.local_peer_id();
        let (many_addr, _act1, _ev1) = run_raw(many).await;
        // Forty in one announcement: a flood, all refused and charged. (libp2p keeps at most 20
        // external addresses, so the raw peer listens on 40 loopback addresses instead.)
        let mut flood = raw_peer();
        for i in 0..40 {
            flood
                .listen_on(format!("/ip4/127.0.2.{}/tcp/0", i + 1).parse().unwrap())
                .unwrap();
        }
        let flood_id = *flood.local_peer_id();
        let (flood_addr, _act2, _ev2) = run_raw(flood).await;

        let node = spawn_with(discovering(vec![many_addr, flood_addr])).await;
        wait_until(
            "both announcements processed",
            Duration::from_secs(15),
            || async {
                let m = node.handle.metrics();
                m.discovery_offences >= 1 && m.addresses_refused >= 40 + 4
            },
        )
        .await;
        let table = node.handle.routing_table().await.unwrap();
        let of = |peer: PeerId| {
            table
                .iter()
                .find(|(p, _)| *p == peer)
                .map(|(_, a)| a.clone())
                .unwrap_or_default()
        };
        let many_addrs = of(many_id);
        assert_eq!(many_addrs.len(), 8, "capped at 8: {many_addrs:?}");
        let flood_addrs = of(flood_id);
        assert!(
            flood_addrs.len() <= 1,
            "only the dialled address, none of the flood: {flood_addrs:?}"
        );
        let score = node
            .handle
            .peer_score(flood_id)
            .await
            .unwrap()
            .unwrap_or(0.0);
        assert!(score <= -20.0, "the flood was charged: {score}");
        let score = node
            .handle
            .peer_score(many_id)
            .await
            .unwrap()
            .unwrap_or(0.0);
        assert!(
            score > -20.0,
            "a capped but honest list is not charged: {score}"
        );
    })
    .await;
}
