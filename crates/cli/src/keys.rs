//! Where the CLI gets a signing key from: an env var or an encrypted JSON keystore.
//!
//! A key is never taken as a plain command-line argument (it would show in `ps` and shell history)
//! and never printed: only the address it controls is.

use std::path::PathBuf;

use alloy_signer_local::PrivateKeySigner;
use anyhow::{Context, Result, bail};
use clap::Args;

/// Key options shared by every command that signs (quotes, L1 transactions).
#[derive(Debug, Clone, Args)]
pub struct KeyArgs {
    /// Hex private key of the prover/publisher (32 bytes, with or without 0x). Set it in the
    /// environment, not on the command line.
    #[arg(
        long = "private-key",
        env = "PROVER_PUBLISHER_PRIVATE_KEY",
        hide_env_values = true,
        hide = true,
        conflicts_with = "keystore"
    )]
    pub private_key: Option<String>,

    /// Encrypted JSON keystore file (the geth/foundry format) instead of a raw key.
    #[arg(
        long,
        env = "PROVER_KEYSTORE",
        value_name = "FILE",
        requires = "password_file"
    )]
    pub keystore: Option<PathBuf>,

    /// File holding the keystore's password (a trailing newline is ignored).
    #[arg(long, env = "PROVER_KEYSTORE_PASSWORD_FILE", value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

impl KeyArgs {
    /// Loads the signer, or explains which setting to provide.
    pub fn load(&self) -> Result<PrivateKeySigner> {
        match (&self.private_key, &self.keystore) {
            (Some(hex_key), None) => parse_private_key(hex_key),
            (None, Some(path)) => {
                let password_path = self.password_file.as_ref().context(
                    "--keystore needs --password-file (env PROVER_KEYSTORE_PASSWORD_FILE)",
                )?;
                let password = std::fs::read_to_string(password_path).with_context(|| {
                    format!(
                        "cannot read the keystore password file {}",
                        password_path.display()
                    )
                })?;
                let password = password.trim_end_matches(['\n', '\r']);
                PrivateKeySigner::decrypt_keystore(path, password).with_context(|| {
                    format!(
                        "cannot decrypt the keystore {} (wrong password, or not a JSON keystore)",
                        path.display()
                    )
                })
            }
            (Some(_), Some(_)) => {
                bail!("both PROVER_PUBLISHER_PRIVATE_KEY and --keystore are set: choose one")
            }
            (None, None) => bail!(
                "no signing key: set PROVER_PUBLISHER_PRIVATE_KEY=0x<64 hex digits> in the \
                 environment, or pass --keystore FILE --password-file FILE"
            ),
        }
    }
}

/// Parses PROVER_PUBLISHER_PRIVATE_KEY without ever echoing it in an error.
pub fn parse_private_key(hex_key: &str) -> Result<PrivateKeySigner> {
    parse_key_from_env_value("PROVER_PUBLISHER_PRIVATE_KEY", hex_key)
}

/// Parses a hex private key read from the environment variable `var`; errors name `var` and
/// never contain the key.
pub fn parse_key_from_env_value(var: &str, hex_key: &str) -> Result<PrivateKeySigner> {
    let trimmed = hex_key.trim();
    let digits = trimmed.strip_prefix("0x").unwrap_or(trimmed);
    if digits.len() != 64 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!(
            "{var} must be 32 bytes as 64 hex digits (optionally 0x-prefixed); got {} characters",
            digits.len()
        );
    }
    digits.parse::<PrivateKeySigner>().map_err(|_| {
        anyhow::anyhow!("{var} is not a valid secp256k1 key (zero or ≥ the curve order)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_never_contain_the_key() {
        let secret = "zz".repeat(32);
        let err = parse_private_key(&secret).unwrap_err().to_string();
        assert!(!err.contains(&secret), "{err}");
        let zero = "0".repeat(64);
        let err = parse_private_key(&zero).unwrap_err().to_string();
        assert!(!err.contains(&zero), "{err}");
        assert!(err.contains("not a valid secp256k1 key"), "{err}");
    }

    #[test]
    fn accepts_prefixed_and_bare_keys() {
        // anvil's first dev account.
        let key = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
        let a = parse_private_key(key).unwrap();
        let b = parse_private_key(&format!("0x{key}\n")).unwrap();
        assert_eq!(a.address(), b.address());
        assert_eq!(
            a.address().to_string(),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        );
    }
}
