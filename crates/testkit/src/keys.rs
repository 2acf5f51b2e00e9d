//! Dev keys: anvil's well-known accounts, and deterministic keys that are not anvil's.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use alloy_primitives::B256;
use alloy_signer_local::PrivateKeySigner;

/// The private keys of anvil's first dev accounts (mnemonic `test test … junk`), funded with
/// 10,000 ETH on every anvil; index = account number.
pub const ANVIL_KEYS: [&str; 3] = [
    "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
];

/// The signer of anvil's dev account `i` (`i < ANVIL_KEYS.len()`).
pub fn anvil_key(i: usize) -> PrivateKeySigner {
    let hex = ANVIL_KEYS
        .get(i)
        .unwrap_or_else(|| panic!("only {} anvil keys are listed", ANVIL_KEYS.len()));
    let bytes: B256 = hex.parse().expect("a listed key is 32 bytes of hex");
    PrivateKeySigner::from_bytes(&bytes).expect("a listed key is a valid secp256k1 key")
}

/// Deterministic key number `i`: the same in every run, distinct for every `i`, never one of
/// anvil's (so such a prover owns nothing on a test chain). Cached: deriving the address is the
/// slow part of tests that sign thousands of quotes.
pub fn derived_key(i: usize) -> PrivateKeySigner {
    static KEYS: OnceLock<Mutex<HashMap<usize, PrivateKeySigner>>> = OnceLock::new();
    let mut keys = KEYS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    keys.entry(i)
        .or_insert_with(|| {
            let mut b = [0u8; 32];
            b[24..].copy_from_slice(&(i as u64 + 1).to_be_bytes());
            b[0] = 0x11;
            PrivateKeySigner::from_slice(&b).expect("a small non-zero scalar is a valid key")
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use alloy_primitives::address;

    use super::*;

    #[test]
    fn anvil_keys_own_anvils_dev_accounts() {
        assert_eq!(
            anvil_key(0).address(),
            address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266")
        );
        assert_eq!(
            anvil_key(1).address(),
            address!("70997970C51812dc3A010C7d01b50e0d17dc79C8")
        );
        assert_eq!(
            anvil_key(2).address(),
            address!("3C44CdDdB6a900fa2b585dd299e03d12FA4293BC")
        );
    }

    #[test]
    fn derived_keys_are_stable_and_distinct() {
        assert_eq!(derived_key(3).address(), derived_key(3).address());
        let addresses: std::collections::HashSet<_> =
            (0..50).map(|i| derived_key(i).address()).collect();
        assert_eq!(addresses.len(), 50);
        assert!(!addresses.contains(&anvil_key(0).address()));
    }
}
