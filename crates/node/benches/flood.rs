//! Gossip flood: one attacker peer publishes 50,000 invalid quotes to a node while an honest peer
//! publishes valid quotes throughout. Prints how many honest quotes were delivered (and their
//! latency), how many invalid messages the node processed before it graylisted and disconnected
//! the attacker, and the process's resident memory before, during and after.
//!
//! `cargo bench -p epoch-rfq-node --bench flood`
//! Knobs (env): `FLOOD_INVALID` (default 50000), `FLOOD_HONEST` (default 200),
//! `FLOOD_HONEST_GAP_MS` (default 15), `FLOOD_SEED` (default 7), `FLOOD_KINDS` (comma-separated
//! subset of `random,bad_signature,wrong_epoch`, default all three), `FLOOD_VALIDATION_WORKERS`
//! (the node's `P2P_VALIDATION_WORKERS`, default 0 = two per core; 1 = one validation at a
//! time, as before the validation pool), `FLOOD_ESCROW_DELAY_MS` (default 0: each escrow lookup,
//! one per new prover, waits this long, like an L1 round trip).
//!
//! The attacker runs in a child process (this bench binary again, `FLOOD_ROLE=attacker`), so the
//! resident memory measured (`VmRSS` of `/proc/self/status`) is the node's process: the node
//! (default `NodeConfig` and `P2pConfig`, a fixed fake L1 view: epoch 7 to prove, current slot
//! 65), the honest peer and the measuring tasks, on one tokio runtime with 2 workers. All on
//! 127.0.0.1, all on the machine's cores.
//!
//! Attacker mix, in random order (seeded): a third random 302-byte strings (malformed), a third
//! well-formed quotes with a signature that does not recover the prover (bad signature: full
//! signature recovery), a third correctly signed quotes for the wrong epoch (ignored, not
//! penalised: they cost a recovery each). All distinct, so gossipsub's duplicate filter does
//! not help.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, U256};
use alloy_signer_local::PrivateKeySigner;
use epoch_rfq_node::{
    ChainSnapshot, ChainView, ChainViewError, L1ContractAddresses, NodeConfig, NodeService,
};
use epoch_rfq_p2p::{IncomingMessage, Keypair, P2pConfig, P2pHandle, P2pMetrics, P2pService};
use epoch_rfq_quote::{EpochProofQuote, QuoteFields};
use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

mod common;
use common::{CHAIN_ID, EPOCH, StaticChain, env, snapshot};
use epoch_rfq_testkit::measure::{mib, ms, percentile, vm_rss_kib};

/// The bench's L1 view: the fixed snapshot, and escrow lookups that take `escrow_delay` (and
/// answer "unknown", so the check is skipped).
struct FloodChain {
    inner: StaticChain,
    escrow_delay: Duration,
}

impl ChainView for FloodChain {
    fn snapshot(&self) -> BoxFuture<'_, Result<ChainSnapshot, ChainViewError>> {
        self.inner.snapshot()
    }
    fn escrow_available(&self, _: Address) -> BoxFuture<'_, Result<Option<U256>, ChainViewError>> {
        let delay = self.escrow_delay;
        Box::pin(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Ok(None)
        })
    }
    fn l1_contract_addresses(&self) -> L1ContractAddresses {
        self.inner.l1_contract_addresses()
    }
}

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

fn key(tag: u8, i: u64) -> PrivateKeySigner {
    let mut b = [0u8; 32];
    b[0] = tag;
    b[24..].copy_from_slice(&(i + 1).to_be_bytes());
    PrivateKeySigner::from_slice(&b).expect("valid key")
}

/// The sample epoch's fields (`epoch_rfq_testkit::sample`) with this epoch, fee and bond.
fn fields(prover: Address, epoch: u64, bps: u32, bond: u64) -> QuoteFields {
    QuoteFields {
        epoch_number: U256::from(epoch),
        basis_point_fee: bps,
        bond_amount: U256::from(bond),
        ..epoch_rfq_testkit::sample::fields_for(prover)
    }
}

/// What the attacker sends, by kind.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Random,
    BadSignature,
    WrongEpoch,
}

fn parse_kinds() -> Vec<Kind> {
    let kinds: Vec<Kind> = std::env::var("FLOOD_KINDS")
        .unwrap_or_else(|_| "random,bad_signature,wrong_epoch".into())
        .split(',')
        .map(|k| match k.trim() {
            "random" => Kind::Random,
            "bad_signature" => Kind::BadSignature,
            "wrong_epoch" => Kind::WrongEpoch,
            other => panic!("FLOOD_KINDS: unknown kind {other:?}"),
        })
        .collect();
    assert!(!kinds.is_empty(), "FLOOD_KINDS is empty");
    kinds
}

fn attacker_payloads(n: u64, kinds: &[Kind], rng: &mut Rng) -> Vec<(Kind, Vec<u8>)> {
    let signer = key(0xa1, 0);
    let other = fields(key(0xa2, 0).address(), EPOCH, 1, 1000)
        .sign(&key(0xa2, 0), CHAIN_ID)
        .expect("sign");
    (0..n)
        .map(|i| {
            let kind = kinds[(rng.next() % kinds.len() as u64) as usize];
            let bps = (i % 10_001) as u32;
            let bond = 1_000 + i;
            let payload = match kind {
                Kind::Random => {
                    let mut b = vec![0u8; 302];
                    rng.fill(&mut b);
                    b
                }
                // The fields claim `signer`, the signature is another prover's (well formed,
                // low-s): the node must recover it to find out.
                Kind::BadSignature => EpochProofQuote::from_parts(
                    fields(signer.address(), EPOCH, bps, bond),
                    *other.signature(),
                )
                .expect("fee in range")
                .to_wire()
                .to_vec(),
                Kind::WrongEpoch => fields(signer.address(), EPOCH + 5, bps, bond)
                    .sign(&signer, CHAIN_ID)
                    .expect("sign")
                    .to_wire()
                    .to_vec(),
            };
            (kind, payload)
        })
        .collect()
}

async fn wait_until(what: &str, secs: u64, mut cond: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn gossip_rejections(node: &NodeService) -> String {
    node.render_metrics()
        .lines()
        .filter(|l| l.starts_with("epoch_rfq_node_quotes_rejected_total{path=\"gossip\""))
        .filter(|l| !l.ends_with(" 0"))
        .map(|l| {
            let reason = l
                .split("reason=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or("?");
            let n = l.rsplit(' ').next().unwrap_or("?");
            format!("{reason} {n}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if std::env::var("FLOOD_ROLE").as_deref() == Ok("attacker") {
        rt.block_on(attacker_main());
    } else {
        rt.block_on(node_main());
    }
}

// ------------------------------------------------------------------ the attacker (child process)

/// Protocol with the parent, one line each on stdout/stdin: `READY {json}` → `GO` →
/// `DONE {json}` → `EXIT` (or stdin closed).
async fn attacker_main() {
    let n_invalid = env("FLOOD_INVALID", 50_000);
    let seed = env("FLOOD_SEED", 7).max(1);
    let kinds = parse_kinds();
    let node: epoch_rfq_p2p::Multiaddr = std::env::var("FLOOD_NODE")
        .expect("FLOOD_NODE")
        .parse()
        .expect("FLOOD_NODE multiaddr");

    let t = Instant::now();
    let mut rng = Rng(seed);
    let payloads = attacker_payloads(n_invalid, &kinds, &mut rng);
    let count = |k: Kind| payloads.iter().filter(|(kind, _)| *kind == k).count();
    let generated_ms = ms(t.elapsed());

    let mut config = P2pConfig::local(Keypair::generate_ed25519());
    config.bootstrap = vec![node];
    let (attacker, _rx) = P2pService::spawn(config).await.expect("attacker p2p");
    wait_until("attacker meshed", 20, async || {
        !attacker.mesh_peers().await.unwrap_or_default().is_empty()
    })
    .await;
    let ready = json!({
        "peer": attacker.local_peer_id().to_string(),
        "generated_ms": generated_ms,
        "random": count(Kind::Random),
        "bad_signature": count(Kind::BadSignature),
        "wrong_epoch": count(Kind::WrongEpoch),
    });
    println!("READY {ready}");

    // Parent's commands, read on a plain thread (tokio's stdin needs a feature we do not enable).
    let (cmd_tx, mut commands) = mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if cmd_tx.send(line).is_err() {
                break;
            }
        }
    });
    let go = commands.recv().await;
    assert_eq!(go.as_deref(), Some("GO"), "expected GO from the parent");

    let start = Instant::now();
    let (mut ok, mut failed) = (0u64, 0u64);
    let mut failures: BTreeMap<String, u64> = BTreeMap::new();
    let mut first_failure_ms: Option<f64> = None;
    for (_, p) in payloads {
        match attacker.publish(p).await {
            Ok(_) => ok += 1,
            Err(e) => {
                failed += 1;
                *failures.entry(e.to_string()).or_default() += 1;
                first_failure_ms.get_or_insert(ms(start.elapsed()));
            }
        }
    }
    let done = json!({
        "ok": ok,
        "failed": failed,
        "failures": failures,
        "first_failure_ms": first_failure_ms,
        "elapsed_ms": ms(start.elapsed()),
        "connected_at_end": !attacker.connected_peers().await.unwrap_or_default().is_empty(),
    });
    println!("DONE {done}");
    // Stay up (and keep re-dialling the node, which refuses while the ban lasts) until told.
    let _ = commands.recv().await;
    attacker.shutdown().await;
}

// ------------------------------------------------------------------ the node (parent process)

struct Child {
    process: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Child {
    async fn expect_line(&mut self, tag: &str) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(60), self.lines.next_line())
            .await
            .expect("attacker answers within 60 s")
            .expect("attacker stdout")
            .expect("attacker exited early");
        let body = line
            .strip_prefix(tag)
            .unwrap_or_else(|| panic!("expected {tag} from the attacker, got {line:?}"));
        serde_json::from_str(body.trim()).expect("attacker JSON")
    }

    async fn send(&mut self, line: &str) {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("attacker stdin");
        self.stdin.flush().await.expect("attacker stdin");
    }
}

async fn spawn_attacker(node: &P2pHandle) -> Child {
    let addr = node.listen_addrs().await.expect("listen addrs")[0].clone();
    let full = format!("{addr}/p2p/{}", node.local_peer_id());
    let mut process = tokio::process::Command::new(std::env::current_exe().expect("current exe"))
        .env("FLOOD_ROLE", "attacker")
        .env("FLOOD_NODE", full)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the attacker process");
    let stdin = process.stdin.take().expect("piped stdin");
    let stdout = process.stdout.take().expect("piped stdout");
    Child {
        process,
        stdin,
        lines: BufReader::new(stdout).lines(),
    }
}

async fn honest_peer(node: &P2pHandle) -> (P2pHandle, mpsc::Receiver<IncomingMessage>) {
    let mut config = P2pConfig::local(Keypair::generate_ed25519());
    let addr = node.listen_addrs().await.expect("listen addrs")[0].clone();
    let full = format!("{addr}/p2p/{}", node.local_peer_id());
    config.bootstrap = vec![full.parse().expect("multiaddr")];
    P2pService::spawn(config).await.expect("honest peer")
}

/// What the node had done at one moment.
struct Moment {
    at: Duration,
    metrics: P2pMetrics,
    reasons: String,
}

impl Moment {
    fn judged_invalid(&self) -> u64 {
        self.metrics.rejected + self.metrics.ignored
    }
}

async fn node_main() {
    let n_invalid = env("FLOOD_INVALID", 50_000);
    let n_honest = env("FLOOD_HONEST", 200);
    let gap = Duration::from_millis(env("FLOOD_HONEST_GAP_MS", 15));
    let total = Instant::now();
    let rss_start = vm_rss_kib();

    // The node (default P2P and node configuration, fake L1 view) and the honest peer.
    let workers = env("FLOOD_VALIDATION_WORKERS", 0usize);
    let escrow_delay = Duration::from_millis(env("FLOOD_ESCROW_DELAY_MS", 0));
    let mut node_p2p_config = P2pConfig::local(Keypair::generate_ed25519());
    node_p2p_config.validation_workers = workers;
    let node_gossip = P2pService::spawn(node_p2p_config).await.expect("node p2p");
    let chain = FloodChain {
        inner: StaticChain(snapshot()),
        escrow_delay,
    };
    let node = NodeService::spawn(NodeConfig::local(), Arc::new(chain), Some(node_gossip))
        .await
        .expect("node");
    let svc = node.service().clone();
    let node_p2p = svc.p2p().expect("gossip on").clone();
    let (honest, _honest_rx) = honest_peer(&node_p2p).await;
    let honest_id = honest.local_peer_id();

    let mut child = spawn_attacker(&node_p2p).await;
    let ready = child.expect_line("READY").await;
    let attacker_id: epoch_rfq_p2p::PeerId = ready["peer"]
        .as_str()
        .expect("peer id")
        .parse()
        .expect("peer id");
    wait_until("meshes", 20, async || {
        let m = node_p2p.mesh_peers().await.unwrap_or_default();
        m.contains(&attacker_id)
            && m.contains(&honest_id)
            && !honest.mesh_peers().await.unwrap_or_default().is_empty()
    })
    .await;

    let honest_quotes: Vec<EpochProofQuote> = (0..n_honest)
        .map(|i| {
            let k = key(0xb0, i);
            fields(k.address(), EPOCH, 100 + (i % 5000) as u32, 5_000)
                .sign(&k, CHAIN_ID)
                .expect("sign")
        })
        .collect();
    println!(
        "flood benchmark: node + honest peer in this process (2 tokio workers), attacker in a child process, 127.0.0.1"
    );
    println!(
        "  node: {} validation workers, escrow lookup {} ms",
        node_p2p.validation_workers(),
        escrow_delay.as_millis()
    );
    println!(
        "  attacker payloads: {n_invalid} ({} random 302-byte, {} bad signature, {} wrong epoch), \
         generated in {:.0} ms; honest quotes: {n_honest}, one every {} ms",
        ready["random"],
        ready["bad_signature"],
        ready["wrong_epoch"],
        ready["generated_ms"].as_f64().unwrap_or_default(),
        gap.as_millis(),
    );
    let rss_before = vm_rss_kib();

    // Memory sampler.
    let stop = Arc::new(AtomicBool::new(false));
    let rss_max = Arc::new(AtomicU64::new(rss_before));
    let sampler = {
        let (stop, rss_max) = (stop.clone(), rss_max.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                rss_max.fetch_max(vm_rss_kib(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };

    // Delivery detector: the node's pool, polled every millisecond.
    let provers: Vec<Address> = honest_quotes.iter().map(|q| q.fields().prover).collect();
    let published_at: Arc<Mutex<Vec<Option<Instant>>>> =
        Arc::new(Mutex::new(vec![None; n_honest as usize]));
    let detector = {
        let (svc, published_at, stop, provers) = (
            svc.clone(),
            published_at.clone(),
            stop.clone(),
            provers.clone(),
        );
        tokio::spawn(async move {
            let mut latency: Vec<Option<Duration>> = vec![None; provers.len()];
            let mut pending: Vec<usize> = (0..provers.len()).collect();
            while !pending.is_empty() && !stop.load(Ordering::Relaxed) {
                let now = Instant::now();
                pending.retain(|&i| {
                    let Some(sent) = published_at.lock()[i] else {
                        return true;
                    };
                    if svc.pool().get(EPOCH, provers[i]).is_some() {
                        latency[i] = Some(now - sent);
                        false
                    } else {
                        true
                    }
                });
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            latency
        })
    };

    // Watchers: when the node graylisted (score check → ban) the attacker, and when the
    // attacker's connection was gone, with what the node had judged by then.
    let honest_started = Instant::now();
    let flood_start = honest_started + Duration::from_millis(300);
    let watcher = {
        let (node_p2p, svc, stop) = (node_p2p.clone(), svc.clone(), stop.clone());
        tokio::spawn(async move {
            let (mut graylisted, mut disconnected) = (None, None);
            while !stop.load(Ordering::Relaxed) && (graylisted.is_none() || disconnected.is_none())
            {
                let now = || Moment {
                    at: Instant::now().saturating_duration_since(flood_start),
                    metrics: node_p2p.metrics(),
                    reasons: gossip_rejections(&svc),
                };
                if graylisted.is_none() && node_p2p.metrics().graylist_disconnects > 0 {
                    graylisted = Some(now());
                }
                let peers = node_p2p.connected_peers().await.unwrap_or_default();
                if disconnected.is_none() && !peers.contains(&attacker_id) {
                    disconnected = Some(now());
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            (graylisted, disconnected)
        })
    };

    // Honest peer: publishes throughout.
    let honest_task = {
        let (honest, published_at) = (honest.clone(), published_at.clone());
        tokio::spawn(async move {
            let mut failed = 0u64;
            for (i, q) in honest_quotes.into_iter().enumerate() {
                let sent = Instant::now();
                match honest.publish(q.to_wire().to_vec()).await {
                    Ok(_) => published_at.lock()[i] = Some(sent),
                    Err(e) => {
                        failed += 1;
                        eprintln!("honest publish {i} failed: {e}");
                    }
                }
                tokio::time::sleep(gap).await;
            }
            failed
        })
    };

    // The attack starts 300 ms into the honest stream.
    tokio::time::sleep_until(flood_start.into()).await;
    child.send("GO").await;
    let done = child.expect_line("DONE").await;
    let rss_end_of_attack = vm_rss_kib();
    let honest_failed = honest_task.await.expect("honest task");

    // Let the node drain its queue and the last honest quotes arrive (at most 10 s), then 2 s.
    let sent: usize = published_at.lock().iter().flatten().count();
    let drain_deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let delivered = provers
            .iter()
            .filter(|p| svc.pool().get(EPOCH, **p).is_some())
            .count();
        if delivered >= sent || Instant::now() > drain_deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let latency = detector.await.expect("detector");
    sampler.await.expect("sampler");
    let (graylisted, disconnected) = watcher.await.expect("watcher");
    let rss_after = vm_rss_kib();
    let m = node_p2p.metrics();
    let mut lat: Vec<Duration> = latency.iter().flatten().copied().collect();
    lat.sort();

    println!(
        "  attacker: {} publishes taken by its gossipsub, {} failed (first failure after {} ms: {}), \
         {:.0} ms for all {n_invalid}; still connected at the end: {}",
        done["ok"],
        done["failed"],
        done["first_failure_ms"],
        done["failures"],
        done["elapsed_ms"].as_f64().unwrap_or_default(),
        done["connected_at_end"],
    );
    for (what, moment) in [
        ("graylisted (score check, banned)", &graylisted),
        ("disconnected", &disconnected),
    ] {
        match moment {
            Some(mo) => println!(
                "  attacker {what} {:.0} ms after the flood started; the node had then judged {} \
                 invalid ({} rejected, {} ignored), dropped {} (queue full); reasons: {}",
                ms(mo.at),
                mo.judged_invalid(),
                mo.metrics.rejected,
                mo.metrics.ignored,
                mo.metrics.dropped,
                mo.reasons,
            ),
            None => println!("  attacker never {what}"),
        }
    }
    println!(
        "  node totals: gossip received {}, accepted {}, rejected {}, ignored {}, dropped {}, \
         undecodable {}, graylist disconnects {}; reasons: {}",
        m.received,
        m.accepted,
        m.rejected,
        m.ignored,
        m.dropped,
        m.undecodable,
        m.graylist_disconnects,
        gossip_rejections(&svc),
    );
    println!(
        "  honest: {} of {n_honest} delivered ({honest_failed} publishes failed), latency \
         publish -> in pool: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; pool holds {}",
        lat.len(),
        ms(percentile(&lat, 0.50)),
        ms(percentile(&lat, 0.99)),
        ms(lat.last().copied().unwrap_or_default()),
        svc.pool().len(),
    );
    println!(
        "  node process VmRSS: start {:.1} MiB, before the flood {:.1} MiB, max during {:.1} MiB \
         (sampled every 10 ms), end of attack {:.1} MiB, after drain + 2 s {:.1} MiB",
        mib(rss_start),
        mib(rss_before),
        mib(rss_max.load(Ordering::Relaxed)),
        mib(rss_end_of_attack),
        mib(rss_after),
    );
    let pm = node_p2p.metrics();
    println!(
        "  node p2p: received {}, validation queued {}, dropped on a full queue {}",
        pm.received, pm.validation_queued, pm.dropped
    );
    println!("  total runtime {:.0} ms", ms(total.elapsed()));

    child.send("EXIT").await;
    let _ = tokio::time::timeout(Duration::from_secs(5), child.process.wait()).await;
    honest.shutdown().await;
    node.shutdown().await;
}
