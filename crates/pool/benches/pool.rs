//! Pool throughput: `cargo bench -p epoch-rfq-pool --bench pool`.
//!
//! * `insert/store_only`: pre-verified quotes into a fresh pool (validation off).
//! * `insert/full_pipeline`: wire bytes → decode → verify → chain checks → insert.
//! * `read/best`, `read/quotes_1024`: queries on a full epoch.
//!
//! Bytes per stored quote: `cargo bench -p epoch-rfq-pool --bench pool_bytes`.

// The tests' fixtures: the snapshot of the shared sample epoch, quotes of many provers.
#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use epoch_rfq_pool::{NoEscrow, PoolConfig, QuotePool, validate_wire};
use epoch_rfq_quote::VerifiedQuote;

const N: usize = 10_000;

fn unbounded() -> PoolConfig {
    PoolConfig {
        max_epochs: 64,
        max_quotes_per_epoch: usize::MAX,
        max_bytes: usize::MAX,
    }
}

fn bench(c: &mut Criterion) {
    let signed = common::quotes(N, 7);
    let verified: Vec<VerifiedQuote> = signed
        .iter()
        .map(|q| q.verify(common::CHAIN_ID).expect("verify"))
        .collect();
    let wires: Vec<_> = signed.iter().map(|q| q.to_wire()).collect();
    let snap = common::snapshot();

    let mut g = c.benchmark_group("insert");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("store_only", |b| {
        b.iter_batched(
            || (QuotePool::new(unbounded()), verified.clone()),
            |(pool, qs)| {
                for q in qs {
                    black_box(pool.insert(q));
                }
                pool
            },
            BatchSize::LargeInput,
        )
    });
    // Default caps: 1024 per epoch, so most inserts evict the dearest or are refused.
    g.bench_function("store_only_default_caps", |b| {
        b.iter_batched(
            || (QuotePool::default(), verified.clone()),
            |(pool, qs)| {
                for q in qs {
                    black_box(pool.insert(q));
                }
                pool
            },
            BatchSize::LargeInput,
        )
    });
    g.sample_size(10);
    g.bench_function("full_pipeline", |b| {
        b.iter_batched(
            || QuotePool::new(unbounded()),
            |pool| {
                for w in &wires {
                    if let Ok(q) = validate_wire(w, &snap, &NoEscrow) {
                        black_box(pool.insert(q));
                    }
                }
                pool
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();

    let pool = QuotePool::default();
    for q in verified.iter().take(1024) {
        pool.insert(q.clone());
    }
    let mut g = c.benchmark_group("read");
    g.bench_function("best", |b| b.iter(|| black_box(pool.best(black_box(7)))));
    g.bench_function("quotes_1024", |b| {
        b.iter(|| black_box(pool.quotes(black_box(7))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
