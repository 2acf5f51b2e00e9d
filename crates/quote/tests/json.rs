//! The JSON decoder's rules (SPEC §2.4): every rejection names the field.
#![allow(clippy::unwrap_used)] // tests: a failure is a panic

mod common;

use alloy_primitives::U256;
use common::*;
use epoch_rfq_quote::{EpochProofQuote, QuoteError, QuoteFields};

/// The signed quote's JSON as (key, raw JSON value) pairs.
fn base() -> Vec<(String, String)> {
    let v: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&signed().to_json_string()).unwrap();
    v.into_iter().map(|(k, v)| (k, v.to_string())).collect()
}

/// The base document with `key` set to the raw JSON text `raw` (or removed when `None`).
fn doc_with(key: &str, raw: Option<&str>) -> String {
    let mut pairs = base();
    match (pairs.iter().position(|(k, _)| k == key), raw) {
        (Some(i), Some(r)) => pairs[i].1 = r.to_owned(),
        (Some(i), None) => {
            pairs.remove(i);
        }
        (None, Some(r)) => pairs.push((key.to_owned(), r.to_owned())),
        (None, None) => {}
    }
    let body: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}:{v}", serde_json::Value::from(k.as_str())))
        .collect();
    format!("{{{}}}", body.join(","))
}

/// Asserts that `json` is rejected with a `Json` error on `field` whose reason contains `needle`,
/// and that the serde path's message names the field too.
#[track_caller]
fn rejects(json: &str, field: &str, needle: &str) {
    let e = EpochProofQuote::from_json_str(json).unwrap_err();
    match &e {
        QuoteError::Json { field: f, reason } => {
            assert_eq!(f, field, "wrong field for {json}: {e}");
            assert!(
                reason.contains(needle),
                "reason {reason:?} lacks {needle:?}"
            );
        }
        other => panic!("expected a JSON error on {field}, got {other:?}"),
    }
    let msg = e.to_string();
    assert!(msg.contains(&format!("`{field}`")), "{msg}");
    let serde_msg = serde_json::from_str::<EpochProofQuote>(json)
        .unwrap_err()
        .to_string();
    if field != "$" {
        assert!(serde_msg.contains(&format!("`{field}`")), "{serde_msg}");
    }
}

fn accepts(json: &str) -> EpochProofQuote {
    let q = EpochProofQuote::from_json_str(json).unwrap_or_else(|e| panic!("{json}: {e}"));
    assert_eq!(serde_json::from_str::<EpochProofQuote>(json).unwrap(), q);
    q
}

const UINTS: [&str; 6] = [
    "epochNumber",
    "epochInitBlock",
    "epochFinalBlock",
    "totalFees",
    "bondAmount",
    "validUntilSlot",
];

#[test]
fn base_document_is_accepted() {
    assert_eq!(accepts(&doc_with("x", None)), signed());
}

#[test]
fn wrong_types_are_rejected() {
    for field in UINTS {
        for raw in ["true", "null", "[1]", "{\"a\":1}"] {
            rejects(&doc_with(field, Some(raw)), field, "invalid type");
        }
    }
    for field in ["prover", "rollupAddress", "signature"] {
        rejects(&doc_with(field, Some("1")), field, "as a string");
        rejects(&doc_with(field, Some("false")), field, "invalid type");
        rejects(&doc_with(field, Some("[\"0x00\"]")), field, "invalid type");
    }
    rejects(
        &doc_with("basisPointFee", Some("true")),
        "basisPointFee",
        "invalid type",
    );
}

#[test]
fn inexact_numbers_are_rejected() {
    for field in UINTS {
        rejects(&doc_with(field, Some("9007199254740993")), field, "2^53-1");
        rejects(&doc_with(field, Some("9007199254740992")), field, "2^53-1");
        rejects(
            &doc_with(field, Some("18446744073709551616")),
            field,
            "not an exact integer",
        );
        rejects(&doc_with(field, Some("1.5")), field, "not an exact integer");
        rejects(&doc_with(field, Some("1e3")), field, "not an exact integer");
        rejects(&doc_with(field, Some("1.0")), field, "not an exact integer");
        rejects(&doc_with(field, Some("-1")), field, "negative");
    }
    rejects(
        &doc_with("basisPointFee", Some("2.5")),
        "basisPointFee",
        "not an exact integer",
    );
    rejects(
        &doc_with("basisPointFee", Some("-1")),
        "basisPointFee",
        "negative",
    );
    // The largest exact integer is fine.
    let q = accepts(&doc_with("totalFees", Some("9007199254740991")));
    assert_eq!(q.fields().total_fees, U256::from((1u64 << 53) - 1));
    let q = accepts(&doc_with("epochNumber", Some("0")));
    assert_eq!(q.fields().epoch_number, U256::ZERO);
}

#[test]
fn uint_strings() {
    let max_dec = U256::MAX.to_string();
    let q = accepts(&doc_with("totalFees", Some(&format!("\"{max_dec}\""))));
    assert_eq!(q.fields().total_fees, U256::MAX);
    let q = accepts(&doc_with(
        "totalFees",
        Some(&format!("\"0x{}\"", "f".repeat(64))),
    ));
    assert_eq!(q.fields().total_fees, U256::MAX);
    let q = accepts(&doc_with(
        "totalFees",
        Some(&format!("\"0x{}1A\"", "0".repeat(100))),
    ));
    assert_eq!(q.fields().total_fees, U256::from(26));
    let q = accepts(&doc_with("totalFees", Some("\"000123\"")));
    assert_eq!(q.fields().total_fees, U256::from(123));

    for field in UINTS {
        // 2^256 in decimal and in hex.
        let over =
            "\"115792089237316195423570985008687907853269984665640564039457584007913129639936\"";
        rejects(
            &doc_with(field, Some(over)),
            field,
            "exceeds the uint256 maximum",
        );
        let over_hex = format!("\"0x1{}\"", "0".repeat(64));
        rejects(
            &doc_with(field, Some(&over_hex)),
            field,
            "exceeds the uint256 maximum",
        );
        rejects(
            &doc_with(field, Some(&format!("\"{}\"", "9".repeat(100)))),
            field,
            "exceeds",
        );
        rejects(&doc_with(field, Some("\"\"")), field, "empty string");
        rejects(&doc_with(field, Some("\"0x\"")), field, "no hex digits");
        rejects(
            &doc_with(field, Some("\"-1\"")),
            field,
            "invalid character '-'",
        );
        rejects(
            &doc_with(field, Some("\"+1\"")),
            field,
            "invalid character '+'",
        );
        rejects(
            &doc_with(field, Some("\" 1\"")),
            field,
            "invalid character ' '",
        );
        rejects(
            &doc_with(field, Some("\"1 \"")),
            field,
            "invalid character ' '",
        );
        rejects(
            &doc_with(field, Some("\"1_000\"")),
            field,
            "invalid character '_'",
        );
        rejects(
            &doc_with(field, Some("\"1.5\"")),
            field,
            "invalid character '.'",
        );
        rejects(
            &doc_with(field, Some("\"1e3\"")),
            field,
            "invalid character 'e'",
        );
        rejects(
            &doc_with(field, Some("\"0X10\"")),
            field,
            "invalid character 'X'",
        );
        rejects(
            &doc_with(field, Some("\"0xg\"")),
            field,
            "invalid character 'g'",
        );
    }
}

#[test]
fn basis_point_fee_number_or_string() {
    assert_eq!(
        accepts(&doc_with("basisPointFee", Some("\"250\""))),
        signed()
    );
    assert_eq!(
        accepts(&doc_with("basisPointFee", Some("\"0xfa\""))),
        signed()
    );
    let e = EpochProofQuote::from_json_str(&doc_with("basisPointFee", Some("10001"))).unwrap_err();
    assert_eq!(e, QuoteError::FeeTooHigh { fee: 10_001 });
    assert!(e.to_string().starts_with("basisPointFee"), "{e}");
    let e =
        EpochProofQuote::from_json_str(&doc_with("basisPointFee", Some("\"10001\""))).unwrap_err();
    assert_eq!(e, QuoteError::FeeTooHigh { fee: 10_001 });
    let serde_msg =
        serde_json::from_str::<EpochProofQuote>(&doc_with("basisPointFee", Some("10001")))
            .unwrap_err()
            .to_string();
    assert!(serde_msg.contains("basisPointFee"), "{serde_msg}");
    rejects(
        &doc_with("basisPointFee", Some("4294967296")),
        "basisPointFee",
        "does not fit a uint32",
    );
    rejects(
        &doc_with("basisPointFee", Some("\"0x1ffffffff\"")),
        "basisPointFee",
        "does not fit",
    );
}

#[test]
fn unknown_missing_and_duplicate_fields() {
    rejects(&doc_with("foo", Some("1")), "foo", "unknown field");
    rejects(
        &doc_with("EpochNumber", Some("\"7\"")),
        "EpochNumber",
        "unknown field",
    );
    rejects(
        &doc_with("epoch_number", Some("\"7\"")),
        "epoch_number",
        "unknown field",
    );
    for field in UINTS
        .iter()
        .chain(&["prover", "rollupAddress", "basisPointFee", "signature"])
    {
        rejects(&doc_with(field, None), field, "missing field");
    }
    let dup = doc_with("x", None).replacen('{', "{\"epochNumber\":\"7\",", 1);
    rejects(&dup, "epochNumber", "duplicate field");
}

#[test]
fn address_checksum_policy() {
    let checksummed = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
    let lower = checksummed.to_lowercase();
    let upper = format!("0x{}", checksummed[2..].to_uppercase());
    for ok in [checksummed, lower.as_str(), upper.as_str()] {
        assert_eq!(
            accepts(&doc_with("prover", Some(&format!("\"{ok}\"")))),
            signed()
        );
    }
    // One letter's case flipped: a wrong checksum.
    let wrong = "0x70997970c51812dc3A010C7d01b50e0d17dc79C8";
    rejects(
        &doc_with("prover", Some(&format!("\"{wrong}\""))),
        "prover",
        "EIP-55",
    );
    rejects(
        &doc_with(
            "rollupAddress",
            Some("\"0x5fbDB2315678afecb367f032d93F642f64180aa3\""),
        ),
        "rollupAddress",
        "EIP-55",
    );
    rejects(
        &doc_with("prover", Some("\"0x7099\"")),
        "prover",
        "40 hex digits",
    );
    rejects(
        &doc_with("prover", Some(&format!("\"{}\"", &lower[2..]))),
        "prover",
        "0x-prefixed",
    );
    rejects(
        &doc_with("prover", Some(&format!("\"{lower}00\""))),
        "prover",
        "40 hex digits",
    );
    rejects(
        &doc_with(
            "prover",
            Some("\"0xz0997970c51812dc3a010c7d01b50e0d17dc79c8\""),
        ),
        "prover",
        "invalid hex",
    );
}

#[test]
fn signature_format() {
    let sig = signed().to_json_string();
    let v: serde_json::Value = serde_json::from_str(&sig).unwrap();
    let hex = v["signature"].as_str().unwrap()[2..].to_owned();
    rejects(
        &doc_with("signature", Some(&format!("\"0x{}\"", &hex[..128]))),
        "signature",
        "65 bytes",
    );
    rejects(
        &doc_with("signature", Some(&format!("\"0x{hex}00\""))),
        "signature",
        "65 bytes",
    );
    rejects(
        &doc_with("signature", Some(&format!("\"0x{hex}0\""))),
        "signature",
        "65 bytes",
    );
    rejects(
        &doc_with("signature", Some(&format!("\"{hex}\""))),
        "signature",
        "0x-prefixed",
    );
    rejects(
        &doc_with("signature", Some("\"0x\"")),
        "signature",
        "65 bytes",
    );
    let bad = format!("\"0x{}zz\"", &hex[..128]);
    rejects(
        &doc_with("signature", Some(&bad)),
        "signature",
        "invalid hex",
    );
    let upper = format!("\"0x{}\"", hex.to_uppercase());
    assert_eq!(accepts(&doc_with("signature", Some(&upper))), signed());
}

#[test]
fn malformed_documents_name_the_document() {
    rejects("", "$", "EOF");
    rejects("[]", "$", "invalid type");
    rejects("\"quote\"", "$", "invalid type");
    rejects("{", "$", "EOF");
    rejects(&format!("{} x", doc_with("x", None)), "$", "trailing");
    rejects(&format!("{}{{}}", doc_with("x", None)), "$", "trailing");
}

#[test]
fn escaped_keys_and_strings_are_understood() {
    // JSON escapes in keys and values are decoded before the rules apply.
    let doc = doc_with("x", None).replace("\"epochNumber\"", "\"epoch\\u004eumber\"");
    assert_eq!(accepts(&doc), signed());
    let doc = doc_with("epochNumber", Some("\"\\u0037\""));
    assert_eq!(accepts(&doc), signed());
}

#[test]
fn fields_json() {
    let q = signed();
    let f = serde_json::to_string(q.fields()).unwrap();
    assert!(!f.contains("signature"));
    assert_eq!(QuoteFields::from_json_str(&f).unwrap(), *q.fields());
    let e = QuoteFields::from_json_str(&q.to_json_string()).unwrap_err();
    assert_eq!(
        e,
        QuoteError::Json {
            field: "signature".into(),
            reason: "unknown field".into()
        }
    );
}

#[test]
fn whitespace_and_key_order_do_not_matter() {
    let q = signed();
    let pretty = serde_json::to_string_pretty(&q).unwrap();
    assert_eq!(accepts(&pretty), q);
    let mut pairs = base();
    pairs.reverse();
    let body: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("\"{k}\" : {v}"))
        .collect();
    assert_eq!(accepts(&format!(" {{ {} }} ", body.join(" , "))), q);
}

#[test]
fn echoed_input_is_escaped_and_bounded() {
    let long = "9".repeat(1 << 20);
    let e = EpochProofQuote::from_json_str(&doc_with("totalFees", Some(&format!("\"{long}\""))))
        .unwrap_err();
    assert!(e.to_string().len() < 400, "{}", e.to_string().len());
    assert!(e.to_string().contains("totalFees"));

    let key = "k".repeat(1 << 20);
    let e = EpochProofQuote::from_json_str(&doc_with(&key, Some("1"))).unwrap_err();
    assert!(e.to_string().len() < 600, "{}", e.to_string().len());

    let e = EpochProofQuote::from_json_str(&doc_with("bad\nkey\0", Some("1"))).unwrap_err();
    match e {
        QuoteError::Json { field, reason } => {
            assert_eq!(field, "bad\\nkey\\0");
            assert!(reason.contains("unknown field"));
        }
        other => panic!("{other:?}"),
    }
    let e = EpochProofQuote::from_json_str(&format!("\"{long}\"")).unwrap_err();
    assert!(e.to_string().len() < 400);
    let e = EpochProofQuote::from_json_str(&doc_with("epochNumber", Some("\"1\\u001b[31m\"")))
        .unwrap_err();
    assert!(!e.to_string().contains('\u{1b}'), "{e}");

    // An empty key is an unknown field named "".
    let e = EpochProofQuote::from_json_str(&doc_with("", Some("1"))).unwrap_err();
    assert!(matches!(e, QuoteError::Json { ref field, .. } if field.is_empty()));
}

#[test]
fn negative_numbers_including_zero_and_fractions_are_negative() {
    for raw in ["-0", "-0.0", "-1.5", "-1e3", "-99999999999999999999"] {
        rejects(
            &doc_with("epochNumber", Some(raw)),
            "epochNumber",
            "negative number",
        );
    }
}
