//! Gossip propagation on loopback: 20 nodes, seeded sparse random topology, every node accepts
//! immediately; N messages published from random nodes; latency from publish to arrival at every
//! other node.
//!
//! Run: `cargo bench -p epoch-rfq-p2p --bench propagation`
//! Knobs (env): `BENCH_NODES` (20), `BENCH_MESSAGES` (200), `BENCH_DIALS` (3), `BENCH_SEED` (7),
//! `BENCH_GAP_MS` (10, pause between publishes).

use std::{
    collections::{HashMap, HashSet, VecDeque},
    time::{Duration, Instant},
};

use epoch_rfq_p2p::{Keypair, MessageId, Multiaddr, P2pConfig, P2pHandle, P2pService, Validation};
use libp2p::multiaddr::Protocol;
use rand::{Rng, SeedableRng, rngs::StdRng, seq::SliceRandom};
use tokio::sync::mpsc;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Hop diameter of the undirected graph (u32::MAX if disconnected).
fn diameter(n: usize, edges: &HashSet<(usize, usize)>) -> u32 {
    let mut adj = vec![Vec::new(); n];
    for &(a, b) in edges {
        adj[a].push(b);
        adj[b].push(a);
    }
    let mut worst = 0;
    for s in 0..n {
        let mut dist = vec![u32::MAX; n];
        dist[s] = 0;
        let mut q = VecDeque::from([s]);
        while let Some(u) = q.pop_front() {
            for &v in &adj[u] {
                if dist[v] == u32::MAX {
                    dist[v] = dist[u] + 1;
                    q.push_back(v);
                }
            }
        }
        worst = worst.max(dist.into_iter().max().unwrap_or(0));
    }
    worst
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let n: usize = env_or("BENCH_NODES", 20);
    let messages: usize = env_or("BENCH_MESSAGES", 200);
    let dials: usize = env_or("BENCH_DIALS", 3);
    let seed: u64 = env_or("BENCH_SEED", 7);
    let gap = Duration::from_millis(env_or("BENCH_GAP_MS", 10));
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();

    // Start the nodes; every received message is accepted at once and its arrival recorded.
    let (arrival_tx, mut arrival_rx) = mpsc::unbounded_channel::<(usize, MessageId, Instant)>();
    let mut handles: Vec<P2pHandle> = Vec::with_capacity(n);
    let mut addrs: Vec<Multiaddr> = Vec::with_capacity(n);
    for i in 0..n {
        let config = P2pConfig::local(Keypair::generate_ed25519());
        let (handle, mut rx) = P2pService::spawn(config).await.expect("spawn node");
        let addr = handle.listen_addrs().await.expect("addrs")[0]
            .clone()
            .with(Protocol::P2p(handle.local_peer_id()));
        let h = handle.clone();
        let tx = arrival_tx.clone();
        tokio::spawn(async move {
            while let Some(msg) = rx.recv().await {
                let _ = h.report(msg.id.clone(), msg.source, Validation::Accept);
                let _ = tx.send((i, msg.id, msg.received_at));
            }
        });
        handles.push(handle);
        addrs.push(addr);
    }

    // Seeded sparse topology: each node dials `dials` distinct random others.
    let mut edges: HashSet<(usize, usize)> = HashSet::new();
    for (i, handle) in handles.iter().enumerate() {
        let mut others: Vec<usize> = (0..n).filter(|&j| j != i).collect();
        others.shuffle(&mut rng);
        for &j in others.iter().take(dials) {
            if edges.insert((i.min(j), i.max(j))) {
                handle.dial(addrs[j].clone()).await.expect("dial");
            }
        }
    }
    let degree: Vec<usize> = (0..n)
        .map(|i| edges.iter().filter(|(a, b)| *a == i || *b == i).count())
        .collect();

    // Wait for connections and meshes: every node meshed with min(degree, D_low) peers.
    let mesh_deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut ready = true;
        for (i, h) in handles.iter().enumerate() {
            let mesh = h.mesh_peers().await.expect("mesh").len();
            if mesh < degree[i].min(4) {
                ready = false;
                break;
            }
        }
        if ready {
            break;
        }
        assert!(
            Instant::now() < mesh_deadline,
            "mesh did not form within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mesh_formed = started.elapsed();
    // Let one more heartbeat fill meshes towards D.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut mesh_sizes = Vec::new();
    for h in &handles {
        mesh_sizes.push(h.mesh_peers().await.expect("mesh").len());
    }

    // Publish from random nodes.
    let mut published: HashMap<MessageId, (usize, Instant)> = HashMap::new();
    let mut failures = 0usize;
    for _ in 0..messages {
        let from = rng.random_range(0..n);
        let mut payload = vec![0u8; 302];
        rng.fill(&mut payload[..]);
        payload[0] = 1;
        let t0 = Instant::now();
        match handles[from].publish(payload).await {
            Ok(id) => {
                published.insert(id, (from, t0));
            }
            Err(e) => {
                failures += 1;
                eprintln!("publish from node {from} failed: {e}");
            }
        }
        tokio::time::sleep(gap).await;
    }

    // Collect arrivals until complete or 3 s of silence.
    let expected = published.len() * (n - 1);
    let mut latencies: Vec<Duration> = Vec::with_capacity(expected);
    let mut seen: HashSet<(usize, MessageId)> = HashSet::new();
    let mut duplicates = 0usize;
    while latencies.len() < expected {
        match tokio::time::timeout(Duration::from_secs(3), arrival_rx.recv()).await {
            Ok(Some((node, id, at))) => {
                let Some(&(from, t0)) = published.get(&id) else {
                    continue;
                };
                if node == from {
                    continue;
                }
                if !seen.insert((node, id)) {
                    duplicates += 1;
                    continue;
                }
                latencies.push(at.saturating_duration_since(t0));
            }
            _ => break,
        }
    }
    latencies.sort();

    let mut totals = (0u64, 0u64);
    for h in &handles {
        let m = h.metrics();
        totals.0 += m.received;
        totals.1 += m.undecodable + m.dropped;
    }
    for h in &handles {
        h.shutdown().await;
    }

    let mean = if latencies.is_empty() {
        Duration::ZERO
    } else {
        latencies.iter().sum::<Duration>() / latencies.len() as u32
    };
    println!("gossip propagation benchmark (loopback, TCP + noise + yamux, gossipsub)");
    println!(
        "  nodes {n}, dials per node {dials}, edges {}, degree min/max {}/{}, hop diameter {}, seed {seed}",
        edges.len(),
        degree.iter().min().unwrap_or(&0),
        degree.iter().max().unwrap_or(&0),
        diameter(n, &edges)
    );
    println!(
        "  mesh formed after {} (mesh size min/max {}/{})",
        ms(mesh_formed),
        mesh_sizes.iter().min().unwrap_or(&0),
        mesh_sizes.iter().max().unwrap_or(&0)
    );
    println!(
        "  messages {} published ({failures} failed), 302-byte random payloads, {} ms apart",
        published.len(),
        gap.as_millis()
    );
    println!(
        "  deliveries {}/{expected} (ratio {:.4}), duplicates delivered {duplicates}, undecodable/dropped {}",
        latencies.len(),
        if expected == 0 {
            0.0
        } else {
            latencies.len() as f64 / expected as f64
        },
        totals.1
    );
    println!(
        "  latency publish -> arrival: p50 {}  p95 {}  p99 {}  max {}  mean {}",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 95.0)),
        ms(percentile(&latencies, 99.0)),
        ms(latencies.last().copied().unwrap_or_default()),
        ms(mean)
    );
    let p99 = percentile(&latencies, 99.0);
    println!(
        "  target p99 <= 250 ms: {}",
        if p99 <= Duration::from_millis(250) && latencies.len() == expected {
            "MET"
        } else {
            "NOT MET"
        }
    );
    println!("  total runtime {}", ms(started.elapsed()));
}
