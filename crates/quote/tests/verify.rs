//! Signature rules (SPEC §2.2): every single change breaks verification; malformed signatures
//! are rejected with the precise reason; both recovery backends agree.
#![allow(clippy::unwrap_used)] // tests: a failure is a panic

mod common;

use alloy_primitives::{Address, B256, U256};
use alloy_signer_local::PrivateKeySigner;
use common::*;
use epoch_rfq_quote::{
    EpochProofQuote, QuoteError, QuoteFields, SECP256K1_HALF_ORDER, SECP256K1_ORDER, backend,
};
use proptest::prelude::*;

fn with_sig(q: &EpochProofQuote, f: impl FnOnce(&mut [u8; 65])) -> EpochProofQuote {
    let mut s = *q.signature();
    f(&mut s);
    EpochProofQuote::from_parts(*q.fields(), s).unwrap()
}

fn with_fields(q: &EpochProofQuote, f: impl FnOnce(&mut QuoteFields)) -> EpochProofQuote {
    let mut fields = *q.fields();
    f(&mut fields);
    EpochProofQuote::from_parts(fields, *q.signature()).unwrap()
}

fn bump(u: &mut U256) {
    *u = u.wrapping_add(U256::from(1));
}

#[allow(clippy::type_complexity)]
fn mutations() -> Vec<(&'static str, Box<dyn Fn(&mut QuoteFields)>)> {
    vec![
        ("prover", Box::new(|f| f.prover.0[19] ^= 1)),
        ("epochNumber", Box::new(|f| bump(&mut f.epoch_number))),
        (
            "epochInitBlock",
            Box::new(|f| bump(&mut f.epoch_init_block)),
        ),
        (
            "epochFinalBlock",
            Box::new(|f| bump(&mut f.epoch_final_block)),
        ),
        ("totalFees", Box::new(|f| bump(&mut f.total_fees))),
        ("rollupAddress", Box::new(|f| f.rollup_address.0[0] ^= 0x80)),
        ("basisPointFee", Box::new(|f| f.basis_point_fee ^= 1)),
        ("bondAmount", Box::new(|f| bump(&mut f.bond_amount))),
        (
            "validUntilSlot",
            Box::new(|f| bump(&mut f.valid_until_slot)),
        ),
    ]
}

#[test]
fn each_single_field_change_breaks_verification() {
    let q = signed();
    assert!(q.verify(CHAIN_ID).is_ok());
    for (name, m) in mutations() {
        let bad = with_fields(&q, |f| m(f));
        assert_ne!(bad.digest(CHAIN_ID), q.digest(CHAIN_ID), "{name}");
        let e = bad.verify(CHAIN_ID).unwrap_err();
        assert!(
            matches!(
                e,
                QuoteError::SignerMismatch { .. } | QuoteError::Recovery(_)
            ),
            "{name}: {e:?}"
        );
    }
}

#[test]
fn chain_id_change_breaks_verification() {
    let q = signed();
    for chain in [0, 1, CHAIN_ID - 1, CHAIN_ID + 1, u64::MAX] {
        assert!(q.verify(chain).is_err(), "chain {chain}");
    }
}

#[test]
fn signer_mismatch_names_both_addresses() {
    let k = key();
    let other = PrivateKeySigner::from_bytes(&B256::repeat_byte(7)).unwrap();
    // A quote whose prover is `other`, signed (on its correct digest) by `k`.
    let forged = EpochProofQuote::from_parts(fields_for(other.address()), [0u8; 65]).unwrap();
    let digest = forged.digest(CHAIN_ID);
    use alloy_signer::SignerSync;
    let sig = k.sign_hash_sync(&digest).unwrap();
    let mut s = [0u8; 65];
    s[..32].copy_from_slice(&sig.r().to_be_bytes::<32>());
    s[32..64].copy_from_slice(&sig.s().to_be_bytes::<32>());
    s[64] = 27 + u8::from(sig.v());
    let forged = EpochProofQuote::from_parts(*forged.fields(), s).unwrap();
    let e = forged.verify(CHAIN_ID).unwrap_err();
    assert_eq!(
        e,
        QuoteError::SignerMismatch {
            prover: other.address(),
            recovered: k.address()
        }
    );
    let msg = e.to_string();
    assert!(msg.contains(&other.address().to_string()) && msg.contains("prover"));
}

#[test]
fn sign_refuses_a_key_that_is_not_the_provers() {
    let k = key();
    let f = fields_for(Address::repeat_byte(1));
    assert_eq!(
        f.sign(&k, CHAIN_ID),
        Err(QuoteError::SignerNotProver {
            signer: k.address(),
            prover: Address::repeat_byte(1)
        })
    );
}

#[test]
fn high_s_is_rejected_although_it_recovers_the_prover() {
    let q = signed();
    assert!(q.s() <= SECP256K1_HALF_ORDER, "sign produces low-s");
    let high = with_sig(&q, |s| {
        let s_val = U256::from_be_slice(&s[32..64]);
        s[32..64].copy_from_slice(&(SECP256K1_ORDER - s_val).to_be_bytes::<32>());
        s[64] = if s[64] == 27 { 28 } else { 27 };
    });
    // The malleated signature is mathematically valid for the same key...
    let mut rs = [0u8; 64];
    rs.copy_from_slice(&high.signature()[..64]);
    let digest = high.digest(CHAIN_ID);
    assert_eq!(
        backend::recover_secp256k1(&digest, &rs, high.v() == 28).unwrap(),
        q.fields().prover
    );
    // ...and refused.
    let e = high.verify(CHAIN_ID).unwrap_err();
    assert_eq!(e, QuoteError::HighS);
    assert!(e.to_string().contains("high-s"));
    // s = n/2 + 1 is the first high value; s = n/2 passes the check.
    let edge = with_sig(&q, |s| {
        s[32..64].copy_from_slice(&(SECP256K1_HALF_ORDER + U256::from(1)).to_be_bytes::<32>())
    });
    assert_eq!(edge.verify(CHAIN_ID).unwrap_err(), QuoteError::HighS);
    let half = with_sig(&q, |s| {
        s[32..64].copy_from_slice(&SECP256K1_HALF_ORDER.to_be_bytes::<32>())
    });
    assert_ne!(half.verify(CHAIN_ID).unwrap_err(), QuoteError::HighS);
}

#[test]
fn v_other_than_27_28_is_rejected() {
    let q = signed();
    for v in (0..=255u8).filter(|v| !matches!(v, 27 | 28)) {
        let bad = with_sig(&q, |s| s[64] = v);
        let e = bad.verify(CHAIN_ID).unwrap_err();
        assert_eq!(e, QuoteError::InvalidV(v));
        assert!(e.to_string().contains("v must be 27 or 28"));
    }
    // The other parity recovers another key.
    let flipped = with_sig(&q, |s| s[64] = if s[64] == 27 { 28 } else { 27 });
    assert!(flipped.verify(CHAIN_ID).is_err());
}

#[test]
fn zero_r_or_s_is_rejected() {
    let q = signed();
    let zr = with_sig(&q, |s| s[..32].fill(0));
    let zs = with_sig(&q, |s| s[32..64].fill(0));
    let both = with_sig(&q, |s| s[..64].fill(0));
    for bad in [zr, zs, both] {
        assert_eq!(bad.verify(CHAIN_ID).unwrap_err(), QuoteError::ZeroSignature);
    }
}

#[test]
fn r_out_of_range_or_off_curve_fails_recovery() {
    let q = signed();
    for r in [SECP256K1_ORDER, U256::MAX] {
        let bad = with_sig(&q, |s| s[..32].copy_from_slice(&r.to_be_bytes::<32>()));
        assert!(
            matches!(bad.verify(CHAIN_ID), Err(QuoteError::Recovery(_))),
            "r = {r:#x}"
        );
    }
    // x = 5 is not the x-coordinate of a secp256k1 point (5³ + 7 = 132 is not a square mod p).
    let off = with_sig(&q, |s| {
        s[..32].copy_from_slice(&U256::from(5).to_be_bytes::<32>())
    });
    let e = off.verify(CHAIN_ID).unwrap_err();
    assert!(matches!(e, QuoteError::Recovery(_)), "{e:?}");
}

#[test]
fn verified_quote_accessors() {
    let q = signed();
    let v = q.verify(CHAIN_ID).unwrap();
    let v2 = v.clone();
    assert_eq!(v, v2);
    assert_eq!(v.chain_id(), CHAIN_ID);
    assert_eq!(v.fields().prover, v.signer()); // Deref to the quote
    assert_eq!(v.id().to_string(), format!("{:#x}", q.digest(CHAIN_ID)));
    assert_eq!(v.id().to_string().len(), 66);
    assert_eq!(serde_json::to_string(&v).unwrap(), q.to_json_string());
    assert_eq!(EpochProofQuote::from(v2), q);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random keys, random digests: both backends recover the signer.
    #[test]
    fn backends_agree(seed in any::<[u8; 32]>(), digest in any::<[u8; 32]>()) {
        let Ok(key) = PrivateKeySigner::from_bytes(&seed.into()) else { return Ok(()) };
        use alloy_signer::SignerSync;
        let digest = B256::from(digest);
        let sig = key.sign_hash_sync(&digest).unwrap();
        let mut rs = [0u8; 64];
        rs[..32].copy_from_slice(&sig.r().to_be_bytes::<32>());
        rs[32..].copy_from_slice(&sig.s().to_be_bytes::<32>());
        let a = backend::recover_k256(&digest, &rs, sig.v()).unwrap();
        let b = backend::recover_secp256k1(&digest, &rs, sig.v()).unwrap();
        prop_assert_eq!(a, key.address());
        prop_assert_eq!(b, key.address());
        // The wrong parity gives another address (or none) with both.
        let a2 = backend::recover_k256(&digest, &rs, !sig.v()).ok();
        let b2 = backend::recover_secp256k1(&digest, &rs, !sig.v()).ok();
        prop_assert_eq!(a2, b2);
        prop_assert_ne!(a2, Some(key.address()));
    }

    /// A random single-field change of a freshly signed quote fails verification.
    #[test]
    fn random_field_change_fails(seed in any::<[u8; 32]>(), which in 0usize..9, chain in any::<u64>()) {
        let Ok(key) = PrivateKeySigner::from_bytes(&seed.into()) else { return Ok(()) };
        let q = fields_for(key.address()).sign(&key, chain).unwrap();
        prop_assert!(q.verify(chain).is_ok());
        prop_assert!(q.verify(chain.wrapping_add(1)).is_err());
        let (_, m) = &mutations()[which];
        let bad = with_fields(&q, |f| m(f));
        prop_assert!(bad.verify(chain).is_err());
    }
}
