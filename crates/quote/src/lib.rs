//! The epoch proof quote (SPEC §2): its fields, EIP-712 signing and verification, and its two
//! encodings (the 302-byte wire form gossiped over P2P and the JSON form of the HTTP API).
//!
//! This crate does no I/O. Its types encode the steps a quote goes through:
//!
//! * [`QuoteFields`]: what a prover prices; plain data, freely built and changed.
//! * [`EpochProofQuote`]: fields plus a 65-byte signature; **immutable**. It is only obtained by
//!   [`QuoteFields::sign`] or by decoding ([`EpochProofQuote::from_wire`],
//!   [`EpochProofQuote::from_json_str`], serde), all of which enforce the encoding rules (length,
//!   version, `basisPointFee ≤ 10000`, signature length) but *not* the signature rules, so that
//!   tools can still show a badly signed quote.
//! * [`VerifiedQuote`]: an `EpochProofQuote` whose signature was checked for a chain id by
//!   [`EpochProofQuote::verify`] (digest, `v ∈ {27, 28}`, non-zero `r` and `s`, low-s, fee,
//!   recovered signer == `prover`). Code that needs a trustworthy quote (pool, proposer) takes
//!   this type, so it cannot forget to verify. It carries its [`QuoteId`] (the EIP-712 digest, the
//!   dedup key everywhere) and is cheap to clone (one `Arc`).
//!
//! ```
//! use alloy_primitives::{Address, U256};
//! use alloy_signer_local::PrivateKeySigner;
//! use epoch_rfq_quote::{EpochProofQuote, QuoteFields};
//!
//! let key = PrivateKeySigner::random();
//! let fields = QuoteFields {
//!     prover: key.address(),
//!     epoch_number: U256::from(7),
//!     epoch_init_block: U256::from(57),
//!     epoch_final_block: U256::from(64),
//!     total_fees: U256::from(123_000),
//!     rollup_address: Address::repeat_byte(0x42),
//!     basis_point_fee: 250,
//!     bond_amount: U256::from(1_000_000),
//!     valid_until_slot: U256::from(60),
//! };
//! let quote = fields.sign(&key, 31337)?;
//! let wire = quote.to_wire();
//! let verified = EpochProofQuote::from_wire(&wire)?.verify(31337)?;
//! assert_eq!(verified.signer(), key.address());
//! assert!(quote.verify(1).is_err()); // another chain id: another digest
//! # Ok::<(), epoch_rfq_quote::QuoteError>(())
//! ```

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use alloy_primitives::{Address, B256, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;

pub mod backend;
mod eip712;
mod error;
pub mod json;
pub mod time;

pub use eip712::{
    EIP712_DOMAIN_NAME, EIP712_DOMAIN_TYPE_STRING, EIP712_DOMAIN_TYPEHASH, EIP712_DOMAIN_VERSION,
    QUOTE_TYPE_STRING, QUOTE_TYPEHASH, domain_separator, sol,
};
pub use error::QuoteError;
pub use json::uint_from_json;
pub use time::TimeParams;

/// Length of the wire form (SPEC §2.3): 1 + 20 + 4×32 + 20 + 4 + 2×32 + 65.
pub const WIRE_LEN: usize = 302;
/// The only wire version this crate reads and writes.
pub const WIRE_VERSION: u8 = 1;
/// Upper bound of `basisPointFee` (100 %).
pub const MAX_BASIS_POINT_FEE: u32 = 10_000;
/// Length of a signature: `r (32) ‖ s (32) ‖ v (1)`.
pub const SIGNATURE_LEN: usize = 65;

/// n / 2 for secp256k1: the largest `s` accepted (EIP-2 low-s rule, like OpenZeppelin's ECDSA).
pub const SECP256K1_HALF_ORDER: U256 = U256::from_be_bytes([
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
]);
/// The order n of secp256k1.
pub const SECP256K1_ORDER: U256 = U256::from_be_bytes([
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
]);

// Offsets in the wire form (SPEC §2.3).
const O_PROVER: usize = 1;
const O_EPOCH: usize = O_PROVER + 20;
const O_INIT: usize = O_EPOCH + 32;
const O_FINAL: usize = O_INIT + 32;
const O_FEES: usize = O_FINAL + 32;
const O_ROLLUP: usize = O_FEES + 32;
const O_BPS: usize = O_ROLLUP + 20;
const O_BOND: usize = O_BPS + 4;
const O_VALID: usize = O_BOND + 32;
const O_SIG: usize = O_VALID + 32;
const _: () = assert!(O_SIG + SIGNATURE_LEN == WIRE_LEN);

/// The unsigned quote (SPEC §2.1), fields in SPEC order.
///
/// Plain data: nothing is checked until it is [signed](Self::sign). Its JSON form (serde) is the
/// quote's JSON form without `signature`, with the same strict rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct QuoteFields {
    /// Signer; its escrow deposit backs the bond; receives the fee share.
    pub prover: Address,
    /// The epoch the prover promises to prove.
    pub epoch_number: U256,
    /// First L2 block number of the epoch.
    pub epoch_init_block: U256,
    /// Last L2 block number of the epoch (inclusive).
    pub epoch_final_block: U256,
    /// Sum of the epoch's block fees.
    pub total_fees: U256,
    /// The Rollup contract the quote is for (also the EIP-712 verifying contract).
    pub rollup_address: Address,
    /// Prover's share of the fees in basis points, `0..=10000`.
    pub basis_point_fee: u32,
    /// Bond staked from the prover's escrow deposit when the quote is claimed.
    pub bond_amount: U256,
    /// Last L2 slot (inclusive) in which the quote may be claimed.
    pub valid_until_slot: U256,
}

impl QuoteFields {
    /// EIP-712 `hashStruct` of the quote (does not depend on the chain).
    pub fn struct_hash(&self) -> B256 {
        eip712::struct_hash(self)
    }

    /// The EIP-712 digest the prover signs: `keccak256(0x1901 ‖ domainSeparator ‖ structHash)`
    /// with the domain of SPEC §2.2 (`verifyingContract` = `rollup_address`). It is also the
    /// quote's id and must equal the Rollup's `quoteToDigest`.
    pub fn digest(&self, chain_id: u64) -> B256 {
        eip712::digest(
            &domain_separator(chain_id, self.rollup_address),
            &self.struct_hash(),
        )
    }

    /// Signs the quote for `chain_id`.
    ///
    /// Refuses a fee above 10000 ([`QuoteError::FeeTooHigh`]) and a key that is not `prover`'s
    /// ([`QuoteError::SignerNotProver`]): either would only produce a quote that every node
    /// rejects. The signature is normalised to low-s with `v ∈ {27, 28}` (k256 already signs
    /// low-s; the normalisation is a guard).
    pub fn sign(
        self,
        signer: &PrivateKeySigner,
        chain_id: u64,
    ) -> Result<EpochProofQuote, QuoteError> {
        if self.basis_point_fee > MAX_BASIS_POINT_FEE {
            return Err(QuoteError::FeeTooHigh {
                fee: self.basis_point_fee,
            });
        }
        if signer.address() != self.prover {
            return Err(QuoteError::SignerNotProver {
                signer: signer.address(),
                prover: self.prover,
            });
        }
        let sig = signer
            .sign_hash_sync(&self.digest(chain_id))
            .map_err(|e| QuoteError::Signing(e.to_string()))?
            .normalized_s();
        let mut signature = [0u8; SIGNATURE_LEN];
        signature[..32].copy_from_slice(&sig.r().to_be_bytes::<32>());
        signature[32..64].copy_from_slice(&sig.s().to_be_bytes::<32>());
        signature[64] = 27 + u8::from(sig.v());
        Ok(EpochProofQuote {
            fields: self,
            signature,
        })
    }
}

/// A signed quote: [`QuoteFields`] and a 65-byte signature `r ‖ s ‖ v`.
///
/// Immutable (private fields): once built, its encodings and digest cannot drift apart. Built by
/// [`QuoteFields::sign`], the decoders, or [`from_parts`](Self::from_parts); all guarantee
/// `basis_point_fee ≤ 10000`. The signature is *not* checked until [`verify`](Self::verify).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EpochProofQuote {
    fields: QuoteFields,
    signature: [u8; SIGNATURE_LEN],
}

impl EpochProofQuote {
    /// Assembles a quote from its parts (e.g. read back from a database). Checks the fee bound
    /// like the decoders; the signature is checked by [`verify`](Self::verify).
    pub fn from_parts(
        fields: QuoteFields,
        signature: [u8; SIGNATURE_LEN],
    ) -> Result<Self, QuoteError> {
        if fields.basis_point_fee > MAX_BASIS_POINT_FEE {
            return Err(QuoteError::FeeTooHigh {
                fee: fields.basis_point_fee,
            });
        }
        Ok(Self { fields, signature })
    }

    /// The signed fields.
    pub fn fields(&self) -> &QuoteFields {
        &self.fields
    }

    /// The signature `r (32) ‖ s (32) ‖ v (1)`.
    pub fn signature(&self) -> &[u8; SIGNATURE_LEN] {
        &self.signature
    }

    /// The EIP-712 digest (= the id, once verified) for `chain_id`.
    pub fn digest(&self, chain_id: u64) -> B256 {
        self.fields.digest(chain_id)
    }

    /// The wire form (SPEC §2.3): exactly [`WIRE_LEN`] bytes, big-endian, version first.
    pub fn to_wire(&self) -> [u8; WIRE_LEN] {
        let f = &self.fields;
        let mut w = [0u8; WIRE_LEN];
        w[0] = WIRE_VERSION;
        w[O_PROVER..O_EPOCH].copy_from_slice(f.prover.as_slice());
        w[O_EPOCH..O_INIT].copy_from_slice(&f.epoch_number.to_be_bytes::<32>());
        w[O_INIT..O_FINAL].copy_from_slice(&f.epoch_init_block.to_be_bytes::<32>());
        w[O_FINAL..O_FEES].copy_from_slice(&f.epoch_final_block.to_be_bytes::<32>());
        w[O_FEES..O_ROLLUP].copy_from_slice(&f.total_fees.to_be_bytes::<32>());
        w[O_ROLLUP..O_BPS].copy_from_slice(f.rollup_address.as_slice());
        w[O_BPS..O_BOND].copy_from_slice(&f.basis_point_fee.to_be_bytes());
        w[O_BOND..O_VALID].copy_from_slice(&f.bond_amount.to_be_bytes::<32>());
        w[O_VALID..O_SIG].copy_from_slice(&f.valid_until_slot.to_be_bytes::<32>());
        w[O_SIG..].copy_from_slice(&self.signature);
        w
    }

    /// Decodes the wire form. Errors: any length but [`WIRE_LEN`] ([`QuoteError::WireLength`]),
    /// a version byte other than [`WIRE_VERSION`] ([`QuoteError::WireVersion`]), a fee above
    /// 10000 ([`QuoteError::FeeTooHigh`]). Every 302-byte string passing these is a quote, so
    /// decoding and re-encoding gives back the same bytes.
    pub fn from_wire(bytes: &[u8]) -> Result<Self, QuoteError> {
        let w: &[u8; WIRE_LEN] = bytes.try_into().map_err(|_| QuoteError::WireLength {
            expected: WIRE_LEN,
            got: bytes.len(),
        })?;
        if w[0] != WIRE_VERSION {
            return Err(QuoteError::WireVersion(w[0]));
        }
        let fields = QuoteFields {
            prover: Address::from_slice(&w[O_PROVER..O_EPOCH]),
            epoch_number: U256::from_be_slice(&w[O_EPOCH..O_INIT]),
            epoch_init_block: U256::from_be_slice(&w[O_INIT..O_FINAL]),
            epoch_final_block: U256::from_be_slice(&w[O_FINAL..O_FEES]),
            total_fees: U256::from_be_slice(&w[O_FEES..O_ROLLUP]),
            rollup_address: Address::from_slice(&w[O_ROLLUP..O_BPS]),
            basis_point_fee: u32::from_be_bytes([
                w[O_BPS],
                w[O_BPS + 1],
                w[O_BPS + 2],
                w[O_BPS + 3],
            ]),
            bond_amount: U256::from_be_slice(&w[O_BOND..O_VALID]),
            valid_until_slot: U256::from_be_slice(&w[O_VALID..O_SIG]),
        };
        let mut signature = [0u8; SIGNATURE_LEN];
        signature.copy_from_slice(&w[O_SIG..]);
        Self::from_parts(fields, signature)
    }

    /// Parses the JSON form (SPEC §2.4) with the rules of the [`json`] module. Errors are
    /// [`QuoteError::Json`] naming the field (`$` for the document itself) or
    /// [`QuoteError::FeeTooHigh`].
    pub fn from_json_str(s: &str) -> Result<Self, QuoteError> {
        json::quote_from_str(s)
    }

    /// The JSON form (SPEC §2.4) as a string: identical to `serde_json::to_string(self)`.
    pub fn to_json_string(&self) -> String {
        json::quote_to_string(self)
    }

    /// `r` of the signature.
    pub fn r(&self) -> U256 {
        U256::from_be_slice(&self.signature[..32])
    }

    /// `s` of the signature.
    pub fn s(&self) -> U256 {
        U256::from_be_slice(&self.signature[32..64])
    }

    /// `v` of the signature (valid values: 27, 28).
    pub fn v(&self) -> u8 {
        self.signature[64]
    }

    /// Checks the signature for `chain_id`, in the order of the Rollup contract (SPEC §2.2, §4):
    /// fee ≤ 10000, `v ∈ {27, 28}`, `r ≠ 0` and `s ≠ 0`, `s ≤ n/2`, then recovers the signer
    /// from the digest ([`backend::recover`]) and compares it with `prover`.
    ///
    /// It does not check anything that needs chain state (rollup address, epoch, expiry, bond):
    /// that is the pool's job.
    pub fn verify(&self, chain_id: u64) -> Result<VerifiedQuote, QuoteError> {
        let fee = self.fields.basis_point_fee;
        if fee > MAX_BASIS_POINT_FEE {
            return Err(QuoteError::FeeTooHigh { fee });
        }
        let v = self.v();
        let y_parity = match v {
            27 => false,
            28 => true,
            _ => return Err(QuoteError::InvalidV(v)),
        };
        let s = self.s();
        if self.r().is_zero() || s.is_zero() {
            return Err(QuoteError::ZeroSignature);
        }
        if s > SECP256K1_HALF_ORDER {
            return Err(QuoteError::HighS);
        }
        let digest = self.digest(chain_id);
        let mut rs = [0u8; 64];
        rs.copy_from_slice(&self.signature[..64]);
        let recovered = backend::recover(&digest, &rs, y_parity)?;
        if recovered != self.fields.prover {
            return Err(QuoteError::SignerMismatch {
                prover: self.fields.prover,
                recovered,
            });
        }
        Ok(VerifiedQuote(Arc::new(VerifiedInner {
            quote: self.clone(),
            id: QuoteId(digest),
            chain_id,
        })))
    }
}

/// A quote's id: its EIP-712 digest (SPEC §2.2), the dedup key everywhere. Displays as
/// `0x`-prefixed lowercase hex; serde as the same string.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct QuoteId(pub B256);

impl fmt::Display for QuoteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl From<B256> for QuoteId {
    fn from(b: B256) -> Self {
        Self(b)
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct VerifiedInner {
    quote: EpochProofQuote,
    id: QuoteId,
    chain_id: u64,
}

/// An [`EpochProofQuote`] whose signature [`verify`](EpochProofQuote::verify) checked for
/// [`chain_id`](Self::chain_id). Only `verify` makes one. Cloning is one `Arc` increment.
///
/// Serializes as the quote's JSON form; there is deliberately no `Deserialize`: decode an
/// `EpochProofQuote` and verify it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VerifiedQuote(Arc<VerifiedInner>);

impl VerifiedQuote {
    /// The quote.
    pub fn quote(&self) -> &EpochProofQuote {
        &self.0.quote
    }

    /// The id (EIP-712 digest for [`chain_id`](Self::chain_id)).
    pub fn id(&self) -> QuoteId {
        self.0.id
    }

    /// The recovered signer; always equal to `fields().prover`.
    pub fn signer(&self) -> Address {
        self.0.quote.fields.prover
    }

    /// The chain id the signature was checked for.
    pub fn chain_id(&self) -> u64 {
        self.0.chain_id
    }
}

impl Deref for VerifiedQuote {
    type Target = EpochProofQuote;
    fn deref(&self) -> &EpochProofQuote {
        &self.0.quote
    }
}

impl AsRef<EpochProofQuote> for VerifiedQuote {
    fn as_ref(&self) -> &EpochProofQuote {
        &self.0.quote
    }
}

impl From<VerifiedQuote> for EpochProofQuote {
    fn from(v: VerifiedQuote) -> Self {
        v.0.quote.clone()
    }
}

impl serde::Serialize for VerifiedQuote {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.quote.serialize(s)
    }
}
