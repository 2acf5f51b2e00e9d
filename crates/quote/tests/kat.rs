//! Known-answer tests: values computed by ethers 6.17.0 (see `tests/kat/README.md`).
#![allow(clippy::unwrap_used)] // tests: a failure is a panic

use alloy_primitives::{Address, B256, U256, address, b256, hex};
use alloy_signer_local::PrivateKeySigner;
use epoch_rfq_quote::{EpochProofQuote, QUOTE_TYPE_STRING, QuoteFields, domain_separator};

struct Kat {
    key: B256,
    prover: Address,
    chain_id: u64,
    fields: QuoteFields,
    domain_separator: B256,
    struct_hash: B256,
    digest: B256,
    signature: [u8; 65],
    wire: &'static [u8],
}

const ENCODE_TYPE: &str = "EpochProofQuote(address prover,uint256 epochNumber,uint256 epochInitBlock,uint256 epochFinalBlock,uint256 totalFees,address rollupAddress,uint32 basisPointFee,uint256 bondAmount,uint256 validUntilSlot)";

fn typical() -> Kat {
    let prover = address!("70997970C51812dc3A010C7d01b50e0d17dc79C8");
    Kat {
        key: b256!("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"),
        prover,
        chain_id: 31337,
        fields: QuoteFields {
            prover,
            epoch_number: U256::from(7),
            epoch_init_block: U256::from(57),
            epoch_final_block: U256::from(64),
            total_fees: U256::from(123_000),
            rollup_address: address!("5FbDB2315678afecb367f032d93F642f64180aa3"),
            basis_point_fee: 250,
            bond_amount: U256::from(1_000_000),
            valid_until_slot: U256::from(60),
        },
        domain_separator: b256!("125a000a1c8a55c765ec682d2b4d13c0139e22a26ccce91c986270c5d7110d88"),
        struct_hash: b256!("160bd901a0aebc1a350720ee4e5888411fe76f4490ae1843ad76a10a1a4396c5"),
        digest: b256!("930af8b48b1f79cdb22dea9bc1f63021d589d5ae7d9964a2ececea59d620a116"),
        signature: hex!(
            "73cf160d3e1b48a676e9cfbf1dfb032016fd02c760a60e068c69adc171278708"
            "3b571dac974e9014af306061c9c436aab692f74318f9448abcf0ec818eb08010"
            "1c"
        ),
        wire: &hex!(
            "0170997970c51812dc3a010c7d01b50e0d17dc79c8000000000000000000000000000000000000000000000000000000000000000700000000000000000000000000000000000000000000000000000000000000390000000000000000000000000000000000000000000000000000000000000040000000000000000000000000000000000000000000000000000000000001e0785fbdb2315678afecb367f032d93f642f64180aa3000000fa00000000000000000000000000000000000000000000000000000000000f4240000000000000000000000000000000000000000000000000000000000000003c73cf160d3e1b48a676e9cfbf1dfb032016fd02c760a60e068c69adc1712787083b571dac974e9014af306061c9c436aab692f74318f9448abcf0ec818eb080101c"
        ),
    }
}

fn extreme() -> Kat {
    let prover = address!("FCAd0B19bB29D4674531d6f115237E16AfCE377c");
    Kat {
        key: b256!("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
        prover,
        chain_id: u64::MAX,
        fields: QuoteFields {
            prover,
            epoch_number: U256::MAX,
            epoch_init_block: U256::ZERO,
            epoch_final_block: U256::MAX - U256::from(1),
            total_fees: U256::MAX,
            rollup_address: address!("FFfFfFffFFfffFFfFFfFFFFFffFFFffffFfFFFfF"),
            basis_point_fee: 10_000,
            bond_amount: U256::from(1) << 255,
            valid_until_slot: U256::from((1u64 << 53) - 1),
        },
        domain_separator: b256!("dc63aefcdf810f210e8ab444c42ae09cb544ccb6000ba1194b42a5048d35cdc7"),
        struct_hash: b256!("ad0b6f1da9fef3a3fc75676eb7234f3199cd67a0b274a5609466b277b113acee"),
        digest: b256!("41f89cee895ffdcd7a36ded5ea154fa7158c5dbd251a65c8a0426dc10c85c746"),
        signature: hex!(
            "871db5e28f6d2eb677d7c4f5522100c765018002e4cd9d34a85f4f17600748c0"
            "77f1dbd7bf829cf32f10e30387a4af9236848e060727e90ce36450053d116dfb"
            "1b"
        ),
        wire: &hex!(
            "01fcad0b19bb29d4674531d6f115237e16afce377cffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff0000000000000000000000000000000000000000000000000000000000000000fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff000027108000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000001fffffffffffff871db5e28f6d2eb677d7c4f5522100c765018002e4cd9d34a85f4f17600748c077f1dbd7bf829cf32f10e30387a4af9236848e060727e90ce36450053d116dfb1b"
        ),
    }
}

#[test]
fn type_string_matches_ethers() {
    assert_eq!(QUOTE_TYPE_STRING, ENCODE_TYPE);
}

fn check(k: &Kat) {
    let signer = PrivateKeySigner::from_bytes(&k.key).unwrap();
    assert_eq!(signer.address(), k.prover);
    assert_eq!(
        domain_separator(k.chain_id, k.fields.rollup_address),
        k.domain_separator
    );
    assert_eq!(k.fields.struct_hash(), k.struct_hash);
    assert_eq!(k.fields.digest(k.chain_id), k.digest);

    // RFC 6979 on both sides: the very same signature.
    let q = k.fields.sign(&signer, k.chain_id).unwrap();
    assert_eq!(q.signature(), &k.signature);
    assert_eq!(&q.to_wire()[..], k.wire);

    // ethers' bytes decode and verify.
    let d = EpochProofQuote::from_wire(k.wire).unwrap();
    assert_eq!(d, q);
    let v = d.verify(k.chain_id).unwrap();
    assert_eq!(v.id().0, k.digest);
    assert_eq!(v.signer(), k.prover);
}

#[test]
fn typical_vector() {
    check(&typical());
}

#[test]
fn extreme_vector() {
    check(&extreme());
}

#[test]
fn typical_json_golden() {
    let q = EpochProofQuote::from_wire(typical().wire).unwrap();
    let expected = concat!(
        r#"{"prover":"0x70997970C51812dc3A010C7d01b50e0d17dc79C8","epochNumber":"7","#,
        r#""epochInitBlock":"57","epochFinalBlock":"64","totalFees":"123000","#,
        r#""rollupAddress":"0x5FbDB2315678afecb367f032d93F642f64180aa3","basisPointFee":250,"#,
        r#""bondAmount":"1000000","validUntilSlot":"60","#,
        r#""signature":"0x73cf160d3e1b48a676e9cfbf1dfb032016fd02c760a60e068c69adc1712787083b571dac974e9014af306061c9c436aab692f74318f9448abcf0ec818eb080101c"}"#
    );
    assert_eq!(q.to_json_string(), expected);
    assert_eq!(serde_json::to_string(&q).unwrap(), expected);
    assert_eq!(EpochProofQuote::from_json_str(expected).unwrap(), q);
}
