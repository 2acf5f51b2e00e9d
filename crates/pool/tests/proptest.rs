//! Property tests: the pool against a model under random insert/evict sequences.
#![allow(clippy::unwrap_used)] // tests: a failure is a panic

mod common;

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashSet};

use common::quote;
use epoch_rfq_pool::*;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Insert {
        epoch: u64,
        prover: usize,
        fee: u32,
        valid: u64,
        bond: u64,
    },
    RetainFrom(u64),
    Remove(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (5u64..9, 0usize..5, prop::sample::select(vec![100u32, 200, 300]),
              66u64..69, prop::sample::select(vec![1000u64, 2000]))
            .prop_map(|(epoch, prover, fee, valid, bond)| Op::Insert { epoch, prover, fee, valid, bond }),
        1 => (5u64..10).prop_map(Op::RetainFrom),
        1 => (5u64..9).prop_map(Op::Remove),
    ]
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    fee: u32,
    valid: u64,
    bond: u64,
    arrival: u64,
    step: usize,
}

/// The quotes of one epoch in pool order, as (prover, fee, valid, bond).
fn model_order(m: &BTreeMap<(u64, usize), Entry>, epoch: u64) -> Vec<(usize, u32, u64, u64)> {
    let mut v: Vec<_> = m
        .iter()
        .filter(|((e, _), _)| *e == epoch)
        .map(|((_, p), x)| (*p, *x))
        .collect();
    v.sort_by_key(|(_, x)| (x.fee, x.arrival, Reverse(x.bond), x.step));
    v.into_iter()
        .map(|(p, x)| (p, x.fee, x.valid, x.bond))
        .collect()
}

fn pool_order(pool: &QuotePool, epoch: u64) -> Vec<(usize, u32, u64, u64)> {
    pool.quotes(epoch)
        .iter()
        .map(|q| {
            let f = q.fields();
            let p = (0..5)
                .find(|i| common::key(*i).address() == f.prover)
                .unwrap();
            (
                p,
                f.basis_point_fee,
                f.valid_until_slot.to::<u64>(),
                f.bond_amount.to::<u64>(),
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// With caps out of reach the pool holds exactly, for each (epoch, prover), the best quote
    /// inserted since the epoch was last evicted, ranked as documented.
    #[test]
    fn matches_the_model(ops in prop::collection::vec(op(), 1..60)) {
        let pool = QuotePool::default();
        let mut model: BTreeMap<(u64, usize), Entry> = BTreeMap::new();
        for (step, op) in ops.into_iter().enumerate() {
            match op {
                Op::Insert { epoch, prover, fee, valid, bond } => {
                    let arrival = step as u64 / 2;
                    let out = pool.insert_at(quote(epoch, prover, fee, valid, bond), arrival);
                    let expected = match model.get(&(epoch, prover)) {
                        Some(e) if (e.fee, e.valid, e.bond) == (fee, valid, bond) => "duplicate",
                        Some(e) if fee < e.fee || (fee == e.fee && valid > e.valid) => "replaced",
                        Some(_) => "not_cheaper",
                        None => "added",
                    };
                    prop_assert_eq!(out.code(), expected);
                    if out.is_stored() {
                        model.insert((epoch, prover), Entry { fee, valid, bond, arrival, step });
                    }
                }
                Op::RetainFrom(e) => {
                    let expected = model.keys().filter(|(x, _)| *x < e).count();
                    prop_assert_eq!(pool.retain_from(e), expected);
                    model.retain(|(x, _), _| *x >= e);
                }
                Op::Remove(e) => {
                    let expected = model.keys().filter(|(x, _)| *x == e).count();
                    prop_assert_eq!(pool.remove_epoch(e), expected);
                    model.retain(|(x, _), _| *x != e);
                }
            }
            prop_assert_eq!(pool.len(), model.len());
            for epoch in 5..9 {
                let m = model_order(&model, epoch);
                prop_assert_eq!(pool_order(&pool, epoch), m.clone());
                let best = pool.best(epoch);
                prop_assert_eq!(best, pool.quotes(epoch).first().cloned());
            }
        }
    }

    /// With tight caps the structural invariants still hold after every operation.
    #[test]
    fn invariants_under_caps(ops in prop::collection::vec(op(), 1..80)) {
        let config = PoolConfig { max_epochs: 2, max_quotes_per_epoch: 3, max_bytes: 5 * STORED_QUOTE_BYTES };
        let pool = QuotePool::new(config);
        for (step, op) in ops.into_iter().enumerate() {
            match op {
                Op::Insert { epoch, prover, fee, valid, bond } => {
                    let q = quote(epoch, prover, fee, valid, bond);
                    let before = pool.get(epoch, q.fields().prover);
                    let out = pool.insert_at(q.clone(), step as u64);
                    if out.is_stored() || out == InsertOutcome::Duplicate {
                        prop_assert_eq!(pool.get(epoch, q.fields().prover), Some(q));
                    } else if let InsertOutcome::NotCheaper { kept } = &out {
                        prop_assert_eq!(before.as_ref(), Some(kept));
                        prop_assert_eq!(pool.get(epoch, q.fields().prover), Some(kept.clone()));
                    }
                }
                Op::RetainFrom(e) => { pool.retain_from(e); prop_assert!(pool.epochs().iter().all(|x| *x >= e)); }
                Op::Remove(e) => { pool.remove_epoch(e); prop_assert!(!pool.epochs().contains(&e)); }
            }
            let epochs = pool.epochs();
            prop_assert!(epochs.len() <= config.max_epochs);
            let mut total = 0;
            for e in epochs {
                let qs = pool.quotes(e);
                prop_assert!(!qs.is_empty());
                prop_assert!(qs.len() <= config.max_quotes_per_epoch);
                let provers: HashSet<_> = qs.iter().map(|q| q.fields().prover).collect();
                prop_assert_eq!(provers.len(), qs.len(), "one quote per (epoch, prover)");
                prop_assert!(qs.windows(2).all(|w| w[0].fields().basis_point_fee <= w[1].fields().basis_point_fee));
                prop_assert_eq!(pool.best(e), qs.first().cloned());
                total += qs.len();
            }
            let s = pool.stats();
            prop_assert_eq!(s.quotes, total);
            prop_assert!(s.bytes <= config.max_bytes);
        }
    }
}
