//! The store: ranking, replacement, dedup, caps, eviction.
#![allow(clippy::unwrap_used)] // tests: a failure is a panic

mod common;

use alloy_primitives::U256;
use common::*;
use epoch_rfq_pool::*;
use epoch_rfq_quote::QuoteFields;

#[test]
fn add_duplicate_replace_not_cheaper() {
    let pool = QuotePool::default();
    let q = quote(7, 0, 300, 67, 1000);
    assert_eq!(pool.insert_at(q.clone(), 1), InsertOutcome::Added);
    assert_eq!(pool.insert_at(q.clone(), 2), InsertOutcome::Duplicate);
    // Dearer: kept the old one.
    let dear = quote(7, 0, 400, 67, 1000);
    assert_eq!(
        pool.insert_at(dear, 3),
        InsertOutcome::NotCheaper { kept: q.clone() }
    );
    // Same fee, earlier validity: not better.
    let shorter = quote(7, 0, 300, 66, 1000);
    assert!(matches!(
        pool.insert_at(shorter, 4),
        InsertOutcome::NotCheaper { .. }
    ));
    // Same fee, same validity, other bond (other id): earlier arrival stays.
    let tie = quote(7, 0, 300, 67, 2000);
    assert!(matches!(
        pool.insert_at(tie, 5),
        InsertOutcome::NotCheaper { .. }
    ));
    // Same fee, later validity: replaces.
    let longer = quote(7, 0, 300, 68, 1000);
    assert_eq!(
        pool.insert_at(longer.clone(), 6),
        InsertOutcome::Replaced { previous: q }
    );
    // Cheaper: replaces.
    let cheap = quote(7, 0, 100, 67, 1000);
    assert_eq!(
        pool.insert_at(cheap.clone(), 7),
        InsertOutcome::Replaced { previous: longer }
    );
    assert_eq!(pool.len(), 1);
    assert_eq!(pool.get(7, key(0).address()), Some(cheap.clone()));
    assert_eq!(pool.best(7), Some(cheap));
    let s = pool.stats();
    assert_eq!(
        (s.added, s.duplicates, s.not_cheaper, s.replaced),
        (1, 1, 3, 2)
    );
    assert_eq!(s.quotes, 1);
    assert_eq!(s.bytes, STORED_QUOTE_BYTES);
}

#[test]
fn ranking_fee_then_arrival_then_bond() {
    let pool = QuotePool::default();
    let a = quote(7, 0, 200, 67, 1000);
    let b = quote(7, 1, 100, 67, 1000);
    let c = quote(7, 2, 100, 67, 5000); // same fee and arrival as d, larger bond
    let d = quote(7, 3, 100, 67, 2000);
    let e = quote(7, 4, 100, 67, 9000); // same fee, later arrival
    pool.insert_at(a.clone(), 10);
    pool.insert_at(b.clone(), 10);
    pool.insert_at(d.clone(), 12);
    pool.insert_at(c.clone(), 12);
    pool.insert_at(e.clone(), 13);
    assert_eq!(pool.quotes(7), vec![b.clone(), c, d, e, a]);
    assert_eq!(pool.best(7), Some(b.clone()));
    // The best leaves when replaced by nothing better... a cheaper quote of another prover wins.
    let f = quote(7, 5, 50, 67, 1000);
    pool.insert_at(f.clone(), 20);
    assert_eq!(pool.best(7), Some(f));
    assert!(pool.best(8).is_none());
    assert!(pool.quotes(8).is_empty());
}

#[test]
fn per_epoch_cap_evicts_the_dearest_or_rejects() {
    let pool = QuotePool::new(PoolConfig {
        max_quotes_per_epoch: 2,
        ..PoolConfig::default()
    });
    let q0 = quote(7, 0, 300, 67, 1000);
    let q1 = quote(7, 1, 200, 67, 1000);
    pool.insert_at(q0.clone(), 1);
    pool.insert_at(q1.clone(), 2);
    // Dearer than all: rejected.
    let dear = quote(7, 2, 400, 67, 1000);
    assert_eq!(
        pool.insert_at(dear, 3),
        InsertOutcome::Rejected(CapacityReject::EpochFull { epoch: 7, limit: 2 })
    );
    // Same fee as the dearest but later: also rejected (it ranks after it).
    let same = quote(7, 2, 300, 67, 1000);
    assert!(matches!(
        pool.insert_at(same, 4),
        InsertOutcome::Rejected(_)
    ));
    // Cheaper than the dearest: evicts it.
    let cheap = quote(7, 2, 250, 67, 1000);
    assert_eq!(
        pool.insert_at(cheap.clone(), 5),
        InsertOutcome::AddedEvicting { evicted: q0 }
    );
    assert_eq!(pool.quotes(7), vec![q1, cheap]);
    // Another epoch has its own count.
    assert_eq!(
        pool.insert_at(quote(8, 0, 300, 67, 1000), 6),
        InsertOutcome::Added
    );
    let s = pool.stats();
    assert_eq!(
        (s.quotes, s.rejected_capacity, s.evicted_for_room),
        (3, 2, 1)
    );
    let r = RejectReason::Capacity(CapacityReject::EpochFull { epoch: 7, limit: 2 });
    assert_eq!(r.code(), "pool_full_epoch");
}

#[test]
fn byte_cap() {
    let pool = QuotePool::new(PoolConfig {
        max_bytes: 2 * STORED_QUOTE_BYTES,
        ..PoolConfig::default()
    });
    pool.insert_at(quote(7, 0, 300, 67, 1000), 1);
    pool.insert_at(quote(8, 0, 300, 67, 1000), 2);
    // A new epoch with no quote to evict: rejected.
    let o = pool.insert_at(quote(9, 0, 100, 67, 1000), 3);
    assert_eq!(
        o,
        InsertOutcome::Rejected(CapacityReject::BytesFull {
            epoch: 9,
            limit: 2 * STORED_QUOTE_BYTES
        })
    );
    assert_eq!(o.code(), "pool_full_bytes");
    // Cheaper than epoch 8's dearest: evicts it.
    assert!(matches!(
        pool.insert_at(quote(8, 1, 100, 67, 1000), 4),
        InsertOutcome::AddedEvicting { .. }
    ));
    assert_eq!(pool.stats().bytes, 2 * STORED_QUOTE_BYTES);
    assert_eq!(pool.epochs(), vec![7, 8]);
}

#[test]
fn epoch_cap_evicts_the_oldest_epoch_or_rejects() {
    let pool = QuotePool::new(PoolConfig {
        max_epochs: 2,
        ..PoolConfig::default()
    });
    pool.insert_at(quote(7, 0, 300, 67, 1000), 1);
    pool.insert_at(quote(7, 1, 300, 67, 1000), 1);
    pool.insert_at(quote(8, 0, 300, 67, 1000), 2);
    let o = pool.insert_at(quote(6, 0, 300, 67, 1000), 3);
    assert_eq!(
        o,
        InsertOutcome::Rejected(CapacityReject::TooManyEpochs { epoch: 6, limit: 2 })
    );
    assert_eq!(o.code(), "pool_too_many_epochs");
    assert_eq!(
        pool.insert_at(quote(9, 0, 300, 67, 1000), 4),
        InsertOutcome::AddedEvictingEpoch {
            epoch: 7,
            quotes: 2
        }
    );
    assert_eq!(pool.epochs(), vec![8, 9]);
    assert_eq!(pool.len(), 2);
}

#[test]
fn epoch_out_of_range() {
    let pool = QuotePool::default();
    let f = QuoteFields {
        epoch_number: U256::from(u64::MAX) + U256::from(1),
        ..fields(0)
    };
    let o = pool.insert(verified(0, f));
    assert_eq!(o.code(), "epoch_out_of_range");
    assert!(!o.is_stored());
    assert!(pool.is_empty());
}

#[test]
fn retain_and_remove() {
    let pool = QuotePool::default();
    for e in 5..9 {
        pool.insert_at(quote(e, 0, 300, 67, 1000), e);
        pool.insert_at(quote(e, 1, 300, 67, 1000), e);
    }
    assert_eq!(pool.retain_from(7), 4);
    assert_eq!(pool.epochs(), vec![7, 8]);
    assert_eq!(pool.remove_epoch(8), 2);
    assert_eq!(pool.remove_epoch(8), 0);
    assert_eq!(pool.epochs(), vec![7]);
    assert_eq!(pool.len(), 2);
    assert!(pool.best(5).is_none());
    assert_eq!(pool.stats().evicted_epochs, 6);
    assert_eq!(pool.epoch_len(7), 2);
}

#[test]
fn readers_and_a_writer_concurrently() {
    use std::sync::Arc;
    let pool = Arc::new(QuotePool::default());
    let qs: Vec<_> = (0..50)
        .map(|i| quote(7, i, (100 - i) as u32, 67, 1000))
        .collect();
    std::thread::scope(|s| {
        let p = pool.clone();
        let w = s.spawn(move || {
            for (i, q) in qs.into_iter().enumerate() {
                assert!(p.insert_at(q, i as u64).is_stored());
            }
        });
        for _ in 0..2 {
            let p = pool.clone();
            s.spawn(move || {
                for _ in 0..2000 {
                    let all = p.quotes(7);
                    if let Some(b) = p.best(7) {
                        // The best never gets worse while quotes are only added.
                        assert!(b.fields().basis_point_fee <= 100);
                    }
                    assert!(all.windows(2).all(|w| w[0].fields().basis_point_fee
                        <= w[1].fields().basis_point_fee));
                }
            });
        }
        w.join().unwrap();
    });
    assert_eq!(pool.len(), 50);
    assert_eq!(pool.best(7).unwrap().fields().basis_point_fee, 51);
}

#[test]
fn an_expired_quote_is_removed_and_no_longer_blocks_its_provers_new_quote() {
    let pool = QuotePool::default();
    // Prover 0: 250 bps valid until slot 65; prover 1: valid until 70.
    let old = verified(
        0,
        QuoteFields {
            valid_until_slot: U256::from(65),
            ..fields(0)
        },
    );
    let other = verified(
        1,
        QuoteFields {
            valid_until_slot: U256::from(70),
            ..fields(1)
        },
    );
    assert!(pool.insert_at(old, 1).is_stored());
    assert!(pool.insert_at(other.clone(), 2).is_stored());
    // While the old quote lives, a dearer one from the same prover does not replace it.
    let dearer = verified(
        0,
        QuoteFields {
            basis_point_fee: 300,
            valid_until_slot: U256::from(67),
            ..fields(0)
        },
    );
    assert!(!pool.insert_at(dearer.clone(), 3).is_stored());
    // At slot 66 it has expired: removed, and the prover's new quote goes in.
    assert_eq!(
        pool.remove_expired(65),
        0,
        "valid through slot 65 inclusive"
    );
    assert_eq!(pool.remove_expired(66), 1);
    assert_eq!(pool.stats().expired, 1);
    assert_eq!(pool.len(), 1);
    assert!(pool.insert_at(dearer.clone(), 4).is_stored());
    let epoch = 7;
    assert_eq!(pool.quotes(epoch).len(), 2);
    // The best is recomputed: prover 1 (250 bps) beats prover 0's new 300 bps.
    let best = pool.best(epoch).expect("best");
    assert_eq!(best.fields().prover, other.fields().prover);
    // An epoch whose every quote expired disappears.
    assert_eq!(pool.remove_expired(71), 2);
    assert!(pool.is_empty());
    assert!(pool.epochs().is_empty());
}

#[test]
fn quotes_failing_revalidation_are_removed_and_the_best_recomputed() {
    let pool = QuotePool::default();
    // Prover 0's quote (cheapest) carries fees the chain no longer has; prover 1's matches.
    let stale = verified(
        0,
        QuoteFields {
            basis_point_fee: 100,
            total_fees: U256::from(1),
            ..fields(0)
        },
    );
    let good = verified(
        1,
        QuoteFields {
            basis_point_fee: 200,
            ..fields(1)
        },
    );
    let epoch = 7;
    let chain_fees = fields(1).total_fees;
    assert!(pool.insert_at(stale, 1).is_stored());
    assert!(pool.insert_at(good.clone(), 2).is_stored());
    assert_eq!(pool.best(epoch).unwrap().fields().basis_point_fee, 100);
    let removed = pool.retain_valid(|q| q.fields().total_fees == chain_fees);
    assert_eq!(removed, 1);
    assert_eq!(pool.stats().invalidated, 1);
    assert_eq!(pool.quotes(epoch), vec![good.clone()]);
    assert_eq!(pool.best(epoch), Some(good));
    // An epoch left without quotes disappears.
    assert_eq!(pool.retain_valid(|_| false), 1);
    assert!(pool.is_empty() && pool.epochs().is_empty());
}
