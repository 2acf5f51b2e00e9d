//! Quote benchmarks: `cargo bench -p epoch-rfq-quote` (figures in the crate README).
//!
//! Targets (SPEC §9 and the quote issue), single-threaded: ≥ 20,000 full validations/s,
//! ≥ 2M wire decodes/s, ≥ 200k JSON round trips/s. The `recover/*` and `validate_k256` entries
//! compare the two secp256k1 backends (see `src/backend.rs`).

use std::hint::black_box;
use std::time::Duration;

use alloy_primitives::{Address, B256, U256};
use alloy_signer_local::PrivateKeySigner;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use epoch_rfq_quote::{EpochProofQuote, QuoteFields, SECP256K1_HALF_ORDER, backend};

const CHAIN_ID: u64 = 31337;

fn quote() -> (PrivateKeySigner, QuoteFields, EpochProofQuote) {
    let key = PrivateKeySigner::from_bytes(&B256::repeat_byte(0x42)).expect("valid key");
    let fields = QuoteFields {
        prover: key.address(),
        epoch_number: U256::from(7),
        epoch_init_block: U256::from(57),
        epoch_final_block: U256::from(64),
        total_fees: U256::from(123_000_000_000_000_000u64),
        rollup_address: Address::repeat_byte(0x5f),
        basis_point_fee: 250,
        bond_amount: U256::from(1_000_000_000_000_000_000u64),
        valid_until_slot: U256::from(60),
    };
    let q = fields.sign(&key, CHAIN_ID).expect("sign");
    (key, fields, q)
}

fn benches(c: &mut Criterion) {
    let (key, fields, q) = quote();
    let wire = q.to_wire();
    let json = q.to_json_string();
    let digest = q.digest(CHAIN_ID);
    let mut rs = [0u8; 64];
    rs.copy_from_slice(&q.signature()[..64]);
    let parity = q.v() == 28;

    let mut g = c.benchmark_group("quote");
    g.throughput(Throughput::Elements(1));
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));

    // The full validation path of the gossip/HTTP ingest: decode + digest + recover + checks.
    g.bench_function("validate", |b| {
        b.iter(|| {
            let q = EpochProofQuote::from_wire(black_box(&wire)).expect("decode");
            q.verify(black_box(CHAIN_ID)).expect("verify")
        })
    });
    // The same path with the k256 backend (checks reproduced inline).
    g.bench_function("validate_k256", |b| {
        b.iter(|| {
            let q = EpochProofQuote::from_wire(black_box(&wire)).expect("decode");
            assert!(matches!(q.v(), 27 | 28) && q.s() <= SECP256K1_HALF_ORDER);
            let d = q.digest(black_box(CHAIN_ID));
            let mut rs = [0u8; 64];
            rs.copy_from_slice(&q.signature()[..64]);
            let a = backend::recover_k256(&d, &rs, q.v() == 28).expect("recover");
            assert_eq!(a, q.fields().prover);
        })
    });
    g.bench_function("recover/secp256k1", |b| {
        b.iter(|| backend::recover_secp256k1(black_box(&digest), black_box(&rs), parity))
    });
    g.bench_function("recover/k256", |b| {
        b.iter(|| backend::recover_k256(black_box(&digest), black_box(&rs), parity))
    });
    g.bench_function("digest", |b| {
        b.iter(|| black_box(&fields).digest(black_box(CHAIN_ID)))
    });
    g.bench_function("wire_decode", |b| {
        b.iter(|| EpochProofQuote::from_wire(black_box(&wire)).expect("decode"))
    });
    g.bench_function("wire_encode", |b| b.iter(|| black_box(&q).to_wire()));
    g.bench_function("json_round_trip", |b| {
        b.iter(|| {
            let s = black_box(&q).to_json_string();
            EpochProofQuote::from_json_str(&s).expect("decode")
        })
    });
    g.bench_function("json_round_trip_serde", |b| {
        b.iter(|| {
            let s = serde_json::to_string(black_box(&q)).expect("encode");
            serde_json::from_str::<EpochProofQuote>(&s).expect("decode")
        })
    });
    g.bench_function("json_decode", |b| {
        b.iter(|| EpochProofQuote::from_json_str(black_box(&json)).expect("decode"))
    });
    g.bench_function("json_encode", |b| b.iter(|| black_box(&q).to_json_string()));
    g.bench_function("sign", |b| {
        b.iter(|| {
            black_box(fields)
                .sign(&key, black_box(CHAIN_ID))
                .expect("sign")
        })
    });
    g.finish();
}

criterion_group!(quote_benches, benches);
criterion_main!(quote_benches);
