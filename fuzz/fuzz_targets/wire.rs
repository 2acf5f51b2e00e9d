//! Fuzzes the wire decoder (SPEC §2.3).
#![no_main]

use epoch_rfq_quote::{EpochProofQuote, QuoteError, WIRE_LEN};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    match EpochProofQuote::from_wire(data) {
        Ok(q) => {
            // Every accepted input is canonical: re-encoding gives the same bytes.
            assert_eq!(&q.to_wire()[..], data);
            common::check_quote(&q);
        }
        Err(QuoteError::WireLength { expected, got }) => {
            assert_eq!(expected, WIRE_LEN);
            assert_eq!(got, data.len());
            assert_ne!(got, WIRE_LEN);
        }
        Err(QuoteError::WireVersion(v)) => assert_ne!(v, 1),
        Err(QuoteError::FeeTooHigh { fee }) => assert!(fee > 10_000),
        Err(e) => panic!("unexpected wire error {e:?}"),
    }
});
