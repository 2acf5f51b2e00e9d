//! Public-key recovery: the one place that chooses the secp256k1 implementation.
//!
//! Two implementations are kept side by side so the choice can be re-measured
//! (`cargo bench -p epoch-rfq-quote -- recover`) and so the tests can check that they agree:
//!
//! * [`recover_k256`]: the pure-Rust `k256` 0.13 crate, which alloy uses for signing;
//! * [`recover_secp256k1`]: Bitcoin Core's C `libsecp256k1` through the `secp256k1` 0.31 crate
//!   (features `recovery` + `global-context`, so no context is built per call).
//!
//! [`recover`] is the one [`verify`](crate::EpochProofQuote::verify) uses: **libsecp256k1**. On
//! this project's 2-core machine it recovered a signer in 43 µs against 215 µs for k256 (which
//! also re-verifies the recovered key), taking full validation from 5.0k to 22k quotes/s, above
//! the 20k/s target (figures in the crate README). Both reject `r` or `s` equal to zero or ≥ n;
//! callers check low-s and `v` before calling (see `verify`).
//!
//! The crate depends on `secp256k1` directly rather than enabling `alloy-primitives/secp256k1`,
//! because that feature would silently switch the backend of every alloy user in the workspace.

use alloy_primitives::{Address, B256};

use crate::QuoteError;

/// Name of the backend [`recover`] uses (for logs and benchmarks).
pub const BACKEND: &str = "libsecp256k1";

/// Recovers the address that signed `digest`, from the 64-byte `r ‖ s` and the y-parity
/// (`v − 27`), with the chosen backend.
#[inline]
pub fn recover(digest: &B256, rs: &[u8; 64], y_parity: bool) -> Result<Address, QuoteError> {
    recover_secp256k1(digest, rs, y_parity)
}

/// [`recover`] with the pure-Rust `k256` crate.
pub fn recover_k256(digest: &B256, rs: &[u8; 64], y_parity: bool) -> Result<Address, QuoteError> {
    use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};
    let sig = Signature::from_slice(rs).map_err(|e| QuoteError::Recovery(e.to_string()))?;
    let vk = VerifyingKey::recover_from_prehash(
        digest.as_slice(),
        &sig,
        RecoveryId::new(y_parity, false),
    )
    .map_err(|e| QuoteError::Recovery(e.to_string()))?;
    Ok(Address::from_public_key(&vk))
}

/// [`recover`] with the C `libsecp256k1` (global verification context).
pub fn recover_secp256k1(
    digest: &B256,
    rs: &[u8; 64],
    y_parity: bool,
) -> Result<Address, QuoteError> {
    use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
    let recid = if y_parity {
        RecoveryId::One
    } else {
        RecoveryId::Zero
    };
    let sig = RecoverableSignature::from_compact(rs, recid)
        .map_err(|e| QuoteError::Recovery(e.to_string()))?;
    let pk = secp256k1::SECP256K1
        .recover_ecdsa(secp256k1::Message::from_digest(digest.0), &sig)
        .map_err(|e| QuoteError::Recovery(e.to_string()))?;
    let uncompressed = pk.serialize_uncompressed();
    Ok(Address::from_raw_public_key(&uncompressed[1..]))
}
