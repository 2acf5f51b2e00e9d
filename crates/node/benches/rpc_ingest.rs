//! JSON-RPC ingest near the hardware bound: valid, distinct, signed quotes sent to a local node
//! over HTTP/1.1 keep-alive connections, as single requests and as JSON-RPC batches, beside the
//! same run's rate of signature recovery alone on as many threads as the node has workers.
//!
//! `cargo bench -p epoch-rfq-node --bench rpc_ingest`
//!
//! Knobs (env):
//! * `RPC_INGEST_MODES` — any of `single,pipelined,batch` (default all three): one call per
//!   request with one request in flight per connection; one call per request, HTTP/1.1-pipelined
//!   (`RPC_INGEST_PIPELINE_DEPTH` in flight per connection, default 16); JSON-RPC batches
//! * `RPC_INGEST_QUOTES` — quotes per mode (default 40000)
//! * `RPC_INGEST_CONNECTIONS` — keep-alive connections for single calls (default 32)
//! * `RPC_INGEST_BATCH` — calls per batch in batch mode (default 20)
//! * `RPC_INGEST_BATCH_CONNECTIONS` — keep-alive connections in batch mode (default 4: a batch
//!   is answered when its last call is done, so its latency grows with the calls in flight;
//!   4 × 20 keeps about 80 quotes queued, about 2 ms of work for two cores)
//! * `RPC_INGEST_THREADS` — the node's tokio workers (default 2, the machine's cores)
//!
//! The load generator is one OS thread sharing the machine with the node: it sends pre-rendered
//! requests and reads each response through, so its own cost is a few syscalls per request. Its
//! CPU time is measured and printed apart from the node's (from each thread's `schedstat`), so
//! the rate is what the node does on the machine's cores minus what one light client takes from
//! them, and "the node alone could take" is the node's cores divided by its CPU per quote.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use alloy_primitives::B256;
use epoch_rfq_node::{NodeConfig, NodeService, PoolConfig};
use epoch_rfq_quote::{EpochProofQuote, QuoteFields, backend};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod common;
use common::{StaticChain, env};
use epoch_rfq_testkit::measure::{ms, percentile};
use epoch_rfq_testkit::sample;

/// `n` distinct quotes, each by its own prover (index offset `from`); fees vary so that the
/// pool's best-quote ordering does real work.
fn quotes(from: usize, n: usize) -> Vec<EpochProofQuote> {
    (from..from + n)
        .map(|i| {
            sample::sign(
                i,
                QuoteFields {
                    basis_point_fee: (i % 10_001) as u32,
                    ..sample::fields(i)
                },
            )
        })
        .collect()
}

fn call(id: usize, q: &EpochProofQuote) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"node_addEpochProofQuote","params":[{}]}}"#,
        q.to_json_string()
    )
}

/// One pre-rendered HTTP request and the number of quotes it carries.
struct Request {
    bytes: Vec<u8>,
    calls: usize,
}

fn http_post(body: &str, calls: usize) -> Request {
    let head = format!(
        "POST / HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    Request { bytes, calls }
}

/// Requests carrying `quotes`: one call each, or batches of `batch` calls.
fn requests(quotes: &[EpochProofQuote], batch: Option<usize>) -> Vec<Request> {
    match batch {
        None => quotes
            .iter()
            .enumerate()
            .map(|(i, q)| http_post(&call(i, q), 1))
            .collect(),
        Some(size) => quotes
            .chunks(size)
            .enumerate()
            .map(|(b, chunk)| {
                let calls: Vec<String> = chunk
                    .iter()
                    .enumerate()
                    .map(|(i, q)| call(b * size + i, q))
                    .collect();
                http_post(&format!("[{}]", calls.join(",")), chunk.len())
            })
            .collect(),
    }
}

/// What one run of the load generator saw.
struct Run {
    elapsed: Duration,
    /// Per request: send → whole response read.
    latencies: Vec<Duration>,
    /// Calls answered `"result":null` (stored, or a duplicate of a stored quote).
    accepted: usize,
    calls: usize,
    /// CPU time of the load generator's thread.
    client_cpu: Duration,
}

/// Reads one HTTP/1.1 response (status line, headers with `content-length`, body) from `conn`,
/// keeping bytes of the next response in `buf`. Returns the body.
async fn read_response(conn: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<Vec<u8>> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).map_err(|_| bad("head not UTF-8"))?;
            if !head.starts_with("HTTP/1.1 200") {
                return Err(bad(head.lines().next().unwrap_or("empty response")));
            }
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .ok_or_else(|| bad("no content-length"))?;
            let total = end + 4 + len;
            while buf.len() < total {
                let mut chunk = [0u8; 16 * 1024];
                let n = conn.read(&mut chunk).await?;
                if n == 0 {
                    return Err(bad("connection closed mid-body"));
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = buf[end + 4..total].to_vec();
            buf.drain(..total);
            return Ok(body);
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Err(bad("connection closed before a response"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

/// Sends every request over `connections` keep-alive connections from one OS thread, `depth`
/// requests in flight per connection (1: the next request waits for the response; more:
/// HTTP/1.1 pipelining, answered in order).
fn load(
    addr: std::net::SocketAddr,
    requests: Vec<Request>,
    connections: usize,
    depth: usize,
) -> Run {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("client runtime");
        let cpu_before = thread_cpu();
        let requests = Arc::new(requests);
        let calls = requests.iter().map(|r| r.calls).sum();
        let (elapsed, latencies, accepted) = rt.block_on(async move {
            let next = Arc::new(AtomicUsize::new(0));
            let started = Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..connections {
                let (requests, next) = (requests.clone(), next.clone());
                let depth = depth.max(1);
                tasks.push(tokio::spawn(async move {
                    let mut conn = TcpStream::connect(addr).await.expect("connect");
                    conn.set_nodelay(true).expect("nodelay");
                    let mut buf = Vec::with_capacity(64 * 1024);
                    let mut latencies = Vec::new();
                    let mut accepted = 0;
                    let mut out = Vec::new();
                    loop {
                        let first = next.fetch_add(depth, Ordering::Relaxed);
                        let group = requests.get(first..(first + depth).min(requests.len()));
                        let Some(group) = group.filter(|g| !g.is_empty()) else {
                            break;
                        };
                        out.clear();
                        for request in group {
                            out.extend_from_slice(&request.bytes);
                        }
                        let sent = Instant::now();
                        conn.write_all(&out).await.expect("send");
                        for _ in group {
                            let body = read_response(&mut conn, &mut buf)
                                .await
                                .expect("a 200 response");
                            latencies.push(sent.elapsed());
                            accepted += count(&body, br#""result":null"#);
                        }
                    }
                    (latencies, accepted)
                }));
            }
            let mut latencies = Vec::new();
            let mut accepted = 0;
            for t in tasks {
                let (l, a) = t.await.expect("connection task");
                latencies.extend(l);
                accepted += a;
            }
            (started.elapsed(), latencies, accepted)
        });
        Run {
            elapsed,
            latencies,
            accepted,
            calls,
            client_cpu: thread_cpu().saturating_sub(cpu_before),
        }
    })
    .join()
    .expect("load generator thread")
}

/// CPU time of the calling thread (Linux `schedstat`, nanoseconds); zero elsewhere.
fn thread_cpu() -> Duration {
    schedstat_ns("/proc/thread-self/schedstat")
}

/// CPU time of every thread of this process.
fn process_cpu() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    tasks
        .filter_map(Result::ok)
        .map(|t| schedstat_ns(&format!("{}/schedstat", t.path().display())))
        .sum()
}

fn schedstat_ns(path: &str) -> Duration {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// Signature recovery alone (digest and signature prepared beforehand) on `threads` threads:
/// the bound that the node's checks set on these cores.
fn recovery_only_rate(quotes: &[EpochProofQuote], threads: usize) -> f64 {
    let prepared: Arc<Vec<(B256, [u8; 64], bool)>> = Arc::new(
        quotes
            .iter()
            .map(|q| {
                let sig = q.signature();
                let mut rs = [0u8; 64];
                rs.copy_from_slice(&sig[..64]);
                (q.fields().digest(sample::CHAIN_ID), rs, sig[64] == 28)
            })
            .collect(),
    );
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let prepared = prepared.clone();
            std::thread::spawn(move || {
                for (digest, rs, parity) in prepared.iter().skip(t).step_by(threads) {
                    let signer = backend::recover(digest, rs, *parity).expect("recoverable");
                    std::hint::black_box(signer);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("recovery thread");
    }
    prepared.len() as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let modes =
        std::env::var("RPC_INGEST_MODES").unwrap_or_else(|_| "single,pipelined,batch".into());
    let n = env("RPC_INGEST_QUOTES", 40_000);
    let single_connections = env("RPC_INGEST_CONNECTIONS", 32);
    let depth = env("RPC_INGEST_PIPELINE_DEPTH", 16);
    let batch = env("RPC_INGEST_BATCH", 20);
    let batch_connections = env("RPC_INGEST_BATCH_CONNECTIONS", 4);
    let threads = env("RPC_INGEST_THREADS", 2);
    let warmup = 2_000.min(n);

    let node_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("node runtime");

    let mut offset = 0;
    for mode in modes.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        let (batch, connections, depth) = match mode {
            "single" => (None, single_connections, 1),
            "pipelined" => (None, batch_connections, depth),
            "batch" => (Some(batch), batch_connections, 1),
            other => panic!("RPC_INGEST_MODES: unknown mode {other:?} (single, pipelined, batch)"),
        };
        eprintln!("{mode}: signing {} quotes…", n + warmup);
        let warm = quotes(10_000_000 + offset, warmup);
        let load_quotes = quotes(offset, n);
        offset += n + warmup;

        // A fresh node per mode: the pool starts empty each time.
        let node = node_rt.block_on(async {
            let config = NodeConfig {
                rate_limit_per_sec: 0,
                pool: PoolConfig {
                    max_epochs: 4,
                    max_quotes_per_epoch: 1 << 20,
                    max_bytes: 1 << 30,
                },
                ..NodeConfig::local()
            };
            NodeService::spawn(config, Arc::new(StaticChain(sample::snapshot())), None)
                .await
                .expect("node")
        });
        let addr = node.local_addr();

        let warm_run = load(addr, requests(&warm, batch), connections, depth);
        assert_eq!(
            warm_run.accepted, warm_run.calls,
            "warm-up quotes were refused"
        );

        let recovery_before = recovery_only_rate(&load_quotes[..4_000.min(n)], threads);
        let reqs = requests(&load_quotes, batch);
        let cpu_before = process_cpu();
        let mut run = load(addr, reqs, connections, depth);
        let node_cpu = process_cpu()
            .saturating_sub(cpu_before)
            .saturating_sub(run.client_cpu);
        let recovery_after = recovery_only_rate(&load_quotes[..4_000.min(n)], threads);
        let recovery = (recovery_before + recovery_after) / 2.0;

        run.latencies.sort();
        let rate = run.calls as f64 / run.elapsed.as_secs_f64();
        let per_quote = |d: Duration| d.as_secs_f64() * 1e6 / run.calls as f64;
        let shape = match (batch, depth) {
            (None, 1) => "single calls".to_string(),
            (None, d) => format!("single calls pipelined {d} deep"),
            (Some(b), _) => format!("batches of {b}"),
        };
        println!(
            "rpc_ingest {mode}: {} quotes in {shape}, {connections} connections, {threads} node workers: \
             {rate:.0} quotes/s = {:.0}% of recovery alone on {threads} threads ({recovery:.0}/s); \
             request p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; CPU per quote: node {:.1} µs \
             (the node alone could take {:.0}/s on {threads} cores), load generator {:.1} µs; \
             refused {}, pool {}",
            run.calls,
            100.0 * rate / recovery,
            ms(percentile(&run.latencies, 0.50)),
            ms(percentile(&run.latencies, 0.99)),
            ms(run.latencies.last().copied().unwrap_or_default()),
            per_quote(node_cpu),
            threads as f64 * 1e6 / per_quote(node_cpu),
            per_quote(run.client_cpu),
            run.calls - run.accepted,
            node.service().pool().len(),
        );
        node_rt.block_on(node.shutdown());
    }
}
