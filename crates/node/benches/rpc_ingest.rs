//! JSON-RPC ingest load generator: valid, distinct quotes POSTed to a local node over HTTP by
//! concurrent clients, printing quotes/s and latency percentiles.
//!
//! `cargo bench -p epoch-rfq-node --bench rpc_ingest`
//! Knobs (env): `RPC_INGEST_QUOTES` (default 20000), `RPC_INGEST_CLIENTS` (default 16),
//! `RPC_INGEST_THREADS` (tokio workers shared by node and clients, default 2).
//!
//! Server and load generator share the process (and the machine's cores), so the figure is a
//! lower bound for the node alone.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use epoch_rfq_node::{NodeConfig, NodeService, PoolConfig};
use epoch_rfq_quote::QuoteFields;

mod common;
use common::{StaticChain, env};
use epoch_rfq_testkit::measure::percentile;
use epoch_rfq_testkit::sample;

/// Request bodies for `n` distinct provers (index offset `from`).
fn bodies(from: usize, n: usize) -> Vec<String> {
    (from..from + n)
        .map(|i| {
            let q = sample::sign(
                i,
                QuoteFields {
                    basis_point_fee: (i % 10_001) as u32,
                    ..sample::fields(i)
                },
            );
            format!(
                r#"{{"jsonrpc":"2.0","id":{i},"method":"node_addEpochProofQuote","params":[{}]}}"#,
                q.to_json_string()
            )
        })
        .collect()
}

async fn run(url: String, bodies: Vec<String>, clients: usize) -> (Duration, Vec<Duration>, usize) {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .expect("client");
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, url, bodies, next) = (http.clone(), url.clone(), bodies.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                let t = Instant::now();
                let resp = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                let ok = match resp {
                    Ok(r) => r
                        .text()
                        .await
                        .map(|t| t.contains(r#""result":null"#))
                        .unwrap_or(false),
                    Err(_) => false,
                };
                lat.push(t.elapsed());
                if !ok {
                    errors += 1;
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (lat, e) = t.await.expect("client task");
        all.extend(lat);
        errors += e;
    }
    (started.elapsed(), all, errors)
}

fn main() {
    let n = env("RPC_INGEST_QUOTES", 20_000);
    let clients = env("RPC_INGEST_CLIENTS", 16);
    let threads = env("RPC_INGEST_THREADS", 2);
    let warmup = 1_000.min(n);
    eprintln!("signing {} quotes…", n + warmup);
    let warm = bodies(1_000_000, warmup);
    let load = bodies(0, n);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let snapshot = sample::snapshot();
        let config = NodeConfig {
            rate_limit_per_sec: 0,
            pool: PoolConfig {
                max_epochs: 4,
                max_quotes_per_epoch: 1 << 20,
                max_bytes: 1 << 30,
            },
            ..NodeConfig::local()
        };
        let node = NodeService::spawn(config, Arc::new(StaticChain(snapshot)), None)
            .await
            .expect("node");
        let url = node.url();
        let (_, _, warm_errors) = run(url.clone(), warm, clients).await;
        assert_eq!(warm_errors, 0, "warm-up requests failed");
        let (elapsed, mut lat, errors) = run(url, load, clients).await;
        lat.sort();
        let rate = lat.len() as f64 / elapsed.as_secs_f64();
        println!(
            "rpc_ingest: {} quotes, {clients} clients, {threads} worker threads: {rate:.0} quotes/s, \
             p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, errors {errors}, pool {}",
            lat.len(),
            percentile(&lat, 0.50).as_secs_f64() * 1e3,
            percentile(&lat, 0.99).as_secs_f64() * 1e3,
            lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
            node.service().pool().len(),
        );
        node.shutdown().await;
    });
}
