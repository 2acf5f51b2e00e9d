//! Wire and JSON round trips (proptest) and the wire decoder's rejections (SPEC §2.3).
#![allow(clippy::unwrap_used)] // tests: a failure is a panic

mod common;

use alloy_primitives::{Address, U256};
use common::*;
use epoch_rfq_quote::{EpochProofQuote, QuoteError, QuoteFields, WIRE_LEN, WIRE_VERSION};
use proptest::prelude::*;

/// Offset of basisPointFee in the wire form: 1 + 20 + 4*32 + 20.
const O_BPS: usize = 169;

fn arb_u256() -> impl Strategy<Value = U256> {
    prop_oneof![
        any::<u64>().prop_map(U256::from),
        any::<[u8; 32]>().prop_map(U256::from_be_bytes),
        Just(U256::ZERO),
        Just(U256::MAX),
    ]
}

prop_compose! {
    fn arb_fields()(
        prover in any::<[u8; 20]>(),
        epoch_number in arb_u256(),
        epoch_init_block in arb_u256(),
        epoch_final_block in arb_u256(),
        total_fees in arb_u256(),
        rollup_address in any::<[u8; 20]>(),
        basis_point_fee in 0u32..=10_000,
        bond_amount in arb_u256(),
        valid_until_slot in arb_u256(),
    ) -> QuoteFields {
        QuoteFields {
            prover: Address::from(prover),
            epoch_number,
            epoch_init_block,
            epoch_final_block,
            total_fees,
            rollup_address: Address::from(rollup_address),
            basis_point_fee,
            bond_amount,
            valid_until_slot,
        }
    }
}

prop_compose! {
    /// Any fields with any 65 bytes as signature (the codecs do not look inside it).
    fn arb_quote()(fields in arb_fields(), sig in proptest::collection::vec(any::<u8>(), 65))
        -> EpochProofQuote {
        let mut s = [0u8; 65];
        s.copy_from_slice(&sig);
        EpochProofQuote::from_parts(fields, s).unwrap()
    }
}

proptest! {
    #[test]
    fn wire_round_trip(q in arb_quote()) {
        let w = q.to_wire();
        prop_assert_eq!(w[0], WIRE_VERSION);
        let d = EpochProofQuote::from_wire(&w).unwrap();
        prop_assert_eq!(&d, &q);
        prop_assert_eq!(d.to_wire(), w);
    }

    #[test]
    fn json_round_trip(q in arb_quote()) {
        let j = q.to_json_string();
        prop_assert_eq!(&j, &serde_json::to_string(&q).unwrap());
        prop_assert_eq!(&EpochProofQuote::from_json_str(&j).unwrap(), &q);
        prop_assert_eq!(&serde_json::from_str::<EpochProofQuote>(&j).unwrap(), &q);
        let f = serde_json::to_string(q.fields()).unwrap();
        prop_assert_eq!(&QuoteFields::from_json_str(&f).unwrap(), q.fields());
    }

    #[test]
    fn any_302_bytes_with_version_1_and_fee_ok_decode_canonically(
        mut bytes in proptest::collection::vec(any::<u8>(), WIRE_LEN),
        fee in 0u32..=10_000,
    ) {
        bytes[0] = 1;
        bytes[O_BPS..O_BPS + 4].copy_from_slice(&fee.to_be_bytes());
        let q = EpochProofQuote::from_wire(&bytes).unwrap();
        prop_assert_eq!(&q.to_wire()[..], &bytes[..]);
        prop_assert_eq!(q.fields().basis_point_fee, fee);
    }

    #[test]
    fn signed_quotes_survive_both_encodings(fields in arb_fields(), seed in any::<[u8; 32]>()) {
        let Ok(key) = alloy_signer_local::PrivateKeySigner::from_bytes(&seed.into()) else {
            return Ok(()); // zero or ≥ n: not a key
        };
        let fields = QuoteFields { prover: key.address(), ..fields };
        let q = fields.sign(&key, CHAIN_ID).unwrap();
        let via_wire = EpochProofQuote::from_wire(&q.to_wire()).unwrap();
        let via_json = EpochProofQuote::from_json_str(&q.to_json_string()).unwrap();
        prop_assert_eq!(via_wire.verify(CHAIN_ID).unwrap().signer(), key.address());
        prop_assert_eq!(via_json.verify(CHAIN_ID).unwrap().id(), q.verify(CHAIN_ID).unwrap().id());
    }
}

#[test]
fn every_truncation_is_rejected() {
    let w = signed().to_wire();
    for len in 0..WIRE_LEN {
        assert_eq!(
            EpochProofQuote::from_wire(&w[..len]),
            Err(QuoteError::WireLength {
                expected: WIRE_LEN,
                got: len
            })
        );
    }
}

#[test]
fn every_extension_is_rejected() {
    let w = signed().to_wire();
    for extra in 1..=(2 * WIRE_LEN) {
        for fill in [0u8, 0xff] {
            let mut v = w.to_vec();
            v.resize(WIRE_LEN + extra, fill);
            assert_eq!(
                EpochProofQuote::from_wire(&v),
                Err(QuoteError::WireLength {
                    expected: WIRE_LEN,
                    got: WIRE_LEN + extra
                })
            );
        }
    }
    let big = vec![1u8; 1 << 20];
    assert!(matches!(
        EpochProofQuote::from_wire(&big),
        Err(QuoteError::WireLength { .. })
    ));
}

#[test]
fn every_other_version_is_rejected() {
    let w = signed().to_wire();
    for version in 0..=255u8 {
        let mut v = w;
        v[0] = version;
        let r = EpochProofQuote::from_wire(&v);
        if version == 1 {
            assert!(r.is_ok());
        } else {
            assert_eq!(r, Err(QuoteError::WireVersion(version)));
            assert!(r.unwrap_err().to_string().contains("version"));
        }
    }
}

#[test]
fn fee_above_10000_is_rejected_on_wire() {
    let w = signed().to_wire();
    for fee in [10_000u32, 10_001, 65_535, u32::MAX] {
        let mut v = w;
        v[O_BPS..O_BPS + 4].copy_from_slice(&fee.to_be_bytes());
        let r = EpochProofQuote::from_wire(&v);
        if fee <= 10_000 {
            assert_eq!(r.unwrap().fields().basis_point_fee, fee);
        } else {
            let e = r.unwrap_err();
            assert_eq!(e, QuoteError::FeeTooHigh { fee });
            assert!(e.to_string().contains("basisPointFee"), "{e}");
        }
    }
}

#[test]
fn fee_above_10000_is_rejected_by_sign_and_from_parts() {
    let k = key();
    let mut f = fields_for(k.address());
    f.basis_point_fee = 10_000;
    assert!(f.sign(&k, CHAIN_ID).is_ok());
    f.basis_point_fee = 10_001;
    assert_eq!(
        f.sign(&k, CHAIN_ID),
        Err(QuoteError::FeeTooHigh { fee: 10_001 })
    );
    assert_eq!(
        EpochProofQuote::from_parts(f, *signed().signature()),
        Err(QuoteError::FeeTooHigh { fee: 10_001 })
    );
}

#[test]
fn wire_layout_is_the_spec_layout() {
    let q = signed();
    let w = q.to_wire();
    let f = q.fields();
    assert_eq!(w[0], 1);
    assert_eq!(&w[1..21], f.prover.as_slice());
    assert_eq!(&w[21..53], &f.epoch_number.to_be_bytes::<32>());
    assert_eq!(&w[53..85], &f.epoch_init_block.to_be_bytes::<32>());
    assert_eq!(&w[85..117], &f.epoch_final_block.to_be_bytes::<32>());
    assert_eq!(&w[117..149], &f.total_fees.to_be_bytes::<32>());
    assert_eq!(&w[149..169], f.rollup_address.as_slice());
    assert_eq!(&w[169..173], &f.basis_point_fee.to_be_bytes());
    assert_eq!(&w[173..205], &f.bond_amount.to_be_bytes::<32>());
    assert_eq!(&w[205..237], &f.valid_until_slot.to_be_bytes::<32>());
    assert_eq!(&w[237..302], q.signature());
}
