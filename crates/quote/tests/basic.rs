//! Basic behaviour: sign, verify, encode, decode.
#![allow(clippy::unwrap_used)] // tests: a failure is a panic

mod common;

use common::*;
use epoch_rfq_quote::{EpochProofQuote, QuoteError, WIRE_LEN};

#[test]
fn sign_verify_round_trips() {
    let q = signed();
    let v = q.verify(CHAIN_ID).unwrap();
    assert_eq!(v.signer(), key().address());
    assert_eq!(v.id().0, q.digest(CHAIN_ID));
    assert_eq!(*v.quote(), q);
    assert!(matches!(q.v(), 27 | 28));

    let wire = q.to_wire();
    assert_eq!(wire.len(), WIRE_LEN);
    assert_eq!(EpochProofQuote::from_wire(&wire).unwrap(), q);

    let json = q.to_json_string();
    assert_eq!(json, serde_json::to_string(&q).unwrap());
    assert_eq!(EpochProofQuote::from_json_str(&json).unwrap(), q);
    assert_eq!(serde_json::from_str::<EpochProofQuote>(&json).unwrap(), q);
}

#[test]
fn other_chain_fails() {
    let q = signed();
    assert!(matches!(
        q.verify(CHAIN_ID + 1),
        Err(QuoteError::SignerMismatch { .. } | QuoteError::Recovery(_))
    ));
}

#[test]
fn json_shape_matches_spec() {
    let q = signed();
    let v: serde_json::Value = serde_json::from_str(&q.to_json_string()).unwrap();
    assert_eq!(v["epochNumber"], "7");
    assert_eq!(v["basisPointFee"], 250);
    assert_eq!(
        v["rollupAddress"],
        "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    );
    assert_eq!(v["signature"].as_str().unwrap().len(), 132);
}
