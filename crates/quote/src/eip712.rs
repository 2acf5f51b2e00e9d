//! EIP-712 hashing of a quote (SPEC §2.2).
//!
//! The hashes are computed by hand over fixed-size stack buffers with the type hashes as
//! constants: this is the hot path of every validation, and it does exactly three Keccak-256
//! calls (domain separator, struct hash, digest). The [`sol`] module holds the same struct
//! declared with `alloy_sol_types::sol!`; the tests check that both produce the same bytes and
//! that the constants are the Keccak-256 of the SPEC strings, and known-answer tests check them
//! against an independent implementation (ethers v6, see `tests/kat/`).

use alloy_primitives::{Address, B256, U256, b256, keccak256};

use crate::QuoteFields;

/// EIP-712 domain `name` (SPEC §2.2).
pub const EIP712_DOMAIN_NAME: &str = "Aztec Rollup";
/// EIP-712 domain `version` (SPEC §2.2).
pub const EIP712_DOMAIN_VERSION: &str = "1";
/// The EIP-712 domain type: name, version, chainId, verifyingContract (no salt).
pub const EIP712_DOMAIN_TYPE_STRING: &str =
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)";
/// The EIP-712 `encodeType` of the quote (SPEC §2.2, byte for byte).
pub const QUOTE_TYPE_STRING: &str = "EpochProofQuote(address prover,uint256 epochNumber,uint256 epochInitBlock,uint256 epochFinalBlock,uint256 totalFees,address rollupAddress,uint32 basisPointFee,uint256 bondAmount,uint256 validUntilSlot)";

/// `keccak256(EIP712_DOMAIN_TYPE_STRING)`.
pub const EIP712_DOMAIN_TYPEHASH: B256 =
    b256!("8b73c3c69bb8fe3d512ecc4cf759cc79239f7b179b0ffacaa9a75d522b39400f");
/// `keccak256(QUOTE_TYPE_STRING)`.
pub const QUOTE_TYPEHASH: B256 =
    b256!("ddfd982e267247d9e0b248a7b4f048a9de72934a02b2d84c2f80a82c7c21b567");
/// `keccak256(EIP712_DOMAIN_NAME)`.
const NAME_HASH: B256 = b256!("6001f7d5990128cf43d9cc82c426c8ea327f060ad15ca974b0c330643121d4c4");
/// `keccak256(EIP712_DOMAIN_VERSION)`.
const VERSION_HASH: B256 =
    b256!("c89efdaa54c0f20c7adf612882df0950f5a951637e0307cdcb4c672f298b8bc6");

/// The EIP-712 domain separator for a Rollup at `rollup` on chain `chain_id`:
/// `keccak256(DOMAIN_TYPEHASH ‖ keccak256(name) ‖ keccak256(version) ‖ chainId ‖ rollup)`.
///
/// The verifying contract is the quote's own `rollupAddress`, so a quote signed for one Rollup
/// deployment (or one chain) never verifies for another.
pub fn domain_separator(chain_id: u64, rollup: Address) -> B256 {
    let mut buf = [0u8; 32 * 5];
    buf[0..32].copy_from_slice(EIP712_DOMAIN_TYPEHASH.as_slice());
    buf[32..64].copy_from_slice(NAME_HASH.as_slice());
    buf[64..96].copy_from_slice(VERSION_HASH.as_slice());
    buf[96..128].copy_from_slice(&U256::from(chain_id).to_be_bytes::<32>());
    buf[140..160].copy_from_slice(rollup.as_slice());
    keccak256(buf)
}

/// `hashStruct(quote)` = `keccak256(QUOTE_TYPEHASH ‖ encodeData(quote))`; every member is one
/// ABI word (addresses and the uint32 left-padded with zeros).
pub(crate) fn struct_hash(f: &QuoteFields) -> B256 {
    let mut buf = [0u8; 32 * 10];
    buf[0..32].copy_from_slice(QUOTE_TYPEHASH.as_slice());
    buf[44..64].copy_from_slice(f.prover.as_slice());
    buf[64..96].copy_from_slice(&f.epoch_number.to_be_bytes::<32>());
    buf[96..128].copy_from_slice(&f.epoch_init_block.to_be_bytes::<32>());
    buf[128..160].copy_from_slice(&f.epoch_final_block.to_be_bytes::<32>());
    buf[160..192].copy_from_slice(&f.total_fees.to_be_bytes::<32>());
    buf[204..224].copy_from_slice(f.rollup_address.as_slice());
    buf[252..256].copy_from_slice(&f.basis_point_fee.to_be_bytes());
    buf[256..288].copy_from_slice(&f.bond_amount.to_be_bytes::<32>());
    buf[288..320].copy_from_slice(&f.valid_until_slot.to_be_bytes::<32>());
    keccak256(buf)
}

/// `keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ structHash)`.
pub(crate) fn digest(domain_separator: &B256, struct_hash: &B256) -> B256 {
    let mut buf = [0u8; 66];
    buf[0] = 0x19;
    buf[1] = 0x01;
    buf[2..34].copy_from_slice(domain_separator.as_slice());
    buf[34..66].copy_from_slice(struct_hash.as_slice());
    keccak256(buf)
}

/// The quote struct declared with `alloy_sol_types::sol!`, for interoperability with other
/// alloy code (e.g. `SolStruct::eip712_signing_hash`) and as an independent check of the
/// hand-written hashing above. Convert with `From<&QuoteFields>`.
pub mod sol {
    alloy_sol_types::sol! {
        /// The quote as an EIP-712 / ABI struct, members in SPEC order.
        #[derive(Debug, PartialEq, Eq)]
        struct EpochProofQuote {
            address prover;
            uint256 epochNumber;
            uint256 epochInitBlock;
            uint256 epochFinalBlock;
            uint256 totalFees;
            address rollupAddress;
            uint32 basisPointFee;
            uint256 bondAmount;
            uint256 validUntilSlot;
        }
    }

    impl From<&crate::QuoteFields> for EpochProofQuote {
        fn from(f: &crate::QuoteFields) -> Self {
            Self {
                prover: f.prover,
                epochNumber: f.epoch_number,
                epochInitBlock: f.epoch_init_block,
                epochFinalBlock: f.epoch_final_block,
                totalFees: f.total_fees,
                rollupAddress: f.rollup_address,
                basisPointFee: f.basis_point_fee,
                bondAmount: f.bond_amount,
                validUntilSlot: f.valid_until_slot,
            }
        }
    }

    impl From<&EpochProofQuote> for crate::QuoteFields {
        fn from(q: &EpochProofQuote) -> Self {
            Self {
                prover: q.prover,
                epoch_number: q.epochNumber,
                epoch_init_block: q.epochInitBlock,
                epoch_final_block: q.epochFinalBlock,
                total_fees: q.totalFees,
                rollup_address: q.rollupAddress,
                basis_point_fee: q.basisPointFee,
                bond_amount: q.bondAmount,
                valid_until_slot: q.validUntilSlot,
            }
        }
    }

    /// The alloy `Eip712Domain` equal to [`domain_separator`](super::domain_separator)'s.
    pub fn eip712_domain(
        chain_id: u64,
        rollup: alloy_primitives::Address,
    ) -> alloy_sol_types::Eip712Domain {
        alloy_sol_types::Eip712Domain::new(
            Some(std::borrow::Cow::Borrowed(super::EIP712_DOMAIN_NAME)),
            Some(std::borrow::Cow::Borrowed(super::EIP712_DOMAIN_VERSION)),
            Some(alloy_primitives::U256::from(chain_id)),
            Some(rollup),
            None,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_sol_types::SolStruct;

    #[test]
    fn type_strings_match_spec_and_hashes() {
        assert_eq!(
            QUOTE_TYPE_STRING,
            "EpochProofQuote(address prover,uint256 epochNumber,uint256 epochInitBlock,\
             uint256 epochFinalBlock,uint256 totalFees,address rollupAddress,\
             uint32 basisPointFee,uint256 bondAmount,uint256 validUntilSlot)"
        );
        assert_eq!(
            sol::EpochProofQuote::eip712_encode_type(),
            QUOTE_TYPE_STRING
        );
        assert_eq!(keccak256(QUOTE_TYPE_STRING), QUOTE_TYPEHASH);
        assert_eq!(keccak256(EIP712_DOMAIN_TYPE_STRING), EIP712_DOMAIN_TYPEHASH);
        assert_eq!(keccak256(EIP712_DOMAIN_NAME), NAME_HASH);
        assert_eq!(keccak256(EIP712_DOMAIN_VERSION), VERSION_HASH);
        let d = sol::eip712_domain(1, Address::ZERO);
        assert_eq!(d.encode_type(), EIP712_DOMAIN_TYPE_STRING);
    }

    #[test]
    fn hand_written_hashing_equals_sol_macro() {
        let f = QuoteFields {
            prover: Address::repeat_byte(0x11),
            epoch_number: U256::from(7),
            epoch_init_block: U256::from(57),
            epoch_final_block: U256::from(64),
            total_fees: U256::MAX,
            rollup_address: Address::repeat_byte(0xee),
            basis_point_fee: 250,
            bond_amount: U256::from(1_000_000u64),
            valid_until_slot: U256::from(60),
        };
        let s = sol::EpochProofQuote::from(&f);
        assert_eq!(QuoteFields::from(&s), f);
        assert_eq!(s.eip712_hash_struct(), struct_hash(&f));
        for chain in [1u64, 31337, u64::MAX] {
            let dom = sol::eip712_domain(chain, f.rollup_address);
            assert_eq!(dom.separator(), domain_separator(chain, f.rollup_address));
            assert_eq!(s.eip712_signing_hash(&dom), f.digest(chain));
        }
    }
}
