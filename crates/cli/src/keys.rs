//! Where the CLI gets a signing key from: an env var or an encrypted JSON keystore.
//!
//! A key is never taken as a plain command-line argument (it would show in `ps` and shell history)
//! and never printed: only the address it controls is.

use std::path::PathBuf;

use alloy_signer_local::PrivateKeySigner;
use anyhow::{Context, Result, bail};
use clap::Args;

/// Which role signs: decides the environment variables the key is read from. The seed's names
/// are kept: the prover (and the tools acting for a prover: `deploy`, `escrow`, `quote sign`)
/// read `PROVER_…`, the proposer `PROPOSER_…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRole {
    /// `PROVER_PUBLISHER_PRIVATE_KEY`, `PROVER_KEYSTORE`, `PROVER_KEYSTORE_PASSWORD_FILE`.
    Prover,
    /// `PROPOSER_PUBLISHER_PRIVATE_KEY`, `PROPOSER_KEYSTORE`, `PROPOSER_KEYSTORE_PASSWORD_FILE`.
    Proposer,
}

impl KeyRole {
    /// The variable holding the raw hex key.
    pub fn key_env(self) -> &'static str {
        match self {
            Self::Prover => "PROVER_PUBLISHER_PRIVATE_KEY",
            Self::Proposer => "PROPOSER_PUBLISHER_PRIVATE_KEY",
        }
    }

    /// The variable naming the keystore file (same as `--keystore`).
    pub fn keystore_env(self) -> &'static str {
        match self {
            Self::Prover => "PROVER_KEYSTORE",
            Self::Proposer => "PROPOSER_KEYSTORE",
        }
    }

    /// The variable naming the keystore's password file (same as `--password-file`).
    pub fn password_file_env(self) -> &'static str {
        match self {
            Self::Prover => "PROVER_KEYSTORE_PASSWORD_FILE",
            Self::Proposer => "PROPOSER_KEYSTORE_PASSWORD_FILE",
        }
    }
}

/// Key options shared by every command that signs (the prover, the proposer, `deploy`,
/// `escrow`, `quote sign`).
///
/// The raw key has no flag at all (`--private-key` is an unknown argument): it is read from the
/// role's environment variable when the key is loaded. The keystore and its password file are
/// paths, so they are flags too; their environment variables are the role's (see [`KeyRole`]),
/// read at load time because one struct serves roles with different names.
#[derive(Debug, Clone, Default, Args)]
pub struct KeyArgs {
    /// Encrypted JSON keystore file (Ethereum v3, the geth/foundry format) instead of a raw key.
    /// Env: PROVER_KEYSTORE (the proposer: PROPOSER_KEYSTORE).
    #[arg(long, value_name = "FILE")]
    pub keystore: Option<PathBuf>,

    /// File holding the keystore's password (a trailing newline is ignored). Env:
    /// PROVER_KEYSTORE_PASSWORD_FILE (the proposer: PROPOSER_KEYSTORE_PASSWORD_FILE).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,

    /// A hex key handed over inside the process (the sandbox runs every role in one process);
    /// never set from the command line.
    #[arg(skip)]
    pub private_key: Option<String>,
}

impl KeyArgs {
    /// Loads the prover's signer (the `PROVER_…` variables), or explains which setting to give.
    pub fn load(&self) -> Result<PrivateKeySigner> {
        self.load_for(KeyRole::Prover)
    }

    /// Loads `role`'s signer from the process environment and the flags.
    pub fn load_for(&self, role: KeyRole) -> Result<PrivateKeySigner> {
        self.load_with_env(role, |name| std::env::var(name).ok())
    }

    /// Whether a key is configured for `role` (a raw key or a keystore), without loading it.
    pub fn is_configured(&self, role: KeyRole) -> bool {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        self.private_key.is_some()
            || self.keystore.is_some()
            || env(role.key_env()).is_some()
            || env(role.keystore_env()).is_some()
    }

    /// [`Self::load_for`] with the environment given as a function (tests).
    pub fn load_with_env(
        &self,
        role: KeyRole,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<PrivateKeySigner> {
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let key_env = role.key_env();
        let raw = self.private_key.clone().or_else(|| env(key_env));
        let keystore = self
            .keystore
            .clone()
            .or_else(|| env(role.keystore_env()).map(PathBuf::from));
        let password_file = self
            .password_file
            .clone()
            .or_else(|| env(role.password_file_env()).map(PathBuf::from));
        match (raw, keystore) {
            (Some(hex_key), None) => parse_key_from_env_value(key_env, &hex_key),
            (None, Some(path)) => {
                let password_path = password_file.with_context(|| {
                    format!(
                        "--keystore needs --password-file (env {})",
                        role.password_file_env()
                    )
                })?;
                let password = std::fs::read_to_string(&password_path).with_context(|| {
                    format!(
                        "cannot read the keystore password file {}",
                        password_path.display()
                    )
                })?;
                let password = password.trim_end_matches(['\n', '\r']);
                PrivateKeySigner::decrypt_keystore(&path, password).with_context(|| {
                    format!(
                        "cannot decrypt the keystore {} (wrong password, or not a JSON keystore)",
                        path.display()
                    )
                })
            }
            (Some(_), Some(_)) => bail!(
                "both {key_env} and a keystore (--keystore / {}) are set: choose one",
                role.keystore_env()
            ),
            (None, None) => bail!(
                "no signing key: set {key_env}=0x<64 hex digits> in the environment, or pass \
                 --keystore FILE --password-file FILE (env {} and {})",
                role.keystore_env(),
                role.password_file_env()
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

    const ANVIL_0: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn each_role_reads_its_own_variable() {
        let none = KeyArgs::default();
        let prover_env = env_of(&[("PROVER_PUBLISHER_PRIVATE_KEY", ANVIL_0)]);
        let signer = none
            .load_with_env(KeyRole::Prover, &prover_env)
            .expect("the prover's variable");
        assert_eq!(
            signer.address().to_string(),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        );
        // The proposer does not pick up the prover's key, and says which variable it wants.
        let err = none
            .load_with_env(KeyRole::Proposer, &prover_env)
            .expect_err("no proposer key")
            .to_string();
        assert!(err.contains("PROPOSER_PUBLISHER_PRIVATE_KEY="), "{err}");
        assert!(err.contains("PROPOSER_KEYSTORE"), "{err}");
        let proposer_env = env_of(&[("PROPOSER_PUBLISHER_PRIVATE_KEY", "12")]);
        let err = none
            .load_with_env(KeyRole::Proposer, &proposer_env)
            .expect_err("short key")
            .to_string();
        assert!(
            err.starts_with("PROPOSER_PUBLISHER_PRIVATE_KEY must be 32 bytes"),
            "{err}"
        );
    }

    #[test]
    fn raw_key_and_keystore_together_are_refused() {
        let args = KeyArgs {
            keystore: Some(PathBuf::from("/nonexistent/keystore.json")),
            ..KeyArgs::default()
        };
        let env = env_of(&[("PROVER_PUBLISHER_PRIVATE_KEY", ANVIL_0)]);
        let err = args
            .load_with_env(KeyRole::Prover, env)
            .expect_err("both")
            .to_string();
        assert!(err.contains("choose one"), "{err}");
        assert!(!err.contains(ANVIL_0), "{err}");
        // A keystore from the role's variable needs the password file.
        let env = env_of(&[("PROPOSER_KEYSTORE", "/nonexistent/k.json")]);
        let err = KeyArgs::default()
            .load_with_env(KeyRole::Proposer, env)
            .expect_err("no password file")
            .to_string();
        assert!(err.contains("PROPOSER_KEYSTORE_PASSWORD_FILE"), "{err}");
    }

    #[test]
    fn keystore_from_the_role_variables() {
        let dir = std::env::temp_dir().join(format!("epoch-rfq-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let key = hex::decode(ANVIL_0).expect("hex");
        let mut rng = rand08::thread_rng();
        PrivateKeySigner::encrypt_keystore(&dir, &mut rng, &key, "s3cret", Some("proposer.json"))
            .expect("writes a keystore");
        let password = dir.join("password");
        std::fs::write(&password, "s3cret\n").expect("password file");
        let keystore = dir.join("proposer.json");
        let env = env_of(&[
            ("PROPOSER_KEYSTORE", keystore.to_str().expect("utf-8 path")),
            (
                "PROPOSER_KEYSTORE_PASSWORD_FILE",
                password.to_str().expect("utf-8 path"),
            ),
        ]);
        let signer = KeyArgs::default()
            .load_with_env(KeyRole::Proposer, env)
            .expect("decrypts");
        assert_eq!(
            signer.address().to_string(),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        );
        std::fs::write(&password, "wrong").expect("password file");
        let args = KeyArgs {
            keystore: Some(keystore),
            password_file: Some(password),
            ..KeyArgs::default()
        };
        let err = args
            .load_with_env(KeyRole::Prover, |_| None)
            .expect_err("wrong password")
            .to_string();
        assert!(err.contains("cannot decrypt the keystore"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
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
