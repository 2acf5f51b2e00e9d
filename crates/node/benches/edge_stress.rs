//! Edge stress: one client host holds 30,000 idle TCP connections and 3,000 slow-header
//! (slowloris) connections to a node's JSON-RPC port while a second client calls
//! `node_getEpochProofQuotes` over and over. Prints the second client's latency (p50/p99/max,
//! errors), how many attacking connections the node refused at accept or closed later, and the
//! node process's resident memory before, during and after the attack.
//!
//! `cargo bench -p epoch-rfq-node --bench edge_stress`
//!
//! Knobs (env): `EDGE_STRESS_IDLE` (default 30000), `EDGE_STRESS_SLOW` (3000),
//! `EDGE_STRESS_IDLE_ADDRS` (source addresses the idle connections are spread over, default 2:
//! 127.0.0.2 and .3), `EDGE_STRESS_SLOW_ADDRS` (default 1: the next one), `EDGE_STRESS_HOLD_S`
//! (how long the attack holds its connections, default 20), `EDGE_STRESS_SLOW_GAP_MS` (one more
//! header byte per slow connection this often, default 2000), `EDGE_STRESS_CALL_GAP_MS` (the
//! honest client's pace, default 50: 20 calls/s, under the default rate limit of 50/s).
//!
//! The node (default `NodeConfig`: the public edge limits, on 127.0.0.1 with a free port; a
//! fixed fake L1 view with 10 quotes in the pool) and the honest client (127.0.0.1, one pooled
//! keep-alive connection) run in this process, on one tokio runtime with 2 workers; `VmRSS` of
//! `/proc/self/status` is therefore the node's memory plus the small client. The attacking
//! connections are opened by child processes (this binary again, `EDGE_STRESS_ROLE=attacker`,
//! at most 16,000 sockets each, so no process needs more than its file-handle limit); each
//! source address is one client IP to the node. Everything on 127.0.0.x, bounded in count and
//! in time (every connect has a 3 s limit; children exit after the hold).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use epoch_rfq_node::{IngestPath, NodeClient, NodeConfig, NodeService};
use futures::StreamExt;
use parking_lot::Mutex;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpSocket;

mod common;
use common::{EPOCH, StaticChain, env, snapshot};
use epoch_rfq_testkit::measure::{mib, ms, percentile, vm_rss_kib};

/// Sockets per attacker process (the file-handle limit is often 20,000).
const SOCKETS_PER_CHILD: u64 = 16_000;
/// A connection closed by the server this soon after it was opened was refused at accept (the
/// edge's timeouts are seconds).
const REFUSED_WITHIN: Duration = Duration::from_millis(1000);

/// The value of a series in the node's metrics.
fn metric(node: &NodeService, series: &str) -> f64 {
    node.render_metrics()
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(f64::NAN)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if std::env::var("EDGE_STRESS_ROLE").as_deref() == Ok("attacker") {
        rt.block_on(attacker_main());
    } else {
        rt.block_on(node_main());
    }
}

// ------------------------------------------------------------------ the attacker (child process)

/// What a child opens: `kind` (`idle` or `slow`), from 127.0.0.`addr`, `count` connections.
#[derive(Clone, Copy, Debug)]
struct Job {
    slow: bool,
    addr: u8,
    count: u64,
}

#[derive(Default)]
struct Tally {
    opened: AtomicU64,
    connect_failed: AtomicU64,
    /// Closed by the server within `REFUSED_WITHIN` of opening.
    refused: AtomicU64,
    /// Closed by the server later (header or idle timeout).
    closed_later: AtomicU64,
}

/// Jobs from `EDGE_STRESS_JOBS` (`idle:2:15000,slow:4:1500`); prints `OPENED …` once every
/// connection is attempted, `DONE …` after the hold, then exits (closing everything).
async fn attacker_main() {
    let node: SocketAddr = std::env::var("EDGE_STRESS_NODE")
        .expect("EDGE_STRESS_NODE")
        .parse()
        .expect("node address");
    let hold = Duration::from_secs(env("EDGE_STRESS_HOLD_S", 20));
    let slow_gap = Duration::from_millis(env("EDGE_STRESS_SLOW_GAP_MS", 2000));
    let jobs: Vec<Job> = std::env::var("EDGE_STRESS_JOBS")
        .expect("EDGE_STRESS_JOBS")
        .split(',')
        .map(|j| {
            let mut p = j.split(':');
            let slow = p.next() == Some("slow");
            let addr = p.next().and_then(|v| v.parse().ok()).expect("job address");
            let count = p.next().and_then(|v| v.parse().ok()).expect("job count");
            Job { slow, addr, count }
        })
        .collect();
    // [idle, slow]
    let tallies = Arc::new([Tally::default(), Tally::default()]);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let attempts = jobs
        .iter()
        .flat_map(|job| (0..job.count).map(move |_| *job));
    let mut tasks = Vec::new();
    let mut connects = futures::stream::iter(attempts)
        .map(|job| async move {
            let connect = async {
                let socket = TcpSocket::new_v4().ok()?;
                socket
                    .bind(SocketAddr::new(
                        IpAddr::V4(Ipv4Addr::new(127, 0, 0, job.addr)),
                        0,
                    ))
                    .ok()?;
                tokio::time::timeout(Duration::from_secs(3), socket.connect(node))
                    .await
                    .ok()?
                    .ok()
            };
            connect.await.map(|stream| (job, stream)).ok_or(job)
        })
        .buffer_unordered(256);
    while let Some(connected) = connects.next().await {
        let (job, mut stream) = match connected {
            Ok(c) => c,
            Err(job) => {
                tallies[usize::from(job.slow)]
                    .connect_failed
                    .fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        tallies[usize::from(job.slow)]
            .opened
            .fetch_add(1, Ordering::Relaxed);
        let (tallies, stop) = (tallies.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let tally = &tallies[usize::from(job.slow)];
            let opened = Instant::now();
            let mut buf = [0u8; 64];
            if job.slow
                && stream
                    .write_all(b"POST / HTTP/1.1\r\nHost: node\r\nX-Slow: ")
                    .await
                    .is_err()
            {
                return;
            }
            let closed = loop {
                if stop.load(Ordering::Relaxed) {
                    break false;
                }
                tokio::select! {
                    read = stream.read(&mut buf) => match read {
                        Ok(0) | Err(_) => break true,
                        Ok(_) => continue,
                    },
                    () = tokio::time::sleep(slow_gap) => {
                        if job.slow && stream.write_all(b"a").await.is_err() {
                            break true;
                        }
                    }
                }
            };
            if closed {
                if opened.elapsed() < REFUSED_WITHIN {
                    tally.refused.fetch_add(1, Ordering::Relaxed);
                } else {
                    tally.closed_later.fetch_add(1, Ordering::Relaxed);
                }
            }
            // Keep the socket until the hold ends, as an attacker would (a closed one is free).
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }));
    }
    drop(connects);
    let sum = |f: fn(&Tally) -> &AtomicU64| -> u64 {
        tallies.iter().map(|t| f(t).load(Ordering::Relaxed)).sum()
    };
    println!(
        "OPENED {} {} {}",
        sum(|t| &t.opened),
        sum(|t| &t.connect_failed),
        started.elapsed().as_millis()
    );
    tokio::time::sleep(hold.saturating_sub(started.elapsed())).await;
    let fields = tallies
        .iter()
        .flat_map(|t| [&t.opened, &t.connect_failed, &t.refused, &t.closed_later])
        .map(|v| v.load(Ordering::Relaxed).to_string())
        .collect::<Vec<_>>()
        .join(" ");
    println!("DONE {fields}");
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.abort();
    }
}

// ------------------------------------------------------------------ the node and honest client

/// Splits the attack into per-child job lists of at most `SOCKETS_PER_CHILD` sockets.
fn plan(idle: u64, idle_addrs: u64, slow: u64, slow_addrs: u64) -> Vec<Vec<Job>> {
    let mut jobs = Vec::new();
    let mut next_addr = 2u8;
    for (total, addrs, is_slow) in [(idle, idle_addrs, false), (slow, slow_addrs, true)] {
        let addrs = addrs.max(1);
        for i in 0..addrs {
            let count = total / addrs + u64::from(i < total % addrs);
            if count > 0 {
                jobs.push(Job {
                    slow: is_slow,
                    addr: next_addr,
                    count,
                });
            }
            next_addr = next_addr
                .checked_add(1)
                .expect("at most 253 source addresses");
        }
    }
    let mut children = vec![Vec::new()];
    let mut room = SOCKETS_PER_CHILD;
    for mut job in jobs {
        while job.count > 0 {
            if room == 0 {
                children.push(Vec::new());
                room = SOCKETS_PER_CHILD;
            }
            let part = job.count.min(room);
            children
                .last_mut()
                .expect("a child")
                .push(Job { count: part, ..job });
            job.count -= part;
            room -= part;
        }
    }
    children
}

async fn node_main() {
    let idle = env("EDGE_STRESS_IDLE", 30_000);
    let slow = env("EDGE_STRESS_SLOW", 3_000);
    let idle_addrs = env("EDGE_STRESS_IDLE_ADDRS", 2);
    let slow_addrs = env("EDGE_STRESS_SLOW_ADDRS", 1);
    let hold_s = env("EDGE_STRESS_HOLD_S", 20);
    let call_gap = Duration::from_millis(env("EDGE_STRESS_CALL_GAP_MS", 50));
    let t0 = Instant::now();
    let rss_start = vm_rss_kib();

    let config = NodeConfig::local();
    let limits = config.edge_limits();
    let node = NodeService::spawn(config, Arc::new(StaticChain(snapshot())), None)
        .await
        .expect("node starts");
    let service = node.service().clone();
    for i in 0..10 {
        let q = epoch_rfq_testkit::sample::quote(i);
        service
            .add_quote(&q, IngestPath::Local)
            .await
            .expect("valid quote");
    }
    println!(
        "edge stress: node in this process (2 tokio workers), 127.0.0.1:{}; limits: {} connections, {} per IP, header {} ms, idle {} ms, request {} ms",
        node.local_addr().port(),
        limits.max_connections,
        limits.max_connections_per_ip,
        limits.header_read_timeout.as_millis(),
        limits.idle_timeout.as_millis(),
        limits.request_timeout.as_millis()
    );

    // The honest client: one call every `call_gap`, latency recorded with the phase it fell in.
    #[derive(Clone, Copy, PartialEq)]
    enum Phase {
        Before,
        During,
        After,
    }
    let phase = Arc::new(Mutex::new(Phase::Before));
    /// One honest call: the phase it started in, its latency or its error.
    type Sample = (Phase, Result<Duration, String>);
    let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let client_stop = Arc::new(AtomicBool::new(false));
    let honest = {
        let (phase, samples, stop) = (phase.clone(), samples.clone(), client_stop.clone());
        let client = NodeClient::new(node.url()).expect("client");
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(call_gap);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let p = *phase.lock();
                let start = Instant::now();
                let r = match client.get_epoch_proof_quotes(EPOCH).await {
                    Ok(q) if q.len() == 10 => Ok(start.elapsed()),
                    Ok(q) => Err(format!("{} quotes", q.len())),
                    Err(e) => Err(e.to_string()),
                };
                samples.lock().push((p, r));
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_before = vm_rss_kib();

    // The attack.
    let children_jobs = plan(idle, idle_addrs, slow, slow_addrs);
    println!(
        "  attack: {idle} idle connections from {idle_addrs} address(es), {slow} slow-header from {slow_addrs}, held {hold_s} s, by {} child process(es)",
        children_jobs.len()
    );
    *phase.lock() = Phase::During;
    let attack_start = Instant::now();
    let mut children = Vec::new();
    for jobs in &children_jobs {
        let spec = jobs
            .iter()
            .map(|j| {
                format!(
                    "{}:{}:{}",
                    if j.slow { "slow" } else { "idle" },
                    j.addr,
                    j.count
                )
            })
            .collect::<Vec<_>>()
            .join(",");
        let mut child = tokio::process::Command::new(std::env::current_exe().expect("exe"))
            .env("EDGE_STRESS_ROLE", "attacker")
            .env("EDGE_STRESS_NODE", node.local_addr().to_string())
            .env("EDGE_STRESS_JOBS", spec)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("attacker process");
        let out = BufReader::new(child.stdout.take().expect("stdout")).lines();
        children.push((child, out, jobs.clone()));
    }
    // Sample memory and open connections while the children work.
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (sampling, service) = (sampling.clone(), service.clone());
        tokio::spawn(async move {
            let (mut max_rss, mut max_open) = (0u64, 0f64);
            while sampling.load(Ordering::Relaxed) {
                max_rss = max_rss.max(vm_rss_kib());
                max_open = max_open.max(metric(&service, "epoch_rfq_node_http_connections_open"));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (max_rss, max_open)
        })
    };
    let mut totals = [0u64; 4]; // opened, connect failed, refused, closed later
    let mut by_kind = [[0u64; 4]; 2];
    for (child, out, _) in &mut children {
        loop {
            let line = tokio::time::timeout(Duration::from_secs(hold_s + 60), out.next_line())
                .await
                .expect("attacker answers in time")
                .expect("attacker stdout")
                .expect("attacker line");
            if let Some(rest) = line.strip_prefix("OPENED ") {
                println!(
                    "  attacker {}: opened, connect failed, ms: {rest}",
                    child.id().unwrap_or(0)
                );
            } else if let Some(rest) = line.strip_prefix("DONE ") {
                let v: Vec<u64> = rest.split(' ').filter_map(|x| x.parse().ok()).collect();
                for (i, x) in v.iter().enumerate().take(8) {
                    totals[i % 4] += x;
                    by_kind[i / 4][i % 4] += x;
                }
                break;
            }
        }
    }
    let rss_end_of_attack = vm_rss_kib();
    let open_end_of_attack = metric(&service, "epoch_rfq_node_http_connections_open");
    for (child, _, _) in &mut children {
        let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
    }
    let attack_took = attack_start.elapsed();
    *phase.lock() = Phase::After;
    sampling.store(false, Ordering::Relaxed);
    let (max_rss, max_open) = sampler.await.expect("sampler");

    // Let the node notice the closed sockets, then measure again.
    let settle = Instant::now();
    while metric(&service, "epoch_rfq_node_http_connections_open") > 1.0
        && settle.elapsed() < Duration::from_secs(20)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = vm_rss_kib();
    client_stop.store(true, Ordering::Relaxed);
    let _ = honest.await;

    println!(
        "  attacking connections: opened {} (connect failed {}): refused at accept (closed < 1 s) {}, closed later by the server (header/idle timeout) {}, open from the attacker's side at the end of the hold {} (idle-timeout closes still to come, or handshakes the kernel dropped from the full accept queue, which the node never saw)",
        totals[0],
        totals[1],
        totals[2],
        totals[3],
        totals[0] - totals[2] - totals[3]
    );
    for (kind, t) in [("idle", by_kind[0]), ("slow-header", by_kind[1])] {
        println!(
            "    {kind}: opened {}, connect failed {}, refused at accept {}, closed later {}",
            t[0], t[1], t[2], t[3]
        );
    }
    println!(
        "  node counters: refused total-cap {}, per-IP-cap {}; closed header_timeout {}, idle_timeout {}; open connections max {max_open} (end of hold {open_end_of_attack})",
        metric(
            &service,
            "epoch_rfq_node_http_connections_refused_total{reason=\"total\"}"
        ),
        metric(
            &service,
            "epoch_rfq_node_http_connections_refused_total{reason=\"per_ip\"}"
        ),
        metric(
            &service,
            "epoch_rfq_node_http_connections_closed_total{reason=\"header_timeout\"}"
        ),
        metric(
            &service,
            "epoch_rfq_node_http_connections_closed_total{reason=\"idle_timeout\"}"
        ),
    );
    let samples = samples.lock().clone();
    for (name, which) in [
        ("before", Phase::Before),
        ("during the attack", Phase::During),
        ("after", Phase::After),
    ] {
        let mut ok: Vec<Duration> = samples
            .iter()
            .filter(|(p, _)| *p == which)
            .filter_map(|(_, r)| r.as_ref().ok().copied())
            .collect();
        let errors: Vec<&String> = samples
            .iter()
            .filter(|(p, _)| *p == which)
            .filter_map(|(_, r)| r.as_ref().err())
            .collect();
        ok.sort();
        println!(
            "  honest client {name}: {} calls ok, {} failed{}; p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ok.len(),
            errors.len(),
            errors
                .first()
                .map_or(String::new(), |e| format!(" (first: {e})")),
            ms(percentile(&ok, 0.5)),
            ms(percentile(&ok, 0.99)),
            ms(ok.last().copied().unwrap_or_default())
        );
    }
    println!(
        "  node process VmRSS: start {:.1} MiB, before the attack {:.1} MiB, max during {:.1} MiB (sampled every 50 ms), end of hold {:.1} MiB, after the attackers closed + 2 s {:.1} MiB",
        mib(rss_start),
        mib(rss_before),
        mib(max_rss),
        mib(rss_end_of_attack),
        mib(rss_after)
    );
    println!(
        "  attack phase {:.1} s, total runtime {:.1} s",
        attack_took.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
    node.shutdown().await;
}
