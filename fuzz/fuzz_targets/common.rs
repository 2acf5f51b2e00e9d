//! Invariants shared by both targets, checked on every quote a decoder accepts.

use epoch_rfq_quote::{EpochProofQuote, backend};

/// decode → encode → decode is the identity in both encodings, the encodings agree with each
/// other, and verification never panics and gives the same answer with both backends.
pub fn check_quote(q: &EpochProofQuote) {
    let wire = q.to_wire();
    let from_wire = EpochProofQuote::from_wire(&wire).expect("re-decoding our own wire form");
    assert_eq!(&from_wire, q, "wire round trip");
    assert_eq!(from_wire.to_wire(), wire, "wire re-encoding");

    let json = q.to_json_string();
    assert_eq!(
        serde_json::to_string(q).expect("serde output"),
        json,
        "to_json_string == serde"
    );
    let from_json = EpochProofQuote::from_json_str(&json).expect("re-decoding our own JSON");
    assert_eq!(&from_json, q, "JSON round trip");
    assert_eq!(from_json.to_json_string(), json, "JSON re-encoding");

    assert!(q.fields().basis_point_fee <= 10_000);

    // Verification: no panic; the two secp256k1 backends agree on every signature whose
    // form passes the pre-checks.
    let chain_id = 31337;
    let res = q.verify(chain_id);
    let sig = q.signature();
    let mut rs = [0u8; 64];
    rs.copy_from_slice(&sig[..64]);
    let digest = q.digest(chain_id);
    let a = backend::recover_k256(&digest, &rs, sig[64] == 28).ok();
    let b = backend::recover_secp256k1(&digest, &rs, sig[64] == 28).ok();
    if res.is_ok() {
        assert_eq!(a, b, "backends disagree on a valid signature");
        assert_eq!(b, Some(q.fields().prover));
    } else if matches!(sig[64], 27 | 28) && q.s() <= epoch_rfq_quote::SECP256K1_HALF_ORDER {
        assert_eq!(a, b, "backends disagree");
    }
}
