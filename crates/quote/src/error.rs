//! The one error type of this crate.

use alloy_primitives::Address;

/// Why a quote was refused: by a decoder, by [`verify`](crate::EpochProofQuote::verify) or by
/// [`sign`](crate::QuoteFields::sign).
///
/// Every variant names the field and the rule that failed, so that callers (the pool, the
/// gossip validator, the JSON-RPC server) can pass the message on unchanged and count rejections
/// by [`reason_code`](Self::reason_code). No input makes this crate panic: every malformed input
/// ends up as one of these values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuoteError {
    /// The wire form is not exactly [`WIRE_LEN`](crate::WIRE_LEN) bytes long.
    #[error("wire quote: expected exactly {expected} bytes, got {got}")]
    WireLength {
        /// Always [`WIRE_LEN`](crate::WIRE_LEN).
        expected: usize,
        /// The length received.
        got: usize,
    },
    /// The first byte of the wire form is not [`WIRE_VERSION`](crate::WIRE_VERSION).
    #[error("wire quote: unsupported version byte {0:#04x} (expected 0x01)")]
    WireVersion(u8),
    /// `basisPointFee` is above [`MAX_BASIS_POINT_FEE`](crate::MAX_BASIS_POINT_FEE).
    #[error("basisPointFee: {fee} exceeds the maximum of 10000")]
    FeeTooHigh {
        /// The fee found.
        fee: u32,
    },
    /// The signature's `s` is above n/2 (malleable form; EIP-2).
    #[error("signature: s is in the upper half of the curve order (high-s)")]
    HighS,
    /// The signature's `v` byte is neither 27 nor 28.
    #[error("signature: v must be 27 or 28, got {0}")]
    InvalidV(u8),
    /// The signature's `r` or `s` is zero.
    #[error("signature: r and s must be non-zero")]
    ZeroSignature,
    /// No public key can be recovered from the signature (e.g. `r` ≥ n, or `r` is not the
    /// x-coordinate of a curve point).
    #[error("signature: no public key can be recovered ({0})")]
    Recovery(String),
    /// The signature is valid but was made by another key than `prover`.
    #[error("signature: recovered signer {recovered} is not the prover {prover}")]
    SignerMismatch {
        /// The quote's `prover`.
        prover: Address,
        /// The address recovered from the signature.
        recovered: Address,
    },
    /// [`QuoteFields::sign`](crate::QuoteFields::sign) was given a key that is not `prover`'s.
    #[error("sign: the signer {signer} is not the quote's prover {prover}")]
    SignerNotProver {
        /// The signing key's address.
        signer: Address,
        /// The quote's `prover`.
        prover: Address,
    },
    /// The signing backend failed (should not happen with a local key).
    #[error("sign: {0}")]
    Signing(String),
    /// The JSON form is wrong. `field` is the JSON key (camelCase, as in SPEC §2.4), or `$` when
    /// the document itself is malformed (syntax, not an object, trailing data).
    #[error("JSON field `{field}`: {reason}")]
    Json {
        /// The offending JSON key, or `$` for the whole document.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl QuoteError {
    /// A short, stable, snake_case code for metrics labels and log fields.
    pub fn reason_code(&self) -> &'static str {
        match self {
            Self::WireLength { .. } => "wire_length",
            Self::WireVersion(_) => "wire_version",
            Self::FeeTooHigh { .. } => "fee_too_high",
            Self::HighS => "high_s",
            Self::InvalidV(_) => "invalid_v",
            Self::ZeroSignature => "zero_signature",
            Self::Recovery(_) => "recovery_failed",
            Self::SignerMismatch { .. } => "signer_mismatch",
            Self::SignerNotProver { .. } => "signer_not_prover",
            Self::Signing(_) => "signing_failed",
            Self::Json { .. } => "json",
        }
    }

    pub(crate) fn json(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Json {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
