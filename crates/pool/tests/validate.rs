//! Every rejection reason of the validation pipeline, and the accepted cases.
#![allow(clippy::unwrap_used)] // tests: a failure is a panic

mod common;

use std::collections::{HashMap, HashSet};

use alloy_primitives::{Address, U256};
use common::*;
use epoch_rfq_pool::*;
use epoch_rfq_quote::{EpochProofQuote, QuoteFields, WIRE_LEN};

fn check(f: QuoteFields) -> Result<(), RejectReason> {
    check_with(f, &snapshot())
}

fn check_with(f: QuoteFields, snap: &ChainSnapshot) -> Result<(), RejectReason> {
    let wire = sign(0, f).to_wire();
    validate_wire(&wire, snap, &NoEscrow).map(|_| ())
}

fn code(r: Result<(), RejectReason>) -> &'static str {
    r.expect_err("expected a rejection").code()
}

#[test]
fn valid_quote_passes_every_path() {
    let q = sign(0, fields(0));
    let snap = snapshot();
    let a = validate_wire(&q.to_wire(), &snap, &NoEscrow).unwrap();
    let b = validate_quote(&q, &snap, &NoEscrow).unwrap();
    assert_eq!(a, b);
    check_verified(&a, &snap, &NoEscrow).unwrap();
    assert_eq!(a.quote(), &q);
}

#[test]
fn malformed_wire() {
    let wire = sign(0, fields(0)).to_wire();
    let snap = snapshot();
    let e = validate_wire(&wire[..WIRE_LEN - 1], &snap, &NoEscrow).unwrap_err();
    assert_eq!(e.code(), "malformed");
    assert!(e.to_string().contains("302"), "{e}");
    let mut bad = wire;
    bad[0] = 2;
    assert_eq!(
        validate_wire(&bad, &snap, &NoEscrow).unwrap_err().code(),
        "malformed"
    );
    assert_eq!(
        validate_wire(&[], &snap, &NoEscrow).unwrap_err().code(),
        "malformed"
    );
}

#[test]
fn fee_too_high_from_wire() {
    let mut wire = sign(0, fields(0)).to_wire();
    // basisPointFee sits after version, prover, 4 words and the rollup address.
    let o = 1 + 20 + 4 * 32 + 20;
    wire[o..o + 4].copy_from_slice(&10_001u32.to_be_bytes());
    let e = validate_wire(&wire, &snapshot(), &NoEscrow).unwrap_err();
    assert_eq!(e, RejectReason::FeeTooHigh { fee: 10_001 });
    assert!(e.to_string().contains("basisPointFee"));
    assert!(e.is_invalid_input());
}

#[test]
fn bad_signatures() {
    let snap = snapshot();
    // Signature of another prover's quote on our fields: recovers someone else.
    let other = sign(1, fields(1));
    let forged = EpochProofQuote::from_parts(fields(0), *other.signature()).unwrap();
    let e = validate_quote(&forged, &snap, &NoEscrow).unwrap_err();
    assert_eq!(e.code(), "bad_signature");
    assert!(e.is_invalid_input());
    // v = 29
    let mut wire = sign(0, fields(0)).to_wire();
    wire[WIRE_LEN - 1] = 29;
    assert_eq!(
        code(validate_wire(&wire, &snap, &NoEscrow).map(|_| ())),
        "bad_signature"
    );
    // A bad signature is reported as such even when the quote is also stale.
    let stale = QuoteFields {
        valid_until_slot: U256::from(1),
        ..fields(0)
    };
    let forged = EpochProofQuote::from_parts(stale, *other.signature()).unwrap();
    assert_eq!(
        validate_quote(&forged, &snap, &NoEscrow)
            .unwrap_err()
            .code(),
        "bad_signature"
    );
}

#[test]
fn wrong_chain() {
    // Verified for chain 1 (e.g. by a local caller), checked against our chain.
    let q = fields(0).sign(&key(0), 1).unwrap().verify(1).unwrap();
    let e = check_verified(&q, &snapshot(), &NoEscrow).unwrap_err();
    assert_eq!(
        e,
        RejectReason::WrongChain {
            expected: CHAIN_ID,
            got: 1
        }
    );
    // From the wire a quote signed for chain 1 fails the signature check for ours.
    let w = fields(0).sign(&key(0), 1).unwrap().to_wire();
    assert_eq!(
        code(validate_wire(&w, &snapshot(), &NoEscrow).map(|_| ())),
        "bad_signature"
    );
}

#[test]
fn wrong_rollup() {
    let f = QuoteFields {
        rollup_address: Address::repeat_byte(9),
        ..fields(0)
    };
    let e = check(f).unwrap_err();
    assert_eq!(e.code(), "wrong_rollup");
    assert!(e.to_string().starts_with("rollupAddress:"), "{e}");
    assert!(!e.is_invalid_input());
}

#[test]
fn wrong_epoch() {
    let f = QuoteFields {
        epoch_number: U256::from(9),
        ..fields(0)
    };
    let e = check(f).unwrap_err();
    assert_eq!(e.code(), "wrong_epoch");
    assert_eq!(
        e.to_string(),
        "epochNumber: 9 is not accepted (epoch to prove: 7, epoch just completed: none)"
    );
    let huge = QuoteFields {
        epoch_number: U256::MAX,
        ..fields(0)
    };
    assert_eq!(code(check(huge)), "wrong_epoch");
    // Nothing to prove at all.
    let mut snap = snapshot();
    snap.epoch_to_prove = None;
    assert_eq!(code(check_with(fields(0), &snap)), "wrong_epoch");
}

#[test]
fn just_completed_epoch_is_accepted_and_contents_unknown_are_not_checked() {
    let mut snap = snapshot();
    snap.current_slot = 72; // epoch 9; epoch 8 just completed; epoch 7 still to prove
    snap.epoch_to_prove = Some(EpochView::new(7));
    snap.just_completed_epoch = Some(EpochView::new(8));
    let f = QuoteFields {
        epoch_number: U256::from(8),
        epoch_init_block: U256::from(1234), // not known: not checked
        valid_until_slot: U256::from(75),
        ..fields(0)
    };
    check_with(f, &snap).unwrap();
    // Epoch 7's claim phase ended at slot 68.
    let f7 = QuoteFields {
        valid_until_slot: U256::from(80),
        ..fields(0)
    };
    assert_eq!(code(check_with(f7, &snap)), "claim_phase_over");
    assert_eq!(snap.retain_floor(), 8);
}

#[test]
fn epoch_claimed() {
    let mut snap = snapshot();
    snap.epoch_to_prove = snap
        .epoch_to_prove
        .map(|v| EpochView { claimed: true, ..v });
    assert_eq!(code(check_with(fields(0), &snap)), "epoch_claimed");
    assert_eq!(snap.retain_floor(), 8);
}

#[test]
fn claim_phase_over() {
    let mut snap = snapshot();
    snap.current_slot = 68;
    let f = QuoteFields {
        valid_until_slot: U256::from(100),
        ..fields(0)
    };
    let e = check_with(f, &snap).unwrap_err();
    assert_eq!(
        e,
        RejectReason::ClaimPhaseOver {
            epoch: 7,
            end_slot: 68,
            current_slot: 68
        }
    );
}

#[test]
fn contents_mismatch() {
    let init = QuoteFields {
        epoch_init_block: U256::from(56),
        ..fields(0)
    };
    let e = check(init).unwrap_err();
    assert_eq!(e.code(), "init_block_mismatch");
    assert_eq!(
        e.to_string(),
        "epochInitBlock: 56 does not match the chain's 57"
    );
    let fin = QuoteFields {
        epoch_final_block: U256::from(65),
        ..fields(0)
    };
    assert_eq!(code(check(fin)), "final_block_mismatch");
    let fees = QuoteFields {
        total_fees: U256::from(1),
        ..fields(0)
    };
    assert_eq!(code(check(fees)), "total_fees_mismatch");
}

#[test]
fn expired() {
    let f = QuoteFields {
        valid_until_slot: U256::from(64),
        ..fields(0)
    };
    let e = check(f).unwrap_err();
    assert_eq!(
        e,
        RejectReason::Expired {
            valid_until_slot: U256::from(64),
            current_slot: 65
        }
    );
    assert!(e.to_string().starts_with("validUntilSlot:"));
    // The current slot itself is still valid.
    let f = QuoteFields {
        valid_until_slot: U256::from(65),
        ..fields(0)
    };
    check(f).unwrap();
}

#[test]
fn bond_too_low() {
    let f = QuoteFields {
        bond_amount: U256::from(999),
        ..fields(0)
    };
    let e = check(f).unwrap_err();
    assert_eq!(e.code(), "bond_too_low");
    assert_eq!(
        e.to_string(),
        "bondAmount: 999 is below the minimum bond 1000"
    );
    let f = QuoteFields {
        bond_amount: U256::from(1000),
        ..fields(0)
    };
    check(f).unwrap();
}

#[test]
fn insufficient_escrow() {
    let q = sign(0, fields(0));
    let snap = snapshot();
    let mut escrow: HashMap<Address, U256> = HashMap::new();
    // Unknown prover: skipped.
    validate_quote(&q, &snap, &escrow).unwrap();
    escrow.insert(key(0).address(), U256::from(999_999));
    let e = validate_quote(&q, &snap, &escrow).unwrap_err();
    assert_eq!(e.code(), "insufficient_escrow");
    escrow.insert(key(0).address(), U256::from(1_000_000));
    validate_quote(&q, &snap, &escrow).unwrap();
}

#[test]
fn codes_are_unique_and_listed() {
    let set: HashSet<_> = RejectReason::CODES.iter().collect();
    assert_eq!(set.len(), RejectReason::CODES.len());
    let samples = [
        RejectReason::ChainUnknown,
        RejectReason::Capacity(CapacityReject::EpochFull { epoch: 1, limit: 1 }),
        RejectReason::Capacity(CapacityReject::BytesFull { epoch: 1, limit: 1 }),
        RejectReason::Capacity(CapacityReject::TooManyEpochs { epoch: 1, limit: 1 }),
        RejectReason::Capacity(CapacityReject::EpochOutOfRange { got: U256::MAX }),
    ];
    for r in samples {
        assert!(set.contains(&r.code()), "{}", r.code());
        assert!(!r.is_invalid_input());
        assert!(!r.to_string().is_empty());
    }
}

#[test]
fn precheck_runs_the_cheap_checks_without_the_signature() {
    let snap = snapshot();
    let other = sign(1, fields(1));
    // A forged signature on otherwise good fields passes the precheck: it says nothing about
    // signatures, and the full pipeline still refuses the quote.
    let forged = EpochProofQuote::from_parts(fields(0), *other.signature()).unwrap();
    precheck_unverified(forged.fields(), &snap).unwrap();
    assert_eq!(
        code(validate_quote(&forged, &snap, &NoEscrow).map(|_| ())),
        "bad_signature"
    );
    // Each cheap rule is caught before any signature work.
    let cases = [
        (
            QuoteFields {
                epoch_number: U256::from(9),
                ..fields(0)
            },
            "wrong_epoch",
        ),
        (
            QuoteFields {
                rollup_address: Address::repeat_byte(9),
                ..fields(0)
            },
            "wrong_rollup",
        ),
        (
            QuoteFields {
                valid_until_slot: U256::from(1),
                ..fields(0)
            },
            "expired",
        ),
        (
            QuoteFields {
                bond_amount: U256::ZERO,
                ..fields(0)
            },
            "bond_too_low",
        ),
    ];
    for (f, expected) in cases {
        assert_eq!(code(precheck_unverified(&f, &snap)), expected);
        // Same verdict as the full pipeline gives a properly signed quote with these fields.
        assert_eq!(code(check(f)), expected);
    }
}

#[test]
fn epoch_still_in_progress() {
    // The epoch to prove is the current one (nothing older is unproven): its contents are not
    // final, so quotes for it are refused until it ends.
    let mut snap = snapshot();
    snap.current_slot = snap.time.epoch_start_slot(7) + 3;
    snap.epoch_to_prove = Some(EpochView::new(7));
    let e = check_with(fields(0), &snap).unwrap_err();
    assert_eq!(e.code(), "epoch_not_complete");
    assert!(
        e.to_string().contains("epoch 7 is still in progress"),
        "{e}"
    );
    assert_eq!(
        code(precheck_unverified(&fields(0), &snap)),
        "epoch_not_complete"
    );
    // Once it has ended, the same quote passes.
    snap.current_slot = snap.time.epoch_start_slot(8);
    check_with(fields(0), &snap).unwrap();
}
