//! Heap bytes per stored quote, measured with a counting global allocator:
//! `cargo bench -p epoch-rfq-pool --bench pool_bytes`.
//!
//! For each size it decodes and verifies `n` quotes from wire bytes and inserts them (so the
//! `Arc`'d verified quote, the ranking entry, the per-prover entry and the maps' spare capacity
//! are all counted), then reports the net heap growth (bytes allocated − bytes freed) divided
//! by `n`. The wire buffers are allocated before the measurement and not counted. glibc adds
//! about 16 bytes of header per live allocation; that is reported too.

// The tests' fixtures: the snapshot of the shared sample epoch, quotes of many provers.
#[path = "../tests/common/mod.rs"]
mod common;

use std::alloc::System;

use epoch_rfq_pool::{NoEscrow, PoolConfig, QuotePool, STORED_QUOTE_BYTES, validate_wire};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let snap = common::snapshot();
    let signed = common::quotes(50_000, 7);
    let wires: Vec<_> = signed.iter().map(|q| q.to_wire()).collect();
    drop(signed);
    println!("accounting size STORED_QUOTE_BYTES = {STORED_QUOTE_BYTES}");
    println!(
        "{:>8} {:>14} {:>16} {:>18}",
        "quotes", "net bytes", "bytes/quote", "+malloc hdr/quote"
    );
    for n in [100usize, 1_000, 1_024, 10_000, 50_000] {
        let pool = QuotePool::new(PoolConfig {
            max_epochs: 4,
            max_quotes_per_epoch: usize::MAX,
            max_bytes: usize::MAX,
        });
        let region = Region::new(GLOBAL);
        for w in &wires[..n] {
            let q = validate_wire(w, &snap, &NoEscrow).expect("valid");
            assert!(pool.insert(q).is_stored());
        }
        let s = region.change();
        let net = s.bytes_allocated as f64 - s.bytes_deallocated as f64;
        let live_allocs = s.allocations as f64 - s.deallocations as f64;
        println!(
            "{n:>8} {net:>14.0} {:>16.1} {:>18.1}",
            net / n as f64,
            (net + 16.0 * live_allocs) / n as f64
        );
        assert_eq!(pool.len(), n);
    }
}
