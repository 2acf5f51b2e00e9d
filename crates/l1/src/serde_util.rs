//! serde helpers for the JSON the CLI and other processes exchange (deployment files, status):
//! addresses as EIP-55 checksummed strings (alloy's default is lowercase) and `U256` as decimal
//! strings (SPEC §2.4 style; alloy's default is hex).

/// `Address` as an EIP-55 string; any case accepted on input.
pub mod address {
    use alloy::primitives::Address;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes checksummed.
    pub fn serialize<S: Serializer>(a: &Address, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&a.to_checksum(None))
    }

    /// Parses `0x` + 40 hex digits.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Address, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// `Vec<Address>` as EIP-55 strings.
pub mod addresses {
    use alloy::primitives::Address;
    use serde::{Deserialize, Deserializer, Serializer, ser::SerializeSeq};

    /// Serializes checksummed.
    pub fn serialize<S: Serializer>(v: &[Address], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for a in v {
            seq.serialize_element(&a.to_checksum(None))?;
        }
        seq.end()
    }

    /// Parses a list of addresses.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Address>, D::Error> {
        let v = Vec::<String>::deserialize(d)?;
        v.iter()
            .map(|s| s.parse().map_err(serde::de::Error::custom))
            .collect()
    }
}

/// `U256` as a decimal string; decimal or `0x`-hex accepted on input.
pub mod u256_dec {
    use alloy::primitives::U256;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes as decimal.
    pub fn serialize<S: Serializer>(v: &U256, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    /// Parses decimal or `0x`-hex.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<U256, D::Error> {
        let s = String::deserialize(d)?;
        let parsed = match s.strip_prefix("0x") {
            Some(hex) => U256::from_str_radix(hex, 16),
            None => U256::from_str_radix(&s, 10),
        };
        parsed.map_err(serde::de::Error::custom)
    }
}
