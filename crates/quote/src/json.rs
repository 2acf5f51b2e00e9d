//! The JSON form of a quote (SPEC §2.4).
//!
//! Output: uint256 as decimal strings, addresses in EIP-55 checksum form, `basisPointFee` as a
//! JSON number, `signature` as `0x` + 130 lowercase hex digits; keys in SPEC order.
//!
//! Input is strict, because quotes arrive from anyone over HTTP:
//!
//! * uint256: a decimal string (`"123"`, leading zeros allowed) or a `0x`-hex string (`"0x7b"`,
//!   either letter case, at least one digit, at most 2^256 − 1). A JSON number only when it is a
//!   non-negative integer ≤ 2^53 − 1: larger numbers, fractions (`1.5`), exponents (`1e3`, even
//!   when integral) and negatives are refused, because JavaScript clients cannot represent them
//!   exactly and a silently rounded `totalFees` would make the quote unclaimable. No signs,
//!   whitespace or `_` separators in strings.
//! * `basisPointFee`: a JSON number or a string as above, ≤ 10000
//!   ([`QuoteError::FeeTooHigh`]).
//! * addresses: `0x` + 40 hex digits. All-lowercase and all-uppercase digits are accepted (they
//!   carry no checksum, as in EIP-55); mixed case must be the correct EIP-55 checksum, since a
//!   wrong one signals a typo.
//! * `signature`: `0x` + exactly 130 hex digits (65 bytes), either case. Its content is checked
//!   by `verify`, not here.
//! * every field is required; unknown and duplicate fields are refused.
//!
//! Every error names the field ([`QuoteError::Json`] `{ field, reason }`, or `FeeTooHigh`); when
//! decoding through serde (e.g. inside a JSON-RPC request) the same text is the serde error
//! message.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use alloy_primitives::{Address, U256};
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{EpochProofQuote, MAX_BASIS_POINT_FEE, QuoteError, QuoteFields, SIGNATURE_LEN};

/// JSON keys, in SPEC order; the index is the field's slot.
const KEYS: [&str; 10] = [
    "prover",
    "epochNumber",
    "epochInitBlock",
    "epochFinalBlock",
    "totalFees",
    "rollupAddress",
    "basisPointFee",
    "bondAmount",
    "validUntilSlot",
    "signature",
];
const K_PROVER: usize = 0;
const K_ROLLUP: usize = 5;
const K_BPS: usize = 6;
const K_SIG: usize = 9;

/// 2^53 − 1: the largest integer every JSON implementation (JavaScript's doubles) holds exactly.
pub const MAX_EXACT_JSON_INTEGER: u64 = (1 << 53) - 1;

/// Token serde_json uses for numbers when its `arbitrary_precision` feature is on (it could be
/// turned on by another crate of the workspace); handled so that numbers keep working then.
const SERDE_JSON_NUMBER_TOKEN: &str = "$serde_json::private::Number";

// ---------------------------------------------------------------------------------------------
// Output

fn serialize_fields<S: SerializeStruct>(st: &mut S, f: &QuoteFields) -> Result<(), S::Error> {
    st.serialize_field("prover", f.prover.to_checksum_buffer(None).as_str())?;
    st.serialize_field("epochNumber", &f.epoch_number.to_string())?;
    st.serialize_field("epochInitBlock", &f.epoch_init_block.to_string())?;
    st.serialize_field("epochFinalBlock", &f.epoch_final_block.to_string())?;
    st.serialize_field("totalFees", &f.total_fees.to_string())?;
    st.serialize_field(
        "rollupAddress",
        f.rollup_address.to_checksum_buffer(None).as_str(),
    )?;
    st.serialize_field("basisPointFee", &f.basis_point_fee)?;
    st.serialize_field("bondAmount", &f.bond_amount.to_string())?;
    st.serialize_field("validUntilSlot", &f.valid_until_slot.to_string())
}

fn signature_hex(sig: &[u8; SIGNATURE_LEN]) -> String {
    let mut s = String::with_capacity(2 + 2 * SIGNATURE_LEN);
    s.push_str("0x");
    s.push_str(&hex::encode(sig));
    s
}

impl Serialize for QuoteFields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut st = serializer.serialize_struct("EpochProofQuoteFields", 9)?;
        serialize_fields(&mut st, self)?;
        st.end()
    }
}

impl Serialize for EpochProofQuote {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut st = serializer.serialize_struct("EpochProofQuote", 10)?;
        serialize_fields(&mut st, &self.fields)?;
        st.serialize_field("signature", &signature_hex(&self.signature))?;
        st.end()
    }
}

/// Same bytes as `serde_json::to_string`, without the `Result` (nothing here can fail).
pub(crate) fn quote_to_string(q: &EpochProofQuote) -> String {
    let f = &q.fields;
    let mut out = String::with_capacity(600);
    // `fmt::Write` for `String` never fails.
    let _ = write!(
        out,
        "{{\"prover\":\"{}\",\"epochNumber\":\"{}\",\"epochInitBlock\":\"{}\",\
         \"epochFinalBlock\":\"{}\",\"totalFees\":\"{}\",\"rollupAddress\":\"{}\",\
         \"basisPointFee\":{},\"bondAmount\":\"{}\",\"validUntilSlot\":\"{}\",\
         \"signature\":\"{}\"}}",
        f.prover.to_checksum_buffer(None).as_str(),
        f.epoch_number,
        f.epoch_init_block,
        f.epoch_final_block,
        f.total_fees,
        f.rollup_address.to_checksum_buffer(None).as_str(),
        f.basis_point_fee,
        f.bond_amount,
        f.valid_until_slot,
        signature_hex(&q.signature),
    );
    out
}

// ---------------------------------------------------------------------------------------------
// Input

/// A JSON scalar as received, before it is interpreted for its field.
enum Scalar<'de> {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    /// Number text (serde_json with `arbitrary_precision`).
    NumberText(String),
    Str(Cow<'de, str>),
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or a number")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar::Unsigned(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(match u64::try_from(v) {
            Ok(u) => Scalar::Unsigned(u),
            Err(_) => Scalar::Signed(v),
        })
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Float(v))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        match map.next_key::<Cow<'de, str>>()? {
            Some(k) if k == SERDE_JSON_NUMBER_TOKEN => Ok(Scalar::NumberText(map.next_value()?)),
            _ => Err(de::Error::invalid_type(de::Unexpected::Map, &self)),
        }
    }
}

struct ScalarSeed;

impl<'de> DeserializeSeed<'de> for ScalarSeed {
    type Value = Scalar<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

/// A key: the index of a known field, or the unknown name.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Result<usize, String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(KeySeed)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = Result<usize, String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(KEYS
            .iter()
            .position(|k| *k == v)
            .ok_or_else(|| v.to_owned()))
    }
}

/// The parsed value of one field.
enum Value {
    Address(Address),
    Uint(U256),
    Fee(u32),
    Signature([u8; SIGNATURE_LEN]),
}

/// Input echoed in an error message: escaped (no control characters reach a log line) and cut
/// to 80 characters (a megabyte-long bad value gives a short message).
fn clip(s: &str) -> String {
    const MAX: usize = 80;
    let mut out: String = s.chars().take(MAX).flat_map(char::escape_debug).collect();
    if s.chars().nth(MAX).is_some() {
        out.push('…');
    }
    out
}

fn too_long_number(n: impl fmt::Display) -> String {
    format!(
        "the JSON number {n} is above 2^53-1 and may have lost precision; \
         send it as a decimal or 0x-hex string"
    )
}

/// Interprets a scalar as a uint256 (rules in the module docs).
fn parse_uint(s: &Scalar<'_>) -> Result<U256, String> {
    match s {
        Scalar::Unsigned(n) if *n <= MAX_EXACT_JSON_INTEGER => Ok(U256::from(*n)),
        Scalar::Unsigned(n) => Err(too_long_number(n)),
        Scalar::Signed(n) => Err(format!("negative number {n}")),
        Scalar::Float(x) if x.is_sign_negative() => Err(format!("negative number {x}")),
        Scalar::Float(x) => Err(format!(
            "the JSON number {x} is not an exact integer (fractions, exponents and numbers \
             above 2^53-1 are refused); send an integer or a decimal or 0x-hex string"
        )),
        Scalar::NumberText(t) => {
            if t.starts_with('-') {
                Err(format!("negative number {t}"))
            } else if !t.bytes().all(|b| b.is_ascii_digit()) {
                Err(format!(
                    "the JSON number {t} is not an exact integer (fractions and exponents are \
                     refused); send an integer or a decimal or 0x-hex string"
                ))
            } else {
                match t.parse::<u64>() {
                    Ok(n) if n <= MAX_EXACT_JSON_INTEGER => Ok(U256::from(n)),
                    _ => Err(too_long_number(t)),
                }
            }
        }
        Scalar::Str(t) => parse_uint_str(t),
    }
}

/// Parses a decimal or `0x`-hex string into a uint256.
pub(crate) fn parse_uint_str(t: &str) -> Result<U256, String> {
    if t.is_empty() {
        return Err("empty string; expected a decimal or 0x-hex integer".into());
    }
    if let Some(h) = t.strip_prefix("0x") {
        return parse_hex_uint(h);
    }
    let mut acc = U256::ZERO;
    for chunk in t.as_bytes().chunks(19) {
        let mut part: u64 = 0;
        for &b in chunk {
            if !b.is_ascii_digit() {
                return Err(format!(
                    "invalid character {:?} in decimal integer \"{}\"",
                    char::from(b),
                    clip(t)
                ));
            }
            // 19 digits always fit a u64.
            part = part * 10 + u64::from(b - b'0');
        }
        // chunk.len() <= 19, so 10^len fits a u64.
        let scale = U256::from(10u64.pow(chunk.len() as u32));
        acc = acc
            .checked_mul(scale)
            .and_then(|a| a.checked_add(U256::from(part)))
            .ok_or_else(|| format!("{} exceeds the uint256 maximum 2^256-1", clip(t)))?;
    }
    Ok(acc)
}

fn hex_nibble(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn parse_hex_uint(h: &str) -> Result<U256, String> {
    if h.is_empty() {
        return Err("\"0x\" has no hex digits".into());
    }
    if let Some(c) = h.bytes().find(|b| hex_nibble(*b).is_none()) {
        return Err(format!(
            "invalid character {:?} in hex integer \"0x{}\"",
            char::from(c),
            clip(h)
        ));
    }
    let digits = h.trim_start_matches('0').as_bytes();
    if digits.len() > 64 {
        return Err(format!("0x{} exceeds the uint256 maximum 2^256-1", clip(h)));
    }
    let mut out = [0u8; 32];
    // Fill from the least significant nibble.
    for (i, &b) in digits.iter().rev().enumerate() {
        let n = hex_nibble(b).unwrap_or(0);
        out[31 - i / 2] |= if i % 2 == 0 { n } else { n << 4 };
    }
    Ok(U256::from_be_bytes(out))
}

fn parse_fee(s: &Scalar<'_>) -> Result<u32, QuoteError> {
    let v = parse_uint(s).map_err(|r| QuoteError::json("basisPointFee", r))?;
    let fee = u32::try_from(v).map_err(|_| {
        QuoteError::json(
            "basisPointFee",
            format!("{v} does not fit a uint32 (and exceeds the maximum of 10000)"),
        )
    })?;
    if fee > MAX_BASIS_POINT_FEE {
        return Err(QuoteError::FeeTooHigh { fee });
    }
    Ok(fee)
}

fn expect_str<'a>(s: &'a Scalar<'_>, what: &str) -> Result<&'a str, String> {
    match s {
        Scalar::Str(t) => Ok(t),
        _ => Err(format!("expected {what} as a string, got a number")),
    }
}

/// Parses `0x` + 40 hex digits; a mixed-case address must carry a correct EIP-55 checksum.
pub(crate) fn parse_address_str(t: &str) -> Result<Address, String> {
    let h = t
        .strip_prefix("0x")
        .ok_or_else(|| format!("\"{}\" is not 0x-prefixed", clip(t)))?;
    if h.len() != 40 {
        return Err(format!(
            "expected 40 hex digits after 0x, got {} characters",
            h.len()
        ));
    }
    let mut bytes = [0u8; 20];
    hex::decode_to_slice(h, &mut bytes)
        .map_err(|e| format!("invalid hex in address \"{}\": {e}", clip(t)))?;
    let addr = Address::from(bytes);
    let has_lower = h.bytes().any(|b| b.is_ascii_lowercase());
    let has_upper = h.bytes().any(|b| b.is_ascii_uppercase());
    if has_lower && has_upper && addr.to_checksum_buffer(None).as_str() != t {
        return Err(format!(
            "{t} has a wrong EIP-55 checksum (expected {}); mixed case must be the exact \
             checksum, or use all-lowercase hex",
            addr.to_checksum_buffer(None).as_str()
        ));
    }
    Ok(addr)
}

fn parse_signature_str(t: &str) -> Result<[u8; SIGNATURE_LEN], String> {
    let h = t
        .strip_prefix("0x")
        .ok_or_else(|| "not 0x-prefixed".to_owned())?;
    if h.len() != 2 * SIGNATURE_LEN {
        return Err(format!(
            "expected 65 bytes (0x + 130 hex digits), got {} hex digits",
            h.len()
        ));
    }
    let mut sig = [0u8; SIGNATURE_LEN];
    hex::decode_to_slice(h, &mut sig).map_err(|e| format!("invalid hex: {e}"))?;
    Ok(sig)
}

fn parse_value(key: usize, s: &Scalar<'_>) -> Result<Value, QuoteError> {
    let name = KEYS[key];
    let j = |r: String| QuoteError::json(name, r);
    Ok(match key {
        K_PROVER | K_ROLLUP => Value::Address(
            expect_str(s, "a 0x address")
                .and_then(parse_address_str)
                .map_err(j)?,
        ),
        K_BPS => Value::Fee(parse_fee(s)?),
        K_SIG => Value::Signature(
            expect_str(s, "a 0x-hex signature")
                .and_then(parse_signature_str)
                .map_err(j)?,
        ),
        _ => Value::Uint(parse_uint(s).map_err(j)?),
    })
}

/// What a successful parse yields: the fields and, for a signed quote, the signature.
struct Parsed {
    fields: QuoteFields,
    signature: Option<[u8; SIGNATURE_LEN]>,
}

/// Deserializes a JSON object with the quote's keys. `with_signature` selects a signed quote
/// (10 keys) or bare fields (9 keys, `signature` is then an unknown field). The precise error
/// is left in `fault` for [`quote_from_str`]; the serde error carries the same text.
struct QuoteSeed<'f> {
    with_signature: bool,
    fault: &'f mut Option<QuoteError>,
}

impl<'de> DeserializeSeed<'de> for QuoteSeed<'_> {
    type Value = Parsed;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Parsed, D::Error> {
        d.deserialize_map(self)
    }
}

impl QuoteSeed<'_> {
    fn fail<E: de::Error>(self, e: QuoteError) -> E {
        let err = E::custom(&e);
        *self.fault = Some(e);
        err
    }
}

impl<'de> Visitor<'de> for QuoteSeed<'_> {
    type Value = Parsed;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object with the fields of an epoch proof quote")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parsed, A::Error> {
        let n_keys = if self.with_signature { 10 } else { 9 };
        let mut slots: [Option<Value>; 10] = Default::default();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let idx = match key {
                Ok(i) if i < n_keys => i,
                Ok(i) => {
                    return Err(self.fail(QuoteError::json(KEYS[i], "unknown field")));
                }
                Err(name) => {
                    return Err(self.fail(QuoteError::json(
                        clip(&name),
                        format!("unknown field; expected one of {:?}", &KEYS[..n_keys]),
                    )));
                }
            };
            if slots[idx].is_some() {
                return Err(self.fail(QuoteError::json(KEYS[idx], "duplicate field")));
            }
            let scalar = match map.next_value_seed(ScalarSeed) {
                Ok(s) => s,
                Err(e) => {
                    return Err(self.fail(QuoteError::json(KEYS[idx], e.to_string())));
                }
            };
            match parse_value(idx, &scalar) {
                Ok(v) => slots[idx] = Some(v),
                Err(e) => return Err(self.fail(e)),
            }
        }
        if let Some(missing) = (0..n_keys).find(|i| slots[*i].is_none()) {
            return Err(self.fail(QuoteError::json(KEYS[missing], "missing field")));
        }
        let addr = |v: &Option<Value>| match v {
            Some(Value::Address(a)) => *a,
            _ => Address::ZERO,
        };
        let uint = |v: &Option<Value>| match v {
            Some(Value::Uint(u)) => *u,
            _ => U256::ZERO,
        };
        let fields = QuoteFields {
            prover: addr(&slots[0]),
            epoch_number: uint(&slots[1]),
            epoch_init_block: uint(&slots[2]),
            epoch_final_block: uint(&slots[3]),
            total_fees: uint(&slots[4]),
            rollup_address: addr(&slots[5]),
            basis_point_fee: match slots[6] {
                Some(Value::Fee(f)) => f,
                _ => 0,
            },
            bond_amount: uint(&slots[7]),
            valid_until_slot: uint(&slots[8]),
        };
        let signature = match slots[9] {
            Some(Value::Signature(s)) => Some(s),
            _ => None,
        };
        Ok(Parsed { fields, signature })
    }
}

fn parse_str(s: &str, with_signature: bool) -> Result<Parsed, QuoteError> {
    let mut fault = None;
    let mut de = serde_json::Deserializer::from_str(s);
    let res = QuoteSeed {
        with_signature,
        fault: &mut fault,
    }
    .deserialize(&mut de)
    .and_then(|p| de.end().map(|()| p));
    match res {
        Ok(p) => Ok(p),
        Err(e) => Err(fault.unwrap_or_else(|| {
            // serde_json's own message (syntax, wrong top-level type) may quote the input
            // (Debug-escaped); keep it short.
            let mut m = e.to_string();
            if let Some((cut, _)) = m.char_indices().nth(200) {
                m.truncate(cut);
                m.push('…');
            }
            QuoteError::json("$", m)
        })),
    }
}

pub(crate) fn quote_from_str(s: &str) -> Result<EpochProofQuote, QuoteError> {
    let p = parse_str(s, true)?;
    match p.signature {
        Some(sig) => EpochProofQuote::from_parts(p.fields, sig),
        None => Err(QuoteError::json("signature", "missing field")),
    }
}

pub(crate) fn fields_from_str(s: &str) -> Result<QuoteFields, QuoteError> {
    Ok(parse_str(s, false)?.fields)
}

impl<'de> Deserialize<'de> for EpochProofQuote {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut fault = None;
        let p = QuoteSeed {
            with_signature: true,
            fault: &mut fault,
        }
        .deserialize(d)?;
        let sig = p
            .signature
            .ok_or_else(|| de::Error::custom("JSON field `signature`: missing field"))?;
        EpochProofQuote::from_parts(p.fields, sig).map_err(de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for QuoteFields {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut fault = None;
        Ok(QuoteSeed {
            with_signature: false,
            fault: &mut fault,
        }
        .deserialize(d)?
        .fields)
    }
}

impl QuoteFields {
    /// Parses the JSON form of unsigned fields: the quote's JSON form without `signature`, same
    /// rules (used by `epoch-rfq quote sign`).
    pub fn from_json_str(s: &str) -> Result<Self, QuoteError> {
        fields_from_str(s)
    }
}

/// Reads a uint256 from an already-parsed JSON value with the same rules as the quote's fields:
/// a decimal or `0x`-hex string, or a JSON number only when it is an exact integer ≤ 2^53 − 1.
///
/// For other JSON documents that carry chain quantities (JSON-RPC parameters, pricing-service
/// replies), so that every entry point of the project reads numbers the same way. The error says
/// what is wrong with the value; the caller names the field.
pub fn uint_from_json(value: &serde_json::Value) -> Result<U256, String> {
    match value {
        serde_json::Value::String(t) => parse_uint_str(t),
        // Same interpretation as the quote's fields (one code path for every number rule).
        serde_json::Value::Number(n) => parse_uint(&match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Scalar::Unsigned(u),
            (None, Some(i), _) => Scalar::Signed(i),
            (None, None, Some(x)) => Scalar::Float(x),
            // Only reachable with `arbitrary_precision` (a number beyond f64).
            (None, None, None) => Scalar::NumberText(n.to_string()),
        }),
        other => Err(format!(
            "expected a decimal or 0x-hex string or an integer, got {}",
            json_kind(other)
        )),
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod uint_from_json_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn same_rules_as_quote_fields() {
        assert_eq!(uint_from_json(&json!("123")), Ok(U256::from(123)));
        assert_eq!(uint_from_json(&json!("0x7b")), Ok(U256::from(123)));
        assert_eq!(uint_from_json(&json!(0)), Ok(U256::ZERO));
        assert_eq!(
            uint_from_json(&json!(9_007_199_254_740_991_u64)),
            Ok(U256::from(MAX_EXACT_JSON_INTEGER))
        );
        assert!(
            uint_from_json(&json!(9_007_199_254_740_992_u64))
                .unwrap_err()
                .contains("2^53-1")
        );
        assert!(uint_from_json(&json!(-1)).unwrap_err().contains("negative"));
        assert!(
            uint_from_json(&json!(1.5))
                .unwrap_err()
                .contains("not an exact integer")
        );
        assert!(
            uint_from_json(&json!(null))
                .unwrap_err()
                .contains("got null")
        );
        assert!(uint_from_json(&json!("12a")).is_err());
    }
}
